r"""Figures of the chapter *The asymmetry*: which term moves which side, and what it does to convergence.

:func:`term_gradients_figure` draws, per class, the gradients of the wMSE and the CE term on the
teacher and the student logits, KL (= DKL) against IKL/GKL, on a slider over teacher confidence.
:func:`convergence_figure` draws the toy experiment of :func:`gkl.toy.convergence_experiment`
(also used by the chapter *The weight function* for :func:`gkl.toy.lr_sweep`).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch.nn.functional as F

from gkl import toy
from gkl.figures.common import band, fmt, make_subplots, plotly_go, slider_figure
from gkl.figures.palette import ROLE_COLORS, sequence_color

__all__ = ["term_gradients_figure", "convergence_figure"]


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
    go = plotly_go()
    om0 = toy.as_logit_vector(teacher_logits, "teacher_logits")
    on = toy.as_logit_vector(student_logits, "student_logits")
    x = [str(i) for i in range(om0.numel())]
    label = "IKL (γ = 1)" if gamma == 1 else f"GKL (γ = {fmt(gamma)})"
    fig = make_subplots(rows=1, cols=2, subplot_titles=("KL = DKL (as in the theorem)", f"{label}: asymmetry broken"))
    style = {
        "wmse_teacher": ("wMSE → teacher o_m", ROLE_COLORS["wmse"], None),
        "wmse_student": ("wMSE → student o_n", ROLE_COLORS["wmse"], "/"),
        "ce_teacher": ("CE → teacher o_m", ROLE_COLORS["ce"], None),
        "ce_student": ("CE → student o_n", ROLE_COLORS["ce"], "/"),
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
        titles.append(f"teacher logits × {fmt(c)}  (top soft-label score {top:.2f})")
    fig.update_layout(barmode="group", height=520)
    fig.update_xaxes(title_text="class")
    return slider_figure(fig, steps, [fmt(c) for c in confidences], "teacher confidence × ", active, titles, pos)


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
    labels = list(result["results"])
    groups = list(groups)
    fig = make_subplots(rows=1, cols=len(groups), subplot_titles=groups, shared_yaxes=True)
    x = result["steps"]
    for i, lab in enumerate(labels):
        colour = sequence_color(i)
        for j, g in enumerate(groups):
            mean, std = result["results"][lab][kind][g]
            for tr in band(x, mean, std, colour, lab, showlegend=j == 0):
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
