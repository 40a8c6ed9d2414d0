r"""The maths of the book as code: sympy derivations and hand-derived gradients.

Everything the theory chapters *derive* is built here, so that tests can check it symbolically
(sympy) and numerically (against torch autograd through :mod:`gkl.losses`).

Notation (as in :mod:`gkl.losses`): :math:`o_m` are the *teacher* (reference) logits, :math:`o_n` the
*student* logits (the side being trained), :math:`s = \mathrm{softmax}(o/T)`,
:math:`d = (o_m - o_n)/T`.

**Stop-gradient in sympy.** :math:`S(x)` has the value of :math:`x` and zero derivative. A symbolic
expression with stop-gradients is written with a second, *frozen* copy of the logit symbols
(:math:`\tilde o_m, \tilde o_n`) wherever :math:`S(\cdot)` appears; a gradient is then
:math:`\partial/\partial o` of that expression followed by the substitution
:math:`\tilde o \to o` (:func:`stop_gradient_diff`).

**Hand-derived gradients of** :math:`\mathrm{KL}(s_m \| s_n)` (one sample):

.. math::

   \frac{\partial\,\mathrm{KL}}{\partial o_n[i]} = \frac{s_n[i] - s_m[i]}{T}, \qquad
   \frac{\partial\,\mathrm{KL}}{\partial o_m[i]} = \frac{s_m[i]}{T}\Big(d_i - \sum_k s_m[k]\, d_k\Big).

The first is the gradient of the soft-label cross-entropy, the second that of the weighted MSE
(see :func:`decoupling_proof`).

**The scale of the two terms in KD** (:func:`kd_scale_proof`, :func:`kd_scale_check`). Applied to
:math:`o/T`, the theorem splits KD's :math:`T^2\,\mathrm{KL}(s_m^T \| s_n^T)` into a soft-label CE at
temperature :math:`T` with weight :math:`T^2` and a wMSE with weight :math:`T^2` on *scaled* gaps,

.. math::

   T^2 \cdot \tfrac14 \sum_{j,k} w_{jk}\Big(\frac{\Delta m_{jk}}{T} - \frac{S(\Delta n_{jk})}{T}\Big)^2
   = \tfrac14 \sum_{j,k} w_{jk}\big(\Delta m_{jk} - S(\Delta n_{jk})\big)^2,
   \qquad w = S(s_m^T \otimes s_m^T),

i.e. a wMSE on **raw** logit differences with weight **1**. So GKL with :math:`\alpha = T^2`,
:math:`\beta = 1`, :math:`\gamma = 1`, :math:`T_2 = T` and no prior has the value of
:math:`T^2\,\mathrm{DKL}` and is :math:`T^2\,\mathrm{KL}` with the asymmetry broken: its gradient
with respect to the teacher logits equals that of :math:`T^2\,\mathrm{KL}`; with respect to the
student it is :math:`T^2\,\mathrm{KL}`'s student gradient (carried by the CE alone) **plus** the
wMSE's, which is minus :math:`T^2\,\mathrm{KL}`'s teacher gradient. Released settings weight the
wMSE against the CE :math:`(\beta/\alpha)\,T^2` times as much as KL does
(:func:`relative_wmse_weight`).

sympy is imported lazily (only the symbolic functions need it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from gkl.core.losses import dkl, gkl, kl_div

__all__ = [
    "logit_symbols",
    "softmax_expr",
    "log_softmax_expr",
    "kl_expr",
    "dkl_expr",
    "stop_gradient_diff",
    "DecouplingProof",
    "decoupling_proof",
    "closed_form_identity",
    "wmse_variance_identity",
    "kl_hand_gradients",
    "autograd_gradients",
    "decoupling_numeric_check",
    "pairwise_sq_sum_explicit",
    "pairwise_sq_sum_naive",
    "closed_form_precision",
    "wmse_curvature",
    "mse_on_probabilities",
    "wmse_vs_mse_on_probabilities",
    "KDScaleProof",
    "kd_scale_proof",
    "kd_scale_check",
    "relative_wmse_weight",
    "relative_wmse_weights",
]


# --------------------------------------------------------------------------- symbolic (sympy)


def _sp():
    import sympy

    return sympy


def logit_symbols(num_classes: int, name: str) -> tuple:
    """``num_classes`` real sympy symbols ``name_0 .. name_{C-1}``."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    sp = _sp()
    return tuple(sp.symbols(f"{name}_0:{num_classes}", real=True))


