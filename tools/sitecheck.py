"""Open the built site in headless Chromium, offline, and check what each page shows.

Used by ``tests/test_site.py`` (the assertions) and ``tools/screenshot.py`` (screenshots for humans).
The site is served from a local HTTP server on 127.0.0.1; every request that would leave localhost
is blocked and recorded, so a page that still needs a CDN fails the check.

Driven by Python playwright with Debian's ``/usr/bin/chromium`` (never ``playwright install``).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
VIEWPORT = {"width": 1280, "height": 900}


def html_pages(html_dir: Path) -> list[str]:
    """Every HTML page of the site (relative POSIX paths), skipping Sphinx's asset folders."""
    html_dir = Path(html_dir)
    return sorted(
        p.relative_to(html_dir).as_posix()
        for p in html_dir.rglob("*.html")
        if not any(part.startswith("_") for part in p.relative_to(html_dir).parts[:-1])
    )


_REDIRECT_RE = re.compile(r'<meta http-equiv="refresh" content="\d+;\s*url=([^"]+)"', re.IGNORECASE)


def redirect_target(html_dir: Path, page: str) -> str | None:
    """For a redirect-only page (e.g. ``index.html`` written by sphinx-external-toc): its target."""
    text = (Path(html_dir) / page).read_text(encoding="utf-8", errors="replace")[:2000]
    m = _REDIRECT_RE.search(text)
    return m.group(1) if m else None


def screenshot_name(page: str) -> str:
    """``book/theory/decoupling.html`` -> ``book/theory/decoupling.png``."""
    return page.removesuffix(".html") + ".png"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request log on stderr
        pass


@contextlib.contextmanager
def serve(html_dir: Path):
    """Serve ``html_dir`` on a free localhost port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def browser_context():
    """A fresh headless Chromium context (own profile dir) that blocks non-local requests.

    Yields ``(context, blocked)`` where ``blocked`` collects the URLs that tried to leave localhost.
    """
    from playwright.sync_api import sync_playwright

    blocked: list[str] = []

    def route(r):
        url = r.request.url
        if urlparse(url).hostname in LOCAL_HOSTS:
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    with tempfile.TemporaryDirectory(prefix="gkl-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport=VIEWPORT, service_workers="block",
        )
        try:
            context.route("**/*", route)
            yield context, blocked
        finally:
            context.close()


# JavaScript run in the page -------------------------------------------------------------------

_JS_MATHJAX_DONE = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  if (window.MathJax && MathJax.typesetPromise) { await MathJax.typesetPromise(); }
  return true;
}"""

#: Raw TeX delimiters left in the visible text (outside code, scripts and typeset math).
_JS_RAW_MATH = r"""() => {
  const skip = 'PRE,CODE,SCRIPT,STYLE,TEXTAREA,MJX-CONTAINER,MJX-ASSISTIVE-MML,NOSCRIPT';
  const out = [];
  const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    let el = node.parentElement, skipped = false;
    while (el) { if (skip.split(',').includes(el.tagName.toUpperCase())) { skipped = true; break; } el = el.parentElement; }
    if (skipped) continue;
    const t = node.textContent;
    for (const d of ['\\[', '\\(', '$$']) {
      const i = t.indexOf(d);
      if (i >= 0) out.push(t.slice(Math.max(0, i - 30), i + 40).trim());
    }
  }
  return out;
}"""

_JS_PLOTLY = """() => Array.from(document.querySelectorAll('.plotly-graph-div')).map(gd => ({
  id: gd.id,
  drawn: gd.classList.contains('js-plotly-plot') && !!gd.querySelector('svg.main-svg'),
  slider: !!gd.querySelector('.slider-container'),
}))"""

_JS_FIGURE_STATE = """(id) => {
  const gd = document.getElementById(id);
  const svgs = Array.from(gd.querySelectorAll('svg.main-svg')).map(svg => {
    const c = svg.cloneNode(true);
    c.querySelectorAll('.infolayer, .menulayer').forEach(e => e.remove());  // sliders live there
    return c.innerHTML;
  });
  return svgs.join('\\n');
}"""

_JS_WIDGETS = """() => ({
  views: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
  drawn: document.querySelectorAll('.jupyter-widgets').length,
  error: document.querySelectorAll('.jupyter-widgets-error-widget, .widget-error').length,
})"""


