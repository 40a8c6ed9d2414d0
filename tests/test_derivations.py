"""The derivations of Part I: sympy proofs, and the same formulas checked numerically against autograd."""

from __future__ import annotations

import pytest
import sympy as sp
import torch

import gkl
from gkl import derivations as D


@pytest.mark.parametrize("C", [2, 3])
def test_decoupling_proof_small(C):
    proof = D.decoupling_proof(C)
    assert proof.holds
    assert all(d == 0 for d in proof.difference_teacher + proof.difference_student)
    # The asymmetry, symbolically: the wMSE has no gradient on the student, the CE none on the teacher.
    assert all(sp.simplify(g) == 0 for g in proof.wmse_student)
    assert all(sp.simplify(g) == 0 for g in proof.ce_teacher)
    # ... and neither term is trivially zero on its own side.
    assert any(sp.simplify(g) != 0 for g in proof.wmse_teacher)
    assert any(sp.simplify(g) != 0 for g in proof.ce_student)


@pytest.mark.slow
def test_decoupling_proof_four_classes_and_symbolic_temperature():
    assert D.decoupling_proof(4).holds
    proof = D.decoupling_proof(3, symbolic_temperature=True)
    assert proof.holds and proof.temperature.is_Symbol


def test_decoupling_proof_detects_a_wrong_formula():
    """The checker is not vacuous: KL's gradient minus only the CE gradient is not zero."""
    proof = D.decoupling_proof(2)
    leftover = [D._simplify_zero(a - c, proof.teacher + proof.student, proof.temperature)
                for a, c in zip(proof.kl_teacher, proof.ce_teacher)]
    assert any(x != 0 for x in leftover)


@pytest.mark.parametrize("C", [2, 3, 4, 6])
def test_closed_form_identity(C):
    pairwise, closed, diff = D.closed_form_identity(C)
    assert diff == 0
    assert sp.expand(pairwise) != 0


def test_closed_form_identity_numerically_matches_package():
    torch.manual_seed(0)
    d, v = torch.randn(3, 7, dtype=torch.float64), torch.rand(3, 7, dtype=torch.float64)
    explicit = (v[:, :, None] * v[:, None, :] * (d[:, :, None] - d[:, None, :]) ** 2).sum((1, 2))
    torch.testing.assert_close(D.pairwise_sq_sum_explicit(d, v), explicit)
    torch.testing.assert_close(D.pairwise_sq_sum_naive(d, v), explicit)
    torch.testing.assert_close(gkl.losses.pairwise_sq_sum(d, v), explicit)


@pytest.mark.parametrize("C", [2, 3])
def test_wmse_is_half_a_weighted_variance(C):
    assert D.wmse_variance_identity(C)[2] == 0


@pytest.mark.parametrize("T", [0.5, 1.0, 4.0])
def test_hand_gradients_match_autograd(T):
    torch.manual_seed(1)
    s = 3 * torch.randn(5, 7, dtype=torch.float64)
    t = 3 * torch.randn(5, 7, dtype=torch.float64)
    hs, ht = D.kl_hand_gradients(s, t, T)
    gs, gt = D.autograd_gradients(gkl.kl_div, s, t, temperature=T)
    torch.testing.assert_close(hs, gs, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ht, gt, rtol=1e-10, atol=1e-12)
    assert ht.abs().max() > 1e-3 and hs.abs().max() > 1e-3


def test_sympy_gradients_match_autograd_at_a_point():
    """Evaluate the symbolic KL gradients at numbers and compare with torch autograd through gkl."""
    proof = D.decoupling_proof(3)
    om, on = [1.5, -0.3, 0.7], [0.2, 0.9, -1.1]
    subs = {**dict(zip(proof.teacher, om)), **dict(zip(proof.student, on))}
    sym_t = torch.tensor([float(g.subs(subs)) for g in proof.kl_teacher], dtype=torch.float64)
    sym_s = torch.tensor([float(g.subs(subs)) for g in proof.kl_student], dtype=torch.float64)
    gs, gt = D.autograd_gradients(gkl.dkl, torch.tensor([on], dtype=torch.float64), torch.tensor([om], dtype=torch.float64))
    torch.testing.assert_close(sym_t, gt[0])
    torch.testing.assert_close(sym_s, gs[0])


