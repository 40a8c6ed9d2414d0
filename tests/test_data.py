"""Data sets: shapes, ranges, fixed seeded splits, the CIFAR on-disk format, augmentation."""

import os
import urllib.error

import pytest
import torch
from torch.utils.data import DataLoader

from gkl.data import DATASETS, collate, get_dataset, random_crop_flip, write_fake_cifar

torch.set_num_threads(1)  # small ops: threads only contend on a shared 2-core machine


def test_digits_split_is_fixed_stratified_and_in_unit_range():
    tr, te, info = get_dataset("digits")
    assert (len(tr), len(te)) == (1437, 360)
    x, y = tr.tensors()
    assert x.shape[1:] == (1, 8, 8) == info.input_shape and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0 and float(x.max()) == 1.0
    assert info.num_classes == info["num_classes"] == 10
    assert len(info.mean) == len(info.std) == 1
    # stratified: every class present in the test split in roughly equal share
    counts = torch.bincount(te.targets, minlength=10)
    assert int(counts.min()) >= 34 and int(counts.max()) <= 38
    # the same seed gives the same split (also after other calls), another seed a different one
    tr2, te2, _ = get_dataset("digits", seed=0)
    assert torch.equal(te.inputs, te2.inputs) and torch.equal(tr.targets, tr2.targets)
    _, te3, _ = get_dataset("digits", seed=1)
    assert not torch.equal(te.inputs, te3.inputs)


def test_digits_train_and_test_are_disjoint():
    tr, te, _ = get_dataset("digits")
    a = {tuple(r.flatten().tolist()) for r in tr.inputs}
    b = [tuple(r.flatten().tolist()) for r in te.inputs]
    # load_digits has a few exact duplicate images, so compare via indices of the underlying rows
    assert len(a) > 1300 and sum(t in a for t in b) < 10


def test_repeated_loading_does_not_rescale_the_cached_array():
    x1 = get_dataset("digits")[0].inputs.clone()
    for _ in range(2):
        x2 = get_dataset("digits")[0].inputs
    assert torch.equal(x1, x2)


def test_mnist1d_is_generated_locally():
    tr, te, info = get_dataset("mnist1d")
    assert tr.inputs.shape == (4000, 1, 40) and te.inputs.shape == (1000, 1, 40)
    assert tr.inputs.dtype == torch.float32 and info.input_shape == (1, 40) and info.num_classes == 10
    assert set(tr.targets.unique().tolist()) == set(range(10))


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset"):
        get_dataset("imagenet")
    assert "cifar100" in DATASETS


@pytest.mark.parametrize("name,classes,folder", [("cifar10", 10, "cifar-10-batches-py"), ("cifar100", 100, "cifar-100-python")])
def test_fake_cifar_roundtrip(tmp_path, name, classes, folder):
    write_fake_cifar(tmp_path, name, n_train=50, n_test=20)
    assert (tmp_path / folder).is_dir()
    tr, te, info = get_dataset(name, root=tmp_path, download=False)
    assert (len(tr), len(te)) == (50, 20)
    assert info.num_classes == classes and info.input_shape == (3, 32, 32) and len(info.classes) == classes
    x, y = te[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and 0 <= float(x.min()) <= float(x.max()) <= 1
    assert int(y) == 0 and tr.augment and not te.augment


def test_cifar_missing_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="CIFAR-10 not found"):
        get_dataset("cifar10", root=tmp_path, download=False)


def test_cifar_offline_download_gives_one_line_error(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    class Offline:
        def __init__(self, *a, **k):
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tvd, "CIFAR10", Offline)
    with pytest.raises(FileNotFoundError) as err:
        get_dataset("cifar10", root=tmp_path)
    msg = str(err.value)
    assert "could not be downloaded" in msg and "\n" not in msg


def test_cifar_corrupted_file(tmp_path):
    write_fake_cifar(tmp_path, "cifar10", n_train=10, n_test=5)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="corrupted"):
        get_dataset("cifar10", root=tmp_path, download=False)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_fake_cifar_matches_torchvision_reader(tmp_path, monkeypatch, name):
    """Our reader and torchvision's ``datasets.CIFAR10/100(root, download=False)`` read the same images,
    labels and class names from the same folder.  torchvision checks each file's md5 against the real
    CIFAR files, which the fake files cannot match: that check alone is replaced by "the file exists"."""
    import torchvision.datasets as tvd
    import torchvision.datasets.cifar as tv_cifar
    from torchvision.transforms import ToTensor

    monkeypatch.setattr(tv_cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))
    write_fake_cifar(tmp_path, name, n_train=23, n_test=7, seed=3)  # 23: uneven over CIFAR-10's 5 batches
    cls = tvd.CIFAR10 if name == "cifar10" else tvd.CIFAR100
    tv_train = cls(str(tmp_path), train=True, download=False, transform=ToTensor())
    tv_test = cls(str(tmp_path), train=False, download=False, transform=ToTensor())
    tr, te, info = get_dataset(name, root=tmp_path, download=False)

    assert list(info.classes) == list(tv_train.classes) and info.num_classes == len(tv_test.classes)
    for ours, theirs in [(tr, tv_train), (te, tv_test)]:
        assert len(ours) == len(theirs)
        # raw uint8 pixels: torchvision keeps (N, H, W, C), we keep (N, C, H, W)
        assert ours.inputs.dtype == torch.uint8
        assert torch.equal(ours.inputs, torch.from_numpy(theirs.data).permute(0, 3, 1, 2))
        assert ours.targets.tolist() == list(theirs.targets)
    # item by item through torchvision's own PIL + ToTensor pipeline (test set: no augmentation)
    for i in range(len(te)):
        x, y = te[i]
        x_tv, y_tv = tv_test[i]
        assert torch.equal(x, x_tv) and int(y) == y_tv
    # the training set's un-augmented tensors, likewise
    x_all, y_all = tr.tensors()
    x_tv = torch.stack([tv_train[i][0] for i in range(len(tv_train))])
    assert torch.equal(x_all, x_tv) and y_all.tolist() == list(tv_train.targets)
    # the md5 check was the only thing bypassed: a missing file still stops torchvision
    (tmp_path / _folder(name) / ("test_batch" if name == "cifar10" else "test")).unlink()
    with pytest.raises(RuntimeError, match="not found or corrupted"):
        cls(str(tmp_path), train=False, download=False)


