"""Distillation experiments as data: a :class:`Profile` (data, teacher recipe, student, schedule, the
compared methods), the chapters' CPU and GPU profiles, and the released CIFAR-100 configurations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from gkl.experiments.profile import RELEASED, ExperimentProfile
from gkl.experiments.sizing import Sizing, distill_sizing, plan_sentence, recorded_epoch_s
from gkl.experiments.teachers import TeacherSpec
from gkl.methods.distill import DistillConfig, distill_config

__all__ = ["Profile", "CIFAR_TRAIN", "scaled_cifar_train", "GPU_STUDENT_EPOCHS", "GPU_TEACHER_EPOCHS", "gpu_sizing", "CONFIGS", "CPU_PROFILE", "GPU_PROFILE", "PROFILES", "DEFAULT_METHOD_CONFIGS",
           "DEFAULT_TRAIN", "method_config", "RELEASED_BASELINE", "strongest_baseline", "chapter_plan"]


@dataclass(frozen=True)
class Profile(ExperimentProfile):
    """A complete distillation experiment: data, teacher recipe, student, schedule and methods.

    Attributes:
        name: profile name (also the cache sub-folder).
        dataset: data set name.
        teacher_arch, teacher_kwargs, teacher_train: the teacher's recipe (trained once, cached).
        student_arch, student_kwargs: the student.
        train: :class:`gkl.training.TrainConfig` fields of every student run (``seed`` is set per run).
        methods: label -> config (:func:`gkl.methods.distill.distill_config`) of the compared methods.
        augment: batch augmentation name or ``None``.
        train_subset: students (not the teacher) train on this many samples (``None``: all).
        teacher_augment: the teacher's augmentation.
        seeds: the seeds of every method.
        validation: evaluate on this many further training samples (disjoint from the
            ``train_subset``) instead of the test set — the tuning sweep's profiles only; the
            metric is then ``val_acc``.
        train_overrides: method name -> :class:`gkl.training.TrainConfig` fields that replace
            ``train`` for that method's runs (the tuned student alone's learning rate).
        teacher_subset: the teacher trains on this many samples (``None``: all; smoke runs only).
        progress: draw the engine's progress bars (``tqdm.auto``; on for the GPU profile).
        source: where the methods' settings come from (a recorded sweep, or
            :data:`gkl.experiments.profile.RELEASED`); neither this nor ``progress`` is in a run key.
    """

    teacher_arch: str
    teacher_kwargs: Mapping[str, Any]
    teacher_train: Mapping[str, Any]
    student_arch: str
    student_kwargs: Mapping[str, Any]
    train: Mapping[str, Any]
    methods: Mapping[str, DistillConfig]
    augment: Optional[str] = None
    train_subset: Optional[int] = None
    teacher_augment: Optional[str] = None
    seeds: tuple[int, ...] = (0, 1, 2)
    validation: Optional[int] = None
    train_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    teacher_subset: Optional[int] = None
    progress: bool = False
    source: str = "as defined in gkl.experiments.distill.profiles"

    def train_for(self, config: DistillConfig, seed: int) -> dict[str, Any]:
        """The training settings of one run: ``train``, the overrides of ``config.method``, ``seed``."""
        return {**dict(self.train), **dict(self.train_overrides.get(config.method, {})), "seed": int(seed)}

    def teacher_spec(self) -> TeacherSpec:
        return TeacherSpec(self.dataset, self.teacher_arch, dict(self.teacher_kwargs), dict(self.teacher_train),
                           self.teacher_augment, self.teacher_subset)

    @property
    def train_epochs(self) -> int:
        return int(self.train["epochs"])

    def with_epochs(self, epochs: int) -> "Profile":
        return self.replace(train={**dict(self.train), "epochs": int(epochs)})


def method_config(profile: Profile, method: str) -> DistillConfig:
    """``method``'s config in ``profile``; a registered method the profile does not set gets its
    config's defaults (so a new distiller reaches the sweep without editing a profile)."""
    return profile.methods[method] if method in profile.methods else distill_config(method)


#: The CIFAR-100 schedule of mdistiller and of the released GKL configs: SGD, lr 0.05 (momentum 0.9),
#: batch 64, 240 epochs, lr ×0.1 at epochs 150, 180, 210, weight decay 5e-4.
CIFAR_TRAIN: dict[str, Any] = {
    "epochs": 240,
    "batch_size": 64,
    "optimizer": "sgd",
    "lr": 0.05,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "schedule": "multistep",
    "milestones": [150, 180, 210],
    "lr_decay": 0.1,
}


