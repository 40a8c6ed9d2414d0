"""Sphinx local extension of The GKL Book: build environment and offline plotly figures.

At configuration time (before any chapter is executed) it sets environment variables that the
Jupyter kernels started by myst-nb inherit:

``PLOTLY_RENDERER=notebook_connected``
    plotly >= 6 would otherwise pick the ``plotly_mimetype`` renderer under nbclient, which myst-nb
    cannot show.  ``notebook_connected`` writes small ``text/html`` outputs that load plotly.js from
    a CDN; this extension removes those CDN ``<script>`` tags from the pages and loads the vendored
    ``_static/vendor/plotly/plotly.min.js`` once per page instead (before require.js, so plotly's
    UMD wrapper sets ``window.Plotly`` rather than registering an anonymous AMD module).
``GKL_RUNS_DIR=<repo>/_build/runs``
    where chapters cache their training runs (``gkl.training.default_runs_dir()``); kept if already set.
``TQDM_DISABLE=1``
    progress bars would write to stderr, which the build treats as an error.
``PYDEVD_DISABLE_FILE_VALIDATION=1``
    silences a start-up notice of the kernel's debugger.

Colab and local Jupyter are untouched: they keep plotly's own renderer detection.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.errors import ConfigError

#: plotly.js vendored by tools/vendor_assets.py (relative to ``_static``).
PLOTLY_JS = "vendor/plotly/plotly.min.js"
#: Loaded before require.js (myst-nb adds it with the default priority 500).
PLOTLY_JS_PRIORITY = 200

#: Load priority of the widget manager's scripts (myst-nb adds nb_ipywidgets_js with the default).
WIDGETS_PRIORITY = 500

_CDN_SCRIPT_PATTERNS = [
    # plotly.js from the CDN, once per figure (include_plotlyjs="cdn").
    re.compile(r'<script\b[^>]*\bsrc="https://cdn\.plot\.ly/[^"]*"[^>]*>\s*</script>'),
    # the renderer's global initialisation: <script type="module">import "https://cdn.plot.ly/..."</script>
    re.compile(r'<script type="module">\s*import\s+[\\]?"https://cdn\.plot\.ly/[^"]*[\\]?"\s*</script>'),
    # MathJax from a CDN, once per figure (include_mathjax="cdn"); the site loads its own MathJax.
    re.compile(r'<script\b[^>]*\bsrc="https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/[^"]*"[^>]*>\s*</script>'),
    re.compile(r'<script\b[^>]*\bsrc="https://cdn\.jsdelivr\.net/npm/mathjax@[^"]*"[^>]*>\s*</script>'),
]


def strip_plotly_cdn(html: str) -> str:
    """Remove the CDN ``<script>`` tags that plotly's ``notebook_connected`` renderer writes."""
    for pattern in _CDN_SCRIPT_PATTERNS:
        html = pattern.sub("", html)
    return html


def set_build_environment(app: Sphinx) -> None:
    """Environment variables inherited by the kernels that execute the chapters."""
    root = Path(app.confdir).resolve()
    os.environ["PLOTLY_RENDERER"] = "notebook_connected"
    os.environ.setdefault("GKL_RUNS_DIR", str(root / "_build" / "runs"))
    os.environ["TQDM_DISABLE"] = "1"
    os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"


def check_vendored_assets(app: Sphinx) -> None:
    """Fail early (with the fix) when book/_static/vendor/ has not been populated."""
    if app.builder.format != "html":
        return
    config = app.config
    static_dirs = [Path(app.confdir, p) for p in config.html_static_path]
    wanted = [PLOTLY_JS, config.mathjax_path, *config.nb_ipywidgets_js]
    for rel in wanted:
        if "://" in rel:
            raise ConfigError(f"gkl_book: {rel!r} is loaded from the network; the site must be offline")
        if not any((d / rel).is_file() for d in static_dirs):
            raise ConfigError(
                f"gkl_book: _static/{rel} is missing: run `python tools/vendor_assets.py` (or `make book`)"
            )


