r"""What the adversarial chapter reads from its recorded sweep (:mod:`gkl.experiments.adversarial.sweep`,
rules in :mod:`gkl.experiments.protocol`): each configuration's validation scores, the tuned profile
the chapter trains, the strongest baseline and the grid neighbours of a chosen configuration. A
profile without a recorded sweep (``gpu`` until one is recorded) runs the released configuration,
paired against a stated baseline.

A record's ``method`` keys are registered names (``"gkl"``); the chapter's profiles key methods by the
registry's labels (``"GKL"``), which name the runs, tables and figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from gkl.experiments import protocol, smoke
from gkl.experiments.adversarial.profiles import PROFILES, Profile
from gkl.experiments.profile import AT_CHAPTER_SEEDS, CHAPTER_SEEDS, RELEASED, recorded_source, recorded_sweep
from gkl.experiments.sizing import plan_sentence, recorded_epoch_s
from gkl.experiments.stats import PairedDifference, paired_difference
from gkl.methods.adversarial import ADVERSARIAL

__all__ = ["CHAPTER_AA_POINTS", "CHAPTER_CURVE_EPSILONS", "RELEASED_BASELINE", "chapter_profile", "config_scores",
           "tuned_profile", "strongest_baseline", "chapter_plan", "grid_neighbours", "label"]


def label(method: str) -> str:
    """The registry's label of a registered method name (``"gkl"`` → ``"GKL"``)."""
    return ADVERSARIAL[method].label


def config_scores(record: Mapping[str, Any], method: str) -> list[dict[str, Any]]:
    """Per grid configuration of ``method``, in grid order: ``config_id``, ``settings``, ``seeds`` and
    the seed means ``val_pgd`` / ``val_clean`` (grid stage)."""
    grid = record["grids"][method]
    return [{"config_id": s["config_id"], "settings": dict(grid[s["config_id"]]["settings"]), "seeds": s["seeds"],
             **s["means"]} for s in protocol.config_scores(record["rows"], method, ("val_pgd", "val_clean"))]


def _base(record: Union[str, Path, Mapping[str, Any]]) -> tuple[Optional[dict[str, Any]], Profile]:
    """``(the recorded sweep or None, the profile it tunes)``: ``None`` when ``record`` names a profile
    without a recorded sweep (:func:`gkl.experiments.profile.recorded_sweep`)."""
    rec = recorded_sweep("adversarial", record)
    name = rec["profile"] if rec is not None else str(record)
    if name not in PROFILES:
        raise ValueError(f"unknown adversarial profile {name!r}; choose one of {', '.join(PROFILES)}")
    return rec, PROFILES[name]


def tuned_profile(record: Union[str, Path, Mapping[str, Any]] = "cpu",
                  seeds: Optional[Sequence[int]] = CHAPTER_SEEDS, **changes: Any) -> Profile:
    """The chapter's profile built from a recorded sweep (``record``: a profile name such as ``"cpu"``,
    a path or the record; :func:`gkl.experiments.protocol.load_record`): every registered method at
    its chosen configuration, the chosen epoch budget, ``seeds`` (``None``: the profile's own), for the
    final test evaluation, with ``changes`` (e.g. the AutoAttack subset). A re-recorded sweep changes
    what the chapter trains without a code edit; a registered method the record lacks is a one-line
    error. A profile name whose sweep is not recorded (``"gpu"``) gives that profile as defined: every
    method at its **released** settings for the profile's (sized) epochs, ``source`` =
    :data:`~gkl.experiments.profile.RELEASED`. With ``GKL_SMOKE`` set, the profile is shrunk to a smoke
    run (:mod:`gkl.experiments.smoke`)."""
    rec, base = _base(record)
    seeds = base.seeds if seeds is None else tuple(seeds)
    if rec is None:
        return smoke.adversarial(base.replace(seeds=seeds, source=RELEASED, **changes))
    entries = protocol.chosen_entries(rec, ADVERSARIAL.names(), f"for profile {base.name!r}")
    methods = {label(m): (m, dict(e["settings"])) for m, e in entries.items()}
    tuned = base.replace(name=f"{base.name}-tuned", methods=methods, epochs=int(rec["epoch_budget"]["chosen"]),
                         seeds=seeds, source=recorded_source(rec), **changes)
    return smoke.adversarial(tuned)  # unchanged unless GKL_SMOKE is set


