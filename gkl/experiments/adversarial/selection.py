r"""The choices of the adversarial-training sweep, as pure functions of its recorded rows.

A *row* is one validation run: ``method`` (label), ``method_name`` (registered name), ``config_id`` (index into the method's grid),
``config`` (its settings), ``seed``, ``epochs``, ``stage`` (``"grid"`` or ``"epochs"``) and the
validation accuracies after the last epoch, ``val_clean`` and ``val_pgd`` (PGD at the training
:math:`\varepsilon`), plus the per-epoch curves ``curve_clean`` / ``curve_pgd``.

**Configuration rule** (:func:`choose_configs`). Per method and configuration, the mean over the
sweep's seeds :math:`\bar r_c` (validation PGD accuracy) and :math:`\bar a_c` (clean). A
configuration is *eligible* when its clean accuracy has not collapsed,
:math:`\bar a_c \ge \max_{c'} \bar a_{c'} - \delta_{clean}` (:data:`CLEAN_DROP` = 10 points); the
chosen one maximises :math:`\bar r_c` among the eligible; ties go to the higher :math:`\bar a_c`,
then to the earlier configuration of the grid.

**Epoch rule** (:func:`plateau_budget`). With :math:`\bar r_m(E)` the mean validation PGD accuracy
of method :math:`m`'s chosen configuration trained for a budget of :math:`E` epochs, the budget is
the smallest :math:`E` with :math:`\bar r_m(E) \ge \max_{E'} \bar r_m(E') - \tau` for **every**
method (:data:`PLATEAU_TOL` :math:`\tau` = 1 point), so every method trains equally long and none
loses more than :math:`\tau` to a longer budget that was tried.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from gkl.experiments import smoke
from gkl.experiments.adversarial.profiles import PROFILES, Profile
from gkl.experiments.stats import PairedDifference, mean_std, paired_difference

__all__ = ["CHAPTER_AA_POINTS", "CHAPTER_CURVE_EPSILONS", "chapter_profile", "CLEAN_DROP", "PLATEAU_TOL", "BASELINES", "config_scores", "choose_configs", "budget_scores",
           "plateau_budget", "strongest_baseline", "tuned_profile", "grid_neighbours"]

#: A configuration whose mean validation clean accuracy is more than this below the method's best is
#: not chosen (robustness bought by a collapsed classifier).
CLEAN_DROP = 0.10
#: The plateau tolerance of the epoch rule (1 point of validation PGD accuracy).
PLATEAU_TOL = 0.01
#: The baselines GKL is compared with in the headline (the strongest by validation PGD accuracy).
BASELINES = ("PGD-AT", "TRADES")


def _rows(rows: Sequence[Mapping[str, Any]], stage: str, method: Optional[str] = None) -> list[Mapping[str, Any]]:
    return [r for r in rows if r["stage"] == stage and (method is None or r["method"] == method)]


def config_scores(rows: Sequence[Mapping[str, Any]], method: str) -> list[dict[str, Any]]:
    """Per grid configuration of ``method``: ``config_id``, ``config``, seeds and the seed means of
    ``val_pgd`` / ``val_clean`` (grid stage), in grid order."""
    by_id: dict[int, list[Mapping[str, Any]]] = {}
    for r in _rows(rows, "grid", method):
        by_id.setdefault(int(r["config_id"]), []).append(r)
    out = []
    for cid in sorted(by_id):
        rs = by_id[cid]
        out.append({"config_id": cid, "method": rs[0]["method_name"], "config": dict(rs[0]["config"]), "seeds": sorted(r["seed"] for r in rs),
                    "val_pgd": mean_std([r["val_pgd"] for r in rs])[0],
                    "val_clean": mean_std([r["val_clean"] for r in rs])[0]})
    return out


def choose_configs(rows: Sequence[Mapping[str, Any]], clean_drop: float = CLEAN_DROP) -> dict[str, dict[str, Any]]:
    """Each method's chosen grid configuration by the configuration rule (module docstring)."""
    chosen = {}
    for method in dict.fromkeys(r["method"] for r in _rows(rows, "grid")):
        scores = config_scores(rows, method)
        best_clean = max(s["val_clean"] for s in scores)
        eligible = [s for s in scores if s["val_clean"] >= best_clean - clean_drop - 1e-12]
        # max robust, then max clean, then the earliest in the grid (max() keeps the first maximum)
        chosen[method] = max(eligible, key=lambda s: (round(s["val_pgd"], 9), round(s["val_clean"], 9)))
    return chosen


