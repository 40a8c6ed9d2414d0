"""The book's citations and its References page.

* Every ``{cite}`` key in a ``.md`` file under ``book/`` (pages and slide specs) is in
  ``book/references.bib``; every entry of the bib file is cited by some page of the site (the
  References page lists exactly the cited works: its bibliography has no ``:all:``).
* The foundational papers have their metadata.
* ``book/_ext/gkl_citedin.py`` adds a "Cited in" paragraph with links after each bibliography entry:
  checked on a three-page Sphinx project built in ``tmp_path`` (a few seconds) and, marked ``site``,
  on the built book, against the citations read from the chapters' sources.
"""

from __future__ import annotations

import os
import re
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from pybtex.database import parse_file

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
BIB = BOOK / "references.bib"
REFERENCES_PAGE = "book/references"
HTML = Path(os.environ.get("GKL_SITE_HTML", ROOT / "_build" / "html"))
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(BOOK / "_ext"))
import notebooks  # noqa: E402  (tools/notebooks.py)

#: ``{cite}`a,b```, ``{cite:p}`` ... ``{cite:t}`` ..., ``{cite:ps}`` ... (MyST roles of sphinxcontrib-bibtex).
CITE_RE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
SKIP_DIRS = {"_static", "_build", ".ipynb_checkpoints"}


def cited_keys(text: str) -> list[str]:
    """The citation keys of every ``{cite...}`` role in MyST ``text``, in order (with repeats)."""
    keys = []
    for m in CITE_RE.finditer(text):
        keys += [k.strip() for k in m.group(1).split(",") if k.strip()]
    return keys


def book_markdown() -> list[Path]:
    return sorted(p for p in BOOK.rglob("*.md") if not SKIP_DIRS & set(p.relative_to(BOOK).parts))


def citations_by_page() -> dict[str, list[str]]:
    """Docname -> the keys it cites, for the pages of the site (``_toc.yml``)."""
    out = {}
    for docname in notebooks.planned_pages(ROOT):
        path = ROOT / f"{docname}.md"
        out[docname] = cited_keys(path.read_text(encoding="utf-8")) if path.is_file() else []
    return out


def bib_entries():
    return parse_file(str(BIB), bib_format="bibtex").entries


def test_cite_pattern_reads_every_role_form():
    text = "a {cite:p}`x2020a, y2021b` b {cite:t}`z` c {cite}`w` d {cite:ps}`v` e {doc}`not_a_cite`"
    assert cited_keys(text) == ["x2020a", "y2021b", "z", "w", "v"]


def test_every_cited_key_is_in_the_bib_file():
    keys = set(bib_entries().keys())
    missing = {f"{path.relative_to(ROOT)}: {key}"
               for path in book_markdown() for key in cited_keys(path.read_text(encoding="utf-8"))
               if key not in keys}
    assert not missing, "cited but not in book/references.bib:\n" + "\n".join(sorted(missing))


def test_every_bib_entry_is_cited_by_a_page_of_the_site():
    cited = {key for keys in citations_by_page().values() for key in keys}
    uncited = sorted(set(bib_entries().keys()) - cited)
    assert not uncited, ("in book/references.bib but cited by no page of _toc.yml (cite it where it "
                         f"is used, or remove it): {uncited}")


def test_references_page_lists_the_cited_works_only():
    text = (BOOK / "references.md").read_text(encoding="utf-8")
    assert "```{bibliography}" in text
    assert ":all:" not in text, "with :all: an entry nothing cites would be listed without a 'Cited in'"


def test_entries_have_their_metadata():
    for key, entry in bib_entries().items():
        fields = {k.lower() for k in entry.fields}
        assert {"title", "year"} <= fields and entry.persons.get("author"), key
        assert fields & {"journal", "booktitle", "howpublished", "note"}, f"{key}: no venue"


@pytest.mark.parametrize(("key", "year", "venue", "title"), [
    ("szegedy2014intriguing", "2014", "ICLR", "Intriguing Properties of Neural Networks"),
    ("goodfellow2015explaining", "2015", "ICLR", "Explaining and Harnessing Adversarial Examples"),
    ("bucilua2006model", "2006", "KDD", "Model Compression"),
    ("ba2014deep", "2014", "NeurIPS", "Do Deep Nets Really Need to be Deep?"),
])
def test_foundational_papers(key, year, venue, title):
    entry = bib_entries()[key]
    assert entry.fields["year"] == year and entry.fields["title"] == title
    assert venue in entry.fields["booktitle"]


