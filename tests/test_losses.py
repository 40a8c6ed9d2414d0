"""The losses against the independent pairwise reference (float64, 1e-10), the theorem, the asymmetry,
numerics, structure (no B×C×C tensor) and every bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

import gkl
import gkl.bench
from tests import reference as ref

TOL = dict(rtol=1e-10, atol=1e-10)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def logits(B, C, scale=3.0, seed=0, dtype=torch.float64, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    s = (scale * torch.randn(B, C, generator=g, dtype=torch.float64)).to(device, dtype).requires_grad_()
    t = (scale * torch.randn(B, C, generator=g, dtype=torch.float64)).to(device, dtype).requires_grad_()
    return s, t


def grads(loss, *xs, retain=False):
    return torch.autograd.grad(loss, xs, allow_unused=True, retain_graph=retain)


def random_prior(C, seed=1):
    g = torch.Generator().manual_seed(seed)
    p = torch.rand(C, C, generator=g, dtype=torch.float64) ** 3  # uneven rows, some entries tiny
    return p / p.sum(dim=1, keepdim=True)


# --------------------------------------------------------------------------- values and gradients


@pytest.mark.parametrize("C", [2, 3, 10, 100, 1000])
@pytest.mark.parametrize("T", [0.5, 1.0, 4.0])
def test_kl_div_matches_reference(C, T):
    s, t = logits(5, C)
    out, want = gkl.kl_div(s, t, T), ref.kl(s, t, T)
    torch.testing.assert_close(out, want, **TOL)
    for a, b in zip(grads(out, s, t), grads(want, s, t)):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("C", [2, 3, 10, 100, 1000])
@pytest.mark.parametrize("T", [0.5, 1.0, 4.0])
def test_dkl_matches_reference(C, T):
    s, t = logits(4, C, seed=2)
    wmse, ce = ref.dkl_terms(s, t, T)
    parts = gkl.dkl_parts(s, t, T)
    torch.testing.assert_close(parts.wmse, wmse, **TOL)
    torch.testing.assert_close(parts.ce, ce, **TOL)
    out, want = gkl.dkl(s, t, T, alpha=0.7, beta=1.9), 1.9 * wmse + 0.7 * ce
    torch.testing.assert_close(out, want, **TOL)
    for a, b in zip(grads(out, s, t), grads(want, s, t)):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("C", [2, 3, 10, 100, 1000])
@pytest.mark.parametrize("gamma", [0.0, 0.05, 0.5, 1.0])
@pytest.mark.parametrize("use_prior", [False, True])
def test_gkl_matches_reference(C, gamma, use_prior):
    B = 4 if C == 1000 else 6
    s, t = logits(B, C, seed=C)
    targets = torch.arange(B) % C
    prior = random_prior(C) if use_prior else None
    kw = dict(alpha=1.3, beta=4.0, gamma=gamma, temperature=4.0, weight_temperature=2.0)
    out = gkl.gkl(s, t, targets if use_prior else None, prior, **kw)
    want = ref.gkl(s, t, targets, prior, 1.3, 4.0, gamma, 4.0, 2.0)
    torch.testing.assert_close(out, want, **TOL)
    for a, b in zip(grads(out, s, t), grads(want, s, t)):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("T,T2", [(1.0, 1.0), (4.0, 4.0), (0.5, 3.0)])
def test_gkl_parts_match_reference_terms(T, T2):
    s, t = logits(7, 13, seed=3)
    parts = gkl.gkl_parts(s, t, gamma=0.3, temperature=T, weight_temperature=T2)
    wmse, ce = ref.gkl_terms(s, t, gamma=0.3, T=T, T2=T2)
    torch.testing.assert_close(parts.wmse, wmse, **TOL)
    torch.testing.assert_close(parts.ce, ce, **TOL)
    torch.testing.assert_close(parts.total(2.0, 5.0), gkl.gkl(s, t, alpha=2.0, beta=5.0, gamma=0.3, temperature=T, weight_temperature=T2), **TOL)
    # each part's own gradient, through the fused backward
    for term, want in ((parts.wmse, wmse), (parts.ce, ce)):
        for a, b in zip(grads(term, s, t, retain=True), grads(want, s, t, retain=True)):
            torch.testing.assert_close(a if a is not None else torch.zeros_like(s), b if b is not None else torch.zeros_like(s), **TOL)


def test_fused_backward_passes_gradcheck_on_the_student_side():
    # Finite differences see through stop-gradients, so only the student side (whose weights and
    # soft labels do not depend on it) can be checked this way; the teacher side is covered above.
    s, t = logits(3, 5, seed=4)
    t = t.detach()
    prior, y = random_prior(5), torch.tensor([0, 4, 2])
    assert torch.autograd.gradcheck(lambda a: gkl.gkl(a, t, gamma=0.4, alpha=0.5, beta=2.0, temperature=2.0), (s,))
    assert torch.autograd.gradcheck(lambda a: gkl.gkl(a, t, y, prior, gamma=0.7), (s,))
    assert torch.autograd.gradcheck(lambda a: gkl.gkl_parts(a, t, gamma=0.2).wmse, (s,))


def test_higher_order_gradients_are_refused_not_silently_zero():
    s, t = logits(3, 5)
    (g,) = torch.autograd.grad(gkl.gkl(s, t, gamma=0.5), s, create_graph=False)
    assert g.abs().max() > 0
    with pytest.raises(RuntimeError, match="first-order only"):
        torch.autograd.grad(gkl.gkl(s, t, gamma=0.5), s, create_graph=True)
    # the pairwise form supports them
    (g2,) = torch.autograd.grad(gkl.bench.pairwise_gkl(s, t, gamma=0.5), s, create_graph=True)
    assert g2.requires_grad


def test_ikl_is_gkl_with_gamma_one():
    s, t = logits(5, 7)
    y, prior = torch.tensor([0, 1, 2, 3, 6]), random_prior(7)
    torch.testing.assert_close(gkl.ikl(s, t, y, prior, 2.0, 3.0, 4.0), gkl.gkl(s, t, y, prior, 2.0, 3.0, 1.0, 4.0), **TOL)


def test_prior_weights_ignore_targets_without_prior():
    s, t = logits(4, 6)
    y = torch.tensor([1, 2, 3, 4])
    torch.testing.assert_close(gkl.gkl(s, t, y, None, gamma=0.5), gkl.gkl(s, t, gamma=0.5), **TOL)


# --------------------------------------------------------------------------- the class prior, cached per epoch


def _prior_calls(s, t, y, prior, calls=3, **kw):
    """gkl called `calls` times with the same prior tensor, as in an epoch: (loss, grads) of each call."""
    out = []
    for _ in range(calls):
        loss = gkl.gkl(s, t, y, prior, **kw)
        out.append((loss, grads(loss, *(x for x in (s, t) if x.requires_grad))))
    return out


@pytest.mark.parametrize("C", [3, 10, 100])
@pytest.mark.parametrize("gamma", [0.0, 0.05, 0.5, 1.0])
@pytest.mark.parametrize("teacher_grad", [False, True], ids=["kd", "at"])
def test_repeated_prior_matches_reference_every_call(C, gamma, teacher_grad):
    """The first call checks and powers the rows it uses, later ones gather from the prior raised to γ
    once: every call matches the float64 pairwise reference, values and gradients."""
    s, t = logits(6, C, seed=C + 1)
    t = t.detach().requires_grad_(teacher_grad)
    y = torch.tensor([0, 1, 2, 1, 0, 2]) % C
    prior = random_prior(C)
    kw = dict(alpha=1.3, beta=4.0, gamma=gamma, temperature=4.0)
    want = ref.gkl(s, t, y, prior, 1.3, 4.0, gamma, 4.0)
    want_g = grads(want, *((s, t) if teacher_grad else (s,)))
    for out, g in _prior_calls(s, t, y, prior, **kw):
        torch.testing.assert_close(out, want, **TOL)
        assert len(g) == len(want_g)
        for a, b in zip(g, want_g):
            torch.testing.assert_close(a, b, **TOL)


def test_repeated_prior_parts_match_reference():
    s, t = logits(5, 8, seed=5)
    y, prior = torch.tensor([0, 7, 3, 3, 1]), random_prior(8)
    want = ref.gkl_terms(s, t, y, prior, gamma=0.2, T=4.0)
    for _ in range(3):
        parts = gkl.gkl_parts(s, t, y, prior, gamma=0.2, temperature=4.0)
        torch.testing.assert_close(parts.wmse, want[0], **TOL)
        torch.testing.assert_close(parts.ce, want[1], **TOL)
        for a, b in zip(grads(parts.wmse, s, t, retain=True), grads(want[0], s, t, retain=True)):
            torch.testing.assert_close(a, b, **TOL)


def test_prior_changed_in_place_is_seen():
    s, t = logits(4, 6, seed=6)
    y, prior = torch.tensor([0, 1, 2, 5]), random_prior(6)
    _prior_calls(s, t, y, prior, gamma=0.3)  # cached by now
    with torch.no_grad():
        prior.copy_(random_prior(6, seed=9))  # in place: the version counter moves
    for out, _ in _prior_calls(s, t, y, prior, gamma=0.3):
        torch.testing.assert_close(out, ref.gkl(s, t, y, prior, gamma=0.3), **TOL)


def test_one_prior_several_gammas_and_dtypes():
    """Adversarial training calls the same prior at γ = 1 (attack) and the training γ, in turn."""
    s, t = logits(4, 6, seed=7)
    y, prior = torch.tensor([0, 1, 2, 5]), random_prior(6)
    for _ in range(3):
        for gamma in (1.0, 0.4):
            torch.testing.assert_close(gkl.gkl(s, t, y, prior, gamma=gamma), ref.gkl(s, t, y, prior, gamma=gamma), **TOL)
        out32 = gkl.gkl(s.float(), t.float(), y, prior, gamma=0.4)
        assert out32.dtype == torch.float32
        torch.testing.assert_close(out32.double(), ref.gkl(s, t, y, prior, gamma=0.4), rtol=1e-5, atol=1e-5)


class _Ops(TorchDispatchMode):
    """Records every op and the sizes of the tensors it reads or writes."""

    def __init__(self):
        super().__init__()
        self.ops, self.sizes = [], []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.ops.append(str(func))
        for x in (*args, *(out if isinstance(out, (tuple, list)) else (out,))):
            if isinstance(x, torch.Tensor):
                self.sizes.append(x.numel())
        return out


@pytest.mark.parametrize("teacher_grad", [False, True], ids=["kd", "at"])
def test_prior_is_checked_and_powered_once_not_every_batch(teacher_grad):
    """After the first calls with one prior tensor, a batch neither raises the prior to γ nor scans
    it: no pow, no op on a C×C tensor other than the gather of the batch's rows, and no check of the
    targets' range beyond the gathers' own on the CPU."""
    B, C = 8, 64
    s, t = logits(B, C, dtype=torch.float32)
    t = t.detach().requires_grad_(teacher_grad)
    y, prior = torch.arange(B) % C, random_prior(C).float()
    _prior_calls(s, t, y, prior, calls=2, gamma=0.2, temperature=4.0)
    with _Ops() as mode:
        gkl.gkl(s, t, y, prior, gamma=0.2, temperature=4.0).backward()
    assert not any("pow" in op or "aminmax" in op or "isfinite" in op for op in mode.ops), mode.ops
    assert sum(op.startswith("aten.index_select") for op in mode.ops) == 2  # the batch's rows and their sums
    assert sum(n == C * C for n in mode.sizes) == 1  # the powered prior, read once by index_select


def test_bad_entries_in_rows_no_batch_uses_are_allowed():
    """Only the rows a batch uses must be valid (as before the prior was cached)."""
    s, t = logits(4, 5, seed=8)
    y = torch.tensor([0, 1, 2, 3])
    prior = random_prior(5).index_fill(0, torch.tensor([4]), float("nan"))
    for out, _ in _prior_calls(s, t, y, prior, gamma=0.5):
        torch.testing.assert_close(out, ref.gkl(s, t, y, prior, gamma=0.5), **TOL)
    for _ in range(3):  # ...and a batch that uses the bad row is still refused
        with pytest.raises(ValueError, match="NaN"):
            gkl.gkl(s, t, torch.tensor([0, 1, 2, 4]), prior, gamma=0.5)


@pytest.mark.parametrize("calls", [1, 3])
def test_bad_targets_refused_on_first_and_cached_calls(calls):
    prior = random_prior(5)
    for _ in range(calls - 1):
        gkl.gkl(S.double(), T_.double(), Y, prior)
    for bad in ([0, 1, 2, 5], [0, -1, 2, 3]):
        with pytest.raises(ValueError, match=r"targets must lie in \[0, 4\]"):
            gkl.gkl(S.double(), T_.double(), torch.tensor(bad), prior)


def test_zero_prior_rows():
    """A row of zeros weighs nothing; a batch that only uses such rows has a zero wMSE, not 0/0."""
    s, t = logits(4, 5, seed=9)
    prior = random_prior(5).index_fill(0, torch.tensor([4]), 0.0)
    y = torch.tensor([0, 4, 2, 4])
    for out, g in _prior_calls(s, t, y, prior, gamma=0.5):
        want = ref.gkl(s, t, y, prior, gamma=0.5)
        torch.testing.assert_close(out, want, **TOL)
        for a, b in zip(g, grads(want, s, t)):
            torch.testing.assert_close(a, b, **TOL)
    only = torch.full((4,), 4)
    for _ in range(3):
        parts = gkl.gkl_parts(s, t, only, prior, gamma=0.5)
        assert parts.wmse.item() == 0.0
        assert all(torch.isfinite(g).all() for g in grads(parts.total(1.0, 1.0), s, t))


@pytest.mark.parametrize("dtype", [torch.int32, torch.int16, torch.uint8])
def test_integer_target_dtypes(dtype):
    s, t = logits(4, 6, seed=10)
    y, prior = torch.tensor([0, 5, 2, 2]), random_prior(6)
    want = gkl.gkl(s, t, y, prior, gamma=0.5)
    for _ in range(3):
        torch.testing.assert_close(gkl.gkl(s, t, y.to(dtype), prior, gamma=0.5), want, **TOL)


def test_prior_cache_forgets_freed_priors():
    import gc

    from gkl.core import gkl_backward as cache

    s, t = logits(4, 6, seed=11)
    y = torch.tensor([0, 5, 2, 2])
    prior = random_prior(6)
    _prior_calls(s, t, y, prior)
    key = id(prior)
    assert key in cache._PRIOR_CACHE
    del prior
    gc.collect()
    assert key not in cache._PRIOR_CACHE
    # fresh copies every call (as from prior.to(other_device) each step) are not kept either
    base = random_prior(6)
    for _ in range(2 * cache._PRIOR_CACHE_SIZE):
        gkl.gkl(s, t, y, base.clone())
    assert len(cache._PRIOR_CACHE) <= cache._PRIOR_CACHE_SIZE


def test_inference_mode_prior():
    s, t = logits(4, 6, seed=12)
    y = torch.tensor([0, 5, 2, 2])
    with torch.inference_mode():
        prior = random_prior(6)  # no version counter: not cached, still checked and correct
    for out, _ in _prior_calls(s, t, y, prior, gamma=0.5):
        torch.testing.assert_close(out, ref.gkl(s, t, y, prior, gamma=0.5), **TOL)


def test_class_prior_current_across_a_roll():
    """The way training uses it: prior.current for an epoch, then prior.roll() replaces it."""
    C = 7
    prior = gkl.ClassPrior(C, temperature=4.0)
    s, t = logits(6, C, seed=13)
    y = torch.tensor([0, 1, 2, 3, 4, 6])
    for _epoch in range(3):
        for _ in range(3):
            prior.update(t.detach(), y)
            out = gkl.gkl(s, t, y, prior.current, gamma=0.2, temperature=4.0)
            torch.testing.assert_close(out, ref.gkl(s, t, y, prior.current.double(), gamma=0.2, T=4.0), rtol=1e-6, atol=1e-6)
        prior.roll()


# --------------------------------------------------------------------------- theorem and asymmetry


@pytest.mark.parametrize("T", [0.5, 1.0, 4.0])
@pytest.mark.parametrize("C", [2, 5, 100])
def test_theorem_dkl_and_kl_have_equal_gradients(C, T):
    s, t = logits(6, C, seed=7)
    for a, b in zip(grads(gkl.kl_div(s, t, T), s, t), grads(gkl.dkl(s, t, T), s, t)):
        torch.testing.assert_close(a, b, **TOL)


def test_theorem_values_differ_by_wmse_plus_teacher_entropy():
    s, t = logits(6, 9, seed=8)
    T = 2.0
    p = F.softmax(t / T, 1)
    entropy = -(p * F.log_softmax(t / T, 1)).sum(1).mean()
    diff = gkl.dkl(s, t, T) - gkl.kl_div(s, t, T)
    torch.testing.assert_close(diff, gkl.dkl_parts(s, t, T).wmse + entropy, **TOL)
    assert diff.item() > 1e-3  # the values really differ


def test_dkl_asymmetry_each_term_moves_one_side():
    s, t = logits(4, 6, seed=9)
    parts = gkl.dkl_parts(s, t, 2.0)
    gs, gt = grads(parts.wmse, s, t, retain=True)
    assert gs is None or torch.count_nonzero(gs) == 0  # wMSE never reaches the student...
    assert gt.abs().max() > 1e-3  # ...only the teacher
    gs, gt = grads(parts.ce, s, t)
    assert gt is None or torch.count_nonzero(gt) == 0  # CE never reaches the teacher
    assert gs.abs().max() > 1e-3


def test_gkl_breaks_the_asymmetry():
    s, t = logits(4, 6, seed=10)
    parts = gkl.gkl_parts(s, t, gamma=0.5)
    gs, gt = grads(parts.wmse, s, t, retain=True)
    assert gs.abs().max() > 1e-3 and gt.abs().max() > 1e-3  # both sides move
    torch.testing.assert_close(gs, -gt, **TOL)  # d = o_m - o_n: equal and opposite
    gs, gt = grads(parts.ce, s, t)
    assert torch.count_nonzero(gt) == 0 and gs.abs().max() > 1e-3


def test_kd_with_frozen_teacher_wmse_of_dkl_is_dead():
    s, t = logits(4, 6, seed=11)
    t = t.detach()
    loss = gkl.dkl_parts(s, t, 4.0).wmse
    assert not loss.requires_grad  # nothing to train: the wMSE term of KL is dead in KD


# --------------------------------------------------------------------------- structure and numerics


class _LargestTensor(TorchDispatchMode):
    """Records the number of elements of the largest tensor any op produces."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for o in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(o, torch.Tensor):
                self.largest = max(self.largest, o.numel())
        return out


