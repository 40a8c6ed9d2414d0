r"""The tuning protocol both training tasks share, and its record.

One protocol (``python -m gkl sweep distill|adversarial``), driven by a small :class:`SweepSpec` per
task — its grids, epoch budgets, baselines, tolerance, how to train one run and how to score it:

1. **Grid.** Every method gets the same number of configurations (:data:`SweepSpec.grids`, keyed by
   the *registered* method name), each trained for the profile's epochs with each sweep seed and
   scored on a validation part carved from the training split (never the test set).
2. **Choose.** Per method and configuration, the seed mean :math:`\bar r_c` of the score column
   (``spec.score``). With a *guard* column (adversarial training: clean accuracy), a configuration is
   eligible only if :math:`\bar a_c \ge \max_{c'} \bar a_{c'} - \delta` (robustness bought by a
   collapsed classifier is not chosen). The chosen one maximises :math:`\bar r_c` among the eligible;
   ties: the higher guard mean, then the earlier configuration (:func:`choose_configs`).
3. **Epoch budgets.** Each chosen configuration trains for every budget :math:`E` of ``spec.budgets``
   (a schedule is a function of its budget, so each budget is its own run).
4. **Plateau.** With :math:`\bar r_m(E)` the mean score of method :math:`m` at budget :math:`E` and
   :math:`\tau` the tolerance, the per-method plateau is
   :math:`E_m = \min\{E : \bar r_m(E) \ge \max_{E'} \bar r_m(E') - \tau\}`. One budget for all methods:
   rule ``"per-method"`` takes :math:`\max_m E_m`; rule ``"joint"`` the smallest :math:`E` within
   :math:`\tau` of every method's best *at that same* :math:`E` (:func:`plateau_budget`).
5. **Strongest baseline**: the baseline (``spec.baselines``) with the highest mean score at the
   chosen budget, the first on ties (:func:`strongest_baseline`).

**The record** (one schema, :func:`run_sweep` writes it with :func:`gkl.experiments.record.write_record`):
``task``, ``profile``, ``seeds``, ``stage``, ``score``, ``validation``, ``grid_epochs``, ``rules``,
``grids`` (name → entries ``{config_id, settings, train, config}``), ``chosen`` (name →
``{config_id, n, means, settings, train}``), ``epoch_budget`` (``budgets``, ``tolerance``, ``rule``,
``means``, ``per_method``, ``chosen``, ``plateau_reached``), ``strongest_baseline`` (a name) and
``rows``: one per run, ``{stage, method (name), config_id, seed, epochs, <score columns>, curves,
train_s}``; ``curves`` maps ``"epoch"`` and each score column to its per-evaluation values. Labels
are never stored: they come from the registry.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from gkl.experiments.record import compute_s, read_record, recorded_path, same_numerics, write_record
from gkl.methods.registry import Registry

__all__ = ["SweepSpec", "RUN_FIELDS", "grid_entry", "config_scores", "choose_configs", "budget_means",
           "plateau_budget", "strongest_baseline", "run_sweep", "load_record", "chosen_entries", "curves"]

#: What identifies one run of a sweep (a run in two stages, e.g. the grid's budget, counts once).
RUN_FIELDS = ("method", "config_id", "seed", "epochs")


def _one_worker(device: Optional[str]) -> int:
    """One process: the runs train one after another in the calling process."""
    return 1


@dataclass(frozen=True)
class SweepSpec:
    """What a task tells the protocol.

    Attributes:
        task: the task's name (``"distill"``, ``"adversarial"``): the record file is ``<task>-<profile>``.
        registry: the task's method registry; every grid key must be registered.
        grids: method name → configurations, each a dict of the method's settings plus an optional
            ``"train"`` dict of training-setting changes; the first is the profile's own setting.
        budgets: epoch budgets of the epochs stage.
        tolerance: :math:`\tau` of the plateau rule (accuracy, 0.01 = 1 point).
        plateau: ``"per-method"`` or ``"joint"`` (module docstring).
        baselines: method names, in order of preference on ties.
        score: the row column that ranks (``"val_acc"``, ``"val_pgd"``).
        guard, guard_drop: the eligibility column and its allowed drop (``None``: no guard).
        rules: the rules in words, as the record states them.
        profiles: profile name → profile (the task's named profiles, each an
            :class:`~gkl.experiments.profile.ExperimentProfile`; the grid trains ``train_epochs``).
        run_rows: ``(profile, planned rows, grids, workers, device, runs_dir) -> rows`` with the
            results (score columns, ``curves``, ``train_s``) added, in the order given; a row's
            configuration is ``grids[row["method"]][row["config_id"]]``.
        describe: ``profile -> `` the record's ``validation`` entry (at least ``n_train``, ``n_val``).
        entry_config: ``(profile, name, entry) -> `` the full config (a dict) a grid entry trains.
        default_workers: ``device -> `` processes when the caller names none.
    """

    task: str
    registry: Registry
    grids: Mapping[str, Sequence[Mapping[str, Any]]]
    budgets: tuple[int, ...]
    tolerance: float
    plateau: str
    baselines: tuple[str, ...]
    score: str
    rules: Mapping[str, str]
    profiles: Mapping[str, Any]
    run_rows: Callable[..., list[dict[str, Any]]]
    describe: Callable[[Any], dict[str, Any]]
    entry_config: Callable[[Any, str, Mapping[str, Any]], dict[str, Any]]
    guard: Optional[str] = None
    guard_drop: float = 0.0
    default_workers: Callable[[Optional[str]], int] = _one_worker

    def methods(self) -> tuple[str, ...]:
        """The methods the sweep tunes: every registered one, in registry order. A registered method
        without a grid, or grids of unequal sizes (the equal tuning budget), is a one-line error."""
        missing = [m for m in self.registry.names() if m not in self.grids]
        if missing:
            raise ValueError(f"{self.task} sweep: method {', '.join(map(repr, missing))} has no grid: add its "
                             f"configurations to the task's GRIDS (see CONTRIBUTING.md)")
        unknown = [m for m in self.grids if m not in self.registry]
        if unknown:
            raise ValueError(f"{self.task} sweep: grid for unregistered method {', '.join(map(repr, unknown))}")
        sizes = {m: len(self.grids[m]) for m in self.registry.names()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"{self.task} sweep: every method gets the same number of configurations, got "
                             + ", ".join(f"{m} {n}" for m, n in sizes.items()))
        return self.registry.names()


def grid_entry(entry: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(method settings, training changes)`` of a grid configuration."""
    return {k: v for k, v in entry.items() if k != "train"}, dict(entry.get("train") or {})


