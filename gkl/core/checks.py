"""Input validation shared by the losses and the class prior.

Every check raises a one-line ``TypeError`` / ``ValueError`` that names the argument, so a mistake
surfaces here rather than as a broadcasting error deep inside torch (or, worse, a silently wrong loss).
Checks that need the values of a tensor (finiteness of logits) force a host/device sync on a GPU;
the losses run those only when called with ``check_finite=True``.
"""

from __future__ import annotations

import math
from numbers import Real

import torch
from torch import Tensor

__all__ = [
    "check_logits",
    "check_pair",
    "check_positive",
    "check_nonnegative",
    "check_targets",
    "check_prior",
    "check_prior_values",
    "check_prior_rows",
]


def check_logits(x: object, name: str) -> Tensor:
    """A floating-point ``(batch, classes)`` tensor with at least one row and two classes."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor (logits), got dtype {x.dtype}")
    if x.dim() != 2:
        raise ValueError(f"{name} must be 2-D (batch, classes), got shape {tuple(x.shape)}")
    if x.shape[0] < 1:
        raise ValueError(f"{name} has an empty batch (shape {tuple(x.shape)})")
    if x.shape[1] < 2:
        raise ValueError(f"{name} needs at least 2 classes, got shape {tuple(x.shape)}")
    return x


def check_pair(student: object, teacher: object, check_finite: bool = False) -> tuple[Tensor, Tensor]:
    """Student and teacher logits of one shape, on one device."""
    s = check_logits(student, "student_logits")
    t = check_logits(teacher, "teacher_logits")
    if s.shape != t.shape:
        raise ValueError(
            f"student_logits and teacher_logits must have the same shape, got {tuple(s.shape)} and {tuple(t.shape)}"
        )
    if s.device != t.device:
        raise ValueError(f"student_logits is on {s.device} but teacher_logits is on {t.device}")
    if check_finite:
        for x, name in ((s, "student_logits"), (t, "teacher_logits")):
            if not bool(torch.isfinite(x).all()):
                raise ValueError(f"{name} contains NaN or infinite values")
    return s, t


def _real(value: object, name: str) -> float:
    if type(value) is float:  # the common case, without the abstract-base-class checks below
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
        return value
    if isinstance(value, bool) or not isinstance(value, (Real, Tensor)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise TypeError(f"{name} must be a scalar, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_positive(value: object, name: str) -> float:
    """A finite real number > 0 (temperatures)."""
    v = _real(value, name)
    if v <= 0:
        raise ValueError(f"{name} must be > 0, got {v}")
    return v


def check_nonnegative(value: object, name: str) -> float:
    """A finite real number >= 0 (gamma, loss weights)."""
    v = _real(value, name)
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {v}")
    return v


def check_targets(targets: object, batch: int, num_classes: int, device: torch.device, values: bool = True) -> Tensor:
    """Integer class indices of shape ``(batch,)`` in ``[0, num_classes)``.

    ``values=False`` skips the range (the one check that reads the tensor, a host/device sync on a
    GPU), for a caller whose next step checks it anyway (``index_select`` on the CPU does).
    """
    if not isinstance(targets, Tensor):
        raise TypeError(f"targets must be a torch.Tensor of class indices, got {type(targets).__name__}")
    if targets.dtype is not torch.int64 and (targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool):
        raise TypeError(f"targets must be an integer tensor of class indices, got dtype {targets.dtype}")
    if targets.shape != (batch,):
        raise ValueError(f"targets must have shape ({batch},) to match the logits, got {tuple(targets.shape)}")
    if targets.device != device:
        raise ValueError(f"targets is on {targets.device} but the logits are on {device}")
    if not values:
        return targets
    lo, hi = (int(x) for x in torch.aminmax(targets))  # one reduction for both ends
    if lo < 0 or hi >= num_classes:
        raise ValueError(f"targets must lie in [0, {num_classes - 1}], got values in [{lo}, {hi}]")
    return targets


def check_prior(prior: object, num_classes: int, device: torch.device) -> Tensor:
    """A floating-point ``(C, C)`` matrix on the logits' device (one weight row per class).

    Its entries are checked by :func:`check_prior_values`, by the loss once per prior tensor and
    version (or only in the rows a batch uses): scanning all C² entries on every call would make the
    loss O(C²) again.
    """
    if not isinstance(prior, Tensor):
        raise TypeError(f"class_prior must be a torch.Tensor, got {type(prior).__name__}")
    if not prior.is_floating_point():
        raise TypeError(f"class_prior must be a floating-point tensor, got dtype {prior.dtype}")
    if prior.shape != (num_classes, num_classes):
        raise ValueError(
            f"class_prior must have shape ({num_classes}, {num_classes}) for {num_classes} classes, "
            f"got {tuple(prior.shape)}"
        )
    if prior.device != device:
        raise ValueError(f"class_prior is on {prior.device} but the logits are on {device}")
    return prior


def check_prior_values(values: Tensor, where: str = "") -> Tensor:
    """Entries of the class prior (all of it, or the rows a batch uses): non-negative and finite.

    One ``aminmax`` reduction and one host/device synchronisation: a NaN propagates to both ends,
    an infinity or a negative entry shows up at one of them.
    """
    lo, hi = (float(x) for x in torch.aminmax(values))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"class_prior contains NaN or infinite entries{where}")
    if lo < 0:
        raise ValueError(f"class_prior must be non-negative (it has a negative entry{where})")
    return values


def check_prior_rows(rows: Tensor) -> Tensor:
    """The prior rows a batch uses (``class_prior[targets]``): non-negative and finite."""
    return check_prior_values(rows, " in the rows of this batch's targets")
