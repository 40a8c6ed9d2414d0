"""Figures of Part I (gkl.figures.theory, gkl.figures.widgets): what they draw, on tiny inputs;
and the book's one palette (gkl.figures.palette).

The experiments they draw are tested in tests/test_toy.py.
"""

from __future__ import annotations

import pytest
import torch

import gkl
from gkl import derivations as D
from gkl import toy
from gkl.figures import palette as P
from gkl.figures import theory as V
from gkl.figures.common import slider_figure

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
        slider_figure(go.Figure(), [[go.Bar()], [go.Bar(), go.Bar()]], ["a", "b"], "x")


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


def test_term_gradients_figure():
    fig = V.term_gradients_figure(S, T, (1, 2), active=0)
    assert len(fig.data) == 16 and len(fig.layout.sliders[0].steps) == 2
    wmse_student_dkl = fig.data[1]
    wmse_student_ikl = fig.data[5]
    assert max(map(abs, wmse_student_dkl.y)) == 0 and max(map(abs, wmse_student_ikl.y)) > 1e-3
    assert "× 2" in fig.layout.sliders[0].steps[1].args[1]["title.text"]


def test_convergence_figure():
    cfgs = [{"label": "KL", "loss": "kl"}, {"label": "GKL 0.5", "loss": "gkl", "gamma": 0.5, "beta": 4.0}]
    res = toy.convergence_experiment(cfgs, seeds=(0, 1), num_samples=8, num_classes=5, steps=20, record_every=10)
    fig = V.convergence_figure(res)
    assert len(fig.data) == 2 * 2 * 3  # (band, mean) × losses × groups
    assert [a.text for a in fig.layout.annotations] == ["top-1 class", "2nd class", "lower half"]
    mean, std = res["results"]["GKL 0.5"]["logit"]["top-1 class"]
    band, line = fig.data[6], fig.data[7]  # GKL 0.5, first panel
    assert list(line.y) == pytest.approx(mean) and list(line.x) == [0, 10, 20]
    assert list(band.y[:3]) == pytest.approx([m + s for m, s in zip(mean, std)])
    assert "over 2 seeds" in fig.layout.title.text and fig.layout.yaxis.type == "log"
    prob = V.convergence_figure(res, "prob", log_y=False)
    assert "soft-label" in prob.layout.title.text and prob.layout.yaxis.type != "log"


def test_convergence_figure_draws_the_best_of_an_lr_sweep():
    cfgs = [{"label": "GKL", "loss": "gkl", "gamma": 0.0, "beta": 8.0}]
    sweep = toy.lr_sweep(cfgs, lrs=(0.1, 2.0), seeds=(0,), num_samples=8, num_classes=4, steps=10,
                         record_every=10, temperature=1.0)
    fig = V.convergence_figure(sweep["best"])
    assert fig.data[1].name == "GKL @ lr 2"


def test_weight_function_figure():
    fig = V.weight_function_figure(T, (1.0, 0.5, 0.0))
    assert len(fig.data) == 9 and len(fig.layout.sliders[0].steps) == 3
    share_g1, share_g0 = fig.data[2].y, fig.data[8].y
    assert share_g1[0] > share_g0[0] and share_g0[0] == pytest.approx(0.25)
    torch.testing.assert_close(torch.tensor(fig.data[0].z, dtype=torch.float64), toy.weight_matrix(T, 1.0))
    # Uniform weights (gamma = 0): pairs with the top class carry (2C - 1) / C^2 = 7/16 of the weight.
    assert "44%" in fig.layout.sliders[0].steps[2].args[1]["title.text"]


def test_prior_sync_figure():
    teacher, y = toy.synthetic_teacher(60, 4, seed=3)
    sh = toy.shard_priors(teacher, y, 3, split="strided")
    fig = V.prior_sync_figure(sh)
    assert len(fig.data) == 4 and "3 data-parallel ranks" in fig.layout.title.text
    torch.testing.assert_close(torch.tensor(fig.data[3].z, dtype=torch.float64), sh["synced"].double())
    assert [d.showscale for d in fig.data] == [False, False, False, True]


def test_theory_module_holds_figures_only():
    """The experiments live in gkl.toy; gkl.figures.theory re-exports none of them."""
    for name in toy.__all__:
        assert name not in V.__all__
    for name in (*toy.__all__, "_rank_groups", "_errors", "_mean_std"):
        assert not hasattr(V, name)


def test_one_theory_module_per_theory_chapter():
    """How a chapter's figures are made is one hop away: book/theory/X.md <-> gkl/figures/theory/X.py."""
    import importlib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    chapters = {p.stem for p in (root / "book" / "theory").glob("*.md")}
    modules = {p.stem for p in (root / "gkl" / "figures" / "theory").glob("*.py")} - {"__init__"}
    assert modules <= chapters
    for name in V.__all__:
        fn = getattr(V, name)
        assert fn.__module__.rsplit(".", 1)[1] in modules
        assert getattr(importlib.import_module(fn.__module__), name) is fn


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
    assert html.count("<tr>") == 3 and "pairwise / gkl time" in html and "10×" in html
    with pytest.raises(ValueError, match="empty"):
        V.benchmark_table([])


