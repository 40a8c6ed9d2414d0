r"""The CIFAR teacher/student networks of the knowledge-distillation benchmarks (CRD / mdistiller).

Pairs used by the paper (and their released GKL configurations, see :data:`gkl.experiments.distill.CONFIGS`):

=================  ==============  ===========================================
teacher            student         definition
=================  ==============  ===========================================
``resnet32x4``     ``resnet8x4``   CIFAR ResNet, filters ``[32, 64, 128, 256]``
``resnet56``       ``resnet20``    CIFAR ResNet, filters ``[16, 16, 32, 64]``
``wrn40_2``        ``wrn16_2``     Wide ResNet, widen factor 2
=================  ==============  ===========================================

A CIFAR ResNet of depth :math:`d` has :math:`n = (d - 2) / 6` basic blocks in each of its three stages
(strides 1, 2, 2); a WRN of depth :math:`d` has :math:`n = (d - 4) / 6` pre-activation blocks per stage
and :math:`16k, 32k, 64k` channels for widen factor :math:`k`. Inputs are images in :math:`[0, 1]`;
the per-channel normalisation (CIFAR-100 statistics by default) happens inside the model. Every model
returns logits.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .registry import Normalize, register_model

__all__ = ["CifarResNet", "WideResNetKD", "CIFAR100_MEAN", "CIFAR100_STD"]

CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)


class _BasicBlock(nn.Module):
    """Post-activation basic block: conv-BN-ReLU-conv-BN, plus a (projected) shortcut, then ReLU."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """CIFAR ResNet (He et al. 2016, as in CRD/mdistiller): a 3×3 stem and three stages of basic blocks.

    Args:
        depth: :math:`6n + 2` (8, 20, 32, 56, ...).
        filters: channels of the stem and of the three stages.
        num_classes: size of the output.
        mean, std: per-channel input statistics (inputs are in :math:`[0, 1]`).
    """

    def __init__(
        self,
        depth: int,
        filters: Sequence[int],
        num_classes: int = 100,
        mean: Sequence[float] = CIFAR100_MEAN,
        std: Sequence[float] = CIFAR100_STD,
    ) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"CifarResNet depth must be 6n+2 with n >= 1, got {depth}")
        if len(filters) != 4:
            raise ValueError(f"filters must have 4 entries (stem + 3 stages), got {len(filters)}")
        n = (depth - 2) // 6
        self.normalize = Normalize(mean, std)
        self.conv1 = nn.Conv2d(3, filters[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(filters[0])
        layers, in_planes = [], filters[0]
        for i, planes in enumerate(filters[1:]):
            for b in range(n):
                layers.append(_BasicBlock(in_planes, planes, stride=2 if (i > 0 and b == 0) else 1))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(in_planes, num_classes)
        _init(self)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(self.normalize(x))))
        out = self.layers(out)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


class _WideBlock(nn.Module):
    """Pre-activation wide block: BN-ReLU-conv-BN-ReLU-conv with a 1×1 shortcut when shapes change."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.equal = in_planes == planes and stride == 1
        self.shortcut = None if self.equal else nn.Conv2d(in_planes, planes, 1, stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        pre = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(pre))))
        return out + (x if self.shortcut is None else self.shortcut(pre))


class WideResNetKD(nn.Module):
    """Wide ResNet (Zagoruyko & Komodakis 2016) as used in the CIFAR KD benchmarks.

    Args:
        depth: :math:`6n + 4` (16, 40, ...).
        widen_factor: :math:`k`; stage widths :math:`16k, 32k, 64k`.
        num_classes: size of the output.
        mean, std: per-channel input statistics (inputs are in :math:`[0, 1]`).
    """

    def __init__(
        self,
        depth: int,
        widen_factor: int,
        num_classes: int = 100,
        mean: Sequence[float] = CIFAR100_MEAN,
        std: Sequence[float] = CIFAR100_STD,
    ) -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6 != 0:
            raise ValueError(f"WideResNet depth must be 6n+4 with n >= 1, got {depth}")
        n = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.normalize = Normalize(mean, std)
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        blocks, in_planes = [], widths[0]
        for i, planes in enumerate(widths[1:]):
            for b in range(n):
                blocks.append(_WideBlock(in_planes, planes, stride=2 if (i > 0 and b == 0) else 1))
                in_planes = planes
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(in_planes)
        self.fc = nn.Linear(in_planes, num_classes)
        _init(self)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn(self.blocks(self.conv1(self.normalize(x)))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(out, 1), 1))


def _init(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)


@register_model("resnet8x4")
def resnet8x4(num_classes: int = 100, **kw) -> CifarResNet:
    """ResNet-8×4 (student of ResNet-32×4): depth 8, filters ``[32, 64, 128, 256]``."""
    return CifarResNet(8, [32, 64, 128, 256], num_classes, **kw)


@register_model("resnet32x4")
def resnet32x4(num_classes: int = 100, **kw) -> CifarResNet:
    """ResNet-32×4 (teacher): depth 32, filters ``[32, 64, 128, 256]``."""
    return CifarResNet(32, [32, 64, 128, 256], num_classes, **kw)


@register_model("resnet20")
def resnet20(num_classes: int = 100, **kw) -> CifarResNet:
    """ResNet-20 (student of ResNet-56): depth 20, filters ``[16, 16, 32, 64]``."""
    return CifarResNet(20, [16, 16, 32, 64], num_classes, **kw)


@register_model("resnet56")
def resnet56(num_classes: int = 100, **kw) -> CifarResNet:
    """ResNet-56 (teacher): depth 56, filters ``[16, 16, 32, 64]``."""
    return CifarResNet(56, [16, 16, 32, 64], num_classes, **kw)


@register_model("wrn40_2")
def wrn40_2(num_classes: int = 100, **kw) -> WideResNetKD:
    """WRN-40-2 (teacher)."""
    return WideResNetKD(40, 2, num_classes, **kw)


@register_model("wrn16_2")
def wrn16_2(num_classes: int = 100, **kw) -> WideResNetKD:
    """WRN-16-2 (student of WRN-40-2)."""
    return WideResNetKD(16, 2, num_classes, **kw)
