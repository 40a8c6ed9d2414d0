r"""The adversarial-training tuning sweep (``python -m gkl sweep adversarial``): the adversarial-training
:class:`~gkl.experiments.protocol.SweepSpec` of the shared protocol (:mod:`gkl.experiments.protocol`).

Every choice is made on a **validation part carved from the training split**, never the test set (the
profile's ``validation = (n, n_val)``, e.g. 1,137 + 300 digits images). The score is the validation
PGD accuracy at the training :math:`\varepsilon` after the last epoch (the engine's per-epoch
evaluation: PGD with ``eval_steps`` = 10 steps of :math:`\varepsilon/4`, one random start), guarded
by clean accuracy: a configuration more than :data:`CLEAN_DROP` (10 points) below its method's best
clean accuracy is not chosen. AutoAttack is too slow for a sweep of this size; PGD-10 ranks
configurations, AutoAttack judges only the final, chosen models (a limitation, stated with the
results). Epochs: the ``joint`` plateau rule, the smallest budget within :data:`PLATEAU_TOL` (1 point)
of every method's best.

The loss settings that matter are tuned: TRADES :math:`\beta`; IKL :math:`\beta` and :math:`\alpha`;
GKL :math:`\beta`, :math:`\gamma` and the class prior on/off, one at a time around the released
point. PGD-AT has no loss setting, so its configurations go to what shapes its training instead: the
step size of its training attack (``step_ratio`` × ε, 5 steps). Everything else (model, optimiser,
learning rate, ε schedule) is the profile's, the same for every method.
"""

from __future__ import annotations

import json
import time
from functools import partial
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import torch

from gkl.data import get_dataset
from gkl.experiments import protocol
from gkl.experiments.adversarial.profiles import PROFILES, Profile
from gkl.experiments.cache import read_result, run_folder
from gkl.experiments.runner import default_workers, run_parallel
from gkl.methods.adversarial import ADVERSARIAL, train_adversarial
from gkl.training import default_runs_dir
from gkl.training.device import get_device

__all__ = ["GRIDS", "EPOCH_BUDGETS", "CLEAN_DROP", "PLATEAU_TOL", "BASELINES", "RULES", "SPEC", "sweep_profile",
           "validate_one", "row_profile", "run_sweep"]

#: Eight configurations per method (the first of each is the released / default setting). The first
#: six are the first round; the last two, a second round added after the first chose a setting at the
#: edge of its grid for IKL and GKL (β = 5 and β = 10, the smallest tried): for every method, two more
#: values of its main setting, beyond the edge where the first round's choice sat there, around the
#: choice otherwise. Both rounds are in the record; every method got the same number.
GRIDS: dict[str, list[dict[str, Any]]] = {
    "pgd-at": [{"step_ratio": r} for r in (0.4, 0.2, 0.3, 0.5, 0.7, 1.0, 0.6, 0.85)],
    "trades": [{"beta": b} for b in (6.0, 1.0, 2.0, 4.0, 9.0, 12.0, 3.0, 5.0)],
    "ikl": [{"alpha": a, "beta": b} for a, b in ((4.0, 20.0), (4.0, 5.0), (4.0, 10.0), (4.0, 40.0),
                                                  (1.0, 20.0), (8.0, 20.0), (4.0, 2.5), (4.0, 1.25))],
    "gkl": [{"beta": b, "gamma": g, "use_prior": p} for b, g, p in (
        (20.0, 0.2, True), (10.0, 0.2, True), (40.0, 0.2, True), (20.0, 0.0, True), (20.0, 0.6, True),
        (20.0, 0.2, False), (5.0, 0.2, True), (2.5, 0.2, True))],
}

#: Epoch budgets of the epochs stage (the grid's budget is the profile's epochs, 10 on ``cpu``).
EPOCH_BUDGETS = (10, 15, 20, 30, 40, 60, 80, 100, 120)
#: A configuration whose mean validation clean accuracy is more than this below the method's best is
#: not chosen (robustness bought by a collapsed classifier).
CLEAN_DROP = 0.10
#: The plateau tolerance of the epoch rule (1 point of validation PGD accuracy).
PLATEAU_TOL = 0.01
#: The baselines GKL is compared with in the headline (the strongest by validation PGD accuracy).
BASELINES = ("pgd-at", "trades")

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