#: The adversarial chapter's final evaluation on ``cpu``: standard AutoAttack on this many test points
#: per seed (seed k on points k·n … k·n + n − 1, every method on the same points), PGD against ε at
#: these radii. Other profiles keep their own (sized) AutoAttack subset and radii, rotated per seed.
CHAPTER_AA_POINTS = 36
CHAPTER_CURVE_EPSILONS = (0.0, 0.1, 0.2, 0.3)
_CHAPTER: dict[str, dict[str, Any]] = {
    "cpu": {"autoattack_subset": CHAPTER_AA_POINTS, "curve_epsilons": CHAPTER_CURVE_EPSILONS},
}

#: The strongest baseline of a profile without a recorded sweep (a stated choice, not a measurement):
#: TRADES, the KL-based method GKL modifies and the baseline of the released code.
RELEASED_BASELINE = "trades"


def chapter_profile(record: Union[str, Path, Mapping[str, Any]] = "cpu",
                    seeds: Optional[Sequence[int]] = AT_CHAPTER_SEEDS) -> Profile:
    """The profile the adversarial chapter trains and evaluates (and later pages read back from the
    run cache): :func:`tuned_profile` with the chapter's AutoAttack subset and curve radii, evaluated
    only after the last epoch (without a recorded sweep: the released configuration, ``seeds`` ``None``
    the profile's own)."""
    rec, base = _base(record)
    epochs = int(rec["epoch_budget"]["chosen"]) if rec is not None else base.epochs
    return tuned_profile(rec if rec is not None else base.name, seeds=seeds, autoattack_rotate=True,
                         eval_every=epochs, **_CHAPTER.get(base.name, {}))


def strongest_baseline(record: Optional[Mapping[str, Any]]) -> tuple[str, str]:
    """``(registered name, why)`` of the baseline GKL is paired against: the recorded sweep's strongest
    baseline by validation PGD accuracy, or without a record the stated choice
    :data:`RELEASED_BASELINE`."""
    if record is not None:
        return record["strongest_baseline"], "the strongest baseline by validation PGD accuracy in the recorded sweep"
    return RELEASED_BASELINE, "a stated choice: no sweep is recorded for this profile, so none was measured strongest"


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


def chapter_plan(profile: Profile, record: Optional[Mapping[str, Any]]) -> str:
    """One sentence for the top of the chapter: what ``profile`` trains and about how long. The time
    is the recorded sweep's per-epoch training times on ``cpu`` (training only, one thread), the sizing
    rule's estimate on a GPU profile (:func:`gkl.experiments.adversarial.profiles.gpu_sizing`), none
    for a smoke run (a ``-smoke`` profile)."""
    from gkl.experiments.adversarial.profiles import gpu_sizing

    n_m, n_s = len(profile.methods), len(profile.seeds)
    what = (f"{n_m} methods × {n_s} seed(s) of `{profile.model}` on {profile.dataset}, each then attacked with "
            f"PGD-{profile.pgd_steps} and the standard AutoAttack")
    seconds, basis = None, "a smoke run: no estimate; its numbers only check that the code runs"
    if profile.name.endswith("-smoke"):
        pass
    elif profile.dataset.startswith("cifar"):
        size = gpu_sizing(PROFILES["gpu"])
        seconds = n_s * (size.fixed_s + n_m * profile.epochs * size.epoch_s)
        basis = f"on a Colab T4 GPU; {size.basis}"
    elif record is not None:
        per = recorded_epoch_s(record)
        names = [profile.adversarial_config(m).name for m in profile.methods]
        if all(n in per for n in names):
            seconds = n_s * profile.epochs * sum(per[n] for n in names)
            basis = ("training only, from the recorded sweep's own per-epoch times on one CPU thread of the "
                     f"{record.get('environment', {}).get('cpus', '?')}-core recording machine; the attacks and "
                     "parallel runs are not counted")
        else:
            basis = "the recorded sweep has no time for every method"
    else:
        basis = "no recorded time for this profile"
    return plan_sentence(what, n_m * n_s, profile.epochs, seconds, basis)
