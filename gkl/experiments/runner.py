"""Independent, seeded runs in parallel processes (results do not depend on how many run at once)."""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Sequence

import torch

__all__ = ["default_workers", "run_parallel"]


def default_workers(device: Optional[str] = None, jobs: Optional[int] = None) -> int:
    """1 on a GPU (one device, one run); else up to 2 processes on CPU (at most ``jobs``)."""
    from gkl.training.device import get_device

    if get_device(device).type != "cpu":
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(2, cpus, jobs if jobs is not None else 2))


def _one_thread() -> None:
    torch.set_num_threads(1)


def run_parallel(fn: Callable[[Any], Any], tasks: Sequence[Any], workers: int) -> list[Any]:
    """``[fn(t) for t in tasks]``, in ``workers`` fresh (``spawn``) processes of one thread each when
    ``workers > 1`` and there is more than one task; ``fn`` must be importable (module level)."""
    if workers <= 1 or len(tasks) <= 1:
        return [fn(t) for t in tasks]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=mp.get_context("spawn"),
                             initializer=_one_thread) as pool:
        return list(pool.map(fn, tasks))
