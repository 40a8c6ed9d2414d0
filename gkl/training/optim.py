r"""Optimiser and learning-rate schedule of :class:`gkl.training.TrainConfig`.

The learning rate is ``config.lr`` times :func:`lr_factor` of the step (a
:class:`torch.optim.lr_scheduler.LambdaLR`, stepped once per optimiser step): a linear warm-up
:math:`(s+1)/W` over the first :math:`W` = ``warmup_epochs`` × steps-per-epoch steps, then
``"cosine"`` :math:`\tfrac12\,(1+\cos(\pi\,s/S))` over the :math:`S` steps of the run,
``"multistep"`` ``lr_decay ** k`` once ``k`` milestone epochs have passed, or ``"constant"`` 1.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import torch

from gkl.training.config import TrainConfig

__all__ = ["lr_factor", "make_optimizer"]


def lr_factor(config: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """The factor the learning rate is multiplied by at step ``step`` (0-based, over the whole run)."""
    total = config.epochs * steps_per_epoch
    warm = int(round(config.warmup_epochs * steps_per_epoch))

    def factor(step: int) -> float:
        if warm > 0 and step < warm:
            return (step + 1) / warm
        if config.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
        if config.schedule == "multistep":
            epoch = step / steps_per_epoch
            return config.lr_decay ** sum(epoch >= m for m in config.milestones)
        return 1.0

    return factor


def make_optimizer(params: Iterable[torch.nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (with ``momentum``, ``nesterov``), Adam or AdamW, all with ``weight_decay``."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov, weight_decay=config.weight_decay
        )
    cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)
