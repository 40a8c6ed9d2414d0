"""The per-epoch metrics of a run: :class:`History` (what :func:`gkl.training.fit` returns) and
``metrics.jsonl`` (one JSON object per epoch, written by rank 0, read back by :func:`read_metrics`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

from torch import nn

from gkl.training.checkpoint import atomic_write_text

__all__ = ["History", "read_metrics", "rewrite_metrics", "append_metrics"]


class History(list):
    """The per-epoch metrics :func:`fit` returns (a list of dicts), plus ``averaged_model``: the
    checkpoint-averaged model when ``TrainConfig.ema_decay`` is set, else ``None``."""

    averaged_model: Optional[nn.Module] = None


def read_metrics(out_dir: Union[str, Path]) -> list[dict[str, Any]]:
    """The per-epoch metrics of a run (``out_dir/metrics.jsonl``)."""
    path = Path(out_dir) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics at {path}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def rewrite_metrics(path: Path, history: Iterable[Mapping[str, Any]]) -> None:
    """Replace ``path`` atomically by one JSON line per epoch of ``history`` (empty for none)."""
    atomic_write_text(path, "".join(json.dumps(m) + "\n" for m in history))


def append_metrics(path: Path, metrics: Mapping[str, Any]) -> None:
    """Append one epoch's metrics to ``path`` as a JSON line."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(metrics) + "\n")
