r"""Figures of the chapter *The class prior*: the prior, per-sample against prior weights, and ranks.

:func:`class_prior_figure` draws a :math:`C \times C` prior (row: true class); :func:`sample_vs_prior_weights_figure`
puts a sample's own soft label beside its class's prior row; :func:`prior_sync_figure` draws each
data-parallel rank's prior with and without the all-reduce (:func:`gkl.toy.shard_priors`).
"""

from __future__ import annotations

import textwrap
from typing import Any, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from gkl.figures.common import make_subplots, plotly_go
from gkl.figures.palette import ROLE_COLORS

__all__ = ["class_prior_figure", "sample_vs_prior_weights_figure", "prior_sync_figure"]


def class_prior_figure(prior: Tensor, class_names: Optional[Sequence[str]] = None, title: str = "class prior"):
    """Heat-map of a ``(C, C)`` class prior (row = true class, column = class of the soft label)."""
    go = plotly_go()
    P = torch.as_tensor(prior, dtype=torch.float64)
    if P.dim() != 2 or P.shape[0] != P.shape[1]:
        raise ValueError(f"prior must be a square matrix, got shape {tuple(P.shape)}")
    names = list(class_names) if class_names is not None else [str(i) for i in range(P.shape[0])]
    fig = go.Figure(go.Heatmap(z=P.tolist(), x=names, y=names, colorscale="Viridis", zmin=0, zmax=1,
                               text=[[f"{v:.2f}" for v in row] for row in P.tolist()], texttemplate="%{text}"))
    fig.update_yaxes(autorange="reversed", title_text="true class c (row)")
    fig.update_xaxes(title_text="soft-label class")
    fig.update_layout(height=480, width=560, title_text=title)
    return fig


def sample_vs_prior_weights_figure(
    sample_logits: Tensor, prior_rows: Tensor, labels: Sequence[str], temperature: float = 1.0
):
    """Per-sample weights :math:`\\mathrm{softmax}(o_m/T)` next to the class-prior weights, one panel per sample.

    ``sample_logits``: ``(K, C)`` teacher logits of K samples; ``prior_rows``: ``(K, C)`` prior row of
    each sample's class; ``labels``: K panel titles. Two traces per panel.
    """
    go = plotly_go()
    K, C = sample_logits.shape
    # Panel titles wrapped to the panel's width: side by side, one-line titles run into each other.
    titles = ["<br>".join(textwrap.wrap(str(label), max(12, 66 // max(K, 1)))) for label in labels]
    fig = make_subplots(rows=1, cols=K, subplot_titles=titles, shared_yaxes=True, horizontal_spacing=0.06)
    x = [str(i) for i in range(C)]
    u = F.softmax(sample_logits.double() / temperature, 1)
    for k in range(K):
        fig.add_trace(go.Bar(x=x, y=u[k].tolist(), name=f"per-sample weights softmax(o_m/{temperature:g})",
                             marker_color=ROLE_COLORS["teacher"], showlegend=k == 0), row=1, col=k + 1)
        fig.add_trace(go.Bar(x=x, y=prior_rows[k].double().tolist(), name="class prior row P[y]",
                             marker_color=ROLE_COLORS["wmse"], showlegend=k == 0), row=1, col=k + 1)
    fig.update_layout(barmode="group", height=400, margin={"t": 90},
                      legend={"orientation": "h", "y": -0.25, "x": 0, "xanchor": "left"})
    fig.update_annotations(font_size=12)  # the panel titles
    fig.update_xaxes(title_text="class", title_standoff=4)
    fig.update_yaxes(range=[0, 1], title_text="weight u", row=1, col=1)
    return fig


def prior_sync_figure(shards: Mapping[str, Any]):
    """Heat-maps of each rank's local prior and of the all-reduced prior (one trace each).

    ``shards`` from :func:`gkl.toy.shard_priors`.
    """
    go = plotly_go()
    mats = [*shards["local"], shards["synced"]]
    titles = [f"rank {r}: local" for r in range(len(shards["local"]))] + ["all-reduced"]
    fig = make_subplots(rows=1, cols=len(mats), subplot_titles=titles, horizontal_spacing=0.05)
    for i, P in enumerate(mats):
        fig.add_trace(go.Heatmap(z=P.double().tolist(), colorscale="Viridis", zmin=0, zmax=1, showscale=i == len(mats) - 1),
                      row=1, col=i + 1)
        fig.update_yaxes(autorange="reversed", row=1, col=i + 1, showticklabels=i == 0)
        fig.update_xaxes(title_text="soft-label class", title_font_size=11, row=1, col=i + 1)
    fig.update_yaxes(title_text="true class", row=1, col=1)
    # Two short lines: a one-line title is wider than the book's column and gets cut.
    fig.update_layout(height=420, margin={"t": 100},
                      title={"text": f"The class prior on {len(shards['local'])} data-parallel ranks<br>"
                                     "<span style='font-size:13px'>each rank's own (left) and after the "
                                     "all-reduce (right)</span>", "x": 0.02, "xanchor": "left"})
    fig.update_annotations(font_size=12)  # the panel titles
    return fig
