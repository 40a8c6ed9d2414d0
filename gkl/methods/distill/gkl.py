r"""GKL distillation: IKL with the weight exponent :math:`\gamma` (the method of the paper).

The wMSE weights of a pair of classes become :math:`w_{jk} = u_j^\gamma u_k^\gamma` (:math:`\gamma = 1`:
IKL's weights, :math:`\gamma = 0`: a plain MSE of logit differences); the terms are IKL's,

.. math:: \texttt{kd\_ce} = \lambda\,\alpha\,\mathrm{CE}(s_m^T, s_n^T), \qquad
          \texttt{kd\_wmse} = \lambda\,\beta\,\mathrm{wMSE}_\gamma

(plus ``ce``), computed by :func:`gkl.gkl_parts`; the class prior is the epoch-ahead
:class:`gkl.ClassPrior` of :class:`~gkl.methods.distill.ikl.IKL`. The defaults are the released GKL
(DKLv2) CIFAR-100 ones: the class prior on, :math:`T_2 = 4`.
"""

from __future__ import annotations

import dataclasses

from gkl.methods.distill.base import param
from gkl.methods.distill.ikl import IKL, PRIOR_HELP, IKLConfig
from gkl.methods.registry import DISTILLERS

__all__ = ["GKLConfig", "GKL"]


@dataclasses.dataclass
class GKLConfig(IKLConfig):
    r"""IKL's hyper-parameters with GKL's defaults (prior on, :math:`T_2 = 4`), plus :math:`\gamma`."""

    weight_temperature: float = param(4.0, "T2 of the weights / of the class prior", strict=True)
    prior: bool = param(True, PRIOR_HELP)
    gamma: float = param(1.0, "weight exponent γ of the wMSE weights")


@DISTILLERS.register
class GKL(IKL):
    r"""GKL: :class:`~gkl.methods.distill.ikl.IKL` with the weight exponent :math:`\gamma` of its config."""

    name = "gkl"
    label = "GKL"
    Config = GKLConfig

    @property
    def gamma(self) -> float:
        r"""The weight exponent :math:`\gamma` of the config."""
        return self.config.gamma
