r"""Figures of the chapter *Decoupling*: KL and DKL (= wMSE + CE) agree gradient by gradient.

:func:`decoupling_gradient_figure` shifts one teacher logit on a slider and draws the gradients of
KL, DKL and ``nn.MSELoss`` on probabilities; :func:`decoupling_numeric_figure` draws the largest
KL − DKL gradient difference against the number of classes (from
:func:`gkl.derivations.decoupling_numeric_check`).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from gkl import toy
from gkl.core import losses as L
from gkl.derivations import autograd_gradients, mse_on_probabilities
from gkl.figures.common import fmt, make_subplots, plotly_go, slider_figure
from gkl.figures.palette import ROLE_COLORS

__all__ = ["decoupling_gradient_figure", "decoupling_numeric_figure"]


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
    go = plotly_go()
    om0 = toy.as_logit_vector(teacher_logits, "teacher_logits")
    on = toy.as_logit_vector(student_logits, "student_logits")
    C = om0.numel()
    x = [str(i) for i in range(C)]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("∂/∂o_m (teacher side)", "∂/∂o_n (student side)"))
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
                go.Bar(x=x, y=gk[0].tolist(), name="KL", marker_color=ROLE_COLORS["kl"], showlegend=first,
                       legendgroup="kl"),
                go.Bar(x=x, y=gd[0].tolist(), name="DKL = wMSE + CE", marker_color=ROLE_COLORS["dkl"],
                       showlegend=first, legendgroup="dkl"),
                go.Bar(x=x, y=gm[0].tolist(), name="nn.MSELoss(softmax, softmax)", marker_color=ROLE_COLORS["mse_prob"],
                       showlegend=first, legendgroup="mse"),
            ]
            p += [(1, col)] * 3
        steps.append(traces)
        pos.append(p)
        kl = float(L.kl_div(on[None], om[None], temperature))
        d = float(L.dkl(on[None], om[None], temperature))
        m = float(mse_on_probabilities(on[None], om[None], temperature))
        titles.append(f"shift {fmt(sh)}:  KL = {kl:.3f}, DKL = {d:.3f}, MSELoss(probs) = {m:.4f}")
    fig.update_layout(barmode="group", height=500)
    fig.update_xaxes(title_text="class")
    a = len(shifts) // 2 if active is None else active
    return slider_figure(fig, steps, [fmt(s) for s in shifts], f"shift of teacher logit {shifted_class}: ",
                         a, titles, pos)


def decoupling_numeric_figure(rows: Sequence[Mapping[str, Any]]):
    """Largest gradient difference KL vs DKL against the number of classes (log axes).

    ``rows`` from :func:`gkl.derivations.decoupling_numeric_check`; also draws the largest gradient
    entry for scale. Three traces.
    """
    go = plotly_go()
    C = [r["classes"] for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=C, y=[r["max_abs_grad"] for r in rows], mode="lines+markers",
                             name="largest |gradient| (scale)", line={"color": "black", "dash": "dot"}))
    fig.add_trace(go.Scatter(x=C, y=[max(r["max_abs_diff_teacher"], 1e-300) for r in rows], mode="lines+markers",
                             name="max |∂KL/∂o_m − ∂DKL/∂o_m|", marker_color=ROLE_COLORS["teacher"]))
    fig.add_trace(go.Scatter(x=C, y=[max(r["max_abs_diff_student"], 1e-300) for r in rows], mode="lines+markers",
                             name="max |∂KL/∂o_n − ∂DKL/∂o_n|", marker_color=ROLE_COLORS["student"]))
    fig.update_xaxes(type="log", title_text="number of classes C")
    fig.update_yaxes(type="log", exponentformat="power", title_text="absolute value")
    fig.update_layout(height=440, title_text="KL and DKL gradients agree to rounding error (float64)",
                      legend={"orientation": "h", "y": -0.25})
    return fig
