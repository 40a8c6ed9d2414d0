"""Which checkpoint a run continues: :func:`checkpoint_to_resume` loads it and checks that it was
written by the same run settings (the fields of :data:`gkl.training.config.RUNTIME_KEYS`, such as
the device or the progress bar, may differ)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional

from gkl.training.checkpoint import load_checkpoint
from gkl.training.config import RUNTIME_KEYS, TrainConfig

__all__ = ["checkpoint_to_resume"]


def _comparable(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cfg.items() if k not in RUNTIME_KEYS}


def checkpoint_to_resume(
    ckpt_path: Optional[Path], run_config: dict[str, Any], resume: bool, overwrite: bool
) -> Optional[dict[str, Any]]:
    """The checkpoint to continue (its config checked against ``run_config``), or ``None``."""
    if ckpt_path is None or not ckpt_path.exists():
        return None
    if not resume:
        if not overwrite:
            raise FileExistsError(f"{ckpt_path} exists: pass resume=True to continue it or overwrite=True")
        return None
    checkpoint = load_checkpoint(ckpt_path, map_location="cpu")
    saved = checkpoint.get("config", {})
    # a field added to TrainConfig after the checkpoint was written counts as its default
    defaults = TrainConfig().to_dict()
    a = {"train": _comparable({**defaults, **saved.get("train", {})}), "objective": saved.get("objective", {})}
    b = {"train": _comparable(run_config["train"]), "objective": run_config["objective"]}
    if a != b:
        diff = sorted(
            f"{part}.{k}"
            for part in ("train", "objective")
            for k in set(a[part]) | set(b[part])
            if a[part].get(k) != b[part].get(k)
        )
        raise ValueError(f"cannot resume {ckpt_path}: config differs in {', '.join(diff)}")
    return checkpoint
