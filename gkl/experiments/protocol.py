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
5. **Re-rank at the final budget** (``spec.rerank`` = k > 0): the grid ranks configurations at the
   grid's (shorter) budget, so the k best of each method are trained again at the chosen budget and
   the final choice is the best there, by the same rule. The plateau of step 4 was measured on the
   grid stage's choice; the record keeps both choices.
6. **Strongest baseline**: the baseline (``spec.baselines``) with the highest mean score of its final
   configuration at the chosen budget, the first on ties (:func:`strongest_baseline`).

A grid may have a second round (``spec.refine``): changes applied to each method's first-round choice
(e.g. learning rates around it), ranked together with the first round; every method gets the same
number of configurations in each round.

**The record** (one schema, :func:`run_sweep` writes it with :func:`gkl.experiments.record.write_record`):
``task``, ``profile``, ``seeds``, ``stage``, ``score``, ``validation``, ``grid_epochs``, ``rules``,
``grids`` (name → entries ``{config_id, round, settings, train, config}``), ``chosen`` (name →
``{config_id, n, means, settings, train}``; with re-ranking also ``grid_chosen``), ``epoch_budget`` (``budgets``, ``tolerance``, ``rule``,
``means``, ``per_method``, ``chosen``, ``plateau_reached``), ``strongest_baseline`` (a name) and
``rows``: one per run, ``{stage, method (name), config_id, seed, epochs, <score columns>, curves,
train_s}``; ``curves`` maps ``"epoch"`` and each score column to its per-evaluation values. Labels
are never stored: they come from the registry.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from gkl.experiments.record import compute_s, read_record, recorded_path, same_numerics, write_record
from gkl.methods.registry import Registry

__all__ = ["SweepSpec", "RUN_FIELDS", "grid_entry", "config_scores", "rank_configs", "choose_configs", "budget_means",
           "plateau_budget", "strongest_baseline", "run_sweep", "load_record", "chosen_entries", "curves"]

#: What identifies one run of a sweep (a run in two stages, e.g. the grid's budget, counts once).
RUN_FIELDS = ("method", "config_id", "seed", "epochs")


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
        refine: method name → second-round changes (``settings`` and ``"train"``) applied to its
            first-round choice (default: no second round).
        rerank: how many of each method's best grid configurations are trained again at the chosen
            budget to make the final choice (0: no re-ranking).
        rules: the rules in words, as the record states them.
        profiles: profile name → profile (the task's named profiles, each an
            :class:`~gkl.experiments.profile.ExperimentProfile`; the grid trains ``train_epochs``).
        run_rows: ``(profile, planned rows, grids, workers, device, runs_dir) -> rows`` with the
            results (score columns, ``curves``, ``train_s``) added, in the order given; a row's
            configuration is ``grids[row["method"]][row["config_id"]]``.
        describe: ``profile -> dict``: the record's ``validation`` entry (at least ``n_train``, ``n_val``).
        entry_config: ``(profile, name, entry) -> dict``: the full config a grid entry trains.
        default_workers: ``device -> int``: processes when the caller names none (``None``: one).
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
    refine: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    rerank: int = 0
    default_workers: Optional[Callable[[Optional[str]], int]] = None

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
        sizes = {m: (len(self.grids[m]), len(self.refine.get(m, ()))) for m in self.registry.names()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"{self.task} sweep: every method gets the same number of configurations, got "
                             + ", ".join(f"{m} {n}" + (f" + {r}" if r else "") for m, (n, r) in sizes.items()))
        return self.registry.names()


