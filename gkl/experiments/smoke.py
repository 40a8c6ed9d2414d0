"""Smoke runs of the training chapters: with ``GKL_SMOKE=1`` every chapter runs end to end in about a
minute on a CPU.

The chapters build their profiles with :func:`gkl.experiments.distill.tuned_profile` and
:func:`gkl.experiments.adversarial.tuned_profile`; both pass the result through :func:`distill` /
:func:`adversarial` here, which return it unchanged unless the environment variable :data:`ENV` is set
(to anything but ``0``). Then they shrink it: one epoch (the teacher too), the first two seeds (of a
profile's own: the one-seed GPU profiles keep one), and for adversarial training a 64-point test
split with AutoAttack on 4 of them (on CIFAR without a CUDA device: 16 and 2, PGD against ε at 0 and
the training ε only). On CIFAR (the GPU profiles) every network also trains on
:data:`CIFAR_TRAIN` training images only (the teacher too) and evaluates during training on at most
that many test images, so the smoke run of a GPU profile takes minutes on a CPU — and, pointed at
tiny CIFAR-shaped files (:func:`gkl.data.write_fake_cifar`, through ``GKL_DATA_DIR``), seconds, which
is how CI runs the GPU code path without a GPU or a download. Without a CUDA device a smoke run also
switches the GPU profiles' fp16 autocast off (:func:`_amp`): fp16 on a CPU is emulated, and one
training step of PreActResNet-18 took minutes. The profile's name gets a
``-smoke`` suffix, so smoke runs never share a cache folder with real ones, and
:func:`gkl.figures.runtime.start` prints :data:`BANNER` at the top of every chapter.

What a smoke run proves is that a notebook runs from an installed wheel, as on Colab
(``tests/test_colab_like.py``): every cell executes, every table and figure is drawn. Its numbers
are noise and say nothing about the methods.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["ENV", "BANNER", "CIFAR_TRAIN", "enabled", "distill", "adversarial"]

#: The environment variable that switches smoke runs on.
ENV = "GKL_SMOKE"
#: Printed at the top of every training chapter while smoke runs are on.
BANNER = (f"{ENV} is set: this chapter runs a smoke profile (1 epoch, 2 seeds, small test split). "
          "Its numbers check that the code runs; they say nothing about the methods.")

_SEEDS = 2
_AT_TEST_POINTS = 64
_AT_AA_POINTS = 4
#: A CIFAR adversarial smoke run without a CUDA device (PreActResNet-18 on a CPU: one attacked
#: training epoch takes about half a minute on 64 images): test points, AutoAttack points; PGD against
#: ε only at 0 and the training ε.
_CPU_CIFAR_TEST_POINTS = 16
_CPU_CIFAR_AA_POINTS = 2
#: Training images of a CIFAR smoke run (students, the teacher and adversarial training alike).
CIFAR_TRAIN = 256


def enabled() -> bool:
    """Whether ``GKL_SMOKE`` asks for smoke runs."""
    return os.environ.get(ENV, "").strip() not in ("", "0")


def _renamed(name: str) -> str:
    return name if name.endswith("-smoke") else f"{name}-smoke"


def distill(profile: Any) -> Any:
    """A distillation :class:`~gkl.experiments.distill.profiles.Profile`, shrunk when smoke runs are on."""
    if not enabled():
        return profile
    changes: dict[str, Any] = {}
    train, teacher_train = {**dict(profile.train), "epochs": 1}, {**dict(profile.teacher_train), "epochs": 1}
    if _cifar(profile):
        changes = {"train_subset": min(profile.train_subset or CIFAR_TRAIN, CIFAR_TRAIN),
                   "teacher_subset": min(profile.teacher_subset or CIFAR_TRAIN, CIFAR_TRAIN)}
        train["eval_subset"] = teacher_train["eval_subset"] = CIFAR_TRAIN
        train["amp"], teacher_train["amp"] = _amp(train.get("amp")), _amp(teacher_train.get("amp"))
    return profile.replace(name=_renamed(profile.name), seeds=tuple(profile.seeds[:_SEEDS]), train=train,
                           teacher_train=teacher_train, **changes)


def adversarial(profile: Any) -> Any:
    """An adversarial-training :class:`~gkl.experiments.adversarial.profiles.Profile`, shrunk when smoke
    runs are on."""
    if not enabled():
        return profile
    aa = profile.autoattack_subset
    changes: dict[str, Any] = {}
    test_points, aa_points = _AT_TEST_POINTS, _AT_AA_POINTS
    if _cifar(profile):  # no validation split: train on CIFAR_TRAIN images (all there are, if fewer)
        changes = {"validation": None, "train_subset": min(profile.train_subset or CIFAR_TRAIN, CIFAR_TRAIN),
                   "eval_subset": min(profile.eval_subset or CIFAR_TRAIN, CIFAR_TRAIN), "amp": _amp(profile.amp)}
        if not _cuda():  # PreActResNet-18 on a CPU: the code path only, on a handful of points and one radius
            test_points, aa_points = _CPU_CIFAR_TEST_POINTS, _CPU_CIFAR_AA_POINTS
            changes["curve_epsilons"] = tuple(e for e in profile.curve_epsilons if e in (0.0, profile.epsilon))
    return profile.replace(name=_renamed(profile.name), seeds=tuple(profile.seeds[:_SEEDS]), epochs=1, eval_every=1,
                           test_subset=min(profile.test_subset or test_points, test_points),
                           autoattack_subset=min(aa or aa_points, aa_points), **changes)


def _cifar(profile: Any) -> bool:
    return str(profile.dataset).startswith("cifar")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _amp(amp: Any) -> Any:
    """``amp`` where a CUDA device will run it, else ``None`` (fp16 autocast on a CPU is emulated)."""
    return amp if _cuda() else None
