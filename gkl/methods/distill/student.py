r"""The student trained alone: ``ce`` :math:`= w_{ce}\,\mathrm{CE}(o_n, y)`, no teacher (the baseline
every distiller is compared with, and how teachers are trained)."""

from __future__ import annotations

import dataclasses
from typing import Optional

from torch import Tensor, nn

from gkl.methods.distill.base import DistillConfig, Distiller
from gkl.methods.registry import DISTILLERS

__all__ = ["StudentAloneConfig", "StudentAlone"]


@dataclasses.dataclass
class StudentAloneConfig(DistillConfig):
    """Only the weight of the label cross-entropy (:attr:`DistillConfig.ce_weight`)."""


@DISTILLERS.register
class StudentAlone(Distiller):
    """The student trained alone with cross-entropy (no teacher needed: a given one is ignored)."""

    name = "none"
    label = "student alone"
    Config = StudentAloneConfig
    needs_teacher = False

    def __init__(self, teacher: Optional[nn.Module] = None, config: Optional[DistillConfig] = None) -> None:
        super().__init__(None, config or StudentAloneConfig())

    @classmethod
    def describe(cls, config: DistillConfig) -> str:
        return f"{config.ce_weight:g} × CE"

    def kd_terms(self, student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, epoch: int,
                 training: bool) -> dict[str, Tensor]:  # pragma: no cover - no teacher, never called
        return {}
