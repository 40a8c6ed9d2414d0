"""Reading distillation results honestly: last-epoch summaries over seeds, paired comparisons with the
book's one verdict rule (:func:`gkl.experiments.stats.paired_difference`), and Markdown tables."""

from __future__ import annotations

from typing import Any, Mapping, Sequence, Union

from gkl.experiments.stats import PairedDifference, mean_std, paired_difference
from gkl.methods.distill.train import RunResult

__all__ = ["headline", "format_headline", "summarize", "format_table", "paired_verdict", "compare_to", "verdict_between", "difference_sentence",
           "format_comparison", "records_to_markdown"]


def summarize(results: Mapping[str, list[RunResult]], metric: str = "test_acc") -> list[dict[str, Any]]:
    """Mean, sample standard deviation (:func:`gkl.experiments.stats.mean_std`: 0 for one seed) and
    per-seed values of the **last-epoch** ``metric``; ``n`` is the number of seeds."""
    rows = []
    for label, runs in results.items():
        values = [float(r.history[-1][metric]) for r in runs]
        mean, std = mean_std(values)
        rows.append({"method": label, "mean": mean, "std": std, "n": len(values), "values": values})
    return rows


def format_table(rows: list[dict[str, Any]], scale: float = 100.0, unit: str = "%") -> str:
    """A Markdown table ``method | mean ± std | seeds`` from :func:`summarize` (one seed: no ± std)."""
    lines = [f"| method | test accuracy ({unit}, last epoch) | per seed |", "|---|---|---|"]
    for r in rows:
        per = ", ".join(f"{v * scale:.1f}" for v in r["values"])
        spread = f" ± {r['std'] * scale:.2f}" if r["n"] > 1 else " (one seed)"
        lines.append(f"| {r['method']} | {r['mean'] * scale:.2f}{spread} | {per} |")
    return "\n".join(lines)


def _paired(values: Sequence[float], baseline: Sequence[float]) -> PairedDifference:
    """``values − baseline`` seed by seed (both in seed order, the shorter list sets the seeds)."""
    n = min(len(values), len(baseline))
    return paired_difference(dict(enumerate(baseline[:n])), dict(enumerate(values[:n])))


def paired_verdict(values: list[float], baseline: list[float]) -> str:
    """``"ahead"``, ``"behind"``, ``"no difference detected"`` or ``"too few seeds"``: ``values``
    against ``baseline``, seed by seed.

    Both lists hold one number per seed, in the same seed order (same seed = same initial weights and
    data order). The book's one verdict rule, :func:`gkl.experiments.stats.paired_difference`:
    ``"ahead"`` / ``"behind"`` when the 95 % confidence interval (Student's t) of the mean per-seed
    difference lies above / below zero (differences with no spread: the exact sign-flip test); with
    fewer than three paired seeds there is no interval and no verdict (``"too few seeds"``).
    """
    return _reading(_paired(values, baseline))


def _reading(d: PairedDifference) -> str:
    """``d.verdict`` without its seed count: ``"ahead"``, ``"behind"``, ``"no difference detected"``
    or ``"too few seeds"``."""
    if not d.decided:
        return "too few seeds"
    return d.verdict if d.verdict in ("ahead", "behind") else "no difference detected"


def compare_to(results: Mapping[str, list[RunResult]], baseline: str = "none", metric: str = "test_acc") -> list[dict[str, Any]]:
    """Each method against ``baseline``, seed by seed (same seed = same initial weights and data order).

    Returns rows with the difference of means ``delta``, the paired per-seed differences, how many
    seeds the method wins, the 95 % interval of the mean paired difference (``low``, ``high``; ``None``
    without an interval), its minimum detectable effect ``mde``, the whole comparison ``diff`` (a
    :class:`~gkl.experiments.stats.PairedDifference`) and a verdict by :func:`paired_verdict`:
    ``"better"`` / ``"worse"`` when the interval lies above / below zero, else ``"no difference
    detected"`` (or ``"too few seeds"``).
    """
    if baseline not in results:
        raise ValueError(f"baseline {baseline!r} is not among the results: {', '.join(results)}")
    summary = {r["method"]: r for r in summarize(results, metric)}
    base = summary[baseline]
    rows = []
    for label, r in summary.items():
        if label == baseline:
            continue
        n = min(len(r["values"]), len(base["values"]))
        paired = [a - b for a, b in zip(r["values"][:n], base["values"][:n])]
        spread = max(r["std"], base["std"]) if n > 1 else float("inf")
        ci = _paired(r["values"], base["values"])
        rows.append({"method": label, "delta": r["mean"] - base["mean"], "paired": paired,
                     "wins": sum(p > 0 for p in paired), "n": n, "spread": spread, "low": ci.low, "high": ci.high,
                     "mde": ci.mde, "diff": ci,
                     "verdict": {"ahead": "better", "behind": "worse"}.get(_reading(ci), _reading(ci))})
    return rows


def _values(x: Union[Mapping[str, Any], list[RunResult], list[float]], metric: str) -> list[float]:
    """Per-seed values of a :func:`summarize` row, a list of runs, or a list of numbers."""
    if isinstance(x, Mapping):
        return [float(v) for v in x["values"]]
    return [float(r.history[-1][metric]) if hasattr(r, "history") else float(r) for r in x]


