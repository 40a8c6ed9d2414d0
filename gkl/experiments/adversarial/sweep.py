r"""The adversarial-training tuning sweep: ``python -m gkl sweep adversarial``.

Protocol (every choice on a **validation part carved from the training split**, never the test set;
the profile's ``validation = (n, n_val)``, e.g. 1,137 + 300 digits images):

1. **Grid** (``stage="grid"``): every method gets the same number of configurations
   (:data:`GRIDS`, six each), trained for the profile's epochs with each of the sweep's seeds and
   evaluated after every epoch on the validation part: clean accuracy and PGD accuracy at the
   training :math:`\varepsilon` (the engine's per-epoch evaluation, PGD with ``eval_steps`` = 10
   steps of :math:`\varepsilon/4`, one random start). AutoAttack is too slow for a sweep of this
   size; PGD-10 ranks configurations, AutoAttack judges only the final, chosen models (a limitation,
   stated with the results). Each method's configuration is picked by
   :func:`gkl.experiments.adversarial.selection.choose_configs`.
2. **Epochs** (``stage="epochs"``): each chosen configuration trained for every budget of
   :data:`EPOCH_BUDGETS` (a cosine schedule is a function of the budget, so each budget is its own
   run), the per-epoch validation curves kept; the budget is
   :func:`gkl.experiments.adversarial.selection.plateau_budget`.

The loss settings that matter are tuned: TRADES :math:`\beta`; IKL :math:`\beta` and :math:`\alpha`;
GKL :math:`\beta`, :math:`\gamma` and the class prior on/off, one at a time around the released
point. PGD-AT has no loss setting, so its six configurations go to what shapes its training
instead: the step size of its training attack (``step_ratio`` × ε, 5 steps). Everything else (model,
optimiser, learning rate, ε schedule) is the profile's, the same for every method.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import torch

from gkl.data import get_dataset
from gkl.experiments.adversarial.profiles import PROFILES, Profile
from gkl.experiments.adversarial.selection import (
    CLEAN_DROP,
    PLATEAU_TOL,
    budget_scores,
    choose_configs,
    plateau_budget,
    strongest_baseline,
)
from gkl.experiments.cache import read_result
from gkl.experiments.record import compute_s, read_record, recorded_path, reuse_rows, same_numerics, write_record
from gkl.experiments.runner import default_workers, run_parallel
from gkl.methods.adversarial import train_adversarial
from gkl.training import default_runs_dir
from gkl.training.device import get_device

__all__ = ["METHOD_NAMES", "GRIDS", "EPOCH_BUDGETS", "RULES", "sweep_profile", "validate_one", "row_profile",
           "run_sweep"]

#: Label → registered method name.
METHOD_NAMES = {"PGD-AT": "pgd-at", "TRADES": "trades", "IKL": "ikl", "GKL": "gkl"}

#: Eight configurations per method (the first of each is the released / default setting). The first
#: six are the first round; the last two, a second round added after the first chose a setting at the
#: edge of its grid for IKL and GKL (β = 5 and β = 10, the smallest tried): for every method, two more
#: values of its main setting, beyond the edge where the first round's choice sat there, around the
#: choice otherwise. Both rounds are in the record; every method got the same number.
GRIDS: dict[str, list[dict[str, Any]]] = {
    "PGD-AT": [{"step_ratio": r} for r in (0.4, 0.2, 0.3, 0.5, 0.7, 1.0, 0.6, 0.85)],
    "TRADES": [{"beta": b} for b in (6.0, 1.0, 2.0, 4.0, 9.0, 12.0, 3.0, 5.0)],
    "IKL": [{"alpha": a, "beta": b} for a, b in ((4.0, 20.0), (4.0, 5.0), (4.0, 10.0), (4.0, 40.0),
                                                  (1.0, 20.0), (8.0, 20.0), (4.0, 2.5), (4.0, 1.25))],
    "GKL": [{"beta": b, "gamma": g, "use_prior": p} for b, g, p in (
        (20.0, 0.2, True), (10.0, 0.2, True), (40.0, 0.2, True), (20.0, 0.0, True), (20.0, 0.6, True),
        (20.0, 0.2, False), (5.0, 0.2, True), (2.5, 0.2, True))],
}

#: Epoch budgets of the epochs stage (the grid's budget is the profile's epochs, 10 on ``cpu``).
EPOCH_BUDGETS = (10, 15, 20, 30, 40, 60, 80, 100, 120)

#: The rules, in words, as the record states them.
RULES = {
    "validation": "validation part carved from the training split (profile.validation, split seed "
                  "profile.split_seed); never the test split",
    "score": "validation PGD accuracy at the training epsilon after the last epoch (engine evaluation: "
             "PGD, eval_steps steps of epsilon/4, one random start), mean over the sweep's seeds",
    "config": f"highest score among configurations whose mean validation clean accuracy is within "
              f"{100 * CLEAN_DROP:g} points of the method's best; ties: higher clean, then grid order",
    "epochs": f"smallest budget within {100 * PLATEAU_TOL:g} point of every method's best budget "
              "(one budget for all methods)",
    "baseline": "the strongest baseline is the better of PGD-AT / TRADES by validation score at the "
                "chosen budget",
}


def sweep_profile(profile: Union[str, Profile], label: str, config: Mapping[str, Any],
                  epochs: Optional[int] = None) -> Profile:
    """The profile of one validation run: ``label`` with ``config`` only, for ``epochs``."""
    base = PROFILES[profile] if isinstance(profile, str) else profile
    if base.validation is None:
        raise ValueError(f"profile {base.name!r} has no validation split: the sweep needs one")
    return base.replace(methods={label: (METHOD_NAMES[label], dict(config))},
                        epochs=int(epochs if epochs is not None else base.epochs))


def validate_one(profile: Profile, label: str, seed: int, runs_dir: Union[str, Path],
                 device: Optional[str] = None, threads: Optional[int] = 1) -> dict[str, Any]:
    """Train ``label`` of ``profile`` on the training part, evaluating every epoch on the validation
    part; cache and return ``{key, val_clean, val_pgd, curve_clean, curve_pgd, train_s}``.

    ``threads`` pins torch's CPU threads (1: results independent of what else runs)."""
    key = profile.key(label, seed)
    out = Path(runs_dir) / f"adversarial-sweep-{profile.name}" / key
    cached = read_result(out / "result.json", key)
    if cached is not None:
        return cached
    old = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        train_set, _, info = get_dataset(profile.dataset, profile.data_root)
        train_part, val_part = profile.split(train_set)
        t0 = time.perf_counter()
        _, history = train_adversarial(
            profile.dataset, profile.model, profile.adversarial_config(label), profile.train_config(seed, device),
            out, model_kwargs=profile.model_kwargs, overwrite=True, data=(train_part, val_part, info),
            normalize=profile.normalize)
        train_s = time.perf_counter() - t0
    finally:
        torch.set_num_threads(old)
    evaluated = [h for h in history if "robust_acc" in h]
    result = {"key": key, "val_clean": evaluated[-1]["clean_acc"], "val_pgd": evaluated[-1]["robust_acc"],
              "curve_epochs": [h["epoch"] for h in evaluated], "curve_clean": [h["clean_acc"] for h in evaluated],
              "curve_pgd": [h["robust_acc"] for h in evaluated], "train_s": train_s}
    (out / "result.json").write_text(json.dumps(result))
    return result


