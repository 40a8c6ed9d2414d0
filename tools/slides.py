#!/usr/bin/env python3
"""Every chapter as a reveal.js slide deck for a projector, written for slides, figures from the build.

A deck is not cut from its chapter: each chapter ``book/<part>/<chapter>.md`` has a deck spec
``book/slides/<part>/<chapter>.md`` written for a 1280×720 screen, and ``make book`` runs this tool
after ``jupyter-book build``.  It reads the spec and the notebook the build executed
(``_build/jupyter_execute/<chapter>.ipynb``, outputs included) and writes
``_build/html/slides/<chapter>.slides.html`` (the chapter pages link it: ``book/_ext/gkl_book.py``),
served offline with the site (reveal.js, require.js, MathJax 3 and plotly.js from ``_static/vendor``).

A deck spec::

    ---
    promise: One line that says what the chapter finds or teaches.
    ---

    ## A slide heading
    * at most four short bullets, with $math$, {cite:p}`hinton2015distilling`, {doc}`../theory/decoupling`
    $$ one key equation $$

    {figure} theory.term_gradients_figure(
    {figure:2} theory.convergence_figure(     <- the 2nd figure output of that cell
    {output} markdown.show(                   <- a Markdown/HTML result (a table, a "what we found" box)
    {code} gkl.kl_div(                        <- the source of a code cell (at most 8 lines)

    Notes:
    speaker notes (the speaker view, key S), never shown on the slide

The title slide (the chapter's title, the promise, a link to the chapter page) comes first; every
``## `` heading opens a slide.  A reference (``{figure}``, ``{output}``, ``{code}``) names the FIRST
code cell of the executed notebook whose source contains the given text; a value the chapter glues
(``{glue:text}`name```) is read from the notebook's outputs, so a measured result is never typed
into a spec.  MyST roles are rendered: citations as "Hinton et al. (2015)" text from
``book/references.bib`` linked to the references page, ``{doc}`` links as links to the site's pages.

The tool fails with a one-line error naming the spec and line when a reference matches no cell, the
cell has no output of the kind asked for, code is longer than :data:`MAX_CODE_LINES` lines, a table
has more than :data:`MAX_TABLE_ROWS` rows, a text output is a printed log rather than a figure, a
glued value is missing, or a spec holds an exercise solution.

Usage::

    python tools/slides.py [--build _build] [CHAPTER ...]        # every deck of _toc.yml's chapters (or these)
    python tools/slides.py --pdf book/theory/decoupling [--out decoupling.pdf] [--build _build]

``--pdf`` exports one built deck to PDF, one page of 1280×720 per slide: reveal.js's print layout
(``?print-pdf``) printed by headless Chromium (``/usr/bin/chromium``, driven by playwright) from a
local server, offline.  The default output is ``_build/slides-pdf/<chapter>.pdf``.  ``make
slides-pdf`` exports every deck.  (By hand, in Chromium: open the deck with ``?print-pdf`` appended to
its URL and print to PDF, landscape, no margins, background graphics on.)
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "book" / "_ext"))

SPECS = ROOT / "book" / "slides"
TEMPLATES = ROOT / "book" / "_templates" / "slides"
#: The screen a deck is written for (reveal.js's slide size; the browser test opens it at this size).
WIDTH, HEIGHT = 1280, 720
MAX_CODE_LINES = 8
MAX_TABLE_ROWS = 8
#: Output types a ``{figure}`` reference may show (never text/plain: a printed log is not a figure).
FIGURE_MIMES = ("image/png", "image/svg+xml", "image/jpeg", "text/html")
#: Output types an ``{output}`` reference may show: Markdown first (its MyST roles are rendered like
#: the spec's, and nbconvert draws its quotes and tables), then HTML.
OUTPUT_MIMES = ("text/markdown", "text/html")

REFERENCE_RE = re.compile(r"^\{(?P<kind>figure|output|code)(?::(?P<n>\d+))?\}\s+(?P<ref>\S.*?)\s*$")
GLUE_RE = re.compile(r"\{glue(?::text)?\}`(?P<name>[^`]+)`")
FORBIDDEN_RE = re.compile(r"\{admonition\}\s*Solution|^#+\s*Solution|\*\*Solution", re.IGNORECASE | re.MULTILINE)


class SpecError(Exception):
    """A deck spec that cannot be built; the message names the spec and the line."""


@dataclass
class Block:
    """One piece of a slide: Markdown text, or a reference to a code cell of the executed notebook."""

    kind: str                     #: "text", "figure", "output" or "code"
    text: str = ""                #: the Markdown (text) or the reference (the text a cell's source contains)
    n: int = 1                    #: which matching output of the cell (1-based)
    line: int = 0                 #: line of the spec (for errors)


@dataclass
class Slide:
    heading: str
    blocks: list[Block] = field(default_factory=list)
    notes: str = ""
    line: int = 0


@dataclass
class Spec:
    path: Path
    promise: str
    slides: list[Slide]


def parse_spec(text: str, path: Path = Path("<spec>")) -> Spec:
    """A deck spec (see the module docstring) as a :class:`Spec`."""
    lines = text.split("\n")
    front: dict = {}
    start = 0
    if lines and lines[0].strip() == "---":
        end = next((k for k in range(1, len(lines)) if lines[k].strip() == "---"), None)
        if end is None:
            raise SpecError(f"{path}:1: front matter is not closed by ---")
        for k in range(1, end):  # `key: value` lines (the value is taken as written, no YAML quoting)
            key, sep, value = lines[k].partition(":")
            if not sep:
                raise SpecError(f"{path}:{k + 1}: front matter lines are `key: value`")
            front[key.strip()] = value.strip()
        start = end + 1
    promise = str(front.get("promise", "")).strip()
    if not promise:
        raise SpecError(f"{path}:1: no `promise:` (the one line under the title) in the front matter")
    slides: list[Slide] = []
    pending: list[tuple[int, str]] = []  # (line number, line) of the text being read
    in_notes = False
    fence = None

    def flush() -> None:
        body = "\n".join(line for _, line in pending).strip("\n")
        first = next((no for no, line in pending if line.strip()), 0)
        pending.clear()
        if not body.strip():
            return
        if not slides:
            raise SpecError(f"{path}:{first}: text before the first `## ` slide heading")
        if in_notes:
            slides[-1].notes = (slides[-1].notes + "\n\n" + body).strip()
        else:
            slides[-1].blocks.append(Block("text", body, line=first))

    for k in range(start, len(lines)):
        line, no = lines[k], k + 1
        if fence is not None:  # inside a code block: verbatim, up to its closing fence
            pending.append((no, line))
            if line.strip().startswith(fence):
                fence = None
            continue
        if m := re.match(r"^\s*(`{3,}|~{3,})", line):
            fence = m.group(1)
            pending.append((no, line))
            continue
        if line.startswith("## "):
            flush()
            in_notes = False
            slides.append(Slide(line[3:].strip(), line=no))
            continue
        if line.startswith("# "):
            raise SpecError(f"{path}:{no}: `# ` headings are not used (the title slide is the chapter's title)")
        if line.strip() == "Notes:":
            flush()
            in_notes = True
            continue
        if (m := REFERENCE_RE.match(line.strip())) and not in_notes:
            flush()
            if not slides:
                raise SpecError(f"{path}:{no}: a reference before the first `## ` slide heading")
            slides[-1].blocks.append(Block(m["kind"], m["ref"], int(m["n"] or 1), line=no))
            continue
        pending.append((no, line))
    flush()
    if not slides:
        raise SpecError(f"{path}: no slide (a slide starts with a `## ` heading)")
    if (m := FORBIDDEN_RE.search(text)):
        no = text[:m.start()].count("\n") + 1
        raise SpecError(f"{path}:{no}: an exercise solution on a slide (solutions are for instructors only)")
    for slide in slides:
        for b in slide.blocks:
            if b.kind == "text":
                check_text(b.text, f"{path}:{b.line}")
    return Spec(path, promise, slides)


def check_text(md: str, where: str) -> None:
    """Code blocks of at most MAX_CODE_LINES lines, tables of at most MAX_TABLE_ROWS rows."""
    for m in re.finditer(r"^(`{3,})[^\n]*\n(.*?)^\1", md, re.S | re.M):
        n = len(m.group(2).rstrip("\n").split("\n"))
        if n > MAX_CODE_LINES:
            raise SpecError(f"{where}: a code block of {n} lines (at most {MAX_CODE_LINES} on a slide)")
    rows = 0
    for line in md.split("\n") + [""]:
        if line.lstrip().startswith("|"):
            rows += 0 if re.fullmatch(r"\s*\|[\s|:-]+\|?\s*", line) else 1
        else:
            if rows - 1 > MAX_TABLE_ROWS:  # the header row is not counted
                raise SpecError(f"{where}: a table of {rows - 1} rows (at most {MAX_TABLE_ROWS} on a slide)")
            rows = 0


# --------------------------------------------------------------------------- the executed notebook


def find_cell(nb, ref: str, where: str):
    """The first code cell whose source contains ``ref``."""
    for cell in nb.cells:
        if cell.cell_type == "code" and ref in cell.source:
            return cell
    raise SpecError(f"{where}: no code cell of the executed notebook contains {ref!r}")


def _html_rows(html: str) -> int:
    body = re.search(r"<tbody.*?</tbody>", html, re.S | re.I)
    return len(re.findall(r"<tr\b", body.group(0) if body else html, re.I)) - (0 if body else 1)


def pick_output(cell, kind: str, n: int, where: str) -> dict:
    """The ``n``-th output of ``cell`` that a ``{kind}`` reference may show, with only that mime type."""
    mimes = FIGURE_MIMES if kind == "figure" else OUTPUT_MIMES
    found = []
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        mime = next((m for m in mimes if m in data), None)
        if mime is None or (out.get("metadata") or {}).get("scrapbook"):
            continue  # streams (printed logs), errors, plain-text results, glued values
        if kind == "figure" and mime == "text/html" and not re.search(r"plotly-graph-div|<img\b|<svg\b", data[mime]):
            continue
        found.append((out, mime))
    if len(found) < n:
        what = "figure (PNG, SVG or plotly)" if kind == "figure" else "Markdown or HTML result"
        raise SpecError(f"{where}: the cell {cell.source.strip().splitlines()[0][:60]!r} has "
                        f"{len(found)} {what} output(s), the spec asks for number {n}")
    out, mime = found[n - 1]
    text = out["data"][mime]
    text = "".join(text) if isinstance(text, list) else text
    if mime == "text/html" and "plotly-graph-div" not in text and _html_rows(text) > MAX_TABLE_ROWS:
        raise SpecError(f"{where}: the table has {_html_rows(text)} rows (at most {MAX_TABLE_ROWS} on a slide)")
    if mime == "text/markdown":
        check_text(text, where)
    picked = copy.deepcopy(out)
    picked["data"] = {mime: out["data"][mime]}
    if mime in ("image/png", "image/jpeg"):  # keep the size metadata of that image only
        picked["metadata"] = {k: v for k, v in (out.get("metadata") or {}).items() if k == mime}
    if picked.get("output_type") == "execute_result":
        picked["output_type"] = "display_data"
        picked.pop("execution_count", None)
    return picked


def glued(nb, name: str, where: str) -> str:
    """The text of a value the chapter glued (myst-nb ``glue``) under ``name``."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if ((out.get("metadata") or {}).get("scrapbook") or {}).get("name") == name:
                data = out.get("data", {})
                if "text/markdown" in data:
                    return "".join(data["text/markdown"]).strip()
                text = "".join(data.get("text/plain", "")).strip()
                if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
                    text = text[1:-1]
                return text
    raise SpecError(f"{where}: the executed notebook glues no value named {name!r}")