@dataclass
class PageReport:
    page: str
    errors: list[str] = field(default_factory=list)       # JS errors, failed loads, blocked requests
    raw_math: list[str] = field(default_factory=list)
    figures: int = 0
    undrawn_figures: list[str] = field(default_factory=list)
    sliders: int = 0
    slider_moved: bool | None = None                       # None: no slider on the page
    widget_views: int = 0
    widgets_drawn: int = 0
    screenshot: Path | None = None
    seconds: float = 0.0

    @property
    def problems(self) -> list[str]:
        out = list(self.errors)
        out += [f"raw TeX left in text: {m!r}" for m in self.raw_math]
        out += [f"plotly figure not drawn: #{i}" for i in self.undrawn_figures]
        if self.slider_moved is False:
            out.append("moving the plotly slider did not change the figure")
        if self.widget_views and not self.widgets_drawn:
            out.append(f"{self.widget_views} ipywidgets view(s) not drawn")
        return out


def _move_slider(page, gd_id: str) -> bool:
    """Drag the first slider of figure ``gd_id`` to its right end; True if the plot changed."""
    before = page.evaluate(_JS_FIGURE_STATE, gd_id)
    rail = page.locator(f'[id="{gd_id}"] .slider-rail-rect').first
    grip = page.locator(f'[id="{gd_id}"] .slider-grip-rect').first
    rail.scroll_into_view_if_needed()
    r, g = rail.bounding_box(), grip.bounding_box()
    if r is None or g is None:
        return False
    page.mouse.move(g["x"] + g["width"] / 2, g["y"] + g["height"] / 2)
    page.mouse.down()
    page.mouse.move(r["x"] + r["width"] - 2, r["y"] + r["height"] / 2, steps=10)
    page.mouse.up()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if page.evaluate(_JS_FIGURE_STATE, gd_id) != before:
            return True
        page.wait_for_timeout(100)
    return False


def check_page(context, blocked: list[str], base_url: str, page_path: str,
               screenshot_dir: Path | None = None, timeout_ms: int = 30_000) -> PageReport:
    """Load one page and record everything that went wrong on it."""
    t0 = time.monotonic()
    report = PageReport(page_path)
    page = context.new_page()
    n_blocked = len(blocked)
    page.on("console", lambda m: report.errors.append(f"console {m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: report.errors.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: report.errors.append(
        f"failed to load {r.url} ({r.failure})") if urlparse(r.url).hostname in LOCAL_HOSTS else None)
    page.on("response", lambda r: report.errors.append(f"HTTP {r.status} for {r.url}")
            if r.status >= 400 else None)
    try:
        page.goto(base_url + page_path, wait_until="load", timeout=timeout_ms)
        page.wait_for_timeout(250)  # scripts started by the load event
        page.evaluate(_JS_MATHJAX_DONE)
        # plotly draws synchronously on load; the widget manager renders asynchronously.
        with contextlib.suppress(Exception):
            page.wait_for_function(
                """() => Array.from(document.querySelectorAll('.plotly-graph-div'))
                         .every(gd => gd.querySelector('svg.main-svg'))""", timeout=10_000)
        widgets = page.evaluate(_JS_WIDGETS)
        if widgets["views"]:
            with contextlib.suppress(Exception):
                page.wait_for_selector(".jupyter-widgets", timeout=10_000)
            widgets = page.evaluate(_JS_WIDGETS)
        report.widget_views, report.widgets_drawn = widgets["views"], widgets["drawn"]
        report.raw_math = page.evaluate(_JS_RAW_MATH)
        figures = page.evaluate(_JS_PLOTLY)
        report.figures = len(figures)
        report.undrawn_figures = [f["id"] for f in figures if not f["drawn"]]
        with_slider = [f["id"] for f in figures if f["drawn"] and f["slider"]]
        report.sliders = len(with_slider)
        if with_slider:
            report.slider_moved = _move_slider(page, with_slider[0])
            page.evaluate("() => window.scrollTo(0, 0)")
        if screenshot_dir is not None:
            path = Path(screenshot_dir) / screenshot_name(page_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(path), full_page=True)
            report.screenshot = path
    except Exception as exc:  # a timeout or crash is a problem of the page, reported as such
        report.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        page.close()
    report.errors += [f"blocked request leaving localhost: {u}" for u in blocked[n_blocked:]]
    report.seconds = time.monotonic() - t0
    return report


def check_site(html_dir: Path, screenshot_dir: Path | None = None, pages: list[str] | None = None):
    """Check every page (or ``pages``); returns the list of :class:`PageReport`."""
    html_dir = Path(html_dir)
    pages = pages if pages is not None else html_pages(html_dir)
    reports, to_open = [], []
    for p in pages:
        target = redirect_target(html_dir, p)
        if target is None:
            to_open.append(p)
            continue
        # not opened (the browser would land on the target, which is checked itself)
        report = PageReport(p)
        if not (html_dir / Path(p).parent / target).is_file():
            report.errors.append(f"redirects to missing page {target}")
        reports.append(report)
    with serve(html_dir) as base_url, browser_context() as (context, blocked):
        reports += [check_page(context, blocked, base_url, p, screenshot_dir) for p in to_open]
    return sorted(reports, key=lambda r: r.page)
