"""Figures of the distillation chapters (plotly): accuracies, learning curves, loss terms,
calibration, sweeps and the authors' reported tables.

Every function takes plain data (run histories, summaries from :func:`gkl.distill.summarize`,
:class:`gkl.reported.ReportedTable`) and returns a :class:`plotly.graph_objects.Figure`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "COLORS",
    "accuracy_bars",
    "learning_curves",
    "loss_term_curves",
    "reliability_diagram",
    "sweep_plot",
    "reported_kd_bars",
    "robustbench_bars",
    "Rich",
    "show",
    "markdown_to_html",
]

#: One colour per method, the same in every figure.
COLORS = {
    "none": "#7f7f7f",
    "student alone": "#7f7f7f",
    "teacher": "#000000",
    "kd": "#1f77b4",
    "dkd": "#ff7f0e",
    "ikl": "#2ca02c",
    "gkl": "#d62728",
}
_PALETTE = ["#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def _color(label: str, i: int = 0) -> str:
    return COLORS.get(label.lower(), _PALETTE[i % len(_PALETTE)])


def _mean_std(columns: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
    means, stds = [], []
    for col in columns:
        n = len(col)
        m = sum(col) / n
        means.append(m)
        stds.append(math.sqrt(sum((v - m) ** 2 for v in col) / (n - 1)) if n > 1 else 0.0)
    return means, stds


def accuracy_bars(rows: Sequence[Mapping[str, Any]], title: str = "Test accuracy (last epoch)", scale: float = 100.0,
                  reference: Optional[Mapping[str, float]] = None) -> go.Figure:
    """Bars of mean ± std (rows of :func:`gkl.distill.summarize`) with every seed as a dot.

    ``reference``: horizontal lines, label -> value (e.g. the teacher's accuracy).
    """
    fig = go.Figure()
    for i, r in enumerate(rows):
        label = str(r["method"])
        fig.add_bar(
            x=[label], y=[r["mean"] * scale], name=label, marker_color=_color(label, i),
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
    for m_i, m in enumerate(metrics):
        count = 0
        for i, (label, runs) in enumerate(histories.items()):
            if not runs or m not in runs[0][-1]:
                continue
            epochs = [h["epoch"] for h in runs[0]]
            k = 1.0 if m == "train_loss" else scale
            means, stds = _mean_std([[run[e][m] * k for run in runs] for e in range(len(epochs))])
            c = _color(label, i)
            upper = [a + b for a, b in zip(means, stds)]
            lower = [a - b for a, b in zip(means, stds)]
            fig.add_scatter(x=epochs + epochs[::-1], y=upper + lower[::-1], fill="toself", fillcolor=c, opacity=0.15,
                            line=dict(width=0), hoverinfo="skip", showlegend=False, visible=m_i == 0, legendgroup=label)
            fig.add_scatter(x=epochs, y=means, mode="lines", name=label, line=dict(color=c), visible=m_i == 0,
                            legendgroup=label)
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
            if name not in term_colors:
                term_colors[name] = _PALETTE[len(term_colors) % len(_PALETTE)] if name != "ce" else "#7f7f7f"
            means, _ = _mean_std([[run[e][term] for run in runs] for e in range(len(epochs))])
            fig.add_scatter(x=epochs, y=means, mode="lines", name=name, line=dict(color=term_colors[name]),
                            legendgroup=name, showlegend=name not in [t.name for t in fig.data],
                            row=i // cols + 1, col=i % cols + 1)
    fig.update_yaxes(type="log")
    fig.update_layout(title=title, template="plotly_white", height=300 * rows)
    return fig


def reliability_diagram(reports: Mapping[str, Mapping[str, Any]], title: str = "Calibration (reliability diagram)") -> go.Figure:
    """Accuracy against confidence per bin for each model (:func:`gkl.distill.student_report`), ECE in the legend."""
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="black"), name="perfect calibration")
    for i, (label, r) in enumerate(reports.items()):
        xs = [c for c, n in zip(r["bin_conf"], r["bin_count"]) if n > 0]
        ys = [a for a, n in zip(r["bin_acc"], r["bin_count"]) if n > 0]
        fig.add_scatter(x=xs, y=ys, mode="lines+markers", name=f"{label} (ECE {100 * r['ece']:.1f}%)",
                        line=dict(color=_color(label, i)))
    fig.update_layout(title=title, xaxis_title="confidence", yaxis_title="accuracy", template="plotly_white",
                      height=420, xaxis_range=[0, 1.02], yaxis_range=[0, 1.02])
    return fig


def sweep_plot(x: Sequence[Any], rows: Sequence[Mapping[str, Any]], xlabel: str, title: str,
               baselines: Optional[Mapping[str, Mapping[str, Any]]] = None, scale: float = 100.0,
               log_x: bool = False) -> go.Figure:
    """Mean ± std (error bars) of a hyper-parameter sweep; ``baselines``: label -> summary row (bands)."""
    fig = go.Figure()
    for i, (label, r) in enumerate((baselines or {}).items()):
        c = _color(label, i)
        m, s = r["mean"] * scale, r["std"] * scale
        fig.add_hrect(y0=m - s, y1=m + s, fillcolor=c, opacity=0.12, line_width=0)
        fig.add_hline(y=m, line_color=c, line_dash="dash", annotation_text=f"{label} {m:.1f}",
                      annotation_position="bottom right")
    fig.add_scatter(x=list(x), y=[r["mean"] * scale for r in rows], mode="lines+markers", name="mean ± std",
                    error_y=dict(type="data", array=[r["std"] * scale for r in rows], visible=True),
                    line=dict(color=COLORS["gkl"]))
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
    for i, m in enumerate(methods):
        ys = []
        for g in groups:
            hit = [r[value] for r in table if r["method"] == m and " → ".join(str(r[c]) for c in group_cols) == g]
            ys.append(hit[0] if hit else None)
        fig.add_bar(x=groups, y=ys, name=m, marker_color=_color(m, i), text=[f"{v:.2f}" if v is not None else "" for v in ys],
                    textposition="outside")
    vals = [r[value] for r in table]
    fig.update_layout(barmode="group", title=title + " — not reproduced here", yaxis_title=value, template="plotly_white",
                      yaxis_range=[min(vals) - 2, max(vals) + 1.5], height=400)
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
    for who, color in (("GKL", COLORS["gkl"]), ("baseline", "#8c564b")):
        rows = [[r for r in table if (r["dataset"], r["architecture"], r["training_data"]) == k
                 and ((r["method"] == "GKL") == (who == "GKL"))][0] for k in settings]
        names = [r["method"] for r in rows]
        for i, col in enumerate(("autoattack_acc", "clean_acc"), start=1):
            ys = [r[col] for r in rows]
            fig.add_bar(x=labels, y=ys, name="GKL" if who == "GKL" else "strongest baseline listed",
                        marker_color=color, text=[f"{n}<br>{v:.2f}" if who != "GKL" else f"{v:.2f}" for n, v in zip(names, ys)],
                        textposition="outside", showlegend=i == 1, legendgroup=who, row=i, col=1,
                        hovertemplate="%{x}<br>" + ("%{text}" if who != "GKL" else "GKL %{y:.2f}") + "<extra></extra>")
    fig.update_yaxes(range=[25, 75], row=1, col=1)
    fig.update_yaxes(range=[55, 100], row=2, col=1)
    fig.update_layout(barmode="group", title=title + " — not reproduced here", template="plotly_white", height=640,
                      legend=dict(orientation="h", y=-0.18), uniformtext_minsize=8)
    return fig


class Rich:
    """A small Markdown text (paragraphs, ``* `` lists, pipe tables, ``**bold**``, ```code```) shown as
    HTML in notebooks and on the website (where Markdown *outputs* are rendered without tables)."""

    def __init__(self, markdown: str) -> None:
        self.markdown = markdown

    def _repr_markdown_(self) -> str:
        return self.markdown

    def _repr_html_(self) -> str:
        return markdown_to_html(self.markdown)

    def __repr__(self) -> str:
        return self.markdown


def show(markdown: str) -> Rich:
    """Display helper of the chapters: ``show(text)`` as the last expression of a cell."""
    return Rich(markdown)


def _inline(text: str) -> str:
    import html
    import re

    t = html.escape(text, quote=False)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)
    return t


def markdown_to_html(markdown: str) -> str:
    """Convert the small Markdown subset of :class:`Rich` to HTML."""
    out: list[str] = []
    lines = markdown.strip().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            head, body = block[0], [r for r in block[1:] if not all(set(c) <= set("-: ") for c in r)]
            out.append("<table class='table'><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head)
                       + "</tr></thead><tbody>"
                       + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body)
                       + "</tbody></table>")
        elif line.startswith("* "):
            items = []
            while i < len(lines) and lines[i].startswith("* "):
                items.append(lines[i][2:])
                i += 1
            out.append("<ul>" + "".join(f"<li>{_inline(t)}</li>" for t in items) + "</ul>")
        elif not line.strip():
            i += 1
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(("|", "* ")):
                para.append(lines[i])
                i += 1
            out.append(f"<p>{_inline(' '.join(para))}</p>")
    return "\n".join(out)
