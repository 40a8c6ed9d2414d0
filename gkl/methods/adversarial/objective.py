r"""The engine adapter of every adversarial-training method (:class:`AdversarialObjective`).

One training step: the ε and attack-step schedule (:class:`gkl.methods.adversarial.base.AttackSetup`),
the method's inner maximisation on the unwrapped module (its ``attack_objective`` ascended by
:func:`gkl.attacks.trades_perturb`, or label-CE PGD's last iterate when it has none), adversarial
weight perturbation on the method's full training loss (from epoch ``awp_warmup``), then the method's
weighted terms. Evaluation: clean accuracy and PGD robust accuracy. Nothing here depends on which
method runs: the method object (registered in :data:`gkl.methods.adversarial.ADVERSARIAL`) does.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor, nn

from gkl.attacks import pgd, trades_perturb
from gkl.methods.adversarial.base import AdversarialConfig, AdversarialMethod
from gkl.methods.registry import ADVERSARIAL
from gkl.training import Objective, StepContext, StepOutput
from gkl.training.awp import AdversarialWeightPerturbation

__all__ = ["AdversarialObjective"]


class AdversarialObjective(Objective):
    """The engine objective of an :class:`AdversarialConfig` (see the module docstring).

    ``method`` is the method object (``terms``, ``attack_objective``, its state). Loss terms logged
    per epoch are the method's (e.g. ``natural`` and ``robust``). Evaluation metrics: ``clean_acc``
    and ``robust_acc`` (PGD with ``eval_steps`` steps at ``eval_epsilon``, default ``epsilon``).
    Extra metrics: ``epsilon`` (reached at the epoch's end), ``attack_steps``, ``awp`` (1 when AWP
    ran in the epoch).
    """

    def __init__(self, config: AdversarialConfig, num_classes: int) -> None:
        self.cfg = config
        self.num_classes = num_classes
        self.method: AdversarialMethod = ADVERSARIAL[config.name](config.method, num_classes)
        self.awp: Optional[AdversarialWeightPerturbation] = None
        self._eps_now = config.setup.epsilon
        self._steps_now = config.setup.attack_steps
        self._awp_now = False

    # -- engine hooks ---------------------------------------------------------------------------
    def states(self) -> dict[str, Any]:
        return self.method.states()

    def config(self) -> dict[str, Any]:
        return self.cfg.to_dict()

    def setup(self, ctx: StepContext) -> None:
        if self.cfg.setup.awp_gamma is not None:
            self.awp = AdversarialWeightPerturbation(ctx.module, self.cfg.setup.awp_gamma)

    def end_epoch(self, epoch: int, ctx: StepContext) -> dict[str, float]:
        self.method.end_epoch()
        return {"epsilon": float(self._eps_now), "attack_steps": int(self._steps_now), "awp": int(self._awp_now)}

    def schedule(self, ctx: StepContext) -> tuple[float, int]:
        """``(ε, attack steps)`` for the current step (see ``eps_schedule`` in :mod:`gkl.methods.adversarial.base`)."""
        c = self.cfg.setup
        if c.eps_schedule == "released-linear":
            return c.epsilon * ctx.epoch / ctx.epochs, c.attack_steps
        if c.eps_warmup <= 0:
            return c.epsilon, c.attack_steps
        frac = min(1.0, (ctx.step + 1) / (c.eps_warmup * ctx.steps_per_epoch))
        lo = c.attack_steps if c.attack_steps_min is None else c.attack_steps_min
        return c.epsilon * frac, int(round(lo + (c.attack_steps - lo) * frac))

    # -- one step -------------------------------------------------------------------------------
    def perturb(self, module: nn.Module, inputs: Tensor, targets: Tensor, eps: float, steps: int) -> Tensor:
        """The method's training attack (on the unwrapped ``module``)."""
        c = self.cfg.setup
        step_size = c.step_ratio * eps
        objective = self.method.attack_objective(targets)
        if objective is None:  # PGD on the label CE, last iterate (Madry's PGD-AT)
            return pgd(module, inputs, targets, eps, steps, step_size, c.norm, random_start=True, iterate="last")
        return trades_perturb(module, inputs, objective, eps, steps, step_size, c.norm)

    def loss_terms(self, model: nn.Module, inputs: Tensor, targets: Tensor, ctx: StepContext) -> StepOutput:
        eps, steps = self.schedule(ctx)
        self._eps_now, self._steps_now = eps, steps
        x_adv = self.perturb(ctx.module, inputs, targets, eps, steps)
        if self.awp is not None and ctx.epoch >= self.cfg.setup.awp_warmup:
            self._awp_now = True
            self.awp.perturb(lambda net: sum(self.method.terms(net, inputs, x_adv, targets).terms.values()))
        else:
            self._awp_now = False
        return self.method.terms(model, inputs, x_adv, targets, update_state=True)

    def before_optimizer_step(self, ctx: StepContext) -> None:
        if self.awp is not None:
            self.awp.restore()  # the gradient was taken at the perturbed weights; step from the saved ones

    def eval_batch(self, module: nn.Module, inputs: Tensor, targets: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        c = self.cfg.setup
        eps = c.epsilon if c.eval_epsilon is None else c.eval_epsilon
        with torch.no_grad():
            clean = module(inputs).argmax(1) == targets
        x_adv = pgd(module, inputs, targets, eps, steps=c.eval_steps, norm=c.norm)
        with torch.no_grad():
            robust = (module(x_adv).argmax(1) == targets) & clean
        return {"clean_acc": clean.sum(), "robust_acc": robust.sum()}