# --------------------------------------------------------------------------- the deck


def _markdown_cell(source: str, slide_type: str):
    import nbformat

    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata["slideshow"] = {"slide_type": slide_type}
    return cell


def deck_notebook(spec: Spec, nb, title: str, ctx, chapter_href: str):
    """The notebook nbconvert's slide exporter turns into the deck: a cell per piece of a slide."""
    import myst_markdown
    import nbformat

    def md(text: str, where: str) -> str:
        text = GLUE_RE.sub(lambda m: glued(nb, m["name"], where), text)
        return myst_markdown.convert(text, ctx)

    cells = [_markdown_cell(f"# {title}\n\n<p class=\"gkl-promise\">{md(spec.promise, f'{spec.path}:1')}</p>\n\n"
                            f"<p class=\"gkl-chapter-link\"><a href=\"{chapter_href}\">The chapter in "
                            f"The GKL Book</a></p>", "slide")]
    cells[0].metadata["gkl_title"] = True
    for slide in spec.slides:
        slide_type = "slide"
        pending = f"## {md(slide.heading, f'{spec.path}:{slide.line}')}"
        for b in slide.blocks:
            where = f"{spec.path}:{b.line}"
            if b.kind == "text":
                pending += "\n\n" + md(b.text, where)
                continue
            cell = find_cell(nb, b.text, where)
            if b.kind == "code":
                src = cell.source.strip("\n")
                if len(src.split("\n")) > MAX_CODE_LINES:
                    raise SpecError(f"{where}: the cell has {len(src.splitlines())} lines of code "
                                    f"(at most {MAX_CODE_LINES} on a slide)")
                pending += f"\n\n```python\n{src}\n```"
                continue
            if pending.strip():
                cells.append(_markdown_cell(pending, slide_type))
            slide_type, pending = "-", ""
            out = nbformat.v4.new_code_cell("")
            picked = pick_output(cell, b.kind, b.n, where)
            if "text/markdown" in picked["data"]:  # a generated text may hold MyST roles ({doc}, {cite})
                text = picked["data"]["text/markdown"]
                picked["data"]["text/markdown"] = md("".join(text) if isinstance(text, list) else text, where)
            out.outputs = [nbformat.from_dict(picked)]
            out.metadata["slideshow"] = {"slide_type": "-"}
            out.metadata["gkl_kind"] = b.kind
            cells.append(out)
        if pending.strip():
            cells.append(_markdown_cell(pending, slide_type))
        if slide.notes:
            cells.append(_markdown_cell(md(slide.notes, f"{spec.path}:{slide.line}"), "notes"))
    deck = nbformat.v4.new_notebook(cells=cells)
    deck.metadata = copy.deepcopy(nb.metadata)
    deck.metadata["title"] = title
    return deck


