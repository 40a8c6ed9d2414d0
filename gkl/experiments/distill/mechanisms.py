r"""The mechanisms of GKL at full power (``python -m gkl power mechanisms``), recorded offline.

The claims page's clean tests — the **asymmetry** (the tuned KD against the same KD with only the
student-side wMSE added), the **class prior** (off against on, at 4× the tuned β) and **γ** (the tuned
γ against γ = 1) — the ablations' one-setting moves, and the tuned GKL moved to the **released
balance** of its two terms (:func:`~gkl.experiments.distill.ablations.released_balance`) each change
one thing against a tuned method. At a chapter's three seeds they cannot see effects of the paper's size (minimum detectable
effects of 1–1.5 points). This run trains every such *arm* (a configuration and the training settings
it runs with) with :data:`SEEDS` seeds and evaluates each student on the **same** unseen mnist1d
points as the distillation full-power record (:mod:`gkl.experiments.distill.full_power`), whose rows
supply the references (the tuned KD, GKL and IKL: the same runs, the same keys). Each comparison is
then the two-level paired bootstrap over seeds and points
(:func:`gkl.experiments.full_power.difference`), with its minimum detectable effect.

The record (``recorded/distill-mechanisms-<profile>.json``) holds one row per arm and seed (test
accuracy, training time, per-point correctness), each arm's configuration and training settings, and
the full-power record it extends (its commit and test set). A page re-runs a slice
(:func:`check_slice`) and checks it against the record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from gkl.data import mnist1d_test_set
from gkl.experiments import smoke
from gkl.experiments.cache import run_key
from gkl.experiments.distill.ablations import ablation_sweeps, claim_pairs, claim_profile, released_balance
from gkl.experiments.distill.full_power import SLICE_TOLERANCE, _correct, profile_of
from gkl.experiments.distill.profiles import Profile
from gkl.experiments.distill.runs import prefetch, run_method
from gkl.experiments.full_power import pack, unpack
from gkl.experiments.power import hierarchical_bootstrap
from gkl.experiments.record import read_record, recorded_path, same_numerics, write_record
from gkl.experiments.stats import PairedDifference
from gkl.methods.distill import DistillConfig

__all__ = ["SEEDS", "RELEASED_ARM", "Arm", "arms", "arm_key", "run_mechanisms", "arm_matrix", "arm_difference",
           "clean_tests", "released_difference", "ablation_differences", "ablation_summary", "summary_row", "check_slice"]

#: Seeds of the mechanisms run: the first 20 of the distillation full-power run's.
SEEDS = tuple(range(20))
#: The name of the arm that moves the tuned GKL to the released balance of its terms.
RELEASED_ARM = "released balance: GKL"


@dataclass(frozen=True)
class Arm:
    """One configuration trained under one profile's training settings (what a run key hashes, seed aside)."""

    name: str
    config: DistillConfig
    profile: Profile

    @property
    def train(self) -> dict[str, Any]:
        return {k: v for k, v in self.profile.train_for(self.config, 0).items() if k != "seed"}

    @property
    def key(self) -> str:
        return arm_key(self.config, self.profile)


def arm_key(config: DistillConfig, profile: Profile) -> str:
    """What identifies an arm across records: its config and its training settings (no seed)."""
    train = {k: v for k, v in profile.train_for(config, 0).items() if k not in ("seed", "progress", "device")}
    return run_key({"distill": config.to_dict(), "train": train}, length=12)


def arms(profile: Profile) -> list[Arm]:
    """Every arm of the claims' clean tests and of the ablation sweeps that is not a tuned method of
    ``profile`` (those are the full-power record's), each once, named by where it first appears
    (``"asymmetry: KD + student-side wMSE"``, ``"β: 0.25"`` ...), then the tuned GKL at the released
    balance (:data:`RELEASED_ARM`)."""
    tuned = {arm_key(c, profile) for c in profile.methods.values()}
    found: dict[str, Arm] = {}
    for claim, pair in claim_pairs(profile).items():
        prof = claim_profile(profile, claim)
        for label, cfg in pair.items():
            found.setdefault(arm_key(cfg, prof), Arm(f"{claim}: {label}", cfg, prof))
    for sweep in ablation_sweeps(profile):
        for value, cfg in zip(sweep.values, sweep.configs):
            found.setdefault(arm_key(cfg, profile), Arm(f"{sweep.parameter}: {value}", cfg, profile))
    released = released_balance(profile)[0]
    found.setdefault(arm_key(released, profile), Arm(RELEASED_ARM, released, profile))
    return [a for k, a in found.items() if k not in tuned]


