"""The Colab notebooks show plain Markdown + HTML: no MyST markup is left in their Markdown cells.

``tools/notebooks.py sync`` rewrites each Markdown cell with ``tools/myst_markdown.py``: admonitions as
quoted boxes, dropdowns as ``<details>`` (solutions dropped), ``{doc}`` as links to the built site, citations as
author-year text, glued values as a note.  Colab and Jupyter would show MyST as literal text.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import myst_markdown  # noqa: E402  (tools/myst_markdown.py)
import notebooks  # noqa: E402  (tools/notebooks.py)
from myst_markdown import Context, convert  # noqa: E402

CHAPTERS = notebooks.planned_chapters(ROOT)
CHAPTER_IDS = [p.relative_to(ROOT).with_suffix("").as_posix() for p in CHAPTERS]

SITE = "https://example.org/book/"
CTX = Context(
    docname="book/theory/decoupling",
    site_url=SITE,
    titles={"book/theory/asymmetry": "The asymmetry", "book/training/distillation": "Distillation"},
    citations={"hinton2015distilling": ("Hinton et al.", "2015"), "croce2020autoattack": ("Croce and Hein", "2020")},
)

#: MyST left in a Markdown cell: a directive fence, a role (``{name}`` then a backtick), a label line.
FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,}|:{3,})(.*)$")
LABEL = re.compile(r"^[ \t]*\([\w:.-]+\)=[ \t]*$", re.MULTILINE)       # (label)=
# {doc}`x`, {cite:p}`k` ... : a role, or else a code span (`{a}` in code is not a role)
ROLE_OR_CODE = re.compile(r"(?P<role>\{[A-Za-z][\w:.+-]*\}`[^`]*`)|(`+).*?\2", re.DOTALL)


def leftover_markup(markdown: str) -> list[str]:
    """The MyST markup in a Markdown cell: directive fences (```{note}, :::{admonition}), roles
    ({doc}`x`) and label lines ((name)=); fenced code blocks, shown as code, are skipped."""
    hits: list[str] = []
    prose: list[str] = []
    directives: list[str] = []  # the fences of the directives still open
    lines, i = markdown.split("\n"), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:
            fence, info = m.group(1), m.group(2).strip()
            if info.startswith("{"):
                hits.append(lines[i].strip())
                directives.append(fence)
                i += 1
                continue
            if directives and not info and fence[0] == directives[-1][0] and len(fence) >= len(directives[-1]):
                directives.pop()
                i += 1
                continue
            if fence[0] != ":":  # a code block: skip it, closing fence included
                closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
                i = next((k for k in range(i + 1, len(lines)) if closing.match(lines[k])), len(lines)) + 1
                continue
        prose.append(lines[i])
        i += 1
    text = "\n".join(prose)
    hits += [m["role"] for m in ROLE_OR_CODE.finditer(text) if m["role"]]
    return hits + [m.group(0).strip() for m in LABEL.finditer(text)]


# --- every chapter's notebook ---------------------------------------------------------------------

@pytest.mark.parametrize("md", CHAPTERS, ids=CHAPTER_IDS)
def test_no_myst_markup_in_notebook_markdown(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{ipynb.relative_to(ROOT)} missing: run `python tools/notebooks.py sync`"
    nb = nbformat.read(ipynb, as_version=4)
    found = [(i, hit) for i, cell in enumerate(nb.cells) if cell.cell_type == "markdown"
             for hit in leftover_markup(cell.source)]
    assert not found, f"MyST markup in {ipynb.relative_to(ROOT)} (cell, markup): {found[:5]}"


@pytest.mark.parametrize("md", CHAPTERS, ids=CHAPTER_IDS)
def test_code_cells_are_copied_unchanged(md):
    source = [c.source for c in jupytext.read(md, fmt="md:myst").cells if c.cell_type == "code"]
    nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    assert [c.source for c in nb.cells if c.cell_type == "code"] == source


def test_the_detector_finds_what_it_should():
    assert leftover_markup("```{note}\nx\n```") and leftover_markup(":::{admonition} A\nx\n:::")
    assert leftover_markup("see {doc}`a`") and leftover_markup("(sec-a)=\n# A")
    assert leftover_markup("{glue:text}`x:.1f` s")
    unconverted = "```{note}\nA\n```\n\nText {cite:p}`k`.\n\n```{admonition} Solution\n:class: dropdown\nB\n```"
    assert leftover_markup(unconverted) == ["```{note}", "```{admonition} Solution", "{cite:p}`k`"]
    assert not leftover_markup("```python\nf\"{x}\"\n```\n`{a}` and $\\mathrm{x}$ {1, 2}")


