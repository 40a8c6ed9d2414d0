"""Toy experiments of Part I (gkl.toy): the numbers they compute, on tiny inputs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import gkl
from gkl import toy

S = torch.tensor([2.0, 2.5, 0.0, -0.5])
T = torch.tensor([5.0, 2.0, 1.0, -1.0])


def test_toy_does_not_depend_on_the_figures():
    """gkl.toy is the layer below gkl.figures: it imports no plotting, widget or figure code."""
    trees = [ast.parse(f.read_text()) for f in Path(toy.__file__).parent.glob("*.py")]
    imported = {a.name for t in trees for n in ast.walk(t) if isinstance(n, ast.Import) for a in n.names}
    imported |= {("." * n.level) + (n.module or "") for t in trees for n in ast.walk(t) if isinstance(n, ast.ImportFrom)}
    assert imported, "no imports found: the check would pass vacuously"
    assert not [m for m in imported if m.split(".")[0] in ("plotly", "ipywidgets", "IPython") or "viz" in m]


def test_as_logit_vector():
    v = toy.as_logit_vector([1, 2, 3])
    assert v.dtype == torch.float64 and v.tolist() == [1.0, 2.0, 3.0]
    for bad in ([1.0], [[1.0, 2.0]], 3.0):
        with pytest.raises(ValueError, match="1-D vector"):
            toy.as_logit_vector(bad, "x")


def test_term_gradients_asymmetry():
    s, t = S[None].double(), T[None].double()
    g = toy.term_gradients(s, t, "dkl")
    assert g["wmse_student"].abs().max() == 0 and g["ce_teacher"].abs().max() == 0
    assert g["wmse_teacher"].abs().max() > 1e-3 and g["ce_student"].abs().max() > 1e-3
    # DKL's two terms add up to KL's gradient on each side (the theorem).
    ks, kt = gkl.derivations.autograd_gradients(gkl.kl_div, s, t)
    torch.testing.assert_close(g["wmse_teacher"] + g["ce_teacher"], kt)
    torch.testing.assert_close(g["wmse_student"] + g["ce_student"], ks)
    g2 = toy.term_gradients(s, t, "gkl", gamma=0.5)
    assert g2["wmse_student"].abs().max() > 1e-3  # asymmetry broken
    torch.testing.assert_close(g2["wmse_student"], -g2["wmse_teacher"])  # wMSE depends on o_m - o_n only
    with pytest.raises(ValueError, match="decoupled"):
        toy.term_gradients(s, t, "kl")


def test_weight_matrix():
    w1 = toy.weight_matrix(T, 1.0)
    w0 = toy.weight_matrix(T, 0.0)
    assert float(w1.sum()) == pytest.approx(1.0) and float(w0.sum()) == pytest.approx(1.0)
    assert torch.allclose(w0, torch.full((4, 4), 1 / 16, dtype=torch.float64))
    u = torch.softmax(T.double(), 0)
    torch.testing.assert_close(w1, torch.outer(u, u))  # softmax sums to 1: no renormalisation at gamma = 1
    torch.testing.assert_close(w1, w1.T)
    with pytest.raises(ValueError, match="teacher_logits"):
        toy.weight_matrix(T[None], 1.0)


def test_make_loss_names_and_teacher_is_detached():
    s = torch.randn(2, 4, requires_grad=True)
    t = torch.randn(2, 4, requires_grad=True)
    for name in ("kl", "dkl", "ikl", "gkl"):
        toy.make_loss(name, gamma=0.5, temperature=2.0)(s, t).backward()
    assert t.grad is None and s.grad is not None
    # "kl" is T^2 KL; "ikl" is GKL at gamma = 1.
    s, t = s.detach(), t.detach()
    assert float(toy.make_loss("kl", temperature=2.0)(s, t)) == pytest.approx(4 * float(gkl.kl_div(s, t, 2.0)))
    assert float(toy.make_loss("ikl", gamma=0.3)(s, t)) == pytest.approx(float(toy.make_loss("gkl", gamma=1.0)(s, t)))
    with pytest.raises(ValueError, match="unknown loss"):
        toy.make_loss("mse")


def test_synthetic_teacher_is_seeded_and_peaked():
    a, ya = toy.synthetic_teacher(32, 5, confidence=8.0, noise=1.5, seed=1)
    b, yb = toy.synthetic_teacher(32, 5, confidence=8.0, noise=1.5, seed=1)
    assert torch.equal(a, b) and torch.equal(ya, yb) and a.dtype == torch.float64
    assert (a.argmax(1) == ya).double().mean() > 0.9  # the label carries the confidence
    c, _ = toy.synthetic_teacher(32, 5, seed=2)
    assert not torch.equal(a, c)


def test_rank_groups():
    groups = toy.rank_groups(torch.tensor([[0.0, 3.0, 1.0, -1.0]]))
    assert groups["top-1 class"].tolist() == [[False, True, False, False]]
    assert groups["2nd class"].tolist() == [[False, False, True, False]]
    assert groups["lower half"].tolist() == [[True, False, False, True]]
    assert groups["all classes"].all()


def test_fit_student_reduces_errors_both_models():
    teacher, _ = toy.synthetic_teacher(16, 5, seed=0)
    for model in ("logits", "linear"):
        out = toy.fit_student(teacher, toy.make_loss("gkl", gamma=0.5, temperature=4.0, beta=4.0), steps=40,
                              model=model, record_every=20, features=8)
        assert out["steps"] == [0, 20, 40]
        assert out["loss"][-1] < out["loss"][0]
        for g in ("top-1 class", "2nd class", "lower half"):
            assert out["logit"][g][-1] < out["logit"][g][0]
    with pytest.raises(ValueError, match="model"):
        toy.fit_student(teacher, toy.make_loss("kl"), model="mlp")


def test_fit_student_records_the_last_step_and_centred_error():
    teacher, _ = toy.synthetic_teacher(4, 3, seed=0)
    out = toy.fit_student(teacher, toy.make_loss("kl"), steps=25, record_every=10)
    assert out["steps"] == [0, 10, 20, 25]
    # Step 0: the student is all zeros, so the error is that of the teacher's centred logits.
    centred = (teacher - teacher.mean(1, keepdim=True)).abs().mean()
    assert out["logit"]["all classes"][0] == pytest.approx(float(centred))
    # Shifting every logit of a sample does not change the centred error.
    shifted = toy.fit_student(teacher + 5.0, toy.make_loss("kl"), steps=0)
    assert shifted["logit"]["all classes"][0] == pytest.approx(float(centred))


def test_convergence_experiment_and_table():
    cfgs = [{"label": "KL", "loss": "kl"}, {"label": "GKL 0.5", "loss": "gkl", "gamma": 0.5, "beta": 4.0}]
    res = toy.convergence_experiment(cfgs, seeds=(0, 1), num_samples=8, num_classes=5, steps=20, record_every=10)
    assert res["steps"] == [0, 10, 20] and res["settings"]["seeds"] == [0, 1]
    mean, std = res["results"]["GKL 0.5"]["logit"]["top-1 class"]
    assert len(mean) == 3 and all(x >= 0 for x in std)
    # Every loss starts from the same student (zeros) and teachers (same seeds).
    assert res["results"]["KL"]["logit"]["top-1 class"][0][0] == pytest.approx(mean[0])
    table = toy.convergence_table(res, fraction=1.0)
    assert len(table) == 8 and all(r["steps_to_fraction"] == 0 for r in table)  # 2 losses × 4 groups
    assert {r["group"] for r in table} == {"top-1 class", "2nd class", "lower half", "all classes"}
    row = next(r for r in table if r["loss"] == "GKL 0.5" and r["group"] == "top-1 class")
    assert row["final_mean"] == pytest.approx(mean[-1]) and row["remaining"] == pytest.approx(mean[-1] / mean[0])
    never = toy.convergence_table(res, fraction=0.0)
    assert all(r["steps_to_fraction"] is None for r in never if r["final_mean"] > 0)
    with pytest.raises(ValueError, match="at least one"):
        toy.convergence_experiment([], seeds=(0,))


def test_convergence_experiment_mean_std_over_seeds():
    cfg = [{"label": "KL", "loss": "kl"}]
    kw = dict(num_samples=8, num_classes=4, steps=10, record_every=10)
    both = toy.convergence_experiment(cfg, seeds=(0, 1), **kw)["results"]["KL"]["logit"]["all classes"]
    one = [toy.convergence_experiment(cfg, seeds=(s,), **kw)["results"]["KL"]["logit"]["all classes"][0]
           for s in (0, 1)]
    finals = torch.tensor([one[0][-1], one[1][-1]], dtype=torch.float64)
    assert both[0][-1] == pytest.approx(float(finals.mean()))
    assert both[1][-1] == pytest.approx(float(finals.std(unbiased=True)))


def test_lr_sweep_picks_the_best_and_skips_diverged_runs():
    cfgs = [{"label": "GKL", "loss": "gkl", "gamma": 0.0, "beta": 8.0}]
    res = toy.lr_sweep(cfgs, lrs=(0.1, 2.0, 1e4), seeds=(0,), num_samples=8, num_classes=4, steps=20,
                       record_every=10, temperature=1.0)
    finals = {lr: r["results"]["GKL"]["logit"]["all classes"][0][-1] for lr, r in res["by_lr"].items()}
    assert not (finals[1e4] < 1e3)  # diverged (inf/nan or huge)
    assert res["best_lr"]["GKL"] == 2.0 and finals[2.0] < finals[0.1]
    assert list(res["best"]["results"]) == ["GKL @ lr 2"]
    assert res["diverged"] == {"GKL": [1e4]}
    assert res["best"]["settings"]["lr"] == [0.1, 2.0, 1e4]


def test_toy_distillation_configs():
    res = toy.toy_distillation(seeds=(0,), steps=10, beta=4.0, kl_lrs=(1.0, 8.0), num_samples=8, num_classes=4,
                               record_every=10)
    assert list(res["results"]) == ["KL (T²·KL), lr 1", "KL (T²·KL), lr 8", "IKL (α=1, β=4)"]
    assert res["settings"]["temperature"] == 4.0


def test_digits_teacher_is_a_real_model():
    out = toy.digits_teacher(steps=30)
    assert out["logits"].shape[1] == 10 and out["logits"].shape[0] == out["targets"].shape[0]
    assert out["accuracy"] > 0.8


def test_teacher_examples():
    logits = torch.tensor([[3.0, 0.0], [0.5, 0.0], [9.0, 0.0], [2.0, 0.0]])
    y = torch.tensor([0, 0, 0, 1])
    ex = toy.teacher_examples(logits, y)
    assert ex == {"typical": 0, "wrong": 3, "over-confident": 2}
    with pytest.raises(ValueError, match="no mistake"):
        toy.teacher_examples(logits[:3], y[:3])


def test_shard_priors_sync():
    teacher, y = toy.synthetic_teacher(60, 4, seed=3)
    sh = toy.shard_priors(teacher, y, 2, split="sorted")
    assert sh["max_synced_gap"] < 1e-6 < sh["max_local_gap"]
    # Sorted shards: rank 0 gets the low classes, rank 1 the high ones.
    assert max(sh["classes"][0]) <= min(sh["classes"][1]) and 3 not in sh["classes"][0]
    # A rank that saw no sample of a class keeps that row uniform.
    assert torch.allclose(sh["local"][0][3], torch.full((4,), 0.25))
    strided = toy.shard_priors(teacher, y, 2, split="strided")
    assert strided["max_synced_gap"] < 1e-6
    assert strided["classes"] == [[0, 1, 2, 3], [0, 1, 2, 3]]
    with pytest.raises(ValueError, match="split"):
        toy.shard_priors(teacher, y, 2, split="random")


def test_wmse_hessian_is_the_autograd_hessian_of_the_pairwise_reference():
    from tests import reference as ref

    g = torch.Generator().manual_seed(3)
    t = 3 * torch.randn(1, 7, generator=g, dtype=torch.float64)
    s0 = torch.randn(1, 7, generator=g, dtype=torch.float64)
    for gamma in (1.0, 0.4, 0.0):
        H = torch.autograd.functional.hessian(
            lambda s, gamma=gamma: ref.gkl_terms(s.view(1, 7), t, gamma=gamma, T2=1.0)[0], s0.view(7))
        u = torch.softmax(t[0], 0)
        torch.testing.assert_close(H, toy.wmse_hessian(u.pow(gamma)), rtol=1e-9, atol=1e-12)


def test_hessian_spectrum_slowest_mode_rises_as_gamma_falls_for_a_peaked_teacher():
    u = torch.softmax(torch.tensor([8.0, 2.0, 1.0, 0.0, -1.0, -2.0], dtype=torch.float64), 0)
    rows = toy.hessian_spectrum(u, (1.0, 0.5, 0.2, 0.0))
    lam = [r["lambda_min"] for r in rows]
    assert lam == sorted(lam) and lam[-1] / lam[0] > 100  # orders of magnitude
    assert rows[-1]["lambda_min"] == pytest.approx(1 / 6) and rows[-1]["lambda_max"] == pytest.approx(1 / 6)
    assert rows[0]["top_share"] < 0.05  # the slowest mode sits on the low classes, not the top one
    with pytest.raises(ValueError):
        toy.wmse_hessian(torch.tensor([1.0]))


def test_gap_errors_are_recorded_per_pair():
    teacher, _ = toy.synthetic_teacher(8, 5, confidence=6.0, noise=1.0, seed=0)
    fn = toy.make_loss("gkl", 0.0, 1.0, 1.0, 4.0)
    out = toy.fit_student(teacher, fn, steps=20, lr=1.0, temperature=1.0)
    gaps = out["gap"]
    assert set(gaps) == {"top vs 2nd", "top vs lower half"} and len(gaps["top vs 2nd"]) == len(out["steps"])
    # at step 0 (student = 0) the gap error is the teacher's own gap
    order = teacher.argsort(1, descending=True)
    want = (teacher.gather(1, order[:, :1]) - teacher.gather(1, order[:, 1:2])).abs().mean()
    assert gaps["top vs 2nd"][0] == pytest.approx(float(want))
    assert gaps["top vs 2nd"][-1] < gaps["top vs 2nd"][0]
