r"""The paper's claims that a small experiment can test, each with its experiment and a verdict.

Every verdict comes from a rule fixed before looking at the numbers:

* comparisons of methods (and of a method with one ingredient removed) are paired by seed and read
  from the 95 % interval of the mean difference (:func:`gkl.experiments.stats.paired_difference`):
  **supported** when the interval lies on the side the paper claims, **contradicted** when it lies
  on the other side, else **not detected** at that number of seeds — which is not evidence of no
  effect; the minimum detectable effect printed beside it says how large an effect the comparison
  could have seen. Fewer than three seeds are **not testable**; differences with no spread are
  decided by the exact sign-flip test (:mod:`gkl.experiments.stats`);
* "γ < 1 speeds up convergence of high-score classes" is the same paired rule applied to the toy of
  the weight-function chapter (:mod:`gkl.toy`): the top-1 class's centred-logit error after a fixed
  number of steps, per seed, GKL at γ < 1 against γ = 1;
* "the overhead is small" compares the time of one forward + backward of GKL (with the class prior)
  with PyTorch's ``F.kl_div`` on the same logits (:mod:`gkl.bench`): **supported** when the median
  ratio is at most :data:`SMALL_OVERHEAD`; and, in training (:func:`step_overhead_check`), a GKL
  run's own training time per epoch against its baseline's: at most :data:`STEP_OVERHEAD`;
* a recorded full-power comparison (:func:`full_power_check`, a two-level bootstrap over seeds and
  test points) is read with the same interval rule.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Optional, Sequence

from gkl.experiments.stats import MIN_SEEDS, PairedDifference, paired_difference

__all__ = ["SMALL_OVERHEAD", "STEP_OVERHEAD", "ClaimCheck", "paired_check", "full_power_check", "convergence_check",
           "overhead_check", "step_overhead_check", "claims_table"]

#: "Small overhead": GKL at most this many times the time of ``F.kl_div`` (forward + backward).
SMALL_OVERHEAD = 1.5
#: "Small overhead" in training: a GKL run's training time per epoch at most this many times its
#: baseline's (KD in distillation, TRADES in adversarial training), median over seeds. Fixed at 1.2
#: (commit "claims: training-step overhead threshold") before any such ratio was computed.
STEP_OVERHEAD = 1.2


@dataclass(frozen=True)
class ClaimCheck:
    """One claim of the paper, the experiment that tests it here, what it measured, and the verdict."""

    claim: str
    experiment: str
    measured: str
    verdict: str
    #: The paired difference behind the verdict (``None`` for a ratio check): what a forest plot draws.
    diff: Optional[PairedDifference] = field(default=None, compare=False, repr=False)

    def as_row(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if k != "diff"}


def _verdict(d: PairedDifference, expected: str) -> str:
    if not d.decided:
        return f"not testable with {d.n} seed{'s' * (d.n != 1)} (fewer than {MIN_SEEDS})"
    if d.verdict == expected:
        return "supported"
    if d.verdict in ("ahead", "behind"):
        return "contradicted"
    return f"not detected at n = {d.n}"


def paired_check(claim: str, experiment: str, baseline: str, baseline_values: Mapping[int, float], method: str,
                 method_values: Mapping[int, float], higher_is_better: bool = True, what: str = "",
                 scale: float = 100.0, unit: str = " points") -> ClaimCheck:
    """The claim "``method`` is better than ``baseline``" from per-seed results ``{seed: value}``."""
    d = paired_difference(baseline_values, method_values, baseline, method)
    measured = d.sentence(what, scale, unit, digits=2)
    measured = measured[:measured.rindex(": ")]  # the verdict column says it, in the claim's words
    if d.decided:
        measured += f" ({'higher' if higher_is_better else 'lower'} is better)"
    return ClaimCheck(claim, experiment, measured, _verdict(d, "ahead" if higher_is_better else "behind"), d)


def full_power_check(claim: str, experiment: str, d: PairedDifference, what: str = "",
                     unit: str = " points") -> ClaimCheck:
    """The claim "``d.b`` is better than ``d.a``" from a recorded full-power comparison ``d``
    (:func:`gkl.experiments.full_power.difference`; higher is better)."""
    measured = d.sentence(what, 100.0, unit, digits=2)
    return ClaimCheck(claim, experiment, measured[:measured.rindex(": ")], _verdict(d, "ahead"), d)


def convergence_check(gamma: float = 0.2, seeds: Sequence[int] = (0, 1, 2), steps: int = 150, lr: float = 4.0,
                      temperature: float = 1.0, beta: float = 8.0) -> ClaimCheck:
    """"γ < 1 speeds up convergence of high-score classes", on the weight-function chapter's toy: a
    student's logits fitted to a peaked synthetic teacher (64 samples, 10 classes) with GKL at ``gamma``
    and at γ = 1 (α = 1, ``beta``), the same learning rate; lower top-1 error is better."""
    from gkl import toy

    configs = [{"label": f"GKL γ={g:g}", "loss": "gkl", "gamma": g, "alpha": 1.0, "beta": beta} for g in (1.0, gamma)]
    per_seed: dict[str, dict[int, float]] = {c["label"]: {} for c in configs}
    for seed in seeds:
        res = toy.convergence_experiment(configs, seeds=(seed,), num_samples=64, num_classes=10, confidence=8.0,
                                         noise=1.5, temperature=temperature, steps=steps, lr=lr, model="logits")
        for row in toy.convergence_table(res, "logit"):
            if row["group"] == "top-1 class":
                per_seed[row["loss"]][seed] = row["final_mean"]
    one, low = (c["label"] for c in configs)
    experiment = (f"toy of the weight-function chapter: top-1 class centred-logit error after {steps} steps "
                  f"(T = {temperature:g}, learning rate {lr:g}), per seed")
    return paired_check("γ < 1 speeds up the convergence of high-score classes (a mechanism, shown in a toy)", experiment, one, per_seed[one],
                        low, per_seed[low], higher_is_better=False, what="top-1 error", scale=1.0, unit="")


def overhead_check(rows: Sequence[Mapping[str, Any]], classes: int, case: str = "kd") -> ClaimCheck:
    """"The overhead is small": the median per-round time ratio GKL (with the prior) / ``F.kl_div``
    from :func:`gkl.bench.benchmark_losses` rows at ``classes`` classes."""
    from gkl.bench import ratio

    med, q1, q3 = ratio(rows, "gkl_prior", "torch_kl_div", classes, case)
    verdict = "supported" if med <= SMALL_OVERHEAD else "contradicted"
    return ClaimCheck(
        "GKL's overhead over KL is small",
        f"forward + backward time, GKL with the class prior / F.kl_div, C = {classes} ({case} case); "
        f"'small' fixed beforehand as at most {SMALL_OVERHEAD:g}×",
        f"{med:.2f}× (interquartile range {q1:.2f}–{q3:.2f}×)", verdict)


def median_interval(values: Sequence[float], level: float = 0.95) -> Optional[tuple[float, float]]:
    r"""The distribution-free confidence interval of a median: order statistics :math:`x_{(k)}` and
    :math:`x_{(n-k+1)}` with the largest :math:`k` whose coverage :math:`1 - 2\,P(\mathrm{Bin}(n, 1/2) < k)`
    is at least ``level``; ``None`` when even the range does not reach it (``n < 6`` at 95 %)."""
    import math

    x, n = sorted(values), len(values)
    below = 0.0  # P(Bin(n, 1/2) < k), for k = 1, 2, ...
    best = None
    for k in range(1, n // 2 + 1):
        below += math.comb(n, k - 1) / 2 ** n
        if 1 - 2 * below >= level:
            best = k
        else:
            break
    return None if best is None else (x[best - 1], x[n - best])


def step_overhead_check(setting: str, baseline: str, baseline_s: Mapping[int, float],
                        gkl_s: Mapping[int, float]) -> ClaimCheck:
    """"GKL's training overhead is small" in one setting, from the runs' own timings (``{seed: seconds}``
    of training, the same seeds): the median over seeds of the ratio GKL / ``baseline`` with its
    distribution-free 95 % interval (:func:`median_interval`). **Supported** when the whole interval is
    at most :data:`STEP_OVERHEAD`, **contradicted** when it is all above, **not decided** otherwise; no
    verdict without an interval (fewer than 6 seeds): runs that share a machine time noisily."""
    seeds = sorted(set(baseline_s) & set(gkl_s))
    if not seeds:
        raise ValueError("step_overhead_check needs the same seeds for GKL and the baseline")
    ratios = sorted(gkl_s[s] / baseline_s[s] for s in seeds)
    mid = len(ratios) // 2
    med = ratios[mid] if len(ratios) % 2 else 0.5 * (ratios[mid - 1] + ratios[mid])
    ci = median_interval(ratios)
    if ci is None:
        verdict, interval = f"no verdict at n = {len(seeds)} (too few seeds for an interval)", "no interval"
    else:
        verdict = ("supported" if ci[1] <= STEP_OVERHEAD else "contradicted" if ci[0] > STEP_OVERHEAD
                   else f"not decided at n = {len(seeds)}")
        interval = f"95 % CI {ci[0]:.2f}–{ci[1]:.2f}×"
    return ClaimCheck(
        f"GKL's training overhead is small ({setting.split(' (')[0]})",
        f"{setting}: training time of GKL / {baseline}, the runs' own timings, {len(seeds)} seeds; "
        f"'small' fixed beforehand as at most {STEP_OVERHEAD:g}×",
        f"{med:.2f}× (median; {interval}; range {ratios[0]:.2f}–{ratios[-1]:.2f}×)", verdict)


def claims_table(checks: Sequence[ClaimCheck]) -> str:
    """A Markdown table: claim | experiment here | measured | verdict."""
    lines = ["| claim (paper) | experiment here | measured | verdict |", "|---|---|---|---|"]
    lines += [f"| {c.claim} | {c.experiment} | {c.measured} | **{c.verdict}** |" for c in checks]
    return "\n".join(lines)
