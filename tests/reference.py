"""Independent pairwise references, written from the formulas in paper.md (tests only).

Nothing here imports from ``gkl``: each loss is spelled out over all ordered class pairs with explicit
``(B, C, C)`` tensors, the soft-max written as exp / sum, so a mistake in the package's O(B·C) closed
forms cannot hide behind a shared helper.
"""

from __future__ import annotations

import torch


def log_softmax(z: torch.Tensor) -> torch.Tensor:
    return z - torch.logsumexp(z, dim=1, keepdim=True)


def softmax(z: torch.Tensor) -> torch.Tensor:
    e = torch.exp(z - z.max(dim=1, keepdim=True).values)
    return e / e.sum(dim=1, keepdim=True)


def kl(student, teacher, T=1.0):
    """mean_b Σ_j p_m[j] (log p_m[j] - log p_n[j])."""
    lp_m, lp_n = log_softmax(teacher / T), log_softmax(student / T)
    return (torch.exp(lp_m) * (lp_m - lp_n)).sum() / student.shape[0]


def pairs(x):
    """Δ[b, j, k] = x[b, j] - x[b, k]."""
    return x.unsqueeze(2) - x.unsqueeze(1)


def soft_ce(student, teacher, T):
    return -(softmax(teacher / T).detach() * log_softmax(student / T)).sum(dim=1).mean()


def dkl_terms(student, teacher, T=1.0):
    """(wMSE, CE) of the theorem: ¼ Σ_jk S(w_m) (Δm - S(Δn))² and -S(s_m)ᵀ log s_n, batch means."""
    zm, zn = teacher / T, student / T
    sm = softmax(zm).detach()
    w = sm.unsqueeze(2) * sm.unsqueeze(1)
    wmse = 0.25 * (w * (pairs(zm) - pairs(zn).detach()) ** 2).sum(dim=(1, 2)).mean()
    return wmse, soft_ce(student, teacher, T)


def gkl_terms(student, teacher, targets=None, prior=None, gamma=1.0, T=1.0, T2=1.0):
    """(wMSE, CE) of the released GKL: weights (u^γ)(u^γ)ᵀ, normalised by the batch's total weight."""
    with torch.no_grad():
        # u^γ = exp(γ·log u), in log space: u**γ underflows to 0 where u does (u ≈ 1e-300, γ = 1/64)
        log_u = torch.log(prior[targets]) if prior is not None else log_softmax(teacher / T2)
        ug = torch.exp(gamma * log_u)
        w = ug.unsqueeze(2) * ug.unsqueeze(1)
    wmse = 0.25 * (w * (pairs(teacher) - pairs(student)) ** 2).sum() / w.sum()
    return wmse, soft_ce(student, teacher, T)


def gkl(student, teacher, targets=None, prior=None, alpha=1.0, beta=1.0, gamma=1.0, T=1.0, T2=1.0):
    wmse, ce = gkl_terms(student, teacher, targets, prior, gamma, T, T2)
    return beta * wmse + alpha * ce


def class_prior(logits, targets, num_classes, T=1.0):
    """Row c: mean softmax(logits/T) over samples of class c; uniform where class c has none."""
    p = softmax(logits.double() / T)
    out = torch.full((num_classes, num_classes), 1.0 / num_classes, dtype=torch.float64)
    for c in range(num_classes):
        rows = p[targets == c]
        if len(rows):
            out[c] = rows.mean(dim=0)
    return out
