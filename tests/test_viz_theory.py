"""Figures and small experiments of Part I: what they draw, on tiny inputs."""

from __future__ import annotations

import pytest
import torch

import gkl
from gkl import derivations as D
from gkl.viz import theory as V

S = torch.tensor([2.0, 2.5, 0.0, -0.5])
T = torch.tensor([5.0, 2.0, 1.0, -1.0])


def _visible(fig, step):
    return fig.layout.sliders[0].steps[step].args[0]["visible"]


def test_slider_figure_shows_one_group_per_step():
    fig = V.soft_label_temperature_figure(S, T, (1, 2, 4))
    assert len(fig.data) == 9 and len(fig.layout.sliders[0].steps) == 3
    for i in range(3):
        vis = _visible(fig, i)
        assert sum(vis) == 3 and all(vis[3 * i: 3 * i + 3])
    assert [d.visible for d in fig.data].count(True) == 3
    # Probabilities in [0, 1] summing to 1; gradient sums to 0.
    teacher_t4 = fig.data[6]
    assert sum(teacher_t4.y) == pytest.approx(1.0) and min(teacher_t4.y) >= 0
    assert sum(fig.data[8].y) == pytest.approx(0.0, abs=1e-12)
    # A higher temperature flattens the teacher.
    assert max(fig.data[0].y) > max(fig.data[6].y)
    assert "T = 4" in fig.layout.sliders[0].steps[2].args[1]["title.text"]


def test_slider_figure_rejects_ragged_steps():
    go = pytest.importorskip("plotly.graph_objects")
    with pytest.raises(ValueError, match="same number"):
        V.slider_figure(go.Figure(), [[go.Bar()], [go.Bar(), go.Bar()]], ["a", "b"], "x")


def test_kl_gradient_check_figure():
    s, t = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    fig = V.kl_gradient_check_figure(D.kl_hand_gradients(s, t), D.autograd_gradients(gkl.kl_div, s, t))
    assert len(fig.data) == 3 and len(fig.data[0].x) == 12
    assert fig.data[0].x == pytest.approx(fig.data[0].y)


def test_decoupling_gradient_figure_kl_equals_dkl_not_mse():
    fig = V.decoupling_gradient_figure(S, T, (-2, 0, 2))
    assert len(fig.data) == 18 and len(fig.layout.sliders[0].steps) == 3
    assert fig.layout.sliders[0].active == 1
    for step in range(3):
        kl_t, dkl_t, mse_t, kl_s, dkl_s, mse_s = fig.data[6 * step: 6 * step + 6]
        assert kl_t.y == pytest.approx(dkl_t.y, abs=1e-6) and kl_s.y == pytest.approx(dkl_s.y, abs=1e-6)
        assert max(abs(a - b) for a, b in zip(kl_s.y, mse_s.y)) > 1e-3


def test_decoupling_numeric_figure():
    rows = D.decoupling_numeric_check((2, 20), batch=2)
    fig = V.decoupling_numeric_figure(rows)
    assert len(fig.data) == 3 and list(fig.data[1].x) == [2, 20]
    assert max(fig.data[1].y) < 1e-12 < min(fig.data[0].y)
    assert fig.layout.yaxis.type == "log"


def test_term_gradients_asymmetry():
    s, t = S[None].double(), T[None].double()
    g = V.term_gradients(s, t, "dkl")
    assert g["wmse_student"].abs().max() == 0 and g["ce_teacher"].abs().max() == 0
    assert g["wmse_teacher"].abs().max() > 1e-3 and g["ce_student"].abs().max() > 1e-3
    g2 = V.term_gradients(s, t, "gkl", gamma=0.5)
    assert g2["wmse_student"].abs().max() > 1e-3  # asymmetry broken
    torch.testing.assert_close(g2["wmse_student"], -g2["wmse_teacher"])  # wMSE depends on o_m - o_n only
    with pytest.raises(ValueError, match="decoupled"):
        V.term_gradients(s, t, "kl")


def test_term_gradients_figure():
    fig = V.term_gradients_figure(S, T, (1, 2), active=0)
    assert len(fig.data) == 16 and len(fig.layout.sliders[0].steps) == 2
    wmse_student_dkl = fig.data[1]
    wmse_student_ikl = fig.data[5]
    assert max(map(abs, wmse_student_dkl.y)) == 0 and max(map(abs, wmse_student_ikl.y)) > 1e-3
    assert "× 2" in fig.layout.sliders[0].steps[1].args[1]["title.text"]


