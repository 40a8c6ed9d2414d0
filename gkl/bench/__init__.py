r"""Micro-benchmark of the loss: closed form vs the pairwise (released-code) form vs ``F.kl_div``.

* :mod:`gkl.bench.timing` — the implementations timed (:func:`pairwise_gkl` among them) and
  :func:`benchmark_losses`, which times them (how it times is in that module's docstring);
* :mod:`gkl.bench.report` — time ratios and markdown tables of its rows.

The command is ``python -m gkl bench`` (:mod:`gkl.cli.bench`; ``python -m gkl.bench`` runs the same).
"""

from gkl.bench.report import RATIOS, memory_to_markdown, ratio, rows_to_markdown
from gkl.bench.timing import CASES, IMPLEMENTATIONS, benchmark_losses, pairwise_gkl

__all__ = [
    "pairwise_gkl",
    "benchmark_losses",
    "rows_to_markdown",
    "memory_to_markdown",
    "ratio",
    "RATIOS",
    "IMPLEMENTATIONS",
    "CASES",
]
