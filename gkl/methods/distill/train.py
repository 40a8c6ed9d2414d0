"""Training one student with the engine, alone or from a teacher (teachers are trained this way too)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from torch import nn

from gkl.data import DatasetInfo, TensorDataset, get_dataset
from gkl.methods.distill.base import DistillConfig, build_distiller, distill_config
from gkl.methods.distill.objective import DistillObjective
from gkl.methods.registry import DISTILLERS
from gkl.models import build_model
from gkl.training import TrainConfig, fit

__all__ = ["RunResult", "load_data", "train_student"]


@dataclass
class RunResult:
    """A finished (or resumed-to-the-end) training run."""

    model: nn.Module
    history: list[dict[str, Any]]
    info: Any
    out_dir: Optional[Path]

    @property
    def test_acc(self) -> float:
        """Test accuracy at the **last** epoch (a run evaluated on validation data has none)."""
        return float(self.history[-1]["test_acc"])

    @property
    def val_acc(self) -> float:
        """Validation accuracy at the **last** epoch (runs with ``validation`` only)."""
        return float(self.history[-1]["val_acc"])


def _train_config(train: Mapping[str, Any], progress: bool, device: Optional[str]) -> TrainConfig:
    d = dict(train)
    d["progress"] = progress
    if device is not None:
        d["device"] = device
    return TrainConfig(**d)


def load_data(dataset: str, train_subset: Optional[int] = None, data_root: Optional[str] = None,
              seed: int = 0, validation: Optional[int] = None) -> tuple[TensorDataset, TensorDataset, DatasetInfo]:
    """``get_dataset`` plus an optional fixed training subset (first ``n`` of a permutation seeded by 0).

    With ``validation = v`` the second set returned is **not** the test set but ``v`` further
    training samples, disjoint from the subset (:meth:`gkl.data.TensorDataset.split`, same
    permutation, so the training samples are exactly those of the run without ``validation``).
    """
    train_set, test_set, info = get_dataset(dataset, root=data_root, seed=seed)
    if validation is not None:
        n = train_subset if train_subset is not None else len(train_set) - validation
        train_set, val_set = train_set.split(n, validation, seed=0)
        return train_set, val_set, info
    if train_subset is not None:
        if not 1 <= train_subset <= len(train_set):
            raise ValueError(f"train_subset must be in 1..{len(train_set)}, got {train_subset}")
        train_set = train_set.subset(train_subset, seed=0)
    return train_set, test_set, info


def _as_validation(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The evaluation metrics of a run evaluated on validation data renamed ``test_*`` -> ``val_*``
    (the engine names what it evaluates ``test_*``; ``metrics.jsonl`` on disk keeps that name)."""
    rename = lambda k: "val_" + k[5:] if k.startswith("test_") else ("ema_val_" + k[9:] if k.startswith("ema_test_") else k)  # noqa: E731
    return [{rename(k): v for k, v in row.items()} for row in history]


def train_student(
    dataset: str,
    arch: str,
    arch_kwargs: Optional[Mapping[str, Any]] = None,
    train: Optional[Mapping[str, Any]] = None,
    *,
    distill: Optional[DistillConfig] = None,
    teacher: Optional[nn.Module] = None,
    teacher_hash: Optional[str] = None,
    augment: Optional[str] = None,
    train_subset: Optional[int] = None,
    out_dir: Optional[Union[str, Path]] = None,
    resume: bool = True,
    progress: bool = False,
    device: Optional[str] = None,
    data_root: Optional[str] = None,
    stop_after: Optional[int] = None,
    validation: Optional[int] = None,
) -> RunResult:
    """Train ``arch`` on ``dataset`` with the engine, alone (``distill=None``) or from ``teacher``.

    With ``resume=True`` (default) a finished run in ``out_dir`` is loaded instead of retrained and an
    unfinished one is continued. Returns the trained model and the per-epoch metrics.
    ``stop_after`` stops after that many epochs (to simulate a killed run). ``validation = v``
    evaluates on ``v`` held-out training samples instead of the test set (:func:`load_data`; the
    training samples do not change) and names the metrics ``val_acc``, ``val_loss``, ...
    """
    distill = distill or distill_config("none")
    needs_teacher = DISTILLERS[distill.method].needs_teacher
    if needs_teacher and teacher is None:
        raise ValueError(f"method {distill.method!r} needs a teacher")
    config = _train_config(train or {}, progress, device)
    train_set, test_set, info = load_data(dataset, train_subset, data_root, seed=config.seed, validation=validation)
    kwargs = dict(arch_kwargs or {})
    build_kwargs = info.model_kwargs(**kwargs)
    build_model(arch, info.num_classes, **build_kwargs)  # fail early on a bad name/arguments
    distiller = build_distiller(teacher if needs_teacher else None, distill, info.num_classes)
    objective = DistillObjective(
        distiller,
        augment,
        {"dataset": dataset, "student": arch, "student_kwargs": kwargs, "train_subset": train_subset, "teacher": teacher_hash},
    )
    meta = {"task": "distill", "dataset": dataset, "model": arch, "model_kwargs": kwargs,
            "num_classes": info.num_classes, "teacher": teacher_hash}
    if validation is not None:
        meta["validation"] = validation  # the evaluated set is validation data, not the test set

    built: list[nn.Module] = []

    def factory() -> nn.Module:  # the engine builds the student after seeding
        built.append(build_model(arch, info.num_classes, **build_kwargs))
        return built[-1]

    history = fit(factory, objective, train_set, test_set, config, out_dir, resume=resume, meta=meta, stop_after=stop_after)
    if validation is not None:
        history = _as_validation(history)
    return RunResult(built[-1].eval(), history, info, Path(out_dir) if out_dir is not None else None)
