"""Sphinx local extension of The GKL Book: "Cited in" back-links on the References page.

The book cites with sphinxcontrib-bibtex (``{cite:p}`key``` in any page) and has one bibliography,
on ``book/references.md``.  sphinxcontrib-bibtex leaves back-references to docutils, which only
draws them for citations *in the same document* as the bibliography (sphinxcontrib-bibtex issues
#194 and #389: "backrefs across documents" is an open feature request; no option turns it on).  So a
reader of the References page could not see where a work is used.

This extension adds, after every entry of a bibliography, one paragraph::

    Cited in: The KL divergence where it is used, Adversarial training with GKL

Each page title links to the page's *first* citation of that work (the anchor sphinxcontrib-bibtex
gives every citation reference).  Pages are listed in reading order (the order of the table of
contents); the bibliography's own page is left out, because docutils already links citations on
that page with its native back-references.  An entry cited nowhere else says so.

How: sphinxcontrib-bibtex records every citation reference (docname, anchor id, cited keys) in its
domain while the pages are read, and turns each bibliography into ``citation`` nodes in a
post-transform of priority 5.  :class:`CitedInTransform` runs right after it (priority 6, before
Sphinx resolves references at 10): all pages have been read by then, so the list is complete.

Incremental builds: sphinxcontrib-bibtex does not mark the bibliography's page outdated when another
page changes its citations; :func:`bibliography_pages_outdated` re-reads the bibliography's page
whenever any page was added, changed or removed (``make book`` always builds from scratch anyway).

The paragraph has the class ``gkl-cited-in``, styled by ``gkl_citedin_static/gkl_citedin.css`` (this
extension adds that folder to ``html_static_path``); ``tests/test_references.py`` checks the built page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.environment import BuildEnvironment
from sphinx.transforms.post_transforms import SphinxPostTransform

#: Folder of this extension's stylesheet (added to ``html_static_path``).
STATIC_DIR = Path(__file__).with_name("gkl_citedin_static")
#: CSS class of the paragraph added after each bibliography entry.
CITED_IN_CLASS = "gkl-cited-in"
#: Its lead-in text.
CITED_IN_LABEL = "Cited in: "
#: Text for an entry that no other page cites (it is then cited on the bibliography's page only).
NOT_CITED_ELSEWHERE = "Cited in: only the overview at the top of this page."


def reading_order(env: BuildEnvironment) -> list[str]:
    """Docnames in the order of the table of contents (previous/next links), then the rest sorted."""
    relations = env.collect_relations()
    order: list[str] = []
    docname: str | None = env.config.root_doc
    while docname is not None and docname not in order:
        order.append(docname)
        docname = relations.get(docname, (None, None, None))[2]
    return order + sorted(set(env.found_docs) - set(order))


def citing_pages(env: BuildEnvironment, key: str, exclude: str) -> list[tuple[str, str]]:
    """``(docname, anchor id of its first citation of key)`` for each page citing ``key``, in
    reading order, without the page ``exclude`` (the bibliography's own)."""
    domain = env.get_domain("cite")
    first: dict[str, str] = {}
    for ref in domain.citation_refs:  # in reading order within each page
        if ref.docname == exclude or ref.docname in first:
            continue
        if key in {target.key for target in ref.targets}:
            first[ref.docname] = ref.citation_ref_id
    rank = {doc: i for i, doc in enumerate(reading_order(env))}
    return sorted(first.items(), key=lambda item: rank.get(item[0], len(rank)))


def page_title(env: BuildEnvironment, docname: str) -> str:
    title = env.titles.get(docname)
    return title.astext() if title is not None else docname


class CitedInTransform(SphinxPostTransform):
    """Append a "Cited in" paragraph to every citation node made from a bibliography."""

    default_priority = 6  # after sphinxcontrib-bibtex's BibliographyTransform (5)
    formats = ("html",)

    def run(self, **kwargs: Any) -> None:
        env = self.env
        domain = env.get_domain("cite")
        # citation node id -> bib key, for the citations that bibliographies produced
        key_of = {citation.citation_id: citation.key for citation in domain.citations}
        for node in list(self.document.findall(nodes.citation)):
            key = next((key_of[i] for i in node["ids"] if i in key_of), None)
            bib_docname = node.get("docname")
            if key is None or bib_docname is None:
                continue  # a plain docutils citation, not from a bibliography
            pages = citing_pages(env, key, exclude=bib_docname)
            para = nodes.paragraph(classes=[CITED_IN_CLASS])
            if not pages:
                para += nodes.Text(NOT_CITED_ELSEWHERE)
            else:
                para += nodes.Text(CITED_IN_LABEL)
                for i, (docname, anchor) in enumerate(pages):
                    if i:
                        para += nodes.Text(", ")
                    uri = self.app.builder.get_relative_uri(bib_docname, docname) + "#" + anchor
                    para += nodes.reference("", page_title(env, docname), internal=True, refuri=uri)
            node += para


def bibliography_pages_outdated(app: Sphinx, env: BuildEnvironment, added: set[str],
                                changed: set[str], removed: set[str]) -> Iterable[str]:
    """Re-read the pages holding a bibliography when any page changed (their "Cited in" lists)."""
    if not (added or changed or removed):
        return []
    domain = env.get_domain("cite")
    return sorted({key.docname for key in domain.bibliographies} - added - changed - removed)


def add_static_path(app: Sphinx, config: Config) -> None:
    config.html_static_path = [*config.html_static_path, str(STATIC_DIR)]


def setup(app: Sphinx) -> dict[str, Any]:
    app.setup_extension("sphinxcontrib.bibtex")
    app.connect("config-inited", add_static_path)
    app.add_css_file("gkl_citedin.css")
    app.add_post_transform(CitedInTransform)
    app.connect("env-get-outdated", bibliography_pages_outdated)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
