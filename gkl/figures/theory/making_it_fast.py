r"""Figures of the chapter *Making it fast*: time and memory of the losses against the number of classes.

Both take the rows of :func:`gkl.bench.benchmark_losses`: :func:`benchmark_figure` (log-log lines)
and :func:`benchmark_table` (an HTML table with the pairwise / closed-form time ratio).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from gkl.figures.common import make_subplots, plotly_go
from gkl.figures.palette import ROLE_COLORS, sequence_color

__all__ = ["benchmark_figure", "benchmark_table"]


def benchmark_figure(rows: Sequence[Mapping[str, Any]]):
    """Time and peak memory against the number of classes, one line per implementation (log-log).

    ``rows`` in the format of :func:`gkl.bench.benchmark_losses` (keys ``impl``, ``classes``,
    ``batch``, ``median_ms``, ``peak_mib``). Two traces per implementation (time, memory).
    """
    go = plotly_go()
    if not rows:
        raise ValueError("rows is empty: nothing to plot")
    for key in ("impl", "classes", "median_ms", "peak_mib"):
        if key not in rows[0]:
            raise ValueError(f"benchmark rows need the key {key!r}")
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    names = {"gkl": "gkl (closed form, O(B·C))", "pairwise": "pairwise (B×C×C, as released)",
             "torch_kl_div": "F.kl_div", "torch_kl_div_log": "F.kl_div (log target)"}
    dashes = {"torch_kl_div_log": "dot"}
    fig = make_subplots(rows=1, cols=2, subplot_titles=("forward + backward time", "peak memory beyond inputs"))
    for i, impl in enumerate(impls):
        rs = sorted((r for r in rows if r["impl"] == impl), key=lambda r: r["classes"])
        colour = ROLE_COLORS.get(impl, sequence_color(i))
        C = [r["classes"] for r in rs]
        line = {"color": colour, "dash": dashes.get(impl)}
        fig.add_trace(go.Scatter(x=C, y=[r["median_ms"] for r in rs], mode="lines+markers", name=names.get(impl, impl),
                                 line=line, legendgroup=impl), row=1, col=1)
        fig.add_trace(go.Scatter(x=C, y=[max(r["peak_mib"], 1e-3) for r in rs], mode="lines+markers",
                                 name=names.get(impl, impl), line=line, legendgroup=impl,
                                 showlegend=False), row=1, col=2)
    fig.update_xaxes(type="log", title_text="number of classes C")
    fig.update_yaxes(type="log", title_text="median ms", row=1, col=1)
    fig.update_yaxes(type="log", title_text="MiB", row=1, col=2)
    batch = rows[0].get("batch")
    fig.update_layout(height=420, legend={"orientation": "h", "y": -0.25},
                      title_text=f"Loss cost against C (batch {batch})" if batch else "Loss cost against C")
    return fig


def benchmark_table(rows: Sequence[Mapping[str, Any]]):
    """An HTML table of :func:`gkl.bench.benchmark_losses` rows: one line per C, median ms and peak MiB
    per implementation, and the pairwise / closed-form time ratio. Returns an ``IPython.display.HTML``."""
    from html import escape

    from IPython.display import HTML

    from gkl.figures.markdown import ratio as ratio_text

    if not rows:
        raise ValueError("rows is empty: nothing to tabulate")
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    by = {(r["impl"], r["classes"]): r for r in rows}
    short = {"torch_kl_div": "kl_div", "torch_kl_div_log": "kl_div (log)"}
    head = ["C"] + [f"{short.get(i, i)} ms" for i in impls] + [f"{short.get(i, i)} MiB" for i in impls]
    ratio = "pairwise" in impls and "gkl" in impls
    if ratio:
        head.append("pairwise / gkl time")
    th = '<th style="padding:0 0.5em;text-align:right">'
    # a line may break after "_" in a long name (`gkl_prior MiB`): the table then fits a book column
    lines = ['<table style="font-size:0.85em">', "<thead><tr>" + "".join(f"{th}{escape(h).replace('_', '_<wbr>')}</th>"
                                                                         for h in head)
             + "</tr></thead>", "<tbody>"]
    for C in sorted({r["classes"] for r in rows}):
        cells = [str(C)]
        cells += [f"{by[(i, C)]['median_ms']:.3f}" if (i, C) in by else "" for i in impls]
        cells += [f"{by[(i, C)]['peak_mib']:.2f}" if (i, C) in by else "" for i in impls]
        if ratio:
            cells.append(ratio_text(by[("pairwise", C)]["median_ms"] / by[("gkl", C)]["median_ms"]))
        lines.append("<tr>" + "".join(f'<td style="padding:0 0.5em;text-align:right">{c}</td>' for c in cells) + "</tr>")
    lines += ["</tbody>", "</table>"]
    return HTML("\n".join(lines))
