r"""IKL-AT, as released (DKLv2 ``train_dkl_cifar10/100.py``): GKL-AT (:mod:`gkl.methods.adversarial.gkl`)
at the weight exponent :math:`\gamma = 1`,

.. math:: \mathcal{L}_{CE}(o_c, y) + \beta\,\mathrm{wMSE}_1(o_a, o_c) + \alpha\,\mathrm{CE}(s_c, s_a)

with GKL-AT's class prior, inner attack and released values (:math:`\alpha = 4`, :math:`\beta = 20`,
CE at :math:`T = 1`, class prior at :math:`T_p = 4`); its config has no ``gamma`` and the released
recipe sets none of its settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gkl.methods.adversarial.gkl import GKL, AdvGKLTermsConfig
from gkl.methods.registry import ADVERSARIAL

__all__ = ["IKL"]


@dataclass
class IKLConfig(AdvGKLTermsConfig):
    """IKL-AT's hyper-parameters: GKL-AT's terms' settings without γ, at the released AT values."""


@ADVERSARIAL.register(before="gkl")  # IKL before GKL in the tables, although this file imports GKL's
class IKL(GKL):
    """IKL adversarial training: GKL-AT with γ = 1."""

    name = "ikl"
    label = "IKL"
    Config = IKLConfig

    @classmethod
    def gamma_of(cls, config: AdvGKLTermsConfig) -> float:
        """The weight exponent γ: 1 for IKL."""
        return 1.0

    @classmethod
    def released_settings(cls, dataset: str) -> dict[str, Any]:
        return {}  # GKL's γ and prior temperature are not IKL's
