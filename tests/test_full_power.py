"""The full-power distillation headline (gkl.experiments.distill.full_power): per-point results packed
in the record, the two-level comparison read from them, and a tiny run end to end with its slice check."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from gkl.experiments import protocol
from gkl.experiments.distill import full_power as FP
from gkl.experiments.distill import sweep as DS
from gkl.experiments.distill.profiles import PROFILES
from gkl.experiments.full_power import correct_matrix, pack, unpack


def test_per_point_results_round_trip_and_feed_the_two_level_comparison():
    rng = np.random.default_rng(0)
    a = rng.random((6, 1003)) < 0.90
    b = rng.random((6, 1003)) < 0.93  # 3 points better on average
    rec = {"seeds": list(range(6)), "test": {"points": 1003},
           "rows": [{"method": m, "seed": s, "correct": pack(x[s])} for m, x in (("kd", a), ("gkl", b))
                    for s in range(6)]}
    assert np.array_equal(correct_matrix(rec, "kd"), a.astype(float))
    d = FP.full_power_difference(rec, "kd", "gkl", {"kd": "KD", "gkl": "GKL"})
    assert (d.a, d.b, d.n, d.points) == ("KD", "GKL", 6, 1003)
    assert d.mean == pytest.approx(b.mean() - a.mean()) and d.low < d.mean < d.high and d.mde > 0
    with pytest.raises(ValueError, match="not in the full-power record"):
        correct_matrix(rec, "dkd")
    rec.update(sweep={"strongest_baseline": "kd"}, configs={"kd": {}, "gkl": {}})
    for r in rec["rows"]:
        r["test_acc"] = float(unpack(r["correct"], 1003).mean())
    f = FP.finding(rec, {"kd": "KD", "gkl": "GKL"})
    assert f["baseline"] == "kd" and f["diff"].mean == pytest.approx(d.mean)
    words = {"ahead": "**ahead** of KD", "behind": "**behind** KD"}.get(f["diff"].verdict, "**no difference**")
    assert words in f["text"] and f["diff"].mde_text(100, 2) in f["text"] and "6 seeds" in f["text"]


@pytest.fixture
def one_thread():
    """torch on one CPU thread for the whole test, whatever earlier tests left set: the teacher is
    trained in-process, and a teacher trained under another thread count differs in the last bits."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def tiny_sweep(tmp_path, monkeypatch):
    """A one-epoch "tiny" distillation profile (200 training samples) and its one-configuration sweep."""
    tiny = PROFILES["cpu"].replace(name="tiny", train_subset=200, train={**PROFILES["cpu"].train, "epochs": 1},
                                   teacher_train={**PROFILES["cpu"].teacher_train, "epochs": 1})
    monkeypatch.setitem(PROFILES, "tiny", tiny)
    spec = dataclasses.replace(DS.SPEC, grids={m: g[:1] for m, g in DS.GRIDS.items()}, refine={}, rerank=0,
                               budgets=(1,))
    sweep = protocol.run_sweep(spec, "tiny", seeds=(0,), workers=1, out=tmp_path / "sweep.json", runs_dir=tmp_path)
    return sweep


@pytest.mark.slow
def test_a_tiny_full_power_run_records_and_its_slice_reproduces(tmp_path, monkeypatch, one_thread):
    sweep = tiny_sweep(tmp_path, monkeypatch)
    rec = FP.run_full_power("tiny", seeds=(0, 1, 2), test_points=100, workers=1, out=tmp_path / "power.json",
                            runs_dir=tmp_path, sweep=sweep)
    assert len(rec["rows"]) == 3 * len(sweep["chosen"]) and rec["test"]["points"] == 100
    assert rec["sweep"]["strongest_baseline"] == sweep["strongest_baseline"]
    m = correct_matrix(rec, "gkl")
    assert m.shape == (3, 100) and [r["test_acc"] for r in rec["rows"] if r["method"] == "gkl"] == \
        pytest.approx(m.mean(axis=1).tolist())
    assert FP.profile_of(rec).methods["gkl"] == DS.tuned_profile(sweep).methods["gkl"]
    check = FP.check_slice(rec, seeds=(1,), methods=["kd", "gkl"], runs_dir=tmp_path / "fresh")  # retrained
    assert check["ok"] and check["same_numerics"] and len(check["runs"]) == 2
    assert check["max_changed"] == 0 and check["max_acc_change"] == 0.0  # retrained on this machine: bit-identical


def test_further_mnist1d_test_points_are_balanced_unseen_and_cached(tmp_path, monkeypatch):
    from gkl.data import get_dataset, mnist1d_test_set

    monkeypatch.setenv("GKL_DATA_DIR", str(tmp_path))
    mnist1d_test_set.cache_clear()
    extra = mnist1d_test_set(200, 7)
    assert extra.inputs.shape == (200, 1, 40) and extra.targets.bincount().tolist() == [20] * 10
    assert (tmp_path / "mnist1d-test-200-seed7.npz").is_file()
    mnist1d_test_set.cache_clear()
    again = mnist1d_test_set(200, 7)  # read back from the file
    assert np.array_equal(again.inputs.numpy(), extra.inputs.numpy())
    train, test, _ = get_dataset("mnist1d")
    seen = {tuple(np.round(x.flatten().numpy(), 4)) for s in (train, test) for x in s.inputs}
    assert not any(tuple(np.round(x.flatten().numpy(), 4)) in seen for x in extra.inputs)
    for bad, match in ((205, "multiple of 10"), (0, "multiple of 10")):
        with pytest.raises(ValueError, match=match):
            mnist1d_test_set(bad, 7)
    with pytest.raises(ValueError, match="standard split"):
        mnist1d_test_set(100, 42)
    mnist1d_test_set.cache_clear()


def test_the_recorded_full_power_run_belongs_to_the_recorded_sweep():
    """The full-power record was made with the configurations the chapters train now: a re-recorded
    sweep without a re-recorded full-power run fails here."""
    from gkl.experiments.record import read_record

    power, sweep = read_record("distill-power-cpu"), read_record("distill-cpu")
    tuned = DS.tuned_profile(sweep)
    assert power["configs"] == {m: c.to_dict() for m, c in tuned.methods.items()}
    assert power["train_overrides"] == {m: dict(v) for m, v in tuned.train_overrides.items()}
    assert power["sweep"]["epochs"] == sweep["epoch_budget"]["chosen"] == tuned.train["epochs"]
    assert power["sweep"]["strongest_baseline"] == sweep["strongest_baseline"]
    assert power["seeds"] == list(FP.SEEDS) and power["test"]["points"] == FP.TEST_POINTS
    assert {(r["method"], r["seed"]) for r in power["rows"]} == {(m, s) for m in tuned.methods for s in FP.SEEDS}
    assert power["command"].startswith("python -m gkl power distill --profile cpu")
