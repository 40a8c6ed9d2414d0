r"""Knowledge distillation with KD, DKD, IKL and GKL (distillers in the style of mdistiller).

A *distiller* owns a student and a teacher. The teacher is frozen (no parameter requires a gradient)
and stays in ``eval()`` mode even when ``distiller.train()`` is called. :meth:`Distiller.forward_train`
returns the student's logits and a dict of **named loss terms** whose sum is the training loss, so
every term can be logged and plotted:

========  =========================================================================================
method    terms (each already weighted; the total loss is their sum)
========  =========================================================================================
``none``  ``ce`` — the student trained alone on the labels
``kd``    ``ce`` :math:`= w_{ce}\,\mathrm{CE}(o_n, y)`, ``kd`` :math:`= w_{kd}\,T^2\,\mathrm{KL}(s_m^T \| s_n^T)`
``dkd``   ``ce``, ``tckd`` :math:`= \lambda\,\alpha\,T^2\,\mathrm{KL}(b_m \| b_n)`,
          ``nckd`` :math:`= \lambda\,\beta\,T^2\,\mathrm{KL}(\hat p_m \| \hat p_n)`
``ikl``   ``ce``, ``kd_ce`` :math:`= \lambda\,\alpha\,\mathrm{CE}(s_m^T, s_n^T)`,
          ``kd_wmse`` :math:`= \lambda\,\beta\,\mathrm{wMSE}` with :math:`\gamma = 1`; by default as
          released for CIFAR (DKLv1): no class prior, per-sample weights :math:`\mathrm{softmax}(o_m/T_2)`
          with :math:`T_2 = 100`
``gkl``   as ``ikl`` with the weight exponent :math:`\gamma`; the class prior on by default, :math:`T_2 = 4`
========  =========================================================================================

:math:`\lambda = \min(\text{epoch} / \text{warmup}, 1)` is the warm-up factor (epochs count from 1;
``warmup = 0`` switches it off). :math:`s^T = \mathrm{softmax}(o / T)`.

**DKD** (Zhao et al., CVPR 2022) splits KD at the target class :math:`y`:
:math:`b = [p_y, 1 - p_y]` is the binary target/non-target distribution and
:math:`\hat p_j = p_j / (1 - p_y)` (:math:`j \ne y`) the distribution among the non-target classes,
both at temperature :math:`T`. Then :math:`\mathrm{KL}(p_m\|p_n) = \mathrm{KL}(b_m\|b_n) +
(1 - p_{m,y})\,\mathrm{KL}(\hat p_m\|\hat p_n)`; DKD drops the factor :math:`1 - p_{m,y}` and weights
the two parts with :math:`\alpha` (TCKD) and :math:`\beta` (NCKD).

**IKL / GKL** use :func:`gkl.gkl`; with the class prior on, the prior of the *previous* epoch
(collected from ``teacher_logits`` at temperature :math:`T_2` by a :class:`gkl.ClassPrior`) weights
the wMSE, uniform in the first epoch. Call :meth:`Distiller.end_epoch` at the end of every training
epoch, on every rank (it rolls the prior: :meth:`gkl.ClassPrior.roll`); :class:`DistillObjective`
does it for the training engine.

**Scale.** KD's :math:`T^2\,\mathrm{KL}` is, gradient for gradient, a soft-label CE with weight
:math:`T^2` plus a wMSE on raw logit differences with weight 1 (:func:`gkl.derivations.kd_scale_check`);
IKL/GKL's ``alpha`` and ``beta`` weight the same two terms, so their wMSE-to-CE ratio is
:math:`(\beta/\alpha)\,T^2` times KL's own (:func:`gkl.derivations.relative_wmse_weight`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gkl.data import get_dataset
from gkl.training import Objective, StepContext, StepOutput, TrainConfig, fit
from gkl.core.dkd import dkd_parts
from gkl.core.losses import gkl_parts, kl_div
from gkl.models import build_model
from gkl.core.prior import ClassPrior
from gkl.experiments.stats import paired_difference

__all__ = [
    "METHODS",
    "DistillConfig",
    "Distiller",
    "Vanilla",
    "KD",
    "DKD",
    "GKLDistiller",
    "build_distiller",
    "dkd_parts",
    "warmup_factor",
    "AUGMENTATIONS",
    "random_shift_1d",
    "mix_majority",
    "DistillObjective",
    "RunResult",
    "load_data",
    "train_student",
    "run_grid",
    "run_method",
    "default_workers",
    "Profile",
    "PROFILES",
    "CPU_PROFILE",
    "GPU_PROFILE",
    "CONFIGS",
    "CIFAR_TRAIN",
    "DEFAULT_METHOD_CONFIGS",
    "DEFAULT_TRAIN",
    "summarize",
    "format_table",
    "compare_to",
    "format_comparison",
    "paired_verdict",
    "verdict_between",
    "difference_sentence",
    "IKL_DEFAULTS",
    "GKL_DEFAULTS",
    "student_report",
    "records_to_markdown",
    "trends_vs_reported",
    "PAIR_SEARCH",
    "Sweep",
    "ablation_sweeps",
    "run_sweep",
    "gkl_recipe",
    "add_cli_arguments",
    "run_cli",
]

METHODS = ("none", "kd", "dkd", "ikl", "gkl")


# --------------------------------------------------------------------------------------------------
# Loss functions
# --------------------------------------------------------------------------------------------------
def warmup_factor(epoch: int, warmup: int) -> float:
    r""":math:`\min(\text{epoch}/\text{warmup}, 1)`; 1 when ``warmup <= 0`` (epochs count from 1)."""
    if warmup <= 0:
        return 1.0
    return min(max(float(epoch), 0.0) / float(warmup), 1.0)


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------
#: Defaults of ``method="ikl"`` where a field is not given: the released IKL (DKLv1) defaults of
#: ``mdistiller/engine/cfg.py`` that its CIFAR-100 configs keep (``GI = False``, ``T2 = 100``).
IKL_DEFAULTS: dict[str, Any] = {"prior": False, "weight_temperature": 100.0}

#: Defaults of every other method (used by ``gkl``): the class prior on, :math:`T_2 = 4` (released GKL CIFAR-100).
GKL_DEFAULTS: dict[str, Any] = {"prior": True, "weight_temperature": 4.0}


@dataclass
class DistillConfig:
    r"""Hyper-parameters of one distillation method (unused fields are ignored by a method).

    Attributes:
        method: one of :data:`METHODS`.
        ce_weight: weight of the label cross-entropy (all methods).
        kd_weight: weight :math:`w_{kd}` of the KD term (``kd``).
        temperature: :math:`T` of the soft labels (``kd``, ``dkd``, ``ikl``, ``gkl``).
        alpha: ``dkd``: TCKD weight; ``ikl``/``gkl``: weight of the soft-label CE (released-code names).
        beta: ``dkd``: NCKD weight; ``ikl``/``gkl``: weight of the wMSE.
        gamma: weight exponent :math:`\gamma` (``gkl``; ``ikl`` forces 1).
        weight_temperature: :math:`T_2` of the weights / of the class prior (``ikl``, ``gkl``);
            default (``None``) per method: :data:`IKL_DEFAULTS` / :data:`GKL_DEFAULTS`.
        prior: use the class-wise prior (global information) instead of per-sample weights;
            default (``None``) per method: off for ``ikl`` (as in the released IKL CIFAR configs,
            DKLv1 ``GI = False``), on for the others.
        warmup: epochs of linear warm-up of the distillation terms (``dkd``, ``ikl``, ``gkl``).

    The per-method defaults are resolved when the config is built, so :meth:`to_dict` (and every run
    key hashed from it) always holds concrete values.
    """

    method: str = "kd"
    ce_weight: float = 1.0
    kd_weight: float = 1.0
    temperature: float = 4.0
    alpha: float = 1.0
    beta: float = 1.0
    gamma: float = 1.0
    weight_temperature: Optional[float] = None
    prior: Optional[bool] = None
    warmup: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown distillation method {self.method!r}; choose from {', '.join(METHODS)}")
        defaults = IKL_DEFAULTS if self.method == "ikl" else GKL_DEFAULTS
        if self.weight_temperature is None:
            self.weight_temperature = defaults["weight_temperature"]
        if self.prior is None:
            self.prior = defaults["prior"]
        if not isinstance(self.prior, bool):
            raise ValueError(f"prior must be True or False, got {self.prior!r}")
        for name in ("ce_weight", "kd_weight", "alpha", "beta", "gamma"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        for name in ("temperature", "weight_temperature"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            raise ValueError(f"warmup must be an int >= 0, got {self.warmup!r}")
        if self.method == "ikl":
            self.gamma = 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "DistillConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown DistillConfig fields: {sorted(unknown)}")
        return cls(**dict(d))

    def replace(self, **changes: Any) -> "DistillConfig":
        d = self.to_dict()
        d.update(changes)
        return DistillConfig.from_dict(d)


# --------------------------------------------------------------------------------------------------
# Distillers
# --------------------------------------------------------------------------------------------------
class Distiller(nn.Module):
    """Base distiller: a student, a frozen teacher in ``eval()``, and named loss terms.

    Subclasses implement :meth:`kd_terms`. ``distiller(x)`` returns the student's logits.
    """

    def __init__(self, student: nn.Module, teacher: Optional[nn.Module], config: DistillConfig) -> None:
        super().__init__()
        self.student = student
        self.teacher = teacher
        self.config = config
        if teacher is not None:
            for p in teacher.parameters():
                p.requires_grad_(False)
            teacher.eval()

    def train(self, mode: bool = True) -> "Distiller":
        """Set the student's mode; the teacher always stays in ``eval()``."""
        self.training = mode
        self.student.train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        return self.student(x)

    def teacher_logits(self, x: Tensor) -> Tensor:
        """Teacher logits under ``no_grad`` (teacher in eval mode)."""
        if self.teacher is None:
            raise ValueError("this distiller has no teacher")
        self.teacher.eval()
        with torch.no_grad():
            return self.teacher(x)

    def forward_train(
        self, x: Tensor, targets: Tensor, epoch: int = 1, student: Optional[nn.Module] = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Student logits and the named loss terms of one batch.

        Args:
            x, targets: the batch.
            epoch: the current epoch, counting from 1 (drives the warm-up).
            student: the module to call instead of ``self.student`` (e.g. its DDP wrapper).
        """
        net = self.student if student is None else student
        logits = net(x)
        terms = {"ce": self.config.ce_weight * F.cross_entropy(logits, targets)}
        if self.teacher is not None:
            t = self.teacher_logits(x)
            terms.update(self.kd_terms(logits, t, targets, epoch, net.training))
        return logits, terms

    def kd_terms(self, student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, epoch: int, training: bool) -> dict[str, Tensor]:
        """The distillation terms of a batch (``training``: the student is in train mode)."""
        raise NotImplementedError

    def start_epoch(self) -> None:
        """Nothing to do before an epoch (kept for callers of the earlier API, which froze the prior here:
        the prior now rolls in :meth:`end_epoch`)."""

    def end_epoch(self) -> None:
        """Call at the end of every training epoch, on every rank (rolls the class prior, if any)."""

    def states(self) -> dict[str, Any]:
        """Stateful helpers to checkpoint besides the modules (``state_dict``/``load_state_dict``):
        the class prior of IKL/GKL, nothing for the other methods."""
        return {}


class Vanilla(Distiller):
    """The student trained alone with cross-entropy (no teacher needed)."""

    def __init__(self, student: nn.Module, teacher: Optional[nn.Module] = None, config: Optional[DistillConfig] = None) -> None:
        super().__init__(student, None, config or DistillConfig(method="none"))

    def kd_terms(self, student_logits, teacher_logits, targets, epoch, training):  # pragma: no cover - no teacher
        return {}


class KD(Distiller):
    r"""Hinton et al. (2015): ``kd`` :math:`= w_{kd}\,T^2\,\mathrm{KL}(s_m^T \| s_n^T)` via :func:`gkl.kl_div`."""

    def kd_terms(self, student_logits, teacher_logits, targets, epoch, training):
        T = self.config.temperature
        return {"kd": self.config.kd_weight * T * T * kl_div(student_logits, teacher_logits, T)}


class DKD(Distiller):
    r"""Decoupled KD: ``tckd`` and ``nckd`` of :func:`dkd_parts`, weighted by :math:`\alpha`, :math:`\beta` and the warm-up."""

    def kd_terms(self, student_logits, teacher_logits, targets, epoch, training):
        c = self.config
        tckd, nckd = dkd_parts(student_logits, teacher_logits, targets, c.temperature)
        w = warmup_factor(epoch, c.warmup)
        return {"tckd": w * c.alpha * tckd, "nckd": w * c.beta * nckd}


class GKLDistiller(Distiller):
    r"""IKL / GKL distillation with :func:`gkl.gkl_parts`; optional epoch-ahead :class:`gkl.ClassPrior`.

    ``kd_ce`` :math:`= \lambda\,\alpha\,\mathrm{CE}`, ``kd_wmse`` :math:`= \lambda\,\beta\,\mathrm{wMSE}`.
    While the student trains, teacher logits are added to the running prior and the wMSE is weighted
    by ``prior.current`` (uniform in the first epoch); :meth:`end_epoch` rolls the prior
    (:meth:`gkl.ClassPrior.roll`), so the statistics of an epoch weight the next one. The prior is the
    only state: a checkpoint written after the roll holds the next epoch's prior and empty statistics.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, config: DistillConfig, num_classes: int) -> None:
        super().__init__(student, teacher, config)
        self.num_classes = num_classes
        self.prior = ClassPrior(num_classes, config.weight_temperature) if config.prior else None

    def kd_terms(self, student_logits, teacher_logits, targets, epoch, training):
        c = self.config
        prior = None
        if self.prior is not None:
            if training:
                self.prior.update(teacher_logits, targets)  # collected now, used next epoch
            prior = self.prior.current.to(student_logits.device)  # this epoch's prior
        parts = gkl_parts(student_logits, teacher_logits, targets, prior, c.gamma, c.temperature, c.weight_temperature)
        w = warmup_factor(epoch, c.warmup)
        return {"kd_ce": w * c.alpha * parts.ce, "kd_wmse": w * c.beta * parts.wmse}

    def end_epoch(self) -> None:
        """Roll the prior: this epoch's (all-reduced) statistics become the next epoch's prior."""
        if self.prior is not None:
            self.prior.roll()

    def states(self) -> dict[str, Any]:
        return {} if self.prior is None else {"prior": self.prior}


def build_distiller(student: nn.Module, teacher: Optional[nn.Module], config: DistillConfig | Mapping[str, Any], num_classes: int) -> Distiller:
    """The distiller of ``config.method`` (``none`` ignores the teacher)."""
    if not isinstance(config, DistillConfig):
        config = DistillConfig.from_dict(config)
    if config.method == "none":
        return Vanilla(student, None, config)
    if teacher is None:
        raise ValueError(f"method {config.method!r} needs a teacher")
    if config.method == "kd":
        return KD(student, teacher, config)
    if config.method == "dkd":
        return DKD(student, teacher, config)
    return GKLDistiller(student, teacher, config, num_classes)


# --------------------------------------------------------------------------------------------------
# Plugging into the training engine
# --------------------------------------------------------------------------------------------------
def random_shift_1d(x: Tensor, max_shift: int = 4) -> Tensor:
    """Shift each signal of a ``(B, ..., L)`` batch by a random integer in ``[-max_shift, max_shift]``
    (edge values repeated); drawn from torch's global RNG, so it is seeded and resumable."""
    L = x.shape[-1]
    s = torch.randint(-max_shift, max_shift + 1, (x.shape[0],), device=x.device)
    idx = (torch.arange(L, device=x.device)[None, :] - s[:, None]).clamp(0, L - 1)  # (B, L)
    idx = idx.view(x.shape[0], *([1] * (x.dim() - 2)), L).expand_as(x)
    return torch.gather(x, -1, idx)


def mix_majority(x: Tensor, low: float = 0.5) -> Tensor:
    r"""Mix every input with a random partner of the batch, :math:`\tilde x = \lambda x + (1-\lambda) x'`
    with :math:`\lambda \sim U(\text{low}, 1)`: the input keeps its majority part, so its label is
    kept (one target class, as DKD and the class prior need). The teacher labels the mixed input,
    so distillation sees the teacher's answer on points between the training samples."""
    lam = low + (1.0 - low) * torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device)
    partner = torch.randperm(x.shape[0], device=x.device)
    return lam * x + (1.0 - lam) * x[partner]