def _ikl_released(alpha: float, beta: float, warmup: int) -> DistillConfig:
    """The released IKL (DKLv1) CIFAR-100 KD setting: T = 4, no class prior (GI off), T2 = 100."""
    return distill_config("ikl", alpha=alpha, beta=beta, temperature=4.0, weight_temperature=100.0, prior=False,
                          warmup=warmup)


def _cifar_methods(alpha: float, beta: float, gamma: float, prior: bool, dkd_beta: float,
                   ikl_alpha: float, ikl_beta: float) -> dict[str, DistillConfig]:
    return {
        "none": distill_config("none"),
        # mdistiller's KD on CIFAR-100: CE weight 0.1, KD weight 0.9, T = 4
        "kd": distill_config("kd", ce_weight=0.1, kd_weight=0.9, temperature=4.0),
        # DKD's CIFAR-100 setting (alpha 1, T 4, warm-up 20; beta per pair, from the mdistiller configs)
        "dkd": distill_config("dkd", alpha=1.0, beta=dkd_beta, temperature=4.0, warmup=20),
        # released IKL configuration of the pair (DKLv1/KD-dkl/configs/cifar100/ikl_kd/*.yaml)
        "ikl": _ikl_released(ikl_alpha, ikl_beta, warmup=20),
        # released GKL configuration of the pair (DKLv2/KD-dkl/cifar100_config_gkl/*.yaml)
        "gkl": distill_config("gkl", alpha=alpha, beta=beta, gamma=gamma, temperature=4.0, weight_temperature=4.0,
                              prior=prior, warmup=20),
    }


def _cifar_profile(teacher: str, student: str, alpha: float, beta: float, gamma: float, prior: bool, dkd_beta: float,
                   ikl_alpha: float, ikl_beta: float) -> Profile:
    return Profile(
        name=f"cifar100-{teacher}-{student}",
        dataset="cifar100",
        teacher_arch=teacher,
        teacher_kwargs={},
        teacher_train={**CIFAR_TRAIN, "seed": 0},
        student_arch=student,
        student_kwargs={},
        train=dict(CIFAR_TRAIN),
        methods=_cifar_methods(alpha, beta, gamma, prior, dkd_beta, ikl_alpha, ikl_beta),
        seeds=(0,),
    )


#: Released hyper-parameters of the paper's CIFAR-100 pairs (``alpha`` = CE weight, ``beta`` = wMSE
#: weight): GKL from DKLv2 (``cifar100_config_gkl``), IKL from DKLv1 (``configs/cifar100/ikl_kd``; no
#: class prior, T2 = 100), DKD from mdistiller. See ``gkl/reported_data/released_configs.csv``.
CONFIGS: dict[str, Profile] = {
    "cifar100/resnet32x4-resnet8x4": _cifar_profile("resnet32x4", "resnet8x4", 1.0, 16.0, 0.05, True, dkd_beta=8.0,
                                                    ikl_alpha=1.0, ikl_beta=8.0),
    "cifar100/resnet56-resnet20": _cifar_profile("resnet56", "resnet20", 1.0, 4.0, 0.2, True, dkd_beta=2.0,
                                                 ikl_alpha=1.0, ikl_beta=4.0),
    "cifar100/wrn40_2-wrn16_2": _cifar_profile("wrn40_2", "wrn16_2", 3.0, 20.0, 0.3, False, dkd_beta=6.0,
                                               ikl_alpha=3.0, ikl_beta=12.0),
}


def _mnist1d_methods(warmup: int) -> dict[str, DistillConfig]:
    return {
        "none": distill_config("none"),
        "kd": distill_config("kd", ce_weight=1.0, kd_weight=1.0, temperature=4.0),
        "dkd": distill_config("dkd", alpha=1.0, beta=2.0, temperature=4.0, warmup=warmup),
        # released IKL resnet56 -> resnet20: alpha 1, beta 4, T 4, no prior, T2 100
        "ikl": _ikl_released(1.0, 4.0, warmup=warmup),
        # released GKL resnet56 -> resnet20: alpha 1, beta 4, gamma 0.2, prior on, T = T2 = 4
        "gkl": distill_config("gkl", alpha=1.0, beta=4.0, gamma=0.2, temperature=4.0, weight_temperature=4.0,
                              prior=True, warmup=warmup),
    }


