r"""The 90-minute lab (``book/lab.md``): its fixed inputs, its small training profile and its checkpoints.

Every checkpoint takes the student's answer and computes the expected value itself, from the same
inputs, with the package (:func:`gkl.kl_div`, :func:`gkl.dkl_parts`, :func:`gkl.toy.term_gradients`,
:func:`gkl.toy.hessian_spectrum`, :func:`gkl.experiments.stats.paired_difference`): the lab sheet never
holds a hard-coded expected number, and the answer printed beside a checked value is the package's.
A checkpoint returns a :class:`Check`, shown as one line:

* ``☐`` not done yet (the answer is still ``None``): says what to set and the tolerance, not the value;
* ``✓`` passed, with the expected value and the tolerance;
* ``✗`` failed, with the expected value, the tolerance and what differed.

:func:`scoreboard` lists the last result of every checkpoint run in this session. The reference
answers (the instructor's solutions) are in ``tests/test_lab.py``, which runs every checkpoint with
them, and with wrong answers, so a checkpoint that cannot fail is caught.

The distillation of the lab (:func:`lab_profile`) is the book's ``cpu`` profile at the configurations
of its recorded tuning sweep, KD and GKL only, shortened to :data:`LAB_EPOCHS` epochs with the seeds
:data:`LAB_SEEDS`: about a minute on two CPU cores. With ``GKL_SMOKE`` set it is the smoke profile
(:mod:`gkl.experiments.smoke`: one epoch, two seeds), which checks that the lab runs and no more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["LAB_TEMPERATURE", "LAB_EPOCHS", "LAB_SEEDS", "LAB_GAMMAS", "SEED_COUNTS", "EFFECT", "REL_TOL",
           "Check", "lab_logits", "lab_profile", "plan", "recorded_accuracies",
           "check_teacher_entropy", "check_gradients", "check_sides", "check_best_gamma", "check_speedup",
           "check_paired_difference", "check_detectable", "check_seeds_needed", "scoreboard"]

#: The temperature of tasks 1 and 2.
LAB_TEMPERATURE = 4.0
#: The epochs of every student of task 4 (the chapter's tuned budget is longer; this is a lab).
LAB_EPOCHS = 20
#: The seeds of task 4 (smoke runs keep the first two).
LAB_SEEDS = (0, 1, 2, 3, 4)
#: The values of :math:`\gamma` compared in task 3.
LAB_GAMMAS = (1.0, 0.5, 0.2, 0.1, 0.0)
#: The numbers of seeds compared in task 5.
SEED_COUNTS = (3, 5, 10, 20, 30)
#: The effect size task 4 asks about: half a top-1 point (the paper reports CIFAR-100 gains of
#: about 0.2–1 point; reported, not measured here), as a fraction.
EFFECT = 0.005
#: Relative tolerance of computed numbers (float32 arithmetic passes, a wrong formula does not).
REL_TOL = 1e-5

_RESULTS: dict[str, "Check"] = {}
_MARK = {"todo": "☐", "pass": "✓", "fail": "✗"}


@dataclass(frozen=True)
class Check:
    """The result of one checkpoint: ``status`` is ``"todo"``, ``"pass"`` or ``"fail"``."""

    name: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def __str__(self) -> str:
        return f"{_MARK[self.status]} {self.name}: {self.message}"

    __repr__ = __str__


def _record(name: str, status: str, message: str) -> Check:
    check = Check(name, status, message)
    _RESULTS[name] = check
    return check


def _todo(name: str, what: str, tolerance: str) -> Check:
    return _record(name, "todo", f"not done yet — set {what}; it will be checked {tolerance}.")


def _close(a: float, b: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=REL_TOL, abs_tol=1e-12)


def _number(name: str, answer: Any, expected: float, what: str) -> Check:
    tol = f"to a relative tolerance of {REL_TOL:g}"
    if answer is None:
        return _todo(name, what, tol)
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return _record(name, "fail", f"expected a number, got {type(answer).__name__}; expected {expected:.6g} ({tol}).")
    status = "pass" if _close(value, expected) else "fail"
    return _record(name, status, f"your {value:.6g}, expected {expected:.6g} ({tol}).")


def lab_logits(batch: int = 8, classes: int = 10, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``(student, teacher)``: the lab's fixed batch of logits, float64, ``(batch, classes)`` each; the
    teacher's are three times as spread (a confident teacher), the student's standard normal."""
    g = torch.Generator().manual_seed(seed)
    student = torch.randn(batch, classes, generator=g, dtype=torch.float64)
    teacher = 3.0 * torch.randn(batch, classes, generator=g, dtype=torch.float64)
    return student, teacher


