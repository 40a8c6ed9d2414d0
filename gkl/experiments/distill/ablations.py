"""The ablation chapter's sweeps: one GKL setting varied at a time around a profile's GKL config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from gkl.experiments.distill.compare import summarize
from gkl.experiments.distill.profiles import Profile
from gkl.experiments.distill.runs import run_grid
from gkl.methods.distill import DistillConfig

__all__ = ["Sweep", "ablation_sweeps", "run_sweep"]


@dataclass(frozen=True)
class Sweep:
    """One ablation: a parameter, its values, and the config of each value."""

    name: str
    parameter: str
    values: tuple[Any, ...]
    configs: tuple[DistillConfig, ...]
    note: str = ""


def ablation_sweeps(profile: Profile, base: str = "gkl") -> list[Sweep]:
    """The sweeps of the ablation chapter around the profile's ``base`` GKL setting.

    Each sweep changes one field of the base config; a value equal to the base *is* the base config
    (so the cached runs of the distillation chapter are reused). The values are few (18 new runs for
    the CPU profile) to keep the chapter to a few minutes on two CPU cores. :math:`\\gamma = 1` with the prior is
    "GKL (γ = 1)": IKL's weight function, but **not** the released IKL, which has no class prior and
    T2 = 100 (that one is the profile's ``ikl`` method, the third value of the asymmetry sweep).
    """
    g = profile.methods[base]
    ikl = profile.methods.get("ikl")
    gammas = tuple(dict.fromkeys((0.0, g.gamma, 1.0)))  # the base γ once, in order
    asym_values: tuple[str, ...] = ("no: β = 0 (KL's CE only)", "yes: GKL")
    asym_configs: tuple[DistillConfig, ...] = (g.replace(beta=0.0), g)
    if ikl is not None:
        asym_values += ("yes: IKL (released)",)
        asym_configs += (ikl,)
    return [
        Sweep("gamma", "γ", gammas, tuple(g if v == g.gamma else g.replace(gamma=v) for v in gammas),
              "γ = 1: IKL's weight function, here with the prior (GKL (γ = 1), not the released IKL); "
              "γ = 0: uniform weights"),
        Sweep("prior", "class prior", ("off", "on"), (g.replace(prior=False), g),
              "off: per-sample weights softmax(o_m / T2)"),
        Sweep("asymmetry", "wMSE reaches the student", asym_values, asym_configs,
              "in KD the DKL wMSE moves only the frozen teacher, i.e. it has no effect: β = 0 is KL's "
              "soft-label CE alone (γ is then irrelevant); the released IKL also breaks the asymmetry"),
        Sweep("beta", "β", (0.0, 0.25, g.beta), (g.replace(beta=0.0), g.replace(beta=0.25), g),
              "weight of the wMSE"),
        Sweep("temperature", "T", (1.0, g.temperature), (g.replace(temperature=1.0), g),
              "temperature of the soft-label CE (it also sets KL's own balance: the wMSE weight relative to "
              "KL's is (β/α)·T²)"),
    ]


def run_sweep(profile: Profile, sweep: Sweep, seeds: Optional[tuple[int, ...]] = None, **kw: Any) -> list[dict[str, Any]]:
    """Summaries (:func:`~gkl.experiments.distill.compare.summarize`) of every value of ``sweep``, in
    order (runs via :func:`~gkl.experiments.distill.runs.run_grid`)."""
    return summarize(run_grid(profile, {str(v): c for v, c in zip(sweep.values, sweep.configs)}, seeds, **kw))
