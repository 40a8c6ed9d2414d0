r"""GKL-AT, as released: IKL's loss (:mod:`gkl.methods.adversarial.ikl`) with the weight exponent
:math:`\gamma`, weights :math:`u^\gamma u^\gamma` from the class-prior row of the label.

Released: :math:`\alpha = 4`, :math:`\beta = 20`, :math:`\gamma = 0.2` (CIFAR-10) / 0.4 (CIFAR-100,
whose released command also sets the prior's temperature to 1), CE at :math:`T = 1`, class prior at
:math:`T_p = 4`, the released inner attack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gkl.methods.adversarial.ikl import IKL, IKLConfig
from gkl.methods.registry import ADVERSARIAL, check_number

__all__ = ["GKL"]


@dataclass
class GKLConfig(IKLConfig):
    """GKL-AT's hyper-parameters: IKL's and the weight exponent γ."""

    gamma: float = field(default=0.2, metadata={"help": "weight exponent γ (released 0.2 on CIFAR-10, 0.4 on CIFAR-100)"})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_number(self.gamma, "gamma")


@ADVERSARIAL.register
class GKL(IKL):
    """GKL adversarial training: IKL with the configured γ."""

    name = "gkl"
    label = "GKL"
    Config = GKLConfig

    @classmethod
    def gamma_of(cls, config: GKLConfig) -> float:
        return config.gamma

    @classmethod
    def released_settings(cls, dataset: str) -> dict[str, Any]:
        return {"gamma": 0.2} if dataset == "cifar10" else {"gamma": 0.4, "prior_temperature": 1.0}
