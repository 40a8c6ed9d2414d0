r"""Data sets for the training chapters: ``digits``, ``mnist1d``, ``mnist1d-box``, ``cifar10``, ``cifar100``.

:func:`get_dataset` returns ``(train_set, test_set, info)``. Every set holds its whole data as tensors
(all four fit in memory), yields ``(input, label)`` pairs and, for speed, whole batches through
``__getitems__`` (use :func:`collate` as the ``DataLoader``'s ``collate_fn``; :mod:`gkl.training` does).

* **Images are in** :math:`[0, 1]`; normalisation :math:`(x - \mu)/\sigma` with ``info.mean`` /
  ``info.std`` happens *inside* the model (:class:`gkl.models.Normalize`), so attacks work in pixel
  space, as in torchattacks and AutoAttack.
* ``digits``: scikit-learn's 1,797 real 8×8 handwritten digits (shipped with scikit-learn, no
  download), inputs ``(1, 8, 8)`` = pixel / 16; a fixed, stratified split (``test_fraction`` = 0.2,
  i.e. 1,437 / 360) seeded by ``seed``.
* ``mnist1d``: the 1-D MNIST analogue generated locally by ``mnist1d.data.make_dataset`` with its
  default arguments (4,000 / 1,000 samples, its own fixed split; never its downloader), inputs
  ``(1, 40)`` floats (not in [0, 1]: signals with mean ≈ 0).
* ``mnist1d-box``: the same samples and split, mapped into the box :math:`[0, 1]` that attacks keep
  their inputs in (:func:`gkl.methods.adversarial.train_adversarial` refuses inputs outside it): an
  affine map fixed by the training split's minimum and maximum (:func:`mnist1d_box`), test points
  clipped to the box. For adversarial training; ``mnist1d_test_set(n, seed, box=True)`` maps further
  unseen points the same way.
* ``cifar10`` / ``cifar100``: read from torchvision's on-disk format (pickled batches + meta) under
  ``root``; downloaded through torchvision on first use. Train-time augmentation (random crop with
  4-pixel padding, horizontal flip) is done on tensors with torch's RNG, so it is seeded and resumable.
  :func:`write_fake_cifar` writes a tiny folder in the same format for tests.
"""

from __future__ import annotations

import functools
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset
from torch.utils.data._utils.collate import default_collate

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "TensorDataset",
    "get_dataset",
    "default_data_root",
    "mnist1d_test_set",
    "mnist1d_box",
    "collate",
    "write_fake_cifar",
]

DATASETS = ("digits", "mnist1d", "mnist1d-box", "cifar10", "cifar100")

