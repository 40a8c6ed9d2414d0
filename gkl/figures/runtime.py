"""The chapters' measured run time: started in a hidden cell at the top, stopped in one at the end.

On the website the "Run this chapter" box at the top of each chapter shows the time measured while
that very page was built (myst-nb's ``glue``, referenced from the box). Outside a book build (Colab,
Jupyter) :func:`stop` only returns the time.
"""

from __future__ import annotations

import time

__all__ = ["start", "stop"]

_T0: list[float] = []


def start() -> float:
    """Start the chapter's clock (the first hidden cell after the Colab set-up); with ``GKL_SMOKE``
    set, say first that the chapter runs a smoke profile (:mod:`gkl.experiments.smoke`)."""
    from gkl.experiments import smoke

    if smoke.enabled():
        print(smoke.BANNER)
    _T0[:] = [time.perf_counter()]
    return _T0[0]


def stop(name: str = "chapter_runtime_s") -> float:
    """Seconds since :func:`start`; glued as ``name`` for the page's run-time box when myst-nb runs."""
    if not _T0:
        raise RuntimeError("gkl.figures.runtime.start() was not called at the top of the chapter")
    seconds = time.perf_counter() - _T0[0]
    try:
        from myst_nb import glue
    except ImportError:  # Colab / plain Jupyter: nothing to glue
        return seconds
    glue(name, seconds, display=False)
    return seconds