def test_site_url_lives_in_config():
    assert notebooks.site_url(ROOT).startswith("https://") and notebooks.site_url(ROOT).endswith("/")
    for path in sorted((ROOT / "tools").glob("*.py")):
        assert notebooks.site_url(ROOT).rstrip("/") not in path.read_text(encoding="utf-8"), path.name


def test_check_flags_an_unconverted_notebook(tmp_path):
    """A notebook written by plain jupytext (MyST left in it) is out of sync for ``check``."""
    import shutil

    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    md = CHAPTERS[0]
    target = tmp_path / md.relative_to(ROOT)
    target.parent.mkdir(parents=True)
    shutil.copy(md, target)
    (tmp_path / "book" / "references.bib").write_text((ROOT / "book" / "references.bib").read_text())
    jupytext.write(jupytext.read(target, fmt="md:myst"), target.with_suffix(".ipynb"), fmt="ipynb")
    assert any("out of sync" in p for p in notebooks.problems(target, tmp_path))
    notebooks.sync([target], tmp_path)
    assert notebooks.problems(target, tmp_path) == []


# --- the converter on small inputs ----------------------------------------------------------------

def test_admonition_becomes_a_quoted_box():
    out = convert("```{admonition} In this chapter\n:class: note\n**Goals.** Two:\n* a;\n\n* b.\n```", CTX)
    assert out == "> **In this chapter**\n>\n> **Goals.** Two:\n> * a;\n>\n> * b."
    assert convert("```{warning}\nCareful.\n```", CTX) == "> **Warning**\n>\n> Careful."
    assert convert(":::{note}\nA {func}`gkl.dkl` call.\n:::", CTX) == "> **Note**\n>\n> A `gkl.dkl()` call."


def test_math_across_lines_in_a_box_uses_html():
    """``>`` in front of every line would land inside a display formula."""
    out = convert("```{tip}\nSee\n\n$$\na = b\n$$\n```", CTX)
    assert out.startswith("<blockquote>\n\n**Tip**\n\n") and out.endswith("$$\na = b\n$$\n\n</blockquote>")


def test_dropdown_becomes_details():
    expected = "<details>\n<summary>Hint</summary>\n\nIt is **2**.\n\n</details>"
    assert convert("```{admonition} Hint\n:class: dropdown\nIt is **2**.\n```", CTX) == expected
    assert convert(":::{dropdown} Hint\nIt is **2**.\n:::", CTX) == expected
    assert convert("```{admonition} Hint\n---\nclass: dropdown\n---\nIt is **2**.\n```", CTX) == expected


def test_solutions_are_dropped():
    """Solutions are for instructors only: the notebooks show the exercise, never its solution."""
    for src in ("```{admonition} Solution\n:class: dropdown\nIt is **2**.\n```",
                ":::{dropdown} Solution\nIt is **2**.\n:::",
                "```{admonition} Solution to exercise 2\n---\nclass: dropdown\n---\nIt is **2**.\n```",
                "````{admonition} Solution\n:class: dropdown\n```{note}\nInner.\n```\n````"):
        out = convert("1. **(★☆☆ warm-up · 5 min)** Ask.\n\n" + src + "\n\n2. Next.", CTX)
        assert "It is" not in out and "Inner" not in out and "Solution" not in out, src
        assert out.startswith("1. **(★☆☆ warm-up · 5 min)** Ask.") and out.endswith("2. Next.")
    # a box that merely mentions solutions is kept
    kept = convert("```{admonition} Solutions in the instructor file\nKept.\n```", CTX)
    assert kept == "> **Solutions in the instructor file**\n>\n> Kept."
    assert convert("```{note} Solutions\nKept.\n```", CTX) == "> **Solutions**\n>\n> Kept."