_CIFAR = {
    # name: (folder, train files, test files, meta file, meta key, label key)
    "cifar10": (
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        ["test_batch"],
        "batches.meta",
        "label_names",
        "labels",
    ),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "meta", "fine_label_names", "fine_labels"),
}
_CIFAR_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a data set. Also readable as a mapping (``info["num_classes"]``)."""

    name: str
    num_classes: int
    input_shape: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...] = field(default=())

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def model_kwargs(self, normalize: bool = True, in_channels: bool = False, **extra: Any) -> dict[str, Any]:
        """Builder arguments a model needs for this data: ``mean``/``std`` (the model normalises its
        [0, 1] inputs; ``normalize=False`` gives 0/1, i.e. raw inputs as the released AT models take
        them); with ``in_channels=True`` (convolutional image models) the channel count of images
        with other than 3 channels; then ``extra``, which wins."""
        image = len(self.input_shape) == 3
        channels = self.input_shape[0] if image else len(self.mean)
        if normalize:
            kw: dict[str, Any] = {"mean": tuple(self.mean), "std": tuple(self.std)}
        else:
            kw = {"mean": (0.0,) * channels, "std": (1.0,) * channels}
        if in_channels and image and channels != 3:
            kw["in_channels"] = channels
        kw.update(extra)
        return kw

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("name", "num_classes", "input_shape", "mean", "std", "classes")}


class TensorDataset(Dataset):
    """Inputs and integer labels held as tensors, with optional image augmentation.

    Args:
        inputs: ``(N, ...)`` tensor; ``uint8`` images are returned as float in [0, 1].
        targets: ``(N,)`` integer labels.
        augment: random crop (zero padding ``pad``) + horizontal flip of ``(C, H, W)`` images,
            drawn from torch's global RNG.
    """

    def __init__(self, inputs: Tensor, targets: Tensor, augment: bool = False, pad: int = 4) -> None:
        if inputs.shape[0] != targets.shape[0]:
            raise ValueError(f"{inputs.shape[0]} inputs but {targets.shape[0]} targets")
        self.inputs = inputs
        self.targets = targets.long()
        self.augment = augment
        self.pad = pad

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def _prepare(self, x: Tensor) -> Tensor:
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        if self.augment:
            x = random_crop_flip(x, self.pad)
        return x

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self._prepare(self.inputs[index : index + 1])[0], self.targets[index]

    def __getitems__(self, indices: Sequence[int]) -> tuple[Tensor, Tensor]:
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        return self._prepare(self.inputs[idx]), self.targets[idx]

    def subset(self, n: int, seed: int = 0) -> "TensorDataset":
        """A fixed random subset of ``n`` samples (without augmentation changes)."""
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self), generator=g)[:n].sort().values
        return TensorDataset(self.inputs[idx], self.targets[idx], self.augment, self.pad)

    def split(self, n: int, n_val: int, seed: int = 0) -> tuple["TensorDataset", "TensorDataset"]:
        """Disjoint training and validation parts from one permutation seeded by ``seed``: the first
        ``n`` samples (exactly :meth:`subset` ``(n, seed)``) and the next ``n_val``. The validation
        part is for choosing hyper-parameters and epochs; it never touches the test split."""
        if not (1 <= n and 1 <= n_val and n + n_val <= len(self)):
            raise ValueError(f"cannot take {n} training and {n_val} validation samples from {len(self)}")
        g = torch.Generator().manual_seed(seed)
        perm = torch.randperm(len(self), generator=g)
        tr, va = perm[:n].sort().values, perm[n:n + n_val].sort().values
        val = TensorDataset(self.inputs[va], self.targets[va], False, self.pad)  # evaluated, never augmented
        return TensorDataset(self.inputs[tr], self.targets[tr], self.augment, self.pad), val

    def tensors(self) -> tuple[Tensor, Tensor]:
        """All inputs (as float, no augmentation) and labels."""
        x = self.inputs.float() / 255.0 if self.inputs.dtype == torch.uint8 else self.inputs.float()
        return x, self.targets


def random_crop_flip(x: Tensor, pad: int) -> Tensor:
    """Per-sample random crop of a zero-padded ``(B, C, H, W)`` batch and random horizontal flip."""
    B, _, H, W = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dx = torch.randint(0, 2 * pad + 1, (B,))
    dy = torch.randint(0, 2 * pad + 1, (B,))
    flip = torch.rand(B) < 0.5
    rows = (dy[:, None] + torch.arange(H)[None, :])[:, None, :, None]  # (B,1,H,1)
    cols = dx[:, None] + torch.arange(W)[None, :]  # (B,W)
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, None, :]  # (B,1,1,W)
    b = torch.arange(B)[:, None, None, None]
    c = torch.arange(x.shape[1])[None, :, None, None]
    return padded[b, c, rows, cols]


def collate(batch: Any) -> Any:
    """``collate_fn`` for loaders over :class:`TensorDataset` (already batched) or any other set."""
    if isinstance(batch, tuple):  # from __getitems__
        return batch
    return default_collate(batch)


def default_data_root() -> Path:
    """``$GKL_DATA_DIR`` if set, else ``~/.cache/gkl/data``."""
    env = os.environ.get("GKL_DATA_DIR")
    return Path(env) if env else Path.home() / ".cache" / "gkl" / "data"


def get_dataset(
    name: str,
    root: Optional[Union[str, Path]] = None,
    seed: int = 0,
    *,
    test_fraction: float = 0.2,
    augment: bool = True,
    download: bool = True,
) -> tuple[TensorDataset, TensorDataset, DatasetInfo]:
    """Load a data set by name; see the module docstring.

    Args:
        name: one of :data:`DATASETS`.
        root: folder for downloaded data (CIFAR only); default :func:`default_data_root`.
        seed: seeds the train/test split of ``digits`` (the other sets have fixed splits).
        test_fraction: share of ``digits`` held out for testing.
        augment: crop + flip augmentation of the CIFAR training set.
        download: fetch CIFAR through torchvision when it is not under ``root``.

    Returns:
        ``(train_set, test_set, info)``.
    """
    if name == "digits":
        return _digits(seed, test_fraction)
    if name == "mnist1d":
        return _mnist1d()
    if name == "mnist1d-box":
        return _mnist1d(box=True)
    if name in _CIFAR:
        return _cifar(name, Path(root) if root is not None else default_data_root(), augment, download)
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def _digits(seed: int, test_fraction: float) -> tuple[TensorDataset, TensorDataset, DatasetInfo]:
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    x, y = _load_digits_cached()
    train_idx, test_idx = train_test_split(np.arange(len(y)), test_size=test_fraction, random_state=seed, stratify=y)
    xt = torch.from_numpy(x).float().div(16.0).reshape(-1, 1, 8, 8)  # pixels 0..16 -> [0, 1] (not in place: x is cached)
    yt = torch.from_numpy(y).long()
    tr, te = torch.from_numpy(np.sort(train_idx)), torch.from_numpy(np.sort(test_idx))
    mean, std = float(xt[tr].mean()), float(xt[tr].std())
    info = DatasetInfo("digits", 10, (1, 8, 8), (mean,), (std,), tuple(str(i) for i in range(10)))
    return TensorDataset(xt[tr], yt[tr]), TensorDataset(xt[te], yt[te]), info


@functools.lru_cache(maxsize=1)
def _load_digits_cached() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.float32), d.target.astype(np.int64)


@functools.lru_cache(maxsize=1)
def _mnist1d_arrays() -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    d = make_dataset(get_dataset_args())  # generated locally; never mnist1d's downloader
    return {k: np.asarray(d[k]) for k in ("x", "y", "x_test", "y_test")}


@functools.lru_cache(maxsize=1)
def mnist1d_box() -> tuple[float, float]:
    r"""``(low, high)``: the minimum and maximum of the standard mnist1d training inputs, which fix
    the affine map :math:`x \mapsto (x - \text{low}) / (\text{high} - \text{low})` of ``mnist1d-box``."""
    x = _mnist1d_arrays()["x"]
    return float(x.min()), float(x.max())


def _to_box(x: Tensor) -> Tensor:
    low, high = mnist1d_box()
    return ((x - low) / (high - low)).clamp(0.0, 1.0)


@functools.lru_cache(maxsize=4)
def mnist1d_test_set(n: int = 10_000, seed: int = 1, box: bool = False) -> TensorDataset:
    """``n`` further mnist1d samples (``n // 10`` per class) from mnist1d's own generator with another
    ``seed`` (the standard 4,000 / 1,000 split is seed 42), for comparisons that need a larger test
    set than the standard 1,000 points. mnist1d normalises every set it makes to zero mean and unit
    variance, this one too; its inputs are disjoint draws from the same distribution. ``box=True``:
    mapped into [0, 1] as ``mnist1d-box`` is (:func:`mnist1d_box`)."""
    from mnist1d.data import get_dataset_args, make_dataset

    if not (isinstance(n, int) and n >= 10 and n % 10 == 0):
        raise ValueError(f"n must be a positive multiple of 10 (balanced classes), got {n!r}")
    if seed == get_dataset_args().seed:
        raise ValueError(f"seed {seed} is the standard split's: choose another to get unseen samples")
    cache = default_data_root() / f"mnist1d-test-{n}-seed{seed}.npz"  # ~1 s to read, ~15 s to generate
    try:
        with np.load(cache) as z:
            x, y = z["x"], z["y"]
    except (OSError, KeyError, ValueError):
        args = get_dataset_args()
        args.num_samples, args.train_split, args.seed = n, 0.0, int(seed)
        d = make_dataset(args)  # generated locally; never mnist1d's downloader
        x, y = np.asarray(d["x_test"], dtype=np.float32), np.asarray(d["y_test"], dtype=np.int64)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, x=x, y=y)
            os.replace(tmp, cache)
        except OSError:
            pass  # a read-only cache folder: generate again next time
    inputs = torch.from_numpy(x).float().unsqueeze(1)
    return TensorDataset(_to_box(inputs) if box else inputs, torch.from_numpy(y).long())


def _mnist1d(box: bool = False) -> tuple[TensorDataset, TensorDataset, DatasetInfo]:
    d = _mnist1d_arrays()
    x = torch.from_numpy(d["x"]).float().unsqueeze(1)  # (N, 1, 40)
    xt = torch.from_numpy(d["x_test"]).float().unsqueeze(1)
    if box:
        x, xt = _to_box(x), _to_box(xt)
    info = DatasetInfo(
        "mnist1d-box" if box else "mnist1d", 10, tuple(x.shape[1:]), (float(x.mean()),), (float(x.std()),),
        tuple(str(i) for i in range(10))
    )
    return (
        TensorDataset(x, torch.from_numpy(d["y"]).long()),
        TensorDataset(xt, torch.from_numpy(d["y_test"]).long()),
        info,
    )


def _cifar_files_present(root: Path, name: str) -> bool:
    folder, train, test, meta, *_ = _CIFAR[name]
    return all((root / folder / f).is_file() for f in [*train, *test, meta])


def _cifar(name: str, root: Path, augment: bool, download: bool) -> tuple[TensorDataset, TensorDataset, DatasetInfo]:
    folder, train_files, test_files, meta_file, meta_key, label_key = _CIFAR[name]
    pretty = "CIFAR-10" if name == "cifar10" else "CIFAR-100"
    if not _cifar_files_present(root, name):
        if not download:
            raise FileNotFoundError(f"{pretty} not found under {root / folder} (download=False)")
        try:
            import torchvision.datasets as tvd

            cls = tvd.CIFAR10 if name == "cifar10" else tvd.CIFAR100
            cls(str(root), train=True, download=True)
        except Exception as err:  # network errors come in many types (URLError, OSError, RuntimeError ...)
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise FileNotFoundError(
                f"{pretty} is not under {root / folder} and could not be downloaded (offline?): {first}"
            ) from None

    def read(files: list[str]) -> tuple[Tensor, Tensor]:
        xs, ys = [], []
        for f in files:
            with open(root / folder / f, "rb") as fh:
                entry = pickle.load(fh, encoding="latin1")
            xs.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.extend(entry[label_key])
        return torch.from_numpy(np.concatenate(xs)), torch.tensor(ys, dtype=torch.long)

    try:
        x_train, y_train = read(train_files)
        x_test, y_test = read(test_files)
        with open(root / folder / meta_file, "rb") as fh:
            classes = tuple(pickle.load(fh, encoding="latin1")[meta_key])
    except (OSError, pickle.UnpicklingError, KeyError, ValueError, EOFError) as err:
        raise ValueError(f"{pretty} files under {root / folder} are unreadable or corrupted: {err}") from None
    mean, std = _CIFAR_STATS[name]
    info = DatasetInfo(name, len(classes), (3, 32, 32), mean, std, classes)
    return TensorDataset(x_train, y_train, augment=augment), TensorDataset(x_test, y_test), info


def write_fake_cifar(
    root: Union[str, Path], name: str = "cifar10", n_train: int = 64, n_test: int = 32, seed: int = 0
) -> Path:
    """Write a tiny random data set in torchvision's on-disk CIFAR format (for tests and demos).

    Creates ``root/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` (or
    ``root/cifar-100-python/{train, test, meta}``) with uint8 noise images and balanced labels.
    Returns ``root``.
    """
    if name not in _CIFAR:
        raise ValueError(f"name must be 'cifar10' or 'cifar100', got {name!r}")
    folder, train_files, test_files, meta_file, meta_key, label_key = _CIFAR[name]
    C = 10 if name == "cifar10" else 100
    rng = np.random.default_rng(seed)
    out = Path(root) / folder
    out.mkdir(parents=True, exist_ok=True)

    def dump(path: Path, n: int) -> None:
        entry = {
            "data": rng.integers(0, 256, size=(n, 3 * 32 * 32), dtype=np.uint8),
            label_key: [int(i % C) for i in range(n)],
        }
        with open(path, "wb") as fh:
            pickle.dump(entry, fh)

    per_file = [n_train // len(train_files) + (i < n_train % len(train_files)) for i in range(len(train_files))]
    for f, n in zip(train_files, per_file):
        dump(out / f, n)
    for f in test_files:
        dump(out / f, n_test)
    with open(out / meta_file, "wb") as fh:
        pickle.dump({meta_key: [f"class{i}" for i in range(C)]}, fh)
    return Path(root)
