#!/usr/bin/env python3
"""The figure pack: every figure of the built site in one zip, named by page and order, with credits.

Usage (after the book is built; ``make figure-pack``, which ``make book`` runs)::

    .venv/bin/python tools/figure_pack.py                      # _build/html -> _build/html/_downloads/gkl-figures.zip
    .venv/bin/python tools/figure_pack.py --html _build/html --no-plotly

What goes in, for each page of ``_toc.yml`` in reading order, figures in the order they appear:

* **images** the page shows with ``<img>`` from the site's ``_images/`` folder (matplotlib outputs
  and any other PNG/JPEG/SVG figure), copied unchanged;
* **plotly figures** (``div.plotly-graph-div``; most figures of the book), exported as PNG by
  plotly.js itself (``Plotly.toImage``) in headless Chromium, with the site served from localhost
  and the network blocked (``tools/sitecheck.py``'s server and browser).  A figure with a slider is
  exported in its first state.  ``--no-plotly`` (or no Chromium) leaves them out and the index says so.

Each file is named ``<page>-<NN>.<ext>``: the page's path without ``book/`` and with ``-`` for ``/``,
and its figure number on that page, e.g. ``theory-asymmetry-01.png`` (numbers count every figure of
the page, so a plotly figure left out leaves a gap).  The zip also holds

* ``index.csv``: file, page title, page URL (on the published site), kind, alt text or caption, note;
* ``LICENSE.txt``: the figures are CC BY 4.0 (``LICENSE-CONTENT``), with the attribution line to
  use.  The repository and site URLs come from ``_config.yml`` (``repository.url``, ``html.baseurl``:
  their one home, read through ``tools/notebooks.py``).

The teaching page links the zip as ``../_downloads/gkl-figures.zip`` (it is ``book/teaching.html``).
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import shutil
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin

from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import notebooks  # noqa: E402  (repo_url, site_url, planned_pages: the one home of each)

#: Where the pack goes, relative to the built site (Sphinx's own folder for downloads).
PACK_PATH = "_downloads/gkl-figures.zip"
#: Image types copied into the pack.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}
#: Scale of the plotly PNG export (2: sharp on a projector and in print).
PLOTLY_SCALE = 2
BOOK_TITLE = "The GKL Book"
AUTHORS = "The GKL Book contributors"
INDEX_FIELDS = ["file", "page_title", "page_url", "kind", "description", "note"]
PLOTLY_NOT_INCLUDED = ("interactive plotly figure, not included: exported only when headless Chromium "
                       "is available (see tools/figure_pack.py); open the page to see it")


@dataclass
class Figure:
    """One figure of one page."""

    page: str            #: page path in the site, e.g. ``book/theory/asymmetry.html``
    number: int          #: 1-based, in document order among the page's figures
    kind: str            #: ``image`` or ``plotly``
    source: str = ""     #: image: path relative to the site root; plotly: the div's id
    description: str = ""  #: alt text or caption; plotly: its title
    page_title: str = ""
    page_url: str = ""
    file: str = ""       #: name in the pack ('' when not included)
    note: str = ""
    data: bytes | None = field(default=None, repr=False)  #: exported plotly PNG

    @property
    def suffix(self) -> str:
        return Path(self.source).suffix.lower() if self.kind == "image" else ".png"


def page_slug(page: str) -> str:
    """``book/theory/asymmetry.html`` -> ``theory-asymmetry``."""
    stem = page.removesuffix(".html").removeprefix("book/")
    return re.sub(r"[^A-Za-z0-9]+", "-", stem).strip("-").lower()


def figure_name(page: str, number: int, suffix: str) -> str:
    return f"{page_slug(page)}-{number:02d}{suffix}"


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\N{PILCROW SIGN}", "").replace("#", "")).strip()


def page_title(soup: BeautifulSoup) -> str:
    h1 = soup.find("h1")
    if h1 is not None:
        return _clean(h1.get_text(" "))
    title = soup.find("title")
    return _clean(title.get_text()).split(" — ")[0] if title else ""


def _content(soup: BeautifulSoup):
    """The page's own content (not the navigation, logo or footer)."""
    return soup.select_one("article.bd-article") or soup.select_one("main") or soup.body or soup


