r"""Figures of the theory chapters (Part I of the book).

Every function returns a figure (:class:`plotly.graph_objects.Figure`) or a table
(``IPython.display.HTML``) for results computed elsewhere: the maths in :mod:`gkl.derivations`, the
toy experiments (fitting a student, convergence, learning-rate sweeps, pair weights, class priors on
data-parallel ranks) in :mod:`gkl.toy`, the loss benchmark in :mod:`gkl.bench`. This module calls
down into those, never the other way round.

Figures with a ``slider`` are interactive on the static website (no kernel needed): every slider
step switches which traces are visible (:func:`slider_figure`). The weight matrix drawn by
:func:`weight_function_figure` is

.. math:: w_{jk} = \frac{u_j^\gamma\, u_k^\gamma}{\big(\sum_j u_j^\gamma\big)^2}, \qquad u = \mathrm{softmax}(o_m/T),

and the curvature of :func:`curvature_figure` is
:math:`\partial^2 \mathrm{wMSE}/\partial o_n[i]^2 = v_i \sum_{k \ne i} v_k / (\sum_k v_k)^2` with
:math:`v = u^\gamma` (:func:`gkl.derivations.wmse_curvature`).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from gkl.core import losses as L
from gkl.derivations import autograd_gradients, mse_on_probabilities
from gkl import toy

__all__ = [
    "PALETTE",
    "slider_figure",
    "soft_label_temperature_figure",
    "kl_gradient_check_figure",
    "decoupling_gradient_figure",
    "decoupling_numeric_figure",
    "term_gradients_figure",
    "convergence_figure",
    "weight_function_figure",
    "curvature_figure",
    "class_prior_figure",
    "sample_vs_prior_weights_figure",
    "prior_sync_figure",
    "benchmark_figure",
    "benchmark_table",
]

#: One colour per concept, used across all theory figures.
PALETTE = {
    "teacher": "#1f77b4",
    "student": "#d62728",
    "kl": "#1f77b4",
    "dkl": "#ff7f0e",
    "mse_prob": "#7f7f7f",
    "wmse": "#2ca02c",
    "ce": "#9467bd",
    "gkl": "#2ca02c",
    "pairwise": "#d62728",
    "torch_kl_div": "#1f77b4",
    "torch_kl_div_log": "#17becf",
}
_SEQ = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def _go():
    import plotly.graph_objects as go

    return go


def _subplots(**kw):
    from plotly.subplots import make_subplots

    return make_subplots(**kw)


def _fmt(v: float) -> str:
    return f"{v:g}"


# --------------------------------------------------------------------------- slider helper


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


# --------------------------------------------------------------------------- KL in practice


def soft_label_temperature_figure(
    student_logits: Any,
    teacher_logits: Any,
    temperatures: Sequence[float] = (1, 2, 4, 8),
    class_names: Optional[Sequence[str]] = None,
    active: int = 0,
):
    r"""Slider over the temperature :math:`T`: soft labels of teacher and student, and the KL gradient.

    Top: :math:`\mathrm{softmax}(o_m/T)` and :math:`\mathrm{softmax}(o_n/T)`; bottom: the gradient
    :math:`\partial\mathrm{KL}/\partial o_n = (s_n - s_m)/T` that reaches the student. Three traces per step.
    """
    go = _go()
    om = toy.as_logit_vector(teacher_logits, "teacher_logits")
    on = toy.as_logit_vector(student_logits, "student_logits")
    if om.shape != on.shape:
        raise ValueError("student_logits and teacher_logits must have the same length")
    C = om.numel()
    names = list(class_names) if class_names is not None else [str(i) for i in range(C)]
    fig = _subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                    subplot_titles=("soft labels", "gradient on the student logits  ∂KL/∂o_n"))
    steps, titles, pos = [], [], []
    for T in temperatures:
        sm = F.softmax(om / T, 0)
        sn = F.softmax(on / T, 0)
        grad = (sn - sm) / T
        kl = float(L.kl_div(on[None], om[None], T))
        steps.append([
            go.Bar(x=names, y=sm.tolist(), name="teacher  softmax(o_m/T)", marker_color=PALETTE["teacher"]),
            go.Bar(x=names, y=sn.tolist(), name="student  softmax(o_n/T)", marker_color=PALETTE["student"]),
            go.Bar(x=names, y=grad.tolist(), name="(s_n − s_m)/T", marker_color=PALETTE["ce"]),
        ])
        pos.append([(1, 1), (1, 1), (2, 1)])
        titles.append(f"T = {_fmt(T)}:  KL(s_m‖s_n) = {kl:.4f},  T²·KL = {T * T * kl:.4f}")
    fig.update_layout(barmode="group", height=600)
    fig.update_yaxes(title_text="probability", row=1, col=1, range=[0, 1])
    fig.update_yaxes(title_text="gradient", row=2, col=1)
    return slider_figure(fig, steps, [_fmt(T) for T in temperatures], "T = ", active, titles, pos)


def kl_gradient_check_figure(hand: Sequence[Tensor], auto: Sequence[Tensor]):
    """Scatter of hand-derived vs autograd gradient entries (student, teacher) with the line y = x.

    ``hand`` and ``auto`` are ``(grad_student, grad_teacher)`` pairs (see
    :func:`gkl.derivations.kl_hand_gradients` and :func:`gkl.derivations.autograd_gradients`).
    """
    go = _go()
    fig = go.Figure()
    lo = hi = 0.0
    for (h, a, name, col) in ((hand[0], auto[0], "∂KL/∂o_n (student)", PALETTE["student"]),
                              (hand[1], auto[1], "∂KL/∂o_m (teacher)", PALETTE["teacher"])):
        x, y = a.detach().flatten().tolist(), h.detach().flatten().tolist()
        lo, hi = min(lo, *x, *y), max(hi, *x, *y)
        fig.add_trace(go.Scatter(x=x, y=y, mode="markers", name=name, marker={"color": col, "size": 6}))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="y = x",
                             line={"color": "black", "dash": "dot"}))
    fig.update_layout(xaxis_title="autograd through gkl.kl_div", yaxis_title="hand-derived formula",
                      height=420, title_text="Hand-derived gradients of KL against autograd")
    return fig


# --------------------------------------------------------------------------- decoupling


def decoupling_gradient_figure(
    student_logits: Any,
    teacher_logits: Any,
    shifts: Sequence[float] = (-4, -2, 0, 2, 4),
    temperature: float = 1.0,
    shifted_class: int = 0,
    active: Optional[int] = None,
):
    r"""Slider over a shift of one teacher logit: gradients of KL, DKL and ``nn.MSELoss`` on probabilities.

    Left: gradient with respect to the teacher logits :math:`o_m`; right: with respect to the student
    logits :math:`o_n`. KL and DKL bars coincide at every step; ``MSELoss`` on probabilities does
    not. Six traces per step (KL, DKL, MSE-prob on each side).
    """
    go = _go()
    om0 = toy.as_logit_vector(teacher_logits, "teacher_logits")
    on = toy.as_logit_vector(student_logits, "student_logits")
    C = om0.numel()
    x = [str(i) for i in range(C)]
    fig = _subplots(rows=1, cols=2, subplot_titles=("∂/∂o_m (teacher side)", "∂/∂o_n (student side)"))
    steps, titles, pos = [], [], []
    for sh in shifts:
        om = om0.clone()
        om[shifted_class] += sh
        kl_s, kl_t = autograd_gradients(L.kl_div, on[None], om[None], temperature=temperature)
        dk_s, dk_t = autograd_gradients(L.dkl, on[None], om[None], temperature=temperature)
        ms_s, ms_t = autograd_gradients(mse_on_probabilities, on[None], om[None], temperature=temperature)
        traces, p = [], []
        for col, (gk, gd, gm) in ((1, (kl_t, dk_t, ms_t)), (2, (kl_s, dk_s, ms_s))):
            first = col == 1
            traces += [
                go.Bar(x=x, y=gk[0].tolist(), name="KL", marker_color=PALETTE["kl"], showlegend=first,
                       legendgroup="kl"),
                go.Bar(x=x, y=gd[0].tolist(), name="DKL = wMSE + CE", marker_color=PALETTE["dkl"],
                       showlegend=first, legendgroup="dkl"),
                go.Bar(x=x, y=gm[0].tolist(), name="nn.MSELoss(softmax, softmax)", marker_color=PALETTE["mse_prob"],
                       showlegend=first, legendgroup="mse"),
            ]
            p += [(1, col)] * 3
        steps.append(traces)
        pos.append(p)
        kl = float(L.kl_div(on[None], om[None], temperature))
        d = float(L.dkl(on[None], om[None], temperature))
        m = float(mse_on_probabilities(on[None], om[None], temperature))
        titles.append(f"shift {_fmt(sh)}:  KL = {kl:.3f}, DKL = {d:.3f}, MSELoss(probs) = {m:.4f}")
    fig.update_layout(barmode="group", height=500)
    fig.update_xaxes(title_text="class")
    a = len(shifts) // 2 if active is None else active
    return slider_figure(fig, steps, [_fmt(s) for s in shifts], f"shift of teacher logit {shifted_class}: ",
                         a, titles, pos)


def decoupling_numeric_figure(rows: Sequence[Mapping[str, Any]]):
    """Largest gradient difference KL vs DKL against the number of classes (log axes).

    ``rows`` from :func:`gkl.derivations.decoupling_numeric_check`; also draws the largest gradient
    entry for scale. Three traces.
    """
    go = _go()
    C = [r["classes"] for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=C, y=[r["max_abs_grad"] for r in rows], mode="lines+markers",
                             name="largest |gradient| (scale)", line={"color": "black", "dash": "dot"}))
    fig.add_trace(go.Scatter(x=C, y=[max(r["max_abs_diff_teacher"], 1e-300) for r in rows], mode="lines+markers",
                             name="max |∂KL/∂o_m − ∂DKL/∂o_m|", marker_color=PALETTE["teacher"]))
    fig.add_trace(go.Scatter(x=C, y=[max(r["max_abs_diff_student"], 1e-300) for r in rows], mode="lines+markers",
                             name="max |∂KL/∂o_n − ∂DKL/∂o_n|", marker_color=PALETTE["student"]))
    fig.update_xaxes(type="log", title_text="number of classes C")
    fig.update_yaxes(type="log", exponentformat="power", title_text="absolute value")
    fig.update_layout(height=440, title_text="KL and DKL gradients agree to rounding error (float64)",
                      legend={"orientation": "h", "y": -0.25})
    return fig


# --------------------------------------------------------------------------- asymmetry


def term_gradients_figure(
    student_logits: Any,
    teacher_logits: Any,
    confidences: Sequence[float] = (0.5, 1, 2, 4),
    temperature: float = 1.0,
    gamma: float = 1.0,
    active: int = 1,
):
    r"""Slider over teacher confidence (a factor on the teacher logits): per-term gradients of one sample.

    Left panel: KL = DKL (stop-gradients as in the theorem); right: IKL/GKL (asymmetry broken).
    Each panel shows four bar traces per class: wMSE→teacher, wMSE→student, CE→teacher, CE→student.
    Eight traces per step.
    """
    go = _go()
    om0 = toy.as_logit_vector(teacher_logits, "teacher_logits")
    on = toy.as_logit_vector(student_logits, "student_logits")
    x = [str(i) for i in range(om0.numel())]
    label = "IKL (γ = 1)" if gamma == 1 else f"GKL (γ = {_fmt(gamma)})"
    fig = _subplots(rows=1, cols=2, subplot_titles=("KL = DKL (as in the theorem)", f"{label}: asymmetry broken"))
    style = {
        "wmse_teacher": ("wMSE → teacher o_m", PALETTE["wmse"], None),
        "wmse_student": ("wMSE → student o_n", PALETTE["wmse"], "/"),
        "ce_teacher": ("CE → teacher o_m", PALETTE["ce"], None),
        "ce_student": ("CE → student o_n", PALETTE["ce"], "/"),
    }
    steps, pos, titles = [], [], []
    for c in confidences:
        om = om0 * c
        traces, p = [], []
        for col, kind in ((1, "dkl"), (2, "gkl")):
            g = toy.term_gradients(on[None], om[None], kind, temperature, gamma)
            for key, (name, colour, pattern) in style.items():
                traces.append(go.Bar(x=x, y=g[key][0].tolist(), name=name, marker_color=colour,
                                     marker_pattern_shape=pattern, showlegend=col == 1, legendgroup=key))
                p.append((1, col))
        steps.append(traces)
        pos.append(p)
        top = float(F.softmax(om / temperature, 0).max())
        titles.append(f"teacher logits × {_fmt(c)}  (top soft-label score {top:.2f})")
    fig.update_layout(barmode="group", height=520)
    fig.update_xaxes(title_text="class")
    return slider_figure(fig, steps, [_fmt(c) for c in confidences], "teacher confidence × ", active, titles, pos)


def _band(go, x, mean, std, colour, name, showlegend=True, legendgroup=None, dash=None):
    lo = [m - s for m, s in zip(mean, std)]
    hi = [m + s for m, s in zip(mean, std)]
    group = legendgroup or name
    return [
        go.Scatter(x=list(x) + list(x)[::-1], y=hi + lo[::-1], fill="toself", fillcolor=colour, opacity=0.18,
                   line={"width": 0}, hoverinfo="skip", showlegend=False, legendgroup=group),
        go.Scatter(x=list(x), y=mean, mode="lines", name=name, line={"color": colour, "dash": dash},
                   showlegend=showlegend, legendgroup=group),
    ]


def convergence_figure(
    result: Mapping[str, Any],
    kind: str = "logit",
    log_y: bool = True,
    groups: Sequence[str] = ("top-1 class", "2nd class", "lower half"),
    y_min: float = 1e-4,
):
    """Per-group error against steps, one line (mean ± std band) per loss; one panel per class group.

    ``result`` from :func:`gkl.toy.convergence_experiment` (or the ``"best"`` entry of
    :func:`gkl.toy.lr_sweep`); ``kind`` is ``"logit"`` (centred-logit error) or ``"prob"`` (soft-label
    error). Two traces (band, mean) per loss per panel. On the log scale the
    axis starts at ``y_min`` so that runs that converge to rounding error do not squash the others.
    """
    go = _go()
    labels = list(result["results"])
    groups = list(groups)
    fig = _subplots(rows=1, cols=len(groups), subplot_titles=groups, shared_yaxes=True)
    x = result["steps"]
    for i, lab in enumerate(labels):
        colour = _SEQ[i % len(_SEQ)]
        for j, g in enumerate(groups):
            mean, std = result["results"][lab][kind][g]
            for tr in _band(go, x, mean, std, colour, lab, showlegend=j == 0):
                fig.add_trace(tr, row=1, col=j + 1)
    what = "|centred logit error|" if kind == "logit" else "|soft-label error|"
    fig.update_yaxes(title_text=f"mean {what}", row=1, col=1)
    if log_y:
        top = max((max(result["results"][lab][kind][g][0]) for lab in labels for g in groups), default=1.0)
        top = top if math.isfinite(top) and top > y_min else 10 * y_min
        fig.update_yaxes(type="log", exponentformat="power", range=[math.log10(y_min), math.log10(top * 1.5)])
    fig.update_xaxes(title_text="SGD step")
    s = result["settings"]
    fig.update_layout(height=420, legend={"orientation": "h", "y": -0.25},
                      title_text=f"{what} by teacher rank, mean ± std over {len(s['seeds'])} seeds")
    return fig


# --------------------------------------------------------------------------- weight function


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
    go = _go()
    om = toy.as_logit_vector(teacher_logits, "teacher_logits")
    C = om.numel()
    x = [str(i) for i in range(C)]
    u = F.softmax(om / temperature, 0)
    fig = _subplots(rows=1, cols=2, column_widths=[0.45, 0.55], horizontal_spacing=0.14,
                    subplot_titles=("pair weights w[j,k] (sum 1)", "share of the total weight per class"))
    zmax = float(toy.weight_matrix(om, 1.0, temperature).max())  # one colour scale for every step
    steps, pos, titles = [], [], []
    for g in gammas:
        w = toy.weight_matrix(om, g, temperature)
        share = w.sum(1)
        pairs_top = float(w[u.argmax()].sum() * 2 - w[u.argmax(), u.argmax()])
        steps.append([
            go.Heatmap(z=w.tolist(), x=x, y=x, colorscale="Viridis", zmin=0, zmax=zmax,
                       colorbar={"x": 0.41, "len": 0.9, "thickness": 12}, showscale=True),
            go.Bar(x=x, y=u.tolist(), name="teacher soft label u", marker_color=PALETTE["teacher"], opacity=0.5),
            go.Bar(x=x, y=share.tolist(), name="Σ_k w[j,k]", marker_color=PALETTE["wmse"]),
        ])
        pos.append([(1, 1), (1, 2), (1, 2)])
        titles.append(f"γ = {_fmt(g)}: pairs involving the top class carry {pairs_top:.0%} of the weight")
    fig.update_yaxes(autorange="reversed", title_text="j", row=1, col=1)
    fig.update_xaxes(title_text="k", row=1, col=1)
    fig.update_xaxes(title_text="class j", row=1, col=2)
    fig.update_yaxes(range=[0, 1], row=1, col=2)
    fig.update_layout(barmode="group", height=520)
    return slider_figure(fig, steps, [_fmt(g) for g in gammas], "γ = ", active, titles, pos)


def curvature_figure(teacher_logits: Any, gammas: Sequence[float] | None = None, temperature: float = 1.0):
    r"""Curvature of the normalised wMSE for each class against :math:`\gamma` (one trace per class).

    Uses :func:`gkl.derivations.wmse_curvature` with :math:`v = \mathrm{softmax}(o_m/T)^\gamma`;
    classes are labelled by their teacher rank. The larger the curvature, the faster gradient descent
    closes that class's logit-gap error.
    """
    from gkl.derivations import wmse_curvature

    go = _go()
    om = toy.as_logit_vector(teacher_logits, "teacher_logits")
    gs = torch.linspace(0, 1, 41, dtype=torch.float64) if gammas is None else torch.as_tensor(gammas, dtype=torch.float64)
    u = F.softmax(om / temperature, 0)
    curv = torch.stack([wmse_curvature(u.pow(float(g))) for g in gs])  # (G, C)
    order = u.argsort(descending=True).tolist()
    fig = go.Figure()
    for r, c in enumerate(order):
        fig.add_trace(go.Scatter(x=gs.tolist(), y=curv[:, c].tolist(), mode="lines",
                                 name=f"rank {r + 1} (u = {float(u[c]):.3f})",
                                 line={"color": _SEQ[r % len(_SEQ)], "width": 3 if r < 2 else 1.5}))
    fig.update_layout(height=420, xaxis_title="γ", yaxis_title="∂²wMSE/∂o_n[i]²  (per unit β)",
                      title_text="How fast each class's logit gap is pulled in, against γ")
    return fig


# --------------------------------------------------------------------------- class prior


def class_prior_figure(prior: Tensor, class_names: Optional[Sequence[str]] = None, title: str = "class prior"):
    """Heat-map of a ``(C, C)`` class prior (row = true class, column = class of the soft label)."""
    go = _go()
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
    go = _go()
    K, C = sample_logits.shape
    fig = _subplots(rows=1, cols=K, subplot_titles=list(labels), shared_yaxes=True)
    x = [str(i) for i in range(C)]
    u = F.softmax(sample_logits.double() / temperature, 1)
    for k in range(K):
        fig.add_trace(go.Bar(x=x, y=u[k].tolist(), name="sample-wise softmax(o_m/T)", marker_color=PALETTE["teacher"],
                             showlegend=k == 0), row=1, col=k + 1)
        fig.add_trace(go.Bar(x=x, y=prior_rows[k].double().tolist(), name="class prior row P[y]",
                             marker_color=PALETTE["wmse"], showlegend=k == 0), row=1, col=k + 1)
    fig.update_layout(barmode="group", height=380, legend={"orientation": "h", "y": -0.3})
    fig.update_yaxes(range=[0, 1], title_text="weight u", row=1, col=1)
    return fig


def prior_sync_figure(shards: Mapping[str, Any]):
    """Heat-maps of each rank's local prior and of the all-reduced prior (one trace each).

    ``shards`` from :func:`gkl.toy.shard_priors`.
    """
    go = _go()
    mats = [*shards["local"], shards["synced"]]
    titles = [f"rank {r}, no all-reduce" for r in range(len(shards["local"]))] + ["every rank, with all-reduce"]
    fig = _subplots(rows=1, cols=len(mats), subplot_titles=titles, horizontal_spacing=0.04)
    for i, P in enumerate(mats):
        fig.add_trace(go.Heatmap(z=P.double().tolist(), colorscale="Viridis", zmin=0, zmax=1, showscale=i == len(mats) - 1),
                      row=1, col=i + 1)
        fig.update_yaxes(autorange="reversed", row=1, col=i + 1, showticklabels=i == 0)
    fig.update_layout(height=360, title_text=f"The class prior on {len(shards['local'])} data-parallel ranks")
    return fig


# --------------------------------------------------------------------------- speed


def benchmark_figure(rows: Sequence[Mapping[str, Any]]):
    """Time and peak memory against the number of classes, one line per implementation (log-log).

    ``rows`` in the format of :func:`gkl.bench.benchmark_losses` (keys ``impl``, ``classes``,
    ``batch``, ``median_ms``, ``peak_mib``). Two traces per implementation (time, memory).
    """
    go = _go()
    if not rows:
        raise ValueError("rows is empty: nothing to plot")
    for key in ("impl", "classes", "median_ms", "peak_mib"):
        if key not in rows[0]:
            raise ValueError(f"benchmark rows need the key {key!r}")
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    names = {"gkl": "gkl (closed form, O(B·C))", "pairwise": "pairwise (B×C×C, as released)",
             "torch_kl_div": "F.kl_div", "torch_kl_div_log": "F.kl_div (log target)"}
    dashes = {"torch_kl_div_log": "dot"}
    fig = _subplots(rows=1, cols=2, subplot_titles=("forward + backward time", "peak memory beyond inputs"))
    for i, impl in enumerate(impls):
        rs = sorted((r for r in rows if r["impl"] == impl), key=lambda r: r["classes"])
        colour = PALETTE.get(impl, _SEQ[i % len(_SEQ)])
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
    lines = ['<table style="font-size:0.85em">', "<thead><tr>" + "".join(f"{th}{escape(h)}</th>" for h in head)
             + "</tr></thead>", "<tbody>"]
    for C in sorted({r["classes"] for r in rows}):
        cells = [str(C)]
        cells += [f"{by[(i, C)]['median_ms']:.3f}" if (i, C) in by else "" for i in impls]
        cells += [f"{by[(i, C)]['peak_mib']:.2f}" if (i, C) in by else "" for i in impls]
        if ratio:
            cells.append(f"{by[('pairwise', C)]['median_ms'] / by[('gkl', C)]['median_ms']:.1f}×")
        lines.append("<tr>" + "".join(f'<td style="padding:0 0.5em;text-align:right">{c}</td>' for c in cells) + "</tr>")
    lines += ["</tbody>", "</table>"]
    return HTML("\n".join(lines))
