r"""The ablation chapter: one GKL setting moved at a time from the **tuned** operating point (the GKL
configuration chosen on validation by :mod:`gkl.experiments.distill.sweep`), each value paired,
seed by seed, against the tuned GKL itself.

For a value :math:`v` of a setting and seeds :math:`s = 1..n`, the paired difference
:math:`d_s = a_s(v) - a_s(\text{tuned GKL})` gives the interval
:math:`\bar d \pm t_{0.975,n-1}\,\mathrm{sd}(d)/\sqrt n`, the minimum detectable effect
:math:`(t_{0.975,n-1} + t_{0.80,n-1})\,\mathrm{sd}(d)/\sqrt n` and the verdict of
:func:`gkl.experiments.stats.paired_difference` (the book's one rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from gkl.experiments.distill.profiles import Profile
from gkl.experiments.distill.runs import run_grid
from gkl.experiments.stats import mean_std, paired_difference
from gkl.methods.distill import DistillConfig, distill_config
from gkl.methods.distill.train import RunResult

__all__ = ["Sweep", "MOVES", "ablation_sweeps", "run_ablation", "ablation_rows", "kd_with_student_wmse",
           "claim_pairs", "claim_profile", "released_balance"]

#: How far each setting moves from the tuned point (data, sized to the chapter's time budget):
#: γ to these values; β and T multiplied by these factors. β moves both ways (÷4 and ×4: the tuning
#: grids' choice of β can sit at their edge, and ÷4 looks beyond it); the β sweep also shows β = 0,
#: the asymmetry sweep's run (shared, not retrained).
MOVES: dict[str, tuple[float, ...]] = {"gamma": (1.0,), "beta": (0.0, 0.25, 4.0), "temperature": (0.5,)}


@dataclass(frozen=True)
class Sweep:
    """One ablation: a parameter, its values (the tuned value among them), and the config of each."""

    name: str
    parameter: str
    values: tuple[Any, ...]
    configs: tuple[DistillConfig, ...]
    note: str = ""


def _moved(g: DistillConfig, field: str, values: Sequence[float]) -> tuple[tuple[Any, ...], tuple[DistillConfig, ...]]:
    """``values`` of ``field`` with the tuned value inserted in order; the tuned value *is* ``g``."""
    vals = sorted(set(values) | {getattr(g, field)})
    return tuple(vals), tuple(g if v == getattr(g, field) else g.replace(**{field: v}) for v in vals)


def ablation_sweeps(profile: Profile, base: str = "gkl", moves: Optional[Mapping[str, Sequence[float]]] = None) -> list[Sweep]:
    """The sweeps around ``profile.methods[base]`` (the tuned GKL): asymmetry, prior, γ, β, T.

    Each changes one field; the tuned value is the tuned config itself (its runs, and the tuned
    IKL's, are the distillation chapter's, read from the cache). :math:`\\beta = 0` is KL's
    soft-label CE alone (the asymmetry kept: in KD the wMSE moves only the frozen teacher).
    """
    g = profile.methods[base]
    mv = dict(MOVES if moves is None else moves)
    asym_values: tuple[str, ...] = ("no: β = 0 (KL's CE only)", "yes: GKL (tuned)")
    asym_configs: tuple[DistillConfig, ...] = (g.replace(beta=0.0), g)
    if "ikl" in profile.methods:
        asym_values += ("yes: IKL (tuned)",)
        asym_configs += (profile.methods["ikl"],)
    gammas, gcfgs = _moved(g, "gamma", mv["gamma"])
    betas, bcfgs = _moved(g, "beta", [g.beta * f for f in mv["beta"]])
    temps, tcfgs = _moved(g, "temperature", [g.temperature * f for f in mv["temperature"]])
    return [
        Sweep("asymmetry", "wMSE reaches the student", asym_values, asym_configs,
              "β = 0 is KL's soft-label CE alone: in KD the DKL wMSE moves only the frozen teacher"),
        Sweep("prior", "class prior", ("on", "off"), (g if g.prior else g.replace(prior=True),
                                                      g.replace(prior=False) if g.prior else g),
              f"tuned: {'on' if g.prior else 'off'}; off = per-sample weights softmax(o_m / T2)"),
        Sweep("gamma", "γ", gammas, gcfgs, "γ = 1: IKL's weight function (with this prior and T2); γ = 0: uniform weights"),
        Sweep("beta", "β", betas, bcfgs, "weight of the wMSE: " + ", ".join(f"×{f:g}" for f in mv["beta"])
              + " of the tuned β"),
        Sweep("temperature", "T", temps, tcfgs, "temperature of the soft-label CE (the wMSE weight relative "
                                                "to KL's own balance is (β/α)·T²)"),
    ]


def run_ablation(profile: Profile, sweep: Sweep, seeds: Optional[tuple[int, ...]] = None,
                 **kw: Any) -> dict[str, list[RunResult]]:
    """The runs of every value of ``sweep`` (value as a string -> runs in seed order), via
    :func:`~gkl.experiments.distill.runs.run_grid` (cached: shared values are not retrained)."""
    return run_grid(profile, {str(v): c for v, c in zip(sweep.values, sweep.configs)}, seeds, **kw)


def ablation_rows(sweeps: Sequence[Sweep], runs: Mapping[str, Mapping[str, list[RunResult]]],
                  tuned: DistillConfig, reference: list[RunResult], metric: str = "test_acc") -> list[dict[str, Any]]:
    """One row per moved value (the tuned value itself left out): mean ± std over seeds, the paired
    difference to the tuned GKL ``reference`` (same seeds) with its 95 % interval, its minimum
    detectable effect ``mde``, the verdict and the whole :class:`~gkl.experiments.stats.PairedDifference`
    ``diff`` (whose ``interval_text()`` / ``mde_text()`` print them)."""
    base = {i: float(r.history[-1][metric]) for i, r in enumerate(reference)}
    rows = []
    for s in sweeps:
        for v, c in zip(s.values, s.configs):
            if c == tuned:
                continue
            vals = {i: float(r.history[-1][metric]) for i, r in enumerate(runs[s.name][str(v)])}
            mean, std = mean_std(list(vals.values()))
            d = paired_difference(base, vals, "tuned GKL", f"{s.parameter} = {v}")
            rows.append({"setting": s.parameter, "value": str(v), "mean": mean, "std": std, "n": d.n,
                         "delta": d.mean, "low": d.low, "high": d.high, "mde": d.mde, "verdict": d.verdict,
                         "diff": d})
    return rows


def kd_with_student_wmse(kd: DistillConfig) -> DistillConfig:
    r"""KD with its asymmetry broken and nothing else changed: the GKL config whose loss is KD's
    :math:`w\,T^2\,\mathrm{KL}(s_m^T \| s_n^T)` except that the wMSE of the decomposition also
    reaches the student.

    By the decoupling theorem, :math:`T^2\,\mathrm{KL}` at temperature :math:`T` has the student
    gradient of :math:`T^2\,\mathrm{CE}(s_m^T, s_n^T)` and the teacher gradient of a wMSE of
    :math:`\Delta z = \Delta o / T` weighted by :math:`s_m^T[j]\,s_m^T[k]`, i.e. of the raw-logit
    wMSE (:func:`gkl.gkl_parts`) with :math:`\gamma = 1`, :math:`T_2 = T` and weight 1. So
    :math:`\alpha = w T^2`, :math:`\beta = w`, :math:`\gamma = 1`, :math:`T_2 = T`, no class prior,
    no warm-up and KD's own CE weight: the student's gradient is KD's plus :math:`w\,\nabla_{o_n}
    \mathrm{wMSE}` (``tests/test_distill_claims.py`` checks both sides in float64)."""
    if kd.method != "kd":
        raise ValueError(f"kd_with_student_wmse needs a KD config, got method {kd.method!r}")
    w, T = float(kd.kd_weight), float(kd.temperature)
    return distill_config("gkl", ce_weight=kd.ce_weight, alpha=w * T * T, beta=w, gamma=1.0, temperature=T,
                          weight_temperature=T, prior=False, warmup=0)


def claim_pairs(profile: Profile) -> dict[str, dict[str, DistillConfig]]:
    """The configurations of the claims page's clean tests on distillation, ``{claim: {label: config}}``
    with the reference first:

    * ``asymmetry``: the tuned KD against :func:`kd_with_student_wmse` of it (KD's own balance);
    * ``prior``: the tuned GKL at 4× its β (where the wMSE weighs more; :data:`MOVES`' largest β
      factor, the ablations' run) with the class prior off and on;
    * ``gamma``: the tuned GKL (γ < 1) against the same with γ = 1, at its own (soft-teacher) T.

    Train each pair under :func:`claim_profile` (``profile``, except that the asymmetry's second arm
    keeps KD's training settings).
    """
    kd, g = profile.methods["kd"], profile.methods["gkl"]
    big = g.replace(beta=g.beta * max(MOVES["beta"]))
    return {
        "asymmetry": {"KD": kd, "KD + student-side wMSE": kd_with_student_wmse(kd)},
        "prior": {"prior off": big.replace(prior=False), "prior on": big.replace(prior=True)},
        "gamma": {"γ = 1": g.replace(gamma=1.0), f"γ = {g.gamma:g}": g},
    }


def claim_profile(profile: Profile, claim: str) -> Profile:
    """The profile the runs of ``claim`` (a key of :func:`claim_pairs`) train under, so that the pair
    differs in its one change only. Training settings are chosen per *method*
    (``profile.train_overrides``): KD with the student-side wMSE is a GKL config, and would otherwise
    train with GKL's tuned learning rate instead of KD's; for ``"asymmetry"`` the GKL method therefore
    takes KD's overrides. Every other claim trains under ``profile`` itself."""
    if claim != "asymmetry":
        return profile
    over = dict(profile.train_overrides)
    over["gkl"] = dict(over.get("kd", {}))
    return profile.replace(train_overrides=over)


def released_balance(profile: Profile, rows: Optional[Sequence[Mapping[str, Any]]] = None) -> tuple[DistillConfig, float, int]:
    r"""``(config, ratio, n)``: the tuned GKL moved to the **released** balance of its two terms and
    nothing else. ``ratio`` is the median, over the ``n`` released CIFAR-100 GKL distillation settings
    (``rows``; default :func:`gkl.reported.load` ``("released_configs")``), of how much more each weights
    the wMSE against the soft-label CE than KL does, :math:`(\beta/\alpha)\,T^2`
    (:func:`gkl.derivations.relative_wmse_weight`); ``config`` is the tuned GKL with
    :math:`\beta = \text{ratio}\cdot\alpha / T^2` at its own :math:`\alpha` and :math:`T`."""
    import statistics

    from gkl import reported
    from gkl.derivations import relative_wmse_weight

    if rows is None:
        rows = reported.load("released_configs").where(task="KD", dataset="CIFAR-100", method="GKL")
    ratios = [relative_wmse_weight(float(r["alpha"]), float(r["beta"]), float(r["temperature"])) for r in rows]
    if not ratios:
        raise ValueError("released_balance needs at least one released GKL setting")
    ratio = float(statistics.median(ratios))
    g = profile.methods["gkl"]
    return g.replace(beta=ratio * g.alpha / g.temperature ** 2), ratio, len(ratios)
