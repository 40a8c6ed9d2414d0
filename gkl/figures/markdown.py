"""A small Markdown subset shown as HTML: how the chapters print tables and lists as cell results.

The website renders Markdown *outputs* without tables, so :func:`show` wraps the text in a
:class:`Rich` object that notebooks and the website display through its HTML
(:func:`markdown_to_html`). :func:`glue` hands a computed value to the page's text (myst-nb's
``glue``) in a book build, and works without myst-nb (Colab, Jupyter) too.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Rich", "show", "markdown_to_html", "glue", "ratio", "number"]


def glue(name: str, value: Any, display: bool = True) -> Any:
    """myst-nb's ``glue(name, value, display)`` when myst-nb is installed (the book build: the page's
    ``{glue:text}`` roles read ``name``); elsewhere (Colab, plain Jupyter, a script) a plain display of
    ``value`` when ``display`` is true, and nothing otherwise. Returns ``value``.

    The chapters import this, never ``myst_nb``: ``gkl[train,viz]`` does not install myst-nb.
    """
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            from IPython.display import display as show_plainly

            show_plainly(value)
        return value
    myst_glue(name, value, display=display)
    return value


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def number(x: float, digits: int = 2) -> str:
    """A number for prose: ``digits`` significant digits, thousands separated, and powers of ten
    written out for very small or large values (``1.2 × 10⁻⁵``), never ``1.2e-05``."""
    x = float(x)
    if x == 0 or not (x == x) or x in (float("inf"), float("-inf")):
        return f"{x:g}"
    if 1e-3 <= abs(x) < 1e6:
        rounded = float(f"{x:.{digits}g}")
        return f"{rounded:,.{max(digits - 1 - _exponent(rounded), 0)}f}"
    mantissa, exp = f"{x:.{digits - 1}e}".split("e")
    return f"{mantissa} × 10{str(int(exp)).translate(_SUPERSCRIPT)}"


def _exponent(x: float) -> int:
    import math

    return int(math.floor(math.log10(abs(x))))


def ratio(x: float) -> str:
    """A ratio for prose: ``"1,100×"``, ``"23×"``, ``"1.5×"`` (two significant digits), never ``"1.11e+03×"``."""
    return f"{number(x)}×"


class Rich:
    """A small Markdown text (paragraphs, ``* `` lists, pipe tables, ``**bold**``, ```code```) shown as
    HTML in notebooks and on the website (where Markdown *outputs* are rendered without tables)."""

    def __init__(self, markdown: str) -> None:
        self.markdown = markdown

    def _repr_markdown_(self) -> str:
        return self.markdown

    def _repr_html_(self) -> str:
        return markdown_to_html(self.markdown)

    def __repr__(self) -> str:
        return self.markdown


def show(markdown: str) -> Rich:
    """Display helper of the chapters: ``show(text)`` as the last expression of a cell."""
    return Rich(markdown)


def _inline(text: str) -> str:
    import html
    import re

    t = html.escape(text, quote=False)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", t)
    t = re.sub(r"(?<![*\w])\*(?=\S)([^*]+?)(?<=\S)\*(?![*\w])", r"<em>\1</em>", t)  # *italic*, not a * b
    return t


def markdown_to_html(markdown: str) -> str:
    """Convert the small Markdown subset of :class:`Rich` to HTML."""
    out: list[str] = []
    lines = markdown.strip().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            head, body = block[0], [r for r in block[1:] if not all(set(c) <= set("-: ") for c in r)]
            out.append("<table class='table'><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head)
                       + "</tr></thead><tbody>"
                       + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body)
                       + "</tbody></table>")
        elif line.startswith(">"):
            quote = []
            while i < len(lines) and lines[i].startswith(">"):
                quote.append(lines[i][1:].strip())
                i += 1
            out.append(f"<blockquote class='gkl-box'><p>{_inline(' '.join(quote))}</p></blockquote>")
        elif line.startswith("* "):
            items = []
            while i < len(lines) and lines[i].startswith("* "):
                items.append(lines[i][2:])
                i += 1
            out.append("<ul>" + "".join(f"<li>{_inline(t)}</li>" for t in items) + "</ul>")
        elif not line.strip():
            i += 1
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(("|", "* ", ">")):
                para.append(lines[i])
                i += 1
            out.append(f"<p>{_inline(' '.join(para))}</p>")
    return "\n".join(out)
