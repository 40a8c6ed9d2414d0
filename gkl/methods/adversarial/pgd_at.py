r"""PGD-AT (Madry et al. 2018): :math:`\mathcal{L}_{CE}(o_a, y)` on the adversarial input alone.

:math:`x_a` is the **last iterate** of PGD on the label CE (the evaluation, not the training, keeps
the per-point worst iterate). No loss hyper-parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from gkl.methods.adversarial.attack_losses import ATTACK_WORDS
from gkl.methods.adversarial.base import AdversarialMethod
from gkl.methods.registry import ADVERSARIAL, MethodConfig
from gkl.training import StepOutput

__all__ = ["PGDAT"]


@dataclass
class PGDATConfig(MethodConfig):
    """PGD-AT has no hyper-parameters of its own (its attack is PGD on the label CE)."""


@ADVERSARIAL.register
class PGDAT(AdversarialMethod):
    """Madry's PGD adversarial training (see the module docstring)."""

    name = "pgd-at"
    label = "PGD-AT"
    Config = PGDATConfig

    def terms(self, net: nn.Module, inputs: Tensor, x_adv: Tensor, targets: Tensor,
              update_state: bool = False) -> StepOutput:
        adv_logits = net(x_adv)
        return StepOutput({"robust": F.cross_entropy(adv_logits, targets)}, logits=adv_logits)

    # attack_objective: the base's None, i.e. PGD on the label CE, last iterate

    @classmethod
    def describe(cls, config: PGDATConfig, num_classes: int) -> tuple[str, str]:
        return "CE on the adversarial input", ATTACK_WORDS["label-ce"]
