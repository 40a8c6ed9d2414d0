"""Results *reported by the authors* of GKL (never measured here), stored as CSV files with their source.

The files live in ``gkl/reported_data/`` (see its ``SOURCES.md``); :func:`load` reads one into a
:class:`ReportedTable` whose rows are dicts with numbers converted to ``float`` (empty cells to
``None``, ``True``/``False`` to ``bool``). Every row carries a ``source`` column.

>>> from gkl import reported
>>> t = reported.load("imagenet_kd")
>>> t.value("top1", student="ResNet-18", method="GKL")
71.91
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from typing import Any, Iterator, Optional

__all__ = ["TABLES", "ReportedTable", "load", "available", "source_notes"]

#: Table name -> one-line description.
TABLES: dict[str, str] = {
    "robustbench_autoattack": "RobustBench CIFAR-10/100: clean and AutoAttack accuracy (%), GKL vs the strongest listed baseline",
    "imagenet_kd": "ImageNet knowledge distillation, top-1 accuracy (%)",
    "imagenet_kd_speed": "ImageNet KD training speed (seconds per iteration), ResNet-34 -> ResNet-18",
    "cifar100_kd_baselines": "CIFAR-100 knowledge distillation, DKD baselines from mdistiller quoted by the paper (%)",
    "imagenet_lt_kd": "ImageNet-LT knowledge distillation, top-1 accuracy (%)",
    "released_configs": "Hyper-parameters of the released GKL (DKLv2) and IKL (DKLv1) configurations",
}

_PACKAGE = "gkl"  # files under gkl/reported_data/ (package data)


def _convert(value: str) -> Any:
    v = value.strip()
    if v == "":
        return None
    if v in ("True", "False"):
        return v == "True"
    try:
        return float(v)
    except ValueError:
        return v


@dataclass(frozen=True)
class ReportedTable:
    """One CSV table of reported numbers.

    Attributes:
        name: table name (file stem).
        description: what the table holds.
        columns: column names in file order.
        rows: one dict per row.
    """

    name: str
    description: str
    columns: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def where(self, **conditions: Any) -> list[dict[str, Any]]:
        """Rows whose columns equal every given value."""
        for k in conditions:
            if k not in self.columns:
                raise ValueError(f"table {self.name!r} has no column {k!r}; columns: {', '.join(self.columns)}")
        return [r for r in self.rows if all(r[k] == v for k, v in conditions.items())]

    def value(self, column: str, **conditions: Any) -> Any:
        """The ``column`` of the single row matching ``conditions`` (error if none or several)."""
        rows = self.where(**conditions)
        if len(rows) != 1:
            raise ValueError(f"{len(rows)} rows of {self.name!r} match {conditions}, expected exactly 1")
        if column not in self.columns:
            raise ValueError(f"table {self.name!r} has no column {column!r}")
        return rows[0][column]

    def column(self, column: str) -> list[Any]:
        """All values of one column."""
        if column not in self.columns:
            raise ValueError(f"table {self.name!r} has no column {column!r}")
        return [r[column] for r in self.rows]

    def to_markdown(self, columns: Optional[list[str]] = None) -> str:
        """A Markdown table (for display in a chapter)."""
        cols = list(columns or [c for c in self.columns if c != "source"])
        fmt = lambda v: "" if v is None else (f"{v:g}" if isinstance(v, float) else str(v))  # noqa: E731
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in self.rows]
        return "\n".join(lines)


def available() -> list[str]:
    """Names of the stored tables."""
    return list(TABLES)


def load(name: str) -> ReportedTable:
    """Load a reported table by name (see :data:`TABLES`)."""
    if name not in TABLES:
        raise ValueError(f"unknown reported table {name!r}; available: {', '.join(TABLES)}")
    text = resources.files(_PACKAGE).joinpath("reported_data", f"{name}.csv").read_text(encoding="utf-8")
    reader = csv.DictReader(text.splitlines())
    columns = tuple(reader.fieldnames or ())
    if "source" not in columns:
        raise ValueError(f"reported table {name!r} has no 'source' column")
    rows = tuple({k: _convert(v) for k, v in r.items()} for r in reader)
    return ReportedTable(name, TABLES[name], columns, rows)


def source_notes() -> str:
    """The text of ``reported_data/SOURCES.md``."""
    return resources.files(_PACKAGE).joinpath("reported_data", "SOURCES.md").read_text(encoding="utf-8")
