r"""KL, decoupled KL (DKL), IKL and generalized KL (GKL) losses in O(B·C).

Notation (follows the released code): ``teacher_logits`` :math:`o_m` is the *reference* side (the
teacher in distillation, the clean input in adversarial training); ``student_logits`` :math:`o_n` is
the side trained towards it (the student, the adversarial input). :math:`s = \mathrm{softmax}(o)`,
:math:`\Delta m_{jk} = o_m[j] - o_m[k]`, :math:`\Delta n_{jk} = o_n[j] - o_n[k]`, :math:`S(\cdot)` is
stop-gradient.

**The theorem** (Cui et al.): :math:`\mathrm{KL}(s_m \| s_n)` has the same gradients, with respect
to both :math:`o_m` and :math:`o_n`, as

.. math::

   \mathrm{DKL} = \underbrace{\tfrac14 \sum_{j,k} S(s_m[j] s_m[k])\,
   \big(\Delta m_{jk} - S(\Delta n_{jk})\big)^2}_{\text{weighted MSE (wMSE)}}
   \;\underbrace{-\; S(s_m)^\top \log s_n}_{\text{soft-label cross-entropy}}.

The wMSE is a squared error between *pairwise logit differences* — not ``nn.MSELoss`` on
probabilities. It never needs the ``(B, C, C)`` tensor of pairs: with :math:`d = o_m - o_n`,
weights :math:`v \ge 0` and :math:`\bar d = \sum_j v_j d_j / \sum_j v_j`,

.. math::

   \sum_{j,k} v_j v_k (d_j - d_k)^2 &= 2\Big(\sum_j v_j\Big)\Big(\sum_j v_j d_j^2\Big) - 2\Big(\sum_j v_j d_j\Big)^2 \\
   &= 2 \Big(\sum_j v_j\Big) \sum_j v_j (d_j - \bar d)^2 ,

and :math:`\sum_{j,k} v_j v_k = (\sum_j v_j)^2`. The last (centred) form is the one computed: it has
no catastrophic cancellation when the logits are large. Time and memory are O(B·C).

Half-precision inputs are computed in float32 (float64 stays float64); the returned scalar has that
computation dtype.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from gkl.core.checks import check_nonnegative, check_pair, check_positive, check_prior, check_targets
from gkl.core.gkl_backward import _GKLTerms, _prior_weights

__all__ = [
    "LossParts",
    "kl_div",
    "dkl",
    "dkl_parts",
    "gkl",
    "gkl_parts",
    "ikl",
    "pairwise_sq_sum",
]



class LossParts(NamedTuple):
    """The two terms of a decoupled loss, unweighted: ``total = beta * wmse + alpha * ce``."""

    wmse: Tensor
    ce: Tensor

    def total(self, alpha: float = 1.0, beta: float = 1.0) -> Tensor:
        return beta * self.wmse + alpha * self.ce


def _compute_dtype(x: Tensor) -> torch.dtype:
    # float16/bfloat16 -> float32; float32/float64 unchanged.
    return torch.promote_types(x.dtype, torch.float32)


def _upcast(student: Tensor, teacher: Tensor) -> tuple[Tensor, Tensor]:
    if student.dtype == teacher.dtype and student.dtype in (torch.float32, torch.float64):
        return student, teacher
    dtype = torch.promote_types(_compute_dtype(student), _compute_dtype(teacher))
    return student.to(dtype), teacher.to(dtype)


def pairwise_sq_sum(d: Tensor, v: Tensor) -> Tensor:
    r"""Per-row :math:`\sum_{j,k} v_j v_k (d_j - d_k)^2` in O(C), shape ``(B,)``.

    Computed as :math:`2 (\sum v) \sum v (d - \bar d)^2` with the weighted mean :math:`\bar d`
    (rows whose weights are all zero give 0).
    """
    vsum = v.sum(dim=1, keepdim=True)  # Σ_j v_j
    dbar = (v * d).sum(dim=1, keepdim=True) / vsum.clamp_min(torch.finfo(v.dtype).tiny)  # weighted mean of d
    return 2.0 * vsum.squeeze(1) * (v * (d - dbar).square()).sum(dim=1)  # 2 (Σv) Σ v (d - d̄)²


def _soft_ce(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """Batch mean of :math:`-S(\\mathrm{softmax}(o_m/T))^\\top \\log \\mathrm{softmax}(o_n/T)`."""
    target = F.softmax(teacher.detach() / temperature, dim=1)
    return -(target * F.log_softmax(student / temperature, dim=1)).sum(dim=1).mean()


def kl_div(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperature: float = 1.0,
    *,
    check_finite: bool = False,
) -> Tensor:
    r"""Batch mean of :math:`\mathrm{KL}(\mathrm{softmax}(o_m/T) \,\|\, \mathrm{softmax}(o_n/T))`.

    .. math:: \frac1B \sum_b \sum_j s_m[j] \big(\log s_m[j] - \log s_n[j]\big), \quad s = \mathrm{softmax}(o/T)

    No :math:`T^2` factor (Hinton-style KD multiplies by it; :mod:`gkl` leaves that to the caller).
    Gradients flow to **both** arguments: detach a frozen teacher yourself.

    Args:
        student_logits: ``(B, C)`` logits :math:`o_n`.
        teacher_logits: ``(B, C)`` logits :math:`o_m`.
        temperature: :math:`T > 0`, applied to both sides.
        check_finite: also reject NaN/inf logits (forces a device sync on GPU).
    """
    s, t = check_pair(student_logits, teacher_logits, check_finite)
    T = check_positive(temperature, "temperature")
    s, t = _upcast(s, t)
    log_s = F.log_softmax(s / T, dim=1)
    log_t = F.log_softmax(t / T, dim=1)
    # exp(log_t) * (log_t - log_s), stable when teacher probabilities underflow to 0.
    return F.kl_div(log_s, log_t, reduction="sum", log_target=True) / s.shape[0]


def dkl_parts(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperature: float = 1.0,
    *,
    check_finite: bool = False,
) -> LossParts:
    r"""The two terms of DKL, batch means, unweighted (see :func:`dkl`).

    ``wmse`` :math:`= \frac1B\sum_b \frac14 \sum_{j,k} S(s_m[j]s_m[k])(\Delta m_{jk}-S(\Delta n_{jk}))^2`
    on logits divided by :math:`T`; since :math:`\sum_j s_m[j] = 1` this equals
    :math:`\frac12 \mathrm{Var}_{s_m}(o_m/T - S(o_n/T))`. ``ce`` is the soft-label cross-entropy.
    """
    s, t = check_pair(student_logits, teacher_logits, check_finite)
    T = check_positive(temperature, "temperature")
    s, t = _upcast(s, t)
    zm, zn = t / T, s / T
    w = F.softmax(zm, dim=1).detach()  # S(s_m): the weights carry no gradient
    d = zm - zn.detach()  # Δm - S(Δn) as a difference of per-class terms
    wmse = 0.25 * pairwise_sq_sum(d, w).mean()
    return LossParts(wmse=wmse, ce=_soft_ce(s, t, T))


def dkl(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperature: float = 1.0,
    alpha: float = 1.0,
    beta: float = 1.0,
    *,
    check_finite: bool = False,
) -> Tensor:
    r"""Decoupled KL of the paper's theorem: ``beta * wMSE + alpha * CE`` (batch means).

    .. math::

       \mathrm{DKL} = \beta\,\frac14 \sum_{j,k} S(s_m[j] s_m[k])\big(\Delta m_{jk} - S(\Delta n_{jk})\big)^2
       - \alpha\, S(s_m)^\top \log s_n

    with every logit divided by :math:`T`. With ``alpha = beta = 1`` its gradients with respect to
    **both** arguments equal those of :func:`kl_div` at the same temperature. The *values* differ:

    .. math:: \mathrm{DKL} - \mathrm{KL} = \mathrm{wMSE} + H(s_m),

    since :math:`\mathrm{KL} = \mathrm{CE}(s_m, s_n) - H(s_m)`; the extra terms have zero net gradient.
    The **asymmetry**: the wMSE term moves only ``teacher_logits``, the CE term only ``student_logits``.
    """
    a = check_nonnegative(alpha, "alpha")
    b = check_nonnegative(beta, "beta")
    return dkl_parts(student_logits, teacher_logits, temperature, check_finite=check_finite).total(a, b)


def _gkl_terms(
    student_logits: Tensor,
    teacher_logits: Tensor,
    targets: Optional[Tensor],
    class_prior: Optional[Tensor],
    alpha: float,
    beta: float,
    gamma: float,
    temperature: float,
    weight_temperature: float,
    check_finite: bool,
    parts: bool,
):
    """Validate, look up the prior weights if any, and run :class:`_GKLTerms`: total, or (wmse, ce)."""
    s, t = check_pair(student_logits, teacher_logits, check_finite)
    a = check_nonnegative(alpha, "alpha")
    b = check_nonnegative(beta, "beta")
    g = check_nonnegative(gamma, "gamma")
    T = check_positive(temperature, "temperature")
    T2 = check_positive(weight_temperature, "weight_temperature")
    s, t = _upcast(s, t)
    w = V2 = None
    zero_rows = False
    if class_prior is not None:
        if targets is None:
            raise ValueError("class_prior was given without targets: the prior row is chosen by each sample's class")
        B, C = s.shape
        prior = check_prior(class_prior, C, s.device)
        on_cpu = s.device.type == "cpu"
        # On the CPU, index_select checks the targets' range as it gathers: don't pay for it twice.
        check_targets(targets, B, C, s.device, values=not on_cpu)
        try:
            w, V2, zero_rows = _prior_weights(prior, targets, g, s.dtype)
        except IndexError:
            check_targets(targets, B, C, s.device)  # the one-line error that names the range
            raise
    return _GKLTerms.apply(s, t, w, V2, zero_rows, g, T, T2, a, b, parts)


def gkl_parts(
    student_logits: Tensor,
    teacher_logits: Tensor,
    targets: Optional[Tensor] = None,
    class_prior: Optional[Tensor] = None,
    gamma: float = 1.0,
    temperature: float = 1.0,
    weight_temperature: float = 1.0,
    *,
    check_finite: bool = False,
) -> LossParts:
    r"""The two terms of GKL, unweighted (see :func:`gkl`): ``total = beta * wmse + alpha * ce``.

    ``wmse`` :math:`= \frac14 \sum_b \sum_{j,k} w_b[j,k] (\Delta m - \Delta n)^2 / \sum_b \sum_{j,k} w_b[j,k]`
    (raw logits, gradient to both sides); ``ce`` is the soft-label cross-entropy at ``temperature``
    (gradient to the student only).
    """
    wmse, ce = _gkl_terms(
        student_logits, teacher_logits, targets, class_prior, 1.0, 1.0, gamma, temperature, weight_temperature, check_finite, True
    )
    return LossParts(wmse=wmse, ce=ce)


def gkl(
    student_logits: Tensor,
    teacher_logits: Tensor,
    targets: Optional[Tensor] = None,
    class_prior: Optional[Tensor] = None,
    alpha: float = 1.0,
    beta: float = 1.0,
    gamma: float = 1.0,
    temperature: float = 1.0,
    weight_temperature: float = 1.0,
    *,
    check_finite: bool = False,
) -> Tensor:
    r"""Generalized KL loss (Cui et al., TPAMI 2026), exactly as released.

    .. math::

       \mathrm{GKL} = {}& \beta\,\frac{\frac14\sum_b\sum_{j,k} w_b[j,k]\,(\Delta m_{b,jk} - \Delta n_{b,jk})^2}
                                  {\sum_b\sum_{j,k} w_b[j,k]} \\
       &+ \alpha\,\frac1B\sum_b -S\big(\mathrm{softmax}(o_{m,b}/T)\big)^\top \log\mathrm{softmax}(o_{n,b}/T)

    with weights :math:`w_b[j,k] = S(u_b[j]^\gamma\, u_b[k]^\gamma)`, where
    :math:`u_b` = ``class_prior[targets[b]]`` if a prior is given (class-wise global information),
    else :math:`\mathrm{softmax}(o_{m,b}/T_2)` with :math:`T_2` = ``weight_temperature``.

    * The wMSE acts on **raw** logit differences and is normalised by the total weight of the batch
      (not per sample); its gradient reaches **both** sides (the asymmetry of KL is broken).
    * The CE uses ``temperature`` and has no :math:`T^2` factor.
    * ``gamma = 1`` with a prior is IKL (:func:`ikl`); ``gamma = 0`` gives uniform weights, a plain
      MSE between pairwise logit differences.

    Paper ↔ code: the released code calls the CE weight ``alpha`` and the wMSE weight ``beta``;
    this function keeps those names.

    Args:
        student_logits, teacher_logits: ``(B, C)`` logits :math:`o_n`, :math:`o_m`.
        targets: ``(B,)`` integer labels; required with ``class_prior``, ignored without it.
        class_prior: ``(C, C)`` non-negative matrix, row ``c`` the weights for class ``c``
            (see :class:`gkl.ClassPrior`).
        alpha: weight of the soft-label cross-entropy (``>= 0``).
        beta: weight of the wMSE (``>= 0``).
        gamma: exponent of the weight function (``>= 0``; the paper uses ``0..1``).
        temperature: :math:`T` of the cross-entropy.
        weight_temperature: :math:`T_2` of the per-sample weights (unused with a prior).
        check_finite: also reject NaN/inf logits (forces a device sync on GPU).

    With a ``class_prior`` the targets' range and the prior's entries are always validated. A prior
    is fixed for an epoch (:attr:`gkl.ClassPrior.current`), so from the second call with the same
    tensor (unchanged: its version counter has not moved) its entries are checked and raised to
    :math:`\gamma` once, and each call only gathers its rows: a training step pays O(B·C), never the
    C² entries again. The targets' range costs one host/device synchronisation per call on a GPU
    (on the CPU the gather checks it). The logits are checked for NaN/inf only with
    ``check_finite=True``.
    """
    return _gkl_terms(
        student_logits,
        teacher_logits,
        targets,
        class_prior,
        alpha,
        beta,
        gamma,
        temperature,
        weight_temperature,
        check_finite,
        False,
    )


def ikl(
    student_logits: Tensor,
    teacher_logits: Tensor,
    targets: Optional[Tensor] = None,
    class_prior: Optional[Tensor] = None,
    alpha: float = 1.0,
    beta: float = 1.0,
    temperature: float = 1.0,
    weight_temperature: float = 1.0,
    *,
    check_finite: bool = False,
) -> Tensor:
    r"""IKL (NeurIPS 2024): :func:`gkl` with :math:`\gamma = 1`.

    With a ``class_prior`` this is the paper's IKL (asymmetry broken + class-wise global information);
    without one the weights are the per-sample :math:`\mathrm{softmax}(o_m/T_2)`.
    """
    return gkl(
        student_logits,
        teacher_logits,
        targets,
        class_prior,
        alpha=alpha,
        beta=beta,
        gamma=1.0,
        temperature=temperature,
        weight_temperature=weight_temperature,
        check_finite=check_finite,
    )
