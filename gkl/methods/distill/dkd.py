r"""DKD, decoupled knowledge distillation (Zhao et al., CVPR 2022): KD split at the target class.

:math:`b = [p_y, 1 - p_y]` is the binary target/non-target distribution and
:math:`\hat p_j = p_j / (1 - p_y)` (:math:`j \ne y`) the distribution among the non-target classes,
both at temperature :math:`T`. Then :math:`\mathrm{KL}(p_m\|p_n) = \mathrm{KL}(b_m\|b_n) +
(1 - p_{m,y})\,\mathrm{KL}(\hat p_m\|\hat p_n)`; DKD drops the factor :math:`1 - p_{m,y}` and weights
the two parts with :math:`\alpha` (TCKD) and :math:`\beta` (NCKD):

.. math:: \texttt{tckd} = \omega\,\alpha\,T^2\,\mathrm{KL}(b_m \| b_n), \qquad
          \texttt{nckd} = \omega\,\beta\,T^2\,\mathrm{KL}(\hat p_m \| \hat p_n)

(plus ``ce``), :math:`\omega` the warm-up factor. The loss itself is :func:`gkl.core.dkd.dkd_parts`.
"""

from __future__ import annotations

import dataclasses

from torch import Tensor

from gkl.core.dkd import dkd_parts
from gkl.methods.distill.base import DistillConfig, Distiller, param, warmup_factor, warmup_text
from gkl.methods.registry import DISTILLERS

__all__ = ["DKDConfig", "DKD"]


@dataclasses.dataclass
class DKDConfig(DistillConfig):
    """DKD's hyper-parameters (the names of its paper: ``alpha`` weights TCKD, ``beta`` NCKD)."""

    alpha: float = param(1.0, "TCKD weight")
    beta: float = param(1.0, "NCKD weight")
    temperature: float = param(4.0, "T of the soft labels", strict=True)
    warmup: int = param(0, "warm-up epochs of the distillation terms")


@DISTILLERS.register
class DKD(Distiller):
    r"""Decoupled KD: ``tckd`` and ``nckd`` of :func:`~gkl.core.dkd.dkd_parts`, weighted by
    :math:`\alpha`, :math:`\beta` and the warm-up."""

    name = "dkd"
    label = "DKD"
    Config = DKDConfig

    @classmethod
    def describe(cls, config: DKDConfig) -> str:
        c = config
        lam, tail = warmup_text(c.warmup)
        return f"{c.ce_weight:g} × CE + {lam}({c.alpha:g} × TCKD + {c.beta:g} × NCKD), T {c.temperature:g}{tail}"

    def kd_terms(self, student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, epoch: int,
                 training: bool) -> dict[str, Tensor]:
        c = self.config
        tckd, nckd = dkd_parts(student_logits, teacher_logits, targets, c.temperature)
        w = warmup_factor(epoch, c.warmup)
        return {"tckd": w * c.alpha * tckd, "nckd": w * c.beta * nckd}
