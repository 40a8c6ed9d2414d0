"""Atomic, validated checkpoints.

:func:`save_checkpoint` writes to a temporary file in the target folder, flushes it to disk and
renames it over the old file (``os.replace`` is atomic on POSIX and Windows), so a run killed at any
moment leaves either the previous checkpoint or the new one — never a torn file.

:func:`load_checkpoint` loads with ``weights_only=True`` (no arbitrary code from a pickle) and turns
every failure into a one-line error: :class:`FileNotFoundError` for a missing file,
:class:`ValueError` for a corrupted file or one that is not a :mod:`gkl` checkpoint.

A checkpoint is a dict of plain types and tensors with ``format = "gkl-checkpoint"``, ``version``,
``epoch`` (completed epochs) and whatever the engine stores (see :mod:`gkl.training.loop`).
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

__all__ = ["FORMAT", "VERSION", "save_checkpoint", "load_checkpoint", "atomic_write_bytes", "atomic_write_text"]

FORMAT = "gkl-checkpoint"
VERSION = 1


def atomic_write_bytes(path: Union[str, Path], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + fsync + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Union[str, Path], text: str) -> None:
    """Atomic text write (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _plain(obj: Any) -> Any:
    """Make RNG states loadable with ``weights_only=True``: NumPy arrays become tensors."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj)
    return obj


def save_checkpoint(path: Union[str, Path], state: dict[str, Any]) -> None:
    """Atomically save ``state`` (a dict) with the format marker added."""
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    payload = {"format": FORMAT, "version": VERSION, **_plain(state)}
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint written by :func:`save_checkpoint`.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is truncated, corrupted, or not a :mod:`gkl` checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for a damaged archive
        raise ValueError(f"checkpoint {path} is corrupted or not a torch checkpoint ({type(err).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a gkl checkpoint")
    if state.get("version") != VERSION:
        raise ValueError(f"checkpoint {path} has version {state.get('version')}, this gkl reads version {VERSION}")
    return state


def numpy_rng_from_plain(state: Any) -> tuple:
    """Inverse of the NumPy part of :func:`_plain` for ``np.random.set_state``."""
    name, keys, pos, has_gauss, cached = state
    keys = keys.numpy() if isinstance(keys, torch.Tensor) else np.asarray(keys)
    return (name, keys.astype(np.uint32), int(pos), int(has_gauss), float(cached))
