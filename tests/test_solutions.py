"""Solutions are for instructors only; every exercise says its difficulty and time.

Each chapter keeps its solutions next to its exercises (```` ```{admonition} Solution ````).  The
students' artefacts hold none of them: the Colab notebooks (``tools/myst_markdown.py`` drops them),
the site (``book/_ext/gkl_solutions.py`` removes them from the pages, the search index and the
downloadable sources) — the slide decks are checked by the slides' own tests.  ``tools/solutions.py``
(``make instructor``) collects them all into one instructors' file.

A solution is recognised here by its own text: the longest run of plain words of its body (no code,
math or quotes, which the site typesets differently), searched for in each artefact.
"""

from __future__ import annotations

import html
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import gkl_solutions  # noqa: E402  (book/_ext/gkl_solutions.py)
import notebooks  # noqa: E402  (tools/notebooks.py)
import solutions  # noqa: E402  (tools/solutions.py)
from myst_markdown import convert  # noqa: E402

CHAPTERS = notebooks.planned_chapters(ROOT)
IDS = [p.relative_to(ROOT).with_suffix("").as_posix() for p in CHAPTERS]
HTML = Path(os.environ.get("GKL_SITE_HTML", ROOT / "_build" / "html"))

#: Chapters whose exercises are not labelled yet (their author labels them; then empty this set).
#: Every other chapter must label every exercise.
PENDING: set[str] = set()

#: The opening line of a solution, counted here without the tools' parser.
OPEN = re.compile(r"^(`{3,}|:{3,})\{(?:admonition|dropdown)\} Solution\s*$")
#: What the site typesets differently (code, math, roles, quotes, dashes, emphasis): fragments stop there.
MARKUP = re.compile(r"[`$*{}\\\[\]|_'\"“”‘’—–]|--|\.\.\.|\(|\)")


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def raw_solutions(md: Path) -> list[str]:
    """The body of each solution of a chapter (options dropped), read line by line."""
    lines = md.read_text(encoding="utf-8").split("\n")
    bodies, i = [], 0
    while i < len(lines):
        m = OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while lines[j].strip() != m.group(1):
            j += 1
        bodies.append("\n".join(line for line in lines[i + 1:j] if not line.startswith(":class:")))
        i = j + 1
    return bodies


def fragment(body: str) -> str:
    """The longest run of plain words of a solution (what any rendering of it must contain)."""
    runs = [normalise(r) for r in MARKUP.split(body)]
    best = re.sub(r"^(?:[^\w]+|s )+", "", max(runs, key=len))  # not the tail of "teacher's" / "$x$."
    assert len(best) >= 20, f"no plain sentence in the solution {body[:80]!r}"
    return best


SOLUTIONS = {c: raw_solutions(md) for c, md in zip(IDS, CHAPTERS)}
FRAGMENTS = [fragment(b) for bodies in SOLUTIONS.values() for b in bodies]


def leaks(text: str) -> list[str]:
    """The solution fragments found in ``text`` (whitespace-normalised)."""
    text = normalise(text)
    return [f for f in FRAGMENTS if f in text]


def test_chapters_have_solutions_to_hide():
    assert len(FRAGMENTS) >= 30, len(FRAGMENTS)
    for c, md in zip(IDS, CHAPTERS):
        source = normalise(md.read_text(encoding="utf-8"))
        for body in SOLUTIONS[c]:
            assert fragment(body) in source, c


# --- the notebooks --------------------------------------------------------------------------------

NOTEBOOKS = sorted((ROOT / "book").rglob("*.ipynb"))


@pytest.mark.parametrize("ipynb", NOTEBOOKS, ids=[str(p.relative_to(ROOT)) for p in NOTEBOOKS])
def test_notebooks_hold_no_solutions(ipynb):
    nb = nbformat.read(ipynb, as_version=4)
    text = "\n".join(cell.source for cell in nb.cells)
    assert not leaks(text), f"{ipynb.relative_to(ROOT)} shows solutions: {leaks(text)[:2]}"
    assert not re.search(r"<summary>\s*Solution|\*\*Solution\*\*|\{admonition\} Solution", text)


def test_the_leak_check_finds_solutions_in_an_unconverted_notebook():
    """Plain jupytext (no conversion) keeps the solutions: the check above would fail on it."""
    for md, c in zip(CHAPTERS, IDS):
        nb = jupytext.read(md, fmt="md:myst")
        text = "\n".join(cell.source for cell in nb.cells)
        assert len(leaks(text)) == len(SOLUTIONS[c]), c


def test_converter_keeps_the_exercise_and_drops_its_solution():
    md = CHAPTERS[0]
    text = md.read_text(encoding="utf-8")
    out = convert(text)
    assert not leaks(out)
    for e in solutions.exercises(md):
        assert normalise(MARKUP.split(e.text)[-1])[:20] in normalise(out)


