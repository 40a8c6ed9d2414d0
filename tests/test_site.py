"""The site, opened page by page in headless Chromium with the network blocked.

Two groups of tests share one checker, ``tools/sitecheck.py``:

* ``TestFixturePages`` (fast suite; needs only Debian's ``/usr/bin/chromium`` and Python playwright):
  the checker is run on the small pages of ``tests/fixtures/site/``.  Each broken page must fail with
  a message naming its problem, the good pages must pass; so a check that silently stops detecting
  something fails here, without a built book.
* ``TestBuiltSite`` (marker ``site``): needs ``_build/html`` (``make book``; ``make test`` builds it
  first).  Every page is served from 127.0.0.1; a request that would leave localhost is blocked and
  fails the test, so the site is known to work offline.  A full-page screenshot of each page is
  written to ``_build/screenshots/<page>.png``.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402  (tools/notebooks.py)
import sitecheck  # noqa: E402  (tools/sitecheck.py)

HTML = Path(os.environ.get("GKL_SITE_HTML", ROOT / "_build" / "html"))
SCREENSHOTS = ROOT / "_build" / "screenshots"
FIXTURES = ROOT / "tests" / "fixtures" / "site"

needs_chromium = pytest.mark.skipif(
    not Path(sitecheck.CHROMIUM).exists(),
    reason=f"{sitecheck.CHROMIUM} is not installed (apt-get install chromium)")

#: Plotly figures each page shows, counted in the chapters' sources: the code cells (executed, output
#: kept) whose result is a plotly figure, e.g. ``theory.convergence_figure(...)`` as last line.
#: Matplotlib figures (``adversarial_grid``), HTML tables and widget panels in ``skip-execution``
#: cells are not counted.  ``test_expected_figure_counts_match_the_chapter_sources`` recounts them;
#: update this table when a chapter gains or loses a figure.
EXPECTED_FIGURES = {
    "book/intro.html": 0,
    "book/notation.html": 0,
    "book/losses.html": 0,
    "book/teaching.html": 0,
    "book/lab.html": 1,                        # task 3's weight-function figure
    "book/theory/kl_in_practice.html": 2,      # soft-label temperatures (slider), gradient check
    "book/theory/decoupling.html": 2,          # numeric check, gradients vs shift (slider)
    "book/theory/asymmetry.html": 2,           # term gradients (slider), convergence
    "book/theory/weight_function.html": 4,     # weight function (slider), curvature, convergence x2
    "book/theory/class_prior.html": 3,         # prior heatmap, sample vs prior, prior sync
    "book/theory/making_it_fast.html": 1,      # benchmark (the table beside it is HTML)
    "book/training/adversarial.html": 2,       # robustness curve, masking bars
    "book/training/adversarial_protocol.html": 2,  # recorded sweep scatter, recorded validation curves
    "book/training/distillation.html": 1,      # forest plot of the headline differences
    "book/training/distillation_protocol.html": 5,  # recorded grid, validation curves, learning curves, loss terms, reliability
    "book/training/distillation_ablations.html": 6,  # one sweep plot per ablation, the full-power dot plot
    "book/training/reported_results.html": 3,  # RobustBench bars, ImageNet and ImageNet-LT bars
    "book/training/claims.html": 1,           # forest plot of the claims' paired differences
    "book/training/guidelines.html": 0,
    "book/references.html": 0,
    "book/api.html": 0,
}


def _listing(bad: dict[str, list[str]]) -> str:
    return "\n".join(f"{page}:\n  " + "\n  ".join(items[:20]) for page, items in bad.items())


# --------------------------------------------------------------------------- the table of figures


def _plotly_functions() -> dict[str, object]:
    """Functions of ``gkl.figures`` that build a plotly figure (by name)."""
    import importlib

    out = {}
    for mod_name in ("gkl.figures.theory", "gkl.figures.adversarial", "gkl.figures.distill", "gkl.figures.forest"):
        mod = importlib.import_module(mod_name)
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if not fn.__module__.startswith(mod_name) or name.startswith("_"):
                continue
            src = inspect.getsource(fn)
            if any(k in src for k in ("go.Figure(", "make_subplots(", "_subplots(", "slider_figure(")) \
                    and "plt." not in src:
                out[name] = fn
    return out


def count_plotly_outputs(md: Path, plotly_functions: dict[str, object]) -> int:
    """Code cells of a MyST chapter whose displayed result is a plotly figure built by ``gkl.figures``:
    the cell's last expression, or an argument of ``display(...)``.  Cells tagged ``skip-execution``,
    ``remove-cell`` or ``remove-output`` show nothing on the site."""
    import jupytext

    def name(call) -> str | None:
        if not isinstance(call, ast.Call):
            return None
        f = call.func
        return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None

    count = 0
    for cell in jupytext.read(md).cells:
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type != "code" or tags & {"skip-execution", "remove-cell", "remove-output"}:
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        body = ast.parse(code).body
        bound = {}  # fig = theory.some_figure(...) ... fig
        for stmt in body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                bound[stmt.targets[0].id] = stmt.value
        shown = []
        if body and isinstance(body[-1], ast.Expr):
            shown.append(body[-1].value)
        for stmt in body:
            for node in ast.walk(stmt):
                if name(node) == "display":
                    shown += node.args
                elif name(node) == "show" and isinstance(node.func, ast.Attribute):  # fig.show()
                    shown.append(node.func.value)
        shown = [bound.get(c.id, c) if isinstance(c, ast.Name) else c for c in shown]
        # `figure(...) if record is not None else show(...)`: the branch the build's profile takes (a record)
        shown = [c.body if isinstance(c, ast.IfExp) else c for c in shown]
        count += sum(name(c) in plotly_functions for c in shown)
    return count


def test_expected_figure_counts_match_the_chapter_sources():
    """Fast (no build): the table above agrees with the chapters' sources and names real pages."""
    pytest.importorskip("jupytext")
    pytest.importorskip("plotly")
    planned = {f"{p}.html" for p in notebooks.planned_pages(ROOT)}
    assert set(EXPECTED_FIGURES) <= planned, f"not pages of _toc.yml: {sorted(set(EXPECTED_FIGURES) - planned)}"
    functions = _plotly_functions()
    assert {"convergence_figure", "sweep_plot", "masking_bars"} <= set(functions)  # the recount sees figures
    counted = {f"{md.relative_to(ROOT).with_suffix('').as_posix()}.html": count_plotly_outputs(md, functions)
               for md in notebooks.planned_chapters(ROOT)}
    wrong = {p: f"table {EXPECTED_FIGURES.get(p)}, source {n}" for p, n in counted.items()
             if EXPECTED_FIGURES.get(p) != n}
    assert not wrong, f"EXPECTED_FIGURES is out of date with the chapters: {wrong}"


