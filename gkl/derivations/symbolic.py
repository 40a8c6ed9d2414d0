r"""The decoupling theorem in sympy: KL and DKL as symbolic expressions, and their proofs.

Notation as in :mod:`gkl.derivations`: :math:`o_m` teacher logits, :math:`o_n` student logits,
:math:`s = \mathrm{softmax}(o/T)`.

**Stop-gradient in sympy.** :math:`S(x)` has the value of :math:`x` and zero derivative. A symbolic
expression with stop-gradients is written with a second, *frozen* copy of the logit symbols
(:math:`\tilde o_m, \tilde o_n`) wherever :math:`S(\cdot)` appears; a gradient is then
:math:`\partial/\partial o` of that expression followed by the substitution
:math:`\tilde o \to o` (:func:`stop_gradient_diff`).

sympy is imported lazily, inside each function: importing this module does not import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

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
]


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

       \mathrm{CE} = -\sum_i S(s_m[i]) \log s_n[i],

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
    and the same for :math:`o_n[i]`; both must be 0. It also checks the hand-derived formulas of
    :mod:`gkl.derivations.numeric` (:func:`~gkl.derivations.numeric.kl_hand_gradients`). With ``symbolic_temperature`` the temperature is a positive symbol :math:`T`
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