#: Batch augmentations applied inside the objective, so teacher and student see the same input.
AUGMENTATIONS = {"shift1d": random_shift_1d, "mix": mix_majority}


class DistillObjective(Objective):
    """:class:`gkl.engine.Objective` of a distiller: teacher and class prior are engine-managed.

    The engine calls :meth:`end_epoch` on every rank before it saves the checkpoint, so the class
    prior is rolled first and the checkpoint holds the prior of the next epoch.

    ``loss_terms`` returns the distiller's named terms (logged as ``train_ce``, ``train_kd``, ...);
    evaluation reports ``test_acc`` of the student.
    """

    def __init__(self, distiller: Distiller, augment: Optional[str] = None, extra_config: Optional[dict] = None) -> None:
        if augment is not None and augment not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {augment!r}; choose from {', '.join(AUGMENTATIONS)}")
        self.distiller = distiller
        self.augment = augment
        self.extra_config = dict(extra_config or {})

    def modules(self) -> dict[str, nn.Module]:
        return {} if self.distiller.teacher is None else {"teacher": self.distiller.teacher}

    def states(self) -> dict[str, Any]:
        return self.distiller.states()

    def end_epoch(self, epoch: int, ctx: StepContext) -> dict[str, float]:
        self.distiller.end_epoch()  # on every rank, before the engine writes the checkpoint
        return {}

    def loss_terms(self, model: nn.Module, inputs: Tensor, targets: Tensor, ctx: StepContext) -> StepOutput:
        if self.augment is not None:
            inputs = AUGMENTATIONS[self.augment](inputs)
        logits, terms = self.distiller.forward_train(inputs, targets, ctx.epoch, student=model)
        return StepOutput(terms, logits=logits)

    def eval_batch(self, module: nn.Module, inputs: Tensor, targets: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        with torch.no_grad():
            return {"test_acc": (module(inputs).argmax(1) == targets).sum()}

    def config(self) -> dict[str, Any]:
        return {"distill": self.distiller.config.to_dict(), "augment": self.augment, **self.extra_config}


@dataclass
class RunResult:
    """A finished (or resumed-to-the-end) training run."""

    model: nn.Module
    history: list[dict[str, Any]]
    info: Any
    out_dir: Optional[Path]

    @property
    def test_acc(self) -> float:
        """Test accuracy at the **last** epoch."""
        return float(self.history[-1]["test_acc"])


def _train_config(train: Mapping[str, Any], progress: bool, device: Optional[str]) -> TrainConfig:
    d = dict(train)
    d["progress"] = progress
    if device is not None:
        d["device"] = device
    return TrainConfig(**d)


def load_data(dataset: str, train_subset: Optional[int] = None, data_root: Optional[str] = None, seed: int = 0):
    """``get_dataset`` plus an optional fixed training subset (first ``n`` of a permutation seeded by 0)."""
    train_set, test_set, info = get_dataset(dataset, root=data_root, seed=seed)
    if train_subset is not None:
        if not 1 <= train_subset <= len(train_set):
            raise ValueError(f"train_subset must be in 1..{len(train_set)}, got {train_subset}")
        train_set = train_set.subset(train_subset, seed=0)
    return train_set, test_set, info


def train_student(
    dataset: str,
    arch: str,
    arch_kwargs: Optional[Mapping[str, Any]] = None,
    train: Optional[Mapping[str, Any]] = None,
    *,
    distill: Optional[DistillConfig] = None,
    teacher: Optional[nn.Module] = None,
    teacher_hash: Optional[str] = None,
    augment: Optional[str] = None,
    train_subset: Optional[int] = None,
    out_dir: Optional[Union[str, Path]] = None,
    resume: bool = True,
    progress: bool = False,
    device: Optional[str] = None,
    data_root: Optional[str] = None,
    stop_after: Optional[int] = None,
) -> RunResult:
    """Train ``arch`` on ``dataset`` with the engine, alone (``distill=None``) or from ``teacher``.

    With ``resume=True`` (default) a finished run in ``out_dir`` is loaded instead of retrained and an
    unfinished one is continued. Returns the trained model and the per-epoch metrics.
    ``stop_after`` stops after that many epochs (to simulate a killed run).
    """
    distill = distill or DistillConfig(method="none")
    if distill.method != "none" and teacher is None:
        raise ValueError(f"method {distill.method!r} needs a teacher")
    config = _train_config(train or {}, progress, device)
    train_set, test_set, info = load_data(dataset, train_subset, data_root, seed=config.seed)
    kwargs = dict(arch_kwargs or {})
    model_kwargs = {**kwargs, "mean": tuple(info.mean), "std": tuple(info.std)}
    build_model(arch, info.num_classes, **model_kwargs)  # fail early on a bad name/arguments
    student_holder: dict[str, nn.Module] = {}

    def make() -> nn.Module:
        student_holder["m"] = build_model(arch, info.num_classes, **model_kwargs)
        return student_holder["m"]

    # the distiller needs the student; the engine builds it after seeding, so bind lazily
    distiller = build_distiller(nn.Identity(), teacher if distill.method != "none" else None, distill, info.num_classes)
    objective = DistillObjective(
        distiller,
        augment,
        {"dataset": dataset, "student": arch, "student_kwargs": kwargs, "train_subset": train_subset, "teacher": teacher_hash},
    )
    meta = {
        "task": "distill",
        "dataset": dataset,
        "model": arch,
        "model_kwargs": kwargs,
        "num_classes": info.num_classes,
        "teacher": teacher_hash,
    }

    def factory() -> nn.Module:
        m = make()
        distiller.student = m
        return m

    history = fit(factory, objective, train_set, test_set, config, out_dir, resume=resume, meta=meta, stop_after=stop_after)
    model = student_holder["m"]
    return RunResult(model.eval(), history, info, Path(out_dir) if out_dir is not None else None)


# --------------------------------------------------------------------------------------------------
# Experiments: profiles, cached runs, summaries (used by the chapters)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Profile:
    """A complete distillation experiment: data, teacher recipe, student, schedule and methods.

    Attributes:
        name: profile name (also the cache sub-folder).
        dataset: data set name.
        teacher_arch, teacher_kwargs, teacher_train: the teacher's recipe (trained once, cached).
        student_arch, student_kwargs: the student.
        train: :class:`gkl.engine.TrainConfig` fields of every student run (``seed`` is set per run).
        methods: label -> :class:`DistillConfig` of the compared methods.
        augment: batch augmentation name or ``None``.
        train_subset: students (not the teacher) train on this many samples (``None``: all).
        teacher_augment: the teacher's augmentation.
        seeds: the seeds of every method.
    """

    name: str
    dataset: str
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

    def teacher_spec(self) -> "TeacherSpec":
        from gkl.experiments.teachers import TeacherSpec

        return TeacherSpec(
            self.dataset, self.teacher_arch, dict(self.teacher_kwargs), dict(self.teacher_train), self.teacher_augment
        )

    def replace(self, **changes: Any) -> "Profile":
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d.update(changes)
        return Profile(**d)


def _hash(obj: Any) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def run_method(
    profile: Profile,
    config: DistillConfig,
    seed: int,
    *,
    runs_dir: Optional[Union[str, Path]] = None,
    progress: bool = False,
    device: Optional[str] = None,
    data_root: Optional[str] = None,
) -> RunResult:
    """One student run of ``profile`` with ``config`` and ``seed``, cached by the hash of its settings.

    The cache folder is ``runs_dir/distill/<profile>/<method>-s<seed>-<hash>``; two calls with the same
    settings (even from different chapters) share it. The teacher comes from :func:`gkl.teachers.get_teacher`.
    """
    from gkl.training import default_runs_dir
    from gkl.experiments.teachers import get_teacher

    root = Path(runs_dir if runs_dir is not None else default_runs_dir())
    teacher = None
    teacher_hash = None
    if config.method != "none":
        loaded = get_teacher(profile.teacher_spec(), root, progress=progress, device=device, data_root=data_root)
        teacher, teacher_hash = loaded.model, loaded.weights_sha256
    train = {**dict(profile.train), "seed": int(seed)}
    out = _run_dir(profile, config, seed, root, teacher_hash)
    return train_student(
        profile.dataset,
        profile.student_arch,
        dict(profile.student_kwargs),
        train,
        distill=config,
        teacher=teacher,
        teacher_hash=teacher_hash,
        augment=profile.augment,
        train_subset=profile.train_subset,
        out_dir=out,
        resume=True,
        progress=progress,
        device=device,
        data_root=data_root,
    )


def _run_dir(profile: Profile, config: DistillConfig, seed: int, root: Path, teacher_hash: Optional[str]) -> Path:
    """The cache folder of one run: ``root/distill/<profile>/<method>-s<seed>-<hash of the settings>``."""
    train = {**dict(profile.train), "seed": int(seed)}
    key = _hash(
        {
            "dataset": profile.dataset,
            "student": [profile.student_arch, dict(profile.student_kwargs)],
            "train": {k: v for k, v in train.items() if k not in ("progress", "device")},
            "distill": config.to_dict(),
            "augment": profile.augment,
            "train_subset": profile.train_subset,
            "teacher": teacher_hash if config.method != "none" else None,
        }
    )
    return Path(root) / "distill" / profile.name / f"{config.method}-s{seed}-{key[:12]}"


def _finished(out: Path, epochs: int) -> bool:
    """Whether ``out`` holds a run that reached ``epochs`` (its metrics have that many lines)."""
    metrics = out / "metrics.jsonl"
    if not (out / "checkpoint.pt").is_file() or not metrics.is_file():
        return False
    with open(metrics, encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip()) >= epochs


def _worker_init() -> None:
    torch.set_num_threads(1)


def _run_cached(task: tuple) -> None:
    """Worker of :func:`run_grid`: train one run into the cache (nothing returned)."""
    profile, config, seed, kw = task
    run_method(profile, config, seed, **kw)


def default_workers() -> int:
    """Parallel runs for :func:`run_grid`: 1 with a GPU, else up to 2 CPU processes."""
    if torch.cuda.is_available():
        return 1
    import os

    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(2, n))


