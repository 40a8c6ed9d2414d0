r"""The distillation chapters' tuning sweep (``python -m gkl sweep distill``): the distillation
:class:`~gkl.experiments.protocol.SweepSpec` of the shared protocol (:mod:`gkl.experiments.protocol`).

**Validation split.** The students train on the profile's ``train_subset`` (2,000 of the 4,000
mnist1d training samples, exactly the samples of the chapters' runs); :data:`VALIDATION` = 1,000
further training samples, disjoint from them (:meth:`gkl.data.TensorDataset.split`), are the only
data any choice looks at. The test split is never touched. (The teacher was trained on all 4,000
training samples, so it has seen the validation samples; only the students' choices are made here.)

**Equal tuning budget, each method's own knobs.** Round 1 (:data:`GRIDS`) gives every method
:data:`GRID_SIZE` configurations of its own settings (GKL: γ ∈ {0, 0.2, 0.5, 1} at two β, then T
and α; KD: T × weight; DKD: β × T; IKL: β × T2, then T and α; the student alone, which has no
distillation setting: its learning rate). Round 2 (:data:`REFINE`) gives every method
:data:`REFINE_SIZE` more around its round-1 choice: the learning rates :data:`LRS` for every
distiller, the weight decay for the student alone. The score is the validation accuracy after the
last epoch (``val_acc``), no guard; the grid ranks at the profile's 60 epochs and the
:data:`RERANK` best of each method are re-ranked at the chosen budget.

**Trained to convergence.** Every chosen configuration trains for every budget of :data:`BUDGETS`
(cosine schedule over :math:`E` epochs); the ``per-method`` plateau rule with :data:`TOLERANCE` =
0.5 points: per method the smallest budget within 0.5 points of its best, and every method trains
the largest of these, so all train equally long and each has plateaued by its own rule.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import torch

from gkl.experiments import protocol, smoke
from gkl.experiments.distill.profiles import PROFILES, Profile, method_config
from gkl.experiments.distill.runs import _run_cached, run_method
from gkl.experiments.profile import CHAPTER_SEEDS, RELEASED, recorded_source, recorded_sweep
from gkl.experiments.runner import default_workers, run_parallel
from gkl.methods.distill import DISTILLERS, DistillConfig

__all__ = ["VALIDATION", "BUDGETS", "TOLERANCE", "GRID_SIZE", "REFINE_SIZE", "GRIDS", "REFINE", "LRS", "RERANK",
           "BASELINES", "RULES", "SPEC",
           "validation_profile", "grid_configs", "run_sweep", "tuned_profile", "chosen_table"]

#: Validation samples carved from the training data (after the students' ``train_subset``).
VALIDATION = 1000
#: Epoch budgets of the ``epochs`` stage (each a full cosine schedule).
BUDGETS: tuple[int, ...] = (30, 60, 90, 120, 150)
#: Plateau tolerance (accuracy, 0.005 = 0.5 points).
TOLERANCE = 0.005
#: The baselines GKL is compared with (the strongest by validation accuracy).
BASELINES = ("none", "kd", "dkd")

#: Learning rates of the second round, for every distiller (the profile's lr, 3e-3, is the first round's).
LRS = (1.5e-3, 6e-3, 1.2e-2, 2.4e-2)

#: The first round: method name -> configurations (method settings; ``"train"``: training changes),
#: twelve each, every method's own knobs: the student alone its learning rate; KD its temperature T
#: and weight; DKD its β and T; IKL its β, T2, T and α; GKL its γ ∈ {0, 0.2, 0.5, 1} at two β (KL's
#: wMSE balance, (β/α)·T² = 1, and 8× it), then T and α.
GRIDS: dict[str, list[dict[str, Any]]] = {
    "none": [{"train": {"lr": lr}} for lr in (5e-4, 7.5e-4, 1e-3, 1.5e-3, 2e-3, 3e-3, 4e-3, 6e-3, 8e-3, 1.2e-2,
                                              2.4e-2, 4.8e-2)],
    "kd": [{"temperature": t, "kd_weight": w} for t in (1.0, 2.0, 4.0, 8.0) for w in (0.5, 1.0, 3.0)],
    "dkd": [{"beta": b, "temperature": t} for b in (1.0, 2.0, 4.0, 8.0) for t in (2.0, 4.0, 8.0)],
    "ikl": [{"beta": b, "weight_temperature": t2} for b in (0.0625, 0.25, 1.0, 4.0) for t2 in (4.0, 100.0)]
    + [{"beta": 1.0, "weight_temperature": 4.0, "temperature": t} for t in (2.0, 8.0)]
    + [{"beta": 1.0, "weight_temperature": 4.0, "alpha": a} for a in (0.5, 2.0)],
    "gkl": [{"beta": b, "gamma": g, "prior": True} for b in (0.0625, 0.5) for g in (0.0, 0.2, 0.5, 1.0)]
    + [{"beta": 0.0625, "gamma": 0.2, "prior": True, "temperature": t} for t in (2.0, 8.0)]
    + [{"beta": 0.0625, "gamma": 0.2, "prior": True, "alpha": a} for a in (0.5, 2.0)],
}
#: The second round, around each method's first-round choice: the learning rates :data:`LRS` for every
#: distiller; the student alone, whose first round was its learning rate, gets its weight decay.
REFINE: dict[str, list[dict[str, Any]]] = {
    **{m: [{"train": {"lr": lr}} for lr in LRS] for m in ("kd", "dkd", "ikl", "gkl")},
    "none": [{"train": {"weight_decay": wd}} for wd in (0.0, 3e-4, 1e-3, 3e-3)],
}
#: Configurations per method in each round (the same for every method; the protocol checks it).
GRID_SIZE = 12
REFINE_SIZE = 4
#: Each method's best configurations re-ranked at the chosen epoch budget.
RERANK = 3

RULES = {
    "validation": f"{VALIDATION} training samples disjoint from the students' training subset; never the test split",
    "score": "validation accuracy after the last epoch, mean over the sweep's seeds",
    "grid": f"round 1: {GRID_SIZE} configurations of each method's own settings at the profile's learning rate; "
            f"round 2: {REFINE_SIZE} more around each method's round-1 choice (learning rates for every distiller, "
            "weight decay for the student alone); both rounds ranked together",
    "config": "highest score; ties: the earlier configuration of the grid",
    "rerank": f"each method's {RERANK} best grid configurations trained again at the chosen budget; the best "
              "there is the final choice",
    "epochs": f"per method the smallest budget within {100 * TOLERANCE:g} points of its best; every method "
              "trains the largest of these",
    "baseline": "the strongest baseline is the best of " + ", ".join(BASELINES) + " by validation score at the "
                "chosen budget",
}


def validation_profile(base: Profile, epochs: Optional[int] = None) -> Profile:
    """``base`` evaluated on :data:`VALIDATION` held-out training samples (own cache folder)."""
    prof = base.replace(name=f"{base.name}-val", validation=VALIDATION)
    return prof if epochs is None else prof.with_epochs(epochs)


def grid_configs(base: Profile, method: str, grids: Optional[Mapping[str, Sequence[Mapping[str, Any]]]] = None
                 ) -> list[tuple[DistillConfig, dict[str, Any]]]:
    """``(config, train changes)`` of every grid entry of ``method`` (``grids``, default :data:`GRIDS`)
    around its config in ``base``."""
    cfg = method_config(base, method)
    return [(cfg.replace(**s), t) for s, t in map(protocol.grid_entry, (grids or GRIDS)[method])]


def _run_profile(base: Profile, row: Mapping[str, Any], grids: Mapping[str, Any]) -> tuple[Profile, DistillConfig]:
    cfg, train = grid_configs(base, row["method"], grids)[int(row["config_id"])]
    prof = validation_profile(base, row["epochs"])
    return (prof.replace(train_overrides={row["method"]: train}) if train else prof), cfg


def _run_rows(base: Profile, rows: Sequence[Mapping[str, Any]], grids: Mapping[str, Any], workers: int,
              device: Optional[str], runs_dir: Optional[Union[str, Path]]) -> list[dict[str, Any]]:
    """Train every planned row into the run cache, then read each back: its validation accuracy, its
    curve (epochs stage) and its own training time. Runs use one torch thread, in this process or in
    ``workers`` processes, so a recorded number depends on neither ``workers`` nor the core count."""
    kw: dict[str, Any] = {"device": device, "runs_dir": runs_dir}
    jobs = [_run_profile(base, r, grids) for r in rows]
    tasks = [(p, c, int(r["seed"]), kw) for (p, c), r in zip(jobs, rows)]
    if workers > 1:
        run_parallel(_run_cached, tasks, workers)
    else:
        old = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for t in tasks:
                _run_cached(t)
        finally:
            torch.set_num_threads(old)
    out = []
    for (p, c), r in zip(jobs, rows):
        res = run_method(p, c, int(r["seed"]), **kw)
        row = {**r, "val_acc": res.val_acc}
        if r["stage"] == "epochs":
            row["curves"] = {"epoch": [int(h["epoch"]) for h in res.history],
                             "val_acc": [float(h["val_acc"]) for h in res.history]}
        # the engine's per-epoch time_s: the run's own training time, evaluation excluded
        out.append({**row, "train_s": round(sum(float(h.get("time_s", 0.0)) for h in res.history), 2)})
    return out


def _describe(base: Profile) -> dict[str, Any]:
    if base.train_subset is None:
        raise ValueError(f"profile {base.name!r} has no train_subset: the sweep needs data left for validation")
    return {"n_train": base.train_subset, "n_val": VALIDATION}


SPEC = protocol.SweepSpec(
    task="distill", registry=DISTILLERS, grids=GRIDS, budgets=BUDGETS, tolerance=TOLERANCE, plateau="per-method",
    baselines=BASELINES, score="val_acc", rules=RULES, profiles=PROFILES, run_rows=_run_rows,
    describe=_describe,
    entry_config=lambda p, m, e: method_config(p, m).replace(**protocol.grid_entry(e)[0]).to_dict(),
    default_workers=default_workers,  # one thread per run: the numbers do not depend on how many run at once
    refine=REFINE, rerank=RERANK,
)

#: ``run_sweep(profile="cpu", seeds=(0, 1), stage="all", workers=None, device=None, out=None, command=(),
#: runs_dir=None)``: :func:`gkl.experiments.protocol.run_sweep` with :data:`SPEC`.
run_sweep = partial(protocol.run_sweep, SPEC)


def tuned_profile(record: Union[str, Path, Mapping[str, Any]] = "cpu",
                  seeds: Optional[Sequence[int]] = CHAPTER_SEEDS, **changes: Any) -> Profile:
    """The chapters' profile built from a recorded sweep (``record``: a profile name such as ``"cpu"``,
    a path or the record; :func:`gkl.experiments.protocol.load_record`): every registered method at
    its chosen configuration (and training changes), the chosen epoch budget, ``seeds`` (``None``: the
    profile's own), evaluated on the **test** set, with ``changes``. A registered method the record
    lacks is a one-line error. A profile name whose sweep is not recorded (``"gpu"``) gives that
    profile as defined: the **released** configurations for its (sized) epochs, ``source`` =
    :data:`~gkl.experiments.profile.RELEASED`. With ``GKL_SMOKE`` set, the profile is shrunk to a smoke
    run (:mod:`gkl.experiments.smoke`)."""
    rec = recorded_sweep("distill", record)
    name = rec["profile"] if rec is not None else str(record)
    if name not in PROFILES:
        raise ValueError(f"unknown distill profile {name!r}; choose one of {', '.join(PROFILES)}")
    base = PROFILES[name]
    seeds = base.seeds if seeds is None else tuple(int(s) for s in seeds)
    if rec is None:
        return smoke.distill(base.replace(seeds=seeds, source=RELEASED, **changes))
    entries = protocol.chosen_entries(rec, DISTILLERS.names(), f"for profile {base.name!r}")
    methods = {m: DISTILLERS.from_dict(e["config"]) for m, e in entries.items()}
    overrides = {m: dict(e["train"]) for m, e in entries.items() if e.get("train")}
    # a checkpoint every 10 epochs on the CPU profile (results are the same, a killed run loses < 10
    # epochs); every epoch on a GPU profile, whose epochs are minutes
    every = 10 if name == "cpu" else 1
    train = {**dict(base.train), "epochs": int(rec["epoch_budget"]["chosen"]), "checkpoint_every": every}
    tuned = base.replace(methods=methods, train=train, train_overrides=overrides, seeds=seeds,
                         source=recorded_source(rec), **changes)
    return smoke.distill(tuned)  # unchanged unless GKL_SMOKE is set (gkl.experiments.smoke)


def chosen_table(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows ``method | grid | chosen | validation mean`` for the chapters (values as in the record)."""
    def fmt(e: Mapping[str, Any]) -> str:
        items = {**e["settings"], **e["train"]}.items()
        return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in items)

    out = []
    for m, entries in record["grids"].items():
        c = record["chosen"][m]
        out.append({"method": DISTILLERS[m].label, "grid (changes of the base setting)": "; ".join(map(fmt, entries)),
                    "chosen": fmt(entries[int(c["config_id"])]),
                    "validation acc (%)": f"{100 * c['means'][record['score']]:.2f}"})
    return out
