r"""Seed statistics and the verdict rule the chapters print.

A comparison of two methods trained with the same seeds is *paired*: seed :math:`s` gives both
methods the same initial weights and data order, so the per-seed difference
:math:`d_s = b_s - a_s` removes most of the seed-to-seed spread. With :math:`n` seeds,

.. math:: \bar d \pm t_{0.975,\,n-1}\, \frac{\mathrm{sd}(d)}{\sqrt n}

is a 95 % confidence interval for the mean difference (Student's t). The verdict is read from the
interval only: **ahead** when it lies above 0, **behind** when below, else **no difference
detected** at that :math:`n` — which is not evidence of no difference.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Mapping, Sequence

__all__ = ["mean_std", "PairedDifference", "paired_difference"]


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0.0 for a single value, which has no spread to estimate)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_std needs at least one value")
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _t975(dof: int) -> float:
    from scipy.stats import t  # scipy comes with scikit-learn (the `train` extra)

    return float(t.ppf(0.975, dof))


@dataclass(frozen=True)
class PairedDifference:
    """``b − a`` over the seeds both have: mean, 95 % interval (``None`` with one seed), verdict."""

    a: str
    b: str
    n: int
    mean: float
    low: float | None
    high: float | None

    @property
    def verdict(self) -> str:
        """``"ahead"`` / ``"behind"`` (b relative to a) or ``"no difference detected at n = k"``."""
        if self.low is not None and self.low > 0:
            return "ahead"
        if self.high is not None and self.high < 0:
            return "behind"
        return f"no difference detected at n = {self.n}"

    def sentence(self, what: str = "", scale: float = 100.0, unit: str = " points") -> str:
        """E.g. ``"GKL − TRADES (AutoAttack): +2.1 points, 95 % CI [+0.4, +3.8]: ahead"``."""
        label = f"{self.b} − {self.a}" + (f" ({what})" if what else "")
        if self.low is None:
            return f"{label}: {scale * self.mean:+.1f}{unit} from one seed: no interval, no verdict"
        return (f"{label}: {scale * self.mean:+.1f}{unit}, 95 % CI [{scale * self.low:+.1f}, "
                f"{scale * self.high:+.1f}] over {self.n} seeds: {self.verdict}")


def paired_difference(a: Mapping[int, float], b: Mapping[int, float], a_name: str = "a",
                      b_name: str = "b") -> PairedDifference:
    """The paired difference ``b − a`` of per-seed results ``{seed: value}`` (seeds in both only)."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError(f"{a_name} and {b_name} share no seed")
    d = [float(b[s]) - float(a[s]) for s in seeds]
    m, sd = mean_std(d)
    if len(d) < 2:
        return PairedDifference(a_name, b_name, 1, m, None, None)
    half = _t975(len(d) - 1) * sd / math.sqrt(len(d))
    return PairedDifference(a_name, b_name, len(d), m, m - half, m + half)