def verdict_between(a: Any, b: Any, metric: str = "test_acc") -> dict[str, Any]:
    """:func:`paired_verdict` of ``a`` against ``b`` with the numbers a sentence needs.

    ``a`` and ``b`` are each a :func:`summarize` row, a list of :class:`RunResult` (seed order) or a
    list of per-seed numbers. Returns ``verdict``, ``delta`` (difference of means), ``wins`` (seeds
    where ``a`` is higher), ``n`` (paired seeds), the 95 % interval ``low``, ``high``, the minimum
    detectable effect ``mde`` and the :class:`~gkl.experiments.stats.PairedDifference` ``diff``.
    """
    va, vb = _values(a, metric), _values(b, metric)
    n = min(len(va), len(vb))
    if n == 0:
        raise ValueError("verdict_between needs at least one value on each side")
    ci = _paired(va, vb)
    return {"verdict": _reading(ci), "delta": mean_std(va)[0] - mean_std(vb)[0],
            "wins": sum(x > y for x, y in zip(va[:n], vb[:n])), "n": n, "low": ci.low, "high": ci.high,
            "mde": ci.mde, "diff": ci}


def difference_sentence(a: Any, b: Any, name_a: str, name_b: str, metric: str = "test_acc", scale: float = 100.0) -> str:
    """A clause that holds whatever the numbers are: ``"GKL is ahead of KD (+1.2 points, 95 % CI [+0.3,
    +2.1], MDE 0.9 points, 3/3 seeds higher)"``, ``"GKL is behind KD (...)"``, ``"no difference
    detected between GKL and KD (+0.2 points, 95 % CI [-1.0, +1.4], MDE 1.7 points, 2/3 seeds
    higher)"`` or ``"too few seeds to compare GKL and KD (...)"`` (the rule of :func:`paired_verdict`)."""
    v = verdict_between(a, b, metric)
    d: PairedDifference = v["diff"]
    if d.low is not None:
        ci = f", 95 % CI {d.interval_text(scale)}, MDE {d.mde_text(scale)} points"
    elif d.decided:
        ci = f", {d.interval_text(scale)}, exact sign-flip p = {d.p_value:.2g}"
    else:
        ci = ""
    nums = f"{v['delta'] * scale:+.1f} points{ci}, {v['wins']}/{v['n']} seeds higher"
    if v["verdict"] == "too few seeds":
        return f"too few seeds to compare {name_a} and {name_b} ({nums})"
    if v["verdict"] == "no difference detected":
        return f"no difference detected between {name_a} and {name_b} ({nums})"
    return f"{name_a} is {'ahead of' if v['verdict'] == 'ahead' else 'behind'} {name_b} ({nums})"


def format_comparison(rows: list[dict[str, Any]], baseline: str = "student alone", scale: float = 100.0) -> str:
    """Markdown table of :func:`compare_to`."""
    lines = [f"| method | Δ vs {baseline} (points) | per-seed Δ | seeds won | 95 % CI (points) | MDE (points) | reading |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        per = ", ".join(f"{p * scale:+.1f}" for p in r["paired"])
        d: PairedDifference = r["diff"]
        lines.append(f"| {r['method']} | {r['delta'] * scale:+.2f} | {per} | {r['wins']}/{r['n']} | "
                     f"{d.interval_text(scale)} | {d.mde_text(scale)} | {r['verdict']} |")
    return "\n".join(lines)


def records_to_markdown(rows: list[Mapping[str, Any]]) -> str:
    """A Markdown table of a list of flat dicts (column order of the first row)."""
    if not rows:
        return ""
    cols = list(rows[0])
    fmt = lambda v: f"{v:+.1f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def headline(results: Mapping[str, list[RunResult]], baseline: str, metric: str = "test_acc") -> list[dict[str, Any]]:
    """The headline comparison: per method mean ± std over seeds and, against ``baseline`` (same
    seeds), the paired difference with its 95 % interval, its minimum detectable effect ``mde`` and
    the verdict of :func:`gkl.experiments.stats.paired_difference` (``"ahead"``, ``"behind"``, ``"no
    difference detected at n = k"`` or ``"too few seeds (n = k)"``; ``None`` for the baseline itself);
    ``diff`` holds the :class:`~gkl.experiments.stats.PairedDifference`."""
    if baseline not in results:
        raise ValueError(f"baseline {baseline!r} is not among the results: {', '.join(results)}")
    per = {m: {i: float(r.history[-1][metric]) for i, r in enumerate(runs)} for m, runs in results.items()}
    rows = []
    for m, vals in per.items():
        mean, std = mean_std(list(vals.values()))
        row = {"method": m, "mean": mean, "std": std, "n": len(vals), "values": list(vals.values()),
               "delta": None, "low": None, "high": None, "mde": None, "verdict": None, "diff": None}
        if m != baseline:
            d = paired_difference(per[baseline], vals, baseline, m)
            row.update(delta=d.mean, low=d.low, high=d.high, mde=d.mde, verdict=d.verdict, diff=d)
        rows.append(row)
    return rows


def format_headline(rows: list[dict[str, Any]], labels: Mapping[str, str], baseline: str, scale: float = 100.0) -> str:
    """Markdown table of :func:`headline` (``labels``: method -> display name)."""
    name = labels.get(baseline, baseline)
    lines = [f"| method | test accuracy (%, mean ± std) | per seed | Δ vs {name} (points) | 95 % CI | MDE | verdict |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        per = ", ".join(f"{v * scale:.1f}" for v in r["values"])
        head = f"| {labels.get(r['method'], r['method'])} | {r['mean'] * scale:.2f} ± {r['std'] * scale:.2f} | {per} |"
        if r["delta"] is None:
            lines.append(head + " (baseline) | — | — | — |")
        else:
            d: PairedDifference = r["diff"]
            lines.append(head + f" {r['delta'] * scale:+.2f} | {d.interval_text(scale, 2)} | {d.mde_text(scale, 2)} "
                         f"| {r['verdict']} |")
    return "\n".join(lines)