def run_mechanisms(power: Union[str, Path, Mapping[str, Any]] = "distill-power-cpu", seeds: Sequence[int] = SEEDS,
                   workers: Optional[int] = None, device: Optional[str] = None,
                   out: Optional[Union[str, Path]] = None, command: Sequence[str] = (),
                   runs_dir: Optional[Union[str, Path]] = None) -> dict[str, Any]:
    """Train every arm of :func:`arms` (on the full-power record's profile) for ``seeds`` (a subset of
    the record's; cached runs are reused), evaluate each on the record's test points and write the
    record (default ``recorded/distill-mechanisms-<profile>``)."""
    if smoke.enabled():
        raise ValueError(f"{smoke.ENV} is set: a full-power record is never made from smoke runs")
    rec = dict(power) if isinstance(power, Mapping) else read_record(power)
    missing = sorted(set(int(s) for s in seeds) - set(int(s) for s in rec["seeds"]))
    if missing:
        raise ValueError(f"seeds {missing} are not in the full-power record (its references): use at most "
                         f"{len(rec['seeds'])} seeds")
    prof = profile_of(rec, tuple(seeds))
    todo = arms(prof)
    points = mnist1d_test_set(int(rec["test"]["points"]), int(rec["test"]["generator_seed"]))
    kw: dict[str, Any] = {"device": device, "runs_dir": runs_dir}
    t0 = time.perf_counter()
    by_profile: dict[int, tuple[Profile, list[DistillConfig]]] = {}
    for a in todo:  # one pool per training setting (two: KD's and the tuned GKL's)
        by_profile.setdefault(id(a.profile), (a.profile, []))[1].append(a.config)
    for p, cfgs in by_profile.values():
        prefetch(p, cfgs, tuple(seeds), workers, **kw)
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # as the runs were trained
    rows = []
    try:
        for a in todo:
            for s in seeds:
                res = run_method(a.profile, a.config, s, **kw)
                c = _correct(res.model, points)
                rows.append({"method": a.name, "seed": int(s), "test_acc": float(c.mean()), "correct": pack(c),
                             "train_s": round(sum(float(h.get("time_s", 0.0)) for h in res.history), 2)})
    finally:
        torch.set_num_threads(old)
    profile = rec["profile"]
    path = Path(out) if out is not None else recorded_path(f"distill-mechanisms-{profile}")
    extra = {"task": "distill-mechanisms", "profile": profile, "seeds": [int(s) for s in seeds],
             "test": dict(rec["test"]), "power": {"commit": rec.get("commit"), "created": rec.get("created"),
                                                 "command": rec.get("command")},
             "arms": {a.name: {"config": a.config.to_dict(), "train": a.train, "key": a.key} for a in todo},
             "compute_s": round(sum(r["train_s"] for r in rows), 1), "wall_s": round(time.perf_counter() - t0, 1)}
    record = write_record(path, rows, command=list(command), grids={}, extra=extra)
    record["path"] = str(path)
    return record


def _rows_by_key(mech: Mapping[str, Any], power: Mapping[str, Any]) -> dict[str, dict[int, str]]:
    """arm key -> {seed: packed correctness}, from both records (the power record's tuned methods
    keyed on its own profile)."""
    out: dict[str, dict[int, str]] = {}
    names = {n: a["key"] for n, a in mech["arms"].items()}
    for r in mech["rows"]:
        out.setdefault(names[r["method"]], {})[int(r["seed"])] = r["correct"]
    prof = profile_of(power)
    for r in power["rows"]:
        out.setdefault(arm_key(prof.methods[r["method"]], prof), {})[int(r["seed"])] = r["correct"]
    return out


def arm_matrix(mech: Mapping[str, Any], power: Mapping[str, Any], config: DistillConfig, profile: Profile) -> np.ndarray:
    """Seeds × points correctness (0/1) of ``config`` trained under ``profile``, over the mechanisms
    record's seeds, from whichever record holds it."""
    if dict(mech["test"]) != dict(power["test"]):
        raise ValueError("the mechanisms record was evaluated on other test points than the full-power record")
    key = arm_key(config, profile)
    rows = _rows_by_key(mech, power).get(key)
    if rows is None:
        raise ValueError(f"no recorded runs of {config.method} {config.to_dict()} with these training settings: "
                         "re-record with `python -m gkl power mechanisms`")
    missing = [s for s in mech["seeds"] if int(s) not in rows]
    if missing:
        raise ValueError(f"the records have no run of this arm for seed(s) {missing}")
    n = int(mech["test"]["points"])
    return np.stack([unpack(rows[int(s)], n) for s in mech["seeds"]]).astype(np.float64)