def test_make_loss_names_and_teacher_is_detached():
    s = torch.randn(2, 4, requires_grad=True)
    t = torch.randn(2, 4, requires_grad=True)
    for name in ("kl", "dkl", "ikl", "gkl"):
        V.make_loss(name, gamma=0.5, temperature=2.0)(s, t).backward()
    assert t.grad is None and s.grad is not None
    with pytest.raises(ValueError, match="unknown loss"):
        V.make_loss("mse")


def test_fit_student_reduces_errors_both_models():
    teacher, _ = V.synthetic_teacher(16, 5, seed=0)
    for model in ("logits", "linear"):
        out = V.fit_student(teacher, V.make_loss("gkl", gamma=0.5, temperature=4.0, beta=4.0), steps=40,
                            model=model, record_every=20, features=8)
        assert out["steps"] == [0, 20, 40]
        assert out["loss"][-1] < out["loss"][0]
        for g in ("top-1 class", "2nd class", "lower half"):
            assert out["logit"][g][-1] < out["logit"][g][0]
    with pytest.raises(ValueError, match="model"):
        V.fit_student(teacher, V.make_loss("kl"), model="mlp")


def test_rank_groups():
    groups = V._rank_groups(torch.tensor([[0.0, 3.0, 1.0, -1.0]]))
    assert groups["top-1 class"].tolist() == [[False, True, False, False]]
    assert groups["2nd class"].tolist() == [[False, False, True, False]]
    assert groups["lower half"].tolist() == [[True, False, False, True]]


def test_convergence_experiment_table_and_figure():
    cfgs = [{"label": "KL", "loss": "kl"}, {"label": "GKL 0.5", "loss": "gkl", "gamma": 0.5, "beta": 4.0}]
    res = V.convergence_experiment(cfgs, seeds=(0, 1), num_samples=8, num_classes=5, steps=20, record_every=10)
    assert res["steps"] == [0, 10, 20]
    mean, std = res["results"]["GKL 0.5"]["logit"]["top-1 class"]
    assert len(mean) == 3 and all(x >= 0 for x in std)
    # Every loss starts from the same student (zeros) and teachers (same seeds).
    assert res["results"]["KL"]["logit"]["top-1 class"][0][0] == pytest.approx(mean[0])
    table = V.convergence_table(res, fraction=1.0)
    assert len(table) == 8 and all(r["steps_to_fraction"] == 0 for r in table)  # 2 losses × 4 groups
    assert {r["group"] for r in table} == {"top-1 class", "2nd class", "lower half", "all classes"}
    fig = V.convergence_figure(res)
    assert len(fig.data) == 2 * 2 * 3  # (band, mean) × losses × groups
    assert [a.text for a in fig.layout.annotations] == ["top-1 class", "2nd class", "lower half"]


def test_weight_matrix_and_figure():
    w1 = V.weight_matrix(T, 1.0)
    w0 = V.weight_matrix(T, 0.0)
    assert float(w1.sum()) == pytest.approx(1.0) and float(w0.sum()) == pytest.approx(1.0)
    assert torch.allclose(w0, torch.full((4, 4), 1 / 16, dtype=torch.float64))
    fig = V.weight_function_figure(T, (1.0, 0.5, 0.0))
    assert len(fig.data) == 9 and len(fig.layout.sliders[0].steps) == 3
    share_g1, share_g0 = fig.data[2].y, fig.data[8].y
    assert share_g1[0] > share_g0[0] and share_g0[0] == pytest.approx(0.25)


def test_digits_teacher_is_a_real_model():
    out = V.digits_teacher(steps=30)
    assert out["logits"].shape[1] == 10 and out["logits"].shape[0] == out["targets"].shape[0]
    assert out["accuracy"] > 0.8


def test_shard_priors_sync():
    teacher, y = V.synthetic_teacher(60, 4, seed=3)
    sh = V.shard_priors(teacher, y, 2, split="sorted")
    assert sh["max_synced_gap"] < 1e-6 < sh["max_local_gap"]
    # A rank that saw no sample of a class keeps that row uniform.
    assert torch.allclose(sh["local"][0][3], torch.full((4,), 0.25))
    strided = V.shard_priors(teacher, y, 2, split="strided")
    assert strided["max_synced_gap"] < 1e-6
    fig = V.prior_sync_figure(sh)
    assert len(fig.data) == 3
    with pytest.raises(ValueError, match="split"):
        V.shard_priors(teacher, y, 2, split="random")