#: The CPU profile of the chapters: mnist1d, a 1-D CNN teacher (width 32, 9.6 k parameters, trained on
#: all 4,000 samples) and a narrow 1-D CNN student with batch norm (width 16, 3.4 k parameters)
#: trained on 2,000 of them for 60 epochs. Students train on inputs mixed with a batch partner
#: (``mix``, majority label kept); the teacher labels those mixed inputs. Every method uses its
#: released resnet56 -> resnet20 CIFAR-100 hyper-parameters: GKL alpha 1, beta 4, gamma 0.2, prior
#: on, T = T2 = 4 (DKLv2); IKL alpha 1, beta 4, T 4, no prior, T2 = 100 (DKLv1); DKD alpha 1,
#: beta 2, T 4; the warm-up of 20 of 240 epochs is scaled to 5 of 60.
CPU_PROFILE = Profile(
    name="mnist1d-cpu",
    dataset="mnist1d",
    teacher_arch="mnist1d_cnn",
    teacher_kwargs={"width": 32},
    teacher_train={"epochs": 30, "batch_size": 128, "optimizer": "adamw", "lr": 1e-2, "weight_decay": 5e-4,
                   "schedule": "cosine", "seed": 0},
    teacher_augment="shift1d",
    student_arch="mnist1d_cnn",
    student_kwargs={"width": 16, "batchnorm": True},
    train={"epochs": 60, "batch_size": 128, "optimizer": "adamw", "lr": 3e-3, "weight_decay": 1e-4, "schedule": "cosine"},
    methods=_mnist1d_methods(warmup=5),
    augment="mix",
    train_subset=2000,
    seeds=(0, 1, 2),
)

def scaled_cifar_train(epochs: int, **changes: Any) -> dict[str, Any]:
    """:data:`CIFAR_TRAIN` shrunk to ``epochs``: the lr steps at the same fractions (150/240, 180/240,
    210/240) of the run, rounded; everything else as released."""
    ms = sorted({max(1, round(epochs * m / CIFAR_TRAIN["epochs"])) for m in CIFAR_TRAIN["milestones"]})
    return {**CIFAR_TRAIN, "epochs": int(epochs), "milestones": ms, **changes}


#: The GPU profile's epochs (students; the teacher trains twice as long), the number that fits
#: 30 minutes on a Colab T4 for the teacher and the five students, by
#: :func:`gkl.experiments.sizing.distill_sizing` (an estimate until a device check measures the
#: epoch; ``tests/test_sizing.py`` keeps the two equal).
GPU_STUDENT_EPOCHS = 14
GPU_TEACHER_EPOCHS = 28

#: The GPU profile: CIFAR-100 (all 50,000 training images), ResNet-32×4 → ResNet-8×4 with the
#: released settings of the pair and the released schedule shrunk to the epochs above (SGD lr 0.05,
#: batch 64, lr ×0.1 at the same fractions of the run; the 20-of-240 warm-up scaled to 1 epoch),
#: fp16 mixed precision, a checkpoint every epoch (a run resumes after a disconnect, losing at most
#: the epoch under way) and progress bars. Its methods run at the released settings (the authors'
#: tuning) until a ``gpu`` sweep is recorded.
GPU_PROFILE = Profile(
    name="cifar100-gpu",
    dataset="cifar100",
    teacher_arch="resnet32x4",
    teacher_kwargs={},
    teacher_train={**scaled_cifar_train(GPU_TEACHER_EPOCHS, amp="fp16"), "seed": 0},
    student_arch="resnet8x4",
    student_kwargs={},
    train=scaled_cifar_train(GPU_STUDENT_EPOCHS, amp="fp16", checkpoint_every=1),
    methods={k: (v.replace(warmup=1) if getattr(v, "warmup", 0) else v)
             for k, v in _cifar_methods(1.0, 16.0, 0.05, True, 8.0, ikl_alpha=1.0, ikl_beta=8.0).items()},
    seeds=(0,),
    progress=True,
    source=RELEASED,
)