def _caption(img) -> str:
    fig = img.find_parent("figure")
    cap = fig.find("figcaption") if fig is not None else None
    return _clean(cap.get_text(" ")) if cap is not None else ""


def page_figures(html_dir: Path, page: str, site_url: str) -> list[Figure]:
    """The figures of one built page, in document order (images from ``_images/`` and plotly divs)."""
    soup = BeautifulSoup((html_dir / page).read_text(encoding="utf-8"), "html.parser")
    title = page_title(soup)
    url = site_url + page
    figures: list[Figure] = []
    for el in _content(soup).find_all(["img", "div"]):
        if el.name == "img":
            src = unquote(el.get("src", "").split("?")[0].split("#")[0])
            if not src or "://" in src or src.startswith("data:"):
                continue
            rel = Path(urljoin(page, src)).as_posix()
            if not rel.startswith("_images/") or Path(rel).suffix.lower() not in IMAGE_SUFFIXES:
                continue
            desc = _caption(el) or _clean(el.get("alt", ""))
            figures.append(Figure(page, len(figures) + 1, "image", rel, desc, title, url))
        elif "plotly-graph-div" in (el.get("class") or []):
            figures.append(Figure(page, len(figures) + 1, "plotly", el.get("id", ""), "", title, url))
    return figures


def site_pages(html_dir: Path) -> list[str]:
    """The built pages of ``_toc.yml``, in reading order."""
    pages = [f"{doc}.html" for doc in notebooks.planned_pages(ROOT)]
    return [p for p in pages if (html_dir / p).is_file()]


# --- plotly export in the browser -------------------------------------------------------------------

_JS_EXPORT = """async ([id, scale]) => {
  const t0 = Date.now();
  let gd = document.getElementById(id);
  while (!(window.Plotly && gd && gd._fullLayout) && Date.now() - t0 < 20000) {
    await new Promise(r => setTimeout(r, 100));
    gd = document.getElementById(id);
  }
  if (!(window.Plotly && gd && gd._fullLayout)) return null;
  const t = gd.layout && gd.layout.title;
  const title = (typeof t === 'string' ? t : (t && t.text)) || '';
  const url = await Plotly.toImage(gd, {format: 'png', scale: scale,
                                        width: gd._fullLayout.width, height: gd._fullLayout.height});
  return {url: url, title: title};
}"""


def export_plotly(html_dir: Path, figures: list[Figure], scale: int = PLOTLY_SCALE) -> None:
    """Fill ``data`` of each plotly figure with a PNG made by plotly.js in headless Chromium."""
    import base64

    import sitecheck

    by_page: dict[str, list[Figure]] = {}
    for f in figures:
        if f.kind == "plotly":
            by_page.setdefault(f.page, []).append(f)
    if not by_page:
        return
    with sitecheck.serve(html_dir) as base_url, sitecheck.browser_context() as (context, _blocked):
        for page_path, figs in by_page.items():
            page = context.new_page()
            page.goto(base_url + page_path, wait_until="load", timeout=60_000)
            for f in figs:
                got = page.evaluate(_JS_EXPORT, [f.source, scale]) if f.source else None
                url = (got or {}).get("url") or ""
                if url.startswith("data:image/png;base64,"):
                    f.data = base64.b64decode(url.split(",", 1)[1])
                    f.description = f.description or _clean(re.sub(r"<[^>]+>", " ", got.get("title") or ""))
                else:
                    f.note = "plotly export failed: open the page to see it"
            page.close()


# --- the pack -------------------------------------------------------------------------------------