def _mean(v: Sequence[float]) -> float:
    return sum(v) / len(v)


def config_scores(rows: Sequence[Mapping[str, Any]], method: str, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Per grid configuration of ``method``, in grid order: ``config_id``, ``seeds`` and the seed
    means of ``columns`` (``{"means": {column: mean}}``)."""
    by_id: dict[int, list[Mapping[str, Any]]] = {}
    for r in rows:
        if r["stage"] == "grid" and r["method"] == method:
            by_id.setdefault(int(r["config_id"]), []).append(r)
    return [{"config_id": cid, "seeds": sorted(int(r["seed"]) for r in by_id[cid]),
             "means": {c: _mean([float(r[c]) for r in by_id[cid]]) for c in columns}} for cid in sorted(by_id)]


def choose_configs(rows: Sequence[Mapping[str, Any]], score: str, guard: Optional[str] = None,
                   guard_drop: float = 0.0) -> dict[str, dict[str, Any]]:
    """Each method's chosen grid configuration (rule 2 of the module docstring):
    name → ``{config_id, n, means}``."""
    columns = [score] + ([guard] if guard else [])
    chosen = {}
    for method in dict.fromkeys(r["method"] for r in rows if r["stage"] == "grid"):
        scores = config_scores(rows, method, columns)
        if guard:
            best = max(s["means"][guard] for s in scores)
            scores = [s for s in scores if s["means"][guard] >= best - guard_drop - 1e-12]
        # max score, then max guard, then the earliest in the grid (max() keeps the first maximum)
        pick = max(scores, key=lambda s: tuple(round(s["means"][c], 9) for c in columns))
        chosen[method] = {"config_id": pick["config_id"], "n": len(pick["seeds"]), "means": pick["means"]}
    return chosen


def budget_means(rows: Sequence[Mapping[str, Any]], score: str) -> dict[str, dict[int, float]]:
    """name → epoch budget → mean ``score`` over seeds (the epochs stage's rows)."""
    acc: dict[str, dict[int, list[float]]] = {}
    for r in rows:
        if r["stage"] == "epochs":
            acc.setdefault(r["method"], {}).setdefault(int(r["epochs"]), []).append(float(r[score]))
    return {m: {e: _mean(v) for e, v in sorted(by.items())} for m, by in acc.items()}


def plateau_budget(means: Mapping[str, Mapping[int, float]], tolerance: float, rule: str) -> dict[str, Any]:
    """Rule 4 of the module docstring on ``means[name][budget]``: ``{"per_method": {m: E_m},
    "chosen": E, "plateau_reached": E < the largest budget}``."""
    if rule not in ("per-method", "joint"):
        raise ValueError(f"plateau rule must be 'per-method' or 'joint', got {rule!r}")
    if not means:
        raise ValueError("plateau_budget needs at least one method")
    budgets = sorted(set.intersection(*(set(int(b) for b in s) for s in means.values())))
    if not budgets:
        raise ValueError("no epoch budget was run for every method")
    m_ = {m: {int(b): float(a) for b, a in s.items()} for m, s in means.items()}
    best = {m: max(s[b] for b in budgets) for m, s in m_.items()}
    per = {m: min(b for b in budgets if s[b] >= best[m] - tolerance - 1e-12) for m, s in m_.items()}
    if rule == "per-method":
        chosen = max(per.values())
    else:  # the best budget of every method qualifies at the largest, so next() always finds one
        chosen = next(b for b in budgets if all(s[b] >= best[m] - tolerance - 1e-12 for m, s in m_.items()))
    return {"per_method": per, "chosen": chosen, "plateau_reached": chosen < budgets[-1]}


def strongest_baseline(means: Mapping[str, Mapping[int, float]], epochs: int, baselines: Sequence[str]) -> str:
    """The baseline with the highest mean score at budget ``epochs`` (the first on ties)."""
    present = [b for b in baselines if b in means]
    if not present:
        raise ValueError(f"none of the baselines {', '.join(baselines)} is in the sweep")
    return max(present, key=lambda b: round(means[b][int(epochs)], 9))


def _planned(stage: str, method: str, config_id: int, seeds: Sequence[int], epochs: int) -> list[dict[str, Any]]:
    return [{"stage": stage, "method": method, "config_id": int(config_id), "seed": int(s), "epochs": int(epochs)}
            for s in seeds]


def _reusable(previous: Mapping[str, Any], grids: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The previous record's epoch rows that may be kept: same numerics, same grid entry."""
    if not previous.get("rows") or not same_numerics(previous):
        return {}  # rows of another machine's numerics are re-run, not mixed in
    same = lambda r: previous["grids"].get(r["method"], [])[int(r["config_id"]):][:1] == \
        grids.get(r["method"], [])[int(r["config_id"]):][:1]  # noqa: E731
    return {json.dumps([r[f] for f in RUN_FIELDS]): dict(r) for r in previous["rows"]
            if r["stage"] == "epochs" and same(r)}


def run_sweep(spec: SweepSpec, profile: str = "cpu", seeds: Sequence[int] = (0, 1), stage: str = "all",
              workers: Optional[int] = None, device: Optional[str] = None, out: Optional[Union[str, Path]] = None,
              command: Sequence[str] = (), runs_dir: Optional[Union[str, Path]] = None) -> dict[str, Any]:
    """Run ``stage`` (``"grid"``, ``"epochs"`` or ``"all"``) of ``spec``'s sweep on ``profile`` and write
    the record (default: the package's ``recorded/<task>-<profile>.json``). Stage ``epochs`` alone
    takes the grid rows and choices from the record at ``out`` and keeps its epoch rows (on the same
    numerics and grid entry), training only budgets or seeds it lacks. Returns the record with its ``path``."""
    if stage not in ("grid", "epochs", "all"):
        raise ValueError(f"stage must be grid, epochs or all, got {stage!r}")
    if profile not in spec.profiles:
        raise ValueError(f"unknown {spec.task} profile {profile!r}; choose one of {', '.join(spec.profiles)}")
    base = spec.profiles[profile]
    validation = spec.describe(base)  # fails early without a validation split
    methods = spec.methods()
    path = Path(out) if out is not None else recorded_path(f"{spec.task}-{profile}")
    workers = spec.default_workers(device) if workers is None else int(workers)
    seeds = tuple(int(s) for s in seeds)
    grids = {m: [{"config_id": i, **dict(zip(("settings", "train"), grid_entry(e))),
                  "config": spec.entry_config(base, m, e)} for i, e in enumerate(spec.grids[m])] for m in methods}
    run = lambda rows: spec.run_rows(base, rows, spec.grids, workers, device, runs_dir) if rows else []  # noqa: E731
    t0 = time.perf_counter()
    previous: dict[str, Any] = read_record(path) if stage == "epochs" else {"rows": [], "wall_s": 0.0}
    if stage == "epochs":
        grid_rows = [r for r in previous["rows"] if r["stage"] == "grid"]
    else:
        grid_rows = run([row for m in methods for i in range(len(spec.grids[m]))
                         for row in _planned("grid", m, i, seeds, base.train_epochs)])
    chosen = choose_configs(grid_rows, spec.score, spec.guard, spec.guard_drop)
    record: dict[str, Any] = {
        "task": spec.task, "profile": profile, "seeds": list(seeds), "stage": stage, "score": spec.score,
        "validation": validation, "grid_epochs": base.train_epochs, "rules": dict(spec.rules),
        "chosen": {m: {**c, "settings": grids[m][c["config_id"]]["settings"], "train": grids[m][c["config_id"]]["train"]}
                   for m, c in chosen.items()},
    }
    rows, reused = list(grid_rows), 0
    if stage != "grid":
        planned = [row for m, c in chosen.items() for e in spec.budgets
                   for row in _planned("epochs", m, c["config_id"], seeds, e)]
        have = _reusable(previous, grids)
        todo = [r for r in planned if json.dumps([r[f] for f in RUN_FIELDS]) not in have]
        fresh = {json.dumps([r[f] for f in RUN_FIELDS]): r for r in run(todo)}
        rows += [have.get(k) or fresh[k] for k in (json.dumps([r[f] for f in RUN_FIELDS]) for r in planned)]
        reused = len(planned) - len(todo)
        means = budget_means(rows, spec.score)
        budget = plateau_budget(means, spec.tolerance, spec.plateau)
        record["epoch_budget"] = {"budgets": list(spec.budgets), "tolerance": spec.tolerance, "rule": spec.plateau,
                                  "means": means, **budget}
        record["strongest_baseline"] = strongest_baseline(means, budget["chosen"], spec.baselines)
    # the compute of every run in the record, over the commands that made it (reused rows keep theirs)
    record.update(runs=len(rows), reused_rows=reused, compute_s=compute_s(rows, RUN_FIELDS),
                  wall_s=round((float(previous.get("wall_s", 0.0)) if reused else 0.0) + time.perf_counter() - t0, 1))
    written = write_record(path, rows, command=list(command), grids=grids, extra=record)
    written["path"] = str(path)
    return written


def load_record(task: str, record: Union[str, Path, Mapping[str, Any]]) -> dict[str, Any]:
    """A task's recorded sweep: ``record`` is the record itself, a path to one, or a profile name
    (``"cpu"``: the package's ``recorded/<task>-cpu.json``). A record of another task is an error."""
    if isinstance(record, Mapping):
        rec = dict(record)
    elif isinstance(record, str) and not Path(record).suffix:
        rec = read_record(f"{task}-{record}")
    else:
        rec = read_record(record)
    if rec.get("task", task) != task:
        raise ValueError(f"this is a recorded {rec['task']} sweep, not a {task} one")
    if "epoch_budget" not in rec:
        raise ValueError(f"the recorded {task} sweep has no epoch budget: run its 'epochs' stage")
    return rec


def chosen_entries(record: Mapping[str, Any], methods: Sequence[str], where: str = "") -> dict[str, Mapping[str, Any]]:
    """name → the recorded grid entry (``settings``, ``train``, ``config``) chosen for each of
    ``methods``. A method the record lacks is a one-line error, never dropped."""
    missing = [m for m in methods if m not in record["chosen"]]
    if missing:
        raise ValueError(f"method {', '.join(map(repr, missing))} is not in the recorded {record.get('task', '')} sweep "
                         f"{where}: re-record it (python -m gkl sweep {record.get('task', '<task>')} --profile "
                         f"{record.get('profile', '<profile>')})")
    return {m: record["grids"][m][int(record["chosen"][m]["config_id"])] for m in methods}


def curves(record: Mapping[str, Any], column: Optional[str] = None) -> dict[str, dict[int, list[list[float]]]]:
    """name → budget → the per-seed curves of ``column`` (default the record's score), epochs stage."""
    col = column or record["score"]
    out: dict[str, dict[int, list[list[float]]]] = {}
    for r in record["rows"]:
        if r["stage"] == "epochs":
            out.setdefault(r["method"], {}).setdefault(int(r["epochs"]), []).append(list(r["curves"][col]))
    return out
