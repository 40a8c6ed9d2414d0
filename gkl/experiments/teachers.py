r"""Teachers for distillation: trained once by :mod:`gkl.training`, saved with a content hash, reused.

A teacher is described by a :class:`TeacherSpec` (data set, architecture and its arguments, the
training recipe, the seed). :func:`get_teacher` looks in the cache
``gkl.training.default_runs_dir() / "teachers" / <dataset>-<arch>-<spec hash>/``; if no valid teacher
is there it trains one (the student trained alone: :func:`gkl.methods.distill.train.train_student`)
and writes ``teacher.pt``:

* ``spec`` and ``spec_hash`` — SHA-256 of the canonical JSON of the spec (the cache key);
* ``weights_sha256`` — SHA-256 over the names, dtypes, shapes and bytes of every tensor of the
  state dict (the content hash);
* ``state_dict``, ``test_acc``.

:func:`load_teacher` refuses, with a one-line :class:`ValueError`, a file that cannot be read, whose
weights do not match their content hash (corrupted), or whose spec does not match what the caller
expects (another data set, architecture or number of classes).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import torch
from torch import nn

from gkl.experiments.cache import run_key
from gkl.methods.distill.train import train_student
from gkl.training.checkpoint import load_checkpoint, save_checkpoint

__all__ = [
    "TEACHER_FORMAT",
    "TeacherSpec",
    "LoadedTeacher",
    "state_dict_sha256",
    "get_teacher",
    "load_teacher",
    "save_teacher",
    "teacher_dir",
]

TEACHER_FORMAT = "gkl-teacher"


@dataclass(frozen=True)
class TeacherSpec:
    """Everything that determines a teacher's weights.

    Attributes:
        dataset: data set name (:func:`gkl.data.get_dataset`).
        arch: registered model name (:func:`gkl.models.build_model`).
        arch_kwargs: extra builder arguments (e.g. ``{"width": 32}``); ``mean``/``std`` come from the data.
        train: :class:`gkl.training.TrainConfig` fields as a dict (``seed`` inside).
        augment: batch augmentation name (see :data:`gkl.methods.distill.objective.AUGMENTATIONS`) or ``None``.
        train_subset: train on the first ``n`` samples of a seeded permutation (``None``: all).
    """

    dataset: str
    arch: str
    arch_kwargs: Mapping[str, Any] = field(default_factory=dict)
    train: Mapping[str, Any] = field(default_factory=dict)
    augment: Optional[str] = None
    train_subset: Optional[int] = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["arch_kwargs"] = dict(self.arch_kwargs)
        d["train"] = {k: v for k, v in dict(self.train).items() if k not in _RUNTIME}
        return json.loads(json.dumps(d, sort_keys=True))  # plain JSON types (tuples become lists)

    @property
    def key(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`to_dict` (runtime-only settings excluded)."""
        return run_key(self.to_dict(), length=64)

    @property
    def name(self) -> str:
        return f"{self.dataset}-{self.arch}-{self.key[:12]}"


# Settings that do not change the weights.
_RUNTIME = ("progress", "device", "num_workers", "deterministic", "eval_batch_size")


@dataclass
class LoadedTeacher:
    """A teacher model with the record it was loaded from."""

    model: nn.Module
    spec: dict[str, Any]
    weights_sha256: str
    path: Path
    test_acc: Optional[float] = None


