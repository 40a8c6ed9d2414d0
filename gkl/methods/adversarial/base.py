r"""What every adversarial-training method shares: the threat model and its schedule, AWP and the
evaluation (:class:`AttackSetup`), the method interface (:class:`AdversarialMethod`), the
TRADES-shaped training step of TRADES, IKL and GKL (:class:`DivergenceMethod`), and the full
configuration of one run (:class:`AdversarialConfig` = setup + the method's own config).

**Schedules** (``eps_schedule``):

* ``"ramp-hold"`` (the intended one): ε grows linearly per step from 0 to ``epsilon`` over the first
  ``eps_warmup`` epochs, then stays; the attack steps grow from ``attack_steps_min`` (if set) to
  ``attack_steps`` over the same warm-up;
* ``"released-linear"`` (what the released code runs): :math:`\varepsilon_e = \varepsilon\,e/E` per epoch
  :math:`e = 1..E`, reaching ``epsilon`` only in the last epoch; ``attack_steps`` steps throughout (its
  2→5-step curriculum never runs: a chain of ``if`` s leaves 5 steps of :math:`\varepsilon_e/2`).

The step size is ``step_ratio`` × the current ε.

**Defaults** live here and nowhere else: :class:`AttackSetup`'s field defaults are the CIFAR threat
model (ε = 8/255, 10 steps of ε/4); :data:`DATASET_ATTACKS` holds what differs for a data set (the small
``digits``: ε = 0.2, 5 steps of 0.4·ε), and :func:`attack_defaults` merges the two for the command line
and the profiles. The released recipe (:func:`gkl.methods.adversarial.train.released_recipe`, 5 steps
of ε/2 on a linear ε ramp) is the authors' run, not a default.

**Adversarial weight perturbation** (``awp_gamma``, released 0.005 from epoch ``awp_warmup`` = 10):
:mod:`gkl.training.awp`, computed on the full training loss of the method (usable with every method).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping, Optional

import torch.nn.functional as F
from torch import Tensor, nn

from gkl.methods.adversarial.attack_losses import attack_objective, resolve_attack_loss
from gkl.methods.registry import ADVERSARIAL, MethodConfig
from gkl.training import StepOutput

__all__ = ["EPS_SCHEDULES", "DATASET_ATTACKS", "AttackSetup", "AdversarialMethod", "DivergenceMethod",
           "AdversarialConfig", "attack_defaults"]

EPS_SCHEDULES = ("ramp-hold", "released-linear")


@dataclass
class AttackSetup:
    """The settings every method shares: threat model, attack schedule, AWP, per-epoch evaluation.

    ``eval_epsilon`` (default ``epsilon``) and ``eval_steps`` set the per-epoch robust accuracy (PGD).
    """

    epsilon: float = 8 / 255
    norm: str = "linf"
    attack_steps: int = 10
    attack_steps_min: Optional[int] = None
    step_ratio: float = 0.25
    eps_schedule: str = "ramp-hold"
    eps_warmup: float = 0.0
    awp_gamma: Optional[float] = None
    awp_warmup: int = 10
    eval_epsilon: Optional[float] = None
    eval_steps: int = 10

    def __post_init__(self) -> None:
        if not (self.epsilon >= 0 and math.isfinite(self.epsilon)):
            raise ValueError(f"epsilon must be >= 0, got {self.epsilon}")
        if self.norm not in ("linf", "l2"):
            raise ValueError(f"norm must be 'linf' or 'l2', got {self.norm!r}")
        if self.attack_steps < 0 or (self.attack_steps_min is not None and self.attack_steps_min < 0):
            raise ValueError("attack steps must be >= 0")
        if self.step_ratio <= 0 or self.eps_warmup < 0:
            raise ValueError("step_ratio must be > 0 and eps_warmup >= 0")
        if self.eps_schedule not in EPS_SCHEDULES:
            raise ValueError(f"eps_schedule must be one of {', '.join(EPS_SCHEDULES)}, got {self.eps_schedule!r}")
        if self.awp_gamma is not None and not self.awp_gamma > 0:
            raise ValueError(f"awp_gamma must be > 0 or None, got {self.awp_gamma}")
        if self.awp_warmup < 1:
            raise ValueError(f"awp_warmup is the first epoch with AWP (>= 1), got {self.awp_warmup}")
        if self.eval_epsilon is not None and not self.eval_epsilon >= 0:
            raise ValueError(f"eval_epsilon must be >= 0, got {self.eval_epsilon}")


SETUP_FIELDS = tuple(f.name for f in dataclasses.fields(AttackSetup))

#: Per data set, the :class:`AttackSetup` settings that differ from its (CIFAR) defaults.
DATASET_ATTACKS: dict[str, dict[str, Any]] = {
    "digits": {"epsilon": 0.2, "attack_steps": 5, "step_ratio": 0.4},  # 8x8 images in [0, 1]
}


def attack_defaults(dataset: str) -> dict[str, Any]:
    """Every :class:`AttackSetup` field's default for ``dataset``: the class's, updated with
    :data:`DATASET_ATTACKS` (``AttackSetup(**attack_defaults(d))`` is that data set's default setup)."""
    return {**dataclasses.asdict(AttackSetup()), **DATASET_ATTACKS.get(dataset, {})}


class AdversarialMethod:
    """One adversarial-training method: its training terms, its inner attack and its state.

    Subclasses set ``name``, ``label`` and ``Config`` and are registered with ``@ADVERSARIAL.register``;
    :class:`gkl.methods.adversarial.AdversarialObjective` drives them (schedule, attack, AWP, evaluation).
    """

    name: ClassVar[str]
    label: ClassVar[str]
    Config: ClassVar[type[MethodConfig]]  # each method's own dataclass (never the shared base)

    def __init__(self, config: MethodConfig, num_classes: int) -> None:
        self.config = config
        self.num_classes = num_classes

    def terms(self, net: nn.Module, inputs: Tensor, x_adv: Tensor, targets: Tensor,
              update_state: bool = False) -> StepOutput:
        """The weighted training terms with ``net`` (the model, or AWP's proxy copy); ``update_state``
        (the real step only, not AWP's proxy pass) lets the method record statistics such as its prior."""
        raise NotImplementedError

    def attack_objective(self, targets: Tensor) -> Optional[Callable[[Tensor, Tensor], Tensor]]:
        """The scalar ``f(adv_logits, clean_logits)`` the inner maximisation ascends; ``None``: PGD on
        the label CE, last iterate (Madry's PGD-AT)."""
        return None

    def states(self) -> dict[str, Any]:
        """Stateful parts saved in the checkpoint (``state_dict``/``load_state_dict``)."""
        return {}

    def end_epoch(self) -> None:
        """Called at every epoch's end (on every rank)."""

    @classmethod
    def released_settings(cls, dataset: str) -> dict[str, Any]:
        """This method's settings in the released recipe for ``dataset`` beyond its defaults."""
        return {}

    @classmethod
    def describe(cls, config: MethodConfig, num_classes: int) -> tuple[str, str]:
        """``(training loss, inner maximisation)`` in words, for the chapter's method table."""
        raise NotImplementedError


class DivergenceMethod(AdversarialMethod):
    r"""TRADES-shaped methods: :math:`\mathcal{L}_{CE}(o_c, y) + D(o_a, o_c)` (``natural`` + the
    method's :meth:`divergence` terms), the attack ascending the config's ``attack_loss``.

    The adversarial logits are computed **before** the clean ones, as released (batch-norm statistics
    order); the state (a class prior) is updated from the detached clean logits.
    """

    def __init__(self, config: MethodConfig, num_classes: int) -> None:
        super().__init__(config, num_classes)
        self.attack_loss = resolve_attack_loss(config.attack_loss, num_classes)

    def divergence(self, adv_logits: Tensor, clean_logits: Tensor, targets: Tensor) -> dict[str, Tensor]:
        """The weighted robust terms between adversarial (student) and clean (teacher) logits."""
        raise NotImplementedError

    def observe(self, clean_logits: Tensor, targets: Tensor) -> None:
        """Record the training step's detached clean logits (default: nothing)."""

    def weights_prior(self) -> Optional[Tensor]:
        """The class prior in use this epoch (``None`` without one)."""
        return None

    def weight_temperature(self) -> float:
        """Temperature of the per-sample weights when there is no prior (``"gkl-unit"`` attack)."""
        return 1.0

    def terms(self, net: nn.Module, inputs: Tensor, x_adv: Tensor, targets: Tensor,
              update_state: bool = False) -> StepOutput:
        adv_logits = net(x_adv)
        clean_logits = net(inputs)  # after the adversarial batch, as released (BN statistics order)
        if update_state:
            self.observe(clean_logits.detach(), targets)
        out = {"natural": F.cross_entropy(clean_logits, targets)}
        out.update(self.divergence(adv_logits, clean_logits, targets))
        return StepOutput(out, logits=clean_logits)

    def attack_objective(self, targets: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
        own = lambda adv, clean: sum(self.divergence(adv, clean, targets).values())  # noqa: E731
        return attack_objective(self.attack_loss, targets, own, self.weights_prior(), self.weight_temperature())


@dataclass
class AdversarialConfig:
    """The full configuration of one adversarial-training run: the shared :class:`AttackSetup` and
    the method's own config (``method.method`` is its registered name)."""

    setup: AttackSetup
    method: MethodConfig

    @property
    def name(self) -> str:
        """The method's registered name."""
        return self.method.method

    @classmethod
    def for_method(cls, method: str, **settings: Any) -> "AdversarialConfig":
        """``method``'s defaults updated with ``settings`` (``None`` values mean "the default"); each
        setting goes to the setup or to the method's config, and one neither knows is a ``ValueError``."""
        setup = {k: v for k, v in settings.items() if k in SETUP_FIELDS and v is not None}
        own = {k: v for k, v in settings.items() if k not in SETUP_FIELDS}
        return cls(AttackSetup(**setup), ADVERSARIAL.config(method, **own))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "AdversarialConfig":
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        setup = {k: d.pop(k) for k in SETUP_FIELDS if k in d}
        return cls(AttackSetup(**setup), ADVERSARIAL.from_dict(d))

    def to_dict(self) -> dict[str, Any]:
        """One flat dict (setup fields, ``method`` and the method's fields): what checkpoints record."""
        return {**dataclasses.asdict(self.setup), **self.method.to_dict()}

    def replace(self, **changes: Any) -> "AdversarialConfig":
        """A copy with ``changes`` (setup or method settings)."""
        setup = {k: v for k, v in changes.items() if k in SETUP_FIELDS}
        own = {k: v for k, v in changes.items() if k not in SETUP_FIELDS}
        return AdversarialConfig(dataclasses.replace(self.setup, **setup), self.method.replace(**own))
