r"""The adversarial headline at full power (``python -m gkl power adversarial``), recorded offline.

The chapter trains a few seeds (:data:`gkl.experiments.profile.AT_CHAPTER_SEEDS`), too few to see a
difference of the size the paper reports (about one AutoAttack point). This run is designed to:
GKL and the strongest baseline of the recorded sweep, each trained with :data:`SEEDS` seeds exactly
as the chapter trains them (:func:`gkl.experiments.adversarial.selection.chapter_profile`: the same
run keys, so the chapter's seeds are this record's first ones), then attacked with the
**standard AutoAttack on every point of the test split** (all 360 digits test images, seeded per
run), and compared by the two-level paired bootstrap over seeds and test points
(:func:`gkl.experiments.full_power.difference`), whose minimum detectable effect the record's
verdict states.

On digits that effect is about two AutoAttack points, twice the bound of 1.0: the uncertainty comes
mostly from the sample of 360 test points (:func:`gkl.experiments.full_power.error_parts` measures
it), which more seeds cannot shrink, and the digits data set holds 1,797 images in all. Meeting the
bound needs a data set with a test set of a few thousand points (the chapters say so).

The record (``recorded/adversarial-power-<profile>.json``) holds, per method and seed, the run key,
the chapter's own evaluation of that run (clean and PGD-20 accuracy on the test split, AutoAttack on
its 36-point slice), the full-split AutoAttack accuracy with its per-point results (``correct``:
robust = correct clean and under every member; ``clean_correct``), and the run's training and attack
times. The chapter re-runs the slice it always trains (its seeds of both methods) and
:func:`check_slice` compares that build's evaluation with the record's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import torch

from gkl.attacks import attack_label
from gkl.attacks.autoattack import build_autoattack
from gkl.attacks.threat import predict
from gkl.data import get_dataset
from gkl.experiments import smoke
from gkl.experiments.adversarial.profiles import Profile
from gkl.experiments.adversarial.runs import run_experiment
from gkl.experiments.adversarial.selection import chapter_profile, label
from gkl.experiments.full_power import difference, finding_text, pack
from gkl.experiments.protocol import load_record
from gkl.experiments.record import read_record, recorded_path, same_numerics, write_record
from gkl.experiments.runner import default_workers, run_parallel
from gkl.experiments.stats import PairedDifference, mean_std
from gkl.methods.adversarial import load_trained

__all__ = ["SEEDS", "SLICE_TOLERANCE", "power_profile", "run_full_power", "check_slice", "finding",
           "full_power_difference", "format_accuracy"]

#: Seeds of the full-power run (the chapter's seeds are its first ones).
SEEDS = tuple(range(30))
#: The slice check's tolerance on each run's clean and PGD-20 accuracy (1 point of the test split)
#: and on its AutoAttack accuracy (one point of its AutoAttack slice).
SLICE_TOLERANCE = 0.01
#: The file, in each run's folder, that caches its full-split AutoAttack.
_CACHE = "autoattack-full.json"


def power_profile(sweep: Mapping[str, Any], seeds: Sequence[int] = SEEDS) -> Profile:
    """The chapter's profile (:func:`~gkl.experiments.adversarial.selection.chapter_profile`) for
    ``seeds``, with GKL and the sweep's strongest baseline only."""
    prof = chapter_profile(sweep, seeds=tuple(seeds))
    keep = {label("gkl"), label(sweep["strongest_baseline"])}
    return prof.replace(methods={k: v for k, v in prof.methods.items() if k in keep})


def _full_autoattack(job: tuple) -> dict[str, Any]:
    """AutoAttack (standard) on every test point of one trained run, cached in the run's folder by its
    key. ``job`` = ``(run folder, run key, dataset, data root, test subset, ε, seed, device, clean accuracy
    of the run)``; the test split is cut to its first ``test subset`` points when that is not ``None``."""
    folder, key, dataset, data_root, subset, eps, seed, device, clean_acc = job
    cache = Path(folder) / _CACHE
    if cache.is_file():
        cached = json.loads(cache.read_text())
        if cached.get("key") == key:
            return cached
    torch.set_num_threads(1)
    _, test, info = get_dataset(dataset, data_root)
    x, y = test.tensors()
    if subset is not None:
        x, y = x[:subset], y[:subset]
    model = load_trained(folder)[0].eval()
    clean = predict(model, x, 512, torch.device(device or "cpu")) == y
    if abs(clean.float().mean().item() - clean_acc) > 1e-9:  # the loaded model must be the evaluated one
        raise RuntimeError(f"{folder}: the loaded model's clean accuracy {clean.float().mean().item():.4f} is "
                           f"not the run's {clean_acc:.4f}; delete the run folder and re-run")
    t0 = time.perf_counter()
    run = build_autoattack(model, eps, n_classes=info.num_classes, seed=int(seed)).run(x, y)
    out = {"key": key, "points": int(y.shape[0]), "autoattack_acc": run.robust.float().mean().item(),
           "after": run.after, "correct": pack(run.robust.cpu().numpy()), "clean_correct": pack(clean.numpy()),
           "aa_s": round(time.perf_counter() - t0, 2)}
    cache.write_text(json.dumps(out))
    return out


