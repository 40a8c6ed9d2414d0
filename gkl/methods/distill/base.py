r"""What every distiller shares: the :class:`Distiller` base, the :class:`DistillConfig` base, the warm-up,
and building a distiller (or its config) from a registered name.

A *distiller* (in the style of mdistiller) holds a teacher; the student is the engine's. The teacher is frozen (no
parameter requires a gradient) and stays in ``eval()`` mode even when ``distiller.train()`` is called.
:meth:`Distiller.forward_train` returns the student's logits and a dict of **named loss terms**
whose sum is the training loss, so every term can be logged and plotted. The terms of each method,
each already weighted (its module docstring has the math):

==================  ================================================================================
method              terms
==================  ================================================================================
``none``            ``ce`` — the student trained alone (:mod:`gkl.methods.distill.student`)
``kd``              ``ce``, ``kd`` (:mod:`gkl.methods.distill.kd`)
``dkd``             ``ce``, ``tckd``, ``nckd`` (:mod:`gkl.methods.distill.dkd`)
``ikl``             ``ce``, ``kd_ce``, ``kd_wmse``: GKL's at γ = 1 (:mod:`gkl.methods.distill.ikl`)
``gkl``             ``ce``, ``kd_ce``, ``kd_wmse`` with the weight exponent γ (:mod:`gkl.methods.distill.gkl`)
==================  ================================================================================

Every method has ``ce`` :math:`= w_{ce}\,\mathrm{CE}(o_n, y)` (:math:`o_n`: student logits, :math:`o_m`:
teacher logits, :math:`s^T = \mathrm{softmax}(o / T)`), and
:math:`\omega = \min(\text{epoch} / \text{warmup}, 1)` is the warm-up factor of the distillation terms
(epochs count from 1; ``warmup = 0`` switches it off): :func:`warmup_factor`.

**Adding a distiller** is one file holding a ``Config`` (a :class:`DistillConfig` dataclass with only
its own hyper-parameters, declared with :func:`~gkl.methods.registry.param`) and a :class:`Distiller` subclass decorated with
``@DISTILLERS.register``, plus one import line in :mod:`gkl.methods.distill`. :func:`build_distiller`,
:func:`distill_config`, the command line's ``--method`` choices and flags, the run cache and the
chapters' tables find it through the registry.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Mapping, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gkl.methods.registry import DISTILLERS, MethodConfig, param

__all__ = ["DistillConfig", "Distiller", "param", "warmup_factor", "warmup_text", "build_distiller", "distill_config", "describe"]


def warmup_factor(epoch: int, warmup: int) -> float:
    r""":math:`\min(\text{epoch}/\text{warmup}, 1)`; 1 when ``warmup <= 0`` (epochs count from 1)."""
    if warmup <= 0:
        return 1.0
    return min(max(float(epoch), 0.0) / float(warmup), 1.0)


def warmup_text(warmup: int) -> tuple[str, str]:
    """``("ω·", ", warm-up N")`` for :meth:`Distiller.describe`; ``("", "")`` without a warm-up."""
    return ("ω·", f", warm-up {warmup}") if warmup > 0 else ("", "")


@dataclasses.dataclass
class DistillConfig(MethodConfig):
    """Base of every distiller's config: what all of them share (fields declared with :func:`param`,
    checked by :class:`~gkl.methods.registry.MethodConfig`).

    Attributes:
        ce_weight: weight :math:`w_{ce}` of the label cross-entropy.
    """

    ce_weight: float = param(1.0, "weight of the label cross-entropy")


class Distiller(nn.Module):
    """Base distiller: a frozen teacher in ``eval()``, the method's own trainable parts, and named
    loss terms. The **student is the engine's** (as the model is in adversarial training): the engine
    builds it after seeding, trains, checkpoints and evaluates it, and hands it to
    :meth:`forward_train` on every step.

    Class attributes (read by the registry and by :func:`build_distiller`): ``name``, ``label``,
    ``Config``, ``needs_teacher``. Subclasses implement :meth:`kd_terms`; a method with trainable
    parts of its own (FitNet's regressors, CRD's embeddings) builds them in :meth:`trainable_modules`.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    Config: ClassVar[type[DistillConfig]] = DistillConfig
    #: Whether :func:`build_distiller` must be given a teacher (the student trained alone needs none).
    needs_teacher: ClassVar[bool] = True

    def __init__(self, teacher: Optional[nn.Module], config: DistillConfig) -> None:
        super().__init__()
        self.teacher = teacher
        self.config = config
        if teacher is not None:
            for p in teacher.parameters():
                p.requires_grad_(False)
            teacher.eval()

        #: the method's own trainable modules, filled by :meth:`attach_trainable` (empty for most)
        self.extra = nn.ModuleDict()

    @classmethod
    def build(cls, teacher: Optional[nn.Module], config: DistillConfig, num_classes: int) -> "Distiller":
        """The distiller of ``config`` (called by :func:`build_distiller`; override to use ``num_classes``)."""
        return cls(teacher, config)

    def trainable_modules(self, student: nn.Module) -> dict[str, nn.Module]:
        """The method's own trainable modules, built for ``student`` (default: none). The engine calls
        this once, after it built the student (so their initial weights follow the run's seed), moves
        them to the device, trains them with the student (their parameters join the optimiser) and
        saves them in the checkpoint. :meth:`kd_terms` reaches them as ``self.extra[name]``."""
        return {}

    def attach_trainable(self, student: nn.Module) -> dict[str, nn.Module]:
        """Build :meth:`trainable_modules` for ``student`` and keep them in :attr:`extra` (called by
        :class:`~gkl.methods.distill.objective.DistillObjective`)."""
        mods = self.trainable_modules(student)
        bad = [k for k, m in mods.items() if not isinstance(m, nn.Module)]
        if bad:
            raise TypeError(f"{type(self).__name__}.trainable_modules: {', '.join(bad)} is not an nn.Module")
        self.extra = nn.ModuleDict(mods)
        return dict(self.extra.items())

    @classmethod
    def describe(cls, config: DistillConfig) -> str:
        """One line for tables and ``--help``: the config's settings (override for a formula)."""
        return ", ".join(f"{k} {_fmt(v)}" for k, v in dataclasses.asdict(config).items())

    def train(self, mode: bool = True) -> "Distiller":
        """Set the trainable parts' mode; the teacher always stays in ``eval()``."""
        self.training = mode
        self.extra.train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def teacher_logits(self, x: Tensor) -> Tensor:
        """Teacher logits under ``no_grad`` (teacher in eval mode)."""
        if self.teacher is None:
            raise ValueError("this distiller has no teacher")
        self.teacher.eval()
        with torch.no_grad():
            return self.teacher(x)

    def forward_train(self, student: nn.Module, x: Tensor, targets: Tensor,
                      epoch: int = 1) -> tuple[Tensor, dict[str, Tensor]]:
        """Student logits and the named loss terms of one batch.

        Args:
            student: the engine's student (maybe its DDP wrapper).
            x, targets: the batch.
            epoch: the current epoch, counting from 1 (drives the warm-up).
        """
        net = student
        logits = net(x)
        terms = {"ce": self.config.ce_weight * F.cross_entropy(logits, targets)}
        if self.teacher is not None:
            t = self.teacher_logits(x)
            terms.update(self.kd_terms(logits, t, targets, epoch, net.training))
        return logits, terms

    def kd_terms(self, student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, epoch: int,
                 training: bool) -> dict[str, Tensor]:
        """The distillation terms of a batch (``training``: the student is in train mode)."""
        raise NotImplementedError

    def end_epoch(self) -> None:
        """Call at the end of every training epoch, on every rank (rolls the class prior, if any)."""

    def states(self) -> dict[str, Any]:
        """Stateful helpers to checkpoint besides the modules (``state_dict``/``load_state_dict``):
        the class prior of IKL/GKL, nothing for the other methods."""
        return {}


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def distill_config(method: str, **settings: Any) -> DistillConfig:
    """The config of the registered ``method`` with ``settings`` (``None``: the method's default);
    a setting the method does not have is a one-line ``ValueError``."""
    return DISTILLERS.config(method, **settings)


def describe(config: DistillConfig) -> str:
    """One line describing ``config`` (its method's :meth:`Distiller.describe`)."""
    return DISTILLERS[config.method].describe(config)


def build_distiller(teacher: Optional[nn.Module], config: Union[DistillConfig, Mapping[str, Any]],
                    num_classes: int) -> Distiller:
    """The distiller of ``config.method`` (a config or its :meth:`~MethodConfig.to_dict`); a method
    that needs no teacher ignores ``teacher``."""
    if not isinstance(config, DistillConfig):
        config = DISTILLERS.from_dict(config)
    cls = DISTILLERS[config.method]
    if cls.needs_teacher and teacher is None:
        raise ValueError(f"method {config.method!r} needs a teacher")
    return cls.build(teacher if cls.needs_teacher else None, config, num_classes)
