r"""Figures of the chapter *The weight function*: GKL's pair weights and the curvature they set.

The weight matrix drawn by :func:`weight_function_figure` is

.. math:: w_{jk} = \frac{u_j^\gamma\, u_k^\gamma}{\big(\sum_j u_j^\gamma\big)^2}, \qquad u = \mathrm{softmax}(o_m/T),

and the curvature of :func:`curvature_figure` is
:math:`\partial^2 \mathrm{wMSE}/\partial o_n[i]^2 = v_i \sum_{k \ne i} v_k / (\sum_k v_k)^2` with
:math:`v = u^\gamma` (:func:`gkl.derivations.wmse_curvature`). The chapter's convergence figures are
:func:`gkl.figures.theory.asymmetry.convergence_figure`.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F

from gkl import toy
from gkl.figures.common import fmt, make_subplots, plotly_go, slider_figure
from gkl.figures.palette import ROLE_COLORS, sequence_color

__all__ = ["weight_function_figure", "curvature_figure"]


def weight_function_figure(
    teacher_logits: Any,
    gammas: Sequence[float] = (1.0, 0.6, 0.3, 0.1, 0.0),
    temperature: float = 1.0,
    active: int = 0,
):
    r"""Slider over :math:`\gamma`: the pair-weight matrix :math:`w = u^\gamma u^{\gamma\top}` (normalised)
    and each class's share of the total pair weight.

    Left: heat-map of :func:`gkl.toy.weight_matrix`; right: bars of the share :math:`\sum_k w_{jk}` of
    class :math:`j` next to the teacher's soft label :math:`u_j`. The title gives the weight of all
    pairs involving the top class :math:`t`, :math:`2\sum_k w_{tk} - w_{tt}`. Three traces per step.
    """
    go = plotly_go()
    om = toy.as_logit_vector(teacher_logits, "teacher_logits")
    C = om.numel()
    x = [str(i) for i in range(C)]
    u = F.softmax(om / temperature, 0)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.45, 0.55], horizontal_spacing=0.14,
                    subplot_titles=("pair weights w[j,k] (sum 1)", "share of the total weight per class"))
    steps, pos, titles = [], [], []
    for g in gammas:
        w = toy.weight_matrix(om, g, temperature)
        share = w.sum(1)
        pairs_top = float(w[u.argmax()].sum() * 2 - w[u.argmax(), u.argmax()])
        steps.append([
            # the colour scale follows each step (flat weights at small γ would be one dark block on
            # γ = 1's scale); the colour bar gives the values
            go.Heatmap(z=w.tolist(), x=x, y=x, colorscale="Viridis", zmin=0, zmax=float(w.max()),
                       colorbar={"x": 0.40, "xanchor": "left", "len": 0.9, "thickness": 12}, showscale=True),
            go.Bar(x=x, y=u.tolist(), name="teacher soft label u", marker_color=ROLE_COLORS["teacher"], opacity=0.5),
            go.Bar(x=x, y=share.tolist(), name="Σ_k w[j,k]", marker_color=ROLE_COLORS["wmse"]),
        ])
        pos.append([(1, 1), (1, 2), (1, 2)])
        titles.append(f"γ = {fmt(g)}: pairs involving the top class carry {pairs_top:.0%} of the weight")
    fig.update_yaxes(autorange="reversed", title_text="j", row=1, col=1)
    fig.update_xaxes(title_text="k", row=1, col=1)
    fig.update_xaxes(title_text="class j", row=1, col=2)
    # The bars' axis on the right: the gap between the panels holds only the heat-map's colour bar,
    # so its tick labels can never run into another axis's labels, at any width.
    fig.update_yaxes(range=[0, 1], side="right", title_text="weight", row=1, col=2)
    fig.update_layout(barmode="group", height=520)
    fig = slider_figure(fig, steps, [fmt(g) for g in gammas], "γ = ", active, titles, pos)
    fig.update_layout(title={"font": {"size": 14}, "x": 0.02, "xanchor": "left"})
    return fig


def curvature_figure(teacher_logits: Any, gammas: Sequence[float] | None = None, temperature: float = 1.0):
    r"""Curvature of the normalised wMSE for each class against :math:`\gamma` (one trace per class).

    Uses :func:`gkl.derivations.wmse_curvature` with :math:`v = \mathrm{softmax}(o_m/T)^\gamma`;
    classes are labelled by their teacher rank. The larger the curvature, the faster gradient descent
    closes that class's logit-gap error.
    """
    from gkl.derivations import wmse_curvature

    go = plotly_go()
    om = toy.as_logit_vector(teacher_logits, "teacher_logits")
    gs = torch.linspace(0, 1, 41, dtype=torch.float64) if gammas is None else torch.as_tensor(gammas, dtype=torch.float64)
    u = F.softmax(om / temperature, 0)
    curv = torch.stack([wmse_curvature(u.pow(float(g))) for g in gs])  # (G, C)
    order = u.argsort(descending=True).tolist()
    fig = go.Figure()
    for r, c in enumerate(order):
        fig.add_trace(go.Scatter(x=gs.tolist(), y=curv[:, c].tolist(), mode="lines",
                                 name=f"rank {r + 1} (u = {float(u[c]):.3f})",
                                 line={"color": sequence_color(r), "width": 3 if r < 2 else 1.5}))
    fig.update_layout(height=420, xaxis_title="γ", yaxis_title="∂²wMSE/∂o_n[i]²  (per unit β)",
                      title_text="How fast each class's logit gap is pulled in, against γ")
    return fig