def arm_difference(mech: Mapping[str, Any], power: Mapping[str, Any], a: tuple[DistillConfig, Profile],
                   b: tuple[DistillConfig, Profile], labels: tuple[str, str], resamples: int = 2000) -> PairedDifference:
    """``b − a`` in test accuracy (share of points) by the two-level paired bootstrap over the
    mechanisms record's seeds and the shared test points."""
    return hierarchical_bootstrap(arm_matrix(mech, power, *a), arm_matrix(mech, power, *b), labels[0], labels[1],
                                  resamples=resamples, seed=0)


def clean_tests(mech: Mapping[str, Any], power: Mapping[str, Any], resamples: int = 2000) -> dict[str, PairedDifference]:
    """The claims page's clean tests at full power: ``{claim: changed − reference}`` for every pair of
    :func:`~gkl.experiments.distill.ablations.claim_pairs` on the full-power record's profile."""
    prof = profile_of(power)
    out = {}
    for claim, pair in claim_pairs(prof).items():
        p = claim_profile(prof, claim)
        (la, ca), (lb, cb) = pair.items()
        out[claim] = arm_difference(mech, power, (ca, p), (cb, p), (la, lb), resamples)
    return out


def released_difference(mech: Mapping[str, Any], power: Mapping[str, Any], resamples: int = 2000) -> PairedDifference:
    """The tuned GKL moved to the released balance of its terms
    (:func:`~gkl.experiments.distill.ablations.released_balance`: β only) minus the tuned GKL, at full
    power (the mechanisms record's seeds, the shared test points)."""
    prof = profile_of(power)
    tuned = prof.methods["gkl"]
    return arm_difference(mech, power, (tuned, prof), (released_balance(prof)[0], prof),
                          ("tuned GKL", "GKL at the released balance"), resamples)


def check_slice(mech: Union[str, Path, Mapping[str, Any]] = "distill-mechanisms-cpu",
                power: Union[str, Path, Mapping[str, Any]] = "distill-power-cpu", seeds: Sequence[int] = (0, 1),
                **kw: Any) -> dict[str, Any]:
    """Re-run ``seeds`` of every recorded arm (cached runs are reused) and compare each run's test
    accuracy on the record's points with the record: ``ok`` when none moved by more than
    :data:`~gkl.experiments.distill.full_power.SLICE_TOLERANCE` (1 point; see
    :func:`gkl.experiments.distill.full_power.check_slice` for why not bit-exact). Returns
    ``{"max_acc_change", "tolerance", "same_numerics", "ok", "runs": {(arm, seed): change}}``."""
    m = dict(mech) if isinstance(mech, Mapping) else read_record(mech)
    p = dict(power) if isinstance(power, Mapping) else read_record(power)
    prof = profile_of(p, tuple(seeds))
    by_key = {a.key: a for a in arms(prof)}
    points = mnist1d_test_set(int(m["test"]["points"]), int(m["test"]["generator_seed"]))
    want = []
    for name, spec in m["arms"].items():
        if spec["key"] not in by_key:
            raise ValueError(f"the recorded arm {name!r} is not an arm of this package's claims or ablations: "
                             "re-record with `python -m gkl power mechanisms`")
        want.append((name, by_key[spec["key"]]))
    groups: dict[int, tuple[Profile, list[DistillConfig]]] = {}
    for _, a in want:
        groups.setdefault(id(a.profile), (a.profile, []))[1].append(a.config)
    for pr, cfgs in groups.values():
        prefetch(pr, cfgs, tuple(seeds), **kw)
    recorded = {(r["method"], int(r["seed"])): r for r in m["rows"]}
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = {}
        for name, a in want:
            for s in seeds:
                now = _correct(run_method(a.profile, a.config, s, **kw).model, points)
                then = unpack(recorded[(name, int(s))]["correct"], len(points))
                runs[(name, int(s))] = abs(float(now.mean()) - float(then.mean()))
    finally:
        torch.set_num_threads(old)
    moved = max(runs.values())
    return {"max_acc_change": moved, "tolerance": SLICE_TOLERANCE, "same_numerics": same_numerics(m),
            "ok": moved <= SLICE_TOLERANCE + 1e-12, "runs": runs}