@pytest.mark.parametrize(
    "fn",
    [
        lambda s, t, y, p: gkl.gkl(s, t, gamma=0.5, temperature=4.0, weight_temperature=2.0),
        lambda s, t, y, p: gkl.gkl(s, t, y, p, gamma=0.2),
        lambda s, t, y, p: gkl.dkl(s, t, 2.0),
        lambda s, t, y, p: gkl.kl_div(s, t, 2.0),
    ],
    ids=["gkl", "gkl-prior", "dkl", "kl_div"],
)
def test_no_tensor_grows_with_c_squared(fn):
    B, C = 8, 300
    s, t = logits(B, C, dtype=torch.float32)
    y, p = torch.arange(B) % C, random_prior(C).float()
    with _LargestTensor() as mode:
        fn(s, t, y, p).backward()
    assert mode.largest <= max(2 * B * C, C * C)  # the (C, C) prior itself; never B·C·C = 720,000


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_are_computed_in_float32(dtype):
    s, t = logits(8, 20, dtype=torch.float32)
    s16, t16 = s.detach().to(dtype).requires_grad_(), t.detach().to(dtype).requires_grad_()
    for fn in (gkl.kl_div, gkl.dkl, lambda a, b: gkl.gkl(a, b, gamma=0.3)):
        out = fn(s16, t16)
        assert out.dtype == torch.float32
        want = fn(s16.detach().float(), t16.detach().float())
        torch.testing.assert_close(out, want, rtol=1e-6, atol=1e-6)
        g = grads(out, s16, t16)
        assert g[0].dtype == dtype and torch.isfinite(g[0].float()).all()