def state_dict_sha256(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Content hash of a state dict: names, dtypes, shapes and bytes of every tensor, in name order."""
    h = hashlib.sha256()
    for k in sorted(state_dict):
        t = state_dict[k]
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"state dict entry {k!r} is not a tensor")
        t = t.detach().cpu().contiguous().reshape(-1)  # 1-D: 0-dim tensors cannot be viewed as bytes
        h.update(k.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(state_dict[k].shape)).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def teacher_dir(spec: TeacherSpec, runs_dir: Optional[Union[str, Path]] = None) -> Path:
    """Cache folder of a teacher: ``runs_dir / "teachers" / spec.name``."""
    from gkl.training import default_runs_dir

    return Path(runs_dir if runs_dir is not None else default_runs_dir()) / "teachers" / spec.name


def save_teacher(path: Union[str, Path], model: nn.Module, spec: Mapping[str, Any], test_acc: Optional[float] = None) -> str:
    """Write ``teacher.pt`` atomically; returns the weights' content hash."""
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    digest = state_dict_sha256(sd)
    spec = dict(spec)
    save_checkpoint(
        path,
        {
            "kind": TEACHER_FORMAT,
            "spec": spec,
            "spec_hash": run_key(spec, length=64),
            "weights_sha256": digest,
            "state_dict": sd,
            "test_acc": test_acc,
        },
    )
    return digest


def load_teacher(
    path: Union[str, Path],
    *,
    dataset: Optional[str] = None,
    arch: Optional[str] = None,
    num_classes: Optional[int] = None,
    spec: Optional[TeacherSpec] = None,
    map_location: Union[str, torch.device] = "cpu",
) -> LoadedTeacher:
    """Load and verify a teacher file written by :func:`save_teacher`.

    Args:
        path: ``teacher.pt``.
        dataset, arch, num_classes: what the caller expects (checked when given).
        spec: the exact spec expected (its hash must match the file's).

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable/corrupted file, content hash mismatch, or a teacher for something else.
    """
    from gkl.data import get_dataset  # noqa: F401  (import here: data is heavier than this module)
    from gkl.models import build_model

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"teacher checkpoint {path} does not exist")
    try:
        record = load_checkpoint(path, map_location="cpu")
    except (ValueError, FileNotFoundError) as err:
        raise ValueError(f"teacher checkpoint {path} is corrupted or unreadable: {err}") from None
    if record.get("kind") != TEACHER_FORMAT or not {"spec", "spec_hash", "weights_sha256", "state_dict"} <= set(record):
        raise ValueError(f"{path} is not a gkl teacher file (expected kind {TEACHER_FORMAT!r})")
    sd = record["state_dict"]
    try:
        digest = state_dict_sha256(sd)
    except (ValueError, TypeError, RuntimeError) as err:
        raise ValueError(f"teacher checkpoint {path} is corrupted: {err}") from None
    if digest != record["weights_sha256"]:
        raise ValueError(
            f"teacher checkpoint {path} is corrupted: its weights' content hash {digest[:12]} differs from the "
            f"recorded {str(record['weights_sha256'])[:12]}"
        )
    s = dict(record["spec"])
    if run_key(s, length=64) != record["spec_hash"]:
        raise ValueError(f"teacher checkpoint {path} is corrupted: its spec does not match its recorded hash")
    want = spec.to_dict() if spec is not None else {}
    if spec is not None and {k: s.get(k) for k in want} != want:
        diff = sorted(k for k in want if s.get(k) != want[k])
        raise ValueError(f"teacher checkpoint {path} was trained with another recipe (differs in {', '.join(diff)})")
    if dataset is not None and s.get("dataset") != dataset:
        raise ValueError(f"teacher checkpoint {path} is a {s.get('dataset')!r} teacher, not for {dataset!r}")
    if arch is not None and s.get("arch") != arch:
        raise ValueError(f"teacher checkpoint {path} holds a {s.get('arch')!r}, not a {arch!r}")
    nc = int(s.get("num_classes", 0))
    if num_classes is not None and nc != num_classes:
        raise ValueError(f"teacher checkpoint {path} has {nc} classes, the data set has {num_classes}")
    kwargs = dict(s.get("arch_kwargs", {}))
    kwargs.update(s.get("data_stats", {}))
    try:
        model = build_model(s["arch"], nc, **kwargs)
        model.load_state_dict(sd)
    except (RuntimeError, KeyError, TypeError) as err:
        first = str(err).strip().splitlines()[0]
        raise ValueError(f"teacher checkpoint {path} does not fit its architecture {s.get('arch')!r}: {first}") from None
    model.eval().requires_grad_(False)
    return LoadedTeacher(model.to(map_location), s, digest, path, record.get("test_acc"))


def get_teacher(
    spec: TeacherSpec,
    runs_dir: Optional[Union[str, Path]] = None,
    *,
    progress: bool = False,
    device: Optional[str] = None,
    data_root: Optional[str] = None,
) -> LoadedTeacher:
    """The cached teacher of ``spec``, training (and caching) it first if needed.

    A cached file that fails verification is refused with its error (delete the folder to retrain);
    the cache is never silently overwritten.
    """
    folder = teacher_dir(spec, runs_dir)
    path = folder / "teacher.pt"
    if path.exists():
        return load_teacher(path, spec=spec)
    result = train_student(
        dataset=spec.dataset,
        arch=spec.arch,
        arch_kwargs=dict(spec.arch_kwargs),
        train=dict(spec.train),
        augment=spec.augment,
        train_subset=spec.train_subset,
        out_dir=folder,
        progress=progress,
        device=device,
        data_root=data_root,
    )
    record = spec.to_dict()
    record["num_classes"] = result.info.num_classes
    record["data_stats"] = {"mean": list(result.info.mean), "std": list(result.info.std)}
    # the record holds more than the spec: the file's spec hash covers the record, the cache key the spec
    save_teacher(path, result.model, record, result.history[-1].get("test_acc"))
    loaded = load_teacher(path)
    if {k: loaded.spec[k] for k in spec.to_dict()} != spec.to_dict():  # pragma: no cover - defensive
        raise ValueError(f"teacher written to {path} does not match its spec")
    return loaded
