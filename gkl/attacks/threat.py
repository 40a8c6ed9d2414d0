r"""The threat model and what every attack shares (inputs in [0, 1], models return logits).

The threat model of radius :math:`\varepsilon` around an input :math:`x` is
:math:`B_\varepsilon(x)\cap[0,1]^d`, with :math:`B_\varepsilon` the :math:`L_\infty` (``"linf"``) or
:math:`L_2` (``"l2"``) ball. :func:`_project` projects a perturbation onto the ball,
:func:`_into_threat_model` puts an input into ball ∩ box.

Every attack puts the model in eval mode (:func:`eval_mode`) and restores its previous mode, leaves
the parameters' ``.grad`` as it found them (:func:`_grads_kept`), and — when given a ``seed`` — runs
inside a forked RNG (:func:`_seeded`) so the caller's random stream is untouched (``torchattacks``
reseeds the global RNG). Every perturbation returned lies in :math:`[0, 1]^d` and in the
:math:`\varepsilon`-ball around its input. ``torchattacks`` assumes image batches; an input of another
shape is attacked through :class:`_AsSquareImage`.
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator, Optional, Sequence

import torch
from torch import Tensor, nn

__all__ = ["NORMS", "eval_mode", "predict"]

NORMS = ("linf", "l2")


def _norm(norm: str) -> str:
    n = str(norm).lower()
    if n not in NORMS:
        raise ValueError(f"norm must be 'linf' or 'l2', got {norm!r}")
    return n


def _eps(eps: float) -> float:
    e = float(eps)
    if not e >= 0:
        raise ValueError(f"epsilon must be >= 0, got {eps}")
    return e


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode and restore its previous mode (even on error)."""
    was = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was)


@contextlib.contextmanager
def _grads_kept(model: nn.Module) -> Iterator[None]:
    """Hide the parameters' ``.grad`` during an attack and put the very same tensors back.

    ``torchattacks`` calls ``backward()``, which would accumulate into existing ``.grad`` tensors in
    place; detaching them first keeps the caller's gradients bit-for-bit.
    """
    saved = [(p, p.grad) for p in model.parameters()]
    for p, _ in saved:
        p.grad = None
    try:
        yield
    finally:
        for p, g in saved:
            p.grad = g


@contextlib.contextmanager
def _seeded(seed: Optional[int], device: torch.device) -> Iterator[None]:
    if seed is None:
        yield
        return
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _model_device(model: nn.Module, device: Optional[torch.device]) -> torch.device:
    if device is not None:
        return torch.device(device)
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _bcast(v: Tensor, like: Tensor) -> Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def _project(delta: Tensor, eps: float, norm: str) -> Tensor:
    if norm == "linf":
        return delta.clamp(-eps, eps)
    flat = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    return delta * _bcast((eps / flat).clamp(max=1.0), delta)


def _into_threat_model(xa: Tensor, x: Tensor, eps: float, norm: str) -> Tensor:
    r""":math:`\Pi_{B_\varepsilon(x)\cap[0,1]^d}`-style clean-up: project onto the ball, then clamp to the box.

    Clamping towards the box only shrinks :math:`|x'_i - x_i|` (``x`` is in the box), so the result
    stays in the ball. A no-op, up to rounding, for attacks that already respect the threat model.
    """
    return (x + _project(xa - x, eps, norm)).clamp(0, 1)


def _batches(n: int, batch_size: int) -> Iterator[slice]:
    for i in range(0, n, batch_size):
        yield slice(i, min(n, i + batch_size))


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int = 1024, device: Optional[torch.device] = None) -> Tensor:
    """Predicted labels (eval mode, mode restored), on CPU."""
    device = _model_device(model, device)
    with eval_mode(model):
        return torch.cat([model(x[s].to(device)).argmax(1).cpu() for s in _batches(x.shape[0], batch_size)])


class _AsSquareImage(nn.Module):
    """``model`` (inputs of shape ``(N, *shape)``, not images) seen as a model of square images
    ``(N, C, side, side)``: ``C`` the first axis of ``shape`` (1 for a feature vector), each channel's
    ``L`` values laid out row by row, ``side = ⌈√L⌉``, the ``side² − L`` trailing pixels ignored."""

    def __init__(self, model: nn.Module, shape: Sequence[int]) -> None:
        super().__init__()
        self.model, self.shape = model, tuple(int(d) for d in shape)
        self.channels = self.shape[0] if len(self.shape) > 1 else 1
        self.length = math.prod(self.shape) // self.channels
        self.side = math.isqrt(self.length - 1) + 1

    def to_image(self, x: Tensor) -> Tensor:
        flat = x.reshape(x.shape[0], self.channels, self.length)
        return nn.functional.pad(flat, (0, self.side ** 2 - self.length)).reshape(
            x.shape[0], self.channels, self.side, self.side)

    def from_image(self, img: Tensor) -> Tensor:
        return img.reshape(img.shape[0], self.channels, -1)[..., : self.length].reshape(img.shape[0], *self.shape)

    def forward(self, img: Tensor) -> Tensor:
        return self.model(self.from_image(img))
