"""Property-based tests (hypothesis) over shapes, logit scales and loss parameters."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gkl
from tests import reference as ref

shapes = st.tuples(st.integers(1, 6), st.integers(2, 40))
scales = st.sampled_from([1e-3, 0.1, 1.0, 10.0, 100.0])
gammas = st.floats(0.0, 1.0)
temps = st.floats(0.1, 10.0)
seeds = st.integers(0, 2**31 - 1)
SETTINGS = settings(max_examples=60, deadline=None)


def draw_logits(shape, scale, seed):
    g = torch.Generator().manual_seed(seed)
    s = (scale * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_()
    t = (scale * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_()
    return s, t


@SETTINGS
@given(shapes, scales, gammas, temps, temps, seeds, st.booleans())
def test_gkl_equals_pairwise_reference(shape, scale, gamma, T, T2, seed, use_prior):
    s, t = draw_logits(shape, scale, seed)
    B, C = shape
    y = torch.randint(0, C, (B,), generator=torch.Generator().manual_seed(seed))
    prior = ref.class_prior(torch.randn(3 * C, C, dtype=torch.float64), torch.arange(3 * C) % C, C) if use_prior else None
    out = gkl.gkl(s, t, y if use_prior else None, prior, alpha=1.5, beta=3.0, gamma=gamma, temperature=T, weight_temperature=T2)
    want = ref.gkl(s, t, y, prior, 1.5, 3.0, gamma, T, T2)
    torch.testing.assert_close(out, want, rtol=1e-9, atol=1e-9)
    g_out = torch.autograd.grad(out, (s, t))
    g_want = torch.autograd.grad(want, (s, t))
    for a, b in zip(g_out, g_want):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-9)


@SETTINGS
@given(shapes, scales, temps, seeds)
def test_theorem_holds_everywhere(shape, scale, T, seed):
    s, t = draw_logits(shape, scale, seed)
    for a, b in zip(torch.autograd.grad(gkl.kl_div(s, t, T), (s, t)), torch.autograd.grad(gkl.dkl(s, t, T), (s, t))):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


@SETTINGS
@given(shapes, scales, gammas, temps, seeds, st.floats(-50, 50))
def test_invariant_to_shifting_a_row(shape, scale, gamma, T, seed, shift):
    """Softmax and logit differences ignore a per-row constant: so must every loss."""
    s, t = draw_logits(shape, scale, seed)
    s, t = s.detach(), t.detach()
    for fn in (gkl.kl_div, gkl.dkl, lambda a, b, T: gkl.gkl(a, b, gamma=gamma, temperature=T)):
        torch.testing.assert_close(fn(s + shift, t, T), fn(s, t, T), rtol=1e-8, atol=1e-8)
        torch.testing.assert_close(fn(s, t - shift, T), fn(s, t, T), rtol=1e-8, atol=1e-8)


@SETTINGS
@given(shapes, scales, gammas, temps, seeds)
def test_terms_are_nonnegative_and_vanish_at_the_teacher(shape, scale, gamma, T, seed):
    s, t = draw_logits(shape, scale, seed)
    parts = gkl.gkl_parts(s, t, gamma=gamma, temperature=T)
    assert parts.wmse.item() >= 0 and parts.ce.item() >= 0
    assert gkl.kl_div(s, t, T).item() >= -1e-12
    same = gkl.gkl_parts(t.detach(), t.detach(), gamma=gamma, temperature=T)
    assert abs(same.wmse.item()) < 1e-12
    assert abs(gkl.kl_div(t.detach(), t.detach(), T).item()) < 1e-12
