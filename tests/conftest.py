"""Shared test settings and fixtures.

Fixtures: ``digits_data`` (the digits data set, loaded once per session: ``(train, test, info)``)
and ``step_context`` (a factory of :class:`gkl.training.StepContext` for calling an objective's hooks
outside the engine).

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
