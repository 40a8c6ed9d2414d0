r"""Figures of the chapter *KL in practice*: soft labels at a temperature and the KL gradient.

:func:`soft_label_temperature_figure` draws :math:`\mathrm{softmax}(o/T)` of teacher and student and the
gradient :math:`(s_n - s_m)/T` on a slider over :math:`T`; :func:`kl_gradient_check_figure` checks the
hand-derived gradients of :mod:`gkl.derivations` against autograd.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch.nn.functional as F
from torch import Tensor

from gkl import toy
from gkl.core import losses as L
from gkl.figures.common import fmt, make_subplots, plotly_go, slider_figure
from gkl.figures.palette import ROLE_COLORS

__all__ = ["soft_label_temperature_figure", "kl_gradient_check_figure"]


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
    go = plotly_go()
    om = toy.as_logit_vector(teacher_logits, "teacher_logits")
    on = toy.as_logit_vector(student_logits, "student_logits")
    if om.shape != on.shape:
        raise ValueError("student_logits and teacher_logits must have the same length")
    C = om.numel()
    names = list(class_names) if class_names is not None else [str(i) for i in range(C)]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                    subplot_titles=("soft labels", "gradient on the student logits  ∂KL/∂o_n"))
    steps, titles, pos = [], [], []
    for T in temperatures:
        sm = F.softmax(om / T, 0)
        sn = F.softmax(on / T, 0)
        grad = (sn - sm) / T
        kl = float(L.kl_div(on[None], om[None], T))
        steps.append([
            go.Bar(x=names, y=sm.tolist(), name="teacher  softmax(o_m/T)", marker_color=ROLE_COLORS["teacher"]),
            go.Bar(x=names, y=sn.tolist(), name="student  softmax(o_n/T)", marker_color=ROLE_COLORS["student"]),
            go.Bar(x=names, y=grad.tolist(), name="(s_n − s_m)/T", marker_color=ROLE_COLORS["ce"]),
        ])
        pos.append([(1, 1), (1, 1), (2, 1)])
        titles.append(f"T = {fmt(T)}:  KL(s_m‖s_n) = {kl:.4f},  T²·KL = {T * T * kl:.4f}")
    fig.update_layout(barmode="group", height=600)
    fig.update_yaxes(title_text="probability", row=1, col=1, range=[0, 1])
    fig.update_yaxes(title_text="gradient", row=2, col=1)
    return slider_figure(fig, steps, [fmt(T) for T in temperatures], "T = ", active, titles, pos)


def kl_gradient_check_figure(hand: Sequence[Tensor], auto: Sequence[Tensor]):
    """Scatter of hand-derived vs autograd gradient entries (student, teacher) with the line y = x.

    ``hand`` and ``auto`` are ``(grad_student, grad_teacher)`` pairs (see
    :func:`gkl.derivations.kl_hand_gradients` and :func:`gkl.derivations.autograd_gradients`).
    """
    go = plotly_go()
    fig = go.Figure()
    lo = hi = 0.0
    for (h, a, name, col) in ((hand[0], auto[0], "∂KL/∂o_n (student)", ROLE_COLORS["student"]),
                              (hand[1], auto[1], "∂KL/∂o_m (teacher)", ROLE_COLORS["teacher"])):
        x, y = a.detach().flatten().tolist(), h.detach().flatten().tolist()
        lo, hi = min(lo, *x, *y), max(hi, *x, *y)
        fig.add_trace(go.Scatter(x=x, y=y, mode="markers", name=name, marker={"color": col, "size": 6}))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="y = x",
                             line={"color": "black", "dash": "dot"}))
    fig.update_layout(xaxis_title="autograd through gkl.kl_div", yaxis_title="hand-derived formula",
                      height=420, title_text="Hand-derived gradients of KL against autograd")
    return fig