def run_full_power(profile: str = "cpu", seeds: Sequence[int] = SEEDS, workers: Optional[int] = None,
                   device: Optional[str] = None, out: Optional[Union[str, Path]] = None, command: Sequence[str] = (),
                   runs_dir: Optional[Union[str, Path]] = None,
                   sweep: Optional[Union[str, Path, Mapping[str, Any]]] = None) -> dict[str, Any]:
    """Train GKL and the strongest baseline of ``sweep`` (default the profile's recorded sweep) for
    ``seeds`` as the chapter does (cached runs are reused), attack every test point of each with the
    standard AutoAttack (cached per run) and write the record (default
    ``recorded/adversarial-power-<profile>``)."""
    if smoke.enabled():
        raise ValueError(f"{smoke.ENV} is set: a full-power record is never made from smoke runs")
    sweep = load_record("adversarial", profile if sweep is None else sweep)
    prof = power_profile(sweep, seeds)
    t0 = time.perf_counter()
    exp = run_experiment(prof, runs_dir=runs_dir, workers=workers, device=device)
    results = {(r["method"], int(r["seed"])): r for r in exp.records}
    order = [(lab, int(s)) for lab in prof.methods for s in seeds]
    jobs = [(str(exp.run_dir(lab, s)), results[(lab, s)]["key"], prof.dataset, prof.data_root, prof.test_subset,
             prof.epsilon, s,
             device, results[(lab, s)]["clean_acc"]) for lab, s in order]
    if workers is None:
        workers = default_workers(device, len(jobs))
    attacked = run_parallel(_full_autoattack, jobs, workers)
    name = {label(m): m for m in (sweep["strongest_baseline"], "gkl")}
    rows = []
    for (lab, s), aa in zip(order, attacked):
        r = results[(lab, s)]
        rows.append({"method": name[lab], "seed": s, "key": r["key"], "clean_acc": r["clean_acc"],
                     "pgd_acc": r["pgd_acc"], "slice_autoattack_acc": r["autoattack_acc"],
                     "autoattack_acc": aa["autoattack_acc"], "correct": aa["correct"],
                     "clean_correct": aa["clean_correct"], "train_s": round(float(r["train_s"]), 2),
                     "eval_s": round(float(r["eval_s"]), 2), "aa_s": aa["aa_s"]})
    n_points = int(json.loads((Path(jobs[0][0]) / _CACHE).read_text())["points"])
    path = Path(out) if out is not None else recorded_path(f"adversarial-power-{profile}")
    extra = {"task": "adversarial-power", "profile": profile, "seeds": [int(s) for s in seeds],
             "test": {"points": n_points, "source": f"the {prof.dataset} test split, every point"},
             "attack": {"label": attack_label("autoattack", n_classes=10), "epsilon": prof.epsilon,
                        "seed": "the run's seed"},
             "sweep": {"commit": sweep.get("commit"), "strongest_baseline": sweep["strongest_baseline"],
                       "epochs": int(sweep["epoch_budget"]["chosen"])},
             "methods": {name[lab]: {"label": lab, "settings": dict(prof.methods[lab][1])} for lab in prof.methods},
             "compute_s": round(sum(r["train_s"] + r["eval_s"] + r["aa_s"] for r in rows), 1),
             "wall_s": round(time.perf_counter() - t0, 1)}
    record = write_record(path, rows, command=list(command), grids={}, extra=extra)
    record["path"] = str(path)
    return record


def full_power_difference(record: Mapping[str, Any], a: str, b: str, resamples: int = 2000,
                          metric: str = "autoattack") -> PairedDifference:
    """``b − a`` in AutoAttack (``metric="autoattack"``) or clean (``"clean"``) accuracy by the
    two-level paired bootstrap over the record's seeds and test points."""
    if metric not in ("autoattack", "clean"):
        raise ValueError(f"metric must be 'autoattack' or 'clean', got {metric!r}")
    rec = record if metric == "autoattack" else {
        **record, "rows": [{**r, "correct": r["clean_correct"]} for r in record["rows"]]}
    labels = {m: v["label"] for m, v in record["methods"].items()}
    return difference(rec, a, b, labels, resamples)


