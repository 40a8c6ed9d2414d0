"""Model registry: ``@register_model("name")`` on a builder, :func:`build_model` by name.

A builder is called as ``builder(num_classes=..., **kw)`` and returns an :class:`torch.nn.Module`
mapping inputs to **logits**. Image models take ``mean`` / ``std`` keyword arguments and start with a
:class:`Normalize` layer, so they consume inputs in [0, 1] (the convention of torchattacks and
AutoAttack: attacks perturb pixels, normalisation is part of the model).
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

import torch
from torch import Tensor, nn

__all__ = ["register_model", "build_model", "available_models", "Normalize"]

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
F = TypeVar("F", bound=Callable[..., nn.Module])


def register_model(name: str) -> Callable[[F], F]:
    """Decorator registering a model builder under ``name`` (names are unique)."""

    def deco(fn: F) -> F:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = fn
        return fn

    return deco


def available_models() -> list[str]:
    """Sorted names of every registered model."""
    return sorted(_REGISTRY)


def build_model(name: str, num_classes: int, **kw) -> nn.Module:
    """Build a registered model; ``kw`` goes to its builder (e.g. ``mean``, ``std``, ``width``)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    return _REGISTRY[name](num_classes=num_classes, **kw)


class Normalize(nn.Module):
    r"""Per-channel :math:`(x - \mu) / \sigma` as the model's first layer (buffers, saved with it)."""

    def __init__(self, mean: Sequence[float] = (0.0,), std: Sequence[float] = (1.0,)) -> None:
        super().__init__()
        mean_t = torch.as_tensor(list(mean), dtype=torch.float32)
        std_t = torch.as_tensor(list(std), dtype=torch.float32)
        if mean_t.shape != std_t.shape or mean_t.dim() != 1:
            raise ValueError("mean and std must be sequences of the same length")
        if (std_t <= 0).any():
            raise ValueError(f"std must be > 0, got {list(std)}")
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t)

    def forward(self, x: Tensor) -> Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return (x - self.mean.view(shape)) / self.std.view(shape)

    def extra_repr(self) -> str:
        return f"mean={self.mean.tolist()}, std={self.std.tolist()}"