def sweep_profile(profile: Union[str, Profile], method: str, settings: Mapping[str, Any],
                  epochs: Optional[int] = None) -> Profile:
    """The profile of one validation run: registered ``method`` with ``settings`` only, for ``epochs``
    (keyed by the method's registry label, as the chapter's profiles are)."""
    base = PROFILES[profile] if isinstance(profile, str) else profile
    if base.validation is None:
        raise ValueError(f"profile {base.name!r} has no validation split: the sweep needs one")
    prof = base.replace(methods={ADVERSARIAL[method].label: (method, dict(settings))})
    return prof if epochs is None else prof.with_epochs(epochs)


def validate_one(profile: Profile, label: str, seed: int, runs_dir: Union[str, Path],
                 device: Optional[str] = None, threads: Optional[int] = 1) -> dict[str, Any]:
    """Train ``label`` of ``profile`` on the training part, evaluating every epoch on the validation
    part; cache and return ``{key, val_clean, val_pgd, curves, train_s}``.

    ``threads`` pins torch's CPU threads (1: results independent of what else runs)."""
    key = profile.key(label, seed)
    out = run_folder(runs_dir, "adversarial", f"{profile.name}-val", profile.adversarial_config(label).name, seed, key)
    cached = read_result(out / "result.json", key)
    if cached is not None and "curves" in cached:
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
              "curves": {"epoch": [h["epoch"] for h in evaluated], "val_clean": [h["clean_acc"] for h in evaluated],
                         "val_pgd": [h["robust_acc"] for h in evaluated]}, "train_s": train_s}
    (out / "result.json").write_text(json.dumps(result))
    return result


def _job(args: tuple) -> dict[str, Any]:
    row, settings, base, runs_dir, device = args
    prof = sweep_profile(base, row["method"], settings, row["epochs"])
    threads = 1 if get_device(device).type == "cpu" else None  # one thread per CPU run; a GPU run keeps its own
    return {**row, **validate_one(prof, ADVERSARIAL[row["method"]].label, row["seed"], runs_dir, device, threads)}


def _run_rows(base: Profile, rows: Sequence[Mapping[str, Any]], grids: Mapping[str, Any], workers: int,
              device: Optional[str], runs_dir: Optional[Union[str, Path]]) -> list[dict[str, Any]]:
    runs = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    settings = [protocol.grid_entry(grids[r["method"]][int(r["config_id"])])[0] for r in rows]
    return run_parallel(_job, [(dict(r), s, base, runs, device) for r, s in zip(rows, settings)], workers)


def row_profile(record: Mapping[str, Any], row: Mapping[str, Any]) -> Profile:
    """The profile that re-creates recorded ``row`` (with :func:`validate_one`)."""
    settings = record["grids"][row["method"]][int(row["config_id"])]["settings"]
    return sweep_profile(record["profile"], row["method"], settings, row["epochs"])


def _describe(base: Profile) -> dict[str, Any]:
    sweep_profile(base, "gkl", {})  # fails early without a validation split
    return {"n_train": base.validation[0], "n_val": base.validation[1], "split_seed": base.split_seed,
            "epsilon": base.epsilon, "pgd_steps": base.adversarial_config("GKL").setup.eval_steps}


def _entry_config(base: Profile, method: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    prof = sweep_profile(base.replace(validation=base.validation or (1, 1)), method, protocol.grid_entry(entry)[0])
    return prof.adversarial_config(ADVERSARIAL[method].label).to_dict()


SPEC = protocol.SweepSpec(
    task="adversarial", registry=ADVERSARIAL, grids=GRIDS, budgets=EPOCH_BUDGETS, tolerance=PLATEAU_TOL,
    plateau="joint", baselines=BASELINES, score="val_pgd", guard="val_clean", guard_drop=CLEAN_DROP, rules=RULES,
    profiles=PROFILES, run_rows=_run_rows, describe=_describe,
    entry_config=_entry_config, default_workers=default_workers,
)

#: ``run_sweep(profile="cpu", seeds=(0, 1), stage="all", workers=None, device=None, out=None, command=(),
#: runs_dir=None)``: :func:`gkl.experiments.protocol.run_sweep` with :data:`SPEC`.
run_sweep = partial(protocol.run_sweep, SPEC)
