r"""GKL-AT, as released (DKLv2 ``train_dkl_cifar10/100.py``), :math:`o_c` the clean and :math:`o_a` the
adversarial logits:

.. math:: \mathcal{L}_{CE}(o_c, y) + \beta\,\mathrm{wMSE}_\gamma(o_a, o_c) + \alpha\,\mathrm{CE}(s_c, s_a)

with :func:`gkl.core.losses.gkl_parts` — weights :math:`u^\gamma u^\gamma` from ``u`` = the class-prior
row of the label, normalised by the batch's total weight, the gradient of the wMSE reaching **both**
the adversarial and the clean logits, and the soft-label CE at ``temperature`` :math:`T = 1` (the
released loss is called without a temperature). Logged terms: ``natural``, ``robust_ce`` (× α),
``robust_wmse`` (× β). IKL-AT (:mod:`gkl.methods.adversarial.ikl`) is the case :math:`\gamma = 1`.

**Class prior** (``use_prior``): row :math:`c` is the mean of :math:`\mathrm{softmax}(o_c / T_p)` over
the clean training logits of class :math:`c` of one epoch, with ``prior_temperature``
:math:`T_p = 4` (the released scripts' ``--T`` sets only this temperature), used during the next
epoch (uniform in epoch 1): :class:`gkl.core.prior.ClassPrior` is updated in :meth:`GKL.observe` and
rolled at every epoch's end (:meth:`GKL.end_epoch`), all-reduced over DDP ranks. Without the prior,
per-sample weights from the clean logits at ``weight_temperature``.

The inner attack is ``attack_loss`` (default ``"released"``: see
:mod:`gkl.methods.adversarial.attack_losses`).

Released: :math:`\alpha = 4`, :math:`\beta = 20`, :math:`\gamma = 0.2` (CIFAR-10) / 0.4 (CIFAR-100,
whose released command also sets the prior's temperature to 1), CE at :math:`T = 1`, class prior at
:math:`T_p = 4`, the released inner attack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from torch import Tensor

from gkl.core.losses import gkl_parts
from gkl.core.prior import ClassPrior
from gkl.methods.adversarial.attack_losses import (
    ATTACK_LOSS_HELP,
    ATTACK_LOSSES,
    ATTACK_WORDS,
    check_attack_loss,
    resolve_attack_loss,
)
from gkl.methods.adversarial.base import DivergenceMethod
from gkl.methods.registry import ADVERSARIAL, MethodConfig, param

__all__ = ["AdvGKLTermsConfig", "GKLConfig", "GKL"]


@dataclass
class AdvGKLTermsConfig(MethodConfig):
    r"""The settings of GKL-AT's terms, all but :math:`\gamma` (what IKL-AT's config holds too), at the
    released AT values."""

    alpha: float = param(4.0, "weight α of the soft-label CE")
    beta: float = param(20.0, "weight β of the wMSE")
    temperature: float = param(1.0, "temperature T of the soft-label CE (released 1)", strict=True)
    weight_temperature: float = param(1.0, "temperature of the per-sample weights without the class prior",
                                      strict=True)
    use_prior: bool = param(True, "class-wise global information (the class prior)", flag="--prior")
    prior_temperature: float = param(4.0, "softmax temperature of the class prior (released 4)", strict=True)
    attack_loss: str = param("released", ATTACK_LOSS_HELP, choices=ATTACK_LOSSES)

    def __post_init__(self) -> None:
        check_attack_loss(self.attack_loss)  # first: its own message for PGD-AT's "label-ce"
        super().__post_init__()


@dataclass
class GKLConfig(AdvGKLTermsConfig):
    """GKL-AT's hyper-parameters: its terms' settings and the weight exponent γ."""

    gamma: float = param(0.2, "weight exponent γ (released 0.2 on CIFAR-10, 0.4 on CIFAR-100)")


@ADVERSARIAL.register
class GKL(DivergenceMethod):
    """GKL adversarial training (see the module docstring)."""

    name = "gkl"
    label = "GKL"
    Config = GKLConfig

    def __init__(self, config: AdvGKLTermsConfig, num_classes: int) -> None:
        super().__init__(config, num_classes)
        self.prior: Optional[ClassPrior] = ClassPrior(num_classes, config.prior_temperature) if config.use_prior else None

    @classmethod
    def gamma_of(cls, config: AdvGKLTermsConfig) -> float:
        """The weight exponent γ of ``config``."""
        return config.gamma

    @classmethod
    def released_settings(cls, dataset: str) -> dict[str, Any]:
        return {"gamma": 0.2} if dataset == "cifar10" else {"gamma": 0.4, "prior_temperature": 1.0}

    # -- state: the epoch-ahead class prior ------------------------------------------------------
    def states(self) -> dict[str, Any]:
        return {"prior": self.prior} if self.prior is not None else {}

    def observe(self, clean_logits: Tensor, targets: Tensor) -> None:
        if self.prior is not None:
            self.prior.update(clean_logits, targets)

    def end_epoch(self) -> None:
        if self.prior is not None:  # epoch-ahead: this epoch's clean logits weight the next epoch
            self.prior.roll()

    def weights_prior(self) -> Optional[Tensor]:
        return self.prior.current if self.prior is not None else None

    def weight_temperature(self) -> float:
        return self.config.weight_temperature

    # -- the loss ----------------------------------------------------------------------------------
    def divergence(self, adv_logits: Tensor, clean_logits: Tensor, targets: Tensor) -> dict[str, Tensor]:
        c, prior, gamma = self.config, self.weights_prior(), self.gamma_of(self.config)
        parts = gkl_parts(adv_logits, clean_logits, targets if prior is not None else None, prior, gamma=gamma,
                          temperature=c.temperature, weight_temperature=c.weight_temperature)
        return {"robust_ce": c.alpha * parts.ce, "robust_wmse": c.beta * parts.wmse}

    @classmethod
    def describe(cls, config: AdvGKLTermsConfig, num_classes: int) -> tuple[str, str]:
        c = config
        prior = (f"class prior at T = {c.prior_temperature:g}" if c.use_prior
                 else f"per-sample weights at T₂ = {c.weight_temperature:g}")
        loss = f"CE + {c.beta:g}·wMSE(γ = {cls.gamma_of(c):g}, {prior}) + {c.alpha:g}·soft CE at T = {c.temperature:g}"
        return loss, ATTACK_WORDS[resolve_attack_loss(c.attack_loss, num_classes)]
