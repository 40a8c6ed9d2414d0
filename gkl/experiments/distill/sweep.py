r"""The distillation chapters' tuning sweep (``python -m gkl sweep distill``): every method gets the
same number of configurations, chosen on a validation split, then an epoch budget read off the
validation learning curves.

**Validation split.** The students train on the profile's ``train_subset`` (2,000 of the 4,000
mnist1d training samples, exactly the samples of the chapters' runs); :data:`VALIDATION` = 1,000
further training samples, disjoint from them (:meth:`gkl.data.TensorDataset.split`), are the only
data any choice looks at. The test split is never touched. (The teacher was trained on all 4,000
training samples, so it has seen the validation samples; only the students' choices are made here.)

**Equal tuning budget.** :data:`GRIDS` gives every method the same number of configurations
(:data:`GRID_SIZE`), each a change of the profile's method config (``distill``) and/or of its
training settings (``train``: the student alone has no distillation hyper-parameter, so its budget
goes to its learning rate — the conservative choice, a tuned baseline). Stage ``grid`` trains each
configuration for each sweep seed at the profile's epochs; :func:`choose_configs` picks, per method,
the configuration with the highest mean validation accuracy :math:`\bar a_c = \frac1S\sum_s a_{c,s}`
(ties: the first in grid order).

**Trained to convergence.** Stage ``epochs`` trains each method's chosen configuration for every
budget :math:`E \in` :data:`BUDGETS` (cosine schedule over :math:`E` epochs), recording the
per-epoch validation curves. :func:`plateau_budget` applies the stated rule: per method, the
smallest budget whose mean validation accuracy is within :data:`TOLERANCE` (0.5 points) of that
method's best budget,

.. math:: E_m = \min\{E : \bar a_m(E) \ge \max_{E'} \bar a_m(E') - \tau\},

and the budget of every method is :math:`\max_m E_m`, so all train equally long and each has
plateaued by its own rule. If that is the largest budget tried, the record says so (no plateau
demonstrated within the budgets).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import torch

from gkl.experiments import smoke
from gkl.experiments.distill.profiles import PROFILES, Profile
from gkl.experiments.distill.runs import _run_cached, run_method
from gkl.experiments.record import compute_s, read_record, recorded_path, reuse_rows, same_numerics, write_record
from gkl.experiments.runner import run_parallel
from gkl.methods.distill import DISTILLERS, DistillConfig

__all__ = ["VALIDATION", "BUDGETS", "TOLERANCE", "GRID_SIZE", "GRIDS", "validation_profile", "grid_configs",
           "choose_configs", "plateau_budget", "run_sweep", "tuned_profile", "chosen_table", "curves", "budget_means", "strongest_baseline"]

#: Validation samples carved from the training data (after the students' ``train_subset``).
VALIDATION = 1000
#: Epoch budgets of the ``epochs`` stage (each a full cosine schedule).
BUDGETS: tuple[int, ...] = (30, 60, 90, 120, 150)
#: Plateau tolerance (accuracy, 0.005 = 0.5 points).
TOLERANCE = 0.005
#: Configurations per method (the same for every method): a first round of four, then two more per
#: method, added after the first round chose a setting at the edge of its grid (the student alone's
#: largest lr, KD's smallest T, GKL's smallest β): beyond the edge where the choice sat there, around
#: it otherwise (DKD's β; IKL's β at the chosen T2 = 4). Both rounds are in the record.
GRID_SIZE = 6

#: The grids: method -> configurations. Each configuration holds ``distill`` (changes of the
#: profile's method config) and/or ``train`` (changes of its training settings); the first of each
#: method is the profile's current setting.
GRIDS: dict[str, list[dict[str, dict[str, Any]]]] = {
    "none": [{"train": {"lr": lr}} for lr in (3e-3, 1.5e-3, 6e-3, 1.2e-2, 2.4e-2, 4.8e-2)],
    "kd": [{"distill": {"temperature": t, "kd_weight": w}} for t, w in ((4.0, 1.0), (2.0, 1.0), (8.0, 1.0), (4.0, 3.0),
                                                                         (1.0, 1.0), (2.0, 3.0))],
    "dkd": [{"distill": {"beta": b}} for b in (2.0, 1.0, 4.0, 8.0, 1.5, 3.0)],
    "ikl": [{"distill": {"beta": b, "weight_temperature": t2}} for b, t2 in ((4.0, 100.0), (1.0, 100.0), (0.25, 100.0),
                                                                               (1.0, 4.0), (0.25, 4.0), (4.0, 4.0))],
    "gkl": [{"distill": {"beta": b, "gamma": 0.2, "prior": p}} for b, p in ((4.0, True), (1.0, True), (0.25, True),
                                                                              (1.0, False), (0.125, True), (0.0625, True))],
}
assert all(len(g) == GRID_SIZE for g in GRIDS.values()), "every method gets the same tuning budget"


def validation_profile(base: Profile, epochs: Optional[int] = None) -> Profile:
    """``base`` evaluated on :data:`VALIDATION` held-out training samples (own cache folder)."""
    train = dict(base.train) if epochs is None else {**dict(base.train), "epochs": int(epochs)}
    return base.replace(name=f"{base.name}-val", validation=VALIDATION, train=train)


def grid_configs(base: Profile, method: str) -> list[tuple[DistillConfig, dict[str, Any]]]:
    """``(config, train overrides)`` of every grid entry of ``method`` around ``base.methods[method]``."""
    cfg = base.methods[method]
    return [(cfg.replace(**e.get("distill", {})), dict(e.get("train", {}))) for e in GRIDS[method]]


def _with_overrides(profile: Profile, method: str, train: Mapping[str, Any]) -> Profile:
    return profile.replace(train_overrides={method: dict(train)}) if train else profile


def _label(method: str) -> str:
    return DISTILLERS[method].label


def _run_all(tasks: list[tuple], workers: int) -> None:
    """Train every ``(profile, config, seed, kw)`` into the cache: in this process with one torch
    thread (as the ``workers`` processes of :func:`gkl.experiments.runner.run_parallel` are), so a
    recorded number does not depend on ``workers`` nor on the machine's core count."""
    if workers > 1:
        run_parallel(_run_cached, tasks, workers)
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for t in tasks:
            _run_cached(t)
    finally:
        torch.set_num_threads(old)


