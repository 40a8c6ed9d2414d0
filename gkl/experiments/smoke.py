"""Smoke runs of the training chapters: with ``GKL_SMOKE=1`` every chapter runs end to end in about a
minute on a CPU.

The chapters build their profiles with :func:`gkl.experiments.distill.tuned_profile` and
:func:`gkl.experiments.adversarial.tuned_profile`; both pass the result through :func:`distill` /
:func:`adversarial` here, which return it unchanged unless the environment variable :data:`ENV` is set
(to anything but ``0``). Then they shrink it: one epoch (the teacher too), the first two seeds, and for
adversarial training a 64-point test split with AutoAttack on 4 of them. The profile's name gets a
``-smoke`` suffix, so smoke runs never share a cache folder with real ones, and
:func:`gkl.figures.runtime.start` prints :data:`BANNER` at the top of every chapter.

What a smoke run proves is that a notebook runs from an installed wheel, as on Colab
(``tests/test_colab_like.py``): every cell executes, every table and figure is drawn. Its numbers
are noise and say nothing about the methods.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["ENV", "BANNER", "enabled", "distill", "adversarial"]

#: The environment variable that switches smoke runs on.
ENV = "GKL_SMOKE"
#: Printed at the top of every training chapter while smoke runs are on.
BANNER = (f"{ENV} is set: this chapter runs a smoke profile (1 epoch, 2 seeds, small test split). "
          "Its numbers check that the code runs; they say nothing about the methods.")

_SEEDS = 2
_AT_TEST_POINTS = 64
_AT_AA_POINTS = 4


def enabled() -> bool:
    """Whether ``GKL_SMOKE`` asks for smoke runs."""
    return os.environ.get(ENV, "").strip() not in ("", "0")


def _renamed(name: str) -> str:
    return name if name.endswith("-smoke") else f"{name}-smoke"


def distill(profile: Any) -> Any:
    """A distillation :class:`~gkl.experiments.distill.profiles.Profile`, shrunk when smoke runs are on."""
    if not enabled():
        return profile
    return profile.replace(name=_renamed(profile.name), seeds=tuple(profile.seeds[:_SEEDS]),
                           train={**dict(profile.train), "epochs": 1},
                           teacher_train={**dict(profile.teacher_train), "epochs": 1})


def adversarial(profile: Any) -> Any:
    """An adversarial-training :class:`~gkl.experiments.adversarial.profiles.Profile`, shrunk when smoke
    runs are on."""
    if not enabled():
        return profile
    aa = profile.autoattack_subset
    return profile.replace(name=_renamed(profile.name), seeds=tuple(profile.seeds[:_SEEDS]), epochs=1, eval_every=1,
                           test_subset=min(profile.test_subset or _AT_TEST_POINTS, _AT_TEST_POINTS),
                           autoattack_subset=min(aa or _AT_AA_POINTS, _AT_AA_POINTS))
