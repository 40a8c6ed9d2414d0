r"""Seed statistics and the verdict rule the chapters print, with the minimum detectable effect.

A comparison of two methods trained with the same seeds is *paired*: seed :math:`s` gives both
methods the same initial weights and data order, so the per-seed difference
:math:`d_s = b_s - a_s` removes most of the seed-to-seed spread. With :math:`n` seeds and
:math:`s_d = \mathrm{sd}(d)`,

.. math:: \bar d \pm t_{0.975,\,n-1}\, \frac{s_d}{\sqrt n}

is a 95 % confidence interval for the mean difference (Student's t). The verdict is read from the
interval only: **ahead** when it lies above 0, **behind** when below, else **no difference
detected** at that :math:`n` — which is not evidence of no difference. How much "not detected" says
is the **minimum detectable effect** printed beside every verdict: the smallest true mean difference
that this comparison (its :math:`n`, its own :math:`s_d`) detects with 80 % power at two-sided 5 %,

.. math:: \mathrm{MDE} = \left(t_{0.975,\,n-1} + t_{0.80,\,n-1}\right) \frac{s_d}{\sqrt n},

the standard normal-approximation formula with t quantiles in place of :math:`z_{0.975} + z_{0.80}
= 1.96 + 0.84`. It treats the test statistic under the alternative as a shifted central t; the exact
(noncentral-t) power of the paired t-test at this effect is 0.77 at n = 3, 0.79 at n = 5 and 0.80
from n = 10 on (``tests/test_stats.py`` checks it by simulation). :math:`s_d` is itself estimated, so
the MDE is as uncertain as the interval's width.

Two cases get no t interval:

* **fewer than** :data:`MIN_SEEDS` **seeds**: no interval and no verdict ("too few seeds"): one
  seed has no spread to estimate, and with two the interval rests on one degree of freedom;
* **differences with no spread** (every :math:`d_s` equal, e.g. one setting that changes nothing on
  the seeds tried): the t interval would be :math:`[\bar d, \bar d]`, a certainty the data do not
  give. The exact sign-flip test (:func:`sign_flip_p`) decides instead: under "no difference" each
  :math:`d_s` is as likely to have either sign, and with all :math:`n` equal and nonzero only the
  all-plus and all-minus sign patterns reach the observed :math:`|\bar d|`, so the two-sided
  :math:`p = 2/2^n` — below 0.05 from :math:`n = 6` on. The sentence says "no interval (no spread)".

Intervals print with enough digits to show on which side of 0 they lie (:func:`format_signed`).
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

__all__ = ["MIN_SEEDS", "ALPHA", "POWER", "mean_std", "mde_paired_t", "sign_flip_p", "format_signed",
           "PairedDifference", "paired_difference"]

#: The fewest paired seeds that get an interval and a verdict.
MIN_SEEDS = 3
#: Two-sided level of every verdict, and the power the minimum detectable effect is quoted at.
ALPHA = 0.05
POWER = 0.80


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0.0 for a single value, which has no spread to estimate)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_std needs at least one value")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _t(q: float, dof: int) -> float:
    from scipy.stats import t  # scipy comes with scikit-learn (the `train` extra)

    return float(t.ppf(q, dof))


def mde_paired_t(sd: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    r""":math:`(t_{1-\alpha/2,\,n-1} + t_{\mathrm{power},\,n-1})\, s_d / \sqrt n`: the minimum detectable
    mean difference of a two-sided paired t-test on ``n`` pairs whose differences have sd ``sd``."""
    if n < 2:
        raise ValueError(f"the minimum detectable effect needs at least 2 pairs, got {n}")
    return (_t(1 - alpha / 2, n - 1) + _t(power, n - 1)) * sd / math.sqrt(n)


def sign_flip_p(d: Sequence[float], exact_limit: int = 16, draws: int = 200_000, seed: int = 0) -> float:
    r"""Two-sided p-value of the sign-flip (paired permutation) test of "mean difference 0".

    Under the null each :math:`d_i` is symmetric about 0, so all :math:`2^n` sign patterns
    :math:`\varepsilon \in \{\pm 1\}^n` are equally likely and
    :math:`p = \#\{\varepsilon : |\overline{\varepsilon d}| \ge |\bar d|\} / 2^n` — exact, enumerated, for
    :math:`n \le` ``exact_limit``; above, ``draws`` seeded random patterns (plus the observed one)."""
    import numpy as np

    x = np.asarray(d, dtype=float)
    obs = abs(x.mean())
    tol = 1e-9 * max(float(np.abs(x).max(initial=0.0)), 1e-300)  # float noise must not split ties
    if len(x) <= exact_limit:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(x))))
        return float(np.mean(np.abs(signs @ x) / len(x) >= obs - tol))
    signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(draws, len(x)))
    return float((np.sum(np.abs(signs @ x) / len(x) >= obs - tol) + 1) / (draws + 1))


def _decimals(values: Sequence[float], digits: int, cap: int = 8) -> int:
    """The fewest decimals ≥ ``digits`` at which no nonzero value rounds to (±)0."""
    while digits < cap and any(v != 0 and round(v, digits) == 0 for v in values):
        digits += 1
    return digits


def format_signed(values: Sequence[float], digits: int = 1) -> list[str]:
    """``values`` with a sign and one common number of decimals, ``digits`` or more: as many as it
    takes for no nonzero value to print as ``+0.0`` / ``-0.0`` (``[-1.31, -0.02]``, not ``[-1.3, -0.0]``)."""
    k = _decimals(values, digits)
    return [f"{v:+.{k}f}" for v in values]


@dataclass(frozen=True)
class PairedDifference:
    """``b − a``: mean, 95 % interval, minimum detectable effect and verdict.

    ``low``/``high`` are ``None`` when there is no interval (fewer than :data:`MIN_SEEDS` seeds, or no
    spread); ``p_value`` is the exact sign-flip p when the no-spread rule decided; ``mde`` is the
    minimum detectable effect (80 % power, two-sided 5 %; ``None`` where it cannot be estimated);
    ``points`` > 0 marks an interval from the two-level bootstrap over seeds and test points
    (:func:`gkl.experiments.power.hierarchical_bootstrap`)."""

    a: str
    b: str
    n: int
    mean: float
    low: Optional[float]
    high: Optional[float]
    mde: Optional[float] = None
    p_value: Optional[float] = None
    points: int = 0

    @property
    def verdict(self) -> str:
        """``"ahead"`` / ``"behind"`` (b relative to a), ``"no difference detected at n = k"`` or
        ``"too few seeds (n = k)"``."""
        if self.low is not None and self.high is not None:
            if self.low > 0:
                return "ahead"
            if self.high < 0:
                return "behind"
        elif self.p_value is not None:
            if self.p_value < ALPHA and self.mean != 0:
                return "ahead" if self.mean > 0 else "behind"
        else:
            return f"too few seeds (n = {self.n})"
        return f"no difference detected at n = {self.n}"

    @property
    def decided(self) -> bool:
        """Whether the data were enough for a verdict at all (an interval or the exact test)."""
        return self.low is not None or self.p_value is not None

    def interval_text(self, scale: float = 100.0, digits: int = 1) -> str:
        """``"[-0.2, +4.1]"`` (digits enough to show the side of 0), or why there is no interval."""
        if self.low is None or self.high is None:
            return "no interval (no spread)" if self.p_value is not None else "no interval (too few seeds)"
        lo, hi = format_signed([scale * self.low, scale * self.high], digits)
        return f"[{lo}, {hi}]"

    def mde_text(self, scale: float = 100.0, digits: int = 1) -> str:
        """The minimum detectable effect, ``"2.6"``, or ``"—"`` where it cannot be estimated."""
        if self.mde is None:
            return "—"
        return f"{scale * self.mde:.{_decimals([scale * self.mde], digits)}f}"

    def basis(self) -> str:
        """What the interval (or the test) rests on, for a sentence."""
        if self.points:
            return f"over {self.n} seeds × {self.points:,} test points (two-level bootstrap)"
        return f"over {self.n} seeds"

    def sentence(self, what: str = "", scale: float = 100.0, unit: str = " points", digits: int = 1) -> str:
        """E.g. ``"GKL − TRADES (AutoAttack): +1.9 points, 95 % CI [-0.2, +4.1] over 5 seeds, MDE 2.6
        points: no difference detected at n = 5"``."""
        label = f"{self.b} − {self.a}" + (f" ({what})" if what else "")
        if not self.decided:
            return (f"{label}: {scale * self.mean:+.{digits}f}{unit} from {self.n} seed{'s' * (self.n != 1)}: "
                    f"too few seeds for an interval (fewer than {MIN_SEEDS}), no verdict")
        if self.low is None:
            return (f"{label}: {scale * self.mean:+.{digits}f}{unit} on every one of {self.n} seeds: no interval "
                    f"(no spread), exact sign-flip p = {self.p_value:.2g}, MDE n/a: {self.verdict}")
        m, _, _ = format_signed([scale * self.mean, scale * self.low, scale * self.high], digits)
        return (f"{label}: {m}{unit}, 95 % CI {self.interval_text(scale, digits)} {self.basis()}, "
                f"MDE {self.mde_text(scale, digits)}{unit}: {self.verdict}")


def _no_spread(d: Sequence[float]) -> bool:
    """All differences equal, up to float noise (``0.40 - 0.45`` and ``0.41 - 0.46`` differ in the last bit)."""
    return math.isclose(min(d), max(d), rel_tol=1e-9, abs_tol=1e-12)


def paired_difference(a: Mapping[int, float], b: Mapping[int, float], a_name: str = "a",
                      b_name: str = "b") -> PairedDifference:
    """The paired difference ``b − a`` of per-seed results ``{seed: value}`` (seeds in both only):
    the t interval and its MDE; fewer than :data:`MIN_SEEDS` seeds: neither; no spread: the exact
    sign-flip test."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError(f"{a_name} and {b_name} share no seed")
    d = [float(b[s]) - float(a[s]) for s in seeds]
    m, sd = mean_std(d)
    n = len(d)
    if n < MIN_SEEDS:
        return PairedDifference(a_name, b_name, n, m, None, None)
    if _no_spread(d):
        return PairedDifference(a_name, b_name, n, m, None, None, p_value=sign_flip_p(d))
    half = _t(1 - ALPHA / 2, n - 1) * sd / math.sqrt(n)
    return PairedDifference(a_name, b_name, n, m, m - half, m + half, mde=mde_paired_t(sd, n))
