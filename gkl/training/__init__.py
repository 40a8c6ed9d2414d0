"""One training engine for every method: :func:`fit` drives an :class:`Objective` (what a method
computes per batch) through seeding, resuming, epochs, evaluation and checkpoints.

The rooms, one line each:

* :mod:`~gkl.training.loop` — :func:`fit` as named steps: setup, restore, train one epoch, evaluate, save.
* :mod:`~gkl.training.objective` — :class:`Objective` (the hooks a method implements), :class:`StepContext`, :class:`StepOutput`.
* :mod:`~gkl.training.config` — :class:`TrainConfig`, :data:`RUNTIME_KEYS`, :func:`default_runs_dir`.
* :mod:`~gkl.training.evaluate` — per-epoch evaluation over a (sub)set of the test data.
* :mod:`~gkl.training.optim` — optimiser and learning-rate schedule.
* :mod:`~gkl.training.loaders` — the seeded, sharded, resumable training loader.
* :mod:`~gkl.training.precision` — mixed precision and the non-finite-loss check.
* :mod:`~gkl.training.averaging` — checkpoint averaging (EMA of the weights).
* :mod:`~gkl.training.metrics` — :class:`History`, ``metrics.jsonl`` (:func:`read_metrics`).
* :mod:`~gkl.training.distributed` — DistributedDataParallel plumbing.
* :mod:`~gkl.training.checkpoint`, :mod:`~gkl.training.device`, :mod:`~gkl.training.awp` — atomic
  checkpoints; device, seeding and RNG state; adversarial weight perturbation.
"""

from gkl.training.config import RUNTIME_KEYS, TrainConfig, default_runs_dir
from gkl.training.distributed import init_distributed, is_main_process
from gkl.training.evaluate import evaluate
from gkl.training.loop import fit
from gkl.training.metrics import History, read_metrics
from gkl.training.objective import Objective, StepContext, StepOutput

__all__ = ["TrainConfig", "Objective", "StepOutput", "StepContext", "fit", "evaluate", "read_metrics",
           "default_runs_dir", "init_distributed", "is_main_process", "RUNTIME_KEYS", "History"]