def budget_scores(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[int, float]]:
    """``{method: {epochs: mean validation PGD accuracy over seeds}}`` of the epochs stage."""
    acc: dict[str, dict[int, list[float]]] = {}
    for r in _rows(rows, "epochs"):
        acc.setdefault(r["method"], {}).setdefault(int(r["epochs"]), []).append(r["val_pgd"])
    return {m: {e: mean_std(v)[0] for e, v in sorted(d.items())} for m, d in acc.items()}


def plateau_budget(scores: Mapping[str, Mapping[int, float]], tol: float = PLATEAU_TOL) -> int:
    """The smallest budget within ``tol`` of every method's best budget (the epoch rule)."""
    budgets = sorted(set.intersection(*(set(s) for s in scores.values())))
    if not budgets:
        raise ValueError("no epoch budget was run for every method")
    for e in budgets:
        if all(s[e] >= max(s[b] for b in budgets) - tol - 1e-12 for s in scores.values()):
            return e
    return budgets[-1]  # unreachable: the best budget of every method qualifies at the largest


def strongest_baseline(scores: Mapping[str, Mapping[int, float]], epochs: int,
                       baselines: Sequence[str] = BASELINES) -> str:
    """The baseline with the highest mean validation PGD accuracy at the chosen budget (first on ties)."""
    present = [b for b in baselines if b in scores]
    return max(present, key=lambda b: round(scores[b][epochs], 9))


def tuned_profile(record: Mapping[str, Any], seeds: Sequence[int] = (0, 1, 2, 3, 4), **changes: Any) -> Profile:
    """The sweep's profile with each method's chosen configuration and the chosen epoch budget,
    for the final test evaluation (``changes``: e.g. the AutoAttack subset). Built from the record,
    so a re-recorded sweep changes what the chapter trains without a code edit. With ``GKL_SMOKE`` set,
    the profile is shrunk to a smoke run (:mod:`gkl.experiments.smoke`)."""
    base = PROFILES[record["profile"]]
    methods = {label: (c["method"], dict(c["config"])) for label, c in record["chosen"].items()}
    tuned = base.replace(name=f"{base.name}-tuned", methods=methods, epochs=int(record["epochs"]["chosen"]),
                         seeds=tuple(seeds), **changes)
    return smoke.adversarial(tuned)  # unchanged unless GKL_SMOKE is set


#: The adversarial chapter's final evaluation: standard AutoAttack on this many test points per seed
#: (seed k on points k·n … k·n + n − 1, every method on the same points), PGD against ε at these radii.
CHAPTER_AA_POINTS = 36
CHAPTER_CURVE_EPSILONS = (0.0, 0.1, 0.2, 0.3)


def chapter_profile(record: Mapping[str, Any], seeds: Sequence[int] = (0, 1, 2, 3, 4)) -> Profile:
    """The profile the adversarial chapter trains and evaluates (and later pages read back from the
    run cache): :func:`tuned_profile` with the chapter's AutoAttack subset and curve radii, evaluated
    only after the last epoch."""
    return tuned_profile(record, seeds=seeds, autoattack_subset=CHAPTER_AA_POINTS, autoattack_rotate=True,
                         curve_epsilons=CHAPTER_CURVE_EPSILONS, eval_every=int(record["epochs"]["chosen"]))


def grid_neighbours(rows: Sequence[Mapping[str, Any]], method: str, chosen: Mapping[str, Any],
                    key: str = "val_pgd") -> list[tuple[dict[str, Any], PairedDifference]]:
    """Every other grid configuration of ``method`` that differs from ``chosen`` in **one** setting,
    with the paired difference (over the sweep's seeds) of ``key`` against the chosen one."""
    base = dict(chosen["config"])
    grid = _rows(rows, "grid", method)
    at = {r["seed"]: r[key] for r in grid if int(r["config_id"]) == int(chosen["config_id"])}
    out = []
    for s in config_scores(rows, method):
        cfg = s["config"]
        changed = [k for k in base if cfg.get(k) != base[k]]
        if s["config_id"] == chosen["config_id"] or len(changed) != 1:
            continue
        other = {r["seed"]: r[key] for r in grid if int(r["config_id"]) == s["config_id"]}
        label = f"{changed[0]} = {cfg[changed[0]]}"
        out.append(({**s, "changed": changed[0]}, paired_difference(at, other, "chosen", label)))
    return out
