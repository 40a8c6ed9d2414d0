"""The gradient claims of the handouts, checked numerically at T != 1 (float64, autograd).

Every row of the table "Formulas and what each term moves" on the losses page (book/losses.md) and
of the table "Which term moves which side" in the asymmetry chapter (book/theory/asymmetry.md) makes
a claim about which side a term moves and how the temperature enters. Each claim is checked here
against an independent closed form at T = 4 (and T2 = 2 for the weights, so the two temperatures
cannot be confused), with ``d = o_m - o_n`` on raw logits, as the notation page defines it:

* KL      d/do_n = (s_n - s_m) / T,  d/do_m = s_m * (d - d_bar) / T**2   (both sides move)
* KD      CE(o_n, y) + T**2 KL with the teacher frozen: only o_n moves, by T (s_n - s_m)
* DKL     wMSE = 1/(4 T**2) sum S(s_m s_m)(dm - S(dn))**2 moves only o_m; CE only o_n; the sum has
          KL's gradients on both sides (on raw logits without the 1/T**2 it would be T**2 = 16 times)
* IKL/GKL wMSE on raw logits, weights u**gamma (u = softmax(o_m / T2) or the prior row), normalised
          by the batch's total weight: moves both sides, student = -teacher; CE (at T) only o_n
* DKD     both parts move only o_n (teacher frozen), each times T**2
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import gkl
from gkl import toy
from gkl.core.dkd import dkd_parts

T = 4.0  # the CE / soft-label temperature of the handouts' claims
T2 = 2.0  # the weights' temperature, deliberately different from T
B, C = 5, 7
TOL = dict(rtol=1e-9, atol=1e-12)


def _logits(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    s = (3.0 * torch.randn(B, C, generator=g, dtype=torch.float64)).requires_grad_()
    t = (3.0 * torch.randn(B, C, generator=g, dtype=torch.float64)).requires_grad_()
    y = torch.randint(0, C, (B,), generator=g)
    return s, t, y


def _grads(loss, s, t):
    """(d loss / d o_n, d loss / d o_m); an argument the loss does not reach gives zeros."""
    gs, gt = torch.autograd.grad(loss, (s, t), allow_unused=True)
    return (torch.zeros_like(s) if gs is None else gs), (torch.zeros_like(t) if gt is None else gt)


def _centred(v, d):
    """v * (d - d_bar) * sum(v) with the v-weighted mean d_bar, row by row (the wMSE's gradient shape)."""
    vs = v.sum(1, keepdim=True)
    dbar = (v * d).sum(1, keepdim=True) / vs
    return v * (d - dbar) * vs


def _sm(o, temp):
    return torch.softmax(o.detach() / temp, 1)


def _zero(x):
    assert torch.count_nonzero(x) == 0, x


def _nonzero(x):
    assert x.abs().max() > 1e-6


# --- the losses page, row by row --------------------------------------------------------------


def test_kl_row_moves_both_sides_with_the_temperature_where_stated():
    s, t, _ = _logits()
    gs, gt = _grads(gkl.kl_div(s, t, T), s, t)
    sn, sm = _sm(s, T), _sm(t, T)
    d = (t - s).detach()  # raw logits
    torch.testing.assert_close(gs, (sn - sm) / T / B, **TOL)
    torch.testing.assert_close(gt, _centred(sm, d) / T**2 / B, **TOL)
    _nonzero(gs)
    _nonzero(gt)


def test_kd_row_moves_only_the_student_by_T_times_the_soft_label_gap():
    s, t, y = _logits()
    loss = F.cross_entropy(s, y) + T * T * gkl.kl_div(s, t.detach(), T)  # the frozen teacher
    gs, gt = _grads(loss, s, t)
    _zero(gt)
    onehot = F.one_hot(y, C).double()
    torch.testing.assert_close(gs, (torch.softmax(s.detach(), 1) - onehot) / B + T * (_sm(s, T) - _sm(t, T)) / B, **TOL)


def test_kd_distiller_applies_T_squared_to_kl():
    from gkl.methods.distill.kd import KD

    s, t, y = _logits()
    cfg = KD.Config(temperature=T, kd_weight=1.0)
    kd = KD.__new__(KD)  # only kd_terms is used: no student, no teacher network needed
    kd.config = cfg
    term = kd.kd_terms(s, t.detach(), y, epoch=100, training=True)["kd"]
    torch.testing.assert_close(term, T * T * gkl.kl_div(s, t, T), **TOL)


def test_dkl_row_terms_sides_and_temperature():
    s, t, _ = _logits()
    parts = gkl.dkl_parts(s, t, T)
    sm, sn = _sm(t, T), _sm(s, T)
    d = (t - s).detach()
    # the value as the page writes it: raw pairwise differences, divided by T**2, weights S(s_m s_m)
    dm = t[:, :, None] - t[:, None, :]
    dn = s[:, :, None] - s[:, None, :]
    w = sm[:, :, None] * sm[:, None, :]
    written = (w * (dm - dn) ** 2).sum((1, 2)) / (4 * T**2)
    torch.testing.assert_close(parts.wmse, written.mean(), **TOL)
    # wMSE -> o_m only
    ws, wt = _grads(parts.wmse, s, t)
    _zero(ws)
    torch.testing.assert_close(wt, _centred(sm, d) / T**2 / B, **TOL)
    # CE -> o_n only
    parts = gkl.dkl_parts(s, t, T)
    cs, ct = _grads(parts.ce, s, t)
    _zero(ct)
    torch.testing.assert_close(cs, (sn - sm) / T / B, **TOL)
    # together: KL's gradients on both sides, at the same T
    ds, dt = _grads(gkl.dkl(s, t, T), s, t)
    ks, kt = _grads(gkl.kl_div(s, t, T), s, t)
    torch.testing.assert_close(ds, ks, **TOL)
    torch.testing.assert_close(dt, kt, **TOL)


def test_dkl_on_raw_logits_without_the_temperature_factor_is_T_squared_times_kl():
    """What the old row said (Delta m on raw logits, no 1/T**2): its teacher gradient is T**2 = 16 x KL's."""
    s, t, _ = _logits()
    sm = _sm(t, T)
    dm = t[:, :, None] - t[:, None, :]
    dn = (s[:, :, None] - s[:, None, :]).detach()
    raw = 0.25 * ((sm[:, :, None] * sm[:, None, :]) * (dm - dn) ** 2).sum((1, 2)).mean()
    (g_raw,) = torch.autograd.grad(raw, t)
    _, kt = _grads(gkl.kl_div(s, t, T), s, t)
    torch.testing.assert_close(g_raw, T**2 * kt, **TOL)


@pytest.mark.parametrize("gamma", [1.0, 0.3])
@pytest.mark.parametrize("with_prior", [False, True])
def test_ikl_gkl_rows_wmse_both_sides_on_raw_logits_ce_student_only(gamma, with_prior):
    s, t, y = _logits(1)
    alpha, beta = 1.5, 4.0
    g = torch.Generator().manual_seed(3)
    prior = torch.rand(C, C, generator=g, dtype=torch.float64)
    prior = prior / prior.sum(1, keepdim=True)
    kw = dict(targets=y, class_prior=prior) if with_prior else {}
    u = prior[y] if with_prior else _sm(t, T2)  # T2 for the weights / the prior, never T
    v = u**gamma
    d = (t - s).detach()
    total_weight = (v.sum(1) ** 2).sum()  # sum_b sum_jk w_b[j,k], w = v v
    expect_teacher = beta * _centred(v, d) / total_weight  # raw logits: no T anywhere
    loss_fn = gkl.ikl if gamma == 1.0 else gkl.gkl
    extra = {} if gamma == 1.0 else dict(gamma=gamma)
    parts = gkl.gkl_parts(s, t, gamma=gamma, temperature=T, weight_temperature=T2, **kw)
    ws, wt = _grads(beta * parts.wmse, s, t)
    torch.testing.assert_close(wt, expect_teacher, **TOL)
    torch.testing.assert_close(ws, -expect_teacher, **TOL)  # the asymmetry broken: both sides
    _nonzero(ws)
    parts = gkl.gkl_parts(s, t, gamma=gamma, temperature=T, weight_temperature=T2, **kw)
    cs, ct = _grads(alpha * parts.ce, s, t)
    _zero(ct)
    torch.testing.assert_close(cs, alpha * (_sm(s, T) - _sm(t, T)) / T / B, **TOL)
    # the loss itself = beta * wMSE + alpha * CE
    ls, lt = _grads(loss_fn(s, t, alpha=alpha, beta=beta, temperature=T, weight_temperature=T2, **kw, **extra), s, t)
    torch.testing.assert_close(lt, expect_teacher, **TOL)
    torch.testing.assert_close(ls, -expect_teacher + alpha * (_sm(s, T) - _sm(t, T)) / T / B, **TOL)


def test_gkl_row_gamma_below_one_flattens_the_weights():
    _, t, _ = _logits(2)
    u = _sm(t, T2)
    spread = [float(((u**g).max(1).values / (u**g).min(1).values).max()) for g in (1.0, 0.5, 0.2, 0.0)]
    assert spread == sorted(spread, reverse=True) and spread[-1] == 1.0


def test_dkd_row_both_parts_move_only_the_student_times_T_squared():
    s, t, y = _logits()
    for i in (0, 1):  # TCKD, NCKD
        gs, gt = _grads(dkd_parts(s, t, y, temperature=T)[i], s, t)
        _zero(gt)
        _nonzero(gs)
    # independent float64 reference: b = [p_y, 1 - p_y], p_hat = softmax over the non-target classes
    sd = s.detach().clone().requires_grad_()
    keep = torch.ones(B, C, dtype=torch.bool).scatter_(1, y.view(-1, 1), False)
    pn, pm = torch.softmax(sd / T, 1), _sm(t, T)
    bn = torch.stack([pn.gather(1, y.view(-1, 1)).squeeze(1), 1 - pn.gather(1, y.view(-1, 1)).squeeze(1)], 1)
    bm = torch.stack([pm.gather(1, y.view(-1, 1)).squeeze(1), 1 - pm.gather(1, y.view(-1, 1)).squeeze(1)], 1)
    ref_t = T**2 * (bm * (bm.log() - bn.log())).sum(1).mean()
    ref_n = T**2 * gkl.kl_div(sd[keep].view(B, C - 1), t.detach()[keep].view(B, C - 1), T)
    (g_ref_t,) = torch.autograd.grad(ref_t, sd)
    (g_ref_n,) = torch.autograd.grad(ref_n, sd)
    tol = dict(rtol=1e-4, atol=1e-6)  # dkd_parts computes in float32
    for i, g_ref in ((0, g_ref_t), (1, g_ref_n)):
        (g_dkd,) = torch.autograd.grad(dkd_parts(s, t, y, temperature=T)[i], s)
        torch.testing.assert_close(g_dkd.double(), g_ref, **tol)


def test_kd_is_a_ce_of_weight_T_squared_plus_a_raw_wmse_of_weight_one():
    """The losses page: GKL with alpha = T**2, beta = 1, gamma = 1, T2 = T, no prior has T**2 KL's
    teacher gradient, and its student gradient adds minus that (the asymmetry broken)."""
    s, t, _ = _logits()
    gs, gt = _grads(gkl.gkl(s, t, alpha=T * T, beta=1.0, gamma=1.0, temperature=T, weight_temperature=T), s, t)
    ks, kt = _grads(T * T * gkl.kl_div(s, t, T), s, t)
    torch.testing.assert_close(gt, kt, **TOL)
    torch.testing.assert_close(gs, ks - kt, **TOL)


# --- the asymmetry chapter's table ------------------------------------------------------------


def test_asymmetry_table_at_T4():
    s, t, _ = _logits()
    g = toy.term_gradients(s.detach()[:1], t.detach()[:1], "dkl", temperature=T)
    sm, sn = _sm(t[:1], T), _sm(s[:1], T)
    d = (t - s).detach()[:1]  # raw logits
    dbar = (sm * d).sum(1, keepdim=True)
    torch.testing.assert_close(g["wmse_teacher"], sm * (d - dbar) / T**2, **TOL)  # s_m * (d - d_bar) / T^2
    _zero(g["wmse_student"])
    _zero(g["ce_teacher"])
    torch.testing.assert_close(g["ce_student"], (sn - sm) / T, **TOL)
    # the old entry s_m * (d - d_bar) / T is off by a factor T
    assert not torch.allclose(g["wmse_teacher"], sm * (d - dbar) / T)
