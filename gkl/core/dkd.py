r"""DKD's loss (Zhao et al., CVPR 2022) beside KL: the target-class and non-target-class parts.

:math:`\mathrm{KL}(p_m\|p_n) = \mathrm{KL}(b_m\|b_n) + (1 - p_{m,y})\,\mathrm{KL}(\hat p_m\|\hat p_n)` with
:math:`b = [p_y, 1 - p_y]` and :math:`\hat p` the distribution among the non-target classes; DKD drops
the factor :math:`1 - p_{m,y}` and weights the two parts separately.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gkl.core.losses import kl_div

__all__ = ["dkd_parts"]


def dkd_parts(student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, temperature: float = 4.0) -> tuple[Tensor, Tensor]:
    r"""Target-class and non-target-class KD of DKD (Zhao et al. 2022), batch means, each times :math:`T^2`.

    .. math::

       \mathrm{TCKD} = T^2\,\mathrm{KL}\big([p_{m,y}, 1 - p_{m,y}] \,\|\, [p_{n,y}, 1 - p_{n,y}]\big),

       \mathrm{NCKD} = T^2\,\mathrm{KL}(\hat p_m \,\|\, \hat p_n),

    with :math:`p = \mathrm{softmax}(o / T)` and :math:`\hat p = \mathrm{softmax}` of the logits without
    the target class. Computed from log-sum-exps (no :math:`\log(1 - p)` of a rounded probability):
    :math:`\log(1 - p_y) = \mathrm{LSE}_{j \ne y}(o_j/T) - \mathrm{LSE}_j(o_j/T)`.
    The teacher side is detached.
    """
    if student_logits.shape != teacher_logits.shape or student_logits.dim() != 2:
        raise ValueError(f"logits must both be (B, C), got {tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")
    B, C = student_logits.shape
    if C < 2:
        raise ValueError("DKD needs at least 2 classes")
    if targets.shape != (B,):
        raise ValueError(f"targets must have shape ({B},), got {tuple(targets.shape)}")
    T = float(temperature)
    if not T > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    zs = student_logits.float() / T
    zt = teacher_logits.detach().float() / T
    keep = torch.ones_like(zs, dtype=torch.bool).scatter_(1, targets.view(-1, 1), False)  # non-target mask

    def binary_logs(z: Tensor) -> tuple[Tensor, Tensor]:
        lse_all = torch.logsumexp(z, dim=1)
        lse_nt = torch.logsumexp(z[keep].view(B, C - 1), dim=1)
        log_pt = z.gather(1, targets.view(-1, 1)).squeeze(1) - lse_all  # log p_y
        return log_pt, lse_nt - lse_all  # log p_y, log(1 - p_y)

    ls_t, ls_nt = binary_logs(zs)
    lt_t, lt_nt = binary_logs(zt)
    tckd = (lt_t.exp() * (lt_t - ls_t) + lt_nt.exp() * (lt_nt - ls_nt)).mean() * T * T
    nckd = kl_div(zs[keep].view(B, C - 1), zt[keep].view(B, C - 1)) * T * T
    return tckd, nckd
