"""The 90-minute lab (``book/lab.md``) and its checkpoints (:mod:`gkl.figures.lab`).

The reference answers below are the instructor's solutions: they are not on the page. Every
checkpoint is run with them (it must pass) and with a wrong answer (it must fail, saying what was
expected), and with ``None`` (it must say "not done yet" without giving the value away). The slow
tests execute the lab's notebook in smoke mode from an empty run cache, as the page is (every answer
``None``), and with the reference answers filled into its TODO cells (every checkpoint must pass).
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import gkl
from gkl import toy
from gkl.experiments.stats import paired_difference
from gkl.figures import lab

ROOT = Path(__file__).resolve().parents[1]
MD = ROOT / "book" / "lab.md"
sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402  (tools/notebooks.py)

#: The reference answer of every TODO line of the page, as code run in the notebook's namespace.
SOLUTIONS = {
    "H": "p = F.softmax(teacher / T, 1); H = float(-(p * F.log_softmax(teacher / T, 1)).sum(1).mean())",
    "grads": ("s, t = student.clone().requires_grad_(), teacher.clone().requires_grad_(); p = gkl.dkl_parts(s, t, T); "
              "grads = (torch.autograd.grad(p.ce, s)[0], torch.autograd.grad(p.wmse, t)[0])"),
    "sides_dkl": 'sides_dkl = {"wmse": "teacher", "ce": "student"}',
    "sides_gkl": 'sides_gkl = {"wmse": "both", "ce": "student"}',
    "rows": "rows = toy.hessian_spectrum(torch.softmax(teacher[0], 0), lab.LAB_GAMMAS)",
    "best_gamma": 'best_gamma = max(rows, key=lambda r: r["lambda_min"])["gamma"]',
    "speedup": 'lm = {r["gamma"]: r["lambda_min"] for r in rows}; speedup = lm[0.0] / lm[1.0]',
    "diff": ('diff = paired_difference({s: r.test_acc for s, r in zip(profile.seeds, results["kd"])}, '
             '{s: r.test_acc for s, r in zip(profile.seeds, results["gkl"])}, "KD", "GKL"); print(diff.sentence())'),
    "detects": "detects = diff.mde is not None and diff.mde <= lab.EFFECT",
    "seeds_needed": ('seeds_needed = next((n for n in lab.SEED_COUNTS if paired_difference('
                     '{s: acc["kd"][s] for s in range(n)}, {s: acc["gkl"][s] for s in range(n)}).verdict '
                     'in ("ahead", "behind")), None)'),
}
TODO = re.compile(r"^(\w+) = None\s+# TODO\b.*$", re.MULTILINE)


def solve(source: str, **names):
    """Run the reference answers of ``source``'s TODO lines in a namespace holding ``names``."""
    ns = {"torch": torch, "F": F, "gkl": gkl, "toy": toy, "lab": lab, "paired_difference": paired_difference, **names}
    for name in TODO.findall(source):
        exec(SOLUTIONS[name], ns)
    return ns


@pytest.fixture
def batch():
    student, teacher = lab.lab_logits()
    return student, teacher, lab.LAB_TEMPERATURE


# --- the checkpoints: accept the reference answer, reject a wrong one, say "not done yet" to None --

def test_entropy_checkpoint(batch):
    student, teacher, T = batch
    ns = solve("H = None  # TODO", student=student, teacher=teacher, T=T)
    assert lab.check_teacher_entropy(ns["H"], student, teacher, T).passed
    wrong = lab.check_teacher_entropy(ns["H"] * 1.01, student, teacher, T)
    assert wrong.status == "fail" and f"{ns['H']:.6g}" in wrong.message
    assert lab.check_teacher_entropy("a", student, teacher, T).status == "fail"
    todo = lab.check_teacher_entropy(None, student, teacher, T)
    assert todo.status == "todo" and "not done yet" in str(todo) and f"{ns['H']:.4f}" not in str(todo)


def test_gradient_checkpoint(batch):
    student, teacher, T = batch
    ns = solve("grads = None  # TODO", student=student, teacher=teacher, T=T)
    assert lab.check_gradients(ns["grads"], student, teacher, T).passed
    gs, gt = ns["grads"]
    assert lab.check_gradients((gs.float(), gt.float()), student, teacher, T).passed  # float32 is within tolerance
    assert lab.check_gradients((gt, gs), student, teacher, T).status == "fail"  # sides swapped
    assert lab.check_gradients((gs, torch.zeros_like(gt)), student, teacher, T).status == "fail"  # the wMSE's own side is live
    assert lab.check_gradients((gs[:2], gt), student, teacher, T).status == "fail"
    assert lab.check_gradients(None, student, teacher, T).status == "todo"


