"""What a method implements to be trained by the engine: an :class:`Objective` computes the named
loss terms of one step; :class:`StepContext` tells it where it is; :class:`StepOutput` is its answer.

**Interface.**

.. code-block:: python

    from gkl.training import Objective, StepOutput, TrainConfig, fit

    class MyObjective(Objective):
        def __init__(self, teacher, prior):
            self.teacher, self.prior = teacher, prior

        def modules(self):            # frozen extra modules: moved to the device, eval(), no grad,
            return {"teacher": self.teacher}        # saved in the checkpoint

        def states(self):             # objects with state_dict()/load_state_dict() (and .to(device)):
            return {"prior": self.prior}            # moved to the device, saved in the checkpoint

        def trainable(self, model):   # the method's own trainable modules (default: none), trained,
            return {}                               # optimised and checkpointed with the model

        def end_epoch(self, epoch, ctx):            # on every rank: this epoch's prior weights the next
            self.prior.roll()
            return {}

        def loss_terms(self, model, inputs, targets, ctx):
            logits = model(inputs)                  # model: the trainable model (maybe DDP-wrapped)
            with torch.no_grad():
                t = self.teacher(inputs)
            self.prior.update(t, targets)
            kd = gkl.gkl(logits, t, targets, self.prior.current, beta=8.0, gamma=0.2, temperature=4.0)
            return StepOutput({"ce": F.cross_entropy(logits, targets), "kd": kd},
                              logits=logits)       # loss = sum of the terms; logits -> train_acc

    history = fit(model, MyObjective(...), train_set, test_set, TrainConfig(epochs=5), out_dir="runs/x")

* :meth:`Objective.loss_terms` returns a :class:`StepOutput` (or a plain ``dict``) of **already
  weighted** scalar terms; the engine minimises their sum and logs each as ``train_<name>``.
  ``ctx`` is a :class:`StepContext`: ``ctx.module`` is the unwrapped model (run attacks on it, not
  on the DDP wrapper), plus ``device``, ``epoch``, ``epochs``, ``step``, ``steps_per_epoch``,
  ``progress`` (fraction of training done, for schedules), ``rank``, ``world_size``, ``config``.
* :meth:`Objective.start_epoch` / :meth:`Objective.end_epoch` run on **every** rank (so collective
  calls such as :meth:`gkl.ClassPrior.compute` are safe there); ``end_epoch`` may return extra
  metrics (floats, identical on every rank).
* :meth:`Objective.eval_batch` returns per-batch **sums** (e.g. the number of correct predictions)
  under metric names; the engine adds them over the test set (and over ranks) and divides by the
  number of samples. The default gives ``clean_acc``; adversarial objectives add ``robust_acc``.
  It runs with the model in eval mode, inside a forked, seeded RNG (evaluation never changes the
  training's random stream).
* :meth:`Objective.before_optimizer_step` runs after ``loss.backward()`` and before
  ``optimizer.step()`` (e.g. to take back an adversarial weight perturbation, :mod:`gkl.training.awp`).
* :meth:`Objective.extra_state` / :meth:`Objective.load_extra_state` save any other plain state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

import torch
from torch import Tensor, nn

from gkl.training.config import TrainConfig

__all__ = ["Objective", "StepContext", "StepOutput", "build_trainable"]


@dataclass
class StepOutput:
    """What :meth:`Objective.loss_terms` returns: weighted scalar terms (summed into the loss) and,
    optionally, the clean logits of the batch (for ``train_acc``)."""

    terms: dict[str, Tensor]
    logits: Optional[Tensor] = None


@dataclass
class StepContext:
    """Read-only facts about the current step, passed to the objective."""

    device: torch.device
    module: nn.Module
    config: TrainConfig
    epoch: int = 0
    epochs: int = 1
    step: int = 0
    steps_per_epoch: int = 1
    rank: int = 0
    world_size: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def progress(self) -> float:
        """Fraction of training completed before this step, in [0, 1)."""
        return self.step / max(1, self.epochs * self.steps_per_epoch)


class Objective:
    """Base class of a training task; override :meth:`loss_terms` (see the module docstring).

    The hooks, in the order :func:`gkl.training.fit` calls them:

    1. :meth:`config` — once, first: saved in the checkpoint and compared on resume.
    2. :meth:`trainable` — once, right after the model is built; then :meth:`modules` /
       :meth:`states` — via :meth:`to`: moved to the device (modules frozen in eval mode).
    3. On resume only: :meth:`load_state_dict` (which calls :meth:`load_extra_state`), then :meth:`to`
       again.
    4. :meth:`setup` — once, before the first epoch.
    5. Every epoch, on every rank: :meth:`start_epoch`; then per step :meth:`loss_terms` (under
       autocast when ``amp`` is set) and, after ``loss.backward()``, :meth:`before_optimizer_step`;
       then :meth:`end_epoch` (its metrics join the epoch's).
    6. When the epoch is evaluated: :meth:`eval_batch` per test batch (model in eval mode, seeded RNG).
    7. On rank 0, when a checkpoint is written: :meth:`state_dict` (which calls :meth:`extra_state`).
    """

    def modules(self) -> dict[str, nn.Module]:
        """Frozen extra modules (e.g. a teacher)."""
        return {}

    def states(self) -> dict[str, Any]:
        """Stateful helpers with ``state_dict``/``load_state_dict`` (e.g. a :class:`gkl.ClassPrior`)."""
        return {}

    def trainable(self, model: nn.Module) -> dict[str, nn.Module]:
        """The method's own trainable modules (e.g. a distiller's regressors), built for ``model``.

        Called once, right after the engine built the model (after seeding, so their initial weights
        follow the run's seed). The engine moves them to the device, switches them to train mode with
        the model, puts their parameters in the optimiser after the model's and saves their
        ``state_dict`` in the checkpoint (``"trainable"``). Default: none."""
        return {}

    def setup(self, ctx: StepContext) -> None:
        """Called once before training (after the device is known and the modules moved)."""

    def start_epoch(self, epoch: int, ctx: StepContext) -> None:
        """Called on every rank before epoch ``epoch`` (1-based)."""

    def loss_terms(self, model: nn.Module, inputs: Tensor, targets: Tensor, ctx: StepContext) -> Union[StepOutput, dict]:
        """The already weighted loss terms of one batch (their sum is minimised)."""
        raise NotImplementedError

    def before_optimizer_step(self, ctx: StepContext) -> None:
        """Called after ``loss.backward()``, before ``optimizer.step()`` (default: nothing)."""

    def end_epoch(self, epoch: int, ctx: StepContext) -> dict[str, float]:
        """Called on every rank after the epoch's steps; returns extra metrics."""
        return {}

    def eval_batch(self, module: nn.Module, inputs: Tensor, targets: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        """Per-batch sums of evaluation metrics; default: ``clean_acc`` (number correct)."""
        with torch.no_grad():
            return {"clean_acc": (module(inputs).argmax(1) == targets).sum()}

    def extra_state(self) -> dict[str, Any]:
        """Any other plain state to save in the checkpoint (default: none)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` returned."""
        pass

    def config(self) -> dict[str, Any]:
        """Plain description of the objective's settings (saved in the checkpoint, checked on resume)."""
        return {}

    # -- used by the engine ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Modules, states and extra state, as saved in the checkpoint."""
        return {
            "modules": {k: m.state_dict() for k, m in self.modules().items()},
            "states": {k: s.state_dict() for k, s in self.states().items()},
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (every part of :meth:`states` must be there)."""
        for k, m in self.modules().items():
            if k in state.get("modules", {}):
                m.load_state_dict(state["modules"][k])
        for k, s in self.states().items():
            if k not in state.get("states", {}):
                raise ValueError(f"checkpoint has no state for objective part {k!r}")
            s.load_state_dict(state["states"][k])
        self.load_extra_state(state.get("extra", {}))

    def to(self, device: torch.device) -> "Objective":
        """Move the modules (frozen: eval mode, no grad) and the states to ``device``."""
        for m in self.modules().values():
            m.to(device).eval().requires_grad_(False)
        for s in self.states().values():
            if hasattr(s, "to"):
                s.to(device)
        return self


def build_trainable(objective: Objective, model: nn.Module, world: int) -> nn.ModuleDict:
    """The engine's call of :meth:`Objective.trainable`: the modules in one ``nn.ModuleDict``, checked."""
    mods = objective.trainable(model) or {}
    bad = [k for k, m in mods.items() if not isinstance(m, nn.Module)]
    if bad:
        raise TypeError(f"Objective.trainable must return nn.Modules; {', '.join(bad)} is not one")
    if mods and world > 1:
        raise ValueError("an objective's own trainable modules are not supported with several processes yet")
    return nn.ModuleDict(mods)
