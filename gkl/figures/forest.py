"""Forest plots: paired differences with their 95 % intervals, one row per comparison.

A sub-point gap is drawn as what it is — a difference with an interval around it, against a line at
zero — never as two bars from zero. Each row also marks the comparison's minimum detectable effect
(±MDE, grey ticks), so a reader sees at once whether an interval that crosses zero comes from a
small effect or from an experiment too weak to see one.
"""

from __future__ import annotations

from typing import Optional, Sequence

from gkl.experiments.stats import PairedDifference
from gkl.figures.common import plotly_go
from gkl.figures.palette import ROLE_COLORS, method_color

__all__ = ["forest_plot"]


def forest_plot(rows: Sequence[tuple[str, PairedDifference]], title: Optional[str] = None, scale: float = 100.0,
                unit: str = "points"):
    """One row per ``(label, difference)``: the mean difference ``b − a`` (× ``scale``) with its 95 %
    interval, coloured by the verdict, and ±MDE ticks. Rows without an interval (too few seeds, or no
    spread) show the mean alone, hollow."""
    go = plotly_go()
    fig = go.Figure()
    labels = [label for label, _ in rows][::-1]  # first row on top
    for label, d in rows:
        color = method_color("GKL") if d.verdict == "ahead" else (
            ROLE_COLORS["blackbox"] if d.verdict == "behind" else ROLE_COLORS["baseline"])
        has_ci = d.low is not None and d.high is not None
        err = dict(type="data", symmetric=False, array=[scale * (d.high - d.mean)],
                   arrayminus=[scale * (d.mean - d.low)], thickness=2, width=6) if has_ci else None
        fig.add_trace(go.Scatter(
            x=[scale * d.mean], y=[label], mode="markers", error_x=err, showlegend=False,
            marker=dict(size=11, color=color if has_ci else "white", line=dict(color=color, width=2)),
            hovertemplate=(f"{label}<br>{d.b} − {d.a}: %{{x:+.2f}} {unit}<br>95 % CI {d.interval_text(scale, 2)}"
                           f"<br>MDE {d.mde_text(scale, 2)}<br>{d.verdict}<extra></extra>")))
        if d.mde is not None:
            fig.add_trace(go.Scatter(
                x=[-scale * d.mde, scale * d.mde], y=[label, label], mode="markers", showlegend=False,
                marker=dict(symbol="line-ns-open", size=14, color=ROLE_COLORS["baseline"], line=dict(width=2)),
                hovertemplate=f"±MDE {d.mde_text(scale, 2)} {unit}<extra></extra>"))
    fig.add_vline(x=0, line=dict(color="black", width=1))
    fig.update_yaxes(categoryorder="array", categoryarray=labels, automargin=True)
    fig.update_layout(
        title=title, xaxis_title=f"difference ({unit}): dot mean, bar 95 % CI, ticks ±MDE",
        height=max(260, 90 + 46 * len(rows)), margin=dict(l=10, r=20, t=50 if title else 20, b=50),
        template="plotly_white")
    return fig