def softmax_expr(logits: Sequence, temperature: Any = 1) -> list:
    r""":math:`\mathrm{softmax}(o/T)` as a list of sympy expressions."""
    sp = _sp()
    z = sum(sp.exp(o / temperature) for o in logits)
    return [sp.exp(o / temperature) / z for o in logits]


def log_softmax_expr(logits: Sequence, temperature: Any = 1) -> list:
    r""":math:`\log\mathrm{softmax}(o/T)_i = o_i/T - \log\sum_k e^{o_k/T}` (written without log∘exp)."""
    sp = _sp()
    log_z = sp.log(sum(sp.exp(o / temperature) for o in logits))
    return [o / temperature - log_z for o in logits]


def kl_expr(student: Sequence, teacher: Sequence, temperature: Any = 1):
    r""":math:`\mathrm{KL}(s_m\|s_n) = \sum_i s_m[i]\,(\log s_m[i] - \log s_n[i])` for one sample."""
    sm = softmax_expr(teacher, temperature)
    lm = log_softmax_expr(teacher, temperature)
    ln = log_softmax_expr(student, temperature)
    return sum(p * (a - b) for p, a, b in zip(sm, lm, ln))


def dkl_expr(
    student: Sequence,
    teacher: Sequence,
    frozen_student: Sequence,
    frozen_teacher: Sequence,
    temperature: Any = 1,
) -> tuple:
    r"""The two DKL terms for one sample, stop-gradients written with frozen symbols.

    .. math::

       \mathrm{wMSE} = \tfrac14 \sum_{j,k} S(s_m[j]s_m[k])\big(\Delta m_{jk} - S(\Delta n_{jk})\big)^2,
       \qquad \mathrm{CE} = -\sum_i S(s_m[i]) \log s_n[i],

    on logits divided by :math:`T`. Returns ``(wmse, ce)``; differentiate with :func:`stop_gradient_diff`.
    """
    sp = _sp()
    C = len(student)
    w = softmax_expr(frozen_teacher, temperature)  # S(s_m)
    zm = [o / temperature for o in teacher]
    zn = [o / temperature for o in frozen_student]  # S(o_n / T)
    wmse = sp.Rational(1, 4) * sum(
        w[j] * w[k] * ((zm[j] - zm[k]) - (zn[j] - zn[k])) ** 2 for j in range(C) for k in range(C)
    )
    ln = log_softmax_expr(student, temperature)
    ce = -sum(p * q for p, q in zip(w, ln))
    return wmse, ce


def stop_gradient_diff(expr, wrt, frozen: dict):
    r""":math:`\partial\,\mathrm{expr}/\partial\,\mathrm{wrt}`, then frozen symbols replaced by live ones.

    ``frozen`` maps each frozen symbol to the live symbol it stands for (value equal, gradient zero).
    """
    sp = _sp()
    return sp.diff(expr, wrt).subs(frozen)


def _simplify_zero(expr, logits: Sequence, temperature: Any):
    """Simplify an expression that should vanish.

    Each :math:`e^{o_i/T}` becomes a positive symbol, making the expression a rational function in
    those symbols and the logits; ``cancel`` then decides whether it is identically 0 (numerator
    expands to 0). Falls back to ``simplify`` for whatever is left.
    """
    sp = _sp()
    x = sp.symbols(f"x_0:{len(logits)}", positive=True)
    out = sp.cancel(sp.together(expr.subs({sp.exp(o / temperature): xi for o, xi in zip(logits, x)})))
    return sp.Integer(0) if out == 0 else sp.simplify(expr)


