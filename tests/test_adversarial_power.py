"""The full-power adversarial headline (gkl.experiments.adversarial.full_power): the record's
two-level comparison, the slice check's rules, a tiny run end to end, and the recorded run's ties to
the recorded sweep."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from gkl.experiments import protocol
from gkl.experiments.adversarial import PROFILES
from gkl.experiments.adversarial import full_power as FP
from gkl.experiments.adversarial.selection import label
from gkl.experiments.full_power import pack, unpack
from gkl.experiments.record import recorded_path


def _record(n_seeds=6, points=360, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.random((n_seeds, points)) < 0.70
    b = a.copy()
    flip = rng.random((n_seeds, points)) < 0.08  # GKL differs on ~8 % of points, a little better on average
    b[flip] = rng.random(flip.sum()) < 0.6
    rows = [{"method": m, "seed": s, "key": f"{m}{s}", "clean_acc": 0.9, "pgd_acc": 0.8, "slice_autoattack_acc": 0.75,
             "autoattack_acc": float(x[s].mean()), "correct": pack(x[s]), "clean_correct": pack(np.ones(points, bool))}
            for m, x in (("trades", a), ("gkl", b)) for s in range(n_seeds)]
    rec = {"seeds": list(range(n_seeds)), "test": {"points": points}, "sweep": {"strongest_baseline": "trades"},
           "methods": {"trades": {"label": "TRADES"}, "gkl": {"label": "GKL"}}, "rows": rows}
    return rec, a, b


def test_the_two_level_comparison_reads_the_per_point_results():
    rec, a, b = _record()
    d = FP.full_power_difference(rec, "trades", "gkl")
    assert (d.a, d.b, d.n, d.points) == ("TRADES", "GKL", 6, 360)
    assert d.mean == pytest.approx(b.mean() - a.mean()) and d.low < d.mean < d.high and d.mde > 0
    clean = FP.full_power_difference(rec, "trades", "gkl", metric="clean")
    assert clean.mean == 0.0 and clean.low is None  # every point correct for both: no spread, no interval
    with pytest.raises(ValueError, match="'autoattack' or 'clean'"):
        FP.full_power_difference(rec, "trades", "gkl", metric="pgd")
    f = FP.finding(rec)
    words = {"ahead": "**ahead** of TRADES", "behind": "**behind** TRADES"}.get(f["diff"].verdict, "**no difference**")
    assert words in f["text"] and f["diff"].mde_text(100, 2) in f["text"] and "6 seeds" in f["text"]
    assert "AutoAttack points" in f["text"] and "On clean accuracy" in f["text"]
    table = FP.format_accuracy(rec, f)
    assert "| GKL |" in table and "| TRADES |" in table and "all 360 test points" in table


def _chapter_records(rec):
    """What a build's chapter evaluation gives for the record's runs: the same numbers, by label."""
    lab = {m: v["label"] for m, v in rec["methods"].items()}
    return [{"method": lab[r["method"]], "seed": r["seed"], "key": r["key"], "clean_acc": r["clean_acc"],
             "pgd_acc": r["pgd_acc"], "autoattack_acc": r["slice_autoattack_acc"], "autoattack_n": 36, "n_test": 360}
            for r in rec["rows"] if r["seed"] < 5] + [{"method": "PGD-AT", "seed": 0, "key": "x"}]  # not in the record


def test_the_slice_check_passes_the_same_runs_and_catches_moved_or_other_runs():
    rec, _, _ = _record()
    now = _chapter_records(rec)
    ok = FP.check_slice(rec, now)
    assert ok["ok"] and ok["compared"] == 10 and ok["keys_match"] and ok["max_clean_change"] == 0.0
    assert ok["autoattack_tolerance"] == pytest.approx(1 / 36)
    moved = copy.deepcopy(now)
    moved[3]["clean_acc"] += 0.02  # 2 points: beyond the 1-point tolerance
    assert not FP.check_slice(rec, moved)["ok"]
    one_point = copy.deepcopy(now)
    one_point[0]["autoattack_acc"] += 1 / 36  # one point of the 36-point slice: within
    assert FP.check_slice(rec, one_point)["ok"]
    one_point[0]["autoattack_acc"] += 1 / 36  # two points: not
    assert not FP.check_slice(rec, one_point)["ok"]
    other = copy.deepcopy(now)
    other[0]["key"] = "retuned"  # another configuration (a re-recorded sweep): not the record's runs
    assert not FP.check_slice(rec, other)["ok"]
    with pytest.raises(ValueError, match="none of the build's runs"):
        FP.check_slice(rec, [{"method": "PGD-AT", "seed": 0}])


@pytest.mark.slow
def test_a_tiny_full_power_run_records_and_the_chapter_runs_match_it(tmp_path, monkeypatch):
    tiny = PROFILES["cpu"].replace(name="tiny", test_subset=48, curve_epsilons=())
    monkeypatch.setitem(PROFILES, "tiny", tiny)
    sweep = copy.deepcopy(protocol.load_record("adversarial", "cpu"))
    sweep["profile"] = "tiny"
    sweep["epoch_budget"]["chosen"] = 1
    rec = FP.run_full_power("tiny", seeds=(0, 1, 2), workers=1, out=tmp_path / "power.json", runs_dir=tmp_path,
                            sweep=sweep)
    assert {r["method"] for r in rec["rows"]} == {"gkl", sweep["strongest_baseline"]} and len(rec["rows"]) == 6
    assert rec["test"]["points"] == 48 and rec["sweep"]["epochs"] == 1
    for r in rec["rows"]:
        robust, clean = unpack(r["correct"], 48), unpack(r["clean_correct"], 48)
        assert r["autoattack_acc"] == pytest.approx(robust.mean()) and r["clean_acc"] == pytest.approx(clean.mean())
        assert not (robust & ~clean).any()  # robust implies correct clean
    # the chapter's runs of the same seeds are the record's runs (same keys), re-evaluated on a fresh cache
    from gkl.experiments.adversarial.runs import run_experiment

    chapter = FP.power_profile(sweep, seeds=(0, 1))
    again = run_experiment(chapter, runs_dir=tmp_path / "fresh", workers=1)
    check = FP.check_slice(rec, again.records)
    assert check["ok"] and check["compared"] == 4 and check["max_clean_change"] == 0.0
    assert check["max_autoattack_change"] == 0.0  # retrained on this machine: bit-identical, the same attack
    assert FP.finding(rec)["diff"].n == 3


def test_the_recorded_full_power_run_belongs_to_the_recorded_sweep():
    """Re-record the power run after any re-recorded AT sweep: its runs must be the chapter's."""
    path = recorded_path("adversarial-power-cpu")
    if not path.is_file():
        pytest.skip("no recorded adversarial full-power run yet")
    from gkl.experiments.record import read_record

    rec, sweep = read_record(path), protocol.load_record("adversarial", "cpu")
    assert rec["sweep"]["strongest_baseline"] == sweep["strongest_baseline"]
    assert rec["sweep"]["epochs"] == int(sweep["epoch_budget"]["chosen"])
    prof = FP.power_profile(sweep, seeds=rec["seeds"])
    for r in rec["rows"]:
        assert r["key"] == prof.key(label(r["method"]), int(r["seed"])), "re-record: python -m gkl power adversarial"
    assert len(rec["seeds"]) >= 20 and rec["test"]["points"] == 360
    d = FP.finding(rec)["diff"]
    assert d.mde is not None and (d.n, d.points) == (len(rec["seeds"]), 360)
    for r in rec["rows"]:  # the stored accuracies are the stored per-point results
        assert r["autoattack_acc"] == pytest.approx(unpack(r["correct"], 360).mean())


def test_error_parts_say_whether_seeds_or_test_points_limit_the_comparison():
    from gkl.experiments.full_power import error_parts

    rng = np.random.default_rng(3)
    base = rng.random((30, 200)) < 0.7
    point_effect = rng.random(200) < 0.15  # b right and a wrong on the same points for every seed
    rec = {"seeds": list(range(30)), "test": {"points": 200},
           "rows": [{"method": m, "seed": s, "correct": pack(x[s])}
                    for m, x in (("a", base & ~point_effect), ("b", base | point_effect)) for s in range(30)]}
    parts = error_parts(rec, "a", "b")
    assert parts["seeds_se"] == pytest.approx(0.0, abs=1e-12) and parts["points_se"] > 0.01