def run_grid(
    profile: Profile,
    configs: Optional[Mapping[str, DistillConfig]] = None,
    seeds: Optional[tuple[int, ...]] = None,
    workers: Optional[int] = None,
    **kw: Any,
) -> dict[str, list[RunResult]]:
    """Every config (default: the profile's methods) for every seed; label -> runs in seed order.

    With ``workers > 1`` (default :func:`default_workers`) the runs are first trained into the cache
    by that many fresh (``spawn``) processes of one thread each, then loaded here; results do not
    depend on ``workers`` (every run seeds itself).
    """
    configs = profile.methods if configs is None else configs
    seeds = profile.seeds if seeds is None else seeds
    workers = default_workers() if workers is None else workers
    tasks = [(profile, cfg, s, kw) for cfg in configs.values() for s in seeds]
    if workers > 1 and len(tasks) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        from gkl.training import default_runs_dir

        root = Path(kw.get("runs_dir") or default_runs_dir())
        teacher_hash = None
        if any(c.method != "none" for c in configs.values()):
            from gkl.experiments.teachers import get_teacher

            teacher_hash = get_teacher(profile.teacher_spec(), root, progress=kw.get("progress", False),
                                       device=kw.get("device"), data_root=kw.get("data_root")).weights_sha256  # once
        # runs already finished in the cache are only loaded below: no worker processes for them
        tasks = [t for t in tasks if not _finished(_run_dir(profile, t[1], t[2], root, teacher_hash), int(profile.train["epochs"]))]
        if len(tasks) > 1:
            with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=mp.get_context("spawn"),
                                     initializer=_worker_init) as ex:
                list(ex.map(_run_cached, tasks))
    return {label: [run_method(profile, cfg, s, **kw) for s in seeds] for label, cfg in configs.items()}


