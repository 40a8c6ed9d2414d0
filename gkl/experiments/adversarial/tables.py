"""Tables and comparisons of the adversarial-training experiment's records."""

from __future__ import annotations

from typing import Any, Sequence

from gkl.experiments.adversarial.profiles import Profile
from gkl.experiments.stats import PairedDifference, mean_std, paired_difference
from gkl.methods.adversarial import ADVERSARIAL

__all__ = ["describe_methods", "summarize", "format_table", "paired"]


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
    """:func:`gkl.experiments.stats.paired_difference` of ``key`` between methods ``a`` and ``b`` (``b − a``)."""
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
