"""The book's chapters: MyST sources, their Colab notebooks, and the conventions every chapter follows.

A chapter is a page of Parts I-III of ``_toc.yml``.  Its ``.md`` is the source; ``tools/notebooks.py
sync`` generates the paired ``.ipynb`` (no outputs) that Colab opens, and copies the repository URL
from ``_config.yml`` (its one home) into the Colab set-up cell.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402  (tools/notebooks.py)

PLANNED_PAGES = [
    "book/intro",
    "book/notation", "book/losses", "book/teaching", "book/lab",
    "book/theory/kl_in_practice", "book/theory/decoupling", "book/theory/asymmetry",
    "book/theory/weight_function", "book/theory/class_prior", "book/theory/making_it_fast",
    "book/training/adversarial",
    "book/training/distillation", "book/training/distillation_ablations", "book/training/reported_results",
    "book/training/claims",
    "book/training/guidelines",
    "book/training/adversarial_protocol", "book/training/distillation_protocol",
    "book/references", "book/api",
]
CHAPTERS = notebooks.planned_chapters(ROOT)
CHAPTER_IDS = [p.relative_to(ROOT).with_suffix("").as_posix() for p in CHAPTERS]
URL = notebooks.repo_url(ROOT)

COLAB_CELL = [
    "# Set-up: installs the gkl package on Google Colab, or wherever GKL_INSTALL names what to install.",
    "import os",
    "import sys",
    'GKL_INSTALL = os.environ.get("GKL_INSTALL", "gkl[train,viz] @ git+{url}")',
    'if "google.colab" in sys.modules or "GKL_INSTALL" in os.environ:',
    '    %pip install -q "$GKL_INSTALL"',
]

FRONT_MATTER = {
    "jupytext": {
        "formats": "ipynb,md:myst",
        "text_representation": {"extension": ".md", "format_name": "myst", "format_version": 0.13},
    },
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
}


def front_matter(text: str) -> dict:
    m = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    assert m, "no YAML front matter at the top of the file"
    return yaml.safe_load(m.group(1))


def read_md(md: Path) -> str:
    if not md.is_file():
        pytest.fail(f"{md.relative_to(ROOT)} is planned in _toc.yml but not written")
    return md.read_text(encoding="utf-8")


# --- the table of contents and the configuration ------------------------------------------------

def test_toc_lists_exactly_the_planned_pages():
    assert notebooks.planned_pages(ROOT) == PLANNED_PAGES


def test_toc_parts():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    assert [p["caption"] for p in toc["parts"]] == [
        "Start here", "Part I — From KL to GKL", "Part II — Adversarial training",
        "Part III — Knowledge distillation", "Appendix — How the experiments were run", "Reference",
    ]


def test_notebooks_are_not_sphinx_sources():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert "**.ipynb" in config["exclude_patterns"]
    assert config["only_build_toc_files"] is True


def test_repository_url_lives_only_in_config():
    """No infrastructure file repeats the URL: tools read it from _config.yml."""
    assert URL.startswith("https://github.com/")
    infra = [*sorted((ROOT / "tools").glob("*.py")), *sorted((ROOT / "book" / "_ext").glob("*.py")),
             ROOT / "book" / "intro.md", ROOT / "book" / "api.md", ROOT / "Makefile"]
    for path in infra:
        if path.is_file():
            assert URL not in path.read_text(encoding="utf-8"), f"{path.relative_to(ROOT)} hard-codes {URL}"


def test_no_directive_fence_holds_a_backtick():
    """CommonMark: the info string of a backtick fence may not contain a backtick, or the line is no
    fence at all — the directive and everything up to the next fence then render as literal text (a
    title like "Where the `cpu` profile departs" once swallowed a section and a code cell this way)."""
    bad = []
    for md in sorted((ROOT / "book").rglob("*.md")):
        for i, line in enumerate(md.read_text(encoding="utf-8").splitlines(), 1):
            m = re.match(r"^[ \t]*(`{3,})(.*)$", line)
            if m and "`" in m.group(2):
                bad.append(f"{md.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not bad, "a backtick in a fence's info string breaks the fence: " + "; ".join(bad)


# --- every chapter ------------------------------------------------------------------------------

@pytest.mark.parametrize("md", CHAPTERS, ids=CHAPTER_IDS)
def test_front_matter(md):
    meta = front_matter(read_md(md))
    assert meta.get("kernelspec") == FRONT_MATTER["kernelspec"]
    jt = meta.get("jupytext") or {}
    assert jt.get("formats") == FRONT_MATTER["jupytext"]["formats"]
    rep = jt.get("text_representation") or {}
    for key, value in FRONT_MATTER["jupytext"]["text_representation"].items():
        assert rep.get(key) == value, f"jupytext.text_representation.{key}"
    assert "jupytext_version" in rep


@pytest.mark.parametrize("md", CHAPTERS, ids=CHAPTER_IDS)
def test_run_this_chapter_header(md):
    """A title, then a "Run this chapter" note (run time, Colab) before the first code cell a reader
    sees (hidden set-up cells and generated boxes such as "What we found" may come first)."""
    text = read_md(md)
    body = text[text.index("\n---\n", 4) + 5:]
    assert re.match(r"\s*# \S", body), "the page must start with a '# Title'"
    first_shown = re.search(r"```\{code-cell\}[^\n]*\n(?!:tags: \[remove-(cell|input)\])", body)
    head = body[:first_shown.start()] if first_shown else body
    assert "Run this chapter" in head, "no 'Run this chapter' note before the first code cell shown with its input"
    note = head[head.index("Run this chapter"):]
    assert re.search(r"\d|\{glue:text\}`chapter_runtime", note), \
        "the 'Run this chapter' note should give the expected run time (a number, or the measured one glued)"
    assert re.search(r"colab|rocket|launch", note, re.IGNORECASE), "the note should point to the Colab button"


@pytest.mark.parametrize("md", CHAPTERS, ids=CHAPTER_IDS)
def test_first_code_cell_is_the_colab_setup_cell(md):
    nb = jupytext.reads(read_md(md), fmt="md:myst")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the chapter has no code cell"
    cell = code[0]
    assert cell.source.splitlines() == [line.format(url=URL) for line in COLAB_CELL]
    assert "remove-cell" in cell.metadata.get("tags", [])


@pytest.mark.parametrize("md", CHAPTERS, ids=CHAPTER_IDS)
def test_exercises_with_hidden_solutions(md):
    text = read_md(md)
    assert re.search(r"^##+ .*Exercises?\b", text, re.MULTILINE), "no '## Exercises' section"
    exercises = text[re.search(r"^##+ .*Exercises?\b", text, re.MULTILINE).start():]
    # ```{admonition} Solution  (or :::) followed, among its options, by  :class: dropdown
    solutions = re.findall(r"^(?:`{3,}|:{3,})\{admonition\} Solution[^\n]*\n(?::[^\n]*\n)*?:class:[^\n]*\bdropdown\b",
                           exercises, re.MULTILINE)
    assert 2 <= len(solutions) <= 4, f"{len(solutions)} dropdown solutions; the convention is 2-4 exercises"


@pytest.mark.parametrize("md", CHAPTERS, ids=CHAPTER_IDS)
def test_ipynb_pair_in_sync_without_outputs(md):
    read_md(md)
    assert notebooks.problems(md, ROOT) == [], "run `python tools/notebooks.py sync`"
    nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert notebooks.colab_urls(first.source) == [URL]


# --- the tool itself ----------------------------------------------------------------------------

def test_sync_and_check_on_a_scratch_book(tmp_path):
    """check fails on a missing pair and on a stale URL; sync fixes both; an edit breaks the pair."""
    import preview  # tools/preview.py: writes chapters that follow the conventions

    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n  - caption: Part I\n    chapters:\n"
        "      - file: book/theory/a\n  - caption: Reference\n    chapters:\n      - file: book/api\n")
    md = tmp_path / "book" / "theory" / "a.md"
    md.parent.mkdir(parents=True)
    md.write_text(preview.stub_chapter("book/theory/a", "https://github.com/someone/old-fork"))
    assert notebooks.planned_chapters(tmp_path) == [md]

    assert notebooks.check([md], tmp_path) == 1
    assert any("old-fork" in p for p in notebooks.problems(md, tmp_path))
    notebooks.sync([md], tmp_path)
    assert notebooks.problems(md, tmp_path) == []
    assert "old-fork" not in md.read_text() and f"git+{URL}" in md.read_text()
    ipynb = md.with_suffix(".ipynb").read_text()
    notebooks.sync([md], tmp_path)  # idempotent
    assert md.with_suffix(".ipynb").read_text() == ipynb

    md.write_text(md.read_text().replace("A stub.", "A changed stub."))
    assert any("out of sync" in p for p in notebooks.problems(md, tmp_path))


@pytest.mark.parametrize("md", CHAPTERS, ids=CHAPTER_IDS)
def test_run_time_box_is_measured(md):
    """The "Run this chapter" box shows the time measured while the page was built (glued at the end)."""
    text = read_md(md)
    # `chapter_runtime` (a phrase: "under a second", "3 min 5 s") or `chapter_runtime_s` (seconds)
    assert "{glue:text}`chapter_runtime" in text, "the run-time box does not show the measured time"
    cells = re.findall(r"```\{code-cell\} ipython3\n(.*?)```", text, re.S)
    assert "runtime.start()" in cells[1], "the clock must start right after the set-up cell"
    assert "runtime.stop()" in cells[-1], "the clock must stop in the last cell"


@pytest.mark.parametrize("md", CHAPTERS, ids=CHAPTER_IDS)
def test_learning_objectives_and_prerequisites(md):
    text = read_md(md)
    assert "**Learning objectives.**" in text and "**Prerequisites.**" in text