def summarize(results: Mapping[str, list[RunResult]], metric: str = "test_acc") -> list[dict[str, Any]]:
    """Mean, sample standard deviation (``ddof=1``) and per-seed values of the **last-epoch** ``metric``."""
    rows = []
    for label, runs in results.items():
        vals = torch.tensor([float(r.history[-1][metric]) for r in runs], dtype=torch.float64)
        std = float(vals.std(unbiased=True)) if len(vals) > 1 else float("nan")
        rows.append({"method": label, "mean": float(vals.mean()), "std": std, "n": len(vals), "values": vals.tolist()})
    return rows


def format_table(rows: list[dict[str, Any]], scale: float = 100.0, unit: str = "%") -> str:
    """A Markdown table ``method | mean ± std | seeds`` from :func:`summarize`."""
    lines = [f"| method | test accuracy ({unit}, last epoch) | per seed |", "|---|---|---|"]
    for r in rows:
        per = ", ".join(f"{v * scale:.1f}" for v in r["values"])
        lines.append(f"| {r['method']} | {r['mean'] * scale:.2f} ± {r['std'] * scale:.2f} | {per} |")
    return "\n".join(lines)


@torch.no_grad()
def student_report(student: nn.Module, teacher: Optional[nn.Module], dataset, bins: int = 10, batch_size: int = 1000) -> dict[str, Any]:
    r"""What a student learned, on ``dataset``: accuracy, agreement with the teacher's top-1, expected
    calibration error and the reliability-diagram data.

    .. math:: \mathrm{ECE} = \sum_{b} \frac{n_b}{N} \,\big|\mathrm{acc}_b - \mathrm{conf}_b\big|

    over ``bins`` equal-width confidence bins (confidence = top-1 softmax probability).
    """
    xs, ys = dataset.tensors() if hasattr(dataset, "tensors") else map(torch.stack, zip(*[dataset[i] for i in range(len(dataset))]))
    dev = next(student.parameters()).device
    student.eval()
    probs, tpred = [], []
    for i in range(0, len(xs), batch_size):
        x = xs[i : i + batch_size].to(dev)
        probs.append(F.softmax(student(x).float(), 1).cpu())
        if teacher is not None:
            teacher.eval()
            tpred.append(teacher(x).argmax(1).cpu())
    p = torch.cat(probs)
    conf, pred = p.max(1)
    correct = (pred == ys).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64)
    which = torch.bucketize(conf.double(), edges[1:-1], right=True)
    count = torch.bincount(which, minlength=bins).double()
    acc_b = torch.bincount(which, weights=correct, minlength=bins) / count.clamp_min(1)
    conf_b = torch.bincount(which, weights=conf.double(), minlength=bins) / count.clamp_min(1)
    ece = float(((count / len(ys)) * (acc_b - conf_b).abs()).sum())
    out = {
        "acc": float(correct.mean()),
        "ece": ece,
        "nll": float(F.nll_loss(p.clamp_min(1e-12).log(), ys)),
        "mean_confidence": float(conf.mean()),
        "bin_edges": edges.tolist(),
        "bin_count": count.tolist(),
        "bin_acc": acc_b.tolist(),
        "bin_conf": conf_b.tolist(),
    }
    if teacher is not None:
        out["agreement"] = float((pred == torch.cat(tpred)).double().mean())
    return out


