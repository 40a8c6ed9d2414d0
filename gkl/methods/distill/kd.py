r"""KD (Hinton et al., 2015): the label CE plus the temperature-scaled KL to the teacher.

.. math:: \mathcal L = w_{ce}\,\mathrm{CE}(o_n, y) + w_{kd}\,T^2\,\mathrm{KL}(s_m^T \,\|\, s_n^T),
          \qquad s^T = \mathrm{softmax}(o/T)

(terms ``ce`` and ``kd``). The :math:`T^2` keeps the gradient scale independent of :math:`T`.

**Scale.** :math:`T^2\,\mathrm{KL}` is, gradient for gradient, a soft-label CE with weight :math:`T^2`
plus a wMSE on raw logit differences with weight 1 (:func:`gkl.derivations.kd_scale_check`); IKL/GKL's
``alpha`` and ``beta`` weight the same two terms, so their wMSE-to-CE ratio is :math:`(\beta/\alpha)\,T^2`
times KL's own (:func:`gkl.derivations.relative_wmse_weight`).
"""

from __future__ import annotations

import dataclasses

from torch import Tensor

from gkl.core.losses import kl_div
from gkl.methods.distill.base import DistillConfig, Distiller, param
from gkl.methods.registry import DISTILLERS

__all__ = ["KDConfig", "KD"]


@dataclasses.dataclass
class KDConfig(DistillConfig):
    """KD's hyper-parameters: :math:`w_{kd}` and :math:`T` (plus :attr:`DistillConfig.ce_weight`)."""

    kd_weight: float = param(1.0, "weight of the KD term")
    temperature: float = param(4.0, "T of the soft labels", strict=True)


@DISTILLERS.register
class KD(Distiller):
    r"""``kd`` :math:`= w_{kd}\,T^2\,\mathrm{KL}(s_m^T \| s_n^T)` via :func:`gkl.kl_div`."""

    name = "kd"
    label = "KD"
    Config = KDConfig

    @classmethod
    def describe(cls, config: KDConfig) -> str:
        c = config
        return f"{c.ce_weight:g} × CE + {c.kd_weight:g} × T²·KL, T {c.temperature:g}"

    def kd_terms(self, student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, epoch: int,
                 training: bool) -> dict[str, Tensor]:
        T = self.config.temperature
        return {"kd": self.config.kd_weight * T * T * kl_div(student_logits, teacher_logits, T)}
