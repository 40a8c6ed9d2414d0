r"""One sample: which term of a decoupled loss moves which side, and GKL's pair weights.

**Which term moves which side** (:func:`term_gradients`). The gradients of each term of DKL
(:func:`gkl.dkl_parts`) or GKL (:func:`gkl.gkl_parts`) with respect to each side, by autograd. In DKL
the wMSE has no gradient on :math:`o_n` and the CE none on :math:`o_m`; in GKL the wMSE depends on
:math:`d = o_m - o_n` only, so :math:`\partial\,\mathrm{wMSE}/\partial o_n = -\partial\,\mathrm{wMSE}/\partial o_m`.

**Pair weights** (:func:`weight_matrix`). GKL weights the pair :math:`(j, k)` by
:math:`u_j^\gamma u_k^\gamma`; normalised to sum 1,

.. math:: w_{jk} = \frac{u_j^\gamma\, u_k^\gamma}{\big(\sum_j u_j^\gamma\big)^2} .
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from gkl.core import losses as L
from gkl.derivations import autograd_gradients

__all__ = ["as_logit_vector", "term_gradients", "weight_matrix"]


def as_logit_vector(x: Any, name: str = "logits") -> Tensor:
    """``x`` as a float64 1-D tensor of at least 2 logits (one sample); ``ValueError`` otherwise."""
    t = torch.as_tensor(x, dtype=torch.float64)
    if t.dim() != 1 or t.numel() < 2:
        raise ValueError(f"{name} must be a 1-D vector of at least 2 logits, got shape {tuple(t.shape)}")
    return t


def term_gradients(
    student_logits: Tensor,
    teacher_logits: Tensor,
    decoupled: str = "dkl",
    temperature: float = 1.0,
    gamma: float = 1.0,
) -> dict[str, Tensor]:
    r"""Gradient of each term (wMSE, CE) with respect to each side (teacher, student).

    ``decoupled="dkl"`` uses :func:`gkl.dkl_parts` (the KL-equivalent form with stop-gradients);
    ``"gkl"`` uses :func:`gkl.gkl_parts` (asymmetry broken; :math:`\gamma=1` is IKL without a prior;
    wMSE on raw logits, weights at ``temperature``). Returns a dict with keys ``wmse_teacher``,
    ``wmse_student``, ``ce_teacher``, ``ce_student`` (tensors shaped like the logits).
    """
    if decoupled == "dkl":
        def parts(s, t):
            return L.dkl_parts(s, t, temperature)
    elif decoupled == "gkl":
        def parts(s, t):
            return L.gkl_parts(s, t, gamma=gamma, temperature=temperature, weight_temperature=temperature)
    else:
        raise ValueError(f"decoupled must be 'dkl' or 'gkl', got {decoupled!r}")
    ws, wt = autograd_gradients(lambda s, t: parts(s, t).wmse, student_logits, teacher_logits)
    cs, ct = autograd_gradients(lambda s, t: parts(s, t).ce, student_logits, teacher_logits)
    return {"wmse_teacher": wt, "wmse_student": ws, "ce_teacher": ct, "ce_student": cs}


def weight_matrix(teacher_logits: Any, gamma: float, temperature: float = 1.0) -> Tensor:
    r"""Normalised pair weights :math:`w_{jk} = u_j^\gamma u_k^\gamma / (\sum_j u_j^\gamma)^2`,
    :math:`u = \mathrm{softmax}(o_m/T)` (one sample; entries sum to 1)."""
    u = F.softmax(as_logit_vector(teacher_logits, "teacher_logits") / temperature, 0).pow(gamma)
    w = u[:, None] * u[None, :]
    return w / w.sum()
