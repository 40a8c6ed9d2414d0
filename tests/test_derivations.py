"""The derivations of Part I: sympy proofs, and the same formulas checked numerically against autograd."""

from __future__ import annotations

import pytest
import sympy as sp
import torch

import gkl
from gkl import derivations as D
from gkl.derivations.symbolic import _simplify_zero


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
    leftover = [_simplify_zero(a - c, proof.teacher + proof.student, proof.temperature)
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
    torch.testing.assert_close(gkl.core.losses.pairwise_sq_sum(d, v), explicit)


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
    assert rel(gkl.core.losses.pairwise_sq_sum(d, v)) < 1e-3
    assert rel(D.pairwise_sq_sum_naive(d, v)) > 1e-2


def test_closed_form_precision_rows():
    rows = D.closed_form_precision(offsets=(1.0, 1000.0), classes=20, batch=2)
    assert [r["offset"] for r in rows] == [1.0, 1000.0]
    assert rows[-1]["naive"] > 100 * rows[-1]["centred"]
    assert all(r["centred"] < 1e-2 for r in rows)


# --- the scale of the two terms in KD -------------------------------------------------------------


@pytest.mark.parametrize("symbolic_temperature", [True, False])
def test_kd_scale_proof_two_classes(symbolic_temperature):
    """T²·KL = CE·T² + raw-logit wMSE·1 (gradients), and GKL at α = T², β = 1 breaks only the asymmetry."""
    proof = D.kd_scale_proof(2, symbolic_temperature=symbolic_temperature)
    assert proof.holds
    assert proof.value_difference == 0
    assert all(d == 0 for d in proof.student_difference + proof.teacher_difference + proof.broken_student_difference)


@pytest.mark.slow
def test_kd_scale_proof_three_classes():
    assert D.kd_scale_proof(3).holds


def test_kd_scale_proof_is_not_vacuous():
    """The raw-logit wMSE with weight 1 — not T² — carries KL's teacher gradient: with weight T² it fails."""
    proof = D.kd_scale_proof(2)
    T = proof.temperature
    om, on = D.logit_symbols(2, "m"), D.logit_symbols(2, "n")
    kl2 = T**2 * D.kl_expr(on, om, T)
    w = D.softmax_expr(om, T)
    wrong = T**2 * sp.Rational(1, 4) * sum(w[j] * w[k] * ((om[j] - om[k]) - (on[j] - on[k])) ** 2
                                          for j in range(2) for k in range(2))
    leftover = _simplify_zero(sp.diff(kl2, om[0]) - sp.diff(wrong, om[0]), om + on, T)
    assert leftover != 0


@pytest.mark.parametrize("T", [1.0, 4.0])
def test_gkl_at_alpha_T2_beta_1_is_kd_with_the_asymmetry_broken(T):
    rows = D.kd_scale_check((2, 10, 100), batch=6, temperature=T)
    for r in rows:
        assert r["rel_value"] < 1e-12  # value: GKL(α = T², β = 1, γ = 1, T2 = T, no prior) = T²·DKL
        assert r["max_abs_teacher"] < 1e-12  # teacher gradient = T²·KL's
        assert r["max_abs_ce_student"] < 1e-12  # the CE alone carries T²·KL's student gradient
        assert r["max_abs_student"] < 1e-12  # GKL's student gradient = T²·KL's minus T²·KL's teacher gradient
        assert r["wmse_student_grad"] > 1e-3 and r["max_abs_grad"] > 1e-3  # ... which is not zero


def test_kd_scale_check_against_package_autograd_directly():
    torch.manual_seed(5)
    T = 4.0
    s, t = 4 * torch.randn(3, 7, dtype=torch.float64), 4 * torch.randn(3, 7, dtype=torch.float64)
    ks, kt = D.autograd_gradients(lambda a, b: T * T * gkl.kl_div(a, b, T), s, t)
    gs, gt = D.autograd_gradients(
        lambda a, b: gkl.gkl(a, b, alpha=T * T, beta=1.0, gamma=1.0, temperature=T, weight_temperature=T), s, t)
    torch.testing.assert_close(gt, kt, rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(gs, ks - kt, rtol=1e-10, atol=1e-13)
    # the released scale (α = 1, β = 4) is not KL's: neither gradient matches
    rs, rt = D.autograd_gradients(
        lambda a, b: gkl.gkl(a, b, alpha=1.0, beta=4.0, gamma=1.0, temperature=T, weight_temperature=T), s, t)
    assert not torch.allclose(rt, kt) and not torch.allclose(rs, ks - kt)


def test_relative_wmse_weight_of_released_settings():
    assert D.relative_wmse_weight(1, 4, 4) == 64.0  # released resnet56 -> resnet20
    assert D.relative_wmse_weight(1, 16, 4) == 256.0  # released resnet32x4 -> resnet8x4
    assert D.relative_wmse_weight(16, 1, 4) == 1.0  # α = T², β = 1: KL's own balance
    assert D.relative_wmse_weight(1, 0.5, 1) == 0.5  # ImageNet R34 -> R18 (T = 1)
    for bad in [(0, 1, 4), (1, -1, 4), (1, 1, 0), (float("nan"), 1, 1), (True, 1, 1)]:
        with pytest.raises(ValueError):
            D.relative_wmse_weight(*bad)
    from gkl import reported

    rows = D.relative_wmse_weights(reported.load("released_configs").where(task="KD", dataset="CIFAR-100"))
    by = {(r["method"], r["student"]): r for r in rows}
    assert by[("GKL", "resnet20")]["wMSE:CE / KL's"] == 64.0
    assert by[("GKL", "resnet8x4")]["wMSE:CE / KL's"] == 256.0
    assert by[("IKL", "resnet8x4")]["wMSE:CE / KL's"] == 128.0  # IKL's own β = 8
    assert by[("GKL", "resnet20")]["CE weight / KD's"] == 1 / 16 and by[("GKL", "resnet20")]["wMSE weight / KD's"] == 4