# --------------------------------------------------------------------------- fixture pages


def _vendor_dir() -> Path | None:
    """The site's vendored JavaScript, if present (``make assets`` writes ``book/_static/vendor``)."""
    for d in (os.environ.get("GKL_VENDOR_DIR"), HTML / "_static" / "vendor", ROOT / "book" / "_static" / "vendor"):
        if d and (Path(d) / "plotly" / "plotly.min.js").is_file():
            return Path(d)
    return None


def _meta(text: str, name: str) -> str | None:
    m = re.search(rf'<meta name="{name}" content="([^"]*)">', text)
    return m.group(1) if m else None


def _fixture_pages() -> list[str]:
    return sorted(p.name for p in FIXTURES.glob("*.html"))


@pytest.fixture(scope="module")
def fixture_site(tmp_path_factory):
    """The fixtures in a temporary site with ``_static/``; returns (dir, {page: missing needs})."""
    pytest.importorskip("playwright.sync_api")
    site = tmp_path_factory.mktemp("fixture-site")
    for page in _fixture_pages():
        shutil.copy2(FIXTURES / page, site / page)
    static = site / "_static"
    static.mkdir()
    shutil.copy2(ROOT / "book" / "_static" / "widgets-mathjax3.js", static)
    available = {"plotly"}
    vendor = _vendor_dir()
    if vendor is not None:
        (static / "vendor").symlink_to(vendor, target_is_directory=True)
        if (vendor / "mathjax" / "tex-mml-svg.js").is_file():
            available.add("mathjax")
        if (vendor / "require.js").is_file() and (vendor / "html-manager" / "embed-amd.js").is_file():
            available.add("widgets")
    else:  # plotly.js from the installed plotly package, as tools/vendor_assets.py copies it
        import plotly

        (static / "vendor" / "plotly").mkdir(parents=True)
        shutil.copy2(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", static / "vendor" / "plotly")
    missing = {}
    for page in _fixture_pages():
        needs = set((_meta((site / page).read_text(encoding="utf-8"), "sitecheck-needs") or "").split())
        missing[page] = sorted(needs - available)
    return site, missing


@pytest.fixture(scope="module")
def fixture_reports(fixture_site) -> dict[str, sitecheck.PageReport]:
    site, missing = fixture_site
    pages = [p for p in _fixture_pages() if not missing[p]]
    expected = {p: int(n) for p in pages
                if (n := _meta((site / p).read_text(encoding="utf-8"), "sitecheck-expected-figures"))}
    # short waits: a fixture's figures and widgets are drawn in well under a second
    return {r.page: r for r in sitecheck.check_site(site, pages=pages, expected_figures=expected, wait_ms=3_000)}


def test_fixture_pages_say_what_they_expect():
    pages = _fixture_pages()
    assert any(p.startswith("good") for p in pages) and sum(p.startswith("broken") for p in pages) >= 8
    for p in pages:
        expect = _meta((FIXTURES / p).read_text(encoding="utf-8"), "sitecheck-expect")
        assert expect, f"{p}: no <meta name=\"sitecheck-expect\">"
        assert (expect == "pass") == p.startswith("good"), f"{p}: good pages pass, broken ones fail"


@needs_chromium
@pytest.mark.slow
class TestFixturePages:
    """The checker on ``tests/fixtures/site/``: broken pages fail, naming the problem; good ones pass."""

    @pytest.mark.parametrize("page", _fixture_pages())
    def test_checker_verdict(self, page, fixture_site, fixture_reports):
        _, missing = fixture_site
        if missing[page]:
            pytest.skip(f"{page} needs the vendored {', '.join(missing[page])} JavaScript: run `make assets`")
        expect = _meta((FIXTURES / page).read_text(encoding="utf-8"), "sitecheck-expect")
        problems = fixture_reports[page].problems
        if expect == "pass":
            assert not problems, f"{page} should pass, but the checker reports:\n  " + "\n  ".join(problems)
        else:
            assert any(expect in p for p in problems), (
                f"{page} should fail with a problem containing {expect!r}; the checker reports:\n  "
                + ("\n  ".join(problems) or "(nothing)"))

    def test_every_slider_of_the_good_page_was_dragged(self, fixture_site, fixture_reports):
        _, missing = fixture_site
        if missing["good.html"]:
            pytest.skip("good.html needs the vendored JavaScript: run `make assets`")
        r = fixture_reports["good.html"]
        assert r.figures == 2 and r.widgets_drawn == r.widget_views == 1
        assert [(s.figure, s.index, s.moved, s.changed) for s in r.slider_checks] == [
            ("fig-sliders", 0, True, True), ("fig-sliders", 1, True, True)]


    def test_phone_width_allows_scrolling_but_not_clipping(self, fixture_site):
        site, _ = fixture_site
        pages = ["broken_wide_code.html", "broken_clipped_equation.html"]
        reps = {r.page: r for r in sitecheck.check_site(site, pages=pages, viewport=PHONE, figures=False, wait_ms=1_000)}
        assert reps["broken_wide_code.html"].overflow and reps["broken_wide_code.html"].problems == []  # it scrolls
        assert any("clipped at 390 px" in p for p in reps["broken_clipped_equation.html"].problems)


# --------------------------------------------------------------------------- the built site


#: A phone's window: blocks wider than the column must scroll there, never be cut off.
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def phone_reports() -> dict[str, sitecheck.PageReport]:
    """Every page of the built site at a phone width (column widths only: figures=False)."""
    pytest.importorskip("playwright.sync_api")
    return {r.page: r for r in sitecheck.check_site(HTML, viewport=PHONE, figures=False, wait_ms=3_000)}


@pytest.fixture(scope="module")
def reports() -> dict[str, sitecheck.PageReport]:
    """Every page of the built site, checked once (with the table of expected figures)."""
    pytest.importorskip("playwright.sync_api")
    return {r.page: r for r in sitecheck.check_site(HTML, SCREENSHOTS, expected_figures=EXPECTED_FIGURES)}


@pytest.mark.site
@needs_chromium
@pytest.mark.skipif(not (HTML / "index.html").is_file(), reason=f"{HTML} has no built site: run `make book` first")
class TestBuiltSite:

    def test_every_planned_page_was_built(self):
        built = set(sitecheck.html_pages(HTML))
        missing = [p for p in notebooks.planned_pages(ROOT) if f"{p}.html" not in built]
        assert not missing, f"pages of _toc.yml missing from the site: {missing}"

    def test_every_page_opened_and_screenshotted(self, reports):
        assert set(reports) == set(sitecheck.html_pages(HTML))
        for page, r in reports.items():
            if sitecheck.redirect_target(HTML, page) is None:
                assert r.screenshot is not None and r.screenshot.is_file(), f"no screenshot of {page}"

    def test_no_javascript_errors_failed_loads_or_network_requests(self, reports):
        bad = {p: r.errors for p, r in reports.items() if r.errors}
        assert not bad, "JavaScript errors, failed loads or requests leaving localhost:\n" + _listing(bad)

    def test_math_is_typeset(self, reports):
        bad = {p: r.raw_math for p, r in reports.items() if r.raw_math}
        assert not bad, "raw TeX left in the text (MathJax did not typeset it):\n" + _listing(bad)

    def test_math_has_no_mathjax_errors(self, reports):
        bad = {p: r.math_errors for p, r in reports.items() if r.math_errors}
        assert not bad, "math drawn as a MathJax error (red):\n" + _listing(bad)

    def test_every_plotly_figure_is_drawn_with_data(self, reports):
        bad = {p: [f"not drawn: #{i}" for i in r.undrawn_figures] + r.empty_figures
               for p, r in reports.items() if r.undrawn_figures or r.empty_figures}
        assert not bad, "plotly figures not drawn, or drawn empty:\n" + _listing(bad)

    def test_pages_show_their_expected_figures(self, reports):
        bad = {p: [f"{reports[p].figures} plotly figure(s), expected {n}"]
               for p, n in EXPECTED_FIGURES.items() if p in reports and reports[p].figures < n}
        assert not bad, "pages with figures missing:\n" + _listing(bad)

    def test_moving_every_plotly_slider_changes_the_figure(self, reports):
        with_slider = {p: r for p, r in reports.items() if r.slider_checks}
        assert with_slider, "no page of the site has a plotly figure with a slider"
        bad = {p: [m for s in r.slider_checks if (m := s.problem())] + r.undrawn_sliders
               for p, r in reports.items() if not r.slider_moved and (r.slider_checks or r.undrawn_sliders)}
        assert not bad, "plotly sliders that do not work:\n" + _listing(bad)

    def test_ipywidgets_are_drawn_without_errors(self, reports):
        bad = {p: r.widget_errors + [f"view of model {m} not drawn" for m in r.undrawn_widgets]
               for p, r in reports.items() if r.widget_errors or r.undrawn_widgets}
        assert not bad, "ipywidgets not drawn or drawn as errors:\n" + _listing(bad)

    def test_blocks_fit_the_column_at_1280_px(self, reports):
        wide = {p: [q for q in r.problems if "wider than its column" in q] for p, r in reports.items()}
        assert {p: q for p, q in wide.items() if q} == {}

    def test_wide_blocks_scroll_at_a_phone_width(self, phone_reports):
        clipped = {p: r.problems for p, r in phone_reports.items() if r.problems}
        assert clipped == {}

    def test_every_chapter_links_a_slide_deck_that_opens_offline(self):
        chapters = [md.relative_to(ROOT).with_suffix("").as_posix() for md in notebooks.planned_chapters(ROOT)]
        decks = sitecheck.slide_decks(HTML)
        assert decks == sorted(f"slides/{c}.slides.html" for c in chapters)
        for c in chapters:
            html = (HTML / f"{c}.html").read_text(encoding="utf-8")
            assert f'slides/{c}.slides.html">Slides of this chapter' in html, f"{c}: no link to its slides"
        states = sitecheck.check_decks(HTML, decks)
        bad = {d: s for d, s in states.items() if not s["ready"] or s["slides"] < 3 or s["errors"] or s["math_errors"]}
        assert bad == {}

    def test_no_page_has_any_problem(self, reports):
        """Everything the checker reports, in one list (nothing it finds goes unasserted)."""
        bad = {p: r.problems for p, r in reports.items() if r.problems}
        assert not bad, _listing(bad)

    def test_pages_reference_no_external_scripts_or_styles(self):
        """Static check of the HTML (also covers scripts the browser would only load on demand)."""
        pattern = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)="(?:https?:)?//[^"]*"[^>]*>', re.IGNORECASE)
        bad = {}
        for page in sitecheck.html_pages(HTML):
            text = (HTML / page).read_text(encoding="utf-8")
            found = [m.group(0)[:160] for m in pattern.finditer(text) if 'rel="canonical"' not in m.group(0)]
            if found:
                bad[page] = found
        assert not bad, "pages load scripts/styles from the network:\n" + _listing(bad)

    def test_chapters_have_a_colab_button(self):
        url = notebooks.repo_url(ROOT)
        owner_repo = url.removeprefix("https://github.com/")
        for md in notebooks.planned_chapters(ROOT):
            docname = md.relative_to(ROOT).with_suffix("").as_posix()
            html = (HTML / f"{docname}.html").read_text(encoding="utf-8")
            link = f"https://colab.research.google.com/github/{owner_repo}/blob/"
            assert link in html and f"/{docname}.ipynb" in html, f"{docname}: no Colab launch button for the .ipynb"