def grid_entry(entry: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(method settings, training changes)`` of a grid configuration."""
    return {k: v for k, v in entry.items() if k != "train"}, dict(entry.get("train") or {})


def _mean(v: Sequence[float]) -> float:
    return sum(v) / len(v)


def config_scores(rows: Sequence[Mapping[str, Any]], method: str, columns: Sequence[str],
                  stage: str = "grid") -> list[dict[str, Any]]:
    """Per configuration of ``method`` in ``stage``, in grid order: ``config_id``, ``seeds`` and the
    seed means of ``columns`` (``{"means": {column: mean}}``)."""
    by_id: dict[int, list[Mapping[str, Any]]] = {}
    for r in rows:
        if r["stage"] == stage and r["method"] == method:
            by_id.setdefault(int(r["config_id"]), []).append(r)
    return [{"config_id": cid, "seeds": sorted(int(r["seed"]) for r in by_id[cid]),
             "means": {c: _mean([float(r[c]) for r in by_id[cid]]) for c in columns}} for cid in sorted(by_id)]


def rank_configs(rows: Sequence[Mapping[str, Any]], score: str, guard: Optional[str] = None, guard_drop: float = 0.0,
                 stage: str = "grid") -> dict[str, list[dict[str, Any]]]:
    """Each method's eligible configurations of ``stage``, best first (rule 2 of the module docstring):
    name → ``[{config_id, n, means}, ...]``."""
    columns = [score] + ([guard] if guard else [])
    ranked = {}
    for method in dict.fromkeys(r["method"] for r in rows if r["stage"] == stage):
        scores = config_scores([r for r in rows if r["stage"] == stage], method, columns, stage)
        if guard:
            best = max(s["means"][guard] for s in scores)
            scores = [s for s in scores if s["means"][guard] >= best - guard_drop - 1e-12]
        # max score, then max guard, then the earliest in the grid (a stable sort keeps grid order on ties)
        scores.sort(key=lambda s: tuple(-round(s["means"][c], 9) for c in columns))
        ranked[method] = [{"config_id": s["config_id"], "n": len(s["seeds"]), "means": s["means"]} for s in scores]
    return ranked


def choose_configs(rows: Sequence[Mapping[str, Any]], score: str, guard: Optional[str] = None,
                   guard_drop: float = 0.0, stage: str = "grid") -> dict[str, dict[str, Any]]:
    """Each method's chosen configuration of ``stage`` (rule 2 of the module docstring):
    name → ``{config_id, n, means}``."""
    return {m: r[0] for m, r in rank_configs(rows, score, guard, guard_drop, stage).items()}


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


def _key(row: Mapping[str, Any]) -> str:
    """A row's identity in its record: its stage and its run (a run may be a row of two stages)."""
    return json.dumps([row["stage"]] + [row[f] for f in RUN_FIELDS])


def _reusable(previous: Mapping[str, Any], grids: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The previous record's rows past the grid stage that may be kept: same numerics, same entry."""
    if not previous.get("rows") or not same_numerics(previous):
        return {}  # rows of another machine's numerics are re-run, not mixed in
    def entry(g: Mapping[str, Any], r: Mapping[str, Any]) -> Any:
        es = g.get(r["method"], [])
        return {k: es[int(r["config_id"])].get(k) for k in ("settings", "train")} if int(r["config_id"]) < len(es) else None
    return {_key(r): dict(r) for r in previous["rows"]
            if r["stage"] != "grid" and entry(previous["grids"], r) is not None
            and entry(previous["grids"], r) == entry(grids, r)}


def _merge(first: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """A second-round grid entry: the first-round choice with ``change`` (settings and ``"train"``)."""
    s1, t1 = grid_entry(first)
    s2, t2 = grid_entry(change)
    out: dict[str, Any] = {**s1, **s2}
    if t1 or t2:
        out["train"] = {**t1, **t2}
    return out


class _Sweep:
    """One run of the protocol: the spec, the profile, where runs go; builds the record step by step."""

    def __init__(self, spec: SweepSpec, base: Any, seeds: tuple[int, ...], workers: int, device: Optional[str],
                 runs_dir: Optional[Union[str, Path]], previous: Mapping[str, Any]) -> None:
        self.spec, self.base, self.seeds = spec, base, seeds
        self.workers, self.device, self.runs_dir = workers, device, runs_dir
        self.previous = previous
        self.reused = 0
        self.entries: dict[str, list[dict[str, Any]]] = {m: [dict(e) for e in spec.grids[m]] for m in spec.methods()}
        self.rounds: dict[str, list[int]] = {m: [1] * len(es) for m, es in self.entries.items()}

    def grids(self) -> dict[str, list[dict[str, Any]]]:
        """The record's ``grids``: every configuration tried, with its round and full config."""
        return {m: [{"config_id": i, "round": self.rounds[m][i], **dict(zip(("settings", "train"), grid_entry(e))),
                     "config": self.spec.entry_config(self.base, m, e)} for i, e in enumerate(es)]
                for m, es in self.entries.items()}

    def run(self, planned: list[dict[str, Any]], keep: bool = True) -> list[dict[str, Any]]:
        """``planned`` rows with results, kept from the previous record where allowed, else trained."""
        have = _reusable(self.previous, self.grids()) if keep else {}
        todo = [r for r in planned if _key(r) not in have]
        fresh = {_key(r): r for r in (self.spec.run_rows(self.base, todo, self.entries, self.workers, self.device,
                                                         self.runs_dir) if todo else [])}
        self.reused += len(planned) - len(todo)
        return [have.get(_key(r)) or fresh[_key(r)] for r in planned]

    def planned(self, stage: str, ids: Mapping[str, Sequence[int]], epochs: int) -> list[dict[str, Any]]:
        return [row for m, cids in ids.items() for i in cids for row in _planned(stage, m, i, self.seeds, epochs)]

    def grid_stage(self) -> list[dict[str, Any]]:
        """Round 1, then round 2 around each method's round-1 choice (ranked together)."""
        spec, E = self.spec, self.base.train_epochs
        rows = self.run(self.planned("grid", {m: range(len(es)) for m, es in self.entries.items()}, E), keep=False)
        if spec.refine:
            first = choose_configs(rows, spec.score, spec.guard, spec.guard_drop)
            new: dict[str, list[int]] = {}
            for m, c in first.items():
                start = len(self.entries[m])
                self.entries[m] += [_merge(self.entries[m][c["config_id"]], ch) for ch in spec.refine.get(m, ())]
                self.rounds[m] += [2] * (len(self.entries[m]) - start)
                new[m] = list(range(start, len(self.entries[m])))
            rows += self.run(self.planned("grid", new, E), keep=False)
        return rows

    def from_previous(self) -> list[dict[str, Any]]:
        """Stage ``epochs`` alone: the grid (both rounds) and its rows from the previous record."""
        for m, es in self.previous["grids"].items():
            if m in self.entries:
                self.entries[m] = [{**e["settings"], **({"train": e["train"]} if e["train"] else {})} for e in es]
                self.rounds[m] = [int(e.get("round", 1)) for e in es]
        return [r for r in self.previous["rows"] if r["stage"] == "grid"]


def run_sweep(spec: SweepSpec, profile: str = "cpu", seeds: Sequence[int] = (0, 1), stage: str = "all",
              workers: Optional[int] = None, device: Optional[str] = None, out: Optional[Union[str, Path]] = None,
              command: Sequence[str] = (), runs_dir: Optional[Union[str, Path]] = None) -> dict[str, Any]:
    """Run ``stage`` (``"grid"``, ``"epochs"`` or ``"all"``) of ``spec``'s sweep on ``profile`` and write
    the record (default: the package's ``recorded/<task>-<profile>.json``). Stage ``epochs`` alone
    takes the grid rows and choices from the record at ``out`` and keeps its later rows (on the same
    numerics and grid entry), training only budgets or seeds it lacks. Returns the record with its ``path``."""
    if stage not in ("grid", "epochs", "all"):
        raise ValueError(f"stage must be grid, epochs or all, got {stage!r}")
    if profile not in spec.profiles:
        raise ValueError(f"unknown {spec.task} profile {profile!r}; choose one of {', '.join(spec.profiles)}")
    base = spec.profiles[profile]
    validation = spec.describe(base)  # fails early without a validation split
    spec.methods()
    path = Path(out) if out is not None else recorded_path(f"{spec.task}-{profile}")
    t0 = time.perf_counter()
    previous: dict[str, Any] = read_record(path) if stage == "epochs" else {"rows": [], "wall_s": 0.0}
    if workers is None:
        workers = spec.default_workers(device) if spec.default_workers is not None else 1
    sw = _Sweep(spec, base, tuple(int(s) for s in seeds), int(workers), device, runs_dir, previous)
    rows = sw.from_previous() if stage == "epochs" else sw.grid_stage()
    chosen = choose_configs(rows, spec.score, spec.guard, spec.guard_drop)
    record: dict[str, Any] = {"task": spec.task, "profile": profile, "seeds": list(sw.seeds), "stage": stage,
                              "score": spec.score, "validation": validation, "grid_epochs": base.train_epochs,
                              "rules": dict(spec.rules)}
    if stage != "grid":
        rows += sw.run([row for m, c in chosen.items() for e in spec.budgets
                        for row in sw.planned("epochs", {m: [c["config_id"]]}, e)])
        means = budget_means(rows, spec.score)
        budget = plateau_budget(means, spec.tolerance, spec.plateau)
        record["epoch_budget"] = {"budgets": list(spec.budgets), "tolerance": spec.tolerance, "rule": spec.plateau,
                                  "means": means, **budget}
        final_means = {m: {budget["chosen"]: v[budget["chosen"]]} for m, v in means.items()}
        if spec.rerank:
            top = {m: [c["config_id"] for c in r[: spec.rerank]]
                   for m, r in rank_configs(rows, spec.score, spec.guard, spec.guard_drop).items()}
            rows += sw.run(sw.planned("rerank", top, budget["chosen"]))
            record["grid_chosen"] = chosen
            chosen = choose_configs(rows, spec.score, spec.guard, spec.guard_drop, stage="rerank")
            final_means = {m: {budget["chosen"]: c["means"][spec.score]} for m, c in chosen.items()}
        record["strongest_baseline"] = strongest_baseline(final_means, budget["chosen"], spec.baselines)
    grids = sw.grids()
    record["chosen"] = {m: {**c, "settings": grids[m][c["config_id"]]["settings"], "train": grids[m][c["config_id"]]["train"]}
                        for m, c in chosen.items()}
    # the compute of every run in the record, over the commands that made it (reused rows keep theirs)
    record.update(runs=len(rows), reused_rows=sw.reused, compute_s=compute_s(rows, RUN_FIELDS),
                  wall_s=round((float(previous.get("wall_s", 0.0)) if sw.reused else 0.0) + time.perf_counter() - t0, 1))
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
