"""The teaching page's course plan fits its sessions and places every page of the book.

``book/teaching.md`` has a section "The course plan" with one ``###`` heading per session, each
stating its length (``### Lecture 1: ... (90 min)``), and a table per session whose rows read
``| 0:05–0:15 | 10 | [chapter](theory/x.md) ... | what to do live |``.  The checks: each session's
minutes add up to its stated length (at most 90), the clock times run on without gaps or overlaps
and agree with the minutes, and every page of ``_toc.yml`` (except this one) is linked from the plan
— in a session or under "Reading and homework".
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "teaching.md"
SECTION = "## The course plan"
READING = "### Reading and homework"
MAX_MINUTES = 90
#: The sessions the plan must hold (heading prefixes).
SESSIONS = ("Lecture 1", "Lecture 2", "Lab")

SESSION_RE = re.compile(r"^### (?P<name>.+?) \((?P<minutes>\d+) min\)\s*$")
ROW_RE = re.compile(r"^\|\s*(?P<start>\d+):(?P<s>\d\d)\s*[–-]\s*(?P<end>\d+):(?P<e>\d\d)\s*\|\s*(?P<min>\d+)\s*\|(?P<rest>.*)\|\s*$")
LINK_RE = re.compile(r"\]\((?P<target>[^)#\s]+?\.md)(?:#[^)]*)?\)")


def plan_section(text: str) -> str:
    lines = text.split("\n")
    start = next(k for k, line in enumerate(lines) if line.startswith(SECTION))
    end = next((k for k in range(start + 1, len(lines)) if lines[k].startswith("## ")), len(lines))
    return "\n".join(lines[start:end])


def sessions(text: str) -> dict[str, dict]:
    """``name -> {"minutes": stated, "rows": [(start, end, minutes, rest)]}`` of the plan section."""
    out: dict[str, dict] = {}
    current = None
    for line in plan_section(text).split("\n"):
        if line.startswith("### "):
            m = SESSION_RE.match(line)
            current = m["name"] if m else None
            if m:
                out[current] = {"minutes": int(m["minutes"]), "rows": []}
            continue
        if current and (r := ROW_RE.match(line)):
            out[current]["rows"].append((int(r["start"]) * 60 + int(r["s"]), int(r["end"]) * 60 + int(r["e"]),
                                         int(r["min"]), r["rest"]))
    return out


def linked_pages(text: str) -> set[str]:
    """Docnames (``book/theory/x``) linked from the plan section."""
    return {posixpath.normpath(posixpath.join("book", m["target"])).removesuffix(".md")
            for m in LINK_RE.finditer(plan_section(text))}


def toc_pages() -> set[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = {toc["root"]}

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                pages.add(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return pages - {"book/teaching"}


TEXT = PAGE.read_text(encoding="utf-8")
PLAN = sessions(TEXT)


def test_plan_has_the_sessions():
    for name in SESSIONS:
        assert sum(n.startswith(name) for n in PLAN) == 1, f"no (or several) session '{name}...' in {list(PLAN)}"
        assert next(v for n, v in PLAN.items() if n.startswith(name))["rows"], name


@pytest.mark.parametrize("name", list(PLAN))
def test_session_minutes_add_up(name):
    session = PLAN[name]
    rows = session["rows"]
    total = sum(minutes for _, _, minutes, _ in rows)
    assert total == session["minutes"] <= MAX_MINUTES, (name, total, session["minutes"])
    clock = 0
    for start, end, minutes, rest in rows:
        assert start == clock, f"{name}: a gap or an overlap before '{rest.strip()[:40]}'"
        assert end - start == minutes, f"{name}: {minutes} min but {end - start} on the clock: {rest.strip()[:40]}"
        clock = end


def test_every_page_is_placed():
    """Every page of the toc but the process pages of the appendix (they document how the chapters'
    experiments were run, and are linked from those chapters)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    appendix = {c["file"] for part in toc["parts"] if part["caption"].startswith("Appendix") for c in part["chapters"]}
    missing = toc_pages() - appendix - linked_pages(TEXT)
    assert not missing, f"pages of _toc.yml that the teaching plan does not place: {sorted(missing)}"


def test_every_link_of_the_plan_exists():
    for page in linked_pages(TEXT):
        # the lab page (book/lab.md) is written alongside this plan: it may land after it
        assert (ROOT / f"{page}.md").is_file() or page == "book/lab", page


def test_the_checks_can_fail():
    broken = TEXT.replace("| 0:05–0:15 | 10 |", "| 0:05–0:20 | 15 |")
    assert broken != TEXT
    lecture = next(n for n in sessions(broken) if n.startswith("Lecture 1"))
    rows = sessions(broken)[lecture]["rows"]
    assert sum(r[2] for r in rows) > sessions(broken)[lecture]["minutes"]
    dropped = TEXT.replace("(training/claims.md)", "(training/claims_gone.md)")
    assert "book/training/claims" in toc_pages() - linked_pages(dropped)


def test_in_class_exercises_match_their_labels():
    """A session row that sets an exercise in class quotes its label: the label in the chapter agrees."""
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    import solutions  # tools/solutions.py

    quoted = re.findall(r"Exercise (\d+) of \[[^\]]*\]\(([^)]+\.md)\) \(([★☆]{3}) ([\w-]+) · (\d+ (?:min|h))\)",
                        plan_section(TEXT))
    assert quoted, "the plan sets no exercise in class"
    for number, target, stars, level, time in quoted:
        exercise = next(e for e in solutions.exercises(ROOT / "book" / target) if e.number == int(number))
        assert (exercise.stars, exercise.level) == (stars, level), (target, number)
        assert solutions.parse_label(f"1. **({stars} {level} · {time})** x")[1] == exercise.minutes, (target, number)
