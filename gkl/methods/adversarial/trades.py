r"""TRADES (Zhang et al. 2019): :math:`\mathcal{L}_{CE}(o_c, y) + \beta\,\mathrm{KL}(s_c \| s_a)`.

:math:`x_a = \arg\max \mathrm{KL}(s_c \| s_a)` by default (``attack_loss="kl"``); ``beta`` is TRADES'
:math:`\beta` (default 6). The training step (adversarial logits first, then clean) is
:class:`gkl.methods.adversarial.base.DivergenceMethod`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from gkl.core.losses import kl_div
from gkl.methods.adversarial.attack_losses import (
    ATTACK_LOSS_HELP,
    ATTACK_LOSSES,
    ATTACK_WORDS,
    check_attack_loss,
    resolve_attack_loss,
)
from gkl.methods.adversarial.base import DivergenceMethod
from gkl.methods.registry import ADVERSARIAL, MethodConfig, param

__all__ = ["TRADES"]


@dataclass
class TRADESConfig(MethodConfig):
    """TRADES' hyper-parameters."""

    beta: float = param(6.0, "weight β of the KL term")
    attack_loss: str = param("kl", ATTACK_LOSS_HELP, choices=ATTACK_LOSSES)

    def __post_init__(self) -> None:
        check_attack_loss(self.attack_loss)  # first: its own message for PGD-AT's "label-ce"
        super().__post_init__()


@ADVERSARIAL.register
class TRADES(DivergenceMethod):
    """TRADES (see the module docstring). Logged terms: ``natural``, ``robust`` (already × β)."""

    name = "trades"
    label = "TRADES"
    Config = TRADESConfig

    def divergence(self, adv_logits: Tensor, clean_logits: Tensor, targets: Tensor) -> dict[str, Tensor]:
        c = self.config
        return {"robust": c.beta * kl_div(adv_logits, clean_logits)}

    @classmethod
    def describe(cls, config: TRADESConfig, num_classes: int) -> tuple[str, str]:
        return f"CE + {config.beta:g}·KL(s_c ‖ s_a)", ATTACK_WORDS[resolve_attack_loss(config.attack_loss, num_classes)]