# --------------------------------------------------------------------------------------------------
# Command line:  python -m gkl distill ...
# --------------------------------------------------------------------------------------------------
def add_cli_arguments(parser) -> None:
    """Arguments of ``python -m gkl distill`` (called by :mod:`gkl.cli`)."""
    p = parser
    p.add_argument("--dataset", required=True, choices=["mnist1d", "digits", "cifar100"], help="data set")
    p.add_argument("--teacher", help="teacher.pt file, or an architecture name to train (and cache) a teacher")
    p.add_argument("--teacher-kwargs", default="{}", help="JSON arguments of the teacher architecture")
    p.add_argument("--teacher-epochs", type=int, default=None, help="epochs of a teacher trained here (default: --epochs)")
    p.add_argument("--student", required=True, help="student architecture (registered model name)")
    p.add_argument("--student-kwargs", default="{}", help='JSON arguments of the student, e.g. \'{"width": 8}\'')
    p.add_argument("--method", default="kd", choices=list(METHODS),
                   help="distillation method; without --config each method starts from its mnist1d setting, "
                        "the released resnet56->resnet20 CIFAR-100 one: ikl = released IKL (DKLv1): alpha 1, "
                        "beta 4, T 4, no class prior, T2 100; gkl = released GKL (DKLv2): alpha 1, beta 4, "
                        "gamma 0.2, prior on, T = T2 = 4; warm-up 5 of 60 epochs")
    p.add_argument("--config", default=None, help="named released configuration, e.g. cifar100/resnet32x4-resnet8x4")
    p.add_argument("--epochs", type=int, default=None, help="training epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder (metrics.jsonl, checkpoint.pt)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--overwrite", action="store_true", help="start afresh even if --out holds a checkpoint")
    for name, kind, hlp in [
        ("--alpha", float, "dkd: TCKD weight; ikl/gkl: soft-label CE weight"),
        ("--beta", float, "dkd: NCKD weight; ikl/gkl: wMSE weight"),
        ("--gamma", float, "gkl: weight exponent"),
        ("--temperature", float, "T of the soft labels"),
        ("--weight-temperature", float, "T2 of the weights / class prior"),
        ("--ce-weight", float, "weight of the label cross-entropy"),
        ("--kd-weight", float, "kd: weight of the KD term"),
        ("--warmup", int, "warm-up epochs of the distillation terms"),
        ("--lr", float, "learning rate"),
        ("--batch-size", int, "batch size"),
        ("--weight-decay", float, "weight decay"),
    ]:
        p.add_argument(name, type=kind, default=None, help=hlp)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--prior", dest="prior", action="store_true", default=None,
                   help="use the class prior (ikl/gkl; default: off for ikl, on for gkl, as released)")
    g.add_argument("--no-prior", dest="prior", action="store_false", help="per-sample weights instead of the prior")
    p.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default=None)
    p.add_argument("--augment", choices=list(AUGMENTATIONS), default=None, help="batch augmentation")
    p.add_argument("--train-subset", type=int, default=None, help="train the student on this many samples")
    p.add_argument("--data-root", default=None, help="folder of CIFAR data")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: automatic)")
    p.add_argument("--progress", action="store_true", help="show progress bars")


def _json_arg(text: str, name: str) -> dict[str, Any]:
    import json

    try:
        v = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{name} is not valid JSON: {err.msg}") from None
    if not isinstance(v, dict):
        raise ValueError(f"{name} must be a JSON object")
    return v


def run_cli(args) -> int:
    """Run ``python -m gkl distill`` from parsed ``args``; returns the exit code (0).

    Raises ``ValueError`` / ``FileNotFoundError`` with a one-line message on bad input
    (:mod:`gkl.cli` turns them into ``gkl: error: ...`` and exit code 2).
    """
    from gkl.experiments.teachers import TeacherSpec, get_teacher, load_teacher

    named = None
    if args.config is not None:
        if args.config not in CONFIGS:
            raise ValueError(f"unknown config {args.config!r}; available: {', '.join(CONFIGS)}")
        named = CONFIGS[args.config]
        if named.dataset != args.dataset:
            raise ValueError(f"config {args.config!r} is for {named.dataset!r}, not {args.dataset!r}")
    base = named.methods.get(args.method) if named is not None else None
    base = base or DEFAULT_METHOD_CONFIGS[args.method]
    changes = {
        k: getattr(args, k)
        for k in ("alpha", "beta", "gamma", "temperature", "weight_temperature", "ce_weight", "kd_weight", "warmup", "prior")
        if getattr(args, k) is not None
    }
    config = base.replace(**changes)
    train = dict(named.train) if named is not None else dict(DEFAULT_TRAIN.get(args.dataset, {}))
    for k, v in (("epochs", args.epochs), ("lr", args.lr), ("batch_size", args.batch_size),
                 ("weight_decay", args.weight_decay), ("optimizer", args.optimizer)):
        if v is not None:
            train[k] = v
    if args.epochs is not None and named is not None and train.get("milestones"):
        # scale a multistep schedule to the shorter run
        full = named.train["epochs"]
        train["milestones"] = [max(1, round(m * args.epochs / full)) for m in named.train["milestones"]]
    train["seed"] = args.seed
    train.setdefault("epochs", 10)
    if train["epochs"] < 1:
        raise ValueError(f"--epochs must be >= 1, got {train['epochs']}")
    student_kwargs = _json_arg(args.student_kwargs, "--student-kwargs")
    if named is not None and args.student == named.student_arch and not student_kwargs:
        student_kwargs = dict(named.student_kwargs)
    _, _, info = load_data(args.dataset, None, args.data_root, args.seed)
    build_model(args.student, info.num_classes, **student_kwargs)  # validates name and arguments

    teacher = teacher_hash = None
    if config.method != "none":
        if not args.teacher:
            raise ValueError(f"method {config.method!r} needs --teacher (a teacher.pt file or an architecture)")
        path = Path(args.teacher)
        if path.suffix in (".pt", ".pth") or path.exists():
            loaded = load_teacher(path, dataset=args.dataset, num_classes=info.num_classes)
        else:
            from gkl.models import available_models

            if args.teacher not in available_models():
                raise ValueError(f"--teacher {args.teacher!r} is neither a file nor a registered model")
            tkw = _json_arg(args.teacher_kwargs, "--teacher-kwargs")
            if named is not None and args.teacher == named.teacher_arch:
                ttrain = dict(named.teacher_train)
                tkw = tkw or dict(named.teacher_kwargs)
            else:
                ttrain = {k: v for k, v in train.items() if k != "seed"}
                ttrain["seed"] = 0
            if args.teacher_epochs is not None:
                ttrain["epochs"] = args.teacher_epochs
            spec = TeacherSpec(args.dataset, args.teacher, tkw, ttrain, None)
            loaded = get_teacher(spec, progress=args.progress, device=args.device, data_root=args.data_root)
        teacher, teacher_hash = loaded.model, loaded.weights_sha256

    out = Path(args.out)
    if (out / "checkpoint.pt").exists() and not (args.resume or args.overwrite):
        raise ValueError(f"{out / 'checkpoint.pt'} exists: pass --resume to continue it or --overwrite")
    if args.overwrite and (out / "checkpoint.pt").exists():
        (out / "checkpoint.pt").unlink()
    result = train_student(
        args.dataset,
        args.student,
        student_kwargs,
        train,
        distill=config,
        teacher=teacher,
        teacher_hash=teacher_hash,
        augment=args.augment,
        train_subset=args.train_subset,
        out_dir=out,
        resume=args.resume,
        progress=args.progress,
        device=args.device,
        data_root=args.data_root,
    )
    last = result.history[-1]
    print(f"epoch {last['epoch']}: train_loss {last['train_loss']:.4f}, test_acc {last['test_acc']:.4f} -> {out}")
    return 0


