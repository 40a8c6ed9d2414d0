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

import weakref
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gkl.core.checks import (
    check_nonnegative,
    check_pair,
    check_positive,
    check_prior,
    check_prior_rows,
    check_prior_values,
    check_targets,
)

__all__ = [
    "LossParts",
    "kl_div",
    "dkl",
    "dkl_parts",
    "gkl",
    "gkl_parts",
    "ikl",
    "pairwise_sq_sum",
    "KLDivLoss",
    "DKLLoss",
    "IKLLoss",
    "GKLLoss",
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


_CONSTANTS: dict = {}


def _const(x: float, like: Tensor) -> Tensor:
    """``x`` as a 0-d tensor of ``like``'s dtype and device, made once and reused: a Python number in
    a tensor op is wrapped into a new tensor on every call, which on a training step's logits costs
    about as much as the op itself."""
    key = (x, like.dtype, like.device)
    c = _CONSTANTS.get(key)
    if c is None:
        if len(_CONSTANTS) >= 256:
            _CONSTANTS.clear()
        c = _CONSTANTS[key] = torch.tensor(x, dtype=like.dtype, device=like.device)
    return c


class _GKLTerms(torch.autograd.Function):
    r"""GKL in one pass with an analytic backward: the total ``beta * wMSE + alpha * CE``, or the two
    terms ``(wMSE, CE)`` when called with ``parts=True``.

    Autograd's graph of the same formulas runs ~3× more kernels; at the sizes of a training step
    that per-kernel overhead, not arithmetic, is the cost, so each line below is one kernel, scalar
    factors ride along as the ``value=`` of a kernel that runs anyway, and buffers are reused.

    Forward, per sample :math:`b`, with :math:`p = \mathrm{softmax}(o/T)`, weights :math:`v` (no
    gradient), :math:`V = \sum_j v_j`, the gaps on the softmax's scale :math:`z = (o_m - o_n)/T`,
    centred :math:`c = z - \sum_j v_j z_j / V`, :math:`q = V v c` and :math:`W = \sum_b V_b^2` (the
    total pair weight :math:`\sum_b\sum_{jk} w_b[j,k]`); the raw gaps of the wMSE are :math:`T c`:

    * wMSE :math:`= \frac14 \sum_b 2 V_b \sum_j v_{bj} (T c_{bj})^2 \,/\, W = \frac{T^2}2 \sum_{bj} q_{bj} c_{bj} / W`
    * CE :math:`= -\frac1B \sum_b S(p_{m,b})^\top \log p_{n,b}`

    Backward (:math:`\sum_j v_j c_j = 0` removes the derivative of the weighted mean):
    :math:`\partial\,\mathrm{wMSE}/\partial (o_m - o_n) = T q / W` (``+`` for the teacher, ``-`` for
    the student) and :math:`\partial\,\mathrm{CE}/\partial o_n = (p_n - p_m)/(T B)`. The teacher's
    gradient is computed only when the teacher requires one (adversarial training, not distillation).
    The backward is first-order only: it refuses ``create_graph=True``.
    """

    @staticmethod
    def forward(ctx, s, t, w, V2, zero_rows, gamma, T, T2, alpha, beta, parts):  # type: ignore[override]
        # From a class prior: w = V v (B, C) and V2 = V² (B, 1), else None; zero_rows: some V2 may be 0.
        B = s.shape[0]
        if T != 1.0:
            inv_T = _const(1.0 / T, s)
            zt, zs = torch.mul(t, inv_T), torch.mul(s, inv_T)
        else:
            zt, zs = t, s
        log_ps = torch.log_softmax(zs, 1)
        if w is not None or gamma == 0.0 or (gamma == 1.0 and T2 == T) or T2 != T:
            log_pt, pt = None, torch.softmax(zt, 1)  # log p_m is not needed: one pass over the teacher
        else:
            log_pt = torch.log_softmax(zt, 1)
            pt = log_pt.exp()
        ce_sum = torch.dot(pt.view(-1), log_ps.view(-1))  # Σ_b Σ_j p_m log p_n
        diff = log_ps.exp_().sub_(pt)  # p_n - p_m, all the backward needs of the CE (log_ps is spent)
        if w is None:  # per-sample weights u = softmax(o_m / T2), raised to gamma
            if gamma == 0.0:
                v = torch.ones_like(pt)
            elif T2 == T:
                v = pt if gamma == 1.0 else log_pt.mul_(gamma).exp_()  # u^γ = exp(γ log u): no pow
            else:
                v = F.log_softmax(t / T2, dim=1)
                v = v.exp_() if gamma == 1.0 else v.mul_(gamma).exp_()
            V = v.sum(dim=1, keepdim=True)
            w = v.mul_(V)  # in place: pt (if v is pt) is not needed again
            V2 = V.square_()  # V ≥ max_j u_j^γ ≥ 1/C for γ ≤ 1: V² is neither 0 nor subnormal
            zero_rows = gamma > 1.0
        if zero_rows:  # an all-zero row gets a weighted mean of 0, not 0/0
            V2 = V2.clamp_min_(torch.finfo(V2.dtype).tiny)
        z = zt.sub_(zs) if T != 1.0 else t - s  # (o_m - o_n) / T; zt and zs are spent
        q = w * z  # scratch for Σ_j v_j z_j, then reused for q
        c = z.sub_(q.sum(dim=1, keepdim=True).div_(V2))  # z - Σ_j v_j z_j / V: centred, no cancellation
        q = torch.mul(w, c, out=q)  # q = V v c
        num = torch.dot(q.view(-1), c.view(-1))  # Σ_b V_b Σ_j v c²
        W = V2.sum()  # Σ_b V_b² = Σ_b Σ_jk w_b[j,k]
        ctx.save_for_backward(diff, q, W)
        ctx.T, ctx.B, ctx.alpha, ctx.beta, ctx.parts = T, B, alpha, beta, parts
        ctx.set_materialize_grads(False)
        if parts:
            return torch.div(num, W).mul_(0.5 * T * T), ce_sum * _const(-1.0 / B, s)
        # α CE + β T²/2 num / W
        return torch.addcdiv(ce_sum * _const(-alpha / B, s), num, W, value=0.5 * T * T * beta)

    @staticmethod
    def backward(ctx, *grads):  # type: ignore[override]
        if torch.is_grad_enabled():  # create_graph=True: a silently constant gradient would be wrong
            raise RuntimeError(
                "gkl's fused backward is first-order only (create_graph=True / Hessians are not supported); "
                "use gkl.bench.pairwise_gkl for higher-order derivatives"
            )
        # Saved tensors are never modified in place: a retained graph can run backward again.
        diff, q, W = ctx.saved_tensors
        T = ctx.T
        if ctx.parts:
            (g_w, g_c), k_w, k_c = grads, T, 1.0
        else:
            g_w = g_c = grads[0]
            k_w, k_c = ctx.beta * T, ctx.alpha
        g_w = None if g_w is None or k_w == 0.0 else torch.div(g_w, W)  # ∂/∂(o_m - o_n) = k_w g_w q
        g_c = None if g_c is None or k_c == 0.0 else g_c * _const(k_c / (T * ctx.B), g_c)  # ∂/∂o_n = g_c (p_n - p_m)
        g_s = g_t = None
        if ctx.needs_input_grad[0]:
            if g_c is not None:
                g_s = diff * g_c
                if g_w is not None:
                    g_s.addcmul_(q, g_w, value=-k_w)
            else:  # only the wMSE reaches the student (or nothing: an explicit zero, as autograd gives)
                g_s = q * (g_w * -k_w) if g_w is not None else torch.zeros_like(q)
        if ctx.needs_input_grad[1]:  # the CE never reaches the teacher
            g_t = q * (g_w * k_w) if g_w is not None else torch.zeros_like(q)
        return g_s, g_t, None, None, None, None, None, None, None, None, None


class _PriorWeights:
    """What :func:`_prior_weights` remembers about one prior tensor at one version."""

    __slots__ = ("ref", "version", "tables")

    def __init__(self, ref: "weakref.ref[Tensor]", version: int) -> None:
        self.ref, self.version = ref, version
        self.tables: dict = {}  # (gamma, dtype) -> _weight_table(prior, gamma, dtype)


_PRIOR_CACHE: dict[int, _PriorWeights] = {}  # id(prior) -> entry; dropped when the prior is freed
_PRIOR_CACHE_SIZE = 16


def _forget_prior(ref: "weakref.ref[Tensor]", key: int) -> None:
    entry = _PRIOR_CACHE.get(key)
    if entry is not None and entry.ref is ref:
        del _PRIOR_CACHE[key]


def _scaled(v: Tensor) -> tuple[Tensor, Tensor]:
    """``(V v, V²)`` with ``V = Σ_j v_j`` per row (``v`` is overwritten): what :class:`_GKLTerms` takes."""
    V = v.sum(dim=1, keepdim=True)
    return v.mul_(V), V.square_()


def _weight_table(prior: Tensor, gamma: float, dtype: torch.dtype) -> Optional[tuple[Tensor, Tensor, bool]]:
    """:func:`_scaled` ``prior ** gamma`` in ``dtype`` (``(C, C)`` and ``(C, 1)``) and whether a row
    is all zero; ``None`` if some entry of the prior is negative or not finite (then only the rows a
    batch uses are checked, each batch)."""
    P = prior.detach().to(dtype)
    try:
        check_prior_values(P)  # one pass over the C² entries, once per prior version
    except ValueError:
        return None
    w, V2 = _scaled(P.pow(gamma))  # 0^0 = 1, as torch.pow; pow returns a new tensor
    return w, V2, bool((V2 == 0).any())


def _prior_weights(prior: Tensor, targets: Tensor, gamma: float, dtype: torch.dtype) -> tuple[Tensor, Tensor, bool]:
    r"""The weights of each sample, :math:`V v` with :math:`v = u^\gamma`, :math:`u` =
    ``prior[targets]`` and :math:`V = \sum_j v_j`, and :math:`V^2`, with the prior's entries
    checked; and whether a :math:`V^2` may be 0.

    A class prior stays fixed for an epoch (:attr:`gkl.ClassPrior.current`). From the second call
    with the same tensor at the same version (``prior._version``: any in-place change counts) the
    prior is checked and raised to :math:`\gamma` once, all :math:`C^2` entries, and each batch
    only gathers its rows; a tensor seen once (a fresh copy per call) costs what it always did —
    the rows it uses are checked and powered. Changes made behind autograd's back (``.data``, a
    NumPy view) do not move the version counter and are not seen.
    """
    if targets.dtype is not torch.int64 and targets.dtype is not torch.int32:
        targets = targets.long()
    try:
        version = prior._version
    except RuntimeError:  # an inference-mode tensor has no version counter: nothing to key on
        version = None
    if version is not None:
        key = id(prior)
        entry = _PRIOR_CACHE.get(key)
        if entry is not None and entry.version == version and entry.ref() is prior:
            table = entry.tables.get((gamma, dtype), False)
            if table is False:
                table = entry.tables[(gamma, dtype)] = _weight_table(prior, gamma, dtype)
            if table is not None:
                return table[0].index_select(0, targets), table[1].index_select(0, targets), table[2]
        else:  # first sight of this tensor, or it changed: remember it, build nothing yet
            try:
                ref = weakref.ref(prior, lambda r, key=key: _forget_prior(r, key))
            except TypeError:  # a tensor subclass without weak references: not cached
                ref = None
            if ref is not None:
                if len(_PRIOR_CACHE) >= _PRIOR_CACHE_SIZE:
                    del _PRIOR_CACHE[next(iter(_PRIOR_CACHE))]
                _PRIOR_CACHE[key] = _PriorWeights(ref, version)
    with torch.no_grad():
        u = check_prior_rows(prior.detach().index_select(0, targets).to(dtype))  # u = prior[y]
        return (*_scaled(u.pow(gamma)), True)  # 0^0 = 1, as torch.pow


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

       \mathrm{GKL} = \beta\,\frac{\frac14\sum_b\sum_{j,k} w_b[j,k]\,(\Delta m_{b,jk} - \Delta n_{b,jk})^2}
                                  {\sum_b\sum_{j,k} w_b[j,k]}
       \;+\; \alpha\,\frac1B\sum_b -S\big(\mathrm{softmax}(o_{m,b}/T)\big)^\top \log\mathrm{softmax}(o_{n,b}/T)

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


class KLDivLoss(nn.Module):
    """Module form of :func:`kl_div`."""

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        self.temperature = check_positive(temperature, "temperature")

    def forward(self, student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
        return kl_div(student_logits, teacher_logits, self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


class DKLLoss(nn.Module):
    """Module form of :func:`dkl`."""

    def __init__(self, temperature: float = 1.0, alpha: float = 1.0, beta: float = 1.0) -> None:
        super().__init__()
        self.temperature = check_positive(temperature, "temperature")
        self.alpha = check_nonnegative(alpha, "alpha")
        self.beta = check_nonnegative(beta, "beta")

    def forward(self, student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
        return dkl(student_logits, teacher_logits, self.temperature, self.alpha, self.beta)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}, beta={self.beta}"


class GKLLoss(nn.Module):
    """Module form of :func:`gkl`; ``forward(student, teacher, targets=None, class_prior=None)``."""

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 1.0,
        gamma: float = 1.0,
        temperature: float = 1.0,
        weight_temperature: float = 1.0,
    ) -> None:
        super().__init__()
        self.alpha = check_nonnegative(alpha, "alpha")
        self.beta = check_nonnegative(beta, "beta")
        self.gamma = check_nonnegative(gamma, "gamma")
        self.temperature = check_positive(temperature, "temperature")
        self.weight_temperature = check_positive(weight_temperature, "weight_temperature")

    def forward(
        self,
        student_logits: Tensor,
        teacher_logits: Tensor,
        targets: Optional[Tensor] = None,
        class_prior: Optional[Tensor] = None,
    ) -> Tensor:
        return gkl(
            student_logits,
            teacher_logits,
            targets,
            class_prior,
            alpha=self.alpha,
            beta=self.beta,
            gamma=self.gamma,
            temperature=self.temperature,
            weight_temperature=self.weight_temperature,
        )

    def extra_repr(self) -> str:
        return (
            f"alpha={self.alpha}, beta={self.beta}, gamma={self.gamma}, "
            f"temperature={self.temperature}, weight_temperature={self.weight_temperature}"
        )


class IKLLoss(GKLLoss):
    """Module form of :func:`ikl` (:class:`GKLLoss` with ``gamma = 1``)."""

    def __init__(
        self, alpha: float = 1.0, beta: float = 1.0, temperature: float = 1.0, weight_temperature: float = 1.0
    ) -> None:
        super().__init__(alpha, beta, 1.0, temperature, weight_temperature)