def offline_plotly(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Serve plotly.js from the site on pages that hold plotly figures; drop CDN script tags."""
    body = context.get("body")
    if not body or "plotly-graph-div" not in body and "cdn.plot.ly" not in body:
        return
    context["body"] = strip_plotly_cdn(body)
    app.add_js_file(PLOTLY_JS, priority=PLOTLY_JS_PRIORITY)
    # plotly typesets "$...$" labels with the page's MathJax; Sphinx loads MathJax only on pages
    # with equations, so load it on figure pages too.
    if not app.env.get_domain("math").has_equations(pagename):
        app.add_js_file(app.config.mathjax_path, defer="defer", priority=500)


def offline_widgets(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Point the widget manager's fonts at the vendored copy; bridge it to MathJax 3.

    ``@jupyter-widgets/html-manager`` resolves its fonts against the require.js URL of its AMD
    module (by default relative to the page, where nothing is), and typesets widget labels with
    the MathJax 2 API (``MathJax.Hub.Queue``), which MathJax 3 lacks: ``widgets-mathjax3.js``
    adds that one call.
    """
    from myst_nb.sphinx_ import NbMetadataCollector

    if "ipywidgets_state" not in NbMetadataCollector.get_js_files(app.env, pagename):
        return
    assets = context["pathto"]("_static/vendor/html-manager", 1)
    # A global `require` object defined before require.js loads is its configuration: map the
    # manager's AMD module ids to the vendored files (webpack derives the asset path from them).
    app.add_js_file(
        None,
        body=(f"var require = {{paths: {{'@jupyter-widgets/html-manager/dist': "
              f"new URL({assets!r}, document.baseURI).href}}}};\n"
              f"window.__jupyter_widgets_assets_path__ = new URL({assets + '/'!r}, document.baseURI).href;"),
        priority=WIDGETS_PRIORITY - 1,
    )
    app.add_js_file("widgets-mathjax3.js", defer="defer", priority=WIDGETS_PRIORITY + 100)


def dedupe_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Drop repeated identical ``<script>`` entries (sphinx-thebe's inline config is added twice
    under Jupyter Book 1.0.4, and declaring its ``const`` twice is a JavaScript error)."""
    seen, unique = set(), []
    for js in context.get("script_files") or []:
        # the rendered tag depends on the file and the attributes, not on the priority
        attributes = getattr(js, "attributes", None) or {}
        key = (str(getattr(js, "filename", js) or ""), tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    if "script_files" in context:
        context["script_files"][:] = unique


@functools.lru_cache(maxsize=None)
def _chapters(root: Path) -> frozenset[str]:
    """Docnames of the executable chapters (the pages that have a slide deck: tools/slides.py)."""
    import sys

    sys.path.insert(0, str(root / "tools"))
    import notebooks

    return frozenset(md.relative_to(root).with_suffix("").as_posix() for md in notebooks.planned_chapters(root))


def slides_link(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """A link to the chapter's slide deck at the top of every chapter page."""
    if pagename not in _chapters(Path(app.confdir).resolve()) or not context.get("body"):
        return
    href = "../" * pagename.count("/") + f"slides/{pagename}.slides.html"
    link = (f'<p class="gkl-slides-link"><a href="{href}">Slides of this chapter</a> '
            "(reveal.js: arrow keys to move, <kbd>S</kbd> for the speaker notes)</p>")
    body = context["body"]
    cut = body.find("</h1>")  # under the chapter's title
    context["body"] = body[: cut + 5] + link + body[cut + 5:] if cut >= 0 else link + body


def setup(app: Sphinx) -> dict[str, Any]:
    set_build_environment(app)
    app.connect("builder-inited", check_vendored_assets)
    app.connect("html-page-context", offline_plotly)
    app.connect("html-page-context", slides_link)
    # Early: html-page-context is emitted with emit_firstresult, so a later handler may not run.
    app.connect("html-page-context", offline_widgets, priority=400)
    app.connect("html-page-context", dedupe_scripts, priority=400)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
