r"""The distillation headline at full power (``python -m gkl power distill``), recorded offline.

The chapter's headline (five seeds, the standard 1,000 mnist1d test points, a per-seed paired t
interval) cannot see a difference of the size the paper reports (0.2–1 top-1 point). This run is
designed to: every method of the tuned profile (:func:`gkl.experiments.distill.sweep.tuned_profile`)
trained with :data:`SEEDS` seeds, each student evaluated on the **same** :data:`TEST_POINTS` further
mnist1d points (:func:`gkl.data.mnist1d_test_set`, never seen in training or tuning), and GKL
compared with the strongest baseline of the sweep by the two-level paired bootstrap over seeds and
test points (:func:`gkl.experiments.power.hierarchical_bootstrap`), whose minimum detectable effect
the record states beside the verdict.

The record (``recorded/distill-power-<profile>.json``) holds, per method and seed, the test accuracy,
the run's own training time and its per-point correctness (``np.packbits``, base64), with the
command, the commit and the environment. The chapter re-runs a slice (:func:`check_slice`: two seeds)
at build time and checks that it reproduces the record.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from gkl.data import mnist1d_test_set
from gkl.experiments import smoke
from gkl.experiments.distill.profiles import PROFILES, Profile
from gkl.experiments.distill.runs import prefetch, run_method
from gkl.experiments.distill.sweep import tuned_profile
from gkl.experiments.full_power import difference, finding_text, pack, unpack
from gkl.experiments.protocol import load_record
from gkl.experiments.record import read_record, recorded_path, same_numerics, write_record
from gkl.experiments.stats import PairedDifference, mean_std
from gkl.methods.distill import DISTILLERS

__all__ = ["SEEDS", "TEST_POINTS", "TEST_SEED", "run_full_power", "profile_of",
           "full_power_difference", "check_slice", "finding"]

#: Seeds of the full-power run (the chapter's five are its first five).
SEEDS = tuple(range(30))
#: The slice check's tolerance on each run's test accuracy (1 point).
SLICE_TOLERANCE = 0.01
#: Further mnist1d test points every student is evaluated on, and the generator seed that draws them.
TEST_POINTS = 10_000
TEST_SEED = 1


def _correct(model: torch.nn.Module, points: Any) -> np.ndarray:
    """Per-point correctness of ``model`` on ``points`` (eval mode, no gradient, batches of 2,000)."""
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(points), 2000):
            x, y = points.inputs[i:i + 2000], points.targets[i:i + 2000]
            out.append((model(x).argmax(1) == y).numpy())
    return np.concatenate(out)


def _row(profile: Any, method: str, seed: int, points: Any, kw: Mapping[str, Any]) -> dict[str, Any]:
    res = run_method(profile, profile.methods[method], seed, **kw)
    c = _correct(res.model, points)
    return {"method": method, "seed": int(seed), "test_acc": float(c.mean()), "correct": pack(c),
            "train_s": round(sum(float(h.get("time_s", 0.0)) for h in res.history), 2)}


def run_full_power(profile: str = "cpu", seeds: Sequence[int] = SEEDS, test_points: int = TEST_POINTS,
                   workers: Optional[int] = None, device: Optional[str] = None,
                   out: Optional[Union[str, Path]] = None, command: Sequence[str] = (),
                   runs_dir: Optional[Union[str, Path]] = None,
                   sweep: Optional[Union[str, Path, Mapping[str, Any]]] = None) -> dict[str, Any]:
    """Train every method of the tuned profile (from ``sweep``, default the profile's recorded sweep)
    for ``seeds`` (cached runs are reused), evaluate each on the ``test_points`` further points and
    write the record (default ``recorded/distill-power-<profile>``)."""
    if smoke.enabled():
        raise ValueError(f"{smoke.ENV} is set: a full-power record is never made from smoke runs")
    sweep = load_record("distill", profile if sweep is None else sweep)
    prof = tuned_profile(sweep, seeds=tuple(seeds))
    points = mnist1d_test_set(int(test_points), TEST_SEED)
    kw: dict[str, Any] = {"device": device, "runs_dir": runs_dir}
    t0 = time.perf_counter()
    prefetch(prof, list(prof.methods.values()), tuple(seeds), workers, **kw)  # one pool, one thread per run
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # as the runs were trained: a cached run and a fresh one evaluate alike
    try:
        rows = [_row(prof, m, s, points, kw) for m in prof.methods for s in seeds]
    finally:
        torch.set_num_threads(old)
    path = Path(out) if out is not None else recorded_path(f"distill-power-{profile}")
    extra = {"task": "distill-power", "profile": profile, "seeds": [int(s) for s in seeds],
             "test": {"points": int(test_points), "generator_seed": TEST_SEED, "source": "gkl.data.mnist1d_test_set"},
             "sweep": {"commit": sweep.get("commit"), "strongest_baseline": sweep["strongest_baseline"],
                       "epochs": int(sweep["epoch_budget"]["chosen"])},
             "configs": {m: c.to_dict() for m, c in prof.methods.items()},
             "train_overrides": {m: dict(v) for m, v in prof.train_overrides.items()},
             "compute_s": round(sum(r["train_s"] for r in rows), 1), "wall_s": round(time.perf_counter() - t0, 1)}
    record = write_record(path, rows, command=list(command), grids={}, extra=extra)
    record["path"] = str(path)
    return record


def profile_of(record: Mapping[str, Any], seeds: Optional[Sequence[int]] = None) -> Profile:
    """The profile the full-power record was made with (its methods' configs, training changes and
    epochs, on the record's profile), for ``seeds`` (default the record's); never shrunk by ``GKL_SMOKE``."""
    base = PROFILES[record["profile"]]
    train = {**dict(base.train), "epochs": int(record["sweep"]["epochs"]), "checkpoint_every": 10}
    return base.replace(methods={m: DISTILLERS.from_dict(c) for m, c in record["configs"].items()}, train=train,
                        train_overrides={m: dict(v) for m, v in record["train_overrides"].items()},
                        seeds=tuple(int(s) for s in (record["seeds"] if seeds is None else seeds)))


def full_power_difference(record: Mapping[str, Any], a: str, b: str, labels: Optional[Mapping[str, str]] = None,
                          resamples: int = 2000) -> PairedDifference:
    """``b − a`` in test accuracy by the two-level paired bootstrap over the record's seeds and points."""
    return difference(record, a, b, labels, resamples)


def check_slice(record: Union[str, Path, Mapping[str, Any]] = "distill-power-cpu", seeds: Sequence[int] = (0, 1),
                methods: Optional[Sequence[str]] = None, **kw: Any) -> dict[str, Any]:
    """Re-run ``seeds`` of the recorded full-power run (cached runs are reused) and compare per method
    and seed: the number of test points whose correctness differs from the record and the change of
    test accuracy. A run retrained elsewhere — another CPU, or the same CPU with a teacher trained under
    another thread count (a chapter build trains it in-process) — differs in the last bits, which
    training amplifies; so the check is on accuracy: ``ok`` when no run moved by more than
    :data:`SLICE_TOLERANCE` (1 point). Returns ``{"max_changed", "max_acc_change", "tolerance",
    "same_numerics", "ok", "runs"}``."""
    rec = dict(record) if isinstance(record, Mapping) else read_record(record)
    prof = profile_of(rec, seeds)
    wanted = list(methods or prof.methods)
    points = mnist1d_test_set(int(rec["test"]["points"]), int(rec["test"]["generator_seed"]))
    prefetch(prof, [prof.methods[m] for m in wanted], tuple(seeds), **kw)
    recorded = {(r["method"], int(r["seed"])): r for r in rec["rows"]}
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = {}
        for m in wanted:
            for s in seeds:
                now = _correct(run_method(prof, prof.methods[m], s, **kw).model, points)
                then = unpack(recorded[(m, int(s))]["correct"], len(points))
                runs[(m, int(s))] = (int((now != then).sum()), abs(float(now.mean()) - float(then.mean())))
    finally:
        torch.set_num_threads(old)
    worst = max(c for c, _ in runs.values())
    moved = max(a for _, a in runs.values())
    return {"max_changed": worst, "max_acc_change": moved, "tolerance": SLICE_TOLERANCE,
            "same_numerics": same_numerics(rec), "ok": moved <= SLICE_TOLERANCE + 1e-12, "runs": runs}


def finding(record: Mapping[str, Any], labels: Mapping[str, str], resamples: int = 2000) -> dict[str, Any]:
    """The full-power answer, in numbers and words: GKL against the sweep's strongest baseline.

    Returns ``{"diff": PairedDifference, "baseline", "accuracy": {method: (mean, sd) over seeds},
    "text"}``; ``text`` is three sentences for a chapter's "What we found" box, generated from the
    record (:func:`gkl.experiments.full_power.finding_text`: a re-recorded run changes them, whatever
    the outcome)."""
    base = record["sweep"]["strongest_baseline"]
    d = full_power_difference(record, base, "gkl", labels, resamples)
    acc = {m: mean_std([r["test_acc"] for r in record["rows"] if r["method"] == m]) for m in record["configs"]}
    meaning = {"ahead": "so on this task GKL helps, by about that much",
               "behind": "so on this task GKL, as tuned here, costs accuracy",
               "none": "so any effect larger than that is unlikely here; a smaller one, such as the paper's "
                       "smallest CIFAR-100 gains, cannot be ruled out"}
    text = finding_text(d, len(record["seeds"]), int(record["test"]["points"]), "top-1 accuracy", "top-1 points",
                        "unseen test points", "the strongest baseline by validation accuracy", meaning)
    return {"diff": d, "baseline": base, "accuracy": acc, "text": text}
