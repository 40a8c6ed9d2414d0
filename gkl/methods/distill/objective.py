r"""A distiller inside the training engine: :class:`DistillObjective`, and the batch augmentations
applied inside it (so teacher and student see the same input)."""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor, nn

from gkl.methods.distill.base import Distiller
from gkl.training import Objective, StepContext, StepOutput

__all__ = ["AUGMENTATIONS", "random_shift_1d", "mix_majority", "DistillObjective"]


def random_shift_1d(x: Tensor, max_shift: int = 4) -> Tensor:
    """Shift each signal of a ``(B, ..., L)`` batch by a random integer in ``[-max_shift, max_shift]``
    (edge values repeated); drawn from torch's global RNG, so it is seeded and resumable."""
    L = x.shape[-1]
    s = torch.randint(-max_shift, max_shift + 1, (x.shape[0],), device=x.device)
    idx = (torch.arange(L, device=x.device)[None, :] - s[:, None]).clamp(0, L - 1)  # (B, L)
    idx = idx.view(x.shape[0], *([1] * (x.dim() - 2)), L).expand_as(x)
    return torch.gather(x, -1, idx)


def mix_majority(x: Tensor, low: float = 0.5) -> Tensor:
    r"""Mix every input with a random partner of the batch, :math:`\tilde x = \mu x + (1-\mu) x'`
    with :math:`\mu \sim U(\text{low}, 1)`: the input keeps its majority part, so its label is
    kept (one target class, as DKD and the class prior need). The teacher labels the mixed input,
    so distillation sees the teacher's answer on points between the training samples."""
    lam = low + (1.0 - low) * torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device)
    partner = torch.randperm(x.shape[0], device=x.device)
    return lam * x + (1.0 - lam) * x[partner]


#: Batch augmentations applied inside the objective, so teacher and student see the same input.
AUGMENTATIONS = {"shift1d": random_shift_1d, "mix": mix_majority}


class DistillObjective(Objective):
    """:class:`gkl.training.Objective` of a distiller: teacher and class prior are engine-managed.

    The engine calls :meth:`end_epoch` on every rank before it saves the checkpoint, so the class
    prior is rolled first and the checkpoint holds the prior of the next epoch.

    ``loss_terms`` returns the distiller's named terms (logged as ``train_ce``, ``train_kd``, ...);
    evaluation reports ``test_acc`` of the student.
    """

    def __init__(self, distiller: Distiller, augment: Optional[str] = None, extra_config: Optional[dict] = None) -> None:
        if augment is not None and augment not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {augment!r}; choose from {', '.join(AUGMENTATIONS)}")
        self.distiller = distiller
        self.augment = augment
        self.extra_config = dict(extra_config or {})

    def modules(self) -> dict[str, nn.Module]:
        return {} if self.distiller.teacher is None else {"teacher": self.distiller.teacher}

    def states(self) -> dict[str, Any]:
        return self.distiller.states()

    def trainable(self, model: nn.Module) -> dict[str, nn.Module]:
        return self.distiller.attach_trainable(model)

    def end_epoch(self, epoch: int, ctx: StepContext) -> dict[str, float]:
        self.distiller.end_epoch()  # on every rank, before the engine writes the checkpoint
        return {}

    def loss_terms(self, model: nn.Module, inputs: Tensor, targets: Tensor, ctx: StepContext) -> StepOutput:
        if self.augment is not None:
            inputs = AUGMENTATIONS[self.augment](inputs)
        logits, terms = self.distiller.forward_train(model, inputs, targets, ctx.epoch)
        return StepOutput(terms, logits=logits)

    def eval_batch(self, module: nn.Module, inputs: Tensor, targets: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        with torch.no_grad():
            return {"test_acc": (module(inputs).argmax(1) == targets).sum()}

    def config(self) -> dict[str, Any]:
        return {"distill": self.distiller.config.to_dict(), "augment": self.augment, **self.extra_config}
