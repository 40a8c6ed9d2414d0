#!/usr/bin/env python3
"""The instructors' edition of the exercises: every exercise of the book with its solution, one file.

Each chapter keeps its solutions next to its exercises (one home for authors), but the students'
site (``book/_ext/gkl_solutions.py``), notebooks (``tools/myst_markdown.py``) and slides hold none.
This tool collects them from the chapter sources listed in ``_toc.yml``::

    python tools/solutions.py [--out DIR]      # make instructor: DIR = _build/instructor

and writes ``DIR/solutions.md`` (Markdown) and ``DIR/solutions.html`` (one page, math rendered by
the vendored MathJax copied beside it when ``make assets`` has run).  Neither is part of the site:
share them with instructors only.

An exercise is a numbered item of a chapter's ``## Exercises`` section, labelled with its difficulty
and the time a student needs (the legend is on the teaching page)::

    1. **(★★☆ core · 15 min)** Show that ...

followed by its ``{admonition} Solution`` block.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import gkl_solutions  # noqa: E402  (book/_ext/gkl_solutions.py: what a solution block is)
import myst_markdown  # noqa: E402
import notebooks  # noqa: E402

#: Difficulty levels: stars (of three) and the word shown beside them.
LEVELS = {"warm-up": 1, "core": 2, "challenge": 3}
#: The label at the start of an exercise: ``1. **(★★☆ core · 15 min)** ...`` (or ``· 3 h``).
LABEL_RE = re.compile(
    r"^(?P<number>\d+)\. \*\*\((?P<stars>[★☆]{3}) (?P<level>warm-up|core|challenge)"
    r" · (?P<amount>\d+) (?P<unit>min|h)\)\*\* ")
#: The start of any exercise, labelled or not.
ITEM_RE = re.compile(r"^(?P<number>\d+)\. ")
SECTION = "## Exercises"

OUT = ROOT / "_build" / "instructor"
MATHJAX = ROOT / "book" / "_static" / "vendor" / "mathjax" / "tex-mml-svg.js"


@dataclass(frozen=True)
class Exercise:
    chapter: str        #: docname, e.g. ``book/theory/decoupling``
    number: int
    text: str           #: the exercise, MyST, without its label
    solution: str       #: the solution's body, MyST ("" if the exercise has none)
    level: str | None   #: warm-up, core, challenge (None: not labelled)
    minutes: int | None

    @property
    def stars(self) -> str:
        n = LEVELS[self.level] if self.level else 0
        return "★" * n + "☆" * (3 - n)


def chapters(root: Path = ROOT) -> list[Path]:
    """The chapter sources of ``_toc.yml`` (in book order)."""
    return notebooks.planned_chapters(root)


def exercise_section(text: str) -> tuple[int, int] | None:
    """``(first, end)`` line indices of the ``## Exercises`` section (``end`` exclusive)."""
    lines = text.split("\n")
    if SECTION not in lines:
        return None
    first = lines.index(SECTION)
    end = next((k for k in range(first + 1, len(lines)) if lines[k].startswith(("# ", "## "))), len(lines))
    return first, end


def parse_label(line: str) -> tuple[str, int] | None:
    """``(level, minutes)`` of an exercise's first line, or None if it has no (valid) label."""
    m = LABEL_RE.match(line)
    if not m:
        return None
    if m["stars"] != "★" * LEVELS[m["level"]] + "☆" * (3 - LEVELS[m["level"]]):
        raise ValueError(f"stars {m['stars']} do not match the level {m['level']!r}: {line[:60]}")
    minutes = int(m["amount"]) * (60 if m["unit"] == "h" else 1)
    if minutes <= 0:
        raise ValueError(f"no time: {line[:60]}")
    return m["level"], minutes


def exercises(md_path: Path, root: Path = ROOT) -> list[Exercise]:
    """The exercises of one chapter with their solutions and labels."""
    text = md_path.read_text(encoding="utf-8")
    section = exercise_section(text)
    if section is None:
        return []
    lines = text.split("\n")
    first, end = section
    spans = [s for s in gkl_solutions.solution_spans(text) if first < s[0] < end]
    solution_lines = {k for a, b in spans for k in range(a, b + 1)}
    starts = [k for k in range(first + 1, end) if k not in solution_lines and ITEM_RE.match(lines[k])]
    docname = md_path.relative_to(root).with_suffix("").as_posix()
    out = []
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else end
        own = [s for s in spans if start < s[0] < stop]
        if len(own) > 1:
            raise ValueError(f"{docname}: exercise {i + 1} has {len(own)} solutions")
        text_end = own[0][0] if own else stop
        body = lines[start:text_end]
        # an exercise ends at its solution, or at the first unindented line after a blank line
        for k in range(1, len(body)):
            if body[k].strip() and not body[k].startswith(" ") and not body[k - 1].strip():
                body = body[:k]
                break
        label = parse_label(body[0])
        body[0] = LABEL_RE.sub("", body[0]) if label else ITEM_RE.sub("", body[0])
        solution = ""
        if own:
            a, b = own[0]
            _, rest = myst_markdown._options(lines[a + 1:b])
            solution = "\n".join(myst_markdown._strip_blank(rest))
        out.append(Exercise(docname, int(ITEM_RE.match(lines[start])["number"]),
                            "\n".join(myst_markdown._strip_blank([b.removeprefix("   ") for b in body])),
                            solution, *(label or (None, None))))
    return out


