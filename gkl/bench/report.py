"""The benchmark's results as tables: time ratios of implementations timed in the same rounds (with
the spread of their per-round ratios) and markdown tables of times and peak memory."""

from __future__ import annotations

from typing import Optional, Sequence

from gkl.bench.timing import SEPARATE, quartiles

__all__ = ["RATIOS", "ratio", "rows_to_markdown", "memory_to_markdown"]

#: The time ratios ``a / b`` that :func:`rows_to_markdown` reports (when both were timed).
RATIOS = [
    ("gkl", "torch_kl_div"),
    ("gkl_prior", "torch_kl_div"),
    ("gkl", "torch_kl_div_log"),
    ("gkl_prior", "torch_kl_div_log"),
    ("pairwise", "gkl"),
]


def ratio(rows: Sequence[dict], a: str, b: str, classes: int, case: Optional[str] = None) -> tuple[float, float, float]:
    """Time ratio ``a / b`` at ``classes`` (and ``case``): (median, q1, q3).

    For two implementations timed in the same rounds, the quartiles of the per-round ratios;
    otherwise (the pairwise form, or rows without ``times_ms``) the ratio of the medians, three times.
    """
    by = {(r["impl"], r["classes"], r.get("case")): r for r in rows}
    ra, rb = by[(a, classes, case)], by[(b, classes, case)]
    ta, tb = ra.get("times_ms"), rb.get("times_ms")
    if ta and tb and len(ta) == len(tb) and a not in SEPARATE and b not in SEPARATE:
        q1, med, q3 = quartiles([x / z for x, z in zip(ta, tb)])
        return med, q1, q3
    r = ra["median_ms"] / rb["median_ms"]
    return r, r, r


def _fmt_ratio(m: float, q1: float, q3: float) -> str:
    digits = 0 if m >= 100 else 2
    if q1 == q3 == m:
        return f"{m:.{digits}f}×"
    return f"{m:.{digits}f}× ({q1:.{digits}f}–{q3:.{digits}f})"


def _keys(rows: Sequence[dict]) -> tuple[list[str], list[tuple[int, Optional[str]]]]:
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    cases = list(dict.fromkeys(r.get("case") for r in rows))
    keys = sorted({(r["classes"], r.get("case")) for r in rows}, key=lambda k: (k[0], cases.index(k[1])))
    return impls, keys


def rows_to_markdown(rows: Sequence[dict]) -> str:
    """A markdown table: one line per (C, case), the median ms of each implementation and the time
    ratios of :data:`RATIOS`, each with the interquartile range of its per-round ratios."""
    impls, keys = _keys(rows)
    by = {(r["impl"], r["classes"], r.get("case")): r for r in rows}
    ratios = [(a, b) for a, b in RATIOS if a in impls and b in impls]
    has_case = any(case is not None for _, case in keys)
    head = ["C"] + (["case"] if has_case else []) + [f"{i} ms" for i in impls] + [f"{a}/{b} time" for a, b in ratios]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for C, case in keys:
        cells = [str(C)] + ([case] if has_case else [])
        cells += [f"{by[(i, C, case)]['median_ms']:.3f}" if (i, C, case) in by else "" for i in impls]
        cells += [_fmt_ratio(*ratio(rows, a, b, C, case)) for a, b in ratios]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def memory_to_markdown(rows: Sequence[dict]) -> str:
    """A markdown table: one line per (C, case), the peak MiB of each implementation."""
    impls, keys = _keys(rows)
    by = {(r["impl"], r["classes"], r.get("case")): r for r in rows}
    has_case = any(case is not None for _, case in keys)
    head = ["C"] + (["case"] if has_case else []) + [f"{i} MiB" for i in impls]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for C, case in keys:
        cells = [str(C)] + ([case] if has_case else [])
        cells += [f"{by[(i, C, case)]['peak_mib']:.2f}" if (i, C, case) in by else "" for i in impls]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
