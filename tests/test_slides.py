"""The chapters' slide decks (``tools/slides.py``): written for a 1280×720 projector.

* Fast tests (no build): the deck-spec parser, the resolution of ``{figure}`` / ``{output}`` /
  ``{code}`` references and glued values on a tiny synthetic notebook, the limits the tool enforces
  (code ≤ 8 lines, tables ≤ 8 rows, no printed logs, no exercise solutions), and every spec of
  ``book/slides/`` against them.
* ``TestBuiltDecks`` (marker ``site``): needs the decks in ``_build/html/slides`` (``make book``; the
  site folder is ``GKL_SITE_HTML`` as in ``tests/test_site.py``).  Every slide of every deck is
  opened at 1280×720 in headless Chromium, offline; a deck fails when any element of a slide lies
  outside the 1280×720 window (after reveal.js's scaling), when a box scrolls or clips content, when a
  slide shows a raw citation key, a raw MyST role, an exercise solution, the chapter's run time or its
  launch button, when a plotly figure draws text smaller than :data:`MIN_FONT_PX` or is squeezed below
  :data:`MIN_FIGURE_PX`, or when an image
  is shown narrower than 80 % of the slide, or when a plotly slider dragged to a step on the slide
  does not show that step.  One deck is exported to PDF (``python tools/slides.py
  --pdf``) and must have one page per slide.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402  (tools/notebooks.py)
import sitecheck  # noqa: E402  (tools/sitecheck.py)
import slides  # noqa: E402  (tools/slides.py)

HTML = Path(os.environ.get("GKL_SITE_HTML", ROOT / "_build" / "html"))
#: Smallest text a plotly figure may draw on a slide, in screen pixels at 1280×720.
MIN_FONT_PX = 15
#: Smallest text (slide text, tables, generated results) in screen pixels, slide numbers aside.
MIN_TEXT_PX = 16
#: A plotly figure must be shown at least this high on the screen (room for its plot under its text).
MIN_FIGURE_PX = 400
#: An image must be shown at least this share of the slide's width.
MIN_IMAGE_WIDTH = 0.8

nbformat = pytest.importorskip("nbformat")


# --------------------------------------------------------------------------- the spec parser


SPEC = """---
promise: What the chapter finds, in one line.
---

## First slide
* a bullet with {cite:p}`hinton2015distilling`
$$ a = b $$

