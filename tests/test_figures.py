"""Figures of the experiment chapters (gkl.figures.distill) and the chapters' Markdown display
(gkl.figures.markdown), on tiny inputs.

Part I's figures and the palette: tests/test_viz_theory.py; the AT chapter's: tests/test_adversarial.py."""

from __future__ import annotations

import pytest

from gkl.experiments import distill as distill_mod
from tests.conftest import FakeRun, fake_histories


def test_figures_draw_what_they_are_given():
    from gkl.figures import distill as vd

    hist = fake_histories()
    res = {k: [FakeRun(h) for h in hs] for k, hs in hist.items()}
    rows = distill_mod.summarize(res)
    fig = vd.accuracy_bars(rows, reference={"teacher": 0.9})
    bars = [t for t in fig.data if t.type == "bar"]
    assert [b.x[0] for b in bars] == ["none", "kd"] and bars[1].y[0] == pytest.approx(100 * rows[1]["mean"])
    fig = vd.learning_curves(hist)
    lines = [t for t in fig.data if t.mode == "lines" and t.visible]
    assert {t.name for t in lines} == {"none", "kd"}
    assert list(lines[0].x) == [1, 2, 3]
    fig = vd.loss_term_curves(hist)
    assert {t.name for t in fig.data} == {"ce", "kd"}
    rep = {"acc": 0.8, "ece": 0.05, "bin_conf": [0.5, 0.9], "bin_acc": [0.4, 0.95], "bin_count": [3, 7]}
    fig = vd.reliability_diagram({"kd": rep})
    assert "ECE 5.0%" in fig.data[1].name
    fig = vd.sweep_plot([0.0, 0.5], rows, "γ", "t", {"alone": rows[0]})
    assert list(fig.data[0].x) == [0.0, 0.5]


def test_reported_figures():
    from gkl import reported
    from gkl.figures import distill as vd

    fig = vd.reported_kd_bars(reported.load("imagenet_kd"))
    assert {t.name for t in fig.data} == {"GKL", "ReviewKD", "DKD"}
    assert "not reproduced" in fig.layout.title.text
    fig = vd.robustbench_bars(reported.load("robustbench_autoattack"))
    gkl_aa = [t for t in fig.data if t.name == "GKL"][0]
    assert list(gkl_aa.y) == [57.13, 67.75, 31.91, 32.52, 39.37]
    base_aa = [t for t in fig.data if t.name != "GKL"][0]
    assert list(base_aa.y) == [56.17, 67.31, 30.77, 31.30, 38.83] and "AWP" in base_aa.text[0]


def test_show_renders_tables_as_html():
    from gkl.figures.markdown import markdown_to_html, show

    md = "Some **bold** `x<y`\n\n| a | b |\n|---|---|\n| 1 | **2** |\n\n* one\n* two"
    html = markdown_to_html(md)
    assert markdown_to_html("*γ < 1 helps*; *GKL's*, 2 * 3") == "<p><em>γ &lt; 1 helps</em>; <em>GKL's</em>, 2 * 3</p>"
    assert "<table" in html and "<th>a</th>" in html and "<td><strong>2</strong></td>" in html
    assert "<code>x&lt;y</code>" in html and html.count("<li>") == 2
    assert "|---|" not in html
    r = show(md)
    assert r._repr_markdown_() == md and r._repr_html_() == html


def test_forest_plot_draws_differences_with_intervals_and_mde_ticks():
    from gkl.experiments.stats import paired_difference
    from gkl.figures.forest import forest_plot

    ahead = paired_difference({s: 0.50 for s in range(5)}, {s: 0.52 + 0.001 * s for s in range(5)}, "A", "B")
    few = paired_difference({0: 0.5, 1: 0.5}, {0: 0.6, 1: 0.4}, "A", "C")  # two seeds: no interval
    fig = forest_plot([("B beats A", ahead), ("C beats A", few)])
    dots = [t for t in fig.data if t.error_x is not None and t.marker.size == 11]
    assert [t.y[0] for t in dots] == ["B beats A", "C beats A"]
    assert dots[0].x[0] == pytest.approx(100 * ahead.mean) and dots[0].error_x.array[0] > 0
    assert dots[1].marker.color == "white" and not dots[1].error_x.array  # hollow, no bar
    assert list(fig.layout.yaxis.categoryarray) == ["C beats A", "B beats A"]  # first row on top


def test_a_quoted_line_renders_as_an_answer_box_not_a_raw_marker():
    from gkl.figures.markdown import markdown_to_html

    html = markdown_to_html("> **What we found**: GKL is *ahead*.\n> Second line.\n\nAfter.")
    assert html.startswith("<blockquote class='gkl-box'><p><strong>What we found</strong>: GKL is <em>ahead</em>. "
                           "Second line.</p></blockquote>")
    assert "&gt;" not in html and html.endswith("<p>After.</p>")