def check_slice(record: Union[str, Path, Mapping[str, Any]], records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Compare a build's chapter runs (``records``: :attr:`Experiment.records` of the chapter, every
    method; those of the record's methods and seeds are compared) with the record's rows of the same
    method and seed: the run key, and the change of clean and PGD-20 accuracy (test split) and of the
    AutoAttack accuracy on the run's slice. ``ok`` when every compared run has the record's key and no
    accuracy moved by more than :data:`SLICE_TOLERANCE` (AutoAttack: by more than one point of its
    slice). Returns ``{"compared", "keys_match", "max_clean_change", "max_pgd_change",
    "max_autoattack_change", "autoattack_tolerance", "tolerance", "same_numerics", "ok"}``."""
    rec = dict(record) if isinstance(record, Mapping) else read_record(record)
    labels = {v["label"]: m for m, v in rec["methods"].items()}
    rows = {(r["method"], int(r["seed"])): r for r in rec["rows"]}
    pairs = [(r, rows[(labels[r["method"]], int(r["seed"]))]) for r in records
             if r["method"] in labels and (labels[r["method"]], int(r["seed"])) in rows]
    if not pairs:
        raise ValueError("none of the build's runs is in the full-power record (other methods or seeds)")
    change = {k: max(abs(float(now[k]) - float(then[k])) for now, then in pairs) for k in ("clean_acc", "pgd_acc")}
    aa = max(abs(float(now["autoattack_acc"]) - float(then["slice_autoattack_acc"])) for now, then in pairs)
    aa_tol = max(SLICE_TOLERANCE, 1.0 / min(int(now.get("autoattack_n", now["n_test"])) for now, _ in pairs))
    keys = all(now["key"] == then["key"] for now, then in pairs)
    ok = keys and max(change.values()) <= SLICE_TOLERANCE + 1e-12 and aa <= aa_tol + 1e-12
    return {"compared": len(pairs), "keys_match": keys, "max_clean_change": change["clean_acc"],
            "max_pgd_change": change["pgd_acc"], "max_autoattack_change": aa, "autoattack_tolerance": aa_tol,
            "tolerance": SLICE_TOLERANCE, "same_numerics": same_numerics(rec), "ok": ok}


def finding(record: Mapping[str, Any], resamples: int = 2000) -> dict[str, Any]:
    """The full-power answer, in numbers and words: GKL against the sweep's strongest baseline on
    AutoAttack (and clean) accuracy.

    Returns ``{"diff": PairedDifference (AutoAttack), "clean": PairedDifference, "baseline",
    "accuracy": {method: {"autoattack": (mean, sd), "clean": (mean, sd)}}, "text"}``; ``text`` is
    generated from the record (:func:`gkl.experiments.full_power.finding_text`), whatever the outcome."""
    base = record["sweep"]["strongest_baseline"]
    d = full_power_difference(record, base, "gkl", resamples)
    clean = full_power_difference(record, base, "gkl", resamples, metric="clean")
    acc = {m: {"autoattack": mean_std([r["autoattack_acc"] for r in record["rows"] if r["method"] == m]),
               "clean": mean_std([r["clean_acc"] for r in record["rows"] if r["method"] == m])}
           for m in record["methods"]}
    meaning = {"ahead": "so on this task GKL buys robustness, by about that much",
               "behind": "so on this task GKL, as tuned here, costs robustness",
               "none": "so a robustness effect larger than that is unlikely here; a smaller one cannot be ruled out"}
    text = finding_text(d, len(record["seeds"]), int(record["test"]["points"]), "AutoAttack accuracy",
                        "AutoAttack points", "test points (the whole test split, each attacked with the standard "
                        "AutoAttack)", "the strongest baseline by validation PGD accuracy", meaning)
    interval = (f"95 % CI {clean.interval_text(100, 2)}" if clean.low is not None else clean.interval_text(100, 2))
    text += (f" On clean accuracy the same comparison gives {100 * clean.mean:+.2f} points ({interval}): "
             f"{clean.verdict}.")
    return {"diff": d, "clean": clean, "baseline": base, "accuracy": acc, "text": text}


def format_accuracy(record: Mapping[str, Any], found: Mapping[str, Any]) -> str:
    """A Markdown table of :func:`finding`'s accuracies: per method, AutoAttack on every test point and
    clean accuracy, in %, mean ± std over the record's seeds."""
    n = record["test"]["points"]
    lines = [f"| method | AutoAttack, all {n} test points (%) | clean (%) |", "|---|---|---|"]
    for m, v in found["accuracy"].items():
        (aa, aa_sd), (cl, cl_sd) = v["autoattack"], v["clean"]
        lines.append(f"| {label(m)} | {100 * aa:.2f} ± {100 * aa_sd:.2f} | {100 * cl:.2f} ± {100 * cl_sd:.2f} |")
    return "\n".join(lines)