def collect(root: Path = ROOT) -> list[Exercise]:
    """Every exercise of the book, in book order."""
    return [e for md in chapters(root) for e in exercises(md, root)]


def _time(minutes: int | None) -> str:
    if minutes is None:
        return "time not given"
    return f"{minutes // 60} h" if minutes >= 60 and minutes % 60 == 0 else f"{minutes} min"


def markdown(items: list[Exercise], root: Path = ROOT) -> str:
    """The instructors' document: a table of every exercise, then each with its solution."""
    titles = {md.relative_to(root).with_suffix("").as_posix(): notebooks.page_title(md) or md.stem
              for md in chapters(root)}
    lines = ["# The GKL Book: exercises and solutions (instructors only)", "",
             "Do not publish this file: the students' site, notebooks and slides hold no solutions.",
             "Difficulty: ★☆☆ warm-up, ★★☆ core, ★★★ challenge; the time is for one student.", "",
             "| chapter | exercise | difficulty | time |", "|---|---|---|---|"]
    lines += [f"| {titles[e.chapter]} | {e.number} | {e.stars} {e.level or 'not labelled'} | {_time(e.minutes)} |"
              for e in items]
    chapter = None
    for e in items:
        ctx = notebooks.markup_context(root / f"{e.chapter}.md", root)
        if e.chapter != chapter:
            chapter = e.chapter
            lines += ["", f"## {titles[e.chapter]}", "", f"[The chapter]({ctx.page_url(e.chapter)})"]
        lines += ["", f"### Exercise {e.number} · {e.stars} {e.level or 'not labelled'} · {_time(e.minutes)}",
                  "", myst_markdown.convert(e.text, ctx), "",
                  "**Solution.**" if e.solution else "**No solution written yet.**", ""]
        if e.solution:
            lines.append(myst_markdown.convert(e.solution, ctx))
    return "\n".join(lines) + "\n"


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>The GKL Book: exercises and solutions (instructors only)</title>
<script>window.MathJax = {{tex: {{inlineMath: [["\\\\(", "\\\\)"]], displayMath: [["\\\\[", "\\\\]"]]}}}};</script>
<script defer src="{mathjax}"></script>
<style>body {{max-width: 52rem; margin: 2rem auto; padding: 0 1rem; font: 16px/1.5 system-ui, sans-serif}}
table {{border-collapse: collapse}} td, th {{border: 1px solid #ccc; padding: .2rem .5rem}}
code {{background: #f4f4f4}} pre {{background: #f4f4f4; padding: .5rem; overflow-x: auto}}</style>
</head><body>
{body}
</body></html>
"""


def to_html(text: str, mathjax: str) -> str:
    """``text`` (Markdown with ``$...$`` math) as one HTML page; MathJax renders the math."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    md = MarkdownIt("commonmark", {"html": True}).enable("table").use(
        dollarmath_plugin, double_inline=True,
        renderer=lambda content, opts: (f"\\[{html.escape(content)}\\]" if opts.get("display_mode")
                                        else f"\\({html.escape(content)}\\)"))
    return PAGE.format(mathjax=mathjax, body=md.render(text))


def write(out: Path = OUT, root: Path = ROOT) -> list[Exercise]:
    """Write ``solutions.md`` and ``solutions.html`` under ``out``; return the exercises."""
    items = collect(root)
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(items, root)
    (out / "solutions.md").write_text(text, encoding="utf-8")
    if MATHJAX.is_file():
        shutil.copy2(MATHJAX, out / "mathjax.js")
        mathjax = "mathjax.js"
    else:  # `make assets` has not run: the page still works online
        mathjax = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-svg.js"
    (out / "solutions.html").write_text(to_html(text, mathjax), encoding="utf-8")
    return items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    items = write(args.out)
    unlabelled = sorted({e.chapter for e in items if e.level is None})
    missing = [f"{e.chapter} #{e.number}" for e in items if not e.solution]
    print(f"{len(items)} exercises, {sum(bool(e.solution) for e in items)} solutions -> "
          f"{args.out / 'solutions.html'} (instructors only: do not publish)")
    if unlabelled:
        print("not labelled yet:", ", ".join(unlabelled))
    if missing:
        print("no solution:", ", ".join(missing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
