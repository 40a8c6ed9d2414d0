"""Distillers, one file each, found through the registry :data:`DISTILLERS`.

The shared pieces are in :mod:`~gkl.methods.distill.base` (the :class:`Distiller` and
:class:`DistillConfig` bases, :func:`build_distiller`, :func:`distill_config`); the engine adapter and
the batch augmentations in :mod:`~gkl.methods.distill.objective`; training one student in
:mod:`~gkl.methods.distill.train`. A new distiller is one file plus one import line below.
"""

# One line per method: the import registers it in DISTILLERS (gkl.methods.registry), in this order
# (the order of tables and --method).
# isort: off
from gkl.methods.distill import student  # noqa: F401
from gkl.methods.distill import kd  # noqa: F401
from gkl.methods.distill import dkd  # noqa: F401
from gkl.methods.distill import ikl  # noqa: F401
from gkl.methods.distill import gkl  # noqa: F401
# isort: on

from gkl.methods.distill.base import (
    DistillConfig,
    Distiller,
    build_distiller,
    describe,
    distill_config,
    param,
    warmup_factor,
)
from gkl.methods.distill.dkd import DKD, DKDConfig
from gkl.methods.distill.gkl import GKL, GKLConfig
from gkl.methods.distill.ikl import IKL, IKLConfig
from gkl.methods.distill.kd import KD, KDConfig
from gkl.methods.distill.student import StudentAlone, StudentAloneConfig
from gkl.methods.registry import DISTILLERS

__all__ = [
    "DISTILLERS", "DistillConfig", "Distiller", "build_distiller", "describe", "distill_config", "param",
    "warmup_factor", "StudentAlone", "StudentAloneConfig", "KD", "KDConfig", "DKD", "DKDConfig",
    "IKL", "IKLConfig", "GKL", "GKLConfig",
]
