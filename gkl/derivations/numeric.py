r"""The maths checked in torch: hand-derived gradients against autograd, the O(C) wMSE against its
explicit and naive forms, the wMSE's curvature, and what the wMSE is not (MSE on probabilities).

**Hand-derived gradients of** :math:`\mathrm{KL}(s_m \| s_n)` (one sample, :math:`s = \mathrm{softmax}(o/T)`,
:math:`d = o_m - o_n` on raw logits, as in the book's notation):

.. math::

   \frac{\partial\,\mathrm{KL}}{\partial o_n[i]} = \frac{s_n[i] - s_m[i]}{T}, \qquad
   \frac{\partial\,\mathrm{KL}}{\partial o_m[i]} = \frac{s_m[i]}{T^2}\Big(d_i - \sum_k s_m[k]\, d_k\Big).

The first is the gradient of the soft-label cross-entropy, the second that of the weighted MSE
(see :func:`gkl.derivations.symbolic.decoupling_proof`).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from gkl.core.losses import dkl, dkl_parts, kl_div, pairwise_sq_sum

__all__ = [
    "kl_hand_gradients",
    "autograd_gradients",
    "decoupling_numeric_check",
    "pairwise_sq_sum_explicit",
    "pairwise_sq_sum_naive",
    "closed_form_precision",
    "wmse_curvature",
    "mse_on_probabilities",
    "wmse_vs_mse_on_probabilities",
]


def kl_hand_gradients(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0) -> tuple[Tensor, Tensor]:
    r"""Gradients of :func:`gkl.kl_div` (batch mean) from the hand-derived formulas.

    Returns ``(grad_student, grad_teacher)``:
    :math:`(s_n - s_m)/(BT)` and :math:`s_m \odot (d - \sum_k s_m[k] d_k)/(BT^2)` with :math:`d=o_m-o_n`.
    """
    B = student_logits.shape[0]
    T = float(temperature)
    sm = F.softmax(teacher_logits / T, dim=1)
    sn = F.softmax(student_logits / T, dim=1)
    d = teacher_logits - student_logits  # the gap on raw logits
    dbar = (sm * d).sum(dim=1, keepdim=True)  # its s_m-weighted mean
    # one 1/T from the chain rule (z = o/T), one because z_m - z_n = d/T
    return (sn - sm) / (B * T), sm * (d - dbar) / (B * T * T)


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
    precision in float32. :func:`gkl.core.losses.pairwise_sq_sum` uses the centred form instead.
    """
    V = v.sum(dim=1)
    return 2 * V * (v * d.square()).sum(dim=1) - 2 * (v * d).sum(dim=1).square()


def closed_form_precision(
    offsets: Sequence[float] = (1.0, 10.0, 100.0, 1000.0), classes: int = 100, batch: int = 4, seed: int = 0
) -> list[dict]:
    r"""Float32 relative error of three ways to compute :math:`\sum_{jk} v_jv_k(d_j-d_k)^2`.

    Gaps :math:`d = \text{offset} + 0.01\,\mathcal N(0,1)` (large logits, small differences), softmax
    weights; the float64 explicit sum is the reference. Rows: ``offset``, ``centred``
    (:func:`gkl.core.losses.pairwise_sq_sum`), ``naive`` (:func:`pairwise_sq_sum_naive`), ``explicit``
    (:func:`pairwise_sq_sum_explicit`), each the largest relative error over the batch.
    """
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for off in offsets:
        d64 = off + 0.01 * torch.randn(batch, classes, generator=gen, dtype=torch.float64)
        v64 = torch.softmax(torch.randn(batch, classes, generator=gen, dtype=torch.float64), 1)
        exact = pairwise_sq_sum_explicit(d64, v64)
        d, v = d64.float(), v64.float()

        def rel(x: Tensor, exact: Tensor = exact) -> float:
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
