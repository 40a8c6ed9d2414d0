#!/usr/bin/env python3
"""Every chapter as a reveal.js slide deck, from the notebook the book build just executed.

``make book`` runs this after ``jupyter-book build``: it reads ``_build/jupyter_execute/<chapter>.ipynb``
(myst-nb's executed copy, outputs included) and writes ``_build/html/slides/<chapter>.slides.html``,
served with the site and offline like it (reveal.js, require.js, MathJax 3 and plotly.js come from
``_static/vendor``). Each chapter page links its deck (``book/_ext/gkl_book.py``).

Which cells go on which slide is chosen by cell tags:

* a markdown cell that starts with a ``#``/``##`` heading opens a new slide, one with ``###`` a
  sub-slide (below the previous one); other cells continue the current slide;
* tags ``slide``, ``subslide``, ``fragment``, ``notes`` (speaker notes) or ``skip`` override that;
* cells tagged ``remove-cell`` are left out, ``remove-input`` cells show their output only, and
  admonitions of solutions (``{admonition} Solution``) become speaker notes.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "book" / "_ext"))

SLIDE_TAGS = ("slide", "subslide", "fragment", "notes", "skip")


def slide_type(cell) -> str:
    """The reveal slide type of one cell (see the module docstring)."""
    tags = cell.get("metadata", {}).get("tags", [])
    for t in SLIDE_TAGS:
        if t in tags:
            return t
    src = cell.get("source", "").lstrip()
    if cell.get("cell_type") == "markdown":
        if src.startswith("### "):
            return "subslide"
        if src.startswith(("# ", "## ")):
            return "slide"
        if src.startswith("```{admonition} Solution"):
            return "notes"
    return "-"


def split_at_headings(cell) -> list:
    """A markdown cell cut before every heading line (a chapter's prose cell spans several sections)."""
    import copy
    import re

    if cell.get("cell_type") != "markdown":
        return [cell]
    # cut before every heading, and around every solution block (those become speaker notes)
    pieces = re.split(r"(```\{admonition\} Solution.*?\n```)", cell.source, flags=re.S)
    parts = [p for piece in pieces for p in re.split(r"(?m)^(?=#{1,3} )", piece) if p.strip()]
    out = []
    for i, part in enumerate(parts or [cell.source]):
        piece = copy.deepcopy(cell)
        piece.source = part.rstrip("\n")
        if "id" in piece:
            piece.id = f"{cell.id}-{i}"
        out.append(piece)
    return out


_ROLE = re.compile(r"\{([a-z]+(?::[a-z]+)?)\}`([^`]*)`")
_DIRECTIVE = re.compile(r"```\{([a-z-]+)\}[ ]?([^\n]*)\n((?::[a-z-]+:[^\n]*\n)*)(.*?)\n```", re.S)


def _role(m: "re.Match") -> str:
    name, text = m.group(1), m.group(2)
    if name in ("doc", "ref", "numref"):
        return re.sub(r"\s*<[^>]*>$", "", text)  # "label <target>" -> "label"
    if name.startswith("cite"):
        return f"[{text}]"
    if name.startswith("glue"):
        return "…"
    return f"`{text.lstrip('~')}`"  # func, class, mod, math-free roles: code


def _directive(m: "re.Match") -> str:
    name, arg, body = m.group(1), m.group(2).strip(), m.group(4).strip()
    if name in ("admonition", "note", "tip", "important", "warning"):
        title = arg or name.capitalize()
        return "> **" + title + ".** " + body.replace("\n", "\n> ")
    return body


def myst_to_markdown(text: str) -> str:
    """MyST constructs that a notebook's markdown renderer would show raw, as plain Markdown:
    admonitions become quotes with a bold title, roles their text (``{func}`f``` -> ```f```)."""
    return _ROLE.sub(_role, _DIRECTIVE.sub(_directive, text))


def prepare(nb):
    """Drop removed cells, hide removed inputs, set every cell's ``slideshow`` metadata."""
    cells = []
    for cell in (piece for c in nb.cells for piece in split_at_headings(c)):
        tags = cell.get("metadata", {}).get("tags", [])
        if "remove-cell" in tags:
            continue
        if "remove-input" in tags and cell.cell_type == "code":
            cell.metadata.setdefault("transient", {})["remove_source"] = True
            cell.source = ""
        cell.metadata["slideshow"] = {"slide_type": slide_type(cell)}
        if cell.cell_type == "markdown":
            cell.source = myst_to_markdown(cell.source)
        cells.append(cell)
    if cells:
        cells[0].metadata["slideshow"] = {"slide_type": "slide"}
    nb.cells = cells
    return nb


def export(executed: Path, out: Path, vendor: str) -> None:
    """Write the deck of one executed notebook to ``out`` (``vendor``: URL of ``_static/vendor``)."""
    import nbformat
    from gkl_book import strip_plotly_cdn
    from nbconvert import SlidesExporter

    nb = prepare(nbformat.read(executed, as_version=4))
    exporter = SlidesExporter(extra_template_paths=[str(ROOT / "book" / "_templates" / "slides")],
                              template_file="gkl_slides.html.j2", reveal_url_prefix=f"{vendor}/reveal.js",
                              reveal_theme="white", exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb, resources={"gkl_vendor": vendor})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(strip_plotly_cdn(body), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    import notebooks

    p = argparse.ArgumentParser(prog="slides", description=__doc__.splitlines()[0])
    p.add_argument("--build", default=str(ROOT / "_build"), help="the book's build folder")
    args = p.parse_args(argv)
    build = Path(args.build)
    done = []
    for md in notebooks.planned_chapters(ROOT):
        doc = md.relative_to(ROOT).with_suffix("")
        executed = build / "jupyter_execute" / doc.with_suffix(".ipynb")
        if not executed.is_file():
            print(f"slides: error: {executed} is missing: build the book first (make book)", file=sys.stderr)
            return 2
        out = build / "html" / "slides" / doc.with_suffix(".slides.html")
        depth = len(out.relative_to(build / "html").parts) - 1
        export(executed, out, "../" * depth + "_static/vendor")
        done.append(out)
    print(f"slides: {len(done)} decks in {build / 'html' / 'slides'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