def test_autocast_cpu():
    lin = torch.nn.Linear(6, 10)
    x = torch.randn(4, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        s, t = lin(x), lin(x + 0.1)
        loss = gkl.gkl(s, t, torch.tensor([0, 1, 2, 3]), torch.full((10, 10), 0.1), gamma=0.5) + gkl.kl_div(s, t)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(lin.weight.grad).all()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_huge_logits_stay_finite(device, dtype):
    s, t = logits(4, 50, scale=1e4, dtype=dtype, device=device)
    for fn in (gkl.kl_div, gkl.dkl, lambda a, b: gkl.gkl(a, b, gamma=0.5), lambda a, b: gkl.gkl(a, b, gamma=0.0, temperature=0.1)):
        out = fn(s, t)
        assert torch.isfinite(out), out
        assert all(torch.isfinite(g).all() for g in grads(out, s, t) if g is not None)


@pytest.mark.parametrize("side", ["teacher", "student"])
@pytest.mark.parametrize("gamma", [0.0, 0.5])
def test_centred_form_has_no_cancellation_on_large_offsets(side, gamma):
    """A 1e4 offset on ONE side only (so d = o_m − o_n carries it; an offset on both sides would
    cancel in d and test nothing): the float32 closed form agrees with the float64 pairwise reference,
    values and gradients. An uncentred 2(Σu)(Σu d²) − 2(Σu d)² loses ~20 % here in float32."""
    s, t = (x.detach() for x in logits(4, 30, scale=1.0, seed=12))
    if side == "teacher":
        t = t + 1e4
    else:
        s = s + 1e4
    s64, t64 = s.clone().requires_grad_(), t.clone().requires_grad_()
    want = ref.gkl(s64, t64, gamma=gamma, T2=1e4)  # T2 large: weights near uniform, every pair counts
    s32, t32 = s.float().requires_grad_(), t.float().requires_grad_()
    out = gkl.gkl(s32, t32, gamma=gamma, weight_temperature=1e4)
    assert abs(out.item() - want.item()) < 1e-3 * abs(want.item())
    for g32, g64 in zip(grads(out, s32, t32), grads(want, s64, t64)):
        torch.testing.assert_close(g32.double(), g64, rtol=1e-3, atol=1e-3 * g64.abs().max().item())


@pytest.mark.parametrize("device", DEVICES)
def test_devices(device):
    s, t = logits(3, 4, device=device, dtype=torch.float32)
    y = torch.tensor([0, 1, 3], device=device)
    prior = torch.full((4, 4), 0.25, device=device)
    assert gkl.gkl(s, t, y, prior).device.type == device


# --------------------------------------------------------------------------- module wrappers


def test_module_wrappers_equal_functions():
    s, t = logits(5, 7)
    y, prior = torch.tensor([0, 1, 2, 3, 4]), random_prior(7)
    torch.testing.assert_close(gkl.KLDivLoss(2.0)(s, t), gkl.kl_div(s, t, 2.0), **TOL)
    torch.testing.assert_close(gkl.DKLLoss(2.0, 0.5, 3.0)(s, t), gkl.dkl(s, t, 2.0, 0.5, 3.0), **TOL)
    m = gkl.GKLLoss(alpha=1.0, beta=16.0, gamma=0.05, temperature=4.0, weight_temperature=4.0)
    torch.testing.assert_close(m(s, t, y, prior), gkl.gkl(s, t, y, prior, 1.0, 16.0, 0.05, 4.0, 4.0), **TOL)
    torch.testing.assert_close(gkl.IKLLoss(2.0, 3.0)(s, t, y, prior), gkl.ikl(s, t, y, prior, 2.0, 3.0), **TOL)
    assert "gamma=0.05" in repr(m)
    with pytest.raises(ValueError, match="gamma"):
        gkl.GKLLoss(gamma=-1.0)


# --------------------------------------------------------------------------- bad input

S, T_ = torch.randn(4, 5), torch.randn(4, 5)
Y, P = torch.tensor([0, 1, 2, 4]), torch.full((5, 5), 0.2)

BAD = [
    ("mismatched shapes", lambda: gkl.gkl(torch.randn(4, 5), torch.randn(4, 6)), ValueError, "same shape"),
    ("batch sizes", lambda: gkl.kl_div(torch.randn(3, 5), torch.randn(4, 5)), ValueError, "same shape"),
    ("1-D logits", lambda: gkl.dkl(torch.randn(5), torch.randn(5)), ValueError, "2-D"),
    ("3-D logits", lambda: gkl.gkl(torch.randn(2, 3, 4), torch.randn(2, 3, 4)), ValueError, "2-D"),
    ("one class", lambda: gkl.gkl(torch.randn(4, 1), torch.randn(4, 1)), ValueError, "at least 2 classes"),
    ("empty batch", lambda: gkl.gkl(torch.randn(0, 3), torch.randn(0, 3)), ValueError, "empty batch"),
    ("integer logits", lambda: gkl.gkl(torch.ones(4, 5, dtype=torch.long), T_), TypeError, "floating-point"),
    ("not a tensor", lambda: gkl.kl_div([[1.0, 2.0]], T_), TypeError, "torch.Tensor"),
    ("temperature 0", lambda: gkl.kl_div(S, T_, 0.0), ValueError, "temperature must be > 0"),
    ("temperature < 0", lambda: gkl.gkl(S, T_, temperature=-1.0), ValueError, "temperature"),
    ("temperature nan", lambda: gkl.dkl(S, T_, float("nan")), ValueError, "finite"),
    ("temperature str", lambda: gkl.dkl(S, T_, "4"), TypeError, "real number"),
    ("weight temperature 0", lambda: gkl.gkl(S, T_, weight_temperature=0.0), ValueError, "weight_temperature"),
    ("gamma < 0", lambda: gkl.gkl(S, T_, gamma=-0.1), ValueError, "gamma must be >= 0"),
    ("alpha < 0", lambda: gkl.gkl(S, T_, alpha=-1.0), ValueError, "alpha"),
    ("beta inf", lambda: gkl.dkl(S, T_, beta=math.inf), ValueError, "beta"),
    ("prior without targets", lambda: gkl.gkl(S, T_, class_prior=P), ValueError, "without targets"),
    ("targets out of range", lambda: gkl.gkl(S, T_, torch.tensor([0, 1, 2, 5]), P), ValueError, r"\[0, 4\]"),
    ("negative targets", lambda: gkl.gkl(S, T_, torch.tensor([0, -1, 2, 3]), P), ValueError, r"\[0, 4\]"),
    ("float targets", lambda: gkl.gkl(S, T_, Y.float(), P), TypeError, "integer"),
    ("bool targets", lambda: gkl.gkl(S, T_, Y.bool(), P), TypeError, "integer"),
    ("targets shape", lambda: gkl.gkl(S, T_, Y[:3], P), ValueError, r"shape \(4,\)"),
    ("targets 2-D", lambda: gkl.gkl(S, T_, Y[:, None], P), ValueError, r"shape \(4,\)"),
    ("prior shape", lambda: gkl.gkl(S, T_, Y, torch.full((4, 5), 0.2)), ValueError, r"shape \(5, 5\)"),
    ("prior negative", lambda: gkl.gkl(S, T_, Y, P - 0.3), ValueError, "non-negative"),
    ("prior nan", lambda: gkl.gkl(S, T_, Y, P.masked_fill(P > 0, float("nan"))), ValueError, "NaN"),
    ("prior nan in a used row", lambda: gkl.gkl(S, T_, Y, P.index_fill(0, torch.tensor([4]), float("nan"))), ValueError, "NaN"),
    ("prior inf", lambda: gkl.gkl(S, T_, Y, P.masked_fill(P > 0, float("inf"))), ValueError, "infinite"),
    ("prior integer", lambda: gkl.gkl(S, T_, Y, torch.ones(5, 5, dtype=torch.long)), TypeError, "floating-point"),
]


@pytest.mark.parametrize("call,exc,match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_gets_a_clear_error(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_non_finite_logits_checked_only_on_request():
    s = S.clone()
    s[0, 0] = float("nan")
    assert torch.isnan(gkl.gkl(s, T_))  # default: no device sync, NaN propagates visibly
    for fn in (gkl.kl_div, gkl.dkl, gkl.gkl):
        with pytest.raises(ValueError, match="NaN or infinite"):
            fn(s, T_, check_finite=True)
