r"""What the adversarial chapter reads from its recorded sweep (:mod:`gkl.experiments.adversarial.sweep`,
rules in :mod:`gkl.experiments.protocol`): each configuration's validation scores, the tuned profile
the chapter trains, and the grid neighbours of a chosen configuration.

A record's ``method`` keys are registered names (``"gkl"``); the chapter's profiles key methods by the
registry's labels (``"GKL"``), which name the runs, tables and figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence, Union

from gkl.experiments import protocol, smoke
from gkl.experiments.adversarial.profiles import PROFILES, Profile
from gkl.experiments.stats import PairedDifference, paired_difference
from gkl.methods.adversarial import ADVERSARIAL

__all__ = ["CHAPTER_AA_POINTS", "CHAPTER_CURVE_EPSILONS", "chapter_profile", "config_scores", "tuned_profile",
           "grid_neighbours", "label"]


def label(method: str) -> str:
    """The registry's label of a registered method name (``"gkl"`` → ``"GKL"``)."""
    return ADVERSARIAL[method].label


def config_scores(record: Mapping[str, Any], method: str) -> list[dict[str, Any]]:
    """Per grid configuration of ``method``, in grid order: ``config_id``, ``settings``, ``seeds`` and
    the seed means ``val_pgd`` / ``val_clean`` (grid stage)."""
    grid = record["grids"][method]
    return [{"config_id": s["config_id"], "settings": dict(grid[s["config_id"]]["settings"]), "seeds": s["seeds"],
             **s["means"]} for s in protocol.config_scores(record["rows"], method, ("val_pgd", "val_clean"))]


def tuned_profile(record: Union[str, Path, Mapping[str, Any]] = "cpu", seeds: Sequence[int] = (0, 1, 2, 3, 4),
                  **changes: Any) -> Profile:
    """The chapter's profile built from a recorded sweep (``record``: a profile name such as ``"cpu"``,
    a path or the record; :func:`gkl.experiments.protocol.load_record`): every registered method at
    its chosen configuration, the chosen epoch budget, ``seeds``, for the final test evaluation, with
    ``changes`` (e.g. the AutoAttack subset). A re-recorded sweep changes what the chapter trains
    without a code edit; a registered method the record lacks is a one-line error. With ``GKL_SMOKE``
    set, the profile is shrunk to a smoke run (:mod:`gkl.experiments.smoke`)."""
    record = protocol.load_record("adversarial", record)
    base = PROFILES[record["profile"]]
    entries = protocol.chosen_entries(record, ADVERSARIAL.names(), f"for profile {base.name!r}")
    methods = {label(m): (m, dict(e["settings"])) for m, e in entries.items()}
    tuned = base.replace(name=f"{base.name}-tuned", methods=methods, epochs=int(record["epoch_budget"]["chosen"]),
                         seeds=tuple(seeds), **changes)
    return smoke.adversarial(tuned)  # unchanged unless GKL_SMOKE is set


#: The adversarial chapter's final evaluation: standard AutoAttack on this many test points per seed
#: (seed k on points k·n … k·n + n − 1, every method on the same points), PGD against ε at these radii.
CHAPTER_AA_POINTS = 36
CHAPTER_CURVE_EPSILONS = (0.0, 0.1, 0.2, 0.3)


def chapter_profile(record: Union[str, Path, Mapping[str, Any]] = "cpu", seeds: Sequence[int] = (0, 1, 2, 3, 4)
                    ) -> Profile:
    """The profile the adversarial chapter trains and evaluates (and later pages read back from the
    run cache): :func:`tuned_profile` with the chapter's AutoAttack subset and curve radii, evaluated
    only after the last epoch."""
    record = protocol.load_record("adversarial", record)
    return tuned_profile(record, seeds=seeds, autoattack_subset=CHAPTER_AA_POINTS, autoattack_rotate=True,
                         curve_epsilons=CHAPTER_CURVE_EPSILONS, eval_every=int(record["epoch_budget"]["chosen"]))


def grid_neighbours(record: Mapping[str, Any], method: str, config_id: int,
                    key: str = "val_pgd") -> list[tuple[dict[str, Any], PairedDifference]]:
    """Every other grid configuration of ``method`` that differs from configuration ``config_id`` in
    **one** setting, with the paired difference (over the sweep's seeds) of ``key`` against it."""
    scores = config_scores(record, method)
    base = next(s for s in scores if s["config_id"] == int(config_id))["settings"]
    grid = [r for r in record["rows"] if r["stage"] == "grid" and r["method"] == method]
    at = {r["seed"]: r[key] for r in grid if int(r["config_id"]) == int(config_id)}
    out = []
    for s in scores:
        changed = [k for k in base if s["settings"].get(k) != base[k]]
        if s["config_id"] == int(config_id) or len(changed) != 1:
            continue
        other = {r["seed"]: r[key] for r in grid if int(r["config_id"]) == s["config_id"]}
        name = f"{changed[0]} = {s['settings'][changed[0]]}"
        out.append(({**s, "changed": changed[0]}, paired_difference(at, other, "chosen", name)))
    return out
