"""Figures: every chart in the book is a function here that returns a plotly or matplotlib figure.

* :mod:`gkl.figures.palette` — the one colour-blind-safe palette; one colour per method everywhere.
* :mod:`gkl.figures.common` — lazy plotly, the kernel-free slider, mean ± std bands.
* :mod:`gkl.figures.theory` — one module per theory chapter (``book/theory/X.md`` ↔ ``theory/X.py``).
* :mod:`gkl.figures.adversarial` — the adversarial-training chapter.
* :mod:`gkl.figures.distill` — the distillation chapters and the authors' reported tables.
* :mod:`gkl.figures.markdown` — :func:`~gkl.figures.markdown.show`: Markdown tables as HTML cell results.
* :mod:`gkl.figures.widgets` — ipywidgets panels (need a running kernel).

Import the submodule you need (``from gkl.figures import theory``); nothing is imported eagerly, so the
losses never depend on plotting libraries.
"""