def check_teacher_entropy(answer: Any, student: Tensor, teacher: Tensor, temperature: float = LAB_TEMPERATURE) -> Check:
    r"""Checkpoint 1a: the batch mean of the teacher's entropy :math:`H(s_m)`, :math:`s_m = \mathrm{softmax}(o_m/T)`.

    Expected: :math:`\mathrm{CE} - \mathrm{KL}` from :func:`gkl.dkl_parts` and :func:`gkl.kl_div`, since
    :math:`\mathrm{KL} = \mathrm{CE}(s_m, s_n) - H(s_m)`."""
    from gkl import dkl_parts, kl_div

    expected = float(dkl_parts(student, teacher, temperature).ce - kl_div(student, teacher, temperature))
    return _number("Checkpoint 1a (teacher entropy)", answer, expected, "H to a float")


def check_gradients(answer: Any, student: Tensor, teacher: Tensor, temperature: float = LAB_TEMPERATURE) -> Check:
    """Checkpoint 1b: ``answer = (grad of the CE in the student logits, grad of the wMSE in the teacher
    logits)``, each shaped like the logits; expected: KL's own gradients on those sides
    (:func:`gkl.kl_div`, by autograd) — the decoupling theorem, side by side."""
    from gkl import kl_div
    from gkl.derivations import autograd_gradients

    name, tol = "Checkpoint 1b (gradients)", f"against KL's gradients, to a relative tolerance of {REL_TOL:g} of their largest entry"
    if answer is None:
        return _todo(name, "grads to a pair (CE gradient on the student, wMSE gradient on the teacher)", tol)
    ks, kt = autograd_gradients(lambda s, t: kl_div(s, t, temperature), student, teacher)
    try:
        gs, gt = (torch.as_tensor(a, dtype=torch.float64) for a in answer)
    except (TypeError, ValueError) as err:
        return _record(name, "fail", f"expected a pair of tensors ({err}).")
    if gs.shape != ks.shape or gt.shape != kt.shape:
        return _record(name, "fail", f"expected two tensors of shape {tuple(ks.shape)}, got {tuple(gs.shape)} and {tuple(gt.shape)}.")
    errs = [float((g - k).abs().max() / k.abs().max()) for g, k in ((gs, ks), (gt, kt))]
    ok = max(errs) <= REL_TOL
    return _record(name, "pass" if ok else "fail",
                   f"largest relative difference from KL's student gradient {errs[0]:.1e}, from its teacher gradient "
                   f"{errs[1]:.1e} ({tol}).")


_SIDES = ("teacher", "student", "both", "neither")


def _moves(g: Mapping[str, Tensor], term: str) -> str:
    live = [side for side in ("teacher", "student") if float(g[f"{term}_{side}"].abs().max()) > 1e-12]
    return {0: "neither", 1: live[0] if live else "neither", 2: "both"}[len(live)]


def check_sides(answer: Any, student: Tensor, teacher: Tensor, decoupled: str = "dkl",
                temperatures: Sequence[float] = (1.0, LAB_TEMPERATURE)) -> Check:
    """Checkpoint 2: ``answer = {"wmse": side, "ce": side}``, each side one of ``"teacher"``,
    ``"student"``, ``"both"``, ``"neither"``: which logits each term's gradient moves, for ``decoupled``
    (``"dkl"``: KL's own terms; ``"gkl"``: GKL with :math:`\\gamma = 1`, i.e. IKL without a prior), at every
    temperature of ``temperatures``. Expected: the non-zero gradients of :func:`gkl.toy.term_gradients`
    on the batch ``(student, teacher)``."""
    from gkl import toy

    name = f"Checkpoint 2 ({decoupled.upper()}: which side each term moves)"
    tol = f"at T = {' and '.join(f'{t:g}' for t in temperatures)}; a gradient counts when an entry exceeds 1e-12"
    if answer is None:
        return _todo(name, 'sides to {"wmse": ..., "ce": ...} with "teacher", "student", "both" or "neither"', tol)
    per_t = [toy.term_gradients(student, teacher, decoupled, temperature=t) for t in temperatures]
    expected = {term: _moves(per_t[0], term) for term in ("wmse", "ce")}
    if any({term: _moves(g, term) for term in expected} != expected for g in per_t[1:]):
        raise AssertionError("the sides changed with the temperature")  # the theory says they never do
    if not isinstance(answer, Mapping) or set(answer) != set(expected) or any(v not in _SIDES for v in answer.values()):
        return _record(name, "fail", f'expected a dict {{"wmse": side, "ce": side}} with sides from {_SIDES}; expected {expected} ({tol}).')
    wrong = [term for term in expected if answer[term] != expected[term]]
    return _record(name, "fail" if wrong else "pass",
                   f"expected {expected} ({tol})" + (f"; wrong for {', '.join(wrong)}." if wrong else "."))