def _job(args: tuple) -> dict[str, Any]:
    row, profile_name, runs_dir, device = args
    prof = sweep_profile(profile_name, row["method"], row["config"], row["epochs"])
    threads = 1 if get_device(device).type == "cpu" else None  # one thread per CPU run; a GPU run keeps its own
    return {**row, **validate_one(prof, row["method"], row["seed"], runs_dir, device, threads)}


def _grid_rows(profile: Profile, seeds: Sequence[int]) -> list[dict[str, Any]]:
    return [{"stage": "grid", "method": label, "method_name": METHOD_NAMES[label], "config_id": i,
             "config": cfg, "seed": s, "epochs": profile.epochs}
            for label, grid in GRIDS.items() for i, cfg in enumerate(grid) for s in seeds]


def _epoch_rows(chosen: Mapping[str, Mapping[str, Any]], seeds: Sequence[int]) -> list[dict[str, Any]]:
    return [{"stage": "epochs", "method": label, "method_name": METHOD_NAMES[label], "config_id": c["config_id"],
             "config": c["config"], "seed": s, "epochs": e}
            for label, c in chosen.items() for e in EPOCH_BUDGETS for s in seeds]


def row_profile(record: Mapping[str, Any], row: Mapping[str, Any]) -> Profile:
    """The profile that re-creates recorded ``row`` (with :func:`validate_one`)."""
    return sweep_profile(record["profile"], row["method"], row["config"], row["epochs"])


