"""One training engine for every method: :func:`fit` drives an :class:`Objective` (what a method
computes per batch) through seeding, resuming, epochs, evaluation and checkpoints."""

from gkl.training.engine import (
    RUNTIME_KEYS,
    History,
    Objective,
    StepContext,
    StepOutput,
    TrainConfig,
    default_runs_dir,
    evaluate,
    fit,
    init_distributed,
    is_main_process,
    read_metrics,
)

__all__ = ["TrainConfig", "Objective", "StepOutput", "StepContext", "fit", "evaluate", "read_metrics",
           "default_runs_dir", "init_distributed", "is_main_process", "RUNTIME_KEYS", "History"]
