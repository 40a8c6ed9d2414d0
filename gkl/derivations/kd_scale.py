r"""The scale of the two terms in KD: why released GKL settings weight the wMSE as they do.

Applied to :math:`o/T`, the decoupling theorem splits KD's :math:`T^2\,\mathrm{KL}(s_m^T \| s_n^T)`
into a soft-label CE at temperature :math:`T` with weight :math:`T^2` and a wMSE with weight
:math:`T^2` on *scaled* gaps,

.. math::

   & T^2 \cdot \tfrac14 \sum_{j,k} w_{jk}\Big(\frac{\Delta m_{jk}}{T} - \frac{S(\Delta n_{jk})}{T}\Big)^2 \\
   &\quad = \tfrac14 \sum_{j,k} w_{jk}\big(\Delta m_{jk} - S(\Delta n_{jk})\big)^2,
   \qquad w = S(s_m^T \otimes s_m^T),

i.e. a wMSE on **raw** logit differences with weight **1**. So GKL with :math:`\alpha = T^2`,
:math:`\beta = 1`, :math:`\gamma = 1`, :math:`T_2 = T` and no prior has the value of
:math:`T^2\,\mathrm{DKL}` and is :math:`T^2\,\mathrm{KL}` with the asymmetry broken: its gradient
with respect to the teacher logits equals that of :math:`T^2\,\mathrm{KL}`; with respect to the
student it is :math:`T^2\,\mathrm{KL}`'s student gradient (carried by the CE alone) **plus** the
wMSE's, which is minus :math:`T^2\,\mathrm{KL}`'s teacher gradient (:func:`kd_scale_proof`,
:func:`kd_scale_check`). Released settings weight the wMSE against the CE :math:`(\beta/\alpha)\,T^2`
times as much as KL does (:func:`relative_wmse_weight`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor

from gkl.core.losses import dkl, gkl, kl_div
from gkl.derivations.numeric import autograd_gradients
from gkl.derivations.symbolic import (
    _simplify_zero,
    _sp,
    dkl_expr,
    kl_expr,
    logit_symbols,
    softmax_expr,
    stop_gradient_diff,
)

__all__ = ["KDScaleProof", "kd_scale_proof", "kd_scale_check", "relative_wmse_weight", "relative_wmse_weights"]


@dataclass
class KDScaleProof:
    r"""Result of :func:`kd_scale_proof` (lists indexed by class; every entry is 0 when it holds).

    * ``value_difference``: :math:`T^2\,\mathrm{wMSE}_T - \mathrm{wMSE}_{raw}` (one expression).
    * ``student_difference``: :math:`\partial(T^2\mathrm{KL})/\partial o_n[i] - \partial(T^2\,\mathrm{CE}_T)/\partial o_n[i]`.
    * ``teacher_difference``: :math:`\partial(T^2\mathrm{KL})/\partial o_m[i] - \partial\,\mathrm{wMSE}_{raw}/\partial o_m[i]`.
    * ``broken_student_difference``: :math:`\partial\,\mathrm{wMSE}^{live}_{raw}/\partial o_n[i] + \partial(T^2\mathrm{KL})/\partial o_m[i]`,
      where :math:`\mathrm{wMSE}^{live}` lets the gradient reach :math:`o_n` (GKL): the extra student gradient of
      the broken asymmetry is minus KL's teacher gradient.
    """

    num_classes: int
    temperature: Any
    value_difference: Any
    student_difference: list
    teacher_difference: list
    broken_student_difference: list

    @property
    def holds(self) -> bool:
        diffs = [self.value_difference] + self.student_difference + self.teacher_difference
        return all(d == 0 for d in diffs + self.broken_student_difference)


def kd_scale_proof(num_classes: int = 2, symbolic_temperature: bool = True) -> KDScaleProof:
    r"""Prove symbolically that :math:`T^2\,\mathrm{KL}` = CE with weight :math:`T^2` + raw-logit wMSE with weight 1.

    With fully symbolic logits (and a positive symbol :math:`T` unless ``symbolic_temperature`` is
    false, then :math:`T = 3`), for every class :math:`i`: the student gradient of
    :math:`T^2\,\mathrm{KL}(s_m^T\|s_n^T)` equals that of :math:`T^2\,\mathrm{CE}_T`; its teacher
    gradient equals that of the wMSE on raw logit differences
    :math:`\tfrac14\sum_{jk} S(s_m^T[j] s_m^T[k])(\Delta m_{jk} - S(\Delta n_{jk}))^2`; that wMSE equals
    :math:`T^2` times the DKL wMSE on :math:`o/T` (value); and with the stop-gradient on
    :math:`\Delta n` removed (GKL), the wMSE's student gradient is minus the teacher gradient of
    :math:`T^2\,\mathrm{KL}`. Fast for 2 classes; 3 classes take seconds.
    """
    sp = _sp()
    C = num_classes
    om, on = logit_symbols(C, "m"), logit_symbols(C, "n")
    fm, fn = logit_symbols(C, r"\tilde{m}"), logit_symbols(C, r"\tilde{n}")
    T = sp.Symbol("T", positive=True) if symbolic_temperature else sp.Integer(3)
    frozen = {**dict(zip(fm, om)), **dict(zip(fn, on))}
    kl2 = T**2 * kl_expr(on, om, T)
    wmse_T, ce_T = dkl_expr(on, om, fn, fm, T)
    w = softmax_expr(fm, T)  # S(s_m^T)

    def raw_wmse(student):
        return sp.Rational(1, 4) * sum(
            w[j] * w[k] * ((om[j] - om[k]) - (student[j] - student[k])) ** 2 for j in range(C) for k in range(C)
        )

    raw_frozen, raw_live = raw_wmse(fn), raw_wmse(on)  # S(Δn) as in KL / Δn live as in GKL
    logits = om + on

    def zero(e):
        return _simplify_zero(e.subs(frozen), logits, T)

    value = _simplify_zero(sp.expand((T**2 * wmse_T - raw_frozen).subs(frozen)), logits, T)
    kl_n = [stop_gradient_diff(kl2, v, frozen) for v in on]
    kl_m = [stop_gradient_diff(kl2, v, frozen) for v in om]
    student = [zero(a - stop_gradient_diff(T**2 * ce_T, v, frozen)) for a, v in zip(kl_n, on)]
    teacher = [zero(a - stop_gradient_diff(raw_frozen, v, frozen)) for a, v in zip(kl_m, om)]
    broken = [zero(stop_gradient_diff(raw_live, v, frozen) + a) for a, v in zip(kl_m, on)]
    return KDScaleProof(C, T, value, student, teacher, broken)


def kd_scale_check(
    classes: Sequence[int] = (2, 10, 100),
    batch: int = 8,
    temperature: float = 4.0,
    scale: float = 5.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> list[dict]:
    r"""Check numerically, with autograd through :func:`gkl.gkl` and :func:`gkl.kl_div`, that GKL with
    :math:`\alpha = T^2, \beta = 1, \gamma = 1, T_2 = T` and no prior is :math:`T^2\,\mathrm{KL}` with the
    asymmetry broken.

    Logits are ``scale * randn`` in ``dtype``. One row per number of classes; ``rel_value`` and every
    ``max_abs_*`` entry (a largest absolute difference) are 0 up to rounding when the statement holds:

    * ``rel_value``: relative difference of GKL's value and :math:`T^2\,\mathrm{DKL}` at :math:`T`
      (:func:`gkl.dkl`; the values agree);
    * ``teacher``: GKL's teacher gradient minus :math:`T^2\,\mathrm{KL}`'s (equal);
    * ``ce_student``: the student gradient of GKL's CE alone (:math:`\beta = 0`) minus :math:`T^2\,\mathrm{KL}`'s (equal);
    * ``student``: GKL's student gradient minus (:math:`T^2\,\mathrm{KL}`'s student gradient **minus** its teacher
      gradient) — the broken asymmetry adds exactly the mirror of the teacher gradient;

    plus ``wmse_student_grad`` (size of that extra student gradient: not zero, the wMSE does move the
    student) and ``max_abs_grad`` (size of :math:`T^2\,\mathrm{KL}`'s gradients, for scale).
    """
    gen = torch.Generator().manual_seed(seed)
    T = float(temperature)
    rows = []

    def kl2(s: Tensor, t: Tensor) -> Tensor:
        return T * T * kl_div(s, t, T)

    def g(s: Tensor, t: Tensor, beta: float = 1.0) -> Tensor:
        return gkl(s, t, alpha=T * T, beta=beta, gamma=1.0, temperature=T, weight_temperature=T)

    for C in classes:
        s = scale * torch.randn(batch, C, generator=gen, dtype=dtype)
        t = scale * torch.randn(batch, C, generator=gen, dtype=dtype)
        ks, kt = autograd_gradients(kl2, s, t)
        gs, gt = autograd_gradients(g, s, t)
        cs, _ = autograd_gradients(lambda a, b: g(a, b, beta=0.0), s, t)
        rows.append(
            {
                "classes": int(C),
                "rel_value": abs(float(g(s, t)) / (T * T * float(dkl(s, t, T))) - 1.0),
                "max_abs_teacher": float((gt - kt).abs().max()),
                "max_abs_ce_student": float((cs - ks).abs().max()),
                "max_abs_student": float((gs - (ks - kt)).abs().max()),
                "wmse_student_grad": float((gs - cs).abs().max()),
                "max_abs_grad": float(torch.cat([ks.abs().flatten(), kt.abs().flatten()]).max()),
            }
        )
    return rows


def relative_wmse_weight(alpha: float, beta: float, temperature: float) -> float:
    r"""How much more a setting weights the wMSE against the soft-label CE than KL itself does:
    :math:`(\beta/\alpha)\,T^2`.

    :math:`T^2\,\mathrm{KL}` weights the CE by :math:`T^2` and the raw-logit wMSE by 1 (ratio
    :math:`1/T^2`); GKL/IKL weight them by ``alpha`` and ``beta`` (ratio :math:`\beta/\alpha`). E.g.
    64 at :math:`T = 4, \alpha = 1, \beta = 4` (released resnet56 → resnet20), 256 with
    :math:`\beta = 16` (resnet32x4 → resnet8x4); 1 means KL's own balance. With the class prior or
    :math:`\gamma < 1` the weights' shape differs from KL's, but GKL normalises the wMSE by its total
    weight, so :math:`\beta` still scales a weighted mean of squared gaps, as KL's weight 1 does.
    """
    for name, v in (("alpha", alpha), ("beta", beta), ("temperature", temperature)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number, got {v!r}")
    if alpha <= 0 or temperature <= 0 or beta < 0:
        raise ValueError(f"need alpha > 0, beta >= 0, temperature > 0; got {alpha}, {beta}, {temperature}")
    return float(beta) / float(alpha) * float(temperature) ** 2


def relative_wmse_weights(rows: Sequence[Mapping[str, Any]], keys: Sequence[str] = ("method", "dataset", "teacher", "student")) -> list[dict]:
    r""":func:`relative_wmse_weight` of each row (e.g. of ``gkl.reported.load("released_configs")``).

    Each output row keeps ``keys`` and adds ``alpha``, ``beta``, ``T``, ``CE weight / KD's`` (:math:`\alpha/T^2`),
    ``wMSE weight / KD's`` (:math:`\beta`) and ``wMSE:CE / KL's`` (:math:`(\beta/\alpha)T^2`).
    """
    out = []
    for r in rows:
        a, b, T = float(r["alpha"]), float(r["beta"]), float(r["temperature"])
        out.append({**{k: r.get(k) for k in keys}, "alpha": a, "beta": b, "T": T,
                    "CE weight / KD's": a / T**2, "wMSE weight / KD's": b,
                    "wMSE:CE / KL's": relative_wmse_weight(a, b, T)})
    return out