@dataclass
class DecouplingProof:
    r"""Result of :func:`decoupling_proof` for ``num_classes`` classes (lists indexed by class).

    ``*_teacher`` are gradients with respect to :math:`o_m`, ``*_student`` with respect to
    :math:`o_n`. ``difference_*`` hold ``simplify(grad KL - grad DKL)``; ``hand_difference_*`` hold
    ``simplify(grad KL - hand-derived formula)``. The theorem holds when all of them are 0.
    """

    num_classes: int
    teacher: tuple
    student: tuple
    temperature: Any
    kl_teacher: list
    kl_student: list
    wmse_teacher: list
    wmse_student: list
    ce_teacher: list
    ce_student: list
    difference_teacher: list
    difference_student: list
    hand_difference_teacher: list
    hand_difference_student: list

    @property
    def holds(self) -> bool:
        """True when every symbolic difference simplified to exactly 0."""
        diffs = self.difference_teacher + self.difference_student
        diffs += self.hand_difference_teacher + self.hand_difference_student
        return all(d == 0 for d in diffs)


def decoupling_proof(num_classes: int, symbolic_temperature: bool = False) -> DecouplingProof:
    r"""Prove :math:`\nabla \mathrm{KL} = \nabla \mathrm{DKL}` with fully symbolic logits.

    For every class :math:`i`, sympy simplifies
    :math:`\partial \mathrm{KL}/\partial o_m[i] - \partial(\mathrm{wMSE}+\mathrm{CE})/\partial o_m[i]`
    and the same for :math:`o_n[i]`; both must be 0. It also checks the hand-derived formulas of the
    module docstring. With ``symbolic_temperature`` the temperature is a positive symbol :math:`T`
    (slower; fine for :math:`C \le 3`), else :math:`T = 1`.
    """
    sp = _sp()
    C = num_classes
    om = logit_symbols(C, "m")
    on = logit_symbols(C, "n")
    fm = logit_symbols(C, r"\tilde{m}")
    fn = logit_symbols(C, r"\tilde{n}")
    T = sp.Symbol("T", positive=True) if symbolic_temperature else sp.Integer(1)
    frozen = {**dict(zip(fm, om)), **dict(zip(fn, on))}

    kl = kl_expr(on, om, T)
    wmse, ce = dkl_expr(on, om, fn, fm, T)

    def grads(expr, wrt):
        return [stop_gradient_diff(expr, v, frozen) for v in wrt]

    kl_m, kl_n = grads(kl, om), grads(kl, on)
    wm_m, wm_n = grads(wmse, om), grads(wmse, on)
    ce_m, ce_n = grads(ce, om), grads(ce, on)
    diff_m = [_simplify_zero(a - b - c, om + on, T) for a, b, c in zip(kl_m, wm_m, ce_m)]
    diff_n = [_simplify_zero(a - b - c, om + on, T) for a, b, c in zip(kl_n, wm_n, ce_n)]

    sm, sn = softmax_expr(om, T), softmax_expr(on, T)
    d = [(a - b) / T for a, b in zip(om, on)]
    dbar = sum(p * x for p, x in zip(sm, d))
    hand_m = [sm[i] / T * (d[i] - dbar) for i in range(C)]
    hand_n = [(sn[i] - sm[i]) / T for i in range(C)]
    hd_m = [_simplify_zero(a - b, om + on, T) for a, b in zip(kl_m, hand_m)]
    hd_n = [_simplify_zero(a - b, om + on, T) for a, b in zip(kl_n, hand_n)]
    return DecouplingProof(C, om, on, T, kl_m, kl_n, wm_m, wm_n, ce_m, ce_n, diff_m, diff_n, hd_m, hd_n)


