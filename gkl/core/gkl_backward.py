r"""GKL's fused forward and first-order backward, and the cache of class-prior weights.

:func:`gkl.core.losses.gkl` and :func:`gkl.core.losses.gkl_parts` validate their arguments and call
:class:`_GKLTerms` here: one pass over the logits with an analytic backward (the formulas are in its
docstring), fed either per-sample weights :math:`v = \mathrm{softmax}(o_m/T_2)^\gamma` (computed
inside) or the rows of a class prior raised to :math:`\gamma`, gathered by :func:`_prior_weights`.

A class prior stays fixed for a whole epoch, so :func:`_prior_weights` remembers each prior tensor
(by identity and version counter) and checks and powers its :math:`C^2` entries once; each batch then
only gathers its rows. The cache (``_PRIOR_CACHE``) holds at most ``_PRIOR_CACHE_SIZE`` priors and
drops an entry when its tensor is freed.
"""

from __future__ import annotations

import weakref
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from gkl.core.checks import check_prior_rows, check_prior_values

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
