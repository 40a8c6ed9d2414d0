"""The verdict rule (gkl.experiments.stats): the minimum detectable effect against simulated power,
no verdict from too few seeds, the exact test for differences with no spread, digits that show 0."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import nct, t

from gkl.experiments.stats import (
    PairedDifference,
    format_signed,
    mde_paired_t,
    paired_difference,
    sign_flip_p,
)


def _exact_power(n: int) -> float:
    """Power of the two-sided 5 % paired t-test at effect = MDE (noncentral t with ncp t_.975 + t_.80)."""
    nu = n - 1
    lam = t.ppf(0.975, nu) + t.ppf(0.8, nu)
    return float(1 - nct.cdf(t.ppf(0.975, nu), nu, lam) + nct.cdf(-t.ppf(0.975, nu), nu, lam))


def test_mde_is_the_t_formula():
    for n in (3, 5, 30):
        assert mde_paired_t(2.0, n) == pytest.approx((t.ppf(0.975, n - 1) + t.ppf(0.8, n - 1)) * 2.0 / math.sqrt(n))
    d = paired_difference({0: 0.0, 1: 0.0, 2: 0.0, 3: 0.0}, {0: 0.01, 1: 0.03, 2: 0.02, 3: 0.05})
    assert d.mde == pytest.approx(mde_paired_t(np.std([0.01, 0.03, 0.02, 0.05], ddof=1), 4))
    assert _exact_power(10) == pytest.approx(0.80, abs=0.005) and _exact_power(3) == pytest.approx(0.766, abs=0.005)


def test_true_effect_of_one_mde_is_detected_80_percent_of_the_time():
    """Paired normal data (sd 1) with true mean difference = the MDE at that sd: the verdict rule itself
    (paired_difference) says "ahead" in about 80 % of 2,000 simulated experiments of 10 seeds
    (Monte-Carlo sd 0.009; exact noncentral-t power 0.799)."""
    rng = np.random.default_rng(0)
    n, sims = 10, 2000
    effect = mde_paired_t(1.0, n)
    diffs = rng.normal(effect, 1.0, (sims, n))
    ahead = sum(paired_difference(dict.fromkeys(range(n), 0.0), dict(enumerate(d))).verdict == "ahead" for d in diffs)
    mc = math.sqrt(0.8 * 0.2 / sims)
    assert abs(ahead / sims - _exact_power(n)) < 3 * mc and abs(ahead / sims - 0.80) < 3 * mc


@pytest.mark.parametrize("n", [5, 30])
def test_simulated_power_at_the_mde_matches_the_noncentral_t(n):
    rng = np.random.default_rng(n)
    sims = 20000
    d = rng.normal(mde_paired_t(1.0, n), 1.0, (sims, n))
    tstat = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(n))
    power = np.mean(np.abs(tstat) > t.ppf(0.975, n - 1))
    assert power == pytest.approx(_exact_power(n), abs=3 * math.sqrt(0.8 * 0.2 / sims))


def test_fewer_than_three_seeds_give_no_interval_and_no_verdict():
    for n in (1, 2):
        d = paired_difference({s: 0.9 for s in range(n)}, {s: 0.95 + s / 100 for s in range(n)}, "A", "B")
        assert d.low is None and d.mde is None and not d.decided
        assert d.verdict == f"too few seeds (n = {n})"
        assert "too few seeds" in d.sentence() and "no verdict" in d.sentence()
        assert d.interval_text() == "no interval (too few seeds)" and d.mde_text() == "—"


def test_no_spread_uses_the_exact_sign_flip_test():
    # "-5.0 [-5.0, -5.0] behind" from 3 seeds: no interval, p = 2/2^3 = 0.25, no verdict of a difference
    a = {s: 0.45 + s / 100 for s in range(3)}
    d = paired_difference(a, {s: v - 0.05 for s, v in a.items()}, "chosen", "gamma = 0.2")
    assert d.low is None and d.p_value == pytest.approx(0.25) and d.verdict == "no difference detected at n = 3"
    assert "no interval (no spread)" in d.sentence() and "p = 0.25" in d.sentence() and "[" not in d.sentence()
    # six equal differences: p = 2/64 < 0.05 decides
    a6 = {s: 0.45 + s / 100 for s in range(6)}
    d6 = paired_difference(a6, {s: v - 0.05 for s, v in a6.items()})
    assert d6.p_value == pytest.approx(2 / 2 ** 6) and d6.verdict == "behind" and d6.decided
    assert paired_difference(a6, {s: v + 0.05 for s, v in a6.items()}).verdict == "ahead"
    # no difference at all: p = 1
    z = paired_difference(a6, dict(a6))
    assert z.p_value == 1.0 and z.verdict == "no difference detected at n = 6"


def test_sign_flip_p_exact_and_sampled():
    assert sign_flip_p([1.0, 2.0, 3.0]) == pytest.approx(2 / 8)
    # [1, -1, 2, 3]: |sum| = 5 is reached by sign patterns with |±1 ± 1 ± 2 ± 3| >= 5
    pats = [abs(a + b + c + e) for a in (1, -1) for b in (-1, 1) for c in (2, -2) for e in (3, -3)]
    assert sign_flip_p([1.0, -1.0, 2.0, 3.0]) == pytest.approx(sum(p >= 5 for p in pats) / 16)
    assert sign_flip_p([0.3] * 20) < 1e-3  # sampled above exact_limit, seeded
    assert sign_flip_p([0.3] * 20) == sign_flip_p([0.3] * 20)


def test_intervals_print_enough_digits_to_show_the_side_of_zero():
    assert format_signed([-1.31, -0.02]) == ["-1.31", "-0.02"]
    assert format_signed([-1.3, 0.004]) == ["-1.300", "+0.004"]
    assert format_signed([0.0, 1.0]) == ["+0.0", "+1.0"]  # an exact 0 is 0
    d = PairedDifference("A", "B", 5, -0.0066, -0.0131, -0.0002, mde=0.009)
    assert d.interval_text() == "[-1.31, -0.02]" and d.verdict == "behind"
    assert d.sentence("top-1") == ("B − A (top-1): -0.66 points, 95 % CI [-1.31, -0.02] over 5 seeds, "
                                   "MDE 0.9 points: behind")


def test_sentence_carries_the_mde():
    d = paired_difference({s: 0.5 for s in range(5)}, {0: 0.53, 1: 0.49, 2: 0.52, 3: 0.50, 4: 0.545}, "TRADES", "GKL")
    s = d.sentence("AutoAttack")
    assert s.startswith("GKL − TRADES (AutoAttack): +1.7 points, 95 % CI [") and f"MDE {d.mde_text()} points" in s
    assert s.endswith("no difference detected at n = 5") and d.mde > abs(d.mean)