def spec_path(docname: str) -> Path:
    """``book/theory/decoupling`` -> ``book/slides/theory/decoupling.md``."""
    return SPECS / Path(docname).relative_to("book").with_suffix(".md")


def export(spec_file: Path, executed: Path, out: Path, docname: str, html_root: Path) -> int:
    """Write the deck of one chapter to ``out``; returns its number of slides."""
    import nbformat
    import notebooks
    from gkl_book import strip_plotly_cdn
    from nbconvert import SlidesExporter

    shown = spec_file.relative_to(ROOT) if spec_file.is_relative_to(ROOT) else spec_file
    spec = parse_spec(spec_file.read_text(encoding="utf-8"), shown)
    nb = nbformat.read(executed, as_version=4)
    up = "../" * (len(out.relative_to(html_root).parts) - 1)
    ctx = notebooks.markup_context(ROOT / f"{docname}.md")
    ctx.site_url = up  # links to the site's pages, relative to the deck
    title = notebooks.page_title(ROOT / f"{docname}.md") or docname
    deck = deck_notebook(spec, nb, title, ctx, f"{up}{docname}.html")
    exporter = SlidesExporter(extra_template_paths=[str(TEMPLATES)], template_file="gkl_slides.html.j2",
                              reveal_url_prefix=f"{up}_static/vendor/reveal.js", reveal_theme="white",
                              exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(deck, resources={"gkl_vendor": f"{up}_static/vendor",
                                                           "gkl_width": WIDTH, "gkl_height": HEIGHT})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(strip_plotly_cdn(body), encoding="utf-8")
    return 1 + len(spec.slides)


def export_pdf(deck_html: Path, html_root: Path, pdf: Path) -> int:
    """Print one built deck to ``pdf`` (a page per slide); returns the number of slides."""
    import sitecheck

    rel = deck_html.resolve().relative_to(html_root.resolve()).as_posix()
    with sitecheck.serve(html_root) as base, sitecheck.browser_context({"width": WIDTH, "height": HEIGHT}) as (ctx, _):
        page = ctx.new_page()
        page.goto(f"{base}{rel}?print-pdf", wait_until="load", timeout=60_000)
        page.wait_for_function("window.Reveal && window.Reveal.isReady()", timeout=30_000)
        page.evaluate("window.gklFitAll ? window.gklFitAll() : null")
        page.evaluate(sitecheck._JS_MATHJAX_DONE)
        page.wait_for_timeout(500)
        n = page.evaluate("window.Reveal.getTotalSlides()")
        pdf.parent.mkdir(parents=True, exist_ok=True)
        page.pdf(path=str(pdf), width=f"{WIDTH}px", height=f"{HEIGHT}px", print_background=True,
                 margin={"top": "0", "right": "0", "bottom": "0", "left": "0"}, prefer_css_page_size=True)
    return n


def main(argv: list[str] | None = None) -> int:
    import notebooks

    p = argparse.ArgumentParser(prog="slides", description=__doc__.splitlines()[0])
    p.add_argument("--build", default=str(ROOT / "_build"), help="the book's build folder")
    p.add_argument("--pdf", metavar="CHAPTER", nargs="*",
                   help="export built decks to PDF (chapters as book/theory/decoupling; none given: every deck)")
    p.add_argument("--out", help="with --pdf and one chapter: the PDF file")
    p.add_argument("chapters", nargs="*", help="build only these decks (e.g. book/theory/decoupling)")
    args = p.parse_args(argv)
    build = Path(args.build)
    html = build / "html"
    chapters = [md.relative_to(ROOT).with_suffix("").as_posix() for md in notebooks.planned_chapters(ROOT)]
    if args.pdf is not None:
        for doc in args.pdf or chapters:
            doc = doc.removesuffix(".md").removesuffix(".slides.html")
            deck = html / "slides" / f"{doc}.slides.html"
            if not deck.is_file():
                print(f"slides: error: {deck} is missing: build the decks first (make book)", file=sys.stderr)
                return 2
            pdf = Path(args.out) if args.out and len(args.pdf) == 1 else build / "slides-pdf" / f"{Path(doc).name}.pdf"
            n = export_pdf(deck, html, pdf)
            print(f"slides: {pdf} ({n} slides)")
        return 0
    counts = {}
    try:
        for doc in args.chapters or chapters:
            doc = doc.removesuffix(".md")
            executed = build / "jupyter_execute" / f"{doc}.ipynb"
            spec = spec_path(doc)
            if not spec.is_file():
                raise SpecError(f"{spec.relative_to(ROOT)}: missing: every chapter of _toc.yml needs a deck spec")
            if not executed.is_file():
                raise SpecError(f"{executed} is missing: build the book first (make book)")
            out = html / "slides" / f"{doc}.slides.html"
            counts[doc] = export(spec, executed, out, doc, html)
    except SpecError as e:
        print(f"slides: error: {e}", file=sys.stderr)
        return 2
    for doc, n in counts.items():
        print(f"slides: {n:3d} slides  {doc}")
    print(f"slides: {len(counts)} decks, {sum(counts.values())} slides in {html / 'slides'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
