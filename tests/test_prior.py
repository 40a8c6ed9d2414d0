"""ClassPrior on one process: the per-class mean soft label, state, and bad input."""

from __future__ import annotations

import pytest
import torch

import gkl
from tests import reference as ref


def batches(n=5, B=16, C=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(3 * torch.randn(B, C, generator=g), torch.randint(0, C - 1, (B,), generator=g)) for _ in range(n)]


def test_prior_is_the_per_class_mean_soft_label():
    C, T = 6, 4.0
    data = batches(C=C)  # class C-1 never appears
    prior = gkl.ClassPrior(C, temperature=T)
    for x, y in data:
        prior.update(x, y)
    got = prior.compute()
    want = ref.class_prior(torch.cat([x for x, _ in data]), torch.cat([y for _, y in data]), C, T)
    torch.testing.assert_close(got.double(), want, rtol=1e-6, atol=1e-7)
    assert got.dtype == torch.float32 and got.shape == (C, C)
    torch.testing.assert_close(got.sum(1), torch.ones(C))
    torch.testing.assert_close(got[C - 1], torch.full((C,), 1 / C))  # unseen class: uniform
    assert prior.num_samples == 5 * 16


def test_uniform_before_any_update_and_after_reset():
    prior = gkl.ClassPrior(4)
    torch.testing.assert_close(prior.compute(), torch.full((4, 4), 0.25))
    x, y = batches(1, C=4)[0]
    prior.update(x, y)
    assert not torch.allclose(prior.compute(), torch.full((4, 4), 0.25))
    prior.reset()
    torch.testing.assert_close(prior.compute(), torch.full((4, 4), 0.25))


def test_update_keeps_no_gradient():
    x = torch.randn(8, 5, requires_grad=True)
    prior = gkl.ClassPrior(5)
    prior.update(x * 2, torch.arange(8) % 5)
    assert not prior.compute().requires_grad


def test_prior_feeds_gkl():
    x, y = batches(1, C=6)[0]
    prior = gkl.ClassPrior(6)
    prior.update(x, y)
    loss = gkl.gkl(torch.randn(16, 6), x, y, prior.compute(), gamma=0.5)
    assert torch.isfinite(loss)


def test_state_dict_round_trip_resumes_exactly():
    data = batches(6)
    full = gkl.ClassPrior(6, 2.0)
    for x, y in data:
        full.update(x, y)
    first = gkl.ClassPrior(6, 2.0)
    for x, y in data[:3]:
        first.update(x, y)
    state = first.state_dict()
    resumed = gkl.ClassPrior(6, 1.0)
    resumed.load_state_dict(state)
    assert resumed.temperature == 2.0
    for x, y in data[3:]:
        resumed.update(x, y)
    torch.testing.assert_close(resumed.compute(), full.compute())


def test_state_dict_survives_torch_save(tmp_path):
    prior = gkl.ClassPrior(3)
    prior.update(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]))
    torch.save({"prior": prior.state_dict()}, tmp_path / "ck.pt")
    other = gkl.ClassPrior(3)
    other.load_state_dict(torch.load(tmp_path / "ck.pt", weights_only=True)["prior"])
    torch.testing.assert_close(other.compute(), prior.compute())


@pytest.mark.parametrize(
    "state,match",
    [
        ({"num_classes": 5, "sums": torch.zeros(5, 5), "counts": torch.zeros(5)}, "5 classes"),
        ({"sums": torch.zeros(6, 6)}, "not a ClassPrior state"),
        ({"num_classes": 6, "sums": torch.zeros(6, 5), "counts": torch.zeros(6)}, "'sums'"),
        ({"num_classes": 6, "sums": torch.zeros(6, 6), "counts": torch.zeros(5)}, "'counts'"),
        ({"num_classes": 6, "sums": -torch.ones(6, 6), "counts": torch.ones(6)}, "negative or non-finite"),
        ({"num_classes": 6, "sums": torch.full((6, 6), float("nan")), "counts": torch.ones(6)}, "non-finite"),
        ("garbage", "not a ClassPrior state"),
        ({"num_classes": 6, "sums": torch.zeros(6, 6), "counts": torch.zeros(6), "current": torch.zeros(5, 6)}, "'current'"),
        ({"num_classes": 6, "sums": torch.zeros(6, 6), "counts": torch.zeros(6), "current": -torch.ones(6, 6)}, "'current'"),
    ],
)
def test_corrupted_state_is_refused(state, match):
    with pytest.raises(ValueError, match=match):
        gkl.ClassPrior(6).load_state_dict(state)


def test_roll_is_the_epoch_ahead_prior_and_survives_a_checkpoint():
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(30, 4, generator=g, dtype=torch.float64), torch.arange(30) % 4
    prior = gkl.ClassPrior(4, temperature=2.0)
    torch.testing.assert_close(prior.current, torch.full((4, 4), 0.25))  # epoch 1: uniform
    prior.update(logits[:15], y[:15])
    prior.update(logits[15:], y[15:])
    rolled = prior.roll()
    want = ref.class_prior(logits, y, 4, T=2.0).float()
    torch.testing.assert_close(rolled, want)
    assert prior.current is rolled
    assert prior.num_samples == 0  # the next epoch collects afresh ...
    state = prior.state_dict()  # ... and a checkpoint taken now holds the next epoch's prior
    fresh = gkl.ClassPrior(4, temperature=2.0)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.current, prior.current) and fresh.num_samples == 0
    prior.update(logits[:4], y[:4])
    assert torch.equal(prior.current, rolled)  # updates never touch the prior in use
    old = {k: v for k, v in state.items() if k != "current"}  # a checkpoint from before `current`
    legacy = gkl.ClassPrior(4, temperature=2.0)
    legacy.load_state_dict(old)
    torch.testing.assert_close(legacy.current, torch.full((4, 4), 0.25))


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: gkl.ClassPrior(1), ValueError, ">= 2"),
        (lambda: gkl.ClassPrior(3.0), TypeError, "int"),
        (lambda: gkl.ClassPrior(3, temperature=0), ValueError, "temperature"),
        (lambda: gkl.ClassPrior(3).update(torch.randn(4, 5), torch.zeros(4, dtype=torch.long)), ValueError, "5 classes"),
        (lambda: gkl.ClassPrior(3).update(torch.randn(4, 3), torch.tensor([0, 1, 2, 3])), ValueError, r"\[0, 2\]"),
        (lambda: gkl.ClassPrior(3).update(torch.randn(4, 3), torch.zeros(4)), TypeError, "integer"),
        (lambda: gkl.ClassPrior(3).update(torch.randn(4, 3), torch.zeros(3, dtype=torch.long)), ValueError, "shape"),
        (lambda: gkl.ClassPrior(3).update(torch.ones(4, 3, dtype=torch.long), torch.zeros(4, dtype=torch.long)), TypeError, "floating"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