def test_benchmark_figure_on_real_bench_rows():
    bench = pytest.importorskip("gkl.bench")
    rows = bench.benchmark_losses(batch=4, classes=[4, 8], repeats=1)
    fig = V.benchmark_figure(rows)
    assert len(fig.data) == 2 * len({r["impl"] for r in rows})


def test_widget_panels_render_current_values():
    pytest.importorskip("ipywidgets")
    from gkl.figures import widgets as W

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


def test_curvature_figure():
    fig = V.curvature_figure(T, gammas=(0.0, 0.5, 1.0))
    assert len(fig.data) == 4 and list(fig.data[0].x) == [0.0, 0.5, 1.0]
    top = fig.data[0]  # rank 1
    assert top.y[0] == pytest.approx(3 / 16)  # gamma = 0: (C-1)/C^2
    assert top.y[2] < top.y[1]  # a confident top class has a small curvature at gamma = 1


# --------------------------------------------------------------------------- the palette


def test_known_methods_have_one_colour_everywhere():
    """Names and labels, any case, parenthesised variants: the same colour; all colours distinct."""
    gkl_colour = P.method_color("gkl")
    assert P.method_color("GKL") == P.method_color("GKL (γ = 1)") == gkl_colour == P.ROLE_COLORS["gkl"]
    assert P.method_color("student alone") == P.method_color("none") == P.method_color("None")
    assert P.method_color("KD") == P.method_color("kl") == P.ROLE_COLORS["kl"]
    assert P.method_color("PGD-AT") == P.method_color("pgd_at")
    methods = ("gkl", "ikl", "kd", "dkd", "trades", "pgd-at", "none", "teacher")
    assert len({P.method_color(m) for m in methods}) == len(methods)
    assert set(P.METHOD_COLORS.values()) <= set(P.OKABE_ITO.values())
    assert set(P.SEQUENCE) <= set(P.PALETTE)
    with pytest.raises(ValueError, match="no colour"):
        P.method_color("ReviewKD")
    assert P.method_color("ReviewKD", default="#123456") == "#123456"


def test_a_registered_method_gets_a_free_stable_colour():
    """A method registered from outside palette.py gets a colour no fixed method has, the same each call."""
    import dataclasses

    from gkl.methods.adversarial import ADVERSARIAL
    from gkl.methods.distill import DISTILLERS
    from gkl.methods.registry import MethodConfig

    made = []
    for name, label in (("throwaway-a", "Throwaway A"), ("throwaway-b", "Throwaway B")):
        config = dataclasses.make_dataclass(f"Config_{name[-1]}", [("weight", float, 1.0)], bases=(MethodConfig,))
        made.append(type(name, (), {"name": name, "label": label, "Config": config}))
    try:
        ADVERSARIAL.register(made[0])
        DISTILLERS.register(made[1])
        a, b = P.method_color("throwaway-a"), P.method_color("Throwaway B")
        assert a == P.method_color("THROWAWAY A (variant)") and a != b
        assert a not in P.METHOD_COLORS.values() and b not in P.METHOD_COLORS.values()
        assert P.method_color("throwaway-a") == a  # stable across calls
        # a figure with the new method and two unknown labels: five distinct colours
        colours = P.method_colors(["GKL", "Throwaway A", "ReviewKD", "CRD", "TRADES"])
        assert colours["GKL"] == P.method_color("gkl") and colours["Throwaway A"] == a
        assert len(set(colours.values())) == 5
    finally:
        ADVERSARIAL.unregister("throwaway-a")
        DISTILLERS.unregister("throwaway-b")
    with pytest.raises(ValueError):
        P.method_color("throwaway-a")


def test_figures_use_the_palette():
    from gkl.figures import adversarial as FA
    from gkl.figures import distill as FD

    hist = [{"epoch": e, "clean_acc": 0.5, "robust_acc": 0.2} for e in (1, 2)]
    recs = [{"method": m, "seed": s, "history": hist} for m in ("TRADES", "GKL") for s in (0, 1)]
    fig = FA.learning_curves(recs)
    line = {t.name: t.line.color for t in fig.data if t.showlegend}
    assert line == {"TRADES": P.method_color("trades"), "GKL": P.method_color("gkl")}
    rows = [{"method": m, "mean": 0.8, "std": 0.01, "values": [0.79, 0.81]} for m in ("none", "gkl")]
    bars = [t for t in FD.accuracy_bars(rows).data if t.type == "bar"]
    assert [b.marker.color for b in bars] == [P.method_color("student alone"), P.method_color("GKL")]


def test_mean_std_bands_use_the_one_mean_std():
    """One seed: std 0 (a band of width 0), as gkl.experiments.stats.mean_std says."""
    from gkl.experiments.stats import mean_std
    from gkl.figures.common import column_mean_std

    cols = [[0.1, 0.2, 0.4], [0.5]]
    means, stds = column_mean_std(cols)
    assert (means, stds) == ([mean_std(cols[0])[0], 0.5], [mean_std(cols[0])[1], 0.0])
