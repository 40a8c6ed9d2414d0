"""What the figure modules share: lazy plotly, the kernel-free slider, mean ± std bands.

* :func:`slider_figure` — figures with a slider are interactive on the static website (no kernel
  needed): every slider step switches which traces are visible.
* :func:`band` — a mean line with a shaded ± std band (two traces); :func:`column_mean_std` computes
  mean and std over seeds with :func:`gkl.experiments.stats.mean_std`, the book's one mean ± std
  (sample std; 0 for a single seed).

plotly is imported on first use, so importing a figure module costs nothing until it draws.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

from gkl.experiments.stats import mean_std
from gkl.figures.palette import rgba

__all__ = ["plotly_go", "make_subplots", "fmt", "slider_figure", "band", "column_mean_std"]


def plotly_go():
    """``plotly.graph_objects``, imported on first use."""
    import plotly.graph_objects as go

    return go


def make_subplots(**kw: Any):
    """``plotly.subplots.make_subplots``, imported on first use."""
    from plotly.subplots import make_subplots as make

    return make(**kw)


def fmt(v: float) -> str:
    """A number as a slider label or title shows it (``f"{v:g}"``)."""
    return f"{v:g}"


def column_mean_std(columns: Iterable[Sequence[float]]) -> tuple[list[float], list[float]]:
    """Per column (e.g. per epoch, one value per seed): mean and std by :func:`gkl.experiments.stats.mean_std`."""
    pairs = [mean_std(col) for col in columns]
    return [m for m, _ in pairs], [s for _, s in pairs]


def band(
    x: Sequence[Any],
    mean: Sequence[float],
    std: Sequence[float],
    colour: str,
    name: str,
    *,
    mode: str = "lines",
    showlegend: bool = True,
    legendgroup: Optional[str] = None,
    dash: Optional[str] = None,
    hovertemplate: Optional[str] = None,
    visible: bool = True,
    alpha: float = 0.18,
) -> list:
    """Two scatter traces: the band ``mean ± std`` (filled, no legend) and the ``mean`` line."""
    go = plotly_go()
    x = list(x)
    lo = [m - s for m, s in zip(mean, std)]
    hi = [m + s for m, s in zip(mean, std)]
    group = legendgroup or name
    return [
        go.Scatter(x=x + x[::-1], y=hi + lo[::-1], fill="toself", fillcolor=rgba(colour, alpha), line={"width": 0},
                   hoverinfo="skip", showlegend=False, legendgroup=group, visible=visible),
        go.Scatter(x=x, y=list(mean), mode=mode, name=name, line={"color": colour, "dash": dash},
                   showlegend=showlegend, legendgroup=group, visible=visible, hovertemplate=hovertemplate),
    ]


def slider_figure(
    fig,
    traces_per_step: Sequence[Sequence[Any]],
    labels: Sequence[str],
    prefix: str,
    active: int = 0,
    titles: Optional[Sequence[str]] = None,
    positions: Optional[Sequence[Sequence[tuple[int, int]]]] = None,
):
    """Add one group of traces per slider step to ``fig`` and a slider that shows one group at a time.

    Args:
        fig: a (possibly sub-plotted) figure, without data yet.
        traces_per_step: ``traces_per_step[i]`` are the traces of step ``i`` (same count each step).
        labels: slider label of each step.
        prefix: text before the current value (e.g. ``"T = "``).
        active: the step shown first.
        titles: optional figure title per step (updated by the slider).
        positions: optional ``(row, col)`` per trace per step, for subplots.

    Works without a kernel: each step's ``update`` sets trace visibility (and the title).
    """
    n_steps = len(traces_per_step)
    if n_steps == 0 or len(labels) != n_steps:
        raise ValueError("need at least one step and one label per step")
    per = len(traces_per_step[0])
    if any(len(t) != per for t in traces_per_step):
        raise ValueError("every slider step needs the same number of traces")
    for i, traces in enumerate(traces_per_step):
        for j, tr in enumerate(traces):
            tr.visible = i == active
            if positions is not None:
                r, c = positions[i][j]
                fig.add_trace(tr, row=r, col=c)
            else:
                fig.add_trace(tr)
    steps = []
    for i, lab in enumerate(labels):
        visible = [k // per == i for k in range(n_steps * per)]
        args: list[dict] = [{"visible": visible}]
        args.append({"title.text": titles[i]} if titles is not None else {})
        steps.append({"method": "update", "label": lab, "args": args})
    fig.update_layout(
        sliders=[{"active": active, "currentvalue": {"prefix": prefix}, "pad": {"t": 50}, "steps": steps}],
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.12, "x": 0, "xanchor": "left"},
        margin={"t": 150},
    )
    if titles is not None:
        # Anchored at the top of the figure, so a legend of two rows (above the plots) cannot overlap it.
        fig.update_layout(title={"text": titles[active], "y": 0.99, "yanchor": "top"})
    return fig
