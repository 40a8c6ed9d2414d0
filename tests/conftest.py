"""Shared test settings and fixtures.

Fixtures: ``digits_data`` (the digits data set, loaded once per session: ``(train, test, info)``),
``step_context`` (a factory of :class:`gkl.training.StepContext` for calling an objective's hooks
outside the engine) and ``digits_teacher`` (an MLP teacher trained on digits, once per session).

Shared by the distillation tests (``from tests.conftest import ...``): ``DIGITS_TRAIN``, ``MLP_T`` and
``MLP_S`` (a 2-epoch digits recipe, the teacher's and the student's MLP arguments), and
``fake_histories`` / ``FakeRun`` (made-up per-epoch histories of two methods and two seeds, and the
run-result shape the summaries read), ``run_cli`` (``python -m gkl ...`` in-process: exit code, stdout,
stderr).

Hypothesis: the ``ci`` profile (chosen when the environment variable ``CI`` is set, as ``.ci/run``
does) is derandomised and keeps no example database, so every CI run draws the same examples; local
runs use the ``dev`` profile, random with the usual on-disk database so that a found failure is
replayed first. ``HYPOTHESIS_PROFILE`` overrides the choice.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session")
def digits_data():
    """scikit-learn's digits as ``(train, test, info)``, loaded once; take ``.subset(n)`` of it."""
    from gkl.data import get_dataset

    return get_dataset("digits")


@pytest.fixture
def step_context():
    """``make(module, step=0, steps_per_epoch=1, epochs=10, epoch=None)``: the context the engine would
    pass at global ``step`` (``epoch`` counts from 1; by default the epoch that step falls in)."""
    import torch

    from gkl.training import StepContext, TrainConfig

    def make(module, step: int = 0, steps_per_epoch: int = 1, epochs: int = 10, epoch: int | None = None):
        epoch = 1 + step // steps_per_epoch if epoch is None else epoch
        return StepContext(torch.device("cpu"), module, TrainConfig(), epoch=epoch, epochs=epochs, step=step,
                           steps_per_epoch=steps_per_epoch)

    return make


DIGITS_TRAIN = dict(epochs=2, batch_size=64, optimizer="adam", lr=1e-2, weight_decay=0.0, seed=0)
MLP_T = {"hidden": 32, "in_features": 64}
MLP_S = {"hidden": 8, "in_features": 64}


@pytest.fixture(scope="session")
def digits_teacher():
    """An MLP teacher (``MLP_T``) trained on digits with ``DIGITS_TRAIN``, once per session."""
    from gkl.methods.distill.train import train_student

    return train_student("digits", "mnist1d_mlp", MLP_T, DIGITS_TRAIN).model


def fake_histories():
    """Per-epoch histories of ``none`` and ``kd``, two seeds each (``kd`` ahead by 5 points)."""
    def run(offset):
        return [{"epoch": e, "test_acc": 0.5 + 0.1 * e + offset, "train_loss": 2.0 / e, "train_ce": 1.0 / e,
                 "train_kd": 1.0 / e} for e in (1, 2, 3)]
    return {"none": [run(0.0), run(0.01)], "kd": [run(0.05), run(0.06)]}


class FakeRun:
    """A run result as the summaries read it: only its ``history``."""

    def __init__(self, h):
        self.history = h


def run_cli(args, capsys):
    """``python -m gkl *args`` in this process: ``(exit code, stdout, stderr)``."""
    from gkl.cli import main

    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err
