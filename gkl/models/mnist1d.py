r"""Small teacher and student networks for the 1-D MNIST analogue (``mnist1d``) and ``digits``.

* ``mnist1d_cnn`` — a 1-D CNN: three convolutions (kernel 5, 3, 3, ``width`` channels, optional
  batch norm, ReLU, two max-pools of 2) and a linear read-out. ``width = 32`` is the teacher of the
  distillation chapters; smaller widths make students.
* ``mnist1d_mlp`` — a multi-layer perceptron on the flattened input (any input shape; the number of
  input features is inferred on first use), ``depth`` hidden layers of ``hidden`` units.

Both take an optional scalar (or per-channel) ``mean`` / ``std`` and normalise inside the model,
as every model of :mod:`gkl.models` does, and return logits.
"""

from __future__ import annotations

from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .registry import Normalize, register_model

__all__ = ["CNN1d", "MLP"]

Stat = Union[float, Sequence[float]]


class _MaxPool2(torch.autograd.Function):
    """``F.max_pool1d(x, 2)`` on an even-length CPU input, with the same values and gradients, bit for
    bit, at less than half the cost of forward + backward (measured at (128, 16, 40): 151 vs 380 µs):
    CPU PyTorch's pooling *with indices* (what autograd asks for) takes ~10× its index-free forward at
    these sizes, so the forward here runs the index-free kernel and finds the indices from one
    comparison; the backward is PyTorch's own scatter by those indices.
    Ties go to the first element of each pair and a NaN wins, as in PyTorch's kernel."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        out = F.max_pool1d(x, 2)
        even, odd = x[..., 0::2], x[..., 1::2]
        take_odd = torch.logical_or(odd > even, odd.isnan())
        idx = torch.arange(0, x.shape[-1], 2, device=x.device).add(take_odd)
        ctx.save_for_backward(x, idx)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        x, idx = ctx.saved_tensors
        return torch.ops.aten.max_pool2d_with_indices_backward(
            grad.unsqueeze(-2), x.unsqueeze(-2), [1, 2], [1, 2], [0, 0], [1, 1], False, idx.unsqueeze(-2)
        ).squeeze(-2)


def max_pool2(x: Tensor) -> Tensor:
    """``F.max_pool1d(x, 2)``; the same function by :class:`_MaxPool2` when autograd needs it on a CPU."""
    if x.requires_grad and torch.is_grad_enabled() and x.device.type == "cpu" and x.shape[-1] % 2 == 0:
        return _MaxPool2.apply(x)
    return F.max_pool1d(x, 2)


def _seq(v: Stat) -> tuple[float, ...]:
    return tuple(float(a) for a in torch.as_tensor(v, dtype=torch.float32).flatten().tolist())


class CNN1d(nn.Module):
    """1-D CNN for ``(B, 1, L)`` (or ``(B, L)``) signals.

    Args:
        num_classes: size of the output.
        width: channels of every convolution.
        length: input length :math:`L` (divisible by 4).
        batchnorm: batch normalisation after every convolution.
        mean, std: input statistics (normalisation inside the model).
    """

    def __init__(
        self,
        num_classes: int = 10,
        width: int = 32,
        length: int = 40,
        batchnorm: bool = False,
        mean: Stat = 0.0,
        std: Stat = 1.0,
    ) -> None:
        super().__init__()
        if width < 1 or length < 4 or length % 4:
            raise ValueError(f"need width >= 1 and a length divisible by 4, got width={width}, length={length}")
        self.normalize = Normalize(_seq(mean), _seq(std))
        self.conv1 = nn.Conv1d(1, width, 5, padding=2)
        self.conv2 = nn.Conv1d(width, width, 3, padding=1)
        self.conv3 = nn.Conv1d(width, width, 3, padding=1)
        norm = (lambda: nn.BatchNorm1d(width)) if batchnorm else nn.Identity
        self.bn1, self.bn2, self.bn3 = norm(), norm(), norm()
        self.fc = nn.Linear(width * (length // 4), num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(1)
        x = self.normalize(x)
        x = F.relu(self.bn1(self.conv1(x)))
        x = max_pool2(F.relu(self.bn2(self.conv2(x))))
        x = max_pool2(F.relu(self.bn3(self.conv3(x))))
        return self.fc(x.flatten(1))


class MLP(nn.Module):
    """MLP on flattened inputs: ``depth`` hidden ReLU layers of ``hidden`` units.

    Args:
        num_classes: size of the output.
        hidden: units per hidden layer.
        depth: number of hidden layers.
        in_features: input size (flattened); ``None`` infers it lazily on the first batch.
        mean, std: input statistics (normalisation inside the model).
    """

    def __init__(
        self,
        num_classes: int = 10,
        hidden: int = 100,
        depth: int = 2,
        in_features: int | None = 40,
        mean: Stat = 0.0,
        std: Stat = 1.0,
    ) -> None:
        super().__init__()
        if hidden < 1 or depth < 1:
            raise ValueError(f"need hidden >= 1 and depth >= 1, got hidden={hidden}, depth={depth}")
        self.normalize = Normalize(_seq(mean), _seq(std))
        first: nn.Module = nn.Linear(in_features, hidden) if in_features else nn.LazyLinear(hidden)
        layers: list[nn.Module] = [first, nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(hidden, hidden), nn.ReLU()]
        layers.append(nn.Linear(hidden, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.normalize(x).flatten(1))


@register_model("mnist1d_cnn")
def mnist1d_cnn(num_classes: int = 10, width: int = 32, length: int = 40, batchnorm: bool = False, **kw) -> CNN1d:
    """The 1-D CNN (teacher with ``width=32``)."""
    return CNN1d(num_classes, width, length, batchnorm, **kw)


@register_model("mnist1d_mlp")
def mnist1d_mlp(num_classes: int = 10, hidden: int = 100, depth: int = 2, in_features: int | None = 40, **kw) -> MLP:
    """The MLP student (``in_features=64`` for ``digits``)."""
    return MLP(num_classes, hidden, depth, in_features, **kw)
