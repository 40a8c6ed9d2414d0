r"""What the two full-power headline records share: per-point results, their paired comparison, the
answer in words.

A full-power record (``python -m gkl power distill | adversarial``) holds one row per method and seed
with the run's per-point results on a test set every run of the record shares (``correct``: 0/1 per
point, ``np.packbits`` then base64 — 10,000 points take 1.7 kB). From them,
:func:`difference` compares two methods by the two-level paired bootstrap over seeds **and** points
(:func:`gkl.experiments.power.hierarchical_bootstrap`, crossed design: every seed sees the same
points), whose minimum detectable effect is printed beside the verdict, and :func:`finding_text`
writes the chapter's "What we found" sentences from the numbers, whatever they are.

The task modules (:mod:`gkl.experiments.distill.full_power`,
:mod:`gkl.experiments.adversarial.full_power`) train, evaluate and record; this module only reads.
"""

from __future__ import annotations

import base64
from typing import Any, Mapping, Optional

import numpy as np

from gkl.experiments.power import hierarchical_bootstrap
from gkl.experiments.stats import PairedDifference

__all__ = ["pack", "unpack", "correct_matrix", "difference", "error_parts", "finding_text"]


def pack(correct: np.ndarray) -> str:
    """0/1 per point → base64 text of ``np.packbits`` (what a record stores)."""
    return base64.b64encode(np.packbits(np.asarray(correct).astype(np.uint8)).tobytes()).decode("ascii")


def unpack(text: str, n: int) -> np.ndarray:
    """The ``n`` booleans :func:`pack` stored."""
    return np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8))[:n].astype(bool)


def correct_matrix(record: Mapping[str, Any], method: str) -> np.ndarray:
    """Seeds × points results (0/1) of ``method`` in the record, rows in the record's seed order."""
    n = int(record["test"]["points"])
    by_seed = {int(r["seed"]): r for r in record["rows"] if r["method"] == method}
    if not by_seed:
        raise ValueError(f"method {method!r} is not in the full-power record")
    missing = [s for s in record["seeds"] if int(s) not in by_seed]
    if missing:
        raise ValueError(f"the full-power record has no row of {method!r} for seed(s) {missing}")
    return np.stack([unpack(by_seed[int(s)]["correct"], n) for s in record["seeds"]]).astype(np.float64)


def difference(record: Mapping[str, Any], a: str, b: str, labels: Optional[Mapping[str, str]] = None,
               resamples: int = 2000) -> PairedDifference:
    """``b − a`` (share of points) by the two-level paired bootstrap over the record's seeds and points."""
    name = (labels or {}).get
    return hierarchical_bootstrap(correct_matrix(record, a), correct_matrix(record, b), name(a, a), name(b, b),
                                  resamples=resamples, seed=0)


def error_parts(record: Mapping[str, Any], a: str, b: str) -> dict[str, float]:
    r"""Where the uncertainty of ``b − a`` comes from: the standard error of the mean difference if only
    the seeds were random (:math:`\mathrm{sd}_s(\bar D_{s\cdot})/\sqrt S`) and if only the test points
    were (:math:`\mathrm{sd}_p(\bar D_{\cdot p})/\sqrt P`). The larger one says what to grow to shrink
    the minimum detectable effect: more seeds help only the first, a larger test set only the second."""
    d = correct_matrix(record, b) - correct_matrix(record, a)
    s, p = d.shape
    return {"seeds_se": float(d.mean(axis=1).std(ddof=1) / np.sqrt(s)) if s > 1 else float("nan"),
            "points_se": float(d.mean(axis=0).std(ddof=1) / np.sqrt(p)) if p > 1 else float("nan")}


def finding_text(d: PairedDifference, n_seeds: int, n_points: int, metric: str, unit: str, points_what: str,
                 baseline_why: str, meaning: Mapping[str, str]) -> str:
    """Three sentences for a "What we found" box, from the comparison ``d`` (GKL − baseline):
    the verdict with the difference and its interval, the minimum detectable effect, and what it means
    (``meaning``: one clause per verdict, ``"ahead"``, ``"behind"`` and ``"none"``). ``metric`` names
    the measure ("top-1 accuracy"), ``unit`` its points ("top-1 points"), ``points_what`` the test
    points ("unseen test points")."""
    lead = {"ahead": f"{d.b} is **ahead** of {d.a}", "behind": f"{d.b} is **behind** {d.a}"}.get(
        d.verdict, f"we detect **no difference** between {d.b} and {d.a}")
    size = f"the difference in {metric} is {100 * d.mean:+.2f} {unit}, 95 % CI {d.interval_text(100, 2)}, {d.basis()}"
    power = (f"This experiment would detect a true difference of {d.mde_text(100, 2)} {unit} or more with 80 % "
             f"probability (its minimum detectable effect)")
    return (f"With {n_seeds} seeds per method and {n_points:,} {points_what}, {lead} ({baseline_why}): {size}. "
            f"{power}; {meaning.get(d.verdict, meaning['none'])}.")