def licence_text(repo_url: str, site_url: str) -> str:
    return f"""Figures of {BOOK_TITLE}
{'=' * (11 + len(BOOK_TITLE))}

These figures were made by the code of {BOOK_TITLE} when its site was built; index.csv says which
page each one comes from.

Licence: Creative Commons Attribution 4.0 International (CC BY 4.0),
https://creativecommons.org/licenses/by/4.0/ (the book's LICENSE-CONTENT). You may copy, adapt and
reuse them, in slides, handouts or a course, if you give credit, link the licence and say whether you
changed them.

Attribution line to use:

    Figure from "{BOOK_TITLE}" by {AUTHORS}, {site_url} ({repo_url}), CC BY 4.0.

Numbers labelled "reported" in a figure are the papers' authors' results, quoted, not licensed.
Interactive plotly figures are exported as PNG images in their first state (a slider at its first
position); on the site they can be explored.
"""


def assign_files(figures: list[Figure]) -> None:
    for f in figures:
        if f.kind == "image" or f.data is not None:
            f.file = figure_name(f.page, f.number, f.suffix)
        elif not f.note:
            f.note = PLOTLY_NOT_INCLUDED


def index_csv(figures: list[Figure]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=INDEX_FIELDS, lineterminator="\n")
    writer.writeheader()
    for f in figures:
        writer.writerow({"file": f.file, "page_title": f.page_title, "page_url": f.page_url,
                         "kind": f.kind, "description": f.description, "note": f.note})
    return buf.getvalue()


def _add(z: zipfile.ZipFile, name: str, data: bytes) -> None:
    """One file under ``gkl-figures/``, readable by everyone once unzipped (mode 644)."""
    info = zipfile.ZipInfo(f"gkl-figures/{name}", date_time=(2026, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    z.writestr(info, data)


def build_pack(html_dir: Path, out: Path | None = None, plotly: bool = True,
               repo_url: str | None = None, site_url: str | None = None,
               pages: list[str] | None = None) -> tuple[Path, list[Figure]]:
    """Collect, name, index and zip the site's figures; returns the zip's path and the figures."""
    html_dir = Path(html_dir)
    repo_url = repo_url or notebooks.repo_url(ROOT)
    site_url = site_url or notebooks.site_url(ROOT)
    out = Path(out) if out else html_dir / PACK_PATH
    pages = site_pages(html_dir) if pages is None else pages
    figures = [f for page in pages for f in page_figures(html_dir, page, site_url)]
    if plotly and any(f.kind == "plotly" for f in figures):
        import sitecheck

        if Path(sitecheck.CHROMIUM).exists():
            export_plotly(html_dir, figures)
    assign_files(figures)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for f in figures:
            if not f.file:
                continue
            data = (html_dir / f.source).read_bytes() if f.kind == "image" else f.data
            _add(z, f.file, data)
        _add(z, "index.csv", index_csv(figures).encode())
        _add(z, "LICENSE.txt", licence_text(repo_url, site_url).encode())
    shutil.move(tmp, out)
    return out, figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html", help="the built site")
    parser.add_argument("--out", type=Path, help=f"the zip (default: <html>/{PACK_PATH})")
    parser.add_argument("--no-plotly", action="store_true", help="leave the plotly figures out")
    args = parser.parse_args(argv)
    if not (args.html / "index.html").is_file():
        parser.error(f"{args.html} has no index.html: build the book first (make book)")
    out, figures = build_pack(args.html, args.out, plotly=not args.no_plotly)
    packed = [f for f in figures if f.file]
    left = [f for f in figures if not f.file]
    pages = len({f.page for f in packed})
    print(f"figure pack: {len(packed)} figure(s) from {pages} page(s) -> {out} "
          f"({out.stat().st_size / 1e6:.1f} MB)" + (f"; {len(left)} left out (see index.csv)" if left else ""))
    for f in left:
        print(f"    not included: {f.page} #{f.number} ({f.kind}): {f.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
