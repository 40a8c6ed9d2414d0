"""Sphinx local extension of The GKL Book: exercise solutions are for instructors only.

Every chapter keeps the solution of each exercise next to it, in its source (one home for authors)::

    1. **(★★☆ core · 15 min)** The exercise ...

    ```{admonition} Solution
    :class: dropdown
    The answer ...
    ```

The students' site must not show them, so this extension

* removes every admonition titled "Solution" from each page's doctree when the page is written
  (``doctree-resolved``: the HTML and the search index are made from the pruned tree; the cached
  doctrees are not published);
* strips the same blocks from the page sources the site publishes for its download button
  (``_build/html/_sources/``) once the build has finished.

``GKL_INSTRUCTOR=1 jupyter-book build ...`` (or ``gkl_instructor = True`` in the Sphinx config) keeps
them: an instructor's edition.  The usual instructor document is ``make instructor``
(``tools/solutions.py``), which collects every exercise with its solution into one file.

:func:`solution_spans` / :func:`strip_solutions` work on MyST text and are shared with
``tools/solutions.py`` and ``tools/myst_markdown.py``'s tests, so "what is a solution" lives here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

#: The title of a solution block (``Solution``, ``Solution to exercise 2`` ...), case-insensitive.
SOLUTION_TITLE_RE = re.compile(r"^\s*solution\b", re.IGNORECASE)

#: The opening line of a solution block in MyST: ```{admonition} Solution, :::{dropdown} Solution ...
OPEN_RE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|:{3,})\s*\{(?:admonition|dropdown)\}\s+(?P<title>.*?)\s*$")


def _instructor_default() -> bool:
    return os.environ.get("GKL_INSTRUCTOR", "").strip().lower() in {"1", "true", "yes"}


# --- MyST text ------------------------------------------------------------------------------------

def solution_spans(text: str) -> list[tuple[int, int]]:
    """``(first, last)`` line indices (inclusive) of each solution block of the MyST ``text``.

    A block opens with ```` ```{admonition} Solution ```` (or ``:::``, or ``{dropdown} Solution``) and
    closes at the next line holding only the same fence character, at least as many times."""
    lines = text.split("\n")
    spans = []
    i = 0
    while i < len(lines):
        m = OPEN_RE.match(lines[i])
        if m and SOLUTION_TITLE_RE.match(m["title"]):
            char, n = m["fence"][0], len(m["fence"])
            close = re.compile(rf"^\s*{re.escape(char)}{{{n},}}\s*$")
            j = next((k for k in range(i + 1, len(lines)) if close.match(lines[k])), None)
            if j is None:
                raise ValueError(f"solution block opened at line {i + 1} is never closed")
            spans.append((i, j))
            i = j + 1
            continue
        i += 1
    return spans


def strip_solutions(text: str) -> str:
    """The MyST ``text`` without its solution blocks (and without the blank line before each)."""
    lines = text.split("\n")
    for first, last in reversed(solution_spans(text)):
        while first > 0 and not lines[first - 1].strip():
            first -= 1
        del lines[first:last + 1]
    return "\n".join(lines)


# --- the doctree ----------------------------------------------------------------------------------

def is_solution(node: nodes.Node) -> bool:
    """An admonition whose title says "Solution"."""
    if not isinstance(node, nodes.Admonition):
        return False
    title = next(iter(node.findall(nodes.title)), None)
    return title is not None and bool(SOLUTION_TITLE_RE.match(title.astext()))


def remove_solutions(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Drop every solution admonition of the page (unless this is the instructor's edition)."""
    if app.config.gkl_instructor:
        return
    for node in list(doctree.findall(is_solution)):
        node.parent.remove(node)


def strip_published_sources(app: Sphinx, exception: Exception | None) -> None:
    """Remove the solution blocks from the page sources under ``_sources/`` (the download button)."""
    if exception is not None or app.config.gkl_instructor or app.builder.format != "html":
        return
    sources = Path(app.outdir) / "_sources"
    if not sources.is_dir():
        return
    for path in sources.rglob("*"):
        if path.suffix not in {".md", ".txt", ".ipynb"} or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            stripped = _strip_notebook(text)
        else:
            stripped = strip_solutions(text)
        if stripped != text:
            path.write_text(stripped, encoding="utf-8")


def _strip_notebook(text: str) -> str:
    import nbformat

    nb = nbformat.reads(text, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type == "markdown" and solution_spans(cell.source):
            cell.source = strip_solutions(cell.source)
            changed = True
    return nbformat.writes(nb) + "\n" if changed else text


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("gkl_instructor", _instructor_default(), "env", [bool])
    app.connect("doctree-resolved", remove_solutions)
    app.connect("build-finished", strip_published_sources)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
