"""PreActResNet-18 (He et al., 2016, identity mappings) for 32×32 images, the usual AT baseline."""

from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from .registry import Normalize, register_model

__all__ = ["PreActBlock", "PreActResNet", "preact_resnet18"]


class PreActBlock(nn.Module):
    """``BN → ReLU → conv3×3 → BN → ReLU → conv3×3`` plus the (projected) shortcut."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    """Pre-activation ResNet; ``num_blocks=(2, 2, 2, 2)`` is PreActResNet-18. Returns logits."""

    def __init__(
        self,
        num_blocks: Sequence[int] = (2, 2, 2, 2),
        num_classes: int = 10,
        in_channels: int = 3,
        width: int = 64,
        mean: Sequence[float] = (0.0, 0.0, 0.0),
        std: Sequence[float] = (1.0, 1.0, 1.0),
    ) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
        self.in_planes = width
        stages = []
        for i, n in enumerate(num_blocks):
            planes = width * 2**i
            strides = [1 if i == 0 else 2] + [1] * (n - 1)
            blocks = []
            for s in strides:
                blocks.append(PreActBlock(self.in_planes, planes, s))
                self.in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.layers = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(self.in_planes)
        self.linear = nn.Linear(self.in_planes, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out = self.layers(self.conv1(self.normalize(x)))
        out = F.relu(self.bn(out))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


@register_model("preact_resnet18")
def preact_resnet18(num_classes: int = 10, **kw) -> PreActResNet:
    """PreActResNet-18 (~11.2 M parameters at width 64); keywords ``width``, ``mean``, ``std``."""
    return PreActResNet((2, 2, 2, 2), num_classes=num_classes, **kw)
