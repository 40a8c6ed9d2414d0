"""The chapters' measured run time: started in a hidden cell at the top, stopped in one at the end.

On the website the "Run this chapter" box at the top of each chapter shows the time measured while
that very page was built (myst-nb's ``glue``, referenced from the box). Outside a book build (Colab,
Jupyter) :func:`stop` only returns the time.
"""

from __future__ import annotations

import time

__all__ = ["start", "stop", "human_duration"]

_T0: list[float] = []


def start() -> float:
    """Start the chapter's clock (the first hidden cell after the Colab set-up); with ``GKL_SMOKE``
    set, say first that the chapter runs a smoke profile (:mod:`gkl.experiments.smoke`)."""
    from gkl.experiments import smoke

    if smoke.enabled():
        print(smoke.BANNER)
    _T0[:] = [time.perf_counter()]
    return _T0[0]


def human_duration(seconds: float) -> str:
    """A run time as a reader says it: ``"under a second"``, ``"12 s"``, ``"3 min 5 s"``, ``"1 h 2 min"``."""
    s = float(seconds)
    if s < 1:
        return "under a second"
    s = round(s)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min"


def stop(name: str = "chapter_runtime_s") -> float:
    """Seconds since :func:`start`; glued as ``name`` (a number) and, for the page's run-time box, as
    ``name`` without its ``_s`` (:func:`human_duration`: "under a second", "3 min 5 s") when myst-nb runs."""
    if not _T0:
        raise RuntimeError("gkl.figures.runtime.start() was not called at the top of the chapter")
    from gkl.figures.markdown import glue  # myst-nb's glue in a book build; nothing in Colab / Jupyter

    seconds = time.perf_counter() - _T0[0]
    glue(name, seconds, display=False)
    glue(name.removesuffix("_s"), human_duration(seconds), display=False)
    return seconds
