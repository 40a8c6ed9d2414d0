"""tools/figure_pack.py: the zip of the site's figures (names, index, licence) and, marked ``site``,
the pack written after the book build."""

from __future__ import annotations

import csv
import io
import os
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import figure_pack  # noqa: E402
import notebooks  # noqa: E402

HTML = Path(os.environ.get("GKL_SITE_HTML", ROOT / "_build" / "html"))
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 16

PAGE = """<html><head><title>{title} — The GKL Book</title></head><body>
<nav><img src="{up}_static/logo.png" alt="logo"></nav>
<main><article class="bd-article">
<h1>{title}<a class="headerlink" href="#x">#</a></h1>
{body}
</article></main>
<footer><img src="{up}_images/footer.png" alt="not content"></footer>
</body></html>"""


def _page(html: Path, path: str, title: str, body: str) -> None:
    up = "../" * path.count("/")
    (html / path).parent.mkdir(parents=True, exist_ok=True)
    (html / path).write_text(PAGE.format(title=title, body=body, up=up), encoding="utf-8")


@pytest.fixture
def site(tmp_path):
    html = tmp_path / "html"
    (html / "_images").mkdir(parents=True)
    for name in ("a.png", "b.svg", "c.png", "footer.png"):
        (html / "_images" / name).write_bytes(PNG if name.endswith(".png") else b"<svg/>")
    (html / "index.html").write_text("<meta http-equiv='refresh' content='0; url=book/intro.html'>")
    _page(html, "book/theory/asymmetry.html", "The asymmetry",
          '<img src="../../_images/a.png" alt="Per-term gradients">'
          '<div class="plotly-graph-div" id="p1"></div>'
          '<figure><img src="../../_images/b.svg" alt=""><figcaption><p>Caption of B</p></figcaption></figure>'
          '<img src="https://example.org/remote.png">')
    _page(html, "book/intro.html", "The GKL Book", "<p>No figure here.</p>")
    _page(html, "book/training/adversarial.html", "Adversarial training", '<img src="../../_images/c.png">')
    return html


def test_names_say_page_and_order():
    assert figure_pack.page_slug("book/theory/asymmetry.html") == "theory-asymmetry"
    assert figure_pack.page_slug("book/training/distillation_ablations.html") == "training-distillation-ablations"
    assert figure_pack.figure_name("book/theory/asymmetry.html", 1, ".png") == "theory-asymmetry-01.png"


def test_pack_from_a_small_site(site, tmp_path):
    pages = ["book/intro.html", "book/theory/asymmetry.html", "book/training/adversarial.html"]
    out, figures = figure_pack.build_pack(site, plotly=False, pages=pages,
                                          repo_url="https://github.com/o/r", site_url="https://o.github.io/r/")
    assert out == site / figure_pack.PACK_PATH and out.is_file()
    # document order on each page, numbered across kinds; nav, footer and remote images are not figures
    assert [(f.page, f.number, f.kind) for f in figures] == [
        ("book/theory/asymmetry.html", 1, "image"), ("book/theory/asymmetry.html", 2, "plotly"),
        ("book/theory/asymmetry.html", 3, "image"), ("book/training/adversarial.html", 1, "image")]
    with zipfile.ZipFile(out) as z:
        names = sorted(z.namelist())
        assert names == sorted(f"gkl-figures/{n}" for n in [
            "theory-asymmetry-01.png", "theory-asymmetry-03.svg", "training-adversarial-01.png",
            "index.csv", "LICENSE.txt"])
        assert z.read("gkl-figures/theory-asymmetry-01.png") == PNG
        rows = list(csv.DictReader(io.StringIO(z.read("gkl-figures/index.csv").decode())))
        licence = z.read("gkl-figures/LICENSE.txt").decode()
    assert [r["file"] for r in rows] == ["theory-asymmetry-01.png", "", "theory-asymmetry-03.svg",
                                         "training-adversarial-01.png"]
    first, plotly, captioned, _ = rows
    assert first["page_title"] == "The asymmetry" and first["description"] == "Per-term gradients"
    assert first["page_url"] == "https://o.github.io/r/book/theory/asymmetry.html"
    assert captioned["description"] == "Caption of B"  # the caption wins over an empty alt
    assert plotly["kind"] == "plotly" and "not included" in plotly["note"]
    assert "CC BY 4.0" in licence and "The GKL Book" in licence
    assert "https://github.com/o/r" in licence and "https://o.github.io/r/" in licence


def test_licence_reads_the_repository_url_from_its_one_home():
    text = figure_pack.licence_text(notebooks.repo_url(ROOT), notebooks.site_url(ROOT))
    assert notebooks.repo_url(ROOT) in text and "creativecommons.org/licenses/by/4.0" in text


@pytest.mark.site
def test_built_pack_holds_every_page_with_figures():
    pack = HTML / figure_pack.PACK_PATH
    if not (HTML / "index.html").is_file():
        pytest.skip("site not built (make book)")
    assert pack.is_file(), f"{pack} missing: make figure-pack"
    with zipfile.ZipFile(pack) as z:
        names = set(z.namelist())
        rows = list(csv.DictReader(io.StringIO(z.read("gkl-figures/index.csv").decode())))
    assert {"gkl-figures/LICENSE.txt", "gkl-figures/index.csv"} <= names
    site_url = notebooks.site_url(ROOT)
    bad = []
    for page in figure_pack.site_pages(HTML):
        figures = figure_pack.page_figures(HTML, page, site_url)
        pngs = {n for n in names if n.startswith(f"gkl-figures/{figure_pack.page_slug(page)}-")
                and n.endswith(".png")}
        if any(f.kind == "image" for f in figures) and not pngs:
            bad.append(f"{page}: shows images, none in the pack")
        if figures and not pngs and not any(r["page_url"] == site_url + page and r["note"] for r in rows):
            bad.append(f"{page}: {len(figures)} figure(s), no PNG and no note in index.csv")
    assert not bad, "\n".join(bad)
    for r in rows:
        assert not r["file"] or f"gkl-figures/{r['file']}" in names, r


@pytest.mark.site
def test_teaching_page_links_the_pack():
    from urllib.parse import urljoin

    from bs4 import BeautifulSoup

    page = "book/teaching.html"
    if not (HTML / page).is_file():
        pytest.skip("site not built (make book)")
    soup = BeautifulSoup((HTML / page).read_text(encoding="utf-8"), "html.parser")
    hrefs = [a["href"] for a in soup.select("a[href]") if a["href"].endswith("gkl-figures.zip")]
    assert hrefs, f"{page} does not link the figure pack"
    for href in hrefs:
        assert urljoin(page, href) == figure_pack.PACK_PATH, href