def test_sides_checkpoint(batch):
    student, teacher, _ = batch
    ns = solve("sides_dkl = None  # TODO\nsides_gkl = None  # TODO")
    assert lab.check_sides(ns["sides_dkl"], student, teacher, "dkl").passed
    assert lab.check_sides(ns["sides_gkl"], student, teacher, "gkl").passed
    wrong = lab.check_sides(ns["sides_dkl"], student, teacher, "gkl")  # KL's answer for GKL: the wMSE now moves both
    assert wrong.status == "fail" and "wmse" in wrong.message and "'both'" in wrong.message
    assert lab.check_sides({"wmse": "up", "ce": "student"}, student, teacher, "dkl").status == "fail"
    assert lab.check_sides(None, student, teacher, "dkl").status == "todo"


def test_weight_function_checkpoints(batch):
    _, teacher, _ = batch
    ns = solve("rows = None  # TODO\nbest_gamma = None  # TODO\nspeedup = None  # TODO", teacher=teacher)
    assert lab.check_best_gamma(ns["best_gamma"], teacher[0]).passed
    assert lab.check_best_gamma(1.0, teacher[0]).status == "fail"
    assert lab.check_best_gamma("zero", teacher[0]).status == "fail"
    assert lab.check_speedup(ns["speedup"], teacher[0]).passed
    assert ns["speedup"] > 1  # flatter weights lift the smallest eigenvalue
    assert lab.check_speedup(1 / ns["speedup"], teacher[0]).status == "fail"  # the ratio the wrong way round
    assert lab.check_best_gamma(None, teacher[0]).status == lab.check_speedup(None, teacher[0]).status == "todo"


class Run:
    """A run as the checkpoints read it (the last epoch's test accuracy)."""

    def __init__(self, acc: float):
        self.history = [{"epoch": 1, "test_acc": acc}]

    @property
    def test_acc(self) -> float:
        return self.history[-1]["test_acc"]


def results_of(kd, gk):
    return {"kd": [Run(a) for a in kd], "gkl": [Run(a) for a in gk]}


@pytest.mark.parametrize("kd, gk, detectable", [
    ([0.90, 0.91, 0.92, 0.90, 0.91], [0.905, 0.916, 0.925, 0.903, 0.918], True),   # tight differences: small MDE
    ([0.90, 0.91, 0.92, 0.90, 0.91], [0.93, 0.89, 0.95, 0.88, 0.92], False),       # noisy differences: large MDE
    ([0.90, 0.91], [0.92, 0.90], False),                                           # two seeds: no MDE at all
])
def test_distillation_checkpoints(kd, gk, detectable):
    seeds = tuple(range(len(kd)))
    results = results_of(kd, gk)
    ns = solve("diff = None  # TODO\ndetects = None  # TODO", profile=type("P", (), {"seeds": seeds}), results=results)
    assert lab.check_paired_difference(ns["diff"], results, seeds).passed
    assert ns["detects"] is detectable
    assert lab.check_detectable(ns["detects"], results, seeds).passed
    assert lab.check_detectable(not detectable, results, seeds).status == "fail"
    assert lab.check_detectable(1, results, seeds).status == "fail"  # True/False only
    flipped = paired_difference(dict(zip(seeds, gk)), dict(zip(seeds, kd)), "GKL", "KD")  # KD − GKL
    wrong = lab.check_paired_difference(flipped, results, seeds)
    assert wrong.status == "fail" and "mean" in wrong.message and "GKL − KD" in wrong.message
    assert lab.check_paired_difference(0.01, results, seeds).status == "fail"
    assert lab.check_paired_difference(None, results, seeds).status == "todo"


def test_seeds_checkpoint():
    acc = lab.recorded_accuracies()
    assert set(acc) >= {"kd", "gkl"} and len(acc["kd"]) >= max(lab.SEED_COUNTS)
    ns = solve("seeds_needed = None  # TODO", acc=acc)
    assert ns["seeds_needed"] in lab.SEED_COUNTS
    assert lab.check_seeds_needed(ns["seeds_needed"]).passed
    other = next(n for n in lab.SEED_COUNTS if n != ns["seeds_needed"])
    assert lab.check_seeds_needed(other).status == "fail"
    assert lab.check_seeds_needed(None).status == "todo"


def test_scoreboard_counts_the_last_result_of_each_checkpoint(batch):
    student, teacher, T = batch
    lab.check_teacher_entropy(None, student, teacher, T)
    lab.check_best_gamma(0.0, teacher[0])
    board = lab.scoreboard()
    assert "☐ Checkpoint 1a" in board and "✓ Checkpoint 3a" in board
    assert re.search(r"(\d+) of (\d+) checkpoints passed", board)


