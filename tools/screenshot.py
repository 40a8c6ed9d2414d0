#!/usr/bin/env python3
"""Full-page screenshots of a built site, taken offline in headless Chromium.

Usage::

    .venv/bin/python tools/screenshot.py _build/html _build/screenshots
    .venv/bin/python tools/screenshot.py _build/html /tmp/shots --page book/theory/decoupling.html

Writes ``<out-dir>/<page path>.png`` for every page (or the ``--page`` ones) and prints, per page,
what the browser saw: plotly figures drawn, sliders moved (every slider is dragged, after the
screenshot), widgets drawn, and any problem (JavaScript errors, failed or blocked loads, raw TeX,
MathJax errors, empty figures, dead sliders, widget error views; see ``tools/sitecheck.py``).
Exit status 1 if any page has a problem.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sitecheck  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--page", action="append", help="page path relative to html_dir (repeatable)")
    args = parser.parse_args(argv)
    if not (args.html_dir / "index.html").is_file() and not args.page:
        parser.error(f"{args.html_dir} has no index.html: build the site first")
    if not Path(sitecheck.CHROMIUM).exists():
        parser.error(f"{sitecheck.CHROMIUM} not found (apt-get install chromium)")
    reports = sitecheck.check_site(args.html_dir, args.out_dir, args.page)
    bad = 0
    for r in reports:
        ok = sum(s.problem() is None for s in r.slider_checks)
        extra = f", sliders moved {ok}/{r.sliders}" if r.sliders else ""
        widgets = f", widgets {r.widgets_drawn}/{r.widget_views}" if r.widget_views else ""
        print(f"{r.page}: {r.figures} plotly figure(s){extra}{widgets}, {r.seconds:.1f} s -> {r.screenshot}")
        for p in r.problems:
            print(f"    PROBLEM: {p}")
        bad += bool(r.problems)
    print(f"screenshot: {len(reports)} page(s), {bad} with problems; PNGs in {args.out_dir}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