def run_sweep(profile: str = "cpu", seeds: Sequence[int] = (0, 1), stage: str = "all",
              workers: Optional[int] = None, device: Optional[str] = None,
              out: Optional[Union[str, Path]] = None, command: Sequence[str] = (),
              runs_dir: Optional[Union[str, Path]] = None) -> dict[str, Any]:
    """Run the sweep's ``stage`` (``"grid"``, ``"epochs"`` or ``"all"``) and write the record.

    ``out`` ``None`` writes the recorded file of the package (``recorded_path("adversarial-<profile>")``).
    ``"epochs"`` alone takes the chosen configurations from the grid rows already in ``out`` and keeps
    the epoch rows it already holds (:func:`gkl.experiments.record.reuse_rows`): adding a budget
    trains only that budget. ``wall_s`` adds up the compute of every command that made the record. Runs
    are cached under ``runs_dir`` (default :func:`gkl.training.default_runs_dir`), one thread each.
    """
    if stage not in ("grid", "epochs", "all"):
        raise ValueError(f"stage must be grid, epochs or all, got {stage!r}")
    base = PROFILES[profile]
    sweep_profile(base, "GKL", {})  # fails early without a validation split
    path = Path(out) if out is not None else recorded_path(f"adversarial-{profile}")
    runs = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    seeds = tuple(seeds)
    workers = workers if workers is not None else default_workers(device)
    t0 = time.perf_counter()

    def run(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return run_parallel(_job, [(r, profile, runs, device) for r in rows], workers)

    previous = read_record(path) if stage == "epochs" else {"rows": [], "wall_s": 0.0}
    if stage in ("grid", "all"):
        grid = run(_grid_rows(base, seeds))
    else:
        grid = [r for r in previous["rows"] if r["stage"] == "grid"]
    chosen = choose_configs(grid)
    rows, reused = list(grid), 0
    if stage != "grid":  # stage "epochs" alone keeps the budgets the record already has, trains the new ones
        planned = _epoch_rows(chosen, seeds)
        # rows of another machine's numerics are re-run, not mixed in (same_numerics)
        old = [r for r in previous["rows"] if r["stage"] == "epochs"] if same_numerics(previous) else []
        kept, todo = reuse_rows(planned, old, ("method", "config_id", "config", "seed", "epochs"))
        fresh = dict(zip(todo, run([planned[i] for i in todo])))
        rows += [kept.get(i) or fresh[i] for i in range(len(planned))]
        reused = len(kept)
    extra: dict[str, Any] = {"profile": profile, "seeds": list(seeds), "stage": stage,
                             "validation": {"n_train": base.validation[0], "n_val": base.validation[1],
                                            "split_seed": base.split_seed, "epsilon": base.epsilon,
                                            "pgd_steps": base.adversarial_config("GKL").setup.eval_steps},
                             "grid_epochs": base.epochs, "budgets": list(EPOCH_BUDGETS), "rules": RULES,
                             "chosen": chosen, "runs": len(rows), "reused_rows": reused,
                             # the compute of every run in the record, over the commands that made it
                             "wall_s": (float(previous.get("wall_s", 0.0)) if reused else 0.0) + time.perf_counter() - t0,
                             "compute_s": compute_s(rows, ("key",))}
    if stage != "grid":
        scores = budget_scores(rows)
        chosen_e = plateau_budget(scores)
        extra["epochs"] = {"chosen": chosen_e, "scores": scores, "tolerance": PLATEAU_TOL,
                           "plateau_reached": chosen_e < max(EPOCH_BUDGETS)}
        extra["strongest_baseline"] = strongest_baseline(scores, chosen_e)
    record = write_record(path, rows, command=command, grids=GRIDS, extra=extra)
    record["path"] = str(path)
    return record
