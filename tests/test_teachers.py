"""Teacher cache: trained once, content-hashed, reused; corrupted or mismatched files are refused."""

from __future__ import annotations

import shutil

import pytest
import torch

from gkl.experiments.teachers import TeacherSpec, get_teacher, load_teacher, state_dict_sha256, teacher_dir
from gkl.training.checkpoint import load_checkpoint, save_checkpoint

TRAIN = dict(epochs=1, batch_size=128, optimizer="adam", lr=1e-2, weight_decay=0.0, seed=0)


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    spec = TeacherSpec("digits", "mnist1d_mlp", {"hidden": 16, "in_features": 64}, TRAIN)
    t = get_teacher(spec, root)
    return root, spec, t


def test_trained_once_and_reused(cached):
    root, spec, t = cached
    path = teacher_dir(spec, root) / "teacher.pt"
    assert path.is_file()
    assert t.spec["dataset"] == "digits" and t.spec["num_classes"] == 10
    assert 0.0 <= t.test_acc <= 1.0
    assert not t.model.training and all(not p.requires_grad for p in t.model.parameters())
    mtime = path.stat().st_mtime_ns
    again = get_teacher(spec, root)
    assert path.stat().st_mtime_ns == mtime, "a cached teacher must not be retrained"
    assert again.weights_sha256 == t.weights_sha256
    x = torch.rand(5, 1, 8, 8)
    assert torch.equal(again.model(x), t.model(x))


def test_spec_hash_changes_with_recipe():
    a = TeacherSpec("digits", "mnist1d_mlp", {"hidden": 16}, TRAIN)
    b = TeacherSpec("digits", "mnist1d_mlp", {"hidden": 16}, {**TRAIN, "seed": 1})
    c = TeacherSpec("digits", "mnist1d_mlp", {"hidden": 16}, {**TRAIN, "progress": True})  # runtime only
    assert a.key != b.key
    assert a.key == c.key


def test_content_hash_is_sensitive():
    sd = {"w": torch.ones(3), "b": torch.zeros(2)}
    h = state_dict_sha256(sd)
    sd2 = {"w": torch.ones(3), "b": torch.zeros(2)}
    sd2["w"][1] = 1.0000001
    assert state_dict_sha256(sd2) != h
    assert state_dict_sha256({"w": torch.ones(3).double(), "b": torch.zeros(2)}) != h
    # 0-dim tensors (BatchNorm's num_batches_tracked) hash too, and their value counts
    a = state_dict_sha256({"n": torch.tensor(3)})
    assert a != state_dict_sha256({"n": torch.tensor(4)}) and a != state_dict_sha256({"n": torch.tensor([3])})


def test_corrupted_weights_are_refused(cached, tmp_path):
    root, spec, _ = cached
    bad = tmp_path / "teacher.pt"
    record = load_checkpoint(teacher_dir(spec, root) / "teacher.pt")
    for k in ("format", "version"):
        record.pop(k)
    name = next(iter(record["state_dict"]))
    record["state_dict"][name] = record["state_dict"][name] + 1e-3  # silently changed weights
    save_checkpoint(bad, record)
    with pytest.raises(ValueError, match="corrupted.*content hash"):
        load_teacher(bad)


def test_truncated_file_is_refused(cached, tmp_path):
    root, spec, _ = cached
    bad = tmp_path / "teacher.pt"
    data = (teacher_dir(spec, root) / "teacher.pt").read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupted or unreadable"):
        load_teacher(bad)


def test_cached_corruption_is_not_silently_retrained(cached, tmp_path):
    root, spec, _ = cached
    copy = tmp_path / "runs"
    shutil.copytree(root, copy)
    path = teacher_dir(spec, copy) / "teacher.pt"
    path.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="corrupted"):
        get_teacher(spec, copy)


def test_mismatched_teacher_is_refused(cached, tmp_path):
    root, spec, _ = cached
    path = teacher_dir(spec, root) / "teacher.pt"
    with pytest.raises(ValueError, match="'digits' teacher, not for 'mnist1d'"):
        load_teacher(path, dataset="mnist1d")
    with pytest.raises(ValueError, match="holds a 'mnist1d_mlp', not a 'mnist1d_cnn'"):
        load_teacher(path, arch="mnist1d_cnn")
    with pytest.raises(ValueError, match="10 classes"):
        load_teacher(path, num_classes=100)
    other = TeacherSpec("digits", "mnist1d_mlp", {"hidden": 16, "in_features": 64}, {**TRAIN, "seed": 5})
    with pytest.raises(ValueError, match="another recipe.*train"):
        load_teacher(path, spec=other)


def test_not_a_teacher_and_missing(tmp_path):
    save_checkpoint(tmp_path / "x.pt", {"model": {}})
    with pytest.raises(ValueError, match="not a gkl teacher"):
        load_teacher(tmp_path / "x.pt")
    with pytest.raises(FileNotFoundError):
        load_teacher(tmp_path / "missing.pt")
