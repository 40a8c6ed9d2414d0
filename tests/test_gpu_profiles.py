"""The chapters' GPU profiles run out of the box: without a recorded GPU sweep they are the released
configurations (labelled as such, with a stated strongest baseline); a recorded sweep takes over as
for ``cpu``; they checkpoint every epoch and draw progress bars; and in smoke mode on tiny CIFAR-shaped
files (``GKL_DATA_DIR``) they train and evaluate on a CPU — the GPU code path, in CI."""

from __future__ import annotations

import json
import time

import pytest
import torch

from gkl.data import write_fake_cifar
from gkl.experiments import adversarial as at
from gkl.experiments import distill, smoke
from gkl.experiments import record as record_mod
from gkl.experiments.adversarial.profiles import GPU_EPOCHS
from gkl.experiments.distill.profiles import GPU_STUDENT_EPOCHS, GPU_TEACHER_EPOCHS, chapter_plan
from gkl.experiments.profile import RELEASED, recorded_sweep
from gkl.experiments.record import read_record


@pytest.fixture
def no_gpu_record(tmp_path, monkeypatch):
    """An empty folder of recorded sweeps (the package ships none for ``gpu``; a contributor may have one)."""
    folder = tmp_path / "recorded"
    folder.mkdir()
    for name in ("adversarial-cpu", "distill-cpu"):
        (folder / f"{name}.json").write_text(record_mod.recorded_path(name).read_text())
    monkeypatch.setattr(record_mod, "RECORDED", folder)
    monkeypatch.delenv(smoke.ENV, raising=False)
    return folder


def test_without_a_recorded_sweep_the_gpu_profiles_are_the_released_configuration(no_gpu_record):
    assert recorded_sweep("adversarial", "gpu") is None and recorded_sweep("distill", "gpu") is None
    p = at.chapter_profile("gpu", seeds=None)
    base = at.PROFILES["gpu"]
    assert p.source == RELEASED and p.methods == base.methods and p.epochs == GPU_EPOCHS == p.eval_every
    assert p.seeds == base.seeds == (0,) and p.curve_epsilons == base.curve_epsilons  # not digits' radii
    assert (p.autoattack_subset, p.autoattack_rotate) == (base.autoattack_subset, True)
    assert at.strongest_baseline(None)[0] == at.RELEASED_BASELINE == "trades"
    d = distill.tuned_profile("gpu", seeds=None)
    assert d.source == RELEASED and d.methods == distill.GPU_PROFILE.methods and d.seeds == (0,)
    assert (d.train["epochs"], d.teacher_train["epochs"]) == (GPU_STUDENT_EPOCHS, GPU_TEACHER_EPOCHS)
    assert distill.profiles.strongest_baseline(None)[0] == "kd"
    # Colab-grade: a checkpoint every epoch (resume after a disconnect), progress bars on
    assert p.train_config(0).checkpoint_every == 1 and p.train_config(0).progress
    assert d.train.get("checkpoint_every", 1) == 1 and d.progress
    with pytest.raises(ValueError, match="unknown adversarial profile"):
        at.tuned_profile("tpu")
    with pytest.raises(FileNotFoundError):  # a path that does not exist is still an error
        at.tuned_profile(str(no_gpu_record / "adversarial-gpu.json"))


def test_a_recorded_gpu_sweep_takes_over(no_gpu_record):
    for task in ("adversarial", "distill"):
        rec = read_record(f"{task}-cpu")
        rec["profile"] = "gpu"
        (no_gpu_record / f"{task}-gpu.json").write_text(json.dumps(rec))
    rec = recorded_sweep("adversarial", "gpu")
    p = at.chapter_profile("gpu", seeds=None)
    assert p.name == "gpu-tuned" and p.source.startswith("tuned by the recorded sweep adversarial-gpu")
    assert p.epochs == rec["epoch_budget"]["chosen"] and p.dataset == "cifar10"
    assert p.methods["GKL"] == ("gkl", dict(rec["chosen"]["gkl"]["settings"]))
    assert at.strongest_baseline(rec)[0] == rec["strongest_baseline"]
    d = distill.tuned_profile("gpu", seeds=None)
    assert d.source.startswith("tuned by the recorded sweep distill-gpu") and d.dataset == "cifar100"
    assert d.train["checkpoint_every"] == 1  # every epoch on a GPU profile (10 on cpu, as before)
    assert distill.tuned_profile("cpu").train["checkpoint_every"] == 10


def test_the_cpu_profiles_say_where_their_settings_come_from(monkeypatch):
    monkeypatch.delenv(smoke.ENV, raising=False)
    p = at.chapter_profile("cpu")
    assert p.source == "tuned by the recorded sweep adversarial-cpu.json" and not p.progress
    assert distill.tuned_profile("cpu").source == "tuned by the recorded sweep distill-cpu.json"
    # the keys ignore source and progress: the runs cached before these fields existed are reused
    assert p.key("GKL", 0) == p.replace(source="x", progress=True).key("GKL", 0)


@pytest.mark.slow
def test_gpu_profiles_train_and_evaluate_in_smoke_mode_on_fake_cifar(no_gpu_record, tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_fake_cifar(data, "cifar10", n_train=32, n_test=16)
    write_fake_cifar(data, "cifar100", n_train=smoke.CIFAR_TRAIN, n_test=16)
    monkeypatch.setenv("GKL_DATA_DIR", str(data))
    runs = tmp_path / "runs"
    t0 = time.perf_counter()

    assert "estimate" in at.chapter_plan(at.chapter_profile("gpu", seeds=None), None)  # the sizing rule's
    assert "estimate" in chapter_plan(distill.tuned_profile("gpu", seeds=None), None)  # time, said to be one
    monkeypatch.setenv(smoke.ENV, "1")
    p = at.chapter_profile("gpu", seeds=None)
    assert "no estimate" in at.chapter_plan(p, None)
    assert (p.name, p.epochs, p.seeds, p.validation, p.train_subset) == ("gpu-smoke", 1, (0,), None, smoke.CIFAR_TRAIN)
    assert p.amp == ("fp16" if torch.cuda.is_available() else None) and p.model == "preact_resnet18" and not p.normalize
    # one method, 8 test points, no extra radii: the code path, not the numbers (~20 s on one core)
    tiny = p.replace(methods={"GKL": p.methods["GKL"]}, test_subset=8, eval_subset=8, autoattack_subset=2,
                     curve_epsilons=(0.0, p.epsilon))
    exp = at.run_experiment(tiny, runs_dir=runs, device="cpu", workers=1)
    for r in exp.records:
        assert r["n_test"] == 8 and len(r["history"]) == 1 and 0.0 <= r["autoattack_acc"] <= 1.0
        assert (exp.run_dir(r["method"], 0) / "checkpoint.pt").is_file()

    d = distill.tuned_profile("gpu", seeds=None)
    assert d.name == "cifar100-gpu-smoke" and d.train["epochs"] == d.teacher_train["epochs"] == 1
    assert d.train_subset == d.teacher_subset == smoke.CIFAR_TRAIN
    assert d.train["amp"] == ("fp16" if torch.cuda.is_available() else None)  # fp16 on a CPU is emulated: off
    small = d.replace(train_subset=32, teacher_subset=32, methods={k: d.methods[k] for k in ("kd", "gkl")})
    results = distill.run_grid(small, runs_dir=runs, device="cpu", workers=1)
    for runs_ in results.values():
        assert len(runs_) == 1 and len(runs_[0].history) == 1 and 0.0 <= runs_[0].test_acc <= 1.0
    print(f"GPU profiles, smoke on fake CIFAR: {time.perf_counter() - t0:.1f} s")
