"""The distillation mechanisms at full power (gkl.experiments.distill.mechanisms): which arms it trains,
that each test changes one thing, the comparison read from two records, a tiny run end to end with its
slice check, and that the recorded file belongs to the package's claims and ablations."""

from __future__ import annotations

import numpy as np
import pytest

from gkl.experiments import distill
from gkl.experiments.distill import full_power as FP
from gkl.experiments.distill import mechanisms as M
from gkl.experiments.full_power import pack
from gkl.experiments.record import read_record
from tests.test_full_power import tiny_sweep


@pytest.fixture
def tuned(monkeypatch):
    monkeypatch.delenv("GKL_SMOKE", raising=False)
    return FP.profile_of(read_record("distill-power-cpu"))


def test_every_claim_and_ablation_arm_and_the_released_balance_once_and_none_of_the_tuned_methods(tuned):
    found = M.arms(tuned)
    keys = [a.key for a in found]
    assert len(keys) == len(set(keys))
    tuned_keys = {M.arm_key(c, tuned) for c in tuned.methods.values()}
    assert not tuned_keys & set(keys)
    wanted = set()
    for claim, pair in distill.claim_pairs(tuned).items():
        wanted |= {M.arm_key(c, distill.claim_profile(tuned, claim)) for c in pair.values()}
    for s in distill.ablation_sweeps(tuned):
        wanted |= {M.arm_key(c, tuned) for c in s.configs}
    released, ratio, _ = distill.released_balance(tuned)
    wanted.add(M.arm_key(released, tuned))
    assert set(keys) == wanted - tuned_keys
    arm = next(a for a in found if a.name == M.RELEASED_ARM)  # β moved to the released balance, nothing else
    g = tuned.methods["gkl"]
    assert arm.config.replace(beta=g.beta) == g and arm.config.beta == pytest.approx(ratio * g.alpha / g.temperature ** 2)
    assert arm.train == {k: v for k, v in tuned.train_for(g, 0).items() if k != "seed"}


def test_the_asymmetry_arm_trains_with_kds_settings_and_changes_only_the_loss(tuned):
    kd = tuned.methods["kd"]
    arm = next(a for a in M.arms(tuned) if a.name.startswith("asymmetry"))
    assert arm.config == distill.kd_with_student_wmse(kd)
    kd_train = {k: v for k, v in tuned.train_for(kd, 0).items() if k != "seed"}
    assert arm.train == kd_train  # KD's learning rate, not the tuned GKL's
    assert tuned.train_for(tuned.methods["gkl"], 0)["lr"] != kd_train["lr"]  # (the case this guards)
    for claim in ("prior", "gamma"):
        assert distill.claim_profile(tuned, claim) is tuned


def _records(effect: float, seeds: int = 8, points: int = 2000):
    """A fake full-power record (tuned KD/GKL) and a mechanisms record whose asymmetry arm is KD's
    accuracy plus ``effect``: the comparison must find it."""
    prof = FP.profile_of(read_record("distill-power-cpu"))
    rng = np.random.default_rng(1)
    kd = rng.random((seeds, points)) < 0.90
    arm = next(a for a in M.arms(prof) if a.name.startswith("asymmetry"))
    if effect:
        better = kd | (rng.random((seeds, points)) < effect / 0.10)  # ~effect of the points turned correct
    else:
        better = rng.random((seeds, points)) < 0.90  # another draw at the same accuracy
    test = {"points": points, "generator_seed": 1}
    power = {"profile": "cpu", "seeds": list(range(seeds)), "test": test, "sweep": {"epochs": prof.train_epochs},
             "configs": {m: c.to_dict() for m, c in prof.methods.items()},
             "train_overrides": {m: dict(v) for m, v in prof.train_overrides.items()},
             "rows": [{"method": m, "seed": s, "correct": pack(kd[s])} for m in prof.methods for s in range(seeds)]}
    mech = {"seeds": list(range(seeds)), "test": test,
            "arms": {arm.name: {"config": arm.config.to_dict(), "train": arm.train, "key": arm.key}},
            "rows": [{"method": arm.name, "seed": s, "correct": pack(better[s])} for s in range(seeds)]}
    return power, mech, float(better.mean() - kd.mean())


@pytest.mark.parametrize("effect", [0.0, 0.02])
def test_the_clean_test_reads_both_records_and_finds_a_known_effect(effect, monkeypatch):
    monkeypatch.delenv("GKL_SMOKE", raising=False)
    power, mech, true = _records(effect)
    prof = FP.profile_of(power)
    kd = prof.methods["kd"]
    p = distill.claim_profile(prof, "asymmetry")
    d = M.arm_difference(mech, power, (kd, p), (distill.kd_with_student_wmse(kd), p), ("KD", "KD + wMSE"))
    assert d.mean == pytest.approx(true) and d.points == 2000 and d.n == 8
    assert d.verdict.startswith("no difference" if effect == 0 else "ahead") and d.mde > 0
    with pytest.raises(ValueError, match="no recorded runs"):  # an arm neither record holds
        M.arm_difference(mech, power, (kd, p), (kd.replace(temperature=9.0), p), ("a", "b"))
    mech["test"] = {"points": 2000, "generator_seed": 2}
    with pytest.raises(ValueError, match="other test points"):
        M.arm_difference(mech, power, (kd, p), (distill.kd_with_student_wmse(kd), p), ("a", "b"))