def ablation_differences(mech: Mapping[str, Any], power: Mapping[str, Any], resamples: int = 2000) -> list[dict[str, Any]]:
    """Every moved value of the ablation sweeps (:func:`~gkl.experiments.distill.ablations.ablation_sweeps`
    on the full-power record's profile) against the tuned GKL at full power, one row per distinct
    configuration:
    ``{"setting", "value", "diff"}`` (``diff``: moved − tuned GKL, a
    :class:`~gkl.experiments.stats.PairedDifference` over the mechanisms record's seeds and points)."""
    prof = profile_of(power)
    tuned = prof.methods["gkl"]
    rows, seen = [], {arm_key(tuned, prof)}
    for sweep in ablation_sweeps(prof):
        for value, cfg in zip(sweep.values, sweep.configs):
            key = arm_key(cfg, prof)
            if key in seen:  # the tuned GKL, or a value two sweeps share (β = 0 is the asymmetry's first)
                continue
            seen.add(key)
            label = f"{sweep.parameter} = {value}"  # every move trains under the tuned profile
            rows.append({"setting": sweep.parameter, "value": str(value),
                         "diff": arm_difference(mech, power, (tuned, prof), (cfg, prof), ("tuned GKL", label), resamples)})
    return rows


def ablation_summary(rows: Sequence[Mapping[str, Any]]) -> str:
    """Two or three sentences for a "What we found" box, from :func:`ablation_differences`: which moves
    made the tuned GKL worse or better (the interval excludes zero), the largest move with its interval
    and minimum detectable effect, and the smallest effect the record could have missed."""
    if not rows:
        raise ValueError("ablation_summary needs at least one row")
    def name(r: Mapping[str, Any]) -> str:  # "yes: IKL (tuned)" names itself; "0.25" needs its setting
        v = str(r["value"])
        return v.split(": ", 1)[1] if ": " in v else f"{r['setting']} = {v}"

    worse = [name(r) for r in rows if r["diff"].verdict == "behind"]
    better = [name(r) for r in rows if r["diff"].verdict == "ahead"]
    quiet = [name(r) for r in rows if r["diff"].verdict not in ("ahead", "behind")]
    big = max(rows, key=lambda r: abs(r["diff"].mean))
    d = big["diff"]
    mdes = [r["diff"].mde for r in rows if r["diff"].mde is not None]
    moved = ([f"**better** with {', '.join(better)}"] if better else []) + (
        [f"**worse** with {', '.join(worse)}"] if worse else [])
    parts = ["Moving one setting at a time from the tuned GKL made it " + (" and ".join(moved) if moved else
             "neither better nor worse with any move") + (f"; no difference was detected for {', '.join(quiet)}"
                                                          if quiet and moved else "") + ".",
             f"The largest effect: {name(big)}, {100 * d.mean:+.2f} top-1 points "
             f"(95 % CI {d.interval_text(100, 2)}, {d.basis()})."]
    if better:
        parts.append("A move ahead of the tuned point on the test set does not overturn the sweep's choice, which "
                     "was made on validation data; it says by how much that choice left accuracy on the table here.")
    if mdes:
        parts.append(f"These comparisons detect true differences of {100 * min(mdes):.2f}–{100 * max(mdes):.2f} points "
                     "or more with 80 % probability (their minimum detectable effects).")
    return " ".join(parts)


def summary_row(mech: Mapping[str, Any], power: Mapping[str, Any], config: DistillConfig, profile: Profile,
                label: str = "") -> dict[str, Any]:
    """One configuration's recorded test accuracy over the mechanisms record's seeds, in the shape of
    :func:`gkl.experiments.distill.compare.summarize` rows (``method``, ``mean``, ``std``, ``n``,
    ``values``: per seed, on the record's unseen test points) — what the ablation figures draw."""
    from gkl.experiments.stats import mean_std

    values = [float(v) for v in arm_matrix(mech, power, config, profile).mean(axis=1)]
    mean, std = mean_std(values)
    return {"method": label or config.method, "mean": mean, "std": std, "n": len(values), "values": values}
