"""The verdict rules of the claims page (gkl.experiments.claims), on numbers whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from gkl.experiments import claims

BASE = {0: 0.90, 1: 0.91, 2: 0.92, 3: 0.905, 4: 0.915}


def shifted(delta, noise=(0.001, -0.002, 0.0015, -0.001, 0.0005)):
    return {s: v + delta + e for (s, v), e in zip(BASE.items(), noise)}


@pytest.mark.parametrize("delta, higher_is_better, verdict", [
    (0.02, True, "supported"), (-0.02, True, "contradicted"),
    (-0.02, False, "supported"), (0.02, False, "contradicted"),
    (0.0, True, "not detected at n = 5"),
])
def test_paired_check_verdicts(delta, higher_is_better, verdict):
    c = claims.paired_check("claim", "experiment", "A", BASE, "B", shifted(delta), higher_is_better)
    assert c.verdict == verdict
    assert c.measured.startswith("B − A") and "95 % CI" in c.measured and "MDE" in c.measured


def test_one_seed_gives_no_verdict():
    c = claims.paired_check("claim", "experiment", "A", {0: 0.9}, "B", {0: 0.95})
    assert c.verdict == "not testable with 1 seed (fewer than 3)" and "from 1 seed" in c.measured
    c = claims.paired_check("claim", "experiment", "A", {0: 0.9, 1: 0.8}, "B", {0: 0.95, 1: 0.9})
    assert c.verdict == "not testable with 2 seeds (fewer than 3)" and "CI" not in c.measured


def test_measured_carries_the_mde_and_no_spread_is_no_interval():
    c = claims.paired_check("claim", "experiment", "A", BASE, "B", shifted(0.0))
    assert "MDE " in c.measured and c.measured.endswith("(higher is better)")
    c = claims.paired_check("claim", "experiment", "A", BASE, "B", {s: v - 0.05 for s, v in BASE.items()})
    assert "no interval (no spread)" in c.measured and "p = 0.062" in c.measured and c.verdict == "not detected at n = 5"


def test_overhead_rule():
    rows = [{"impl": "gkl_prior", "classes": 100, "case": "kd", "times_ms": [1.2, 1.3, 1.25], "median_ms": 1.25},
            {"impl": "torch_kl_div", "classes": 100, "case": "kd", "times_ms": [1.0, 1.0, 1.0], "median_ms": 1.0}]
    assert claims.overhead_check(rows, 100).verdict == "supported"
    rows[0]["times_ms"] = [2.0, 2.1, 2.2]
    assert claims.overhead_check(rows, 100).verdict == "contradicted"


def test_claims_table_lists_every_check():
    checks = [claims.ClaimCheck("c1", "e1", "m1", "supported"), claims.ClaimCheck("c2", "e2", "m2", "contradicted")]
    table = claims.claims_table(checks)
    assert table.count("\n") == 3 and "**contradicted**" in table


@pytest.mark.slow
def test_convergence_check_runs_on_the_toy():
    c = claims.convergence_check(seeds=(0, 1), steps=30)
    assert c.verdict == "not testable with 2 seeds (fewer than 3)"
    assert "top-1" in c.measured


def test_step_overhead_is_the_median_ratio_over_seeds_against_the_stated_threshold():
    from gkl.experiments.claims import STEP_OVERHEAD, step_overhead_check

    base = {s: 1.0 + s for s in range(12)}
    ok = step_overhead_check("toy", "KD", base, {s: 1.1 * v if s else 40.0 for s, v in base.items()})  # one outlier
    assert ok.verdict == "supported" and ok.measured.startswith("1.10×") and "95 % CI 1.10–1.10×" in ok.measured
    slow = step_overhead_check("toy", "KD", base, {s: v * (STEP_OVERHEAD + 0.05) for s, v in base.items()})
    assert slow.verdict == "contradicted" and f"{STEP_OVERHEAD:g}×" in slow.experiment
    mixed = step_overhead_check("toy", "KD", base, {s: v * (0.9 if s % 2 else 1.5) for s, v in base.items()})
    assert mixed.verdict == "not decided at n = 12"
    few = step_overhead_check("toy", "KD", {0: 1.0, 1: 2.0, 2: 4.0}, {0: 1.0, 1: 2.0, 2: 4.0})
    assert few.verdict.startswith("no verdict at n = 3") and "no interval" in few.measured
    with pytest.raises(ValueError, match="same seeds"):
        step_overhead_check("toy", "KD", {0: 1.0}, {1: 1.0})


def test_the_median_interval_is_the_distribution_free_one():
    from gkl.experiments.claims import median_interval

    assert median_interval([1.0, 2.0, 3.0, 4.0, 5.0]) is None  # the range covers 1 - 2/32 < 95 %
    assert median_interval(range(1, 7)) == (1, 6)  # n = 6: the range, coverage 1 - 2/64
    lo, hi = median_interval(range(1, 31))  # n = 30: x(10), x(21) (coverage 95.7 %)
    assert (lo, hi) == (10, 21)


def test_a_full_power_check_reads_the_recorded_interval():
    from gkl.experiments.claims import full_power_check
    from gkl.experiments.power import hierarchical_bootstrap

    rng = np.random.default_rng(1)
    a = (rng.random((10, 500)) < 0.7).astype(float)
    better, worse = np.maximum(a, rng.random((10, 500)) < 0.1), np.minimum(a, rng.random((10, 500)) > 0.1)
    up = full_power_check("B beats A", "toy", hierarchical_bootstrap(a, better, "A", "B", resamples=500, seed=0))
    down = full_power_check("B beats A", "toy", hierarchical_bootstrap(a, worse, "A", "B", resamples=500, seed=0))
    assert (up.verdict, down.verdict) == ("supported", "contradicted")
    assert "MDE" in up.measured and "B − A" in up.measured