def test_decoupling_numeric_check_up_to_1000_classes():
    rows = D.decoupling_numeric_check((2, 10, 1000), batch=4)
    assert [r["classes"] for r in rows] == [2, 10, 1000]
    for r in rows:
        assert r["max_abs_diff_student"] < 1e-12 and r["max_abs_diff_teacher"] < 1e-12
        assert r["max_abs_hand_student"] < 1e-12 and r["max_abs_hand_teacher"] < 1e-12
        assert r["max_abs_grad"] > 1e-6
        assert r["dkl"] > r["kl"]  # values differ: DKL - KL = wMSE + H(s_m) > 0


def test_mse_on_probabilities_is_not_the_wmse():
    torch.manual_seed(2)
    s = torch.randn(4, 6, dtype=torch.float64)
    t = 2 * torch.randn(4, 6, dtype=torch.float64)
    r = D.wmse_vs_mse_on_probabilities(s, t, 2.0)
    assert r["wmse"] == pytest.approx(r["wmse_pairwise"], rel=1e-12)
    assert abs(r["wmse"] - r["mse_prob"]) > 1e-3
    # wMSE moves only the teacher; MSELoss on probabilities moves both, differently.
    assert r["wmse_grad_student"].abs().max() == 0
    assert r["mse_grad_student"].abs().max() > 1e-4
    assert not torch.allclose(r["wmse_grad_teacher"], r["mse_grad_teacher"])


def test_logit_symbols_validates():
    with pytest.raises(ValueError, match="num_classes"):
        D.logit_symbols(1, "m")


@pytest.mark.parametrize("gamma", [1.0, 0.5, 0.0])
def test_wmse_curvature_matches_autograd_hessian(gamma):
    torch.manual_seed(3)
    t = 3 * torch.randn(1, 5, dtype=torch.float64)
    s = torch.randn(1, 5, dtype=torch.float64)
    v = torch.softmax(t, 1).pow(gamma)

    bench = pytest.importorskip("gkl.bench")

    def wmse(student):  # the (B, C, C) form: plain autograd, twice differentiable
        return bench.pairwise_gkl(student, t, alpha=0.0, beta=1.0, gamma=gamma)

    H = torch.autograd.functional.hessian(wmse, s).reshape(5, 5)
    torch.testing.assert_close(torch.diagonal(H), D.wmse_curvature(v)[0])
    if gamma == 0.0:
        torch.testing.assert_close(D.wmse_curvature(v)[0], torch.full((5,), 4 / 25, dtype=torch.float64))


def test_naive_closed_form_cancels_in_float32_but_package_does_not():
    torch.manual_seed(4)
    d64 = 1000.0 + 0.01 * torch.randn(2, 50, dtype=torch.float64)  # large, nearly equal gaps
    v64 = torch.rand(2, 50, dtype=torch.float64)
    exact = D.pairwise_sq_sum_explicit(d64, v64)
    d, v = d64.float(), v64.float()
    rel = lambda x: float(((x.double() - exact).abs() / exact).max())  # noqa: E731
    assert rel(gkl.losses.pairwise_sq_sum(d, v)) < 1e-3
    assert rel(D.pairwise_sq_sum_naive(d, v)) > 1e-2


def test_closed_form_precision_rows():
    rows = D.closed_form_precision(offsets=(1.0, 1000.0), classes=20, batch=2)
    assert [r["offset"] for r in rows] == [1.0, 1000.0]
    assert rows[-1]["naive"] > 100 * rows[-1]["centred"]
    assert all(r["centred"] < 1e-2 for r in rows)