def _folder(name: str) -> str:
    return "cifar-10-batches-py" if name == "cifar10" else "cifar-100-python"


def test_batched_loading_and_augmentation_are_seeded():
    x = torch.rand(16, 3, 8, 8)
    torch.manual_seed(0)
    a = random_crop_flip(x, 2)
    torch.manual_seed(0)
    b = random_crop_flip(x, 2)
    assert a.shape == x.shape and torch.equal(a, b)
    # without padding a crop is the identity, so each image is itself or its mirror
    c = random_crop_flip(x, 0)
    for i in range(16):
        assert torch.equal(c[i], x[i]) or torch.equal(c[i], x[i].flip(-1))
    tr, _, _ = get_dataset("digits")
    xb, yb = next(iter(DataLoader(tr, batch_size=32, collate_fn=collate)))
    assert xb.shape == (32, 1, 8, 8) and yb.shape == (32,) and torch.equal(xb, tr.inputs[:32])


def test_validation_split_is_disjoint_and_extends_the_training_subset():
    tr, _, _ = get_dataset("digits")
    a, val = tr.split(300, 100, seed=0)
    assert len(a) == 300 and len(val) == 100 and not val.augment
    assert torch.equal(a.inputs, tr.subset(300, seed=0).inputs)  # the same students' training data
    rows = {tuple(r) for r in a.inputs.flatten(1).tolist()}
    assert not any(tuple(r) in rows for r in val.inputs.flatten(1).tolist())
    with pytest.raises(ValueError, match="cannot take"):
        tr.split(len(tr), 1)


def test_mnist1d_box_is_mnist1d_mapped_into_the_attacks_box(tmp_path, monkeypatch):
    """``mnist1d-box``: the same samples, labels and split as ``mnist1d``, under one affine map fixed by
    the training split (its minimum to 0, its maximum to 1; test points clipped), so attacks that keep
    inputs in [0, 1] see every signal whole; further unseen points map the same way."""
    from gkl.data import mnist1d_box, mnist1d_test_set

    (tr, te, info), (btr, bte, binfo) = get_dataset("mnist1d"), get_dataset("mnist1d-box")
    low, high = mnist1d_box()
    assert float(btr.inputs.min()) == 0.0 and float(btr.inputs.max()) == 1.0
    assert 0.0 <= float(bte.inputs.min()) and float(bte.inputs.max()) <= 1.0
    assert torch.allclose(btr.inputs, (tr.inputs - low) / (high - low), atol=1e-6)
    assert torch.allclose(bte.inputs, ((te.inputs - low) / (high - low)).clamp(0, 1), atol=1e-6)
    assert torch.equal(btr.targets, tr.targets) and torch.equal(bte.targets, te.targets)
    assert binfo.name == "mnist1d-box" and binfo.input_shape == info.input_shape
    assert binfo.mean[0] == pytest.approx(float(btr.inputs.mean()))
    monkeypatch.setenv("GKL_DATA_DIR", str(tmp_path))
    mnist1d_test_set.cache_clear()
    extra, boxed = mnist1d_test_set(100, 7), mnist1d_test_set(100, 7, box=True)
    assert torch.allclose(boxed.inputs, ((extra.inputs - low) / (high - low)).clamp(0, 1), atol=1e-6)
    mnist1d_test_set.cache_clear()


def test_mnist1d_box_trains_adversarially(tmp_path):
    from gkl.methods.adversarial import AdversarialConfig, train_adversarial
    from gkl.training import TrainConfig

    train, test, info = get_dataset("mnist1d-box")
    _, history = train_adversarial("mnist1d-box", "mnist1d_cnn", AdversarialConfig.for_method("trades", epsilon=0.03),
                                   TrainConfig(epochs=1, batch_size=32), tmp_path / "run", model_kwargs={"width": 4},
                                   data=(train.subset(64, seed=0), test.subset(32, seed=0), info))
    assert history[-1]["epoch"] == 1 and 0.0 <= history[-1]["robust_acc"] <= history[-1]["clean_acc"]
