"""A small Markdown subset shown as HTML: how the chapters print tables and lists as cell results.

The website renders Markdown *outputs* without tables, so :func:`show` wraps the text in a
:class:`Rich` object that notebooks and the website display through its HTML
(:func:`markdown_to_html`).
"""

from __future__ import annotations

__all__ = ["Rich", "show", "markdown_to_html"]


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
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(("|", "* ")):
                para.append(lines[i])
                i += 1
            out.append(f"<p>{_inline(' '.join(para))}</p>")
    return "\n".join(out)
