"""DistributedDataParallel plumbing: process group, per-rank device, model wrapper and reductions.

Under ``torchrun --nproc_per_node N`` (environment variable ``WORLD_SIZE`` > 1) the engine initialises
``torch.distributed`` (NCCL on CUDA, gloo on CPU) unless it already is; every helper here is a no-op
in a single process.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import torch
import torch.distributed as dist
from torch import Tensor, nn

from gkl.training.device import get_device

__all__ = ["init_distributed", "is_main_process", "all_reduce", "gather_objects", "rank_device", "wrap_model"]


def init_distributed(device: Optional[str] = None) -> tuple[int, int]:
    """Initialise ``torch.distributed`` from torchrun's environment if needed; returns ``(rank, world)``."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    use_cuda = torch.cuda.is_available() and (device is None or str(device).startswith("cuda") or device == "auto")
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return dist.get_rank(), dist.get_world_size()


def is_main_process() -> bool:
    """Whether this process is rank 0 (always, without ``torch.distributed``)."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def all_reduce(t: Tensor) -> Tensor:
    """Sum ``t`` over ranks in place (unchanged in a single process); returns it."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t)
    return t


def gather_objects(obj: Any, world: int) -> list[Any]:
    """``obj`` of every rank, in rank order (``[obj]`` in a single process)."""
    if world <= 1:
        return [obj]
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, obj)
    return gathered


def rank_device(name: Optional[str], rank: int, world: int) -> torch.device:
    """This rank's device: its own GPU (``LOCAL_RANK``) in a multi-process CUDA run when ``name`` is
    ``None``, ``"auto"`` or ``"cuda"``, else :func:`gkl.training.device.get_device` of ``name``."""
    if world > 1 and torch.cuda.is_available() and (name in (None, "auto", "cuda")):
        local = int(os.environ.get("LOCAL_RANK", rank % max(1, torch.cuda.device_count())))
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        return device
    return get_device(name)


def wrap_model(model: nn.Module, device: torch.device, world: int) -> nn.Module:
    """The model to train: wrapped in DistributedDataParallel when ``world`` > 1, else ``model``."""
    if world <= 1:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    return DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
