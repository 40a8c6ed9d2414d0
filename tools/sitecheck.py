"""Open the built site in headless Chromium, offline, and check what each page shows.

Used by ``tests/test_site.py`` (the assertions) and ``tools/screenshot.py`` (screenshots for humans).
The site is served from a local HTTP server on 127.0.0.1; every request that would leave localhost
is blocked and recorded, so a page that still needs a CDN fails the check.

A page has a problem (:attr:`PageReport.problems`) when it shows any of:

* a JavaScript error (uncaught exception, ``console.error``), a failed local load or an HTTP error;
* raw TeX left in the text, or math that MathJax drew as an error (an ``merror`` node: missing
  argument, unbalanced braces...; or a red undefined control sequence such as ``\\undefinedmacro``);
* a plotly figure that is not drawn, has no traces, or whose visible traces hold no data point;
  fewer plotly figures than the caller expects for that page;
* a plotly slider that is not drawn, or that, dragged from its active step to the far end of its
  rail, does not move or does not change what the figure draws (every slider of every figure);
* an ipywidgets view that is not drawn, or that the widget manager replaced by an error view
  ("Error displaying widget", "Error creating widget", the broken-widget icon);
* a display equation, code block, output block, figure or image wider than the text column: at a
  desktop width (>= 1000 px) any such overflow; at a phone width only overflow that does not scroll
  (clipped, or spilling out of the column).

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
from typing import Mapping
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
        if not any(part.startswith("_") or part == "slides" for part in p.relative_to(html_dir).parts[:-1])
    )


def slide_decks(html_dir: Path) -> list[str]:
    """The chapters' reveal.js decks written by ``tools/slides.py`` (relative POSIX paths)."""
    root = Path(html_dir) / "slides"
    return sorted(p.relative_to(html_dir).as_posix() for p in root.rglob("*.slides.html")) if root.is_dir() else []


_JS_DECK = """async () => {
  const t0 = Date.now();
  while (!(window.Reveal && window.Reveal.isReady && window.Reveal.isReady()) && Date.now() - t0 < 15000)
    await new Promise(r => setTimeout(r, 100));
  if (!(window.Reveal && window.Reveal.isReady())) return {ready: false, slides: 0};
  return {ready: true, slides: window.Reveal.getTotalSlides()};
}"""


def check_decks(html_dir: Path, decks: list[str] | None = None) -> dict[str, dict]:
    """Open every slide deck: ``{deck: {"ready", "slides", "math_errors", "errors"}}`` (errors: JS errors,
    failed loads and requests that tried to leave localhost)."""
    decks = slide_decks(html_dir) if decks is None else decks
    out = {}
    with serve(Path(html_dir)) as base_url, browser_context() as (context, blocked):
        for deck in decks:
            errors: list[str] = []
            page = context.new_page()
            page.on("console", lambda m, e=errors: e.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda x, e=errors: e.append(f"page error: {_error_text(x)}"))
            n = len(blocked)
            page.goto(base_url + deck, wait_until="load", timeout=30_000)
            state = page.evaluate(_JS_DECK)
            page.evaluate(_JS_MATHJAX_DONE)
            state["math_errors"] = page.evaluate(_JS_MATH_ERRORS)
            state["errors"] = errors + [f"blocked request leaving localhost: {u}" for u in blocked[n:]]
            page.close()
            out[deck] = state
    return out


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
def browser_context(viewport: dict | None = None):
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
            viewport=viewport or VIEWPORT, service_workers="block",
        )
        try:
            context.route("**/*", route)
            yield context, blocked
        finally:
            context.close()


# JavaScript run in the page -------------------------------------------------------------------