def test_nested_and_indented_directives():
    out = convert("````{admonition} Details\n:class: dropdown\n```{note}\nInner.\n```\n````", CTX)
    assert out == "<details>\n<summary>Details</summary>\n\n> **Note**\n>\n> Inner.\n\n</details>"
    out = convert("1. Item\n\n   ```{note}\n   Inside.\n   ```\n2. Next", CTX)
    assert out == "1. Item\n\n   > **Note**\n   >\n   > Inside.\n2. Next"


def test_doc_links_point_to_the_site():
    assert convert("The {doc}`next chapter <asymmetry>`.", CTX) == f"The [next chapter]({SITE}book/theory/asymmetry.html)."
    assert convert("See {doc}`asymmetry`.", CTX) == f"See [The asymmetry]({SITE}book/theory/asymmetry.html)."
    assert convert("See {doc}`../training/distillation`.", CTX) == f"See [Distillation]({SITE}book/training/distillation.html)."
    assert convert("{doc}`/book/api`", CTX) == f"[api]({SITE}book/api.html)"
    assert convert("[notes](../notation.md#t)", CTX) == f"[notes]({SITE}book/notation.html#t)"
    assert convert("[web](https://x.org/a.md)", CTX) == "[web](https://x.org/a.md)"


def test_citations_become_author_year_text():
    refs = f"{SITE}book/references.html"
    assert convert("KD {cite:p}`hinton2015distilling`.", CTX) == f"KD [(Hinton et al., 2015)]({refs})."
    assert convert("{cite:t}`croce2020autoattack`", CTX) == f"[Croce and Hein (2020)]({refs})"
    both = convert("{cite:p}`hinton2015distilling,croce2020autoattack`", CTX)
    assert both == f"[(Hinton et al., 2015; Croce and Hein, 2020)]({refs})"
    assert convert("{cite:p}`unknown`", CTX) == f"[([unknown])]({refs})"


def test_glued_value_becomes_a_note():
    out = convert("The chapter ran in {glue:text}`chapter_runtime_s:.0f` s.", CTX)
    assert out.startswith("The chapter ran in *(") and out.endswith(")* s.")
    assert f"{SITE}book/theory/decoupling.html" in out and "{" not in out
    assert "book/theory/decoupling.html" in convert("```{glue:figure} fig\n```", CTX)


def test_roles_labels_and_code():
    assert convert("{mod}`gkl.core`, {class}`~gkl.a.Prior`, {meth}`gkl.P.roll`", CTX) == \
        "`gkl.core`, `Prior`, `gkl.P.roll()`"
    assert convert("{math}`a^2` and H{sub}`2`O", CTX) == "$a^2$ and H<sub>2</sub>O"
    assert convert("(sec-a)=\n## A\n% a comment\ntext", CTX) == "## A\ntext"
    code = "```python\nprint('{doc}`x`')\n```\nand `{glue:text}` as code"
    assert convert(code, CTX) == code


def test_bibtex_reader():
    refs = myst_markdown.read_bibtex(ROOT / "book" / "references.bib")
    assert refs["hinton2015distilling"] == ("Hinton et al.", "2015")
    assert refs["croce2020autoattack"] == ("Croce and Hein", "2020")
    assert refs["mdistiller"] == ("Megvii Research", "2022")
    assert refs["greydanus2020mnist1d"] == ("Greydanus", "2020")