def test_lab_profile_is_short_and_pairs_kd_with_gkl(monkeypatch):
    from gkl.experiments.distill import tuned_profile

    monkeypatch.delenv("GKL_SMOKE", raising=False)
    p = lab.lab_profile()
    chapter = tuned_profile("cpu")
    assert set(p.methods) == {"kd", "gkl"} and p.seeds == lab.LAB_SEEDS and p.train["epochs"] == lab.LAB_EPOCHS
    assert p.train["epochs"] < chapter.train["epochs"]
    assert all(p.methods[m] == chapter.methods[m] for m in p.methods)  # the chapter's tuned configurations
    assert p.name == "mnist1d-lab"
    monkeypatch.setenv("GKL_SMOKE", "1")
    s = lab.lab_profile()
    assert s.name.endswith("-smoke") and s.train["epochs"] == 1 and len(s.seeds) == 2
    assert "KD and GKL" in lab.plan(s) and "1 epoch" in lab.plan(s)


# --- the page ----------------------------------------------------------------------------------

def test_page_notebook_in_sync_and_set_up_like_the_chapters():
    assert notebooks.problems(MD, ROOT) == [], "run `python tools/notebooks.py sync book/lab.md`"
    import jupytext

    nb = jupytext.read(MD, fmt="md:myst")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "remove-cell" in code[0].metadata.get("tags", []) and "google.colab" in code[0].source
    assert "runtime.start()" in code[1].source and "runtime.stop()" in code[-1].source
    assert "{glue:text}`chapter_runtime`" in MD.read_text(encoding="utf-8")


def test_page_gives_no_answers_and_every_todo_is_checked():
    """Every student cell sets its answers to ``None`` (the reference answers live here only), and each
    is followed by a checkpoint that reads every one of them."""
    import jupytext

    cells = [c for c in jupytext.read(MD, fmt="md:myst").cells if c.cell_type == "code"]
    todo = [(i, name) for i, c in enumerate(cells) for name in TODO.findall(c.source)]
    assert sorted(name for _, name in todo) == sorted(SOLUTIONS)
    for i, name in todo:
        assert f"{name} = None" in cells[i].source
        if name in ("rows",):  # an intermediate result, read by the next answers
            continue
        assert re.search(rf"lab\.check_\w+\({name}\b", cells[i + 1].source), f"no checkpoint right after the cell of {name}"
    assert "Solution" not in MD.read_text(encoding="utf-8")


def test_time_plan_adds_up_to_90_minutes():
    """The plan table is contiguous from 0 to 90 minutes and every section heading's time box matches it."""
    text = MD.read_text(encoding="utf-8")
    spans = [(int(a), int(b)) for a, b in re.findall(r"^\| (\d+)–(\d+) \|", text, re.MULTILINE)]
    assert spans[0][0] == 0 and spans[-1][1] == 90
    assert all(b == c for (_, b), (c, _) in zip(spans, spans[1:]))
    boxes = [int(m) for m in re.findall(r"^## .*\((\d+) min\)$", text, re.MULTILINE)]
    assert boxes == [b - a for a, b in spans]


# --- the notebook, executed ----------------------------------------------------------------------

def _execute(nb, work: Path, runs: Path, monkeypatch) -> float:
    import nbclient

    monkeypatch.setenv("GKL_SMOKE", "1")
    monkeypatch.setenv("GKL_RUNS_DIR", str(runs))
    monkeypatch.delenv("GKL_INSTALL", raising=False)
    start = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}}).execute()
    seconds = time.perf_counter() - start
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    return seconds


def _text(cell) -> str:
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", []))


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("lab-runs")  # empty: the first execution trains the teacher and students


@pytest.mark.slow
def test_lab_runs_in_smoke_mode_from_an_empty_cache(runs_dir, tmp_path, monkeypatch):
    import nbformat

    nb = nbformat.read(MD.with_suffix(".ipynb"), as_version=4)
    seconds = _execute(nb, tmp_path, runs_dir, monkeypatch)
    board = _text(nb.cells[[i for i, c in enumerate(nb.cells) if "lab.scoreboard()" in c.source][0]])
    assert "0 of 9 checkpoints passed" in board and board.count("not done yet") == 9
    assert [p.name for p in (runs_dir / "distill").iterdir()] == ["mnist1d-lab-smoke"]
    print(f"lab notebook, smoke mode, empty run cache: {seconds:.0f} s")


@pytest.mark.slow
def test_lab_reference_answers_pass_every_checkpoint(runs_dir, tmp_path, monkeypatch):
    import nbformat

    nb = nbformat.read(MD.with_suffix(".ipynb"), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = TODO.sub(lambda m: SOLUTIONS[m.group(1)], cell.source)
    _execute(nb, tmp_path, runs_dir, monkeypatch)
    board = _text(nb.cells[[i for i, c in enumerate(nb.cells) if "lab.scoreboard()" in c.source][0]])
    assert "9 of 9 checkpoints passed" in board, board