#: The strongest baseline of a profile without a recorded sweep (a stated choice, not a measurement):
#: KD, the method GKL modifies.
RELEASED_BASELINE = "kd"


def strongest_baseline(record: Optional[Mapping[str, Any]]) -> tuple[str, str]:
    """``(method name, why)`` of the baseline GKL is paired against: the recorded sweep's strongest
    baseline by validation accuracy, or without a record the stated choice :data:`RELEASED_BASELINE`."""
    if record is not None:
        return record["strongest_baseline"], "the strongest baseline by validation accuracy in the recorded sweep"
    return RELEASED_BASELINE, "a stated choice: no sweep is recorded for this profile, so none was measured strongest"

def gpu_sizing(profile: Optional[Profile] = None, epoch_s: Optional[float] = None) -> tuple[Sizing, int]:
    """``(students' sizing, teacher epochs)``: how long ``profile`` (default the GPU profile) can train
    in 30 minutes on a Colab T4 — the teacher for twice the students' epochs, then one student per
    method on all 50,000 images. ``epoch_s``: a measured student epoch instead of the FLOP estimate
    of :func:`gkl.experiments.sizing.distill_sizing`."""
    from gkl.models import build_model

    p = profile or GPU_PROFILE
    return distill_sizing(build_model(p.teacher_arch, 100, **dict(p.teacher_kwargs)),
                          build_model(p.student_arch, 100, **dict(p.student_kwargs)), p.train_subset or 50_000,
                          runs=len(p.methods), teacher_epochs_per_student_epoch=2.0, epoch_s=epoch_s)


#: The profiles a chapter can select.
PROFILES: dict[str, Profile] = {"cpu": CPU_PROFILE, "gpu": GPU_PROFILE}

CONFIGS["mnist1d/cpu"] = CPU_PROFILE
CONFIGS["cifar100/gpu"] = GPU_PROFILE

#: Method settings used by the command line when no ``--config`` is named.
DEFAULT_METHOD_CONFIGS: dict[str, DistillConfig] = dict(CPU_PROFILE.methods)

#: Default schedules of the command line per data set.
DEFAULT_TRAIN: dict[str, dict[str, Any]] = {
    "mnist1d": dict(CPU_PROFILE.train),
    "digits": {"epochs": 20, "batch_size": 64, "optimizer": "adamw", "lr": 3e-3, "weight_decay": 1e-4, "schedule": "cosine"},
    "cifar100": dict(CIFAR_TRAIN),
}


def chapter_plan(profile: Profile, record: Optional[Mapping[str, Any]]) -> str:
    """One sentence for the top of a chapter: what ``profile`` trains (students and the teacher, which is
    trained once and then cached) and about how long: the recorded sweep's per-epoch training times on
    ``cpu`` (students only, one thread), the sizing rule's estimate on the GPU profile
    (:func:`gpu_sizing`), none for a smoke run (a ``-smoke`` profile)."""
    n_m, n_s, epochs = len(profile.methods), len(profile.seeds), int(profile.train["epochs"])
    what = (f"{n_m} methods × {n_s} seed(s): `{profile.student_arch}` students of a `{profile.teacher_arch}` "
            f"teacher on {profile.dataset}")
    seconds, basis = None, "a smoke run: no estimate; its numbers only check that the code runs"
    if profile.name.endswith("-smoke"):
        pass
    elif profile.dataset.startswith("cifar"):
        size, _ = gpu_sizing(GPU_PROFILE)
        teacher_s = size.fixed_s * int(profile.teacher_train["epochs"]) / int(GPU_PROFILE.teacher_train["epochs"])
        seconds = teacher_s + n_m * n_s * epochs * size.epoch_s
        basis = f"on a Colab T4 GPU, the teacher included; {size.basis}"
    elif record is not None and all(m in recorded_epoch_s(record) for m in profile.methods):
        per = recorded_epoch_s(record)
        seconds = n_s * epochs * sum(per[m] for m in profile.methods)
        basis = (f"the students' training only, from the recorded sweep's own per-epoch times on one CPU thread of "
                 f"the {record.get('environment', {}).get('cpus', '?')}-core recording machine; the teacher, the "
                 "evaluation and parallel runs are not counted")
    else:
        basis = "no recorded time for this profile"
    return plan_sentence(what, n_m * n_s, epochs, seconds, basis, teacher_epochs=int(profile.teacher_train["epochs"]))