def closed_form_identity(num_classes: int) -> tuple:
    r"""The O(C) identity of the weighted MSE, with symbolic weights :math:`v \ge 0` and gaps :math:`d`.

    .. math::

       \sum_{j,k} v_j v_k (d_j - d_k)^2 = 2\Big(\sum_j v_j\Big)\Big(\sum_j v_j d_j^2\Big) - 2\Big(\sum_j v_j d_j\Big)^2 .

    Returns ``(pairwise, closed, difference)`` with ``difference = expand(pairwise - closed)``
    (0 when the identity holds).
    """
    sp = _sp()
    C = num_classes
    v = tuple(sp.symbols(f"v_0:{C}", nonnegative=True))
    d = logit_symbols(C, "d")
    pairwise = sum(v[j] * v[k] * (d[j] - d[k]) ** 2 for j in range(C) for k in range(C))
    closed = 2 * sum(v) * sum(vi * di**2 for vi, di in zip(v, d)) - 2 * sum(vi * di for vi, di in zip(v, d)) ** 2
    return pairwise, closed, sp.expand(pairwise - closed)


def wmse_variance_identity(num_classes: int) -> tuple:
    r"""With softmax weights (:math:`\sum_j s_j = 1`) the wMSE is half a weighted variance.

    .. math:: \tfrac14\sum_{j,k} s_j s_k (d_j-d_k)^2 = \tfrac12 \sum_j s_j\,(d_j - \bar d)^2,\quad \bar d = \sum_j s_j d_j .

    Returns ``(pairwise, variance_form, simplified_difference)``.
    """
    sp = _sp()
    C = num_classes
    o = logit_symbols(C, "m")
    d = logit_symbols(C, "d")
    s = softmax_expr(o)
    dbar = sum(a * b for a, b in zip(s, d))
    pairwise = sp.Rational(1, 4) * sum(s[j] * s[k] * (d[j] - d[k]) ** 2 for j in range(C) for k in range(C))
    var = sp.Rational(1, 2) * sum(s[j] * (d[j] - dbar) ** 2 for j in range(C))
    return pairwise, var, sp.simplify(pairwise - var)


# --------------------------------------------------------------------------- numeric (torch)


def kl_hand_gradients(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0) -> tuple[Tensor, Tensor]:
    r"""Gradients of :func:`gkl.kl_div` (batch mean) from the hand-derived formulas.

    Returns ``(grad_student, grad_teacher)``:
    :math:`(s_n - s_m)/(BT)` and :math:`s_m \odot (d - \sum_k s_m[k] d_k)/(BT)` with :math:`d=(o_m-o_n)/T`.
    """
    B = student_logits.shape[0]
    T = float(temperature)
    sm = F.softmax(teacher_logits / T, dim=1)
    sn = F.softmax(student_logits / T, dim=1)
    d = (teacher_logits - student_logits) / T
    dbar = (sm * d).sum(dim=1, keepdim=True)
    return (sn - sm) / (B * T), sm * (d - dbar) / (B * T)


def autograd_gradients(
    loss_fn: Callable[..., Tensor], student_logits: Tensor, teacher_logits: Tensor, **kwargs: Any
) -> tuple[Tensor, Tensor]:
    """``(d loss / d student, d loss / d teacher)`` of ``loss_fn(student, teacher, **kwargs)`` by autograd."""
    s = student_logits.detach().clone().requires_grad_(True)
    t = teacher_logits.detach().clone().requires_grad_(True)
    gs, gt = torch.autograd.grad(loss_fn(s, t, **kwargs), (s, t), allow_unused=True)
    zeros = torch.zeros_like
    return (zeros(s) if gs is None else gs), (zeros(t) if gt is None else gt)


