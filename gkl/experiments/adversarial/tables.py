"""Tables and comparisons of the adversarial-training experiment's records."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from gkl.experiments.adversarial.profiles import Profile
from gkl.experiments.stats import PairedDifference, mean_std, paired_difference
from gkl.methods.adversarial import ADVERSARIAL

__all__ = ["describe_methods", "summarize", "format_table", "paired", "format_grid", "format_budgets",
           "format_neighbours", "plateau_note"]


def describe_methods(profile: Profile, num_classes: int) -> str:
    """A markdown table of what each method of ``profile`` trained with: loss settings and inner attack
    (each registered method words its own, ``describe``)."""
    lines = ["| method | training loss | inner maximisation (train-time attack) |", "|---|---|---|"]
    for label in profile.methods:
        c = profile.adversarial_config(label)
        loss, attack = ADVERSARIAL[c.name].describe(c.method, num_classes)
        s = c.setup
        extra = "; AWP" if s.awp_gamma else ""
        lines.append(f"| {label} | {loss} | {attack}, {s.attack_steps} steps of {s.step_ratio:g}·ε{extra} |")
    return "\n".join(lines)


def paired(records: Sequence[dict[str, Any]], a: str, b: str, key: str) -> PairedDifference:
    """:func:`gkl.experiments.stats.paired_difference` of ``key`` between methods ``a`` and ``b`` (``b − a``):
    its ``sentence()`` prints the difference, the interval, the MDE and the verdict."""
    ra = {r["seed"]: r[key] for r in records if r["method"] == a}
    rb = {r["seed"]: r[key] for r in records if r["method"] == b}
    return paired_difference(ra, rb, a, b)


def summarize(records: Sequence[dict[str, Any]],
              keys: Sequence[str] = ("clean_acc", "pgd_acc", "autoattack_acc", "autoattack_fast_acc", "robust_acc"),
              ) -> list[dict[str, Any]]:
    """Per method: mean and sample standard deviation over seeds of each accuracy key."""
    out = []
    for label in dict.fromkeys(r["method"] for r in records):
        rs = [r for r in records if r["method"] == label]
        row: dict[str, Any] = {"method": label, "seeds": len(rs)}
        for k in keys:
            if all(k in r for r in rs):
                row[k] = mean_std([r[k] for r in rs])
        out.append(row)
    return out


_HEAD = {"clean_acc": "clean", "pgd_acc": "PGD", "autoattack_acc": "AutoAttack (standard)",
         "autoattack_fast_acc": "AutoAttack-fast (reduced budget)", "robust_acc": "worst case"}


def format_table(summary: Sequence[dict[str, Any]], pgd_steps: int = 20) -> str:
    """A markdown table of :func:`summarize` output, accuracies in % as mean ± std."""
    keys = [k for k in _HEAD if all(k in row for row in summary)]
    heads = [f"PGD-{pgd_steps}" if k == "pgd_acc" else _HEAD[k] for k in keys]
    lines = ["| method | seeds | " + " | ".join(heads) + " |", "|---|---|" + "---|" * len(keys)]
    for row in summary:
        cells = [f"{100 * row[k][0]:.1f} ± {100 * row[k][1]:.1f}" for k in keys]
        lines.append(f"| {row['method']} | {row['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _settings(config: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}" for k, v in config.items())


def format_grid(record: dict[str, Any]) -> str:
    """A markdown table of the recorded sweep's grid: per method and configuration, validation clean
    and PGD accuracy in % (means over the sweep's seeds); the chosen configuration in bold."""
    from gkl.experiments.adversarial.selection import config_scores, label

    lines = ["| method | configuration | validation clean | validation PGD |", "|---|---|---|---|"]
    for m in record["grids"]:
        pick = int(record["chosen"][m]["config_id"])
        for s in config_scores(record, m):
            b = "**" if s["config_id"] == pick else ""
            lines.append(f"| {label(m)} | {b}{_settings(s['settings'])}{b} | {b}{100 * s['val_clean']:.1f}{b} "
                         f"| {b}{100 * s['val_pgd']:.1f}{b} |")
    return "\n".join(lines)


def format_budgets(record: dict[str, Any]) -> str:
    """A markdown table of the epochs stage: per method, validation PGD accuracy in % (mean over the
    sweep's seeds) at each epoch budget; the chosen budget in bold."""
    from gkl.experiments.adversarial.selection import label

    means = record["epoch_budget"]["means"]
    budgets = sorted({int(e) for s in means.values() for e in s})
    chosen = int(record["epoch_budget"]["chosen"])
    # short headers (epochs only) keep seven budgets within the text column
    head = [f"**{e}**" if e == chosen else f"{e}" for e in budgets]
    lines = ["| method \\ epochs | " + " | ".join(head) + " | best − chosen |", "|---|" + "---|" * (len(budgets) + 1)]
    for m, s in means.items():
        vals = {int(e): v for e, v in s.items()}
        cells = [f"{100 * vals[e]:.1f}" for e in budgets]
        lines.append(f"| {label(m)} | " + " | ".join(cells) + f" | {100 * (max(vals.values()) - vals[chosen]):.1f} |")
    return "\n".join(lines)


def format_neighbours(record: dict[str, Any], method: str = "gkl", config_id: Optional[int] = None) -> str:
    """A markdown table of the grid configurations of ``method`` (a registered name) one setting away
    from its chosen one (or from grid configuration ``config_id``): validation accuracies and the
    paired difference of validation PGD accuracy (95 % CI over the sweep's seeds, its minimum
    detectable effect and the verdict of :func:`gkl.experiments.stats.paired_difference`: fewer than
    three seeds give no interval)."""
    from gkl.experiments.adversarial.selection import grid_neighbours

    cid = int(record["chosen"][method]["config_id"]) if config_id is None else int(config_id)
    lines = ["| changed setting | validation clean | validation PGD | PGD difference, 95 % CI "
             "| MDE | verdict |", "|---|---|---|---|---|---|"]
    for s, d in grid_neighbours(record, method, cid):
        lines.append(f"| {d.b} | {100 * s['val_clean']:.1f} | {100 * s['val_pgd']:.1f} | "
                     f"{100 * d.mean:+.1f} {d.interval_text()} | {d.mde_text()} | {d.verdict} |")
    return "\n".join(lines)


def plateau_note(record: dict[str, Any]) -> str:
    """The end of the sentence that states the chosen budget: ``"."``, or — when the chosen budget
    is the largest tried — how much validation PGD accuracy still rose over the last step (no
    plateau was seen)."""
    from gkl.experiments.adversarial.selection import label

    eb = record["epoch_budget"]
    budgets = sorted(int(b) for b in eb["budgets"])
    if int(eb["chosen"]) != budgets[-1] or len(budgets) < 2:
        return "."
    b0, b1 = budgets[-2:]
    gains = {label(m): 100 * (s[str(b1)] - s[str(b0)]) for m, s in
             ((m, {str(k): v for k, v in s.items()}) for m, s in eb["means"].items())}
    return (f", the **largest budget tried**: from {b0} to {b1} epochs validation PGD accuracy still rose by "
            + ", ".join(f"{g:+.1f} ({m})" for m, g in gains.items())
            + " points; where that exceeds the tolerance the curves have **not** plateaued, longer training "
            "would likely raise those methods, and the comparison below is at equal, not converged, training "
            "length (a limitation of this build).")


def _value(v: Any) -> str:
    return ("on" if v else "off") if isinstance(v, bool) else f"{v:g}" if isinstance(v, (int, float)) else str(v)


def format_choices(record: dict[str, Any]) -> str:
    """One line per method of a recorded sweep: each chosen setting beside its **released** value
    (a method's own settings: the package defaults, which follow the released code; attack settings:
    the released CIFAR-10 recipe, :func:`gkl.methods.adversarial.released_recipe`), and the
    ratio where they differ by a factor."""
    from gkl.methods.adversarial import released_recipe

    attack = released_recipe("cifar10")["adversarial"]
    lines = []
    for m, entry in record["chosen"].items():
        defaults = ADVERSARIAL.config(m).to_dict()
        parts = []
        for k, v in entry["settings"].items():
            rel = defaults.get(k, attack.get(k))
            if rel is None or rel == v:
                parts.append(f"{k} = {_value(v)}" + (" (as released)" if rel is not None else ""))
                continue
            far = (f", {max(v, rel) / min(v, rel):.0f}× {'smaller' if v < rel else 'larger'}"
                   if not isinstance(v, bool) and min(v, rel) > 0 and max(v, rel) / min(v, rel) >= 2 else "")
            parts.append(f"{k} = {_value(v)} (released {_value(rel)}{far})")
        lines.append(f"* **{ADVERSARIAL[m].label}**: " + ", ".join(parts))
    return "\n".join(lines)
