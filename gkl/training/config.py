"""The settings of a training run that do not belong to the loss: :class:`TrainConfig`, the keys that
may change between a run and its resumption, and where chapters cache their runs."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

__all__ = ["TrainConfig", "RUNTIME_KEYS", "default_runs_dir"]

#: Config keys that do not change results; they may differ between a run and its resumption.
RUNTIME_KEYS = frozenset({"progress", "device", "deterministic", "nan_check_every", "checkpoint_every"})


def default_runs_dir() -> Path:
    """Where chapters cache their runs: ``$GKL_RUNS_DIR`` if set, else ``./runs``."""
    return Path(os.environ.get("GKL_RUNS_DIR", "runs"))


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping settings (the loss settings belong to the objective).

    The learning rate follows ``schedule`` per step: ``"cosine"`` (to 0 at the end),
    ``"multistep"`` (times ``lr_decay`` at each epoch in ``milestones``) or ``"constant"``, after an
    optional linear warm-up over ``warmup_epochs``.

    The checkpoint is written every ``checkpoint_every`` epochs and after the last one (each write is
    a serialisation and an ``fsync``: ~7 % of an epoch of the CPU distillation runs); a killed run
    resumes from the last one written and rewrites ``metrics.jsonl`` from it, losing at most
    ``checkpoint_every - 1`` epochs of work.

    ``progress`` draws a bar per epoch (``tqdm.auto``: a widget in Jupyter and Colab, a text line in a
    terminal) with the steps done, their rate and the time left of the epoch, labelled
    ``epoch e/E``. The chapters' GPU profiles switch it on; the CPU profiles, which run inside the
    book's build, leave it off.
    """

    epochs: int = 10
    batch_size: int = 128
    eval_batch_size: int = 512
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    milestones: tuple[int, ...] = ()
    lr_decay: float = 0.1
    warmup_epochs: float = 0.0
    grad_clip: Optional[float] = None
    seed: int = 0
    deterministic: bool = True
    device: Optional[str] = None
    num_workers: int = 0
    eval_every: int = 1
    eval_subset: Optional[int] = None
    drop_last: bool = False
    progress: bool = True
    ema_decay: Optional[float] = None
    nan_check_every: int = 50
    checkpoint_every: int = 1
    amp: Optional[str] = None

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be an int >= 1, got {self.epochs!r}")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError("batch sizes must be >= 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.optimizer not in ("sgd", "adam", "adamw"):
            raise ValueError(f"optimizer must be 'sgd', 'adam' or 'adamw', got {self.optimizer!r}")
        if self.schedule not in ("cosine", "multistep", "constant"):
            raise ValueError(f"schedule must be 'cosine', 'multistep' or 'constant', got {self.schedule!r}")
        if self.eval_every < 1:
            raise ValueError(f"eval_every must be >= 1, got {self.eval_every}")
        if self.eval_subset is not None and self.eval_subset < 1:
            raise ValueError(f"eval_subset must be >= 1 or None, got {self.eval_subset}")
        if self.ema_decay is not None and not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) or None, got {self.ema_decay}")
        if self.amp not in (None, "bf16", "fp16"):
            raise ValueError(f"amp must be None, 'bf16' or 'fp16', got {self.amp!r}")
        if self.nan_check_every < 1 or self.num_workers < 0:
            raise ValueError("nan_check_every must be >= 1 and num_workers >= 0")
        if not isinstance(self.checkpoint_every, int) or self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be an int >= 1, got {self.checkpoint_every!r}")
        self.milestones = tuple(int(m) for m in self.milestones)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-able fields (``milestones`` as a list), as saved in the checkpoint."""
        d = dataclasses.asdict(self)
        d["milestones"] = list(self.milestones)
        return d
