#!/usr/bin/env python3
"""Keep each chapter's Colab notebook (``.ipynb``, no outputs) in sync with its MyST source (``.md``).

The ``.md`` file is the source of a chapter (the site is built from it; the ``.ipynb`` files are
excluded from the Sphinx build).  Colab cannot open a ``.md`` file, so every chapter listed in
``_toc.yml`` has a paired ``.ipynb`` beside it, generated here with jupytext.

Colab and Jupyter render plain Markdown + HTML only, so the Markdown cells of the ``.ipynb`` are not
a copy of the ``.md``: their MyST markup (admonitions, dropdown solutions, ``{doc}``, ``{cite}``,
``{glue:text}`` ...) is rewritten by ``tools/myst_markdown.py``, with links to the built site, whose
address lives in ONE place, ``_config.yml`` (``html.baseurl``).  Code cells are copied unchanged.  The
``.ipynb`` is generated one way: edit the ``.md`` and run ``sync``.

The repository URL lives in ONE place, ``_config.yml`` (``repository.url``).  The first code cell of
every chapter is the Colab set-up cell, which installs ``gkl`` from that repository
(``%pip install ... "gkl[...] @ git+<url>"``); ``sync`` rewrites the URL in the ``.md`` when it differs.

Usage::

    python tools/notebooks.py sync [CHAPTER.md ...]   # write the .ipynb pairs (and fix the Colab URL)
    python tools/notebooks.py check [CHAPTER.md ...]  # exit 1 if a pair is missing/out of sync/URL differs

Without arguments every chapter of ``_toc.yml`` is processed (the pages of Parts I-III; the
introduction and the API reference are not notebooks).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import myst_markdown  # noqa: E402  (tools/myst_markdown.py)

ROOT = Path(__file__).resolve().parents[1]

#: Pages of _toc.yml that are plain pages, not executable chapters.
#: Parts whose pages are not chapters (no objectives, exercises, Colab notebook or slide deck): the
#: front matter, the process pages (they read the recorded experiments back), the reference.
NON_CHAPTER_PARTS = {"Start here", "Appendix — How the experiments were run", "Reference"}

#: The URL inside the Colab set-up cell: ``git+https://...`` up to a quote or whitespace.
COLAB_URL_RE = re.compile(r"(git\+)(https?://[^\s\"'@]+)")
COLAB_MARKER = "google.colab"

#: Notebook metadata added for chapters that train models (Colab then offers a GPU runtime).
GPU_CHAPTER_DIRS = ("book/training/",)


def repo_url(root: Path = ROOT) -> str:
    """``repository.url`` from ``_config.yml`` (without a trailing slash or ``.git``)."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    url = (config.get("repository") or {}).get("url")
    if not url:
        raise ValueError(f"{root / '_config.yml'} has no repository.url")
    return url.rstrip("/").removesuffix(".git")


def site_url(root: Path = ROOT) -> str:
    """``html.baseurl`` from ``_config.yml`` (the built site), ending in ``/``."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    url = (config.get("html") or {}).get("baseurl")
    if not url:
        raise ValueError(f"{root / '_config.yml'} has no html.baseurl")
    return url.rstrip("/") + "/"


def page_title(md_path: Path) -> str | None:
    """The first ``# `` heading of a page."""
    if not md_path.is_file():
        return None
    m = re.search(r"^# (.+?)\s*$", md_path.read_text(encoding="utf-8"), re.MULTILINE)
    return m.group(1) if m else None


def markup_context(md_path: Path, root: Path = ROOT) -> myst_markdown.Context:
    """What the MyST conversion of one chapter needs: its docname, the site, page titles, citations."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    citations = {}
    for bib in config.get("bibtex_bibfiles") or []:
        if (root / bib).is_file():
            citations.update(myst_markdown.read_bibtex(root / bib))
    return myst_markdown.Context(
        docname=md_path.resolve().relative_to(root.resolve()).with_suffix("").as_posix(),
        site_url=site_url(root),
        titles={page: title for page in planned_pages(root)
                if (title := page_title(root / f"{page}.md")) is not None},
        citations=citations,
    )


def _toc_entries(node: dict | list, caption: str | None = None):
    if isinstance(node, list):
        for item in node:
            yield from _toc_entries(item, caption)
        return
    if "file" in node:
        yield node["file"], caption
    for key in ("parts", "chapters", "sections"):
        if key in node:
            for item in node[key]:
                yield from _toc_entries(item, item.get("caption", caption) if key == "parts" else caption)


def planned_pages(root: Path = ROOT) -> list[str]:
    """Every page of ``_toc.yml`` (docnames without extension), the root first."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    return [toc["root"]] + [f for f, _ in _toc_entries(toc)]