def _spectrum(teacher: Tensor, gammas: Sequence[float], temperature: float) -> list[dict[str, float]]:
    from gkl import toy

    return toy.hessian_spectrum(F.softmax(toy.as_logit_vector(teacher, "teacher") / temperature, 0), gammas)


def check_best_gamma(answer: Any, teacher: Tensor, gammas: Sequence[float] = LAB_GAMMAS, temperature: float = 1.0) -> Check:
    r"""Checkpoint 3a: the :math:`\gamma` among ``gammas`` whose wMSE Hessian has the **largest** smallest
    non-zero eigenvalue (the fastest slowest mode), for the one-sample ``teacher`` logits. Expected:
    :func:`gkl.toy.hessian_spectrum` of :math:`\mathrm{softmax}(o_m/T)`."""
    rows = _spectrum(teacher, gammas, temperature)
    best = max(rows, key=lambda r: r["lambda_min"])["gamma"]
    name, tol = "Checkpoint 3a (fastest slowest mode)", f"exactly, among γ in {list(gammas)}"
    if answer is None:
        return _todo(name, "best_gamma to one of the γ values", tol)
    try:
        ok = float(answer) == best
    except (TypeError, ValueError):
        ok = False
    return _record(name, "pass" if ok else "fail", f"your {answer!r}, expected γ = {best:g} ({tol}).")


def check_speedup(answer: Any, teacher: Tensor, temperature: float = 1.0) -> Check:
    r"""Checkpoint 3b: how many times larger the smallest non-zero eigenvalue is at :math:`\gamma = 0`
    than at :math:`\gamma = 1` (:func:`gkl.toy.hessian_spectrum`), for the one-sample ``teacher`` logits."""
    one, zero = _spectrum(teacher, (1.0, 0.0), temperature)
    return _number("Checkpoint 3b (speed-up of the slowest mode)", answer, zero["lambda_min"] / one["lambda_min"],
                   "speedup to a float")


def lab_profile(epochs: int = LAB_EPOCHS, seeds: Sequence[int] = LAB_SEEDS) -> Any:
    """Task 4's profile: the ``cpu`` distillation profile at its recorded sweep's configurations
    (:func:`gkl.experiments.distill.tuned_profile`), KD and GKL only, ``epochs`` epochs, ``seeds``,
    named ``mnist1d-lab`` (its own cache folder); with ``GKL_SMOKE`` set, the smoke profile (one
    epoch, the first two seeds) named ``mnist1d-lab-smoke``."""
    from gkl.experiments import smoke
    from gkl.experiments.distill import tuned_profile

    base = tuned_profile("cpu", seeds=tuple(seeds))  # shrunk to a smoke run when GKL_SMOKE is set
    methods = {m: base.methods[m] for m in ("kd", "gkl")}
    if smoke.enabled():
        return base.replace(name="mnist1d-lab-smoke", methods=methods)
    return base.replace(name="mnist1d-lab", methods=methods).with_epochs(epochs)


def plan(profile: Any) -> str:
    """One Markdown sentence: what task 4 trains."""
    return (f"Task 4 trains **KD and GKL** students ({profile.student_arch} {dict(profile.student_kwargs)}) on "
            f"{profile.train_subset or 'all'} `{profile.dataset}` training samples for **{profile.train['epochs']} "
            f"epoch(s)** with seeds {list(profile.seeds)} ({len(profile.methods) * len(profile.seeds)} runs), each "
            f"method at the configuration of the recorded tuning sweep; the teacher is trained once and cached.")


def _expected_diff(results: Mapping[str, Sequence[Any]], seeds: Sequence[int]) -> Any:
    from gkl.experiments.stats import paired_difference

    kd = dict(zip(seeds, (float(r.history[-1]["test_acc"]) for r in results["kd"])))  # a run's .test_acc
    gk = dict(zip(seeds, (float(r.history[-1]["test_acc"]) for r in results["gkl"])))
    return paired_difference(kd, gk, "KD", "GKL")


