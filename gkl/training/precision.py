"""Numerics of a training step: mixed precision and the non-finite-loss check.

**Mixed precision** (``amp="bf16"`` or ``"fp16"``, for GPU runs): the objective's forward pass runs
under :func:`torch.autocast`; fp16 adds a :class:`torch.amp.GradScaler` (saved in the checkpoint).
Attacks inside the objective run under the same autocast.

**Non-finite losses** stop training with a :class:`FloatingPointError` naming the epoch and the step
range. The check costs one host synchronisation every ``nan_check_every`` steps and at every epoch's
end, not one per step.
"""

from __future__ import annotations

import contextlib
from typing import ContextManager, Mapping

import torch
from torch import Tensor

from gkl.training.config import TrainConfig

__all__ = ["autocast", "make_scaler", "check_finite"]


def autocast(config: TrainConfig, device: torch.device) -> ContextManager:
    """Mixed precision for the forward pass (``config.amp``: ``"bf16"`` or ``"fp16"``), else a no-op.
    The losses of :mod:`gkl.core.losses` compute in float32 from low-precision logits."""
    if config.amp is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if config.amp == "bf16" else torch.float16)


def make_scaler(config: TrainConfig, device: torch.device) -> torch.amp.GradScaler:
    """fp16 needs loss scaling; bf16 and fp32 do not (a disabled scaler is a pass-through)."""
    return torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")


def check_finite(term_sums: Mapping[str, Tensor], epoch: int, first: int, last: int) -> None:
    """Raise if a running loss-term sum is not finite (one host sync for all terms)."""
    if not term_sums:
        return
    total = torch.stack([v for v in term_sums.values()]).sum()
    if not bool(torch.isfinite(total)):
        bad = sorted(k for k, v in term_sums.items() if not bool(torch.isfinite(v)))
        raise FloatingPointError(
            f"non-finite loss ({', '.join(bad)}) at epoch {epoch}, in steps {first}..{last} of the epoch"
        )