{figure} make_figure(

## Second slide

```python
## not a heading inside a fence
x = 1
```

{figure:2} two_figures(
{output} show_table(

Notes:
Say this aloud. {figure} not_a_reference(

## Third: {glue:text}`answer`

{code} short_cell = 1
"""


def test_parse_spec_slides_blocks_and_notes():
    spec = slides.parse_spec(SPEC, Path("deck.md"))
    assert spec.promise == "What the chapter finds, in one line."
    assert [s.heading for s in spec.slides] == ["First slide", "Second slide", "Third: {glue:text}`answer`"]
    first, second, third = spec.slides
    assert [b.kind for b in first.blocks] == ["text", "figure"]
    assert first.blocks[1].text == "make_figure(" and first.blocks[1].n == 1
    assert [b.kind for b in second.blocks] == ["text", "figure", "output"]
    assert "## not a heading inside a fence" in second.blocks[0].text
    assert (second.blocks[1].text, second.blocks[1].n) == ("two_figures(", 2)
    assert second.notes.startswith("Say this aloud.") and "not_a_reference(" in second.notes
    assert [(b.kind, b.text) for b in third.blocks] == [("code", "short_cell = 1")]


@pytest.mark.parametrize("text, message", [
    ("---\npromise: x\n---\nloose text\n## A\n", "text before the first"),
    ("---\n---\n## A\n", "no `promise:`"),
    ("---\npromise: x\n---\n# Title\n", "`# ` headings"),
    ("---\npromise: x\n---\n## A\n```{admonition} Solution\n:class: dropdown\nx\n```\n", "exercise solution"),
    ("---\npromise: x\n---\n## A\n```python\n" + "x = 1\n" * 9 + "```\n", "code block of 9 lines"),
    ("---\npromise: x\n---\n## A\n| a | b |\n|---|---|\n" + "| 1 | 2 |\n" * 9, "table of 9 rows"),
    ("---\npromise: x\n---\n", "no slide"),
])
def test_parse_spec_errors_name_the_problem(text, message):
    with pytest.raises(slides.SpecError, match=re.escape(message)):
        slides.parse_spec(text, Path("deck.md"))


# --------------------------------------------------------------------------- references on a notebook


PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
PLOTLY = '<div id="f1" class="plotly-graph-div" style="height:300px; width:100%;"></div><script>Plotly.newPlot("f1", [])</script>'


def _notebook():
    v4 = nbformat.v4
    cells = [
        v4.new_code_cell("fig = make_figure(1)\nfig", outputs=[
            v4.new_output("stream", name="stdout", text="epoch 1 loss 0.3\n"),
            v4.new_output("execute_result", data={"image/png": PNG, "text/plain": "<Figure>"},
                          metadata={"image/png": {"width": 600}}, execution_count=1)]),
        v4.new_code_cell("two_figures()", outputs=[
            v4.new_output("display_data", data={"text/html": PLOTLY.replace("f1", "a")}),
            v4.new_output("display_data", data={"text/html": PLOTLY.replace("f1", "b")})]),
        v4.new_code_cell("print_a_log()", outputs=[v4.new_output("stream", name="stdout", text="step 1\nstep 2\n")]),
        v4.new_code_cell("show_table(rows)", outputs=[v4.new_output("display_data", data={
            "text/markdown": "| a | b |\n|---|---|\n| 1 | 2 |", "text/plain": "<Rich>"})]),
        v4.new_code_cell("long_table()", outputs=[v4.new_output("display_data", data={
            "text/html": "<table><thead><tr><th>a</th></tr></thead><tbody>" + "<tr><td>1</td></tr>" * 9
                         + "</tbody></table>"})]),
        v4.new_code_cell("glue('answer', 42)", outputs=[v4.new_output(
            "display_data", data={"text/plain": "'42.0 %'"}, metadata={"scrapbook": {"name": "answer", "mime_prefix": ""}})]),
        v4.new_code_cell("short_cell = 1"),
        v4.new_code_cell("\n".join(f"line_{i} = {i}" for i in range(9))),
    ]
    return v4.new_notebook(cells=cells)


def _context():
    ctx = notebooks.markup_context(ROOT / "book" / "theory" / "kl_in_practice.md")
    ctx.site_url = "../../../"
    return ctx


def test_references_resolve_to_cell_outputs():
    nb = _notebook()
    spec = slides.parse_spec(SPEC, Path("deck.md"))
    deck = slides.deck_notebook(spec, nb, "A title", _context(), "../../../book/theory/kl_in_practice.html")
    kinds = [(c.cell_type, c.metadata["slideshow"]["slide_type"]) for c in deck.cells]
    assert kinds == [("markdown", "slide"),                                  # title
                     ("markdown", "slide"), ("code", "-"),                   # first slide: text, figure
                     ("markdown", "slide"), ("code", "-"), ("code", "-"),    # second: text, figure 2, table
                     ("markdown", "notes"),
                     ("markdown", "slide")]                                  # third: heading + code
    title = deck.cells[0].source
    assert title.startswith("# A title") and "What the chapter finds" in title and "kl_in_practice.html" in title
    first_fig = deck.cells[2].outputs
    assert [o.output_type for o in first_fig] == ["display_data"] and list(first_fig[0].data) == ["image/png"]
    assert 'id="b"' in deck.cells[4].outputs[0].data["text/html"]       # {figure:2}: the second figure
    assert list(deck.cells[5].outputs[0].data) == ["text/markdown"]
    # citations and glued values rendered; the code cell shown as a code block
    assert "Hinton et al., 2015" in deck.cells[1].source and "../../../book/references.html" in deck.cells[1].source
    assert "{cite" not in deck.cells[1].source
    assert deck.cells[7].source.startswith("## Third: 42.0 %")
    assert "```python\nshort_cell = 1\n```" in deck.cells[7].source


@pytest.mark.parametrize("block, message", [
    ("{figure} no_such_call(", "no code cell of the executed notebook contains 'no_such_call('"),
    ("{figure} print_a_log(", "0 figure (PNG, SVG or plotly) output(s)"),
    ("{figure:3} two_figures(", "the spec asks for number 3"),
    ("{output} long_table(", "the table has 9 rows"),
    ("{code} line_0 = 0", "9 lines of code"),
    ("The value is {glue:text}`missing`.", "glues no value named 'missing'"),
])
def test_reference_errors_are_one_line(block, message):
    spec = slides.parse_spec(f"---\npromise: x\n---\n## A\n{block}\n", Path("deck.md"))
    with pytest.raises(slides.SpecError) as err:
        slides.deck_notebook(spec, _notebook(), "T", _context(), "x.html")
    text = str(err.value)
    assert message in text and "\n" not in text and text.startswith("deck.md:5")


def test_export_writes_a_deck_with_rendered_citations(tmp_path):
    pytest.importorskip("nbconvert")
    spec_file = tmp_path / "deck.md"
    spec_file.write_text(SPEC, encoding="utf-8")
    executed = tmp_path / "chapter.ipynb"
    nbformat.write(_notebook(), executed)
    html_root = tmp_path / "html"
    out = html_root / "slides" / "book" / "theory" / "kl_in_practice.slides.html"
    n = slides.export(spec_file, executed, out, "book/theory/kl_in_practice", html_root)
    text = out.read_text(encoding="utf-8")
    assert n == 4 and text.count("<section") >= 2 * n
    assert "Hinton et al., 2015" in text and "{cite" not in text and "hinton2015distilling" not in text
    assert 'src="../../../_static/vendor/reveal.js/dist/reveal.js' in text or "../../../_static/vendor/reveal.js" in text
    assert "width: 1280" in text and "height: 720" in text
    assert "epoch 1 loss" not in text  # the printed log of the figure's cell stays off the slide


# --------------------------------------------------------------------------- the specs of the book


CHAPTERS = [md.relative_to(ROOT).with_suffix("").as_posix() for md in notebooks.planned_chapters(ROOT)]


def test_every_chapter_has_a_deck_spec_and_no_other_spec_exists():
    specs = {p.relative_to(slides.SPECS).with_suffix("").as_posix() for p in slides.SPECS.rglob("*.md")}
    assert specs == {Path(c).relative_to("book").as_posix() for c in CHAPTERS}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_deck_spec_is_short_and_written_for_slides(chapter):
    path = slides.spec_path(chapter)
    text = path.read_text(encoding="utf-8")
    spec = slides.parse_spec(text, path)
    assert 6 <= 1 + len(spec.slides) <= 12, "a deck has a title slide and 5 to 11 content slides"
    assert spec.slides[-1].heading == "Takeaways"
    for slide in spec.slides:
        assert len(slide.heading) <= 50, f"heading too long for one line: {slide.heading!r}"
        for b in slide.blocks:
            if b.kind == "text":
                bullets = [line for line in b.text.split("\n") if re.match(r"\s*(\*|-|\d+\.) ", line)]
                assert len(bullets) <= 4, f"{path}:{b.line}: more than 4 bullets in a block"
                assert all(len(line) <= 110 for line in bullets), f"{path}:{b.line}: a bullet longer than 110 characters"
    assert not re.search(r"ran in|rocket|launch button", text, re.I)
    assert not re.search(r"\d+\.\d+\s*(%|points)", text), "measured numbers are read from the notebook, never typed"


# --------------------------------------------------------------------------- the built decks


#: Run in the page for the current slide: every box of the slide must lie inside the window.
_JS_SLIDE = r"""async ([W, H, minFont, minFigure, minImage, minText]) => {
  const slide = Reveal.getCurrentSlide();
  if (window.gklFitSlide) await window.gklFitSlide(slide);
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const scale = Reveal.getScale();
  const out = {outside: [], clipped: [], small_text: [], squeezed: [], narrow_images: [], text: ''};
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\s+/)[0] : '');
  const label = el => (el.textContent || el.getAttribute('alt') || '').replace(/\s+/g, ' ').trim().slice(0, 50);
  for (const el of [slide, ...slide.querySelectorAll('*')]) {
    if (el.closest('aside.notes') || el.closest('mjx-assistive-mml')) continue;
    const st = getComputedStyle(el);
    if (st.display === 'none' || st.visibility === 'hidden') continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (r.left < -1 || r.top < -1 || r.right > W + 1 || r.bottom > H + 1)
      out.outside.push(`${name(el)} "${label(el)}" at [${Math.round(r.left)}, ${Math.round(r.top)}, ` +
                       `${Math.round(r.right)}, ${Math.round(r.bottom)}]`);
    const scrollsOrClips = ['auto', 'scroll', 'hidden', 'clip'];
    if ((scrollsOrClips.includes(st.overflowY) && el.scrollHeight > el.clientHeight + 2) ||
        (scrollsOrClips.includes(st.overflowX) && el.scrollWidth > el.clientWidth + 2)) {
      if (!el.closest('.plotly-graph-div') && !el.matches('mjx-container'))
        out.clipped.push(`${name(el)} "${label(el)}": ${el.scrollWidth}x${el.scrollHeight} in ${el.clientWidth}x${el.clientHeight}`);
    }
    if (el.matches('.plotly-graph-div text') && (el.textContent || '').trim()) {
      const gd = el.closest('.plotly-graph-div');  // on-screen size over layout size: reveal's scale and the zoom
      const px = parseFloat(st.fontSize) * gd.getBoundingClientRect().width / gd.offsetWidth;
      if (px < minFont) out.small_text.push(`"${label(el)}" at ${px.toFixed(1)} px`);
    }
    if (!el.closest('.plotly-graph-div, mjx-container') && Array.from(el.childNodes).some(
          n => n.nodeType === 3 && n.textContent.trim())) {  // an element with text of its own
      const px = parseFloat(st.fontSize) * scale;
      if (px < minText) out.small_text.push(`"${label(el)}" at ${px.toFixed(1)} px`);
    }
    if (el.matches('.plotly-graph-div') && r.height < minFigure)
      out.squeezed.push(`${name(el)} ${Math.round(r.width)}x${Math.round(r.height)} px`);
    if (el.tagName === 'IMG' && r.width < minImage * W)
      out.narrow_images.push(`${name(el)} shown ${Math.round(r.width)} px wide`);
  }
  out.text = slide.innerText;
  return out;
}"""

#: Text on a slide that must not be there.
FORBIDDEN = {
    "raw citation key": re.compile(r"\[[a-z][a-z0-9_]*\d{4}[a-z0-9_]*\]"),
    "raw MyST role or directive": re.compile(r"\{(?:cite|doc|ref|numref|glue|func|mod|class|meth|admonition)[^}]*\}"),
    "an exercise solution": re.compile(r"\bSolution\b"),
    "the chapter's run time": re.compile(r"\bran in\b", re.I),
    "the launch button": re.compile(r"\brocket\b", re.I),
    "a link target in parentheses": re.compile(r"\(\.\./[^)\s]*\)"),
}


def drag_slider_to(page, gd_id: str, step: int) -> tuple[int, bool]:
    """Drag the first slider of a figure to ``step`` (through reveal's scaling and the figure's zoom);
    returns the slider's active step afterwards and whether the figure drew something else."""
    before = page.evaluate(sitecheck._JS_FIGURE_STATE, gd_id)
    n = page.evaluate("(id) => document.getElementById(id).layout.sliders[0].steps.length", gd_id)
    group = page.locator(f'[id="{gd_id}"] .slider-group').first
    rail, grip = group.locator(".slider-rail-rect").first, group.locator(".slider-grip-rect").first
    r, g = rail.bounding_box(), grip.bounding_box()
    page.mouse.move(g["x"] + g["width"] / 2, g["y"] + g["height"] / 2)
    page.mouse.down()
    page.mouse.move(r["x"] + g["width"] / 2 + (r["width"] - g["width"]) * step / (n - 1), r["y"] + r["height"] / 2, steps=8)
    page.mouse.up()
    page.wait_for_timeout(300)
    active = page.evaluate("(id) => document.getElementById(id)._fullLayout.sliders[0].active", gd_id)
    return active, page.evaluate(sitecheck._JS_FIGURE_STATE, gd_id) != before


def check_deck(page, base_url: str, deck: str) -> dict:
    """Step through every slide of one deck; ``{"slides": n, "problems": [...]}``."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda x: errors.append(f"page error: {x}"))
    page.goto(base_url + deck, wait_until="load", timeout=60_000)
    state = page.evaluate(sitecheck._JS_DECK)
    if not state["ready"]:
        return {"slides": 0, "problems": ["reveal.js did not start"] + errors}
    page.evaluate(sitecheck._JS_MATHJAX_DONE)
    problems = [f"math error: {m}" for m in page.evaluate(sitecheck._JS_MATH_ERRORS)]
    problems += [f"raw TeX: {m}" for m in page.evaluate(sitecheck._JS_RAW_MATH)]
    indices = page.evaluate("""() => Reveal.getSlides().map(s => Reveal.getIndices(s))""")
    for ix in indices:
        page.evaluate("([h, v]) => Reveal.slide(h, v)", [ix["h"], ix.get("v") or 0])
        r = page.evaluate(_JS_SLIDE, [slides.WIDTH, slides.HEIGHT, MIN_FONT_PX, MIN_FIGURE_PX, MIN_IMAGE_WIDTH, MIN_TEXT_PX])
        where = f"slide {ix['h'] + 1}"
        problems += [f"{where}: outside the 1280x720 window: {m}" for m in r["outside"]]
        problems += [f"{where}: content scrolled or clipped: {m}" for m in r["clipped"]]
        problems += [f"{where}: text smaller than {MIN_FONT_PX} px (figures) / {MIN_TEXT_PX} px: {m}"
                     for m in r["small_text"][:5]]
        problems += [f"{where}: plotly figure lower than {MIN_FIGURE_PX} px: {m}" for m in r["squeezed"]]
        problems += [f"{where}: image narrower than {MIN_IMAGE_WIDTH:.0%} of the slide: {m}" for m in r["narrow_images"]]
        sliders = page.evaluate("""() => Array.from(Reveal.getCurrentSlide().querySelectorAll('.plotly-graph-div'))
            .filter(gd => gd.layout && (gd.layout.sliders || []).length && gd.layout.sliders[0].steps.length > 2)
            .map(gd => [gd.id, gd.layout.sliders[0].steps.length])""")
        for gd_id, n in sliders:  # a slider must follow the mouse on the slide, step for step
            for step in (n - 2, 1):
                active, changed = drag_slider_to(page, gd_id, step)
                if active != step or not changed:
                    problems.append(f"{where}: slider dragged to step {step} shows step {active}"
                                    + ("" if changed else ", the figure did not change"))
        for what, pattern in FORBIDDEN.items():
            problems += [f"{where}: {what}: {m.group(0)!r}" for m in pattern.finditer(r["text"])]
    return {"slides": len(indices), "problems": problems + errors}


DECKS = [f"slides/{c}.slides.html" for c in CHAPTERS]


@pytest.fixture(scope="module")
def deck_reports() -> dict[str, dict]:
    pytest.importorskip("playwright.sync_api")
    out = {}
    with sitecheck.serve(HTML) as base_url, sitecheck.browser_context(
            {"width": slides.WIDTH, "height": slides.HEIGHT}) as (context, blocked):
        for deck in DECKS:
            n = len(blocked)
            page = context.new_page()
            out[deck] = check_deck(page, base_url, deck)
            out[deck]["problems"] += [f"blocked request leaving localhost: {u}" for u in blocked[n:]]
            page.close()
    return out


@pytest.mark.site
@pytest.mark.skipif(not Path(sitecheck.CHROMIUM).exists(), reason=f"{sitecheck.CHROMIUM} is not installed")
@pytest.mark.skipif(not (HTML / "slides").is_dir(), reason=f"{HTML} has no slide decks: run `make book` first")
class TestBuiltDecks:

    def test_every_chapter_has_a_deck(self):
        assert sitecheck.slide_decks(HTML) == sorted(DECKS)

    @pytest.mark.parametrize("deck", DECKS)
    def test_every_slide_fits_1280x720_and_shows_no_raw_markup(self, deck, deck_reports):
        report = deck_reports[deck]
        spec = slides.parse_spec(slides.spec_path(deck.removeprefix("slides/").removesuffix(".slides.html"))
                                 .read_text(encoding="utf-8"))
        assert report["slides"] == 1 + len(spec.slides), "one reveal slide per slide of the spec"
        assert not report["problems"], f"{deck}:\n  " + "\n  ".join(report["problems"][:40])

    def test_pdf_export_has_one_page_per_slide(self, tmp_path):
        pytest.importorskip("playwright.sync_api")
        chapter = "book/theory/decoupling"
        pdf = tmp_path / "deck.pdf"
        assert slides.main(["--build", str(HTML.parent), "--pdf", chapter, "--out", str(pdf)]) == 0
        data = pdf.read_bytes()
        pages = len(re.findall(rb"/Type\s*/Page(?!s)", data))
        spec = slides.parse_spec(slides.spec_path(chapter).read_text(encoding="utf-8"))
        assert data.startswith(b"%PDF") and pages == 1 + len(spec.slides)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_reference_names_a_code_cell_of_the_chapter_source(chapter):
    """Without a build: a chapter edited under a deck (a figure call renamed or moved to another page)
    is caught here, with the spec's line, before ``make book`` reaches the slides."""
    jupytext = pytest.importorskip("jupytext")
    path = slides.spec_path(chapter)
    spec = slides.parse_spec(path.read_text(encoding="utf-8"), path)
    nb = jupytext.read(ROOT / f"{chapter}.md")
    refs = [b for s in spec.slides for b in s.blocks if b.kind != "text"]
    for b in refs:
        slides.find_cell(nb, b.text, f"{path.relative_to(ROOT)}:{b.line}")  # raises SpecError naming the line
    glued = {m["name"] for s in spec.slides for b in s.blocks if b.kind == "text" for m in slides.GLUE_RE.finditer(b.text)}
    source = (ROOT / f"{chapter}.md").read_text(encoding="utf-8")
    assert all(name in source for name in glued), f"{path}: glued values the chapter does not glue: {glued}"
