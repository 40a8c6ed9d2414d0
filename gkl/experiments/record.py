"""Recorded experiments: a result table together with the command, the commit and the environment
that produced it, stored in the repository as data (``gkl/experiments/recorded/*.json``) so the book
can load and plot it — labelled as recorded — without re-running it at build time.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import torch

from gkl.training.checkpoint import atomic_write_text

__all__ = ["RECORDED", "environment", "git_commit", "write_record", "read_record", "recorded_path", "reuse_rows", "same_numerics", "compute_s"]

#: Where recorded sweeps live (package data: available wherever ``gkl`` is installed).
RECORDED = Path(__file__).resolve().parent / "recorded"


def git_commit(cwd: Optional[Union[str, Path]] = None) -> Optional[str]:
    """``HEAD``'s hash (with ``+dirty`` when tracked files changed), or ``None`` outside a git checkout."""
    cwd = Path(cwd) if cwd is not None else Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True)
        # the recorded results themselves do not make the code dirty (a re-record rewrites them)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)gkl/experiments/recorded"], cwd=cwd, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def environment() -> dict[str, Any]:
    """Versions and hardware a recorded number depends on."""
    import numpy

    cpu = ""
    try:  # the CPU model: another vector unit rounds sums differently, and training amplifies it
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu": cpu or platform.processor() or None,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def write_record(path: Union[str, Path], rows: Sequence[Mapping[str, Any]], *, command: Sequence[str],
                 grids: Mapping[str, Any], extra: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """Write ``{"command", "commit", "environment", "created", "grids", "rows", ...extra}`` as JSON
    (atomically) and return it. ``command`` is the argument list that re-creates the record."""
    record = {
        "command": " ".join(str(c) for c in command),
        "commit": git_commit(),
        "environment": environment(),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "grids": dict(grids),
        **dict(extra or {}),
        "rows": [dict(r) for r in rows],
    }
    atomic_write_text(path, json.dumps(record, indent=1, sort_keys=False, default=str) + "\n")
    os.chmod(path, 0o644)  # data of the repository, readable by everyone (the atomic write makes it 0600)
    return record


def recorded_path(name: str) -> Path:
    """The file of the recorded sweep ``name`` (e.g. ``"distill-cpu"``)."""
    return RECORDED / f"{name}.json"


def read_record(path_or_name: Union[str, Path]) -> dict[str, Any]:
    """A record written by :func:`write_record` (a path, or a name under :data:`RECORDED`)."""
    p = Path(path_or_name)
    if not p.suffix:
        p = recorded_path(str(path_or_name))
    if not p.is_file():
        raise FileNotFoundError(f"no recorded sweep at {p}: run the command that creates it (see CONTRIBUTING.md)")
    try:
        record = json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"recorded sweep {p} is not valid JSON: {err.msg}") from None
    for key in ("command", "rows", "grids"):
        if key not in record:
            raise ValueError(f"recorded sweep {p} has no {key!r}")
    return record


def reuse_rows(planned: Sequence[Mapping[str, Any]], recorded: Sequence[Mapping[str, Any]],
               fields: Sequence[str]) -> tuple[dict[int, dict[str, Any]], list[int]]:
    """Which of the ``planned`` runs a record already holds: ``({i: recorded row}, [i still to run])``
    for the indices ``i`` of ``planned``, matching rows on every one of ``fields``.

    A sweep's runs are seeded and deterministic on CPU (the reproduction tests re-run recorded rows
    and compare), so extending a stage — e.g. one more epoch budget — keeps the rows it already has
    and trains only the new ones."""
    def ident(r: Mapping[str, Any]) -> str:
        return json.dumps([r.get(f) for f in fields], sort_keys=True, default=str)

    have = {ident(r): dict(r) for r in recorded}
    kept = {i: have[ident(r)] for i, r in enumerate(planned) if ident(r) in have}
    return kept, [i for i in range(len(planned)) if i not in kept]


def same_numerics(record: Mapping[str, Any]) -> bool:
    """Whether this process computes as the one that wrote ``record``: same torch and the same CPU
    model and vector unit. Only then is a seeded CPU run bit-identical; on another CPU, rounding
    differences in the last bits grow over a training run (measured here: 2 of 300 validation points
    after 4 epochs of adversarial training, 3 of 1,000 after 30 epochs of distillation)."""
    env, now = record.get("environment", {}), environment()
    return all(env.get(k) == now[k] for k in ("torch", "cpu", "cpu_capability"))


def compute_s(rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> float:
    """The CPU time of a record's runs: the sum of each distinct run's own ``train_s`` (runs that appear
    in two stages, matched on ``fields``, count once). Unlike a command's wall time it does not
    shrink when a re-run finds its runs cached, nor grow when other work shares the machine."""
    seen: dict[str, float] = {}
    for r in rows:
        seen.setdefault(json.dumps([r.get(f) for f in fields], sort_keys=True, default=str), float(r.get("train_s", 0.0)))
    return round(sum(seen.values()), 1)