# --------------------------------------------------------------------------- the extension


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def test_cited_in_links_on_a_small_project(tmp_path):
    """Two chapters cite; the bibliography on a third page lists each entry's citing pages."""
    from sphinx.application import Sphinx

    src = tmp_path / "src"
    _write(src / "conf.py", f"""
        import sys
        sys.path.insert(0, {str(BOOK / '_ext')!r})
        extensions = ["sphinxcontrib.bibtex", "gkl_citedin"]
        bibtex_bibfiles = ["refs.bib"]
        bibtex_cite_id = "cite-{{key}}"
        """)
    _write(src / "refs.bib", """
        @misc{a2020, title = {Paper A}, author = {Aa, Bb}, year = {2020}, note = {n}}
        @misc{b2021, title = {Paper B}, author = {Cc, Dd}, year = {2021}, note = {n}}
        @misc{c2022, title = {Paper C}, author = {Ee, Ff}, year = {2022}, note = {n}}
        """)
    _write(src / "index.rst", """
        Home
        ====

        .. toctree::

           one
           two
           refs
        """)
    _write(src / "one.rst", "Chapter one\n===========\n\nText :cite:p:`a2020`, again :cite:p:`a2020`.\n")
    _write(src / "two.rst", "Chapter two\n===========\n\nText :cite:p:`b2021,a2020`.\n")
    _write(src / "refs.rst", "References\n==========\n\nOnly here :cite:p:`c2022`.\n\n.. bibliography::\n")
    out = tmp_path / "html"
    app = Sphinx(str(src), str(src), str(out), str(tmp_path / "doctrees"), "html",
                 status=None, warning=None, freshenv=True)
    app.build()
    soup = BeautifulSoup((out / "refs.html").read_text(encoding="utf-8"), "html.parser")
    cited_in = {c["id"]: c.select_one("p.gkl-cited-in") for c in soup.select(".citation")}
    assert set(cited_in) == {"cite-a2020", "cite-b2021", "cite-c2022"}
    links = {k: [(a.get_text(), a["href"]) for a in p.select("a")] for k, p in cited_in.items()}
    # reading order, each page once, linked to its first citation of the work
    assert [t for t, _ in links["cite-a2020"]] == ["Chapter one", "Chapter two"]
    assert all(h.split("#")[0] in {"one.html", "two.html"} and "#" in h for _, h in links["cite-a2020"])
    one = BeautifulSoup((out / "one.html").read_text(encoding="utf-8"), "html.parser")
    first_id = links["cite-a2020"][0][1].split("#")[1]
    assert one.find(id=first_id) is not None
    assert [t for t, _ in links["cite-b2021"]] == ["Chapter two"]
    # cited on the bibliography's own page only: no links, said in words
    assert links["cite-c2022"] == [] and "only the overview" in cited_in["cite-c2022"].get_text()
    assert (out / "_static" / "gkl_citedin.css").is_file()


# --------------------------------------------------------------------------- the built site


@pytest.mark.site
def test_built_references_page_has_back_links():
    page = HTML / f"{REFERENCES_PAGE}.html"
    if not page.is_file():
        pytest.skip(f"{page} not built (make book)")
    import gkl_citedin

    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    entries = {c["id"].removeprefix("cite-"): c for c in soup.select("div.citation")}
    keys = set(bib_entries().keys())
    assert {k.lower() for k in keys} == set(entries), "the page lists exactly the bib file's entries"

    expected: dict[str, list[str]] = defaultdict(list)  # key -> citing pages (not this one), in order
    for docname, page_keys in citations_by_page().items():
        for key in dict.fromkeys(page_keys):
            if docname != REFERENCES_PAGE:
                expected[key.lower()].append(docname)
    bad = []
    for key, div in entries.items():
        para = div.select_one(f"p.{gkl_citedin.CITED_IN_CLASS}")
        if para is None:
            bad.append(f"{key}: no 'Cited in' paragraph")
            continue
        hrefs = [a["href"] for a in para.select("a")]
        pages = [os.path.normpath(str(Path(REFERENCES_PAGE).parent / h.split("#")[0])).removesuffix(".html")
                 for h in hrefs]
        if pages != expected[key]:
            bad.append(f"{key}: links to {pages}, cited in {expected[key]}")
        for href, docname in zip(hrefs, pages):
            anchor = href.split("#")[1] if "#" in href else ""
            target = BeautifulSoup((HTML / f"{docname}.html").read_text(encoding="utf-8"), "html.parser")
            if not anchor or target.find(id=anchor) is None:
                bad.append(f"{key}: {href} has no anchor on {docname}.html")
        if not hrefs and gkl_citedin.NOT_CITED_ELSEWHERE not in para.get_text():
            bad.append(f"{key}: no links and no explanation")
    assert not bad, "\n".join(bad)
