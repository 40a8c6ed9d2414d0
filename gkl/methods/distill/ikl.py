r"""IKL distillation (Cui et al.): GKL (:mod:`gkl.methods.distill.gkl`) at the weight exponent
:math:`\gamma = 1`,

.. math:: \texttt{kd\_ce} = \omega\,\alpha\,\mathrm{CE}(s_m^T, s_n^T), \qquad
          \texttt{kd\_wmse} = \omega\,\beta\,\mathrm{wMSE}_1

(plus ``ce``): the wMSE weights :math:`u_j u_k` come from the teacher's soft labels at :math:`T_2`, per
sample or (class prior on) per class over the previous epoch, as in GKL.

The defaults are the released IKL (DKLv1) ones of ``mdistiller/engine/cfg.py`` that its CIFAR-100
configs keep: no class prior (``GI = False``) and :math:`T_2 = 100`. Its config has no ``gamma``.
"""

from __future__ import annotations

import dataclasses

from gkl.methods.distill.base import param
from gkl.methods.distill.gkl import GKL, PRIOR_HELP, GKLTermsConfig
from gkl.methods.registry import DISTILLERS

__all__ = ["IKLConfig", "IKL"]


@dataclasses.dataclass
class IKLConfig(GKLTermsConfig):
    r"""IKL's hyper-parameters: GKL's terms' settings (no :math:`\gamma`) at the released IKL defaults,
    no class prior and :math:`T_2 = 100`."""

    weight_temperature: float = param(100.0, "T2 of the weights / of the class prior", strict=True)
    prior: bool = param(False, PRIOR_HELP)


@DISTILLERS.register(before="gkl")  # IKL before GKL in the tables, although this file imports GKL's
class IKL(GKL):
    r"""IKL: :class:`~gkl.methods.distill.gkl.GKL` with :math:`\gamma = 1`."""

    name = "ikl"
    label = "IKL"
    Config = IKLConfig

    @property
    def gamma(self) -> float:
        r"""The weight exponent :math:`\gamma`: 1 for IKL."""
        return 1.0
