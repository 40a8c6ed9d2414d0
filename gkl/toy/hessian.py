r"""The curvature of GKL's normalised wMSE in the student logits: its Hessian and the spread of its
eigenvalues for each :math:`\gamma` (why small :math:`\gamma` speeds up the slowest mode)."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

__all__ = ["wmse_hessian", "hessian_spectrum"]


def wmse_hessian(weights: Tensor) -> Tensor:
    r"""Hessian of one sample's normalised wMSE in the student logits: :math:`\mathrm{diag}(w) - w w^\top`.

    With :math:`w = v / \sum_k v_k` (:math:`v = u^\gamma`) and :math:`d = o_m - o_n`, GKL's normalised wMSE is
    half a weighted variance,

    .. math::

        L = \frac{\tfrac14 \sum_{j,k} v_j v_k (d_j - d_k)^2}{(\sum_k v_k)^2}
          = \tfrac12\Big(\sum_j w_j d_j^2 - \big(\sum_j w_j d_j\big)^2\Big),

    so its Hessian is :math:`\mathrm{diag}(w) - w w^\top` (a quadratic: the same at every point). Its
    diagonal is :func:`gkl.derivations.wmse_curvature`. ``weights``: ``(C,)`` non-negative :math:`v`.
    """
    v = torch.as_tensor(weights, dtype=torch.float64)
    if v.dim() != 1 or v.numel() < 2 or bool((v < 0).any()) or float(v.sum()) <= 0:
        raise ValueError("weights must be a (C,) vector of non-negative numbers with C >= 2 and a positive sum")
    w = v / v.sum()
    return torch.diag(w) - torch.outer(w, w)


def hessian_spectrum(soft_labels: Tensor, gammas: Sequence[float]) -> list[dict[str, float]]:
    r"""For each :math:`\gamma`: the eigenvalues of :func:`wmse_hessian` of :math:`v = u^\gamma`.

    One eigenvalue is always 0 (shifting every logit changes nothing, the direction :math:`\mathbf 1`).
    Gradient descent closes an error component along eigenvector :math:`q` by the factor
    :math:`1 - \eta\beta\lambda` per step, so the **smallest non-zero eigenvalue** ``lambda_min`` sets
    the slowest mode and the largest, ``lambda_max``, the largest stable step. Returns rows with
    ``gamma``, ``lambda_min``, ``lambda_max``, ``ratio`` (``lambda_max / lambda_min``) and
    ``top_share``: how much of the slowest eigenvector sits on the top class (its squared entry).
    """
    u = torch.as_tensor(soft_labels, dtype=torch.float64)
    rows = []
    for g in gammas:
        vals, vecs = torch.linalg.eigh(wmse_hessian(u.pow(g)))
        nonzero = vals > 1e-12 * float(vals.max())
        i = int(torch.nonzero(nonzero)[0])  # eigh sorts ascending: the first non-zero one
        top = int(u.argmax())
        rows.append({"gamma": float(g), "lambda_min": float(vals[i]), "lambda_max": float(vals[-1]),
                     "ratio": float(vals[-1] / vals[i]), "top_share": float(vecs[top, i] ** 2)})
    return rows