def test_class_prior_figures():
    prior = torch.eye(3) * 0.7 + 0.1
    fig = V.class_prior_figure(prior, ["a", "b", "c"])
    assert len(fig.data) == 1 and fig.data[0].z[0][0] == pytest.approx(0.8)
    with pytest.raises(ValueError, match="square"):
        V.class_prior_figure(torch.ones(2, 3))
    fig2 = V.sample_vs_prior_weights_figure(torch.randn(2, 3), prior[:2], ["x", "y"])
    assert len(fig2.data) == 4


def test_benchmark_figure():
    rows = [{"impl": i, "classes": c, "batch": 8, "median_ms": float(c), "peak_mib": 0.5 * c}
            for i in ("gkl", "pairwise", "torch_kl_div") for c in (100, 10)]
    fig = V.benchmark_figure(rows)
    assert len(fig.data) == 6
    assert list(fig.data[0].x) == [10, 100]  # sorted by C
    assert fig.layout.xaxis.type == "log" and "batch 8" in fig.layout.title.text
    with pytest.raises(ValueError, match="empty"):
        V.benchmark_figure([])
    with pytest.raises(ValueError, match="peak_mib"):
        V.benchmark_figure([{"impl": "gkl", "classes": 2, "median_ms": 1.0}])


def test_benchmark_table():
    rows = [{"impl": i, "classes": c, "batch": 8, "median_ms": float(c) * (10 if i == "pairwise" else 1),
             "peak_mib": 0.5 * c} for i in ("gkl", "pairwise") for c in (10, 100)]
    html = V.benchmark_table(rows).data
    assert html.count("<tr>") == 3 and "pairwise / gkl time" in html and "10.0×" in html
    with pytest.raises(ValueError, match="empty"):
        V.benchmark_table([])


def test_benchmark_figure_on_real_bench_rows():
    bench = pytest.importorskip("gkl.bench")
    rows = bench.benchmark_losses(batch=4, classes=[4, 8], repeats=1)
    fig = V.benchmark_figure(rows)
    assert len(fig.data) == 2 * len({r["impl"] for r in rows})


def test_widget_panels_render_current_values():
    pytest.importorskip("ipywidgets")
    from gkl.viz import widgets as W

    p = W.temperature_panel()
    p.controls["temperature"].value = 4.0
    fig = p.render()
    assert "T = 4" in fig.layout.title.text and len(fig.data) == 3
    p = W.weight_function_panel()
    p.controls["gamma"].value = 0.0
    fig = p.render()
    assert fig.data[2].y == pytest.approx([0.2] * 5)
    for make in (W.decoupling_panel, W.asymmetry_panel):
        panel = make()
        assert len(panel.render().data) in (6, 8) and set(panel.values()) == set(panel.controls)


def test_teacher_examples():
    logits = torch.tensor([[3.0, 0.0], [0.5, 0.0], [9.0, 0.0], [2.0, 0.0]])
    y = torch.tensor([0, 0, 0, 1])
    ex = V.teacher_examples(logits, y)
    assert ex == {"typical": 0, "wrong": 3, "over-confident": 2}
    with pytest.raises(ValueError, match="no mistake"):
        V.teacher_examples(logits[:3], y[:3])


def test_lr_sweep_picks_the_best_and_skips_diverged_runs():
    cfgs = [{"label": "GKL", "loss": "gkl", "gamma": 0.0, "beta": 8.0}]
    res = V.lr_sweep(cfgs, lrs=(0.1, 2.0, 1e4), seeds=(0,), num_samples=8, num_classes=4, steps=20,
                     record_every=10, temperature=1.0)
    finals = {lr: r["results"]["GKL"]["logit"]["all classes"][0][-1] for lr, r in res["by_lr"].items()}
    assert not (finals[1e4] < 1e3)  # diverged (inf/nan or huge)
    assert res["best_lr"]["GKL"] == 2.0 and finals[2.0] < finals[0.1]
    assert list(res["best"]["results"]) == ["GKL @ lr 2"]
    assert res["diverged"] == {"GKL": [1e4]}


def test_curvature_figure():
    fig = V.curvature_figure(T, gammas=(0.0, 0.5, 1.0))
    assert len(fig.data) == 4 and list(fig.data[0].x) == [0.0, 0.5, 1.0]
    top = fig.data[0]  # rank 1
    assert top.y[0] == pytest.approx(3 / 16)  # gamma = 0: (C-1)/C^2
    assert top.y[2] < top.y[1]  # a confident top class has a small curvature at gamma = 1
