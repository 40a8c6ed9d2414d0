r"""A comparison paired by seed **and** by test point: the two-level (hierarchical) paired bootstrap.

When every seed evaluates both methods on the same test points, the per-point results
:math:`A_{sp}, B_{sp}` (e.g. correct = 1, wrong = 0; :math:`s = 1..S` seeds, :math:`p = 1..P` points)
hold far more information than the :math:`S` per-seed accuracies: the per-seed paired t interval
(:func:`gkl.experiments.stats.paired_difference`) treats each seed's accuracy as exact, while a
test set of :math:`P` points adds its own sampling error, and most of it cancels between the methods
when they are compared point by point. The estimand is the mean difference over seeds and points,

.. math:: \hat\theta = \frac{1}{SP}\sum_{s=1}^{S}\sum_{p=1}^{P} D_{sp}, \qquad D_{sp} = B_{sp} - A_{sp},

and the bootstrap resamples the two levels the data were drawn at. Working on :math:`D` keeps the
pairing: a resampled (seed, point) cell always brings *both* methods' results on that seed and point.

* ``design="crossed"`` (the default: the same test points for every seed, as a full test set gives):
  seeds :math:`s^*_1..s^*_S` with replacement and, **once per replicate**, points
  :math:`p^*_1..p^*_P` with replacement, used for every resampled seed,

  .. math:: \hat\theta^* = \frac{1}{SP}\sum_{j}\sum_{k} D_{s^*_j p^*_k}
            = \frac{1}{SP}\, w^\top D\, v,

  with :math:`w, v` the resampling counts of seeds and points — computed from the counts (one
  matrix product per block of replicates), never from materialised resamples. Sharing the point
  draw across seeds keeps what the points have in common across seeds (a point hard for GKL on every
  seed); resampling points afresh per seed would treat it as independent per seed and shrink the
  point part of the variance :math:`S`-fold. Resampling both factors is slightly conservative (the
  seed × point residual is counted up to three times; McCullagh 2000, Owen 2007).
* ``design="nested"`` (each seed has its own points, e.g. rotating AutoAttack subsets): seeds with
  replacement, then for each resampled seed its own :math:`P` points with replacement,
  :math:`\hat\theta^* = \frac{1}{SP}\sum_j\sum_k D_{s^*_j,\, p^*_{jk}}`. When :math:`D` takes few
  values (0/1 results give −1, 0, 1), a seed's :math:`P` draws are one multinomial draw over the
  values with that seed's frequencies — the same law, without drawing :math:`P` indices.

From ``resamples`` replicates: the **95 % percentile interval** (the 2.5 % and 97.5 % quantiles of
:math:`\hat\theta^*`; not BCa), the verdict of :class:`~gkl.experiments.stats.PairedDifference` read
from it, and the minimum detectable effect from the bootstrap standard error
:math:`\mathrm{SE} = \mathrm{sd}(\hat\theta^*)`,

.. math:: \mathrm{MDE} = (z_{0.975} + z_{0.80})\,\mathrm{SE} \approx 2.80\,\mathrm{SE},

the normal-approximation formula (the estimate is a mean over many cells, so close to normal).
Fewer than :data:`~gkl.experiments.stats.MIN_SEEDS` seeds get no interval; differences with no
spread at all go to the exact sign-flip rule on the per-seed means, as in ``paired_difference``.
Everything is seeded. 30 seeds × 10,000 points × 2,000 replicates of 0/1 results take about 0.35 s
(crossed) and 0.02 s (nested) on one core of the project's CPU machine
(``benchmarks/bootstrap_speed.py``); nested results with many distinct values are drawn point by
point, about 7 s at that size.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from gkl.experiments.stats import ALPHA, MIN_SEEDS, POWER, PairedDifference, paired_difference

__all__ = ["bootstrap_replicates", "hierarchical_bootstrap", "mde_from_se"]

#: Cells (replicates × points, or replicates × seeds × points) drawn per block: bounds memory.
BLOCK_CELLS = 4_000_000


def mde_from_se(se: float, alpha: float = ALPHA, power: float = POWER) -> float:
    r""":math:`(z_{1-\alpha/2} + z_{\mathrm{power}})\,\mathrm{SE}`: the minimum detectable effect of a
    two-sided level-``alpha`` test whose estimate is normal with standard error ``se``."""
    from scipy.stats import norm

    return float((norm.ppf(1 - alpha / 2) + norm.ppf(power)) * se)


def _counts(rng: np.random.Generator, rows: int, size: int) -> np.ndarray:
    """``rows`` independent resampling-count vectors over ``size`` items (each sums to ``size``)."""
    idx = rng.integers(0, size, (rows, size)) + size * np.arange(rows)[:, None]
    return np.bincount(idx.ravel(), minlength=rows * size).reshape(rows, size)


def bootstrap_replicates(d: Any, resamples: int = 2000, seed: int = 0, design: str = "crossed") -> np.ndarray:
    """``resamples`` bootstrap replicates of the mean of ``d`` (seeds × points), two-level (module doc)."""
    d = np.asarray(d, dtype=np.float64)
    if d.ndim != 2 or min(d.shape) < 1:
        raise ValueError(f"expected a seeds × points array, got shape {d.shape}")
    if design not in ("crossed", "nested"):
        raise ValueError(f"design must be 'crossed' or 'nested', got {design!r}")
    s, p = d.shape
    rng = np.random.default_rng(seed)
    out = np.empty(resamples)
    per_rep = p if design == "crossed" else s * p
    levels = None
    if design == "nested":
        # few distinct values (0/1 correctness gives -1, 0, 1): P draws with replacement from seed s's
        # points are multinomial over the values, with seed s's frequencies — same law, no P-sized draw
        levels, inverse = np.unique(d, return_inverse=True)
        if len(levels) <= 16:
            inverse = inverse.reshape(s, p)
            freq = np.stack([np.bincount(inverse[i], minlength=len(levels)) / p for i in range(s)])
            per_rep = s * len(levels)
        else:
            levels = None
    block = max(1, BLOCK_CELLS // per_rep)
    for start in range(0, resamples, block):
        r = min(block, resamples - start)
        if design == "crossed":
            w = _counts(rng, r, s).astype(np.float64)            # r × S seed counts
            v = _counts(rng, r, p).astype(np.float64)            # r × P point counts
            out[start:start + r] = np.einsum("rs,rs->r", w, v @ d.T) / (s * p)  # w^T D v / (S P)
        elif levels is not None:
            seeds = rng.integers(0, s, (r, s))
            counts = rng.multinomial(p, freq[seeds])            # r × S × k: each slot's P draws, by value
            out[start:start + r] = (counts @ levels).sum(axis=1) / (s * p)
        else:
            seeds = rng.integers(0, s, (r, s))
            points = rng.integers(0, p, (r, s, p))
            out[start:start + r] = d[seeds[:, :, None], points].mean(axis=(1, 2))
    return out


def hierarchical_bootstrap(a: Any, b: Any, a_name: str = "a", b_name: str = "b", resamples: int = 2000,
                           seed: int = 0, design: str = "crossed", level: float = 1 - ALPHA) -> PairedDifference:
    """``b − a`` from per-point results of shape seeds × points (row ``s`` of both: seed ``s``;
    column ``p``: the same test point for both), by the two-level paired bootstrap: the mean over
    seeds and points, its percentile interval at ``level``, the MDE from the bootstrap SE, and the
    verdict of :class:`~gkl.experiments.stats.PairedDifference` (``points`` set, so its sentence says
    "over S seeds × P test points")."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"a and b must be seeds × points arrays of one shape, got {a.shape} and {b.shape}")
    d = b - a
    s, p = d.shape
    mean = float(d.mean())
    seed_means = dict(enumerate(d.mean(axis=1).tolist()))
    if s < MIN_SEEDS or np.ptp(d) == 0:  # too few seeds, or no spread: the per-seed rules decide
        pd = paired_difference({k: 0.0 for k in seed_means}, seed_means, a_name, b_name)
        return dataclasses.replace(pd, mean=mean, points=p)
    reps = bootstrap_replicates(d, resamples, seed, design)
    low, high = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return PairedDifference(a_name, b_name, s, mean, float(low), float(high),
                            mde=mde_from_se(float(reps.std(ddof=1))), points=p)