def planned_chapters(root: Path = ROOT) -> list[Path]:
    """The executable chapters (``.md`` paths): pages of the parts other than Reference."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    return [root / f"{f}.md" for f, caption in _toc_entries(toc) if caption not in NON_CHAPTER_PARTS]


def colab_cell_index(nb) -> int | None:
    """Index of the first code cell, if it is the Colab set-up cell."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            return i if COLAB_MARKER in cell.source else None
    return None


def colab_urls(source: str) -> list[str]:
    return [m.group(2) for m in COLAB_URL_RE.finditer(source)]


def _cell_id(index: int, cell) -> str:
    digest = hashlib.sha1(f"{index}\0{cell.cell_type}\0{cell.source}".encode()).hexdigest()
    return f"c{index:03d}-{digest[:8]}"


def notebook_text(md_path: Path, root: Path = ROOT) -> str:
    """The ``.ipynb`` text generated from a chapter's ``.md`` (deterministic, no outputs)."""
    import jupytext

    nb = jupytext.read(md_path, fmt="md:myst")
    ctx = markup_context(md_path, root)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source = myst_markdown.convert(cell.source, ctx)
        cell["id"] = _cell_id(i, cell)
        if cell.cell_type == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    rel = md_path.resolve().relative_to(root.resolve()).as_posix()
    if rel.startswith(GPU_CHAPTER_DIRS):
        nb.metadata["accelerator"] = "GPU"
        nb.metadata.setdefault("colab", {"provenance": []})
    return jupytext.writes(nb, fmt="ipynb")


def fix_colab_url(md_path: Path, url: str) -> bool:
    """Rewrite the repository URL in the chapter's Colab set-up cell; True if the file changed."""
    import jupytext

    text = md_path.read_text(encoding="utf-8")
    nb = jupytext.reads(text, fmt="md:myst")
    index = colab_cell_index(nb)
    if index is None:
        return False
    old = nb.cells[index].source
    new = COLAB_URL_RE.sub(lambda m: m.group(1) + url, old)
    if new == old or old not in text:
        return False
    md_path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return True


def problems(md_path: Path, root: Path = ROOT) -> list[str]:
    """Why a chapter's pair is not in sync (empty list: all good)."""
    import jupytext

    rel = md_path.relative_to(root) if md_path.is_relative_to(root) else md_path
    if not md_path.is_file():
        return [f"{rel}: chapter source is missing"]
    found = []
    nb = jupytext.read(md_path, fmt="md:myst")
    index = colab_cell_index(nb)
    url = repo_url(root)
    if index is None:
        found.append(f"{rel}: the first code cell is not the Colab set-up cell")
    else:
        urls = colab_urls(nb.cells[index].source)
        if urls != [url]:
            found.append(f"{rel}: Colab set-up cell installs from {urls}, _config.yml says {url!r}")
    ipynb = md_path.with_suffix(".ipynb")
    if not ipynb.is_file():
        found.append(f"{ipynb.relative_to(root) if ipynb.is_relative_to(root) else ipynb}: missing")
    elif ipynb.read_text(encoding="utf-8") != notebook_text(md_path, root):
        found.append(f"{ipynb.relative_to(root) if ipynb.is_relative_to(root) else ipynb}: out of sync with {rel}")
    return found


def sync(paths: list[Path], root: Path = ROOT) -> int:
    url = repo_url(root)
    for md_path in paths:
        if not md_path.is_file():
            print(f"notebooks: skip {md_path} (not written yet)")
            continue
        if fix_colab_url(md_path, url):
            print(f"notebooks: {md_path}: Colab set-up cell now installs from {url}")
        ipynb = md_path.with_suffix(".ipynb")
        text = notebook_text(md_path, root)
        if not ipynb.is_file() or ipynb.read_text(encoding="utf-8") != text:
            ipynb.write_text(text, encoding="utf-8")
            print(f"notebooks: wrote {ipynb}")
    return 0


def check(paths: list[Path], root: Path = ROOT) -> int:
    found = [p for md_path in paths for p in problems(md_path, root)]
    for p in found:
        print(f"notebooks: {p}", file=sys.stderr)
    if found:
        print("notebooks: run `python tools/notebooks.py sync`", file=sys.stderr)
        return 1
    print(f"notebooks: {len(paths)} chapter(s) in sync")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["sync", "check"])
    parser.add_argument("chapters", nargs="*", type=Path, help="chapter .md files (default: all of _toc.yml)")
    parser.add_argument("--root", type=Path, default=ROOT, help="book root (where _config.yml is)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    paths = [p.resolve() for p in args.chapters] or planned_chapters(root)
    return sync(paths, root) if args.command == "sync" else check(paths, root)


if __name__ == "__main__":
    sys.exit(main())
