"""Where a tuning sweep's choice sits in its grid: the settings chosen at the edge of the values tried.

A configuration chosen at the smallest or largest value tried of one setting (the other settings held
at the chosen values) may not be that setting's optimum: the optimum may lie beyond the grid. The
chapters say so beside their grid tables (:func:`edge_note`), generated from the recorded grids.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

__all__ = ["SYMBOLS", "flat", "edges", "edge_note"]

#: How the chapters write the sweeps' settings.
SYMBOLS = {"alpha": "α", "beta": "β", "gamma": "γ", "temperature": "T", "weight_temperature": "T2",
           "kd_weight": "KD weight", "lr": "learning rate", "step_ratio": "attack step / ε"}


def flat(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A grid entry as one level of ``setting -> value``: a recorded entry's ``settings`` and ``train``
    (:mod:`gkl.experiments.protocol`), or a code grid entry's settings and its ``"train"`` changes,
    merged. The entry's index (``config_id``) and full ``config`` are not settings."""
    settings = entry["settings"] if "settings" in entry else \
        {k: v for k, v in entry.items() if k not in ("train", "config_id", "config")}
    return {**dict(settings), **dict(entry.get("train") or {})}


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def edges(grid: Sequence[Mapping[str, Any]], chosen_id: int) -> list[tuple[str, Any, str]]:
    """``(setting, value, "smallest" | "largest")`` for each numeric setting of configuration
    ``chosen_id`` whose value is the smallest or largest among the configurations of ``grid`` that
    equal the chosen one in every other setting, when at least two values of it were tried."""
    configs = [flat(e) for e in grid]
    chosen = configs[int(chosen_id)]
    out = []
    for name, value in chosen.items():
        if not _number(value):
            continue
        rest = {k: v for k, v in chosen.items() if k != name}
        tried = sorted({c[name] for c in configs
                        if name in c and _number(c[name]) and {k: v for k, v in c.items() if k != name} == rest})
        if len(tried) >= 2 and value in (tried[0], tried[-1]):
            out.append((name, value, "smallest" if value == tried[0] else "largest"))
    return out


def edge_note(grids: Mapping[str, Sequence[Mapping[str, Any]]], chosen: Mapping[str, Mapping[str, Any]],
              labels: Mapping[str, str], symbols: Mapping[str, str] = SYMBOLS) -> str:
    """One sentence: which methods' chosen configurations sit at the edge of their grids (the
    optimum of that setting may lie beyond what was tried), or that none does."""
    said = []
    for m, grid in grids.items():
        for name, value, side in edges(grid, int(chosen[m]["config_id"])):
            said.append(f"{labels.get(m, m)} ({symbols.get(name, name)} = {value:g}, the {side} tried)")
    if not said:
        return "Every chosen setting lies inside the values its grid tried."
    return ("At the edge of its grid: " + "; ".join(said) + ". The best value of that setting may lie "
            "beyond the grid; the comparison is with the best configuration tried, not the best possible.")