def check_paired_difference(answer: Any, results: Mapping[str, Sequence[Any]], seeds: Sequence[int]) -> Check:
    """Checkpoint 4a: ``answer`` is the paired difference GKL − KD of the last-epoch test accuracies, a
    :class:`~gkl.experiments.stats.PairedDifference` (``paired_difference(kd, gkl, "KD", "GKL")`` with
    ``{seed: accuracy}`` dicts). Expected: the same, computed from ``results`` (a value of
    :func:`gkl.experiments.distill.run_grid`, runs in the order of ``seeds``)."""
    name, tol = "Checkpoint 4a (paired difference GKL − KD)", f"mean, interval and MDE to a relative tolerance of {REL_TOL:g}"
    if answer is None:
        return _todo(name, "diff to paired_difference(kd, gkl, \"KD\", \"GKL\")", tol)
    exp = _expected_diff(results, seeds)
    fields = ("n", "mean", "low", "high", "mde")
    if not all(hasattr(answer, f) for f in fields):
        return _record(name, "fail", f"expected a PairedDifference, got {type(answer).__name__}; expected: {exp.sentence()} ({tol}).")
    wrong = [f for f in fields if (getattr(answer, f) is None) != (getattr(exp, f) is None)
             or (getattr(exp, f) is not None and not _close(getattr(answer, f), getattr(exp, f)))]
    hint = " (is it GKL − KD, over every seed?)" if {"mean", "n"} & set(wrong) else ""
    return _record(name, "fail" if wrong else "pass", f"expected: {exp.sentence()} ({tol})"
                   + (f"; yours differs in {', '.join(wrong)}{hint}." if wrong else "."))


def check_detectable(answer: Any, results: Mapping[str, Sequence[Any]], seeds: Sequence[int], effect: float = EFFECT) -> Check:
    """Checkpoint 4b: ``answer`` (``True``/``False``): would this comparison detect, with 80 % power, a
    true difference of ``effect`` (a fraction; :data:`EFFECT` is half a point)? Expected: whether the
    minimum detectable effect of the paired difference is at most ``effect`` (no MDE, as with fewer
    than three seeds: ``False``)."""
    exp = _expected_diff(results, seeds)
    name, tol = f"Checkpoint 4b (can it detect {100 * effect:g} points?)", "exactly (True or False)"
    if answer is None:
        return _todo(name, "detects to True or False", tol)
    expected = exp.mde is not None and exp.mde <= effect
    why = (f"MDE {exp.mde_text(100, 2)} points" if exp.mde is not None else "no MDE (too few seeds)")
    ok = isinstance(answer, bool) and answer == expected
    return _record(name, "pass" if ok else "fail", f"your {answer!r}, expected {expected} ({why}; {tol}).")


def recorded_accuracies(record: str = "distill-power-cpu") -> dict[str, dict[int, float]]:
    """``{method: {seed: test accuracy}}`` of the recorded full-power run (every method of the ``cpu``
    profile at its tuned budget, each student on the same 10,000 unseen test points; read from the
    record, nothing is trained)."""
    from gkl.experiments.record import read_record

    rows = read_record(record)["rows"]
    out: dict[str, dict[int, float]] = {}
    for r in rows:
        out.setdefault(r["method"], {})[int(r["seed"])] = float(r["test_acc"])
    return out


def check_seeds_needed(answer: Any, counts: Sequence[int] = SEED_COUNTS, record: str = "distill-power-cpu") -> Check:
    """Checkpoint 5: the smallest number of seeds among ``counts`` at which the paired difference GKL − KD
    over the record's first ``n`` seeds (:func:`recorded_accuracies`) reaches a verdict ("ahead" or
    "behind"); ``None`` in the expected value means none of ``counts`` does."""
    from gkl.experiments.stats import paired_difference

    acc = recorded_accuracies(record)
    verdicts = {n: paired_difference({s: acc["kd"][s] for s in range(n)}, {s: acc["gkl"][s] for s in range(n)}).verdict
                for n in counts}
    expected = next((n for n in counts if verdicts[n] in ("ahead", "behind")), None)
    name, tol = "Checkpoint 5 (seeds needed for a verdict)", f"exactly, among n in {list(counts)}"
    if answer is None:
        return _todo(name, "seeds_needed to one of the counts", tol)
    ok = answer == expected
    return _record(name, "pass" if ok else "fail",
                   f"your {answer!r}, expected {expected} (verdict at n = {expected}: {verdicts.get(expected, '—')}; {tol}).")


def scoreboard() -> str:
    """One line per checkpoint run in this session (its last result), and the count passed."""
    lines = [str(c) for _, c in sorted(_RESULTS.items())]
    passed = sum(c.passed for c in _RESULTS.values())
    return "\n".join(lines + [f"{passed} of {len(_RESULTS)} checkpoints passed."])