def decoupling_numeric_check(
    classes: Sequence[int] = (2, 10, 100, 1000),
    batch: int = 16,
    temperature: float = 4.0,
    scale: float = 5.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
) -> list[dict]:
    r"""Compare autograd gradients of :func:`gkl.kl_div` and :func:`gkl.dkl` for each number of classes.

    Logits are ``scale * randn``. Each row: ``classes``, ``max_abs_diff_student``,
    ``max_abs_diff_teacher`` (KL vs DKL), ``max_abs_hand_student``, ``max_abs_hand_teacher``
    (KL vs :func:`kl_hand_gradients`), ``max_abs_grad`` (size of the gradients, for scale) and
    ``kl``, ``dkl`` (the *values*, which differ).
    """
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for C in classes:
        s = scale * torch.randn(batch, C, generator=gen, dtype=dtype)
        t = scale * torch.randn(batch, C, generator=gen, dtype=dtype)
        ks, kt = autograd_gradients(kl_div, s, t, temperature=temperature)
        ds, dt = autograd_gradients(dkl, s, t, temperature=temperature)
        hs, ht = kl_hand_gradients(s, t, temperature)
        rows.append(
            {
                "classes": int(C),
                "max_abs_diff_student": float((ks - ds).abs().max()),
                "max_abs_diff_teacher": float((kt - dt).abs().max()),
                "max_abs_hand_student": float((ks - hs).abs().max()),
                "max_abs_hand_teacher": float((kt - ht).abs().max()),
                "max_abs_grad": float(torch.cat([ks.abs().flatten(), kt.abs().flatten()]).max()),
                "kl": float(kl_div(s, t, temperature)),
                "dkl": float(dkl(s, t, temperature)),
            }
        )
    return rows


def pairwise_sq_sum_explicit(d: Tensor, v: Tensor) -> Tensor:
    r""":math:`\sum_{j,k} v_j v_k (d_j - d_k)^2` per row from the explicit ``(B, C, C)`` tensor of pairs.

    O(B·C²) time and memory: the literal formula, for checks and teaching.
    """
    return (v[:, :, None] * v[:, None, :] * (d[:, :, None] - d[:, None, :]).square()).sum(dim=(1, 2))


def pairwise_sq_sum_naive(d: Tensor, v: Tensor) -> Tensor:
    r"""The same sum from the expanded closed form :math:`2(\sum v)(\sum v d^2) - 2(\sum v d)^2`.

    O(B·C), but it subtracts two large numbers: with large, nearly equal gaps (big logits) it loses
    precision in float32. :func:`gkl.losses.pairwise_sq_sum` uses the centred form instead.
    """
    V = v.sum(dim=1)
    return 2 * V * (v * d.square()).sum(dim=1) - 2 * (v * d).sum(dim=1).square()


def closed_form_precision(
    offsets: Sequence[float] = (1.0, 10.0, 100.0, 1000.0), classes: int = 100, batch: int = 4, seed: int = 0
) -> list[dict]:
    r"""Float32 relative error of three ways to compute :math:`\sum_{jk} v_jv_k(d_j-d_k)^2`.

    Gaps :math:`d = \text{offset} + 0.01\,\mathcal N(0,1)` (large logits, small differences), softmax
    weights; the float64 explicit sum is the reference. Rows: ``offset``, ``centred``
    (:func:`gkl.losses.pairwise_sq_sum`), ``naive`` (:func:`pairwise_sq_sum_naive`), ``explicit``
    (:func:`pairwise_sq_sum_explicit`), each the largest relative error over the batch.
    """
    from gkl.core.losses import pairwise_sq_sum

    gen = torch.Generator().manual_seed(seed)
    rows = []
    for off in offsets:
        d64 = off + 0.01 * torch.randn(batch, classes, generator=gen, dtype=torch.float64)
        v64 = torch.softmax(torch.randn(batch, classes, generator=gen, dtype=torch.float64), 1)
        exact = pairwise_sq_sum_explicit(d64, v64)
        d, v = d64.float(), v64.float()

        def rel(x: Tensor) -> float:
            return float(((x.double() - exact).abs() / exact).max())

        rows.append({"offset": float(off), "centred": rel(pairwise_sq_sum(d, v)),
                     "naive": rel(pairwise_sq_sum_naive(d, v)), "explicit": rel(pairwise_sq_sum_explicit(d, v))})
    return rows


