"""The run cache: a run's folder and key come from a hash of every setting that changes its result.

Keys hash canonical JSON (sorted keys, tuples as lists); runtime settings (device, progress bars)
are left out by the callers. Two runs with the same key share a folder, even across chapters.
One convention for every task (:func:`run_folder`):
``runs_dir / <task> / <profile> / <method>-s<seed>-<key>`` (a tuning sweep's runs under
``<profile>-val``, the validation profile); teachers live in ``runs_dir / "teachers"``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Union

__all__ = ["run_key", "run_folder", "finished", "read_result"]


def run_key(settings: Any, length: int = 16) -> str:
    """The first ``length`` hex digits of the SHA-256 of ``settings`` as canonical JSON."""
    blob = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def run_folder(root: Union[str, Path], task: str, profile: str, method: str, seed: int, key: str) -> Path:
    """The cache folder of one run: ``root / task / profile / <method>-s<seed>-<key>`` (``method``: the
    registered name; ``key``: :func:`run_key` of the run's settings)."""
    return Path(root) / task / profile / f"{method}-s{int(seed)}-{key}"


def finished(out_dir: Union[str, Path], epochs: int) -> bool:
    """Whether ``out_dir`` holds a checkpoint and at least ``epochs`` lines of metrics."""
    out = Path(out_dir)
    metrics = out / "metrics.jsonl"
    if not (out / "checkpoint.pt").is_file() or not metrics.is_file():
        return False
    with open(metrics, encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip()) >= epochs


def read_result(path: Union[str, Path], key: str) -> dict[str, Any] | None:
    """The cached ``result.json`` at ``path`` if it was written for ``key``, else ``None``."""
    p = Path(path)
    if not p.is_file():
        return None
    try:
        cached = json.loads(p.read_text())
    except json.JSONDecodeError:
        return None  # a half-written or corrupted result is recomputed
    return cached if cached.get("key") == key else None
