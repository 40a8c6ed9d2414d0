r"""Wide ResNets (Zagoruyko & Komodakis, 2016): WRN-34-10 and WRN-28-10 of the paper's AT results.

WRN-:math:`d`-:math:`k` has three stages of :math:`n = (d - 4)/6` pre-activation basic blocks with
:math:`16k, 32k, 64k` channels (WRN-34-10: :math:`n = 5`, ~46 M parameters; WRN-28-10: :math:`n = 4`,
~36 M).
"""

from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from .registry import Normalize, register_model

__all__ = ["WideBasic", "WideResNet", "wide_resnet", "wrn34_10", "wrn28_10"]


class WideBasic(nn.Module):
    """Pre-activation wide block: ``BN → ReLU → conv → BN → ReLU → (dropout) → conv`` + shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.dropout = dropout
        self.shortcut = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = F.relu(self.bn2(self.conv1(out)))
        if self.dropout > 0:
            out = F.dropout(out, p=self.dropout, training=self.training)
        return self.conv2(out) + shortcut


class WideResNet(nn.Module):
    """WRN-``depth``-``widen_factor`` for 32×32 images; returns logits."""

    def __init__(
        self,
        depth: int = 34,
        widen_factor: int = 10,
        num_classes: int = 10,
        dropout: float = 0.0,
        in_channels: int = 3,
        mean: Sequence[float] = (0.0, 0.0, 0.0),
        std: Sequence[float] = (1.0, 1.0, 1.0),
    ) -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6 != 0:
            raise ValueError(f"WideResNet depth must be 6n + 4 with n >= 1, got {depth}")
        if widen_factor < 1:
            raise ValueError(f"widen_factor must be >= 1, got {widen_factor}")
        n = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.normalize = Normalize(mean, std)
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False)
        stages, in_planes = [], widths[0]
        for i, planes in enumerate(widths[1:]):
            blocks = []
            for j in range(n):
                blocks.append(WideBasic(in_planes, planes, stride=(1 if i == 0 else 2) if j == 0 else 1, dropout=dropout))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.layers = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(in_planes)
        self.linear = nn.Linear(in_planes, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn(self.layers(self.conv1(self.normalize(x)))))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


@register_model("wide_resnet")
def wide_resnet(num_classes: int = 10, depth: int = 34, widen_factor: int = 10, **kw) -> WideResNet:
    """Any WRN-``depth``-``widen_factor``; keywords ``dropout``, ``mean``, ``std``."""
    return WideResNet(depth, widen_factor, num_classes=num_classes, **kw)


@register_model("wrn34_10")
def wrn34_10(num_classes: int = 10, **kw) -> WideResNet:
    """WRN-34-10, the paper's CIFAR adversarial-training model."""
    return WideResNet(34, 10, num_classes=num_classes, **kw)


@register_model("wrn28_10")
def wrn28_10(num_classes: int = 10, **kw) -> WideResNet:
    """WRN-28-10, the paper's model for runs with generated data."""
    return WideResNet(28, 10, num_classes=num_classes, **kw)