def _train_s(result: Any) -> float:
    """A run's own training time (the engine's per-epoch ``time_s``, evaluation excluded)."""
    return round(sum(float(h.get("time_s", 0.0)) for h in result.history), 2)


def _grid_stage(base: Profile, seeds: Sequence[int], workers: int, kw: dict[str, Any]) -> list[dict[str, Any]]:
    """Stage ``grid``: every configuration of every method, every seed; one row per run."""
    vprof = validation_profile(base)
    jobs = [(m, i, _with_overrides(vprof, m, tr), cfg) for m in GRIDS
            for i, (cfg, tr) in enumerate(grid_configs(base, m))]
    _run_all([(p, cfg, s, kw) for _, _, p, cfg in jobs for s in seeds], workers)
    rows = []
    for m, i, p, cfg in jobs:
        for s in seeds:
            r = run_method(p, cfg, s, **kw)
            rows.append({"stage": "grid", "method": m, "label": _label(m), "config_id": i, "seed": int(s),
                         "epochs": int(p.train["epochs"]), "val_acc": r.val_acc, "train_s": _train_s(r)})
    return rows


def choose_configs(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per method, the grid configuration with the highest mean validation accuracy over seeds
    (ties: the lowest ``config_id``). Returns method -> ``{"config_id", "val_mean", "n"}``."""
    acc: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        if r.get("stage", "grid") == "grid":
            acc.setdefault((r["method"], int(r["config_id"])), []).append(float(r["val_acc"]))
    best: dict[str, dict[str, Any]] = {}
    for (m, i), v in sorted(acc.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        mean = sum(v) / len(v)
        if m not in best or mean > best[m]["val_mean"]:
            best[m] = {"config_id": i, "val_mean": mean, "n": len(v)}
    return best


def plateau_budget(means: Mapping[str, Mapping[int, float]], tolerance: float = TOLERANCE) -> dict[str, Any]:
    """The plateau rule of the module docstring on ``means[method][budget]`` (mean validation
    accuracy). Returns ``{"per_method": {m: E_m}, "chosen": max_m E_m, "plateau_reached": bool}``:
    ``plateau_reached`` is false when the chosen budget is the largest tried (longer might help)."""
    if not means:
        raise ValueError("plateau_budget needs at least one method")
    per = {}
    for m, by_budget in means.items():
        best = max(by_budget.values())
        per[m] = min(int(b) for b, a in by_budget.items() if a >= best - tolerance)
    chosen = max(per.values())
    largest = max(int(b) for by in means.values() for b in by)
    return {"per_method": per, "chosen": chosen, "plateau_reached": chosen < largest}


def _epochs_stage(base: Profile, chosen: Mapping[str, Mapping[str, Any]], seeds: Sequence[int], workers: int,
                  kw: dict[str, Any], recorded: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """Stage ``epochs``: each method's chosen configuration at every budget; rows with the curves.
    Runs already among the ``recorded`` rows (same method, configuration, seed and budget) are kept,
    not re-trained (:func:`gkl.experiments.record.reuse_rows`)."""
    jobs = []
    for m, c in chosen.items():
        cfg, tr = grid_configs(base, m)[int(c["config_id"])]
        prof = {e: _with_overrides(validation_profile(base, e), m, tr) for e in BUDGETS}
        jobs += [({"stage": "epochs", "method": m, "label": _label(m), "config_id": int(c["config_id"]),
                   "seed": int(s), "epochs": e}, prof[e], cfg) for e in BUDGETS for s in seeds]
    kept, todo = reuse_rows([row for row, _, _ in jobs], recorded, ("method", "config_id", "seed", "epochs"))
    _run_all([(jobs[i][1], jobs[i][2], jobs[i][0]["seed"], kw) for i in todo], workers)
    rows = []
    for i, (row, p, cfg) in enumerate(jobs):
        if i in kept:
            rows.append(kept[i])
            continue
        r = run_method(p, cfg, row["seed"], **kw)
        rows.append({**row, "val_acc": r.val_acc, "curve": [float(h["val_acc"]) for h in r.history],
                     "train_s": _train_s(r)})
    return rows


def budget_means(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[int, float]]:
    """method -> epoch budget -> mean validation accuracy over seeds (the ``epochs`` stage's rows)."""
    acc: dict[str, dict[int, list[float]]] = {}
    for r in rows:
        if r["stage"] == "epochs":
            acc.setdefault(r["method"], {}).setdefault(int(r["epochs"]), []).append(float(r["val_acc"]))
    return {m: {e: sum(v) / len(v) for e, v in by.items()} for m, by in acc.items()}


def _grids_data(base: Profile) -> dict[str, Any]:
    """The grids as written into the record: the changes and the full config of every entry."""
    return {m: [{"config_id": i, **{k: dict(v) for k, v in e.items()}, "config": cfg.to_dict()}
                for i, (e, (cfg, _)) in enumerate(zip(GRIDS[m], grid_configs(base, m)))] for m in GRIDS}


def run_sweep(profile: str = "cpu", seeds: Sequence[int] = (0, 1), stage: str = "all", workers: Optional[int] = None,
              device: Optional[str] = None, out: Optional[Union[str, Path]] = None,
              command: Sequence[str] = (), runs_dir: Optional[Union[str, Path]] = None) -> dict[str, Any]:
    """Run stage ``grid``, ``epochs`` or ``all`` of the sweep on profile ``profile`` and write the record
    (default: the recorded file ``distill-<profile>``). Stage ``epochs`` alone takes the grid rows and
    choices from the existing record at ``out`` and keeps its epoch rows, training only budgets (or
    seeds) it lacks. Returns the record (with its ``path``)."""
    if stage not in ("grid", "epochs", "all"):
        raise ValueError(f"stage must be grid, epochs or all, got {stage!r}")
    base = PROFILES[profile]
    path = Path(out) if out is not None else recorded_path(f"distill-{profile}")
    kw: dict[str, Any] = {"device": device, "runs_dir": runs_dir}
    workers = 1 if workers is None else int(workers)
    started = time.perf_counter()
    previous: dict[str, Any] = {"rows": [], "wall_s": 0.0}
    if stage == "epochs":
        previous = read_record(path)
        grid_rows = [r for r in previous["rows"] if r["stage"] == "grid"]
    else:
        grid_rows = _grid_stage(base, seeds, workers, kw)
    chosen = choose_configs(grid_rows)
    extra: dict[str, Any] = {
        "profile": profile, "base_profile": base.name, "validation": VALIDATION, "train_subset": base.train_subset,
        "seeds": [int(s) for s in seeds], "grid_size": GRID_SIZE, "grid_epochs": int(base.train["epochs"]),
        "chosen": {m: {**c, **GRIDS[m][c["config_id"]]} for m, c in chosen.items()},
    }
    rows, old = list(grid_rows), []
    if stage != "grid":
        # rows of another machine's numerics are re-run, not mixed in (same_numerics)
        old = [r for r in previous["rows"] if r["stage"] == "epochs"] if previous["rows"] and same_numerics(previous) else []
        epoch_rows = _epochs_stage(base, chosen, seeds, workers, kw, old)
        rows += epoch_rows
        means = budget_means(epoch_rows)
        extra["epoch_budget"] = {"budgets": list(BUDGETS), "tolerance": TOLERANCE, "means": means,
                                 **plateau_budget(means)}
    # the compute of every run in the record, over the commands that made it (stage epochs keeps rows)
    reused = stage == "epochs" and bool(old)
    extra["wall_s"] = round((float(previous.get("wall_s", 0.0)) if reused else 0.0) + time.perf_counter() - started, 1)
    extra["runs"] = len(rows)
    extra["compute_s"] = compute_s(rows, ("method", "config_id", "seed", "epochs"))
    record = write_record(path, rows, command=list(command), grids=_grids_data(base), extra=extra)
    record["path"] = str(path)
    return record


def tuned_profile(profile: str = "cpu", seeds: Sequence[int] = (0, 1, 2, 3, 4),
                  record: Optional[Union[str, Path, Mapping[str, Any]]] = None) -> Profile:
    """The chapters' profile built from the recorded sweep: each method's chosen configuration (and
    training overrides), the chosen epoch budget, ``seeds``, evaluated on the **test** set. A
    re-recorded sweep changes the chapters without code edits. With ``GKL_SMOKE`` set, the profile is
    shrunk to a smoke run (:mod:`gkl.experiments.smoke`)."""
    if isinstance(record, Mapping):
        rec = dict(record)
    else:
        rec = read_record(record if record is not None else f"distill-{profile}")
    base = PROFILES[rec.get("profile", profile)]
    if "epoch_budget" not in rec:
        raise ValueError("the recorded sweep has no epoch budget: run its 'epochs' stage")
    methods, overrides = {}, {}
    for m in base.methods:
        if m not in rec["chosen"]:
            continue
        entry = rec["grids"][m][int(rec["chosen"][m]["config_id"])]
        methods[m] = DISTILLERS.from_dict(entry["config"])
        if entry.get("train"):
            overrides[m] = dict(entry["train"])
    # a checkpoint every 10 epochs, not every epoch: results are the same, a killed run loses < 10 epochs
    train = {**dict(base.train), "epochs": int(rec["epoch_budget"]["chosen"]), "checkpoint_every": 10}
    tuned = base.replace(methods=methods, train=train, train_overrides=overrides, seeds=tuple(int(s) for s in seeds))
    return smoke.distill(tuned)  # unchanged unless GKL_SMOKE is set (gkl.experiments.smoke)


def chosen_table(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows ``method | grid | chosen | validation mean`` for the chapters (values as in the record)."""
    out = []
    for m, entries in record["grids"].items():
        fmt = lambda e: ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"  # noqa: E731
                                  for part in ("distill", "train") for k, v in e.get(part, {}).items())
        c = record["chosen"][m]
        out.append({"method": DISTILLERS[m].label, "grid (changes of the base setting)": "; ".join(fmt(e) for e in entries),
                    "chosen": fmt(entries[int(c["config_id"])]), "validation acc (%)": f"{100 * c['val_mean']:.2f}"})
    return out


def curves(record: Mapping[str, Any]) -> dict[str, dict[int, list[list[float]]]]:
    """method -> budget -> the per-seed validation curves of the ``epochs`` stage."""
    out: dict[str, dict[int, list[list[float]]]] = {}
    for r in record["rows"]:
        if r["stage"] == "epochs":
            out.setdefault(r["method"], {}).setdefault(int(r["epochs"]), []).append(list(r["curve"]))
    return out


def strongest_baseline(record: Mapping[str, Any], candidates: Sequence[str] = ("none", "kd", "dkd")) -> str:
    """The baseline with the highest mean **validation** accuracy of its chosen configuration at the
    chosen epoch budget (the ``epochs`` stage; without it, the grid stage). Never the test set."""
    means = budget_means(record["rows"])
    if means and "epoch_budget" in record:
        e = int(record["epoch_budget"]["chosen"])
        score = {m: means[m][e] for m in candidates if m in means}
    else:
        score = {m: float(record["chosen"][m]["val_mean"]) for m in candidates if m in record["chosen"]}
    if not score:
        raise ValueError(f"none of {', '.join(candidates)} is in the recorded sweep")
    return max(score, key=lambda m: (score[m], -list(candidates).index(m)))