def wmse_curvature(weights: Tensor) -> Tensor:
    r"""Diagonal of the Hessian of the normalised wMSE in the student logits, per class.

    For :math:`L = \tfrac14 \sum_{j,k} v_j v_k (d_j - d_k)^2 / (\sum_j v_j)^2` (one sample, GKL's
    normalisation, :math:`v = u^\gamma`, :math:`d = o_m - o_n`):

    .. math:: \frac{\partial^2 L}{\partial o_n[i]^2} = \frac{v_i \sum_{k \ne i} v_k}{(\sum_k v_k)^2}.

    Under gradient descent, class :math:`i`'s logit-gap error shrinks at a rate set by this number
    (times :math:`\beta` and the learning rate). With :math:`\gamma = 1` and a teacher sure of one
    class (:math:`u_{top} \to 1`) the top class gets :math:`u_{top}(1 - u_{top}) \to 0`.
    ``weights``: ``(..., C)`` non-negative :math:`v`; returns the same shape.
    """
    total = weights.sum(-1, keepdim=True)
    return weights * (total - weights) / total.square()


def mse_on_probabilities(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0) -> Tensor:
    r"""What the wMSE is **not**: ``nn.MSELoss()(softmax(o_n/T), softmax(o_m/T))``.

    An unweighted mean of squared differences of *probabilities*, one per class; the wMSE is a
    weighted sum of squared differences of *pairwise logit differences*, one per pair of classes.
    """
    T = float(temperature)
    return torch.nn.MSELoss()(F.softmax(student_logits / T, dim=1), F.softmax(teacher_logits / T, dim=1))


def wmse_vs_mse_on_probabilities(
    student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0
) -> dict[str, Any]:
    r"""Values and gradients of the DKL wMSE term and of :func:`mse_on_probabilities`, side by side.

    The wMSE (from :func:`gkl.dkl_parts`) moves only the teacher; ``nn.MSELoss`` on probabilities
    moves both sides and has another value. Returns a dict with ``wmse``, ``mse_prob`` (values),
    ``wmse_pairwise`` (the same wMSE from an explicit ``(B, C, C)`` sum, as a cross-check) and the
    gradients ``wmse_grad_student``, ``wmse_grad_teacher``, ``mse_grad_student``, ``mse_grad_teacher``.
    """
    from gkl.core.losses import dkl_parts

    T = float(temperature)
    ws, wt = autograd_gradients(lambda s, t: dkl_parts(s, t, T).wmse, student_logits, teacher_logits)
    ms, mt = autograd_gradients(lambda s, t: mse_on_probabilities(s, t, T), student_logits, teacher_logits)
    zm, zn = teacher_logits / T, student_logits / T
    w = F.softmax(zm, dim=1)
    dm = zm[:, :, None] - zm[:, None, :]
    dn = zn[:, :, None] - zn[:, None, :]
    pairwise = 0.25 * (w[:, :, None] * w[:, None, :] * (dm - dn) ** 2).sum(dim=(1, 2)).mean()
    return {
        "wmse": float(dkl_parts(student_logits, teacher_logits, T).wmse),
        "wmse_pairwise": float(pairwise),
        "mse_prob": float(mse_on_probabilities(student_logits, teacher_logits, T)),
        "wmse_grad_student": ws,
        "wmse_grad_teacher": wt,
        "mse_grad_student": ms,
        "mse_grad_teacher": mt,
    }


# --------------------------------------------------------------------------- the scale of the two terms in KD


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