# --- labels ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_every_exercise_has_difficulty_and_time(md):
    chapter = md.relative_to(ROOT).with_suffix("").as_posix()
    text = md.read_text(encoding="utf-8")
    section = solutions.exercise_section(text)
    assert section, f"{chapter} has no '## Exercises' section"
    lines = text.split("\n")[section[0]:section[1]]
    items = [line for line in lines if re.match(r"^\d+\. ", line)]
    labelled = [line for line in items if solutions.parse_label(line)]
    assert items, f"{chapter}: no exercise"
    if chapter in PENDING:
        assert len(labelled) < len(items), f"{chapter} is labelled now: remove it from PENDING"
        return
    assert len(labelled) == len(items), [line[:50] for line in items if line not in labelled]
    assert [e.level for e in solutions.exercises(md)] == [solutions.parse_label(x)[0] for x in items]


def test_labels_are_parsed_and_checked():
    assert solutions.parse_label("2. **(★★☆ core · 15 min)** Show") == ("core", 15)
    assert solutions.parse_label("1. **(★★★ challenge · 3 h)** Run") == ("challenge", 180)
    assert solutions.parse_label("1. Show that") is None
    assert solutions.parse_label("1. **(★★ core · 15 min)** Show") is None
    with pytest.raises(ValueError, match="stars"):
        solutions.parse_label("1. **(★☆☆ core · 15 min)** Show")


# --- the instructors' file ------------------------------------------------------------------------

def test_instructor_file_has_every_exercise_and_solution(tmp_path):
    items = solutions.write(tmp_path)
    counted = sum(len(b) for b in SOLUTIONS.values())
    assert sum(bool(e.solution) for e in items) == counted == len(items)
    for c in IDS:  # the same number per chapter, and numbered 1, 2, ...
        numbers = [e.number for e in items if e.chapter == c]
        assert len(numbers) == len(SOLUTIONS[c]) and numbers == list(range(1, len(numbers) + 1)), c
    md = (tmp_path / "solutions.md").read_text(encoding="utf-8")
    page = html.unescape(re.sub(r"<[^>]+>", " ", (tmp_path / "solutions.html").read_text(encoding="utf-8")))
    assert len(leaks(md)) == len(FRAGMENTS) and len(leaks(page)) == len(FRAGMENTS)
    assert md.count("\n### Exercise ") == len(items)
    assert "\\(" in page and "★★☆ core" in page


# --- the site -------------------------------------------------------------------------------------

def test_sphinx_extension_removes_solution_admonitions():
    from docutils.core import publish_doctree

    rst = (".. admonition:: Solution\n   :class: dropdown\n\n   The hidden answer.\n\n"
           ".. note::\n\n   Kept.\n\n.. admonition:: Solutions, a word in a title\n\n   Also kept.\n")
    for instructor, expected in ((False, ["Kept.", "Also kept."]), (True, ["The hidden answer.", "Kept.", "Also kept."])):
        doctree = publish_doctree(rst)
        app = SimpleNamespace(config=SimpleNamespace(gkl_instructor=instructor))
        gkl_solutions.remove_solutions(app, doctree, "page")
        assert [p.astext() for p in doctree.findall(lambda n: n.tagname == "paragraph")] == expected


def test_text_stripper_matches_the_count():
    for md, c in zip(CHAPTERS, IDS):
        text = md.read_text(encoding="utf-8")
        assert len(gkl_solutions.solution_spans(text)) == len(SOLUTIONS[c]), c
        stripped = gkl_solutions.strip_solutions(text)
        assert not leaks(stripped) and "## Exercises" in stripped, c


def _page_text(path: Path) -> str:
    raw = path.read_text(encoding="utf-8")
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", raw))


@pytest.mark.site
@pytest.mark.skipif(not (HTML / "index.html").is_file(), reason=f"{HTML} has no built site: run `make book` first")
def test_built_site_holds_no_solutions():
    pages = sorted(HTML.rglob("*.html"))
    assert len(pages) > len(CHAPTERS)
    found = {str(p.relative_to(HTML)): leaks(_page_text(p)) for p in pages}
    assert not {k: v for k, v in found.items() if v}
    # the search index and the sources behind the download button
    published = [HTML / "searchindex.js", *(HTML / "_sources").rglob("*.md"), *(HTML / "_sources").rglob("*.ipynb")]
    found = {str(p.relative_to(HTML)): leaks(p.read_text(encoding="utf-8")) for p in published if p.is_file()}
    assert not {k: v for k, v in found.items() if v}
    for c in IDS:  # the exercises are there, with their labels
        text = _page_text(HTML / f"{c}.html")
        assert "Exercises" in text, c
        assert c in PENDING or re.search(r"[★☆]{3} (warm-up|core|challenge) · \d+ (min|h)", text), c