# --------------------------------------------------------------------------------------------------
# Named configurations
# --------------------------------------------------------------------------------------------------
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
    return DistillConfig(method="ikl", alpha=alpha, beta=beta, temperature=4.0, weight_temperature=100.0, prior=False,
                         warmup=warmup)


def _cifar_methods(alpha: float, beta: float, gamma: float, prior: bool, dkd_beta: float,
                   ikl_alpha: float, ikl_beta: float) -> dict[str, DistillConfig]:
    return {
        "none": DistillConfig(method="none"),
        # mdistiller's KD on CIFAR-100: CE weight 0.1, KD weight 0.9, T = 4
        "kd": DistillConfig(method="kd", ce_weight=0.1, kd_weight=0.9, temperature=4.0),
        # DKD's CIFAR-100 setting (alpha 1, T 4, warm-up 20; beta per pair, from the mdistiller configs)
        "dkd": DistillConfig(method="dkd", alpha=1.0, beta=dkd_beta, temperature=4.0, warmup=20),
        # released IKL configuration of the pair (DKLv1/KD-dkl/configs/cifar100/ikl_kd/*.yaml)
        "ikl": _ikl_released(ikl_alpha, ikl_beta, warmup=20),
        # released GKL configuration of the pair (DKLv2/KD-dkl/cifar100_config_gkl/*.yaml)
        "gkl": DistillConfig(
            method="gkl", alpha=alpha, beta=beta, gamma=gamma, temperature=4.0, weight_temperature=4.0, prior=prior, warmup=20
        ),
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
        "none": DistillConfig(method="none"),
        "kd": DistillConfig(method="kd", ce_weight=1.0, kd_weight=1.0, temperature=4.0),
        "dkd": DistillConfig(method="dkd", alpha=1.0, beta=2.0, temperature=4.0, warmup=warmup),
        # released IKL resnet56 -> resnet20: alpha 1, beta 4, T 4, no prior, T2 100
        "ikl": _ikl_released(1.0, 4.0, warmup=warmup),
        # released GKL resnet56 -> resnet20: alpha 1, beta 4, gamma 0.2, prior on, T = T2 = 4
        "gkl": DistillConfig(
            method="gkl", alpha=1.0, beta=4.0, gamma=0.2, temperature=4.0, weight_temperature=4.0, prior=True, warmup=warmup
        ),
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

#: The GPU profile: CIFAR-100, resnet32x4 -> resnet8x4 with the released GKL and IKL settings of the
#: pair on a short schedule (teacher 15 epochs, students 5, SGD lr 0.1 cosine, batch 128; warm-up 1 epoch).
GPU_PROFILE = Profile(
    name="cifar100-gpu",
    dataset="cifar100",
    teacher_arch="resnet32x4",
    teacher_kwargs={},
    teacher_train={"epochs": 15, "batch_size": 128, "optimizer": "sgd", "lr": 0.1, "weight_decay": 5e-4,
                   "schedule": "cosine", "seed": 0},
    student_arch="resnet8x4",
    student_kwargs={},
    train={"epochs": 5, "batch_size": 128, "optimizer": "sgd", "lr": 0.1, "weight_decay": 5e-4, "schedule": "cosine"},
    methods={k: (v.replace(warmup=1) if v.warmup else v)
             for k, v in _cifar_methods(1.0, 16.0, 0.05, True, 8.0, ikl_alpha=1.0, ikl_beta=8.0).items()},
    seeds=(0,),
)

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


# --------------------------------------------------------------------------------------------------
# Reading the results honestly
# --------------------------------------------------------------------------------------------------
def _mean_std(values: list[float]) -> tuple[float, float]:
    n = len(values)
    m = sum(values) / n
    return m, (math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan"))


def paired_verdict(values: list[float], baseline: list[float]) -> str:
    """``"ahead"``, ``"behind"`` or ``"no difference detected"``: ``values`` against ``baseline``, seed by seed.

    Both lists hold one number per seed, in the same seed order (same seed = same initial weights and
    data order). The book's one verdict rule, :func:`gkl.stats.paired_difference`: ``"ahead"`` /
    ``"behind"`` when the 95 % confidence interval (Student's t) of the mean per-seed difference lies
    above / below zero; with fewer than two paired seeds there is no interval, so no difference is detected.
    """
    n = min(len(values), len(baseline))
    if n < 2:
        return "no difference detected"
    d = paired_difference(dict(enumerate(baseline[:n])), dict(enumerate(values[:n])))
    return d.verdict if d.verdict in ("ahead", "behind") else "no difference detected"


def compare_to(results: Mapping[str, list[RunResult]], baseline: str = "none", metric: str = "test_acc") -> list[dict[str, Any]]:
    """Each method against ``baseline``, seed by seed (same seed = same initial weights and data order).

    Returns rows with the difference of means ``delta``, the paired per-seed differences, how many
    seeds the method wins, the 95 % interval of the mean paired difference (``low``, ``high``; ``None``
    with one seed) and a verdict by :func:`paired_verdict`: ``"better"`` / ``"worse"`` when the interval
    lies above / below zero, else ``"no difference detected"``.
    """
    if baseline not in results:
        raise ValueError(f"baseline {baseline!r} is not among the results: {', '.join(results)}")
    summary = {r["method"]: r for r in summarize(results, metric)}
    base = summary[baseline]
    rows = []
    for label, r in summary.items():
        if label == baseline:
            continue
        n = min(len(r["values"]), len(base["values"]))
        paired = [a - b for a, b in zip(r["values"][:n], base["values"][:n])]
        delta = r["mean"] - base["mean"]
        spread = max(r["std"], base["std"]) if n > 1 else float("inf")
        v = paired_verdict(r["values"], base["values"])
        verdict = {"ahead": "better", "behind": "worse"}.get(v, "no difference detected")
        ci = paired_difference(dict(enumerate(base["values"][:n])), dict(enumerate(r["values"][:n])))
        rows.append({"method": label, "delta": delta, "paired": paired, "wins": sum(p > 0 for p in paired), "n": n,
                     "spread": spread, "low": ci.low, "high": ci.high, "verdict": verdict})
    return rows


def _values(x: Union[Mapping[str, Any], list[RunResult], list[float]], metric: str) -> list[float]:
    """Per-seed values of a :func:`summarize` row, a list of runs, or a list of numbers."""
    if isinstance(x, Mapping):
        return [float(v) for v in x["values"]]
    return [float(r.history[-1][metric]) if hasattr(r, "history") else float(r) for r in x]


def verdict_between(a: Any, b: Any, metric: str = "test_acc") -> dict[str, Any]:
    """:func:`paired_verdict` of ``a`` against ``b`` with the numbers a sentence needs.

    ``a`` and ``b`` are each a :func:`summarize` row, a list of :class:`RunResult` (seed order) or a
    list of per-seed numbers. Returns ``verdict``, ``delta`` (difference of means), ``wins`` (seeds
    where ``a`` is higher) and ``n`` (paired seeds).
    """
    va, vb = _values(a, metric), _values(b, metric)
    n = min(len(va), len(vb))
    if n == 0:
        raise ValueError("verdict_between needs at least one value on each side")
    delta = sum(va) / len(va) - sum(vb) / len(vb)
    ci = paired_difference(dict(enumerate(vb[:n])), dict(enumerate(va[:n])))
    return {"verdict": paired_verdict(va, vb), "delta": delta, "wins": sum(x > y for x, y in zip(va[:n], vb[:n])),
            "n": n, "low": ci.low, "high": ci.high}


def difference_sentence(a: Any, b: Any, name_a: str, name_b: str, metric: str = "test_acc", scale: float = 100.0) -> str:
    """A clause that holds whatever the numbers are: ``"GKL is ahead of KD (+1.2 points, 95 % CI [+0.3,
    +2.1], 3/3 seeds higher)"``, ``"GKL is behind KD (...)"`` or ``"no difference detected between GKL
    and KD (+0.2 points, 95 % CI [-1.0, +1.4], 2/3 seeds higher)"`` (the rule of :func:`paired_verdict`)."""
    v = verdict_between(a, b, metric)
    ci = "" if v["low"] is None else f", 95 % CI [{v['low'] * scale:+.1f}, {v['high'] * scale:+.1f}]"
    nums = f"{v['delta'] * scale:+.1f} points{ci}, {v['wins']}/{v['n']} seeds higher"
    if v["verdict"] == "no difference detected":
        return f"no difference detected between {name_a} and {name_b} ({nums})"
    return f"{name_a} is {'ahead of' if v['verdict'] == 'ahead' else 'behind'} {name_b} ({nums})"


def format_comparison(rows: list[dict[str, Any]], baseline: str = "student alone", scale: float = 100.0) -> str:
    """Markdown table of :func:`compare_to`."""
    lines = [f"| method | Δ vs {baseline} (points) | per-seed Δ | seeds won | 95 % CI (points) | reading |", "|---|---|---|---|---|---|"]
    for r in rows:
        per = ", ".join(f"{p * scale:+.1f}" for p in r["paired"])
        ci = "—" if r.get("low") is None else f"[{r['low'] * scale:+.1f}, {r['high'] * scale:+.1f}]"
        lines.append(f"| {r['method']} | {r['delta'] * scale:+.2f} | {per} | {r['wins']}/{r['n']} | {ci} | {r['verdict']} |")
    return "\n".join(lines)


#: Teacher/student pairs tried on mnist1d while designing the chapters (scratch loop with the same
#: models, AdamW, cosine schedule; KD at T = 4 with CE and KD weights 1 unless noted; 3 seeds each;
#: **not re-run during the book build**). Accuracies in %, mean ± std over seeds.
PAIR_SEARCH: list[dict[str, Any]] = [
    {"student": "MLP 100-100", "train samples": 4000, "augmentation": "none", "epochs": 20, "alone": "63.8 ± 1.4", "KD": "63.3 ± 1.5", "Δ": -0.6, "note": ""},
    {"student": "CNN width 4", "train samples": 4000, "augmentation": "none", "epochs": 20, "alone": "51.5 ± 1.1", "KD": "47.7 ± 4.3", "Δ": -3.8, "note": ""},
    {"student": "CNN width 8", "train samples": 4000, "augmentation": "none", "epochs": 20, "alone": "70.9 ± 1.4", "KD": "69.8 ± 2.8", "Δ": -1.0, "note": ""},
    {"student": "MLP 100-100", "train samples": 4000, "augmentation": "shift ±4", "epochs": 20, "alone": "67.5 ± 1.5", "KD": "64.1 ± 1.5", "Δ": -3.3, "note": ""},
    {"student": "CNN width 4", "train samples": 4000, "augmentation": "shift ±4", "epochs": 20, "alone": "59.8 ± 10.0", "KD": "51.8 ± 4.0", "Δ": -8.0, "note": ""},
    {"student": "MLP 100-100", "train samples": 4000, "augmentation": "shift ±8", "epochs": 40, "alone": "71.0 ± 2.6", "KD": "69.4 ± 0.5", "Δ": -1.6, "note": "KD: CE 0.1, KD 0.9"},
    {"student": "CNN width 16", "train samples": 1000, "augmentation": "shift ±4", "epochs": 60, "alone": "87.2 ± 5.1", "KD": "89.1 ± 5.0", "Δ": 1.9, "note": ""},
    {"student": "MLP 100-100", "train samples": 1000, "augmentation": "shift ±4", "epochs": 60, "alone": "59.2 ± 2.1", "KD": "58.8 ± 0.7", "Δ": -0.4, "note": ""},
    {"student": "CNN width 8", "train samples": 1000, "augmentation": "shift ±4", "epochs": 60, "alone": "74.0 ± 4.4", "KD": "67.0 ± 4.1", "Δ": -7.0, "note": ""},
    {"student": "CNN width 8 + BN", "train samples": 4000, "augmentation": "none", "epochs": 30, "alone": "92.2 ± 1.3", "KD": "91.3 ± 1.9", "Δ": -0.8, "note": ""},
    {"student": "CNN width 8 + BN", "train samples": 1000, "augmentation": "none", "epochs": 60, "alone": "77.6 ± 1.6", "KD": "76.6 ± 0.5", "Δ": -1.0, "note": ""},
    {"student": "MLP 100-100", "train samples": 4000, "augmentation": "mixup (soft labels)", "epochs": 40, "alone": "60.2 ± 1.1", "KD": "62.6 ± 0.7", "Δ": 2.5, "note": "KD: T 1, no label CE"},
    {"student": "CNN width 8 + BN", "train samples": 4000, "augmentation": "mixup (soft labels)", "epochs": 30, "alone": "86.5 ± 1.2", "KD": "87.1 ± 2.7", "Δ": 0.5, "note": ""},
    {"student": "MLP 100-100", "train samples": 4000, "augmentation": "mix, majority label", "epochs": 60, "alone": "60.9 ± 0.5", "KD": "62.8 ± 1.6", "Δ": 1.8, "note": ""},
    {"student": "CNN width 8 + BN", "train samples": 4000, "augmentation": "mix, majority label", "epochs": 30, "alone": "88.1 ± 0.5", "KD": "90.0 ± 1.4", "Δ": 2.0, "note": ""},
    {"student": "CNN width 8 + BN", "train samples": 4000, "augmentation": "mix, majority label", "epochs": 60, "alone": "92.9 ± 1.3", "KD": "93.6 ± 1.0", "Δ": 0.7, "note": ""},
    {"student": "CNN width 8 + BN", "train samples": 2000, "augmentation": "mix, majority label", "epochs": 60, "alone": "87.8 ± 1.0", "KD": "89.3 ± 1.3", "Δ": 1.5, "note": ""},
    {"student": "CNN width 16 + BN", "train samples": 2000, "augmentation": "mix, majority label", "epochs": 60, "alone": "94.2 ± 0.8", "KD": "95.9 ± 0.4", "Δ": 1.6, "note": "chosen"},
]


def records_to_markdown(rows: list[Mapping[str, Any]]) -> str:
    """A Markdown table of a list of flat dicts (column order of the first row)."""
    if not rows:
        return ""
    cols = list(rows[0])
    fmt = lambda v: f"{v:+.1f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def trends_vs_reported(results: Mapping[str, list[RunResult]]) -> list[dict[str, Any]]:
    """The authors' reported trends (from :mod:`gkl.reported`) beside the same comparison in ``results``.

    For each trend "A beats B": the reported gaps (points) and our difference of mean last-epoch
    accuracies with its verdict (see :func:`compare_to`): ``agrees`` if we also see A better (the 95 %
    interval of the paired difference above zero), ``disagrees`` if we see A worse, else ``inconclusive``.
    """
    from gkl import reported

    im = reported.load("imagenet_kd")
    lt = reported.load("imagenet_lt_kd")

    def gap(table, a, b, **key):
        return table.value("top1", method=a, **key) - table.value("top1", method=b, **key)

    trends = [
        ("gkl", "kd", "GKL beats KL/KD",
         [f"ImageNet-LT X101→R18 {gap(lt, 'GKL', 'KL'):+.2f}"]),
        ("gkl", "dkd", "GKL beats DKD",
         [f"ImageNet R34→R18 {gap(im, 'GKL', 'DKD', student='ResNet-18'):+.2f}",
          f"ImageNet R50→MobileNetV1 {gap(im, 'GKL', 'DKD', student='MobileNetV1'):+.2f}"]),
    ]
    out = []
    for a, b, text, rep in trends:
        if a not in results or b not in results:
            continue
        row = {r["method"]: r for r in compare_to({b: results[b], a: results[a]}, b)}[a]
        verdict = {"better": "agrees", "worse": "disagrees"}.get(row["verdict"], "inconclusive (no difference detected)")
        out.append({"trend": text, "reported by the authors": "; ".join(rep),
                    "ours (points)": f"{100 * row['delta']:+.2f} (seeds won {row['wins']}/{row['n']})", "reading": verdict})
    return out


# --------------------------------------------------------------------------------------------------
# Ablations
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sweep:
    """One ablation: a parameter, its values, and the :class:`DistillConfig` of each value."""

    name: str
    parameter: str
    values: tuple[Any, ...]
    configs: tuple[DistillConfig, ...]
    note: str = ""


def ablation_sweeps(profile: Profile, base: str = "gkl") -> list[Sweep]:
    """The sweeps of the ablation chapter around the profile's ``base`` GKL setting.

    Each sweep changes one field of the base config; a value equal to the base *is* the base config
    (so the cached runs of the distillation chapter are reused). The values are few (18 new runs for
    the CPU profile) to keep the chapter to a few minutes on two CPU cores. :math:`\\gamma = 1` with the prior is
    "GKL (γ = 1)": IKL's weight function, but **not** the released IKL, which has no class prior and
    T2 = 100 (that one is the profile's ``ikl`` method, the third value of the asymmetry sweep).
    """
    g = profile.methods[base]
    ikl = profile.methods.get("ikl")
    gammas = tuple(dict.fromkeys((0.0, g.gamma, 1.0)))  # the base γ once, in order
    asym_values: tuple[str, ...] = ("no: β = 0 (KL's CE only)", "yes: GKL")
    asym_configs: tuple[DistillConfig, ...] = (g.replace(beta=0.0), g)
    if ikl is not None:
        asym_values += ("yes: IKL (released)",)
        asym_configs += (ikl,)
    return [
        Sweep("gamma", "γ", gammas, tuple(g if v == g.gamma else g.replace(gamma=v) for v in gammas),
              "γ = 1: IKL's weight function, here with the prior (GKL (γ = 1), not the released IKL); "
              "γ = 0: uniform weights"),
        Sweep("prior", "class prior", ("off", "on"), (g.replace(prior=False), g),
              "off: per-sample weights softmax(o_m / T2)"),
        Sweep("asymmetry", "wMSE reaches the student", asym_values, asym_configs,
              "in KD the DKL wMSE moves only the frozen teacher, i.e. it has no effect: β = 0 is KL's "
              "soft-label CE alone (γ is then irrelevant); the released IKL also breaks the asymmetry"),
        Sweep("beta", "β", (0.0, 0.25, g.beta), (g.replace(beta=0.0), g.replace(beta=0.25), g),
              "weight of the wMSE"),
        Sweep("temperature", "T", (1.0, g.temperature), (g.replace(temperature=1.0), g),
              "temperature of the soft-label CE (it also sets KL's own balance: the wMSE weight relative to "
              "KL's is (β/α)·T²)"),
    ]


def run_sweep(profile: Profile, sweep: Sweep, seeds: Optional[tuple[int, ...]] = None, **kw: Any) -> list[dict[str, Any]]:
    """Summaries (:func:`summarize`) of every value of ``sweep``, in order (runs via :func:`run_grid`)."""
    return summarize(run_grid(profile, {str(v): c for v, c in zip(sweep.values, sweep.configs)}, seeds, **kw))


# --------------------------------------------------------------------------------------------------
# A copy-paste recipe (plain PyTorch, no engine)
# --------------------------------------------------------------------------------------------------
def gkl_recipe(
    student: nn.Module,
    teacher: nn.Module,
    loader,
    num_classes: int,
    epochs: int = 240,
    lr: float = 0.05,
    alpha: float = 1.0,
    beta: float = 4.0,
    gamma: float = 0.2,
    temperature: float = 4.0,
    warmup: int = 20,
    device: str = "cpu",
) -> nn.Module:
    """GKL distillation in a plain PyTorch loop — the recipe of the guidelines chapter, to copy.

    Defaults: the released ResNet-56 → ResNet-20 CIFAR-100 setting (use a multistep schedule at
    150/180/210 epochs for the full run).
    """
    import gkl

    teacher.to(device).eval().requires_grad_(False)  # frozen teacher, always in eval mode
    student.to(device)
    prior = gkl.ClassPrior(num_classes, temperature=temperature)  # class-wise global information
    opt = torch.optim.SGD(student.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    for epoch in range(1, epochs + 1):
        student.train()
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            with torch.no_grad():
                t = teacher(x)
            s = student(x)
            prior.update(t, y)  # collected now, used next epoch
            kd = gkl.gkl(s, t, y, prior.current, alpha=alpha, beta=beta, gamma=gamma, temperature=temperature)
            loss = F.cross_entropy(s, y) + min(epoch / warmup, 1.0) * kd  # warm-up of the KD term
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        prior.roll()  # this epoch's prior weights the next epoch (uniform in the first one)
    return student
