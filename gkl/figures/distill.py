"""Figures of the distillation chapters (plotly): accuracies, learning curves, loss terms,
calibration, sweeps and the authors' reported tables.

Every function takes plain data (run histories, summaries from :func:`gkl.experiments.distill.summarize`,
:class:`gkl.reported.ReportedTable`) and returns a :class:`plotly.graph_objects.Figure`. Method colours
come from :mod:`gkl.figures.palette`; the chapters print Markdown with :func:`gkl.figures.markdown.show`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from gkl.figures.common import band, column_mean_std
from gkl.figures.palette import ROLE_COLORS, method_color, method_colors, sequence_color

__all__ = [
    "accuracy_bars",
    "learning_curves",
    "loss_term_curves",
    "reliability_diagram",
    "sweep_plot",
    "validation_grid",
    "validation_curves",
    "reported_kd_bars",
    "robustbench_bars",
]


def accuracy_bars(rows: Sequence[Mapping[str, Any]], title: str = "Test accuracy (last epoch)", scale: float = 100.0,
                  reference: Optional[Mapping[str, float]] = None) -> go.Figure:
    """Bars of mean ± std (rows of :func:`gkl.experiments.distill.summarize`) with every seed as a dot.

    ``reference``: horizontal lines, label -> value (e.g. the teacher's accuracy).
    """
    fig = go.Figure()
    colours = method_colors(str(r["method"]) for r in rows)
    for r in rows:
        label = str(r["method"])
        fig.add_bar(
            x=[label], y=[r["mean"] * scale], name=label, marker_color=colours[label],
            error_y=dict(type="data", array=[r["std"] * scale if r["std"] == r["std"] else 0.0], visible=True),
            hovertemplate=f"{label}: %{{y:.2f}} ± {r['std'] * scale:.2f}<extra></extra>",
        )
        fig.add_scatter(
            x=[label] * len(r["values"]), y=[v * scale for v in r["values"]], mode="markers",
            marker=dict(color="black", size=6, symbol="circle-open"), showlegend=False,
            hovertemplate="seed value %{y:.2f}<extra></extra>",
        )
    for name, value in (reference or {}).items():
        fig.add_hline(y=value * scale, line_dash="dash", annotation_text=name, annotation_position="top left")
    vals = [v * scale for r in rows for v in r["values"]] + [v * scale for v in (reference or {}).values()]
    lo, hi = (min(vals), max(vals)) if vals else (0, 100)
    pad = max(1.0, 0.15 * (hi - lo))
    fig.update_layout(title=title, yaxis_title="test accuracy (%)", showlegend=False, template="plotly_white",
                      yaxis_range=[lo - pad, hi + pad], height=380)
    return fig


def learning_curves(histories: Mapping[str, Sequence[Sequence[Mapping[str, Any]]]], metric: str = "test_acc",
                    title: str = "Learning curves (mean ± std over seeds)", scale: float = 100.0) -> go.Figure:
    """Mean ± std band of ``metric`` per epoch; ``histories``: label -> one history per seed.

    A dropdown switches between the test accuracy and the training loss when both are present.
    """
    fig = go.Figure()
    metrics = [metric] + (["train_loss"] if metric != "train_loss" else [])
    n_traces = []
    colours = method_colors(histories)
    for m_i, m in enumerate(metrics):
        count = 0
        for label, runs in histories.items():
            if not runs or m not in runs[0][-1]:
                continue
            epochs = [h["epoch"] for h in runs[0]]
            k = 1.0 if m == "train_loss" else scale
            means, stds = column_mean_std([run[e][m] * k for run in runs] for e in range(len(epochs)))
            for trace in band(epochs, means, stds, colours[label], label, visible=m_i == 0, alpha=0.15):
                fig.add_trace(trace)
            count += 2
        n_traces.append(count)
    buttons = []
    start = 0
    total = sum(n_traces)
    for m, n in zip(metrics, n_traces):
        vis = [start <= j < start + n for j in range(total)]
        label = "test accuracy (%)" if m == "test_acc" else m.replace("_", " ")
        buttons.append(dict(label=label, method="update", args=[{"visible": vis}, {"yaxis": {"title": {"text": label}}}]))
        start += n
    fig.update_layout(title=title, xaxis_title="epoch", yaxis_title="test accuracy (%)" if metric == "test_acc" else metric,
                      template="plotly_white", height=420,
                      updatemenus=[dict(buttons=buttons, x=1.0, xanchor="right", y=1.15, yanchor="top")] if len(buttons) > 1 else [])
    return fig


def loss_term_curves(histories: Mapping[str, Sequence[Sequence[Mapping[str, Any]]]],
                     title: str = "Training loss terms (weighted, mean over seeds)") -> go.Figure:
    """One panel per method, one line per named loss term (``train_<term>`` of the metrics)."""
    labels = list(histories)
    cols = min(3, len(labels))
    rows = math.ceil(len(labels) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=labels, shared_xaxes=True)
    term_colors: dict[str, str] = {}
    for i, label in enumerate(labels):
        runs = histories[label]
        terms = sorted(k for k in runs[0][-1] if k.startswith("train_") and k not in ("train_loss", "train_acc"))
        epochs = [h["epoch"] for h in runs[0]]
        for term in terms:
            name = term[len("train_"):]
            if name not in term_colors:  # the label CE grey, the other terms in sequence
                others = sum(t != "ce" for t in term_colors)
                term_colors[name] = ROLE_COLORS["label_ce"] if name == "ce" else sequence_color(others)
            means, _ = column_mean_std([run[e][term] for run in runs] for e in range(len(epochs)))
            fig.add_scatter(x=epochs, y=means, mode="lines", name=name, line=dict(color=term_colors[name]),
                            legendgroup=name, showlegend=name not in [t.name for t in fig.data],
                            row=i // cols + 1, col=i % cols + 1)
    # one labelled tick per power of ten (10⁻², 10⁻¹, ...): the default minor labels overlap
    fig.update_yaxes(type="log", dtick=1, exponentformat="power", showexponent="all", tickfont={"size": 11})
    fig.update_layout(title=title, template="plotly_white", height=300 * rows)
    return fig


def reliability_diagram(reports: Mapping[str, Mapping[str, Any]], title: str = "Calibration (reliability diagram)") -> go.Figure:
    """Accuracy against confidence per bin for each model (:func:`gkl.experiments.distill.student_report`), ECE in the legend."""
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="black"), name="perfect calibration")
    colours = method_colors(reports)
    for label, r in reports.items():
        xs = [c for c, n in zip(r["bin_conf"], r["bin_count"]) if n > 0]
        ys = [a for a, n in zip(r["bin_acc"], r["bin_count"]) if n > 0]
        fig.add_scatter(x=xs, y=ys, mode="lines+markers", name=f"{label} (ECE {100 * r['ece']:.1f}%)",
                        line=dict(color=colours[label]))
    fig.update_layout(title=title, xaxis_title="confidence", yaxis_title="accuracy", template="plotly_white",
                      height=420, xaxis_range=[0, 1.02], yaxis_range=[0, 1.02])
    return fig


def sweep_plot(x: Sequence[Any], rows: Sequence[Mapping[str, Any]], xlabel: str, title: str,
               baselines: Optional[Mapping[str, Mapping[str, Any]]] = None, scale: float = 100.0,
               log_x: bool = False) -> go.Figure:
    """Mean ± std (error bars) of a hyper-parameter sweep; ``baselines``: label -> summary row (bands)."""
    fig = go.Figure()
    colours = method_colors(baselines or {})
    for label, r in (baselines or {}).items():
        c = colours[label]
        m, s = r["mean"] * scale, r["std"] * scale
        fig.add_hrect(y0=m - s, y1=m + s, fillcolor=c, opacity=0.12, line_width=0)
        fig.add_hline(y=m, line_color=c, line_dash="dash", annotation_text=f"{label} {m:.1f}",
                      annotation_position="bottom right")
    fig.add_scatter(x=list(x), y=[r["mean"] * scale for r in rows], mode="lines+markers", name="mean ± std",
                    error_y=dict(type="data", array=[r["std"] * scale for r in rows], visible=True),
                    line=dict(color=method_color("gkl")))
    for r, xv in zip(rows, x):
        fig.add_scatter(x=[xv] * len(r["values"]), y=[v * scale for v in r["values"]], mode="markers",
                        marker=dict(color="black", size=5, symbol="circle-open"), showlegend=False)
    fig.update_layout(title=title, xaxis_title=xlabel, yaxis_title="test accuracy (%)", template="plotly_white",
                      height=380, showlegend=False)
    if log_x:
        fig.update_xaxes(type="log")
    else:
        fig.update_xaxes(type="category" if any(isinstance(v, str) for v in x) else "linear")
    return fig


def validation_grid(record: Mapping[str, Any], scale: float = 100.0,
                    title: str = "Recorded sweep: validation accuracy of every configuration") -> go.Figure:
    """The grid stage of a recorded sweep (:mod:`gkl.experiments.distill.sweep`): per method and
    configuration the mean validation accuracy over the sweep seeds (line) and each seed (dots); the
    chosen configuration is the filled marker."""
    from gkl.methods.distill import DISTILLERS

    fig = go.Figure()
    grid = [r for r in record["rows"] if r["stage"] == "grid"]
    for m in record["grids"]:
        label = DISTILLERS[m].label if m in DISTILLERS else m
        ids = sorted({int(r["config_id"]) for r in grid if r["method"] == m})
        vals = {i: [float(r["val_acc"]) * scale for r in grid if r["method"] == m and int(r["config_id"]) == i] for i in ids}
        x = [f"{label} #{i + 1}" for i in ids]
        chosen = int(record["chosen"][m]["config_id"])
        colour = method_color(m, "#444444")
        fig.add_scatter(x=x, y=[sum(v) / len(v) for v in vals.values()], mode="lines+markers", name=label,
                        line=dict(color=colour),
                        marker=dict(size=[13 if i == chosen else 7 for i in ids],
                                    symbol=["circle" if i == chosen else "circle-open" for i in ids]))
        for xi, i in zip(x, ids):
            fig.add_scatter(x=[xi] * len(vals[i]), y=vals[i], mode="markers", showlegend=False,
                            marker=dict(color="black", size=4, symbol="x-thin-open"))
    # the legend above the plot, in one row: at the side it was cut at the column's edge
    fig.update_layout(title=title, yaxis_title="validation accuracy (%)", template="plotly_white", height=430,
                      xaxis_type="category", margin=dict(t=90),
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, xanchor="left"))
    return fig


def validation_curves(curves: Mapping[str, Mapping[int, Sequence[Sequence[float]]]], labels: Mapping[str, str],
                      chosen: Optional[int] = None, scale: float = 100.0,
                      title: str = "Recorded sweep: validation accuracy per epoch, by epoch budget") -> go.Figure:
    """One panel per method, one line per epoch budget (mean over the sweep seeds) of the recorded
    validation curves (:func:`gkl.experiments.protocol.curves`); the chosen budget is solid."""
    methods = list(curves)
    fig = make_subplots(rows=1, cols=len(methods), shared_yaxes=True,
                        subplot_titles=[labels.get(m, m) for m in methods])
    dashes = ["dot", "dash", "solid", "dashdot", "longdash"]
    for col, m in enumerate(methods, start=1):
        for j, (budget, runs) in enumerate(sorted(curves[m].items())):
            means, _ = column_mean_std([run[e] * scale for run in runs] for e in range(len(runs[0])))
            fig.add_scatter(x=list(range(1, len(means) + 1)), y=means, mode="lines", row=1, col=col,
                            name=f"{budget} epochs", legendgroup=str(budget), showlegend=col == 1,
                            line=dict(color=sequence_color(j), dash="solid" if budget == chosen else dashes[j % 5],
                                      width=2.5 if budget == chosen else 1.5))
    tail = [v * scale for m in methods for runs in curves[m].values() for run in runs for v in run[len(run) // 3:]]
    fig.update_layout(title=title, template="plotly_white", height=380)
    if tail:  # the plateau, not the first epochs, sets the range
        fig.update_yaxes(range=[min(tail) - 1.0, max(tail) + 0.5])
    fig.update_yaxes(title_text="validation accuracy (%)", row=1, col=1)
    fig.update_xaxes(title_text="epoch")
    return fig


def reported_kd_bars(table, group_cols: Sequence[str] = ("teacher", "student"), value: str = "top1",
                     title: str = "Reported by the authors") -> go.Figure:
    """Grouped bars of a reported KD table (:func:`gkl.reported.load`), one group per teacher→student pair."""
    groups = []
    for r in table:
        g = " → ".join(str(r[c]) for c in group_cols)
        if g not in groups:
            groups.append(g)
    methods = []
    for r in table:
        if r["method"] not in methods:
            methods.append(r["method"])
    fig = go.Figure()
    colours = method_colors(methods)
    for m in methods:
        ys = []
        for g in groups:
            hit = [r[value] for r in table if r["method"] == m and " → ".join(str(r[c]) for c in group_cols) == g]
            ys.append(hit[0] if hit else None)
        fig.add_bar(x=groups, y=ys, name=m, marker_color=colours[m], text=[f"{v:.2f}" if v is not None else "" for v in ys],
                    textposition="outside")
    vals = [r[value] for r in table]
    # bars start at zero (a cut axis makes a 1-point gap look like a doubling); the labels carry the gaps
    fig.update_layout(barmode="group", title=title + " — not reproduced here", yaxis_title=value, template="plotly_white",
                      yaxis_range=[0, max(vals) * 1.12], height=400)
    return fig


def robustbench_bars(table, title: str = "RobustBench, reported by the authors") -> go.Figure:
    """AutoAttack (top) and clean (bottom) accuracy per setting: GKL beside the strongest listed baseline."""
    settings: list[tuple[str, str, str]] = []
    for r in table:
        key = (r["dataset"], r["architecture"], r["training_data"])
        if key not in settings:
            settings.append(key)
    labels = [f"{d}<br>{a}<br>{t}" for d, a, t in settings]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=["AutoAttack accuracy (%)", "clean accuracy (%)"])
    for who, color in (("GKL", method_color("gkl")), ("baseline", ROLE_COLORS["baseline"])):
        rows = [[r for r in table if (r["dataset"], r["architecture"], r["training_data"]) == k
                 and ((r["method"] == "GKL") == (who == "GKL"))][0] for k in settings]
        names = [r["method"] for r in rows]
        for i, col in enumerate(("autoattack_acc", "clean_acc"), start=1):
            ys = [r[col] for r in rows]
            fig.add_bar(x=labels, y=ys, name="GKL" if who == "GKL" else "strongest baseline listed",
                        marker_color=color, text=[f"{n}<br>{v:.2f}" if who != "GKL" else f"{v:.2f}" for n, v in zip(names, ys)],
                        textposition="outside", showlegend=i == 1, legendgroup=who, row=i, col=1,
                        hovertemplate="%{x}<br>" + ("%{text}" if who != "GKL" else "GKL %{y:.2f}") + "<extra></extra>")
    fig.update_yaxes(range=[0, 100], row=1, col=1)  # from zero: the bar labels carry the differences
    fig.update_yaxes(range=[0, 115], row=2, col=1)
    fig.update_layout(barmode="group", title=title + " — not reproduced here", template="plotly_white", height=640,
                      legend=dict(orientation="h", y=-0.18), uniformtext_minsize=8)
    return fig