@pytest.mark.slow
def test_a_tiny_mechanisms_run_records_and_its_slice_reproduces(tmp_path, monkeypatch):
    monkeypatch.delenv("GKL_SMOKE", raising=False)
    sweep = tiny_sweep(tmp_path, monkeypatch)
    power = FP.run_full_power("tiny", seeds=(0, 1), test_points=1000, workers=1, out=tmp_path / "power.json",
                              runs_dir=tmp_path, sweep=sweep)
    with pytest.raises(ValueError, match="not in the full-power record"):
        M.run_mechanisms(power, seeds=(0, 1, 2), workers=1, runs_dir=tmp_path)
    mech = M.run_mechanisms(power, seeds=(0, 1), workers=1, out=tmp_path / "mech.json", runs_dir=tmp_path)
    names = set(mech["arms"])
    assert len(mech["rows"]) == 2 * len(names) == 2 * len(M.arms(FP.profile_of(power)))
    tests = M.clean_tests(mech, power, resamples=200)
    assert set(tests) == {"asymmetry", "prior", "gamma"} and all(d.n == 2 and d.points == 1000 for d in tests.values())
    check = M.check_slice(mech, power, seeds=(1,), runs_dir=tmp_path / "fresh")  # retrained from nothing
    # retrained in other processes (a run may differ in the last bits): within the tolerance
    assert check["ok"] and len(check["runs"]) == len(names), {k: v for k, v in check["runs"].items() if v}


def test_the_recorded_mechanisms_run_belongs_to_the_package():
    """Every recorded arm is an arm of today's claims and ablations, on the recorded full-power run's
    test points, for the record's first seeds; a change of the claims or ablations without re-recording
    fails here."""
    mech, power = read_record("distill-mechanisms-cpu"), read_record("distill-power-cpu")
    prof = FP.profile_of(power)
    assert {a["key"] for a in mech["arms"].values()} == {a.key for a in M.arms(prof)}
    assert mech["test"] == power["test"] and mech["seeds"] == list(M.SEEDS)
    assert set(mech["seeds"]) <= set(power["seeds"]) and mech["power"]["commit"] == power["commit"]
    assert {(r["method"], r["seed"]) for r in mech["rows"]} == {(n, s) for n in mech["arms"] for s in M.SEEDS}
    assert mech["command"].startswith("python -m gkl power mechanisms --profile cpu")
    tests = M.clean_tests(mech, power, resamples=200)
    assert all(d.n == len(M.SEEDS) and d.points == power["test"]["points"] for d in tests.values())
    moved = M.ablation_differences(mech, power, resamples=200)
    assert moved and all(r["diff"].n == len(M.SEEDS) for r in moved)
    rel = M.released_difference(mech, power, resamples=200)
    assert rel.n == len(M.SEEDS) and rel.points == power["test"]["points"] and rel.b == "GKL at the released balance"


def test_ablation_summary_states_each_verdict_the_largest_move_and_the_power():
    from gkl.experiments.power import hierarchical_bootstrap

    rng = np.random.default_rng(3)
    base = rng.random((10, 3000)) < 0.9
    worse = base & (rng.random((10, 3000)) > 0.2)  # about 18 points lower
    same = rng.random((10, 3000)) < 0.9
    rows = [{"setting": "β", "value": "0", "diff": hierarchical_bootstrap(base, worse, "tuned GKL", "β = 0", resamples=300)},
            {"setting": "γ", "value": "1", "diff": hierarchical_bootstrap(base, same, "tuned GKL", "γ = 1", resamples=300)}]
    text = M.ablation_summary(rows)
    assert "made it **worse** with β = 0" in text and "**better**" not in text and "no difference was detected for γ = 1" in text
    assert "largest effect: β = 0" in text and rows[0]["diff"].interval_text(100, 2) in text
    assert f"{100 * min(r['diff'].mde for r in rows):.2f}" in text
    with pytest.raises(ValueError, match="at least one row"):
        M.ablation_summary([])


def test_page_plan_counts_arms_with_their_own_training_settings(tuned, tmp_path):
    found = M.arms(tuned)
    pairs = [(a.config, a.profile) for a in found]
    text = distill.page_plan(tuned, pairs, read_record("distill-cpu"), seeds=(0, 1), runs_dir=tmp_path)
    assert f"needs {2 * len(found)} student run(s) ({len(found)} configuration(s) × 2 seed(s)" in text
    # the asymmetry arm under GKL's settings would be another run: counted apart from the same config under KD's
    asym = next(a for a in found if a.name.startswith("asymmetry"))
    both = distill.page_plan(tuned, [(asym.config, asym.profile), asym.config], None, seeds=(0,), runs_dir=tmp_path)
    assert "needs 2 student run(s) (2 configuration(s)" in both
