"""Device selection and seeding: the one place that decides where tensors live.

Nothing else in :mod:`gkl` calls ``.cuda()``: code asks :func:`get_device` and moves tensors with
``.to(device)``. :func:`seed_everything` seeds Python, NumPy and torch (all devices) and, with
``deterministic=True``, switches torch to deterministic kernels — and :func:`determinism_status`
reports what is really in effect, so a test can check that the settings took (a misspelt attribute
such as ``cudnn.determinstic = True`` would silently do nothing).
"""

from __future__ import annotations

import os
import random
from typing import Any, Optional, Union

import numpy as np
import torch

__all__ = ["get_device", "to_device", "seed_everything", "determinism_status", "get_rng_state", "set_rng_state"]


def get_device(name: Optional[Union[str, torch.device]] = None) -> torch.device:
    """The device to compute on.

    Args:
        name: ``None`` or ``"auto"`` picks ``cuda`` if available, then ``mps``, else ``cpu``;
            anything else (``"cpu"``, ``"cuda:1"``, a :class:`torch.device`) is used as given,
            after checking that it exists.

    Raises:
        ValueError: the name is not a device, or names an accelerator this machine lacks.
    """
    if isinstance(name, torch.device):
        device = name
    elif name is None or name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    else:
        try:
            device = torch.device(name)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"not a device name: {name!r}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} requested but CUDA is not available")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"device {str(device)!r} requested but only {torch.cuda.device_count()} GPU(s) exist")
    return device



def to_device(x: Any, device: torch.device) -> Any:
    """Move a tensor, or the tensors of a (nested) list or tuple, to ``device`` (non-blocking)."""
    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    if isinstance(x, (list, tuple)):
        return type(x)(to_device(v, device) for v in x)
    return x

def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed ``random``, NumPy and torch on every device; optionally force deterministic kernels.

    With ``deterministic=True``: ``torch.use_deterministic_algorithms(True, warn_only=True)``,
    ``cudnn.deterministic = True``, ``cudnn.benchmark = False`` and, if unset,
    ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (needed by deterministic cuBLAS). With ``False`` those are
    switched back off (faster on a GPU). On a CPU, seeded runs are bit-for-bit repeatable either way
    for the models of this package.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds CUDA (all devices) too
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


def determinism_status() -> dict[str, Any]:
    """What torch will really do: read back from torch, not from what was asked for."""
    return {
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


def get_rng_state() -> dict[str, Any]:
    """Every random state a training run draws from (Python, NumPy, torch CPU and CUDA)."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a state from :func:`get_rng_state` (CUDA states only where CUDA is present)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu() if hasattr(state["torch"], "cpu") else state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
