"""The built site, opened page by page in headless Chromium with the network blocked.

Needs ``_build/html`` (``make book``; ``make test`` builds it first) and Debian's ``/usr/bin/chromium``
driven by Python playwright.  Every page is served from 127.0.0.1; a request that would leave
localhost is blocked and fails the test, so the site is known to work offline.  A full-page
screenshot of each page is written to ``_build/screenshots/<page>.png``.
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

HTML = Path(os.environ.get("GKL_SITE_HTML", ROOT / "_build" / "html"))
SCREENSHOTS = ROOT / "_build" / "screenshots"

pytestmark = [
    pytest.mark.site,
    pytest.mark.skipif(not Path(sitecheck.CHROMIUM).exists(),
                       reason=f"{sitecheck.CHROMIUM} is not installed (apt-get install chromium)"),
    pytest.mark.skipif(not (HTML / "index.html").is_file(),
                       reason=f"{HTML} has no built site: run `make book` first"),
]


@pytest.fixture(scope="module")
def reports() -> dict[str, sitecheck.PageReport]:
    pytest.importorskip("playwright.sync_api")
    return {r.page: r for r in sitecheck.check_site(HTML, SCREENSHOTS)}


def _listing(bad: dict[str, list[str]]) -> str:
    return "\n".join(f"{page}:\n  " + "\n  ".join(items[:20]) for page, items in bad.items())


def test_every_planned_page_was_built():
    built = set(sitecheck.html_pages(HTML))
    missing = [p for p in notebooks.planned_pages(ROOT) if f"{p}.html" not in built]
    assert not missing, f"pages of _toc.yml missing from the site: {missing}"


def test_every_page_opened_and_screenshotted(reports):
    assert set(reports) == set(sitecheck.html_pages(HTML))
    for page, r in reports.items():
        if sitecheck.redirect_target(HTML, page) is None:
            assert r.screenshot is not None and r.screenshot.is_file(), f"no screenshot of {page}"


def test_no_javascript_errors_failed_loads_or_network_requests(reports):
    bad = {p: r.errors for p, r in reports.items() if r.errors}
    assert not bad, "JavaScript errors, failed loads or requests leaving localhost:\n" + _listing(bad)


def test_math_is_typeset(reports):
    bad = {p: r.raw_math for p, r in reports.items() if r.raw_math}
    assert not bad, "raw TeX left in the text (MathJax did not typeset it):\n" + _listing(bad)


def test_every_plotly_figure_is_drawn(reports):
    bad = {p: r.undrawn_figures for p, r in reports.items() if r.undrawn_figures}
    assert not bad, "plotly figures without an SVG:\n" + _listing(bad)


def test_moving_a_plotly_slider_changes_the_figure(reports):
    with_slider = {p: r for p, r in reports.items() if r.sliders}
    assert with_slider, "no page of the site has a plotly figure with a slider"
    bad = [p for p, r in with_slider.items() if not r.slider_moved]
    assert not bad, f"dragging the slider did not change the figure on: {bad}"


def test_ipywidgets_are_drawn(reports):
    bad = {p: [f"{r.widget_views} widget views, {r.widgets_drawn} drawn"]
           for p, r in reports.items() if r.widget_views and not r.widgets_drawn}
    assert not bad, _listing(bad)


def test_pages_reference_no_external_scripts_or_styles():
    """Static check of the HTML (also covers scripts the browser would only load on demand)."""
    pattern = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)="(?:https?:)?//[^"]*"[^>]*>', re.IGNORECASE)
    bad = {}
    for page in sitecheck.html_pages(HTML):
        text = (HTML / page).read_text(encoding="utf-8")
        found = [m.group(0)[:160] for m in pattern.finditer(text) if 'rel="canonical"' not in m.group(0)]
        if found:
            bad[page] = found
    assert not bad, "pages load scripts/styles from the network:\n" + _listing(bad)


def test_chapters_have_a_colab_button():
    url = notebooks.repo_url(ROOT)
    owner_repo = url.removeprefix("https://github.com/")
    for md in notebooks.planned_chapters(ROOT):
        docname = md.relative_to(ROOT).with_suffix("").as_posix()
        html = (HTML / f"{docname}.html").read_text(encoding="utf-8")
        link = f"https://colab.research.google.com/github/{owner_repo}/blob/"
        assert link in html and f"/{docname}.ipynb" in html, f"{docname}: no Colab launch button for the .ipynb"