#: Wait for the typesetting the page itself started (the checker never typesets anything itself:
#: a typeset call from here could hide math the page failed to typeset, and a whole-document
#: re-typeset would also typeset MathJax's own assistive MathML).
_JS_MATHJAX_DONE = """async () => {
  if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return false;
  let p;
  do { p = MathJax.startup.promise; await p; } while (p !== MathJax.startup.promise);
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

#: MathJax errors drawn in red.  MathJax 3 marks a TeX error (missing argument, unbalanced braces...)
#: as an ``merror`` node: ``data-mml-node="merror"`` in SVG output, ``<mjx-merror>`` in CHTML output,
#: ``<merror>`` in the assistive MathML, each with a ``data-mjx-error`` message.  An undefined macro
#: (``noundefined`` extension) is no error node but a red ``mtext`` holding the macro's name.
_JS_MATH_ERRORS = r"""() => {
  const sources = new Map();
  try { for (const m of MathJax.startup.document.math) sources.set(m.typesetRoot, m.math); } catch (e) {}
  const out = [];
  const inAssistive = e => !!(e.parentElement && e.parentElement.closest('mjx-assistive-mml'));
  const containers = Array.from(document.querySelectorAll('mjx-container')).filter(c => !inAssistive(c));
  const seen = new Set();
  for (const c of containers) {
    const msgs = new Set();
    c.querySelectorAll('[data-mjx-error]').forEach(e => { seen.add(e); msgs.add(e.getAttribute('data-mjx-error')); });
    c.querySelectorAll('mjx-merror, merror, [data-mml-node="merror"]').forEach(e => {
      seen.add(e); if (!e.hasAttribute('data-mjx-error') && !msgs.size) msgs.add((e.textContent || 'error').trim());
    });
    c.querySelectorAll('mtext[mathcolor="red"]').forEach(e => {
      const t = (e.textContent || '').trim();
      if (t.startsWith('\\')) msgs.add('undefined control sequence ' + t);
    });
    if (msgs.size) {
      const src = sources.get(c);
      out.push(Array.from(msgs).join('; ') + (src !== undefined ? ' in ' + JSON.stringify(src.trim().slice(0, 80)) : ''));
    }
  }
  // error nodes outside a page-level container, e.g. LaTeX labels that plotly typeset into its SVG
  document.querySelectorAll('[data-mjx-error], mjx-merror').forEach(e => {
    if (seen.has(e) || inAssistive(e) || e.closest('mjx-container')) return;
    out.push((e.getAttribute('data-mjx-error') || e.textContent || 'error').trim().slice(0, 120) + ' (outside page math)');
  });
  return out;
}"""

#: Blocks wider than the text column: display math, code and output blocks, plotly figures, images.
#: ``scrolls``: a scroll container between the block and the column holds the overflow.
_JS_OVERFLOW = r"""() => {
  const col = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const right = col.getBoundingClientRect().right;
  const sel = 'mjx-container[display="true"], div.math, div.highlight pre, div.cell_output pre, ' +
              'div.output pre, .plotly-graph-div, img';
  const out = [];
  for (const el of col.querySelectorAll(sel)) {
    if (el.closest('mjx-assistive-mml') || !(el.offsetWidth || el.getClientRects().length)) continue;
    const parent = el.parentElement;
    const avail = parent ? parent.clientWidth : col.clientWidth;
    const wide = el.scrollWidth > Math.max(el.clientWidth, avail) + 2 || el.getBoundingClientRect().right > right + 2;
    if (!wide) continue;
    let scrolls = false;
    for (let a = el; a && a !== col.parentElement; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if (ox === 'auto' || ox === 'scroll') { scrolls = a.getBoundingClientRect().right <= right + 2; break; }
      if (ox === 'hidden' || ox === 'clip') break;
    }
    const text = (el.tagName === 'IMG' ? (el.getAttribute('alt') || el.src) : (el.textContent || el.id || ''));
    out.push({what: el.tagName.toLowerCase() + (el.className && typeof el.className === 'string' ?
              '.' + el.className.split(' ')[0] : ''), text: text.replace(/\s+/g, ' ').trim().slice(0, 60),
              width: Math.max(el.scrollWidth, Math.round(el.getBoundingClientRect().width)), column: Math.round(avail),
              scrolls});
  }
  return out;
}"""

#: One entry per plotly figure: drawn?, traces, visible traces, data points drawn, sliders.
_JS_PLOTLY = """() => Array.from(document.querySelectorAll('.plotly-graph-div')).map(gd => {
  const len = v => (v && typeof v.length === 'number') ? v.length : 0;
  const keys = ['x', 'y', 'z', 'values', 'labels', 'r', 'theta', 'lat', 'lon', 'locations', 'a', 'b', 'c',
                'u', 'v', 'w', 'open', 'close', 'dimensions', 'source'];
  const points = t => {
    if (t.type === 'indicator') return 1;  // a number, no data arrays
    if (typeof t._length === 'number') return t._length;
    let n = Math.max(0, ...keys.map(k => len(t[k])));
    if (t.cells) n = Math.max(n, len(t.cells.values));
    return n;
  };
  const full = Array.isArray(gd._fullData) ? gd._fullData : [];
  const visible = full.filter(t => t.visible === true);
  const sliders = ((gd._fullLayout || {}).sliders || []).filter(s => s.visible !== false).map(s => ({
    active: s.active, steps: (s.steps || []).filter(st => st.visible !== false).length,
    prefix: (s.currentvalue && s.currentvalue.prefix) || '',
  }));
  return {
    id: gd.id,
    drawn: gd.classList.contains('js-plotly-plot') && !!gd.querySelector('svg.main-svg'),
    traces: Array.isArray(gd.data) ? gd.data.length : 0,
    visible: visible.length,
    points: visible.reduce((a, t) => a + points(t), 0),
    sliders: sliders,
    slider_groups: gd.querySelectorAll('.slider-group').length,
  };
})"""

#: What the figure draws, minus its sliders/menus (which move when dragged) and hover labels.
_JS_FIGURE_STATE = """(id) => {
  const gd = document.getElementById(id);
  const svgs = Array.from(gd.querySelectorAll('svg.main-svg')).map(svg => {
    const c = svg.cloneNode(true);
    c.querySelectorAll('.slider-container, .updatemenu-container, .menulayer, .hoverlayer').forEach(e => e.remove());
    return c.innerHTML;
  });
  return svgs.join('\\n');
}"""

_JS_SLIDER_ACTIVE = """([id, k]) => {
  const gd = document.getElementById(id);
  const s = ((gd._fullLayout || {}).sliders || []).filter(s => s.visible !== false)[k];
  return s ? s.active : null;
}"""

#: Widget views (``<script type=...widget-view+json>``; the manager inserts a ``.widget-subarea``
#: before each one it renders) and the error views the widget manager draws instead of a widget.
_JS_WIDGETS = r"""() => {
  const views = Array.from(document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]'));
  const isError = e => e.classList.contains('jupyter-widgets-error-widget') || !!e.querySelector('.jupyter-widgets-error-widget')
      || /^Error (displaying|creating) widget/.test((e.textContent || '').trim());
  const undrawn = [];
  let drawn = 0;
  for (const s of views) {
    let id = '?';
    try { id = JSON.parse(s.textContent).model_id; } catch (e) {}
    const prev = s.previousElementSibling;
    const w = prev && prev.classList.contains('widget-subarea') ? prev.querySelector('.jupyter-widgets') : null;
    if (w && !isError(w)) drawn++;
    else if (!w) undrawn.push(id);
  }
  const errors = [];
  document.querySelectorAll('.jupyter-widgets, .jupyter-widgets-error-widget').forEach(e => {
    if (e.parentElement && e.parentElement.closest('.jupyter-widgets-error-widget, .jupyter-widgets')
        && isError(e.parentElement.closest('.jupyter-widgets-error-widget, .jupyter-widgets'))) return;
    if (!isError(e)) return;
    const t = (e.textContent || '').trim();
    errors.push(/^Error/.test(t) ? t.slice(0, 120) : 'the widget manager drew an error view (the widget could not be created)');
  });
  return {views: views.length, drawn, undrawn, errors};
}"""

_JS_WIDGETS_SETTLED = """() => Array.from(document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-view+json"]')).every(s => {
  const prev = s.previousElementSibling;
  return prev && prev.classList.contains('widget-subarea') && prev.childElementCount > 0;
})"""

_JS_PLOTLY_DRAWN = """() => Array.from(document.querySelectorAll('.plotly-graph-div'))
    .every(gd => gd.querySelector('svg.main-svg'))"""


@dataclass
class SliderCheck:
    """One plotly slider dragged from its active step to the far end of its rail."""

    figure: str          # id of the plotly div
    index: int           # 0-based among the figure's sliders
    count: int           # sliders of that figure
    prefix: str = ""
    moved: bool = False  # the slider's active step changed
    changed: bool = False  # what the figure draws changed

    def problem(self) -> str | None:
        name = f"plotly figure #{self.figure}: slider {self.index + 1} of {self.count}"
        name += f" ({self.prefix.strip()!r})" if self.prefix.strip() else ""
        if not self.moved:
            return f"{name}: dragging it did not move it to another step"
        if not self.changed:
            return f"{name}: moving it did not change the figure"
        return None


@dataclass
class PageReport:
    page: str
    errors: list[str] = field(default_factory=list)       # JS errors, failed loads, blocked requests
    raw_math: list[str] = field(default_factory=list)
    math_errors: list[str] = field(default_factory=list)  # MathJax error nodes / undefined macros
    figures: int = 0
    expected_figures: int | None = None                    # from the caller's table; None: not checked
    undrawn_figures: list[str] = field(default_factory=list)
    empty_figures: list[str] = field(default_factory=list)  # "#id: why"
    slider_checks: list[SliderCheck] = field(default_factory=list)
    undrawn_sliders: list[str] = field(default_factory=list)
    widget_views: int = 0
    widgets_drawn: int = 0
    undrawn_widgets: list[str] = field(default_factory=list)  # model ids of views left undrawn
    widget_errors: list[str] = field(default_factory=list)
    viewport_width: int = VIEWPORT["width"]
    overflow: list[dict] = field(default_factory=list)     # blocks wider than the column (_JS_OVERFLOW)
    screenshot: Path | None = None
    seconds: float = 0.0

    @property
    def sliders(self) -> int:
        return len(self.slider_checks)

    @property
    def slider_moved(self) -> bool | None:
        """True if every slider moved and changed its figure; None: no slider on the page."""
        if not self.slider_checks:
            return None
        return all(s.problem() is None for s in self.slider_checks)

    @property
    def problems(self) -> list[str]:
        out = list(self.errors)
        out += [f"raw TeX left in text: {m!r}" for m in self.raw_math]
        out += [f"MathJax error: {m}" for m in self.math_errors]
        out += [f"plotly figure not drawn: #{i}" for i in self.undrawn_figures]
        out += [f"plotly figure {m}" for m in self.empty_figures]
        if self.expected_figures is not None and self.figures < self.expected_figures:
            out.append(f"{self.figures} plotly figure(s) on the page, expected {self.expected_figures}")
        out += [f"plotly figure #{m}" for m in self.undrawn_sliders]
        out += [p for s in self.slider_checks if (p := s.problem())]
        out += [f"ipywidgets error: {m}" for m in self.widget_errors]
        out += [f"ipywidgets view of model {m} not drawn" for m in self.undrawn_widgets]
        desktop = self.viewport_width >= 1000
        for o in self.overflow:
            if desktop:
                out.append(f"wider than its column at {self.viewport_width} px: {o['what']} "
                           f"({o['width']} > {o['column']} px) {o['text']!r}")
            elif not o["scrolls"]:
                out.append(f"clipped at {self.viewport_width} px (does not scroll): {o['what']} "
                           f"({o['width']} > {o['column']} px) {o['text']!r}")
        return out


def _error_text(error) -> str:
    """``ReferenceError: f is not defined`` for an uncaught exception (playwright gives name and message)."""
    name, message = getattr(error, "name", None), getattr(error, "message", None) or str(error)
    return f"{name}: {message}" if name and not message.startswith(f"{name}:") else message


def _drag_slider(page, gd_id: str, k: int, to_end: bool, timeout_ms: int = 5_000) -> tuple[bool, bool]:
    """Drag slider ``k`` of figure ``gd_id`` to the right (``to_end``) or left end of its rail.

    Returns ``(moved, changed)``: the slider's active step changed; what the figure draws changed.
    """
    before = page.evaluate(_JS_FIGURE_STATE, gd_id)
    active = page.evaluate(_JS_SLIDER_ACTIVE, [gd_id, k])
    group = page.locator(f'[id="{gd_id}"] .slider-group').nth(k)
    rail, grip = group.locator(".slider-rail-rect").first, group.locator(".slider-grip-rect").first
    rail.scroll_into_view_if_needed()
    r, g = rail.bounding_box(), grip.bounding_box()
    if r is None or g is None:
        return False, False
    page.mouse.move(g["x"] + g["width"] / 2, g["y"] + g["height"] / 2)
    page.mouse.down()
    x = r["x"] + r["width"] - 2 if to_end else r["x"] + 2
    page.mouse.move(x, r["y"] + r["height"] / 2, steps=10)
    page.mouse.up()
    moved = changed = False
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        moved = moved or page.evaluate(_JS_SLIDER_ACTIVE, [gd_id, k]) != active
        changed = changed or page.evaluate(_JS_FIGURE_STATE, gd_id) != before
        if moved and changed:
            break
        page.wait_for_timeout(100)
    return moved, changed


def _check_figures(page, report: PageReport) -> None:
    figures = page.evaluate(_JS_PLOTLY)
    report.figures = len(figures)
    report.undrawn_figures = [f["id"] for f in figures if not f["drawn"]]
    for f in figures:
        if not f["drawn"]:
            continue
        if f["traces"] == 0:
            report.empty_figures.append(f"#{f['id']} has no traces")
        elif f["points"] == 0:
            report.empty_figures.append(
                f"#{f['id']} draws no data ({f['traces']} trace(s), {f['visible']} visible, 0 data points)")
        if f["slider_groups"] < len(f["sliders"]):
            report.undrawn_sliders.append(
                f"{f['id']}: {len(f['sliders'])} slider(s) in the layout, {f['slider_groups']} drawn")
    # every slider of every drawn figure, each dragged to the end of its rail away from its active step
    for f in figures:
        if not f["drawn"]:
            continue
        n = min(len(f["sliders"]), f["slider_groups"])
        for k, s in enumerate(f["sliders"][:n]):
            if s["steps"] < 2:
                continue  # nothing to move to
            check = SliderCheck(f["id"], k, len(f["sliders"]), s["prefix"])
            check.moved, check.changed = _drag_slider(page, f["id"], k, to_end=(s["active"] or 0) < s["steps"] - 1)
            report.slider_checks.append(check)


def check_page(context, blocked: list[str], base_url: str, page_path: str,
               screenshot_dir: Path | None = None, timeout_ms: int = 30_000,
               expected_figures: int | None = None, wait_ms: int = 10_000, figures: bool = True,
               viewport_width: int = VIEWPORT["width"]) -> PageReport:
    """Load one page and record everything that went wrong on it.

    ``expected_figures``: the page fails with fewer plotly figures.  ``wait_ms``: how long to wait for
    figures and widgets to be drawn before reporting them as not drawn.
    """
    t0 = time.monotonic()
    report = PageReport(page_path, expected_figures=expected_figures, viewport_width=viewport_width)
    page = context.new_page()
    n_blocked = len(blocked)
    page.on("console", lambda m: report.errors.append(f"console {m.type}: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: report.errors.append(f"page error: {_error_text(e)}"))
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
            page.wait_for_function(_JS_PLOTLY_DRAWN, timeout=wait_ms)
        with contextlib.suppress(Exception):
            page.wait_for_function(_JS_WIDGETS_SETTLED, timeout=wait_ms)
        page.evaluate(_JS_MATHJAX_DONE)  # widget labels are typeset after the widgets are drawn
        widgets = page.evaluate(_JS_WIDGETS)
        report.widget_views, report.widgets_drawn = widgets["views"], widgets["drawn"]
        report.undrawn_widgets, report.widget_errors = widgets["undrawn"], widgets["errors"]
        report.raw_math = page.evaluate(_JS_RAW_MATH)
        report.math_errors = page.evaluate(_JS_MATH_ERRORS)
        report.overflow = page.evaluate(_JS_OVERFLOW)
        if screenshot_dir is not None:  # the page as loaded, before any slider is dragged
            path = Path(screenshot_dir) / screenshot_name(page_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            # a full-page capture of the longest pages (the API) takes tens of seconds on a busy
            # machine: its own, longer limit — slowness of the capture is not a problem of the page
            page.screenshot(path=str(path), full_page=True, timeout=max(4 * timeout_ms, 120_000))
            report.screenshot = path
        if figures:
            _check_figures(page, report)
    except Exception as exc:  # a timeout or crash is a problem of the page, reported as such
        report.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        page.close()
    report.errors += [f"blocked request leaving localhost: {u}" for u in blocked[n_blocked:]]
    report.seconds = time.monotonic() - t0
    return report


def check_site(html_dir: Path, screenshot_dir: Path | None = None, pages: list[str] | None = None,
               expected_figures: Mapping[str, int] | None = None, wait_ms: int = 10_000,
               viewport: dict | None = None, figures: bool = True):
    """Check every page (or ``pages``); returns the list of :class:`PageReport`.

    ``expected_figures`` maps a page (``book/theory/decoupling.html``) to the number of plotly figures
    it must show at least; pages not in it are not checked for a count. ``viewport`` (default
    :data:`VIEWPORT`, 1280 × 900) sets the window; ``figures=False`` skips the figure and slider checks
    (a quicker pass, e.g. for the column-width check at a phone width).
    """
    html_dir = Path(html_dir)
    expected_figures = dict(expected_figures or {})
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
    width = (viewport or VIEWPORT)["width"]
    with serve(html_dir) as base_url, browser_context(viewport) as (context, blocked):
        reports += [check_page(context, blocked, base_url, p, screenshot_dir,
                               expected_figures=expected_figures.get(p), wait_ms=wait_ms, figures=figures,
                               viewport_width=width) for p in to_open]
    return sorted(reports, key=lambda r: r.page)
