#!/usr/bin/env python3
"""Mutation testing: does the fast test suite notice a one-line bug in the core of the package?

Each mutant below is one small source change of the kind that slips through review (an operator
swapped, a clamp or a ``detach`` dropped, two arguments swapped, a constant changed) in the loss core
(``gkl/core``), the attacks (``gkl/attacks``) or the methods (``gkl/methods/adversarial``,
``gkl/methods/distill``).  A mutant is found by its source text, which must occur exactly once in
exactly one file of ``gkl/**/*.py``, so code can move between files without editing this list (the
path given with each mutant is only its label); a snippet found nowhere or more than once is an
error and nothing runs (``--check`` lists them).  Its tests are those of the area of the file it is
found in (``TESTS``: the longest matching folder or file prefix; else the label's area).  For each mutant:

1. a temporary copy of the repository's ``gkl/`` and ``tests/`` (and ``pyproject.toml``, for pytest's
   settings) is mutated -- the real files are never edited, so it is safe while others work in the
   tree; the copy is first on ``PYTHONPATH`` and is pytest's root, so its ``gkl`` shadows the
   editable install (checked before anything runs);
2. the tests of its area run with ``-x -q -p no:cacheprovider``;
3. the mutant is **killed** if they fail (or crash, or time out) and **survives** if they pass.

A survivor is a bug the tests would let through -- or an equivalent mutant (a change that cannot alter
behaviour); each one is worth a look.  The unmutated tests of each area run first: if they fail, that
area's mutants are not run.  Usage (on demand, not in CI; about 15 minutes on 2 cores)::

    make mutants                                   # or: .venv/bin/python tools/mutants.py
    .venv/bin/python tools/mutants.py --only losses   # mutants whose id or label contains "losses"
    .venv/bin/python tools/mutants.py --list          # print the mutants and where each is found, run nothing
    .venv/bin/python tools/mutants.py --check         # exit 2 unless every snippet is found exactly once

Exit status: 0 when every mutant that ran was killed, 1 when some survived, 2 on a setup error (a
snippet not found exactly once, a file with no tests, a copy that does not shadow the install).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The fast tests of each area, by folder or file under ``gkl/`` (longest match wins; ``-k`` leaves out the slowest).
_DISTILL_TESTS = ["tests/test_distill_methods.py", "tests/test_distill_training.py", "tests/test_distill_experiments.py",
                  "tests/test_cli.py::test_cli_distill_and_errors", "tests/test_cli.py::test_cli_help_states_the_ikl_defaults",
                  "tests/test_method_contract.py", "-k", "not parallel_grid and not gpu_profile"]
TESTS: dict[str, list[str]] = {
    "gkl/core": ["tests/test_losses.py", "tests/test_losses_properties.py"],
    "gkl/core/prior.py": ["tests/test_prior.py", "tests/test_prior_distributed.py"],
    "gkl/core/dkd.py": _DISTILL_TESTS,  # DKD's loss is tested with its distiller
    "gkl/attacks": ["tests/test_attacks.py"],
    "gkl/methods/adversarial": ["tests/test_adversarial.py", "tests/test_released_recipe.py", "tests/test_method_contract.py"],
    "gkl/methods/distill": _DISTILL_TESTS,
}


@dataclass(frozen=True)
class Mutant:
    path: str   # label: the area (folder or file under gkl/) the mutant belongs to; not where it is looked for
    old: str    # exact source text; must occur exactly once in exactly one file of gkl/**/*.py
    new: str    # what replaces it
    kind: str   # operator | clamp | detach | args | constant | dropped
    what: str   # the bug, in words


M = Mutant
MUTANTS: list[Mutant] = [
    # ---------------------------------------------------------------- gkl/core: losses, fused GKL backward
    M("gkl/core/losses.py", "return 2.0 * vsum.squeeze(1) * (v * (d - dbar).square())",
      "return 1.0 * vsum.squeeze(1) * (v * (d - dbar).square())", "constant", "pairwise_sq_sum: factor 2 -> 1"),
    M("gkl/core/losses.py", "(v * (d - dbar).square())", "(v * (d + dbar).square())", "operator",
      "pairwise_sq_sum: centre with + instead of -"),
    M("gkl/core/losses.py", "/ vsum.clamp_min(torch.finfo(v.dtype).tiny)  # weighted mean of d", "/ vsum  # weighted mean of d",
      "clamp", "pairwise_sq_sum: no clamp of an all-zero weight row"),
    M("gkl/core/losses.py", "target = F.softmax(teacher.detach() / temperature, dim=1)",
      "target = F.softmax(teacher / temperature, dim=1)", "detach", "soft-label CE: the target is not detached"),
    M("gkl/core/losses.py", "log_t = F.log_softmax(t / T, dim=1)", "log_t = F.log_softmax(t, dim=1)", "dropped",
      "kl_div: teacher not divided by T"),
    M("gkl/core/losses.py", "F.kl_div(log_s, log_t, reduction=\"sum\", log_target=True)",
      "F.kl_div(log_t, log_s, reduction=\"sum\", log_target=True)", "args", "kl_div: KL(s_n || s_m), arguments swapped"),
    M("gkl/core/losses.py", "log_target=True) / s.shape[0]", "log_target=True) / s.shape[1]", "constant",
      "kl_div: divided by C instead of B"),
    M("gkl/core/losses.py", "w = F.softmax(zm, dim=1).detach()  # S(s_m)", "w = F.softmax(zm, dim=1)  # S(s_m)", "detach",
      "dkl: the weights carry a gradient"),
    M("gkl/core/losses.py", "d = zm - zn.detach()  # Δm - S(Δn)", "d = zm - zn  # Δm - S(Δn)", "detach",
      "dkl: the wMSE reaches the student (asymmetry lost)"),
    M("gkl/core/losses.py", "wmse = 0.25 * pairwise_sq_sum(d, w).mean()", "wmse = 0.5 * pairwise_sq_sum(d, w).mean()",
      "constant", "dkl: wMSE factor 1/4 -> 1/2"),
    M("gkl/core/losses.py", "return beta * self.wmse + alpha * self.ce", "return alpha * self.wmse + beta * self.ce",
      "args", "LossParts.total: alpha and beta swapped"),
    M("gkl/core/losses.py", "c = z.sub_(q.sum(dim=1, keepdim=True).div_(V2))", "c = z.add_(q.sum(dim=1, keepdim=True).div_(V2))",
      "operator", "fused GKL: centre with + instead of -"),
    M("gkl/core/losses.py", "torch.div(num, W).mul_(0.5 * T * T)", "torch.div(num, W).mul_(0.25 * T * T)",
      "constant", "fused GKL parts: wMSE factor 1/2 -> 1/4"),
    M("gkl/core/losses.py", "num, W, value=0.5 * T * T * beta)", "num, W, value=0.5 * T * T * alpha)", "args",
      "fused GKL total: the wMSE weighted by alpha"),
    M("gkl/core/losses.py", "v = pt if gamma == 1.0 else log_pt.mul_(gamma).exp_()",
      "v = pt if gamma == 1.0 else log_pt.exp_()", "dropped", "fused GKL: per-sample weights ignore gamma"),
    M("gkl/core/losses.py", "v = F.log_softmax(t / T2, dim=1)", "v = F.log_softmax(t / T, dim=1)", "args",
      "fused GKL: weights at T instead of T2"),
    M("gkl/core/losses.py", "V2 = V2.clamp_min_(torch.finfo(V2.dtype).tiny)", "V2 = V2",
      "clamp", "fused GKL: no clamp of an all-zero weight row (0/0)"),
    M("gkl/core/losses.py", "k_c / (T * ctx.B)", "k_c / ctx.B", "dropped", "fused GKL backward: CE gradient misses 1/T"),
    M("gkl/core/losses.py", "g_s.addcmul_(q, g_w, value=-k_w)", "g_s.addcmul_(q, g_w, value=k_w)", "operator",
      "fused GKL backward: wrong sign of the wMSE gradient to the student"),
    M("gkl/core/losses.py", "g_t = q * (g_w * k_w)", "g_t = q * (g_w * -k_w)", "operator",
      "fused GKL backward: wrong sign of the teacher gradient"),
    M("gkl/core/losses.py", "w, V2 = _scaled(P.pow(gamma))", "w, V2 = _scaled(P.pow(1.0))", "constant",
      "cached prior table ignores gamma"),
    M("gkl/core/losses.py", "if entry is not None and entry.version == version and entry.ref() is prior:",
      "if entry is not None and entry.ref() is prior:", "dropped", "prior cache ignores in-place changes"),
    M("gkl/core/losses.py", "targets, g, s.dtype)", "targets, 1.0, s.dtype)", "constant", "gkl with a prior ignores gamma"),
    M("gkl/core/losses.py", "(g_w, g_c), k_w, k_c = grads, T, 1.0", "(g_w, g_c), k_w, k_c = grads, 1.0, 1.0", "dropped",
      "fused GKL parts backward: wMSE gradient misses T"),
    # ---------------------------------------------------------------- gkl/core: class prior
    M("gkl/core/prior.py", "/ self.temperature, dim=1)", "* self.temperature, dim=1)", "operator",
      "ClassPrior.update: logits times T"),
    M("gkl/core/prior.py", "self._sums.index_add_(0, targets, probs)", "self._sums.index_add_(0, targets.flip(0), probs)",
      "args", "ClassPrior.update: soft labels added to other samples' classes"),
    M("gkl/core/prior.py", "uniform = torch.full_like(sums, 1.0 / self.num_classes)", "uniform = torch.full_like(sums, 1.0)",
      "constant", "ClassPrior.compute: an unseen class's row sums to C, not 1"),
    M("gkl/core/prior.py", "seen = counts > 0", "seen = counts >= 0", "operator",
      "ClassPrior.compute: an unseen class gets a zero row, not a uniform one"),
    M("gkl/core/prior.py", "            dist.all_reduce(counts)\n", "", "dropped",
      "ClassPrior.compute: counts not all-reduced"),
    M("gkl/core/prior.py", "sums, counts = sums.clone(), counts.clone()  # reduce copies",
      "pass  # reduce copies", "dropped", "ClassPrior.compute: all-reduce in place (double counts)"),
    M("gkl/core/prior.py", "        self.current = self.compute().to(self._sums.device)\n        self.reset()",
      "        self.current = self.compute().to(self._sums.device)", "dropped",
      "ClassPrior.roll: statistics not reset"),
    # ---------------------------------------------------------------- gkl/attacks
    M("gkl/attacks", "return delta.clamp(-eps, eps)", "return delta", "clamp", "L-inf projection dropped"),
    M("gkl/attacks", "(eps / flat).clamp(max=1.0)", "(eps / flat)", "clamp",
      "L2 projection scales every point onto the sphere"),
    M("gkl/attacks", "return grad.sign()", "return -grad.sign()", "operator", "L-inf step descends"),
    M("gkl/attacks", "uniform_(-eps, eps)", "uniform_(-2 * eps, 2 * eps)", "constant", "random start outside the ball"),
    M("gkl/attacks", "a = 2.5 * eps / max(steps, 1)", "a = 0.25 * eps / max(steps, 1)", "constant",
      "PGD default step 10x too small"),
    M("gkl/attacks", "xa = (x + _project(xa.detach() + a * _ascent(grad, norm) - x, eps, norm)).clamp(0, 1)",
      "xa = (x + _project(xa.detach() + a * _ascent(grad, norm) - x, eps, norm))", "clamp",
      "PGD step leaves the [0, 1] box"),
    M("gkl/attacks", "wrong = (logits.argmax(1) != y) & ~fooled", "wrong = (logits.argmax(1) == y) & ~fooled",
      "operator", "PGD keeps correctly classified iterates as the worst case"),
    M("gkl/attacks", "return best if keep_worst else xa.detach()", "return xa.detach()", "dropped",
      "PGD returns the last iterate, not the per-point worst"),
    M("gkl/attacks", "a = eps / 4 if step_size is None", "a = eps / 40 if step_size is None", "constant",
      "TRADES default step 10x too small"),
    M("gkl/attacks", "xa = (x + 0.001 * torch.randn_like(x)).clamp(0, 1)", "xa = x.clone()", "dropped",
      "TRADES starts exactly at x (zero gradient of the divergence)"),
    M("gkl/attacks", "            robust[idx[fooled]] = False\n", "", "dropped", "worst case: a broken point stays robust"),
    M("gkl/attacks", "return (x + _project(xa - x, eps, norm)).clamp(0, 1)", "return x + _project(xa - x, eps, norm)",
      "clamp", "threat-model clean-up does not clamp to the box"),
    M("gkl/attacks", "worst &= correct", "worst |= correct", "operator", "robust accuracy: best case, not worst"),
    M("gkl/attacks", "float(size.max()) > eps + tol", "float(size.max()) > 2 * eps + tol", "constant",
      "threat-model check allows twice the radius"),
    M("gkl/attacks", "        model.train(was)\n", "        model.train(True)\n", "constant",
      "eval_mode always restores train mode"),
    # ---------------------------------------------------------------- gkl/methods/adversarial (AT objectives)
    M("gkl/methods/adversarial", "F.softmax(teacher_logits.detach(), dim=1) * F.log_softmax(student_logits, dim=1)",
      "F.softmax(teacher_logits, dim=1) * F.log_softmax(student_logits, dim=1)", "detach",
      "soft_label_ce: the clean target is not detached"),
    M("gkl/methods/adversarial", "c.beta * kl_div(adv_logits, clean_logits)", "c.beta * kl_div(clean_logits, adv_logits)",
      "args", "TRADES: KL arguments swapped"),
    M("gkl/methods/adversarial", "return config.gamma", "return 1.0", "dropped",
      "GKL ignores its gamma (uses IKL's 1)"),
    M("gkl/methods/adversarial", "{\"robust_ce\": c.alpha * parts.ce, \"robust_wmse\": c.beta * parts.wmse}",
      "{\"robust_ce\": c.beta * parts.ce, \"robust_wmse\": c.alpha * parts.wmse}", "args",
      "AT terms: alpha and beta swapped"),
    M("gkl/methods/adversarial", "targets if prior is not None else None, prior, gamma=gamma",
      "None, None, gamma=gamma", "dropped", "AT objective ignores the class prior"),
    M("gkl/methods/adversarial", "prior, gamma=1.0,", "prior, gamma=0.0,",
      "constant", "released CIFAR-100 attack loss with gamma 0"),
    M("gkl/methods/adversarial", "        return soft_label_ce\n",
      "        return lambda adv, clean: soft_label_ce(clean, adv)\n", "args",
      "released CIFAR-10 attack loss: arguments swapped"),
    M("gkl/methods/adversarial", "self.observe(clean_logits.detach(), targets)", "self.observe(adv_logits.detach(), targets)",
      "args", "class prior collected from adversarial logits"),
    M("gkl/methods/adversarial", "out = {\"natural\": F.cross_entropy(clean_logits, targets)}",
      "out = {\"natural\": F.cross_entropy(adv_logits, targets)}", "args", "natural CE on adversarial logits"),
    M("gkl/methods/adversarial", "step_size = c.step_ratio * eps", "step_size = c.step_ratio", "dropped",
      "training attack step not scaled by epsilon"),
    M("gkl/methods/adversarial", "frac = min(1.0, (ctx.step + 1) /", "frac = min(1.0, ctx.step /", "constant",
      "epsilon ramp off by one step"),
    M("gkl/methods/adversarial", "return c.epsilon * ctx.epoch / ctx.epochs, c.attack_steps",
      "return c.epsilon * (ctx.epoch - 1) / ctx.epochs, c.attack_steps", "constant",
      "released linear epsilon schedule off by one epoch"),
    M("gkl/methods/adversarial", "        if self.prior is not None:  # epoch-ahead: this epoch's clean logits weight the next epoch\n"
      "            self.prior.roll()",
      "        if self.prior is not None:  # epoch-ahead: this epoch's clean logits weight the next epoch\n"
      "            self.prior.compute()", "dropped", "AT class prior never rolls"),
    M("gkl/methods/adversarial", "eps = c.epsilon if c.eval_epsilon is None else c.eval_epsilon", "eps = c.epsilon",
      "dropped", "evaluation ignores eval_epsilon"),
    # ---------------------------------------------------------------- gkl/methods/distill (KD objectives, DKD's loss)
    M("gkl/methods/distill", "self.config.kd_weight * T * T * kl_div(", "self.config.kd_weight * T * kl_div(", "constant",
      "KD: T instead of T^2"),
    M("gkl/methods/distill", "kl_div(student_logits, teacher_logits, T)", "kl_div(teacher_logits, student_logits, T)", "args",
      "KD: KL arguments swapped"),
    M("gkl/methods/distill", "zt = teacher_logits.detach().float() / T", "zt = teacher_logits.detach().float()", "dropped",
      "DKD: teacher not divided by T"),
    M("gkl/methods/distill", "lt_nt.exp() * (lt_nt - ls_nt)).mean() * T * T", "lt_nt.exp() * (lt_nt - ls_nt)).mean() * T",
      "constant", "DKD: TCKD times T instead of T^2"),
    M("gkl/methods/distill", "return log_pt, lse_nt - lse_all", "return log_pt, lse_all - lse_nt", "operator",
      "DKD: log(1 - p_y) with the wrong sign"),
    M("gkl/methods/distill", "{\"tckd\": w * c.alpha * tckd, \"nckd\": w * c.beta * nckd}",
      "{\"tckd\": w * c.beta * tckd, \"nckd\": w * c.alpha * nckd}", "args", "DKD: alpha and beta swapped"),
    M("gkl/methods/distill", "return min(max(float(epoch), 0.0) / float(warmup), 1.0)",
      "return min(max(float(epoch - 1), 0.0) / float(warmup), 1.0)", "constant", "warm-up off by one epoch"),
    M("gkl/methods/distill", "            if training:\n                self.prior.update(teacher_logits, targets)",
      "            if not training:\n                self.prior.update(teacher_logits, targets)", "operator",
      "GKL KD: prior collected during evaluation only"),
    M("gkl/methods/distill", "prior = self.prior.current.to(student_logits.device)",
      "prior = self.prior.compute().to(student_logits.device)", "args",
      "GKL KD: this epoch's running prior used (not the previous epoch's)"),
    M("gkl/methods/distill", "prior, self.gamma, c.temperature, c.weight_temperature)",
      "prior, self.gamma, c.weight_temperature, c.temperature)", "args", "GKL KD: T and T2 swapped"),
    M("gkl/methods/distill", "{\"kd_ce\": w * c.alpha * parts.ce, \"kd_wmse\": w * c.beta * parts.wmse}",
      "{\"kd_ce\": w * c.beta * parts.ce, \"kd_wmse\": w * c.alpha * parts.wmse}", "args",
      "GKL KD: alpha and beta swapped"),
    M("gkl/methods/distill", "        if self.teacher is not None:\n            self.teacher.eval()\n        return self",
      "        if self.teacher is not None:\n            self.teacher.train(mode)\n        return self", "args",
      "Distiller.train puts the teacher in train mode"),
    M("gkl/methods/distill", "self.config.ce_weight * F.cross_entropy(logits, targets)", "F.cross_entropy(logits, targets)",
      "dropped", "distillers ignore ce_weight"),
    M("gkl/methods/distill", "        if self.prior is not None:\n            self.prior.roll()",
      "        if self.prior is not None:\n            self.prior.compute()", "dropped", "GKL KD: the prior never rolls"),
]


def mutant_ids(mutants: list[Mutant]) -> list[str]:
    """``losses-01``, ``losses-02``, ... numbered per label."""
    ids, count = [], {}
    for m in mutants:
        stem = Path(m.path).stem
        count[stem] = count.get(stem, 0) + 1
        ids.append(f"{stem}-{count[stem]:02d}")
    return ids


def read_sources(root: Path) -> dict[str, str]:
    """``gkl/**/*.py`` under ``root``: path relative to ``root`` (``/``-separated) -> text."""
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted((root / "gkl").rglob("*.py")) if "__pycache__" not in p.parts}


def area(path: str) -> str | None:
    """The longest key of ``TESTS`` that is ``path`` or a folder above it."""
    keys = [k for k in TESTS if path == k or path.startswith(k.rstrip("/") + "/")]
    return max(keys, key=len) if keys else None


def resolve(chosen: list[tuple[str, Mutant]], sources: dict[str, str]) -> tuple[dict[str, tuple[str, list[str]]], list[str]]:
    """Each mutant's file (the one file of ``sources`` holding its snippet, exactly once) and tests
    (the area of that file, else of its label); and the problems of those that have none."""
    where: dict[str, tuple[str, list[str]]] = {}
    problems = []
    for i, m in chosen:
        hits = {path: text.count(m.old) for path, text in sources.items() if m.old in text}
        if len(hits) != 1 or sum(hits.values()) != 1:
            found = ", ".join(f"{n}x in {p}" for p, n in sorted(hits.items())) or "in no file of gkl/"
            problems.append(f"{i} ({m.what}): source text found {found}")
            continue
        path = next(iter(hits))
        key = area(path) or area(m.path)
        if key is None:
            problems.append(f"{i} ({m.what}): found in {path}, which no key of TESTS covers")
        else:
            where[i] = (path, TESTS[key])
    return where, problems


def make_copy(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")
    shutil.copytree(ROOT / "gkl", dest / "gkl", ignore=ignore)
    shutil.copytree(ROOT / "tests", dest / "tests", ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")


def test_env(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(copy), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutant of the same size and second must not reuse a stale .pyc
    env["HYPOTHESIS_PROFILE"] = "ci"      # derandomised: the same examples for every mutant
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_tests(copy: Path, tests: list[str], timeout: float) -> tuple[str, str, float]:
    """``(outcome, detail, seconds)``: outcome ``passed``, ``failed`` or ``timeout``."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=copy, env=test_env(copy), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", f"tests ran past {timeout:.0f} s", time.monotonic() - t0
    seconds = time.monotonic() - t0
    if proc.returncode == 0:
        return "passed", "", seconds
    out = proc.stdout + proc.stderr
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", out, re.MULTILINE)
    if failed:
        detail = failed[0]
    elif proc.returncode == 5:
        detail = "no tests ran"
    else:
        lines = [ln for ln in out.strip().splitlines() if ln.strip()]
        detail = f"exit {proc.returncode}: {lines[-1] if lines else ''}"[:160]
    return "failed", detail, seconds


def run_mutants(copy: Path, chosen: list[tuple[str, Mutant]], where: dict[str, tuple[str, list[str]]],
                timeout: float) -> list[tuple[str, Mutant, str, str]]:
    """Baselines of each group of tests, then every mutant: ``(id, mutant, status, detail)``."""
    pristine = {path: (copy / path).read_text(encoding="utf-8") for path, _ in where.values()}
    groups = sorted({tuple(tests) for _, tests in where.values()})
    print(f"mutants: {len(chosen)} mutant(s) in {', '.join(sorted(pristine))}; copy in {copy}", flush=True)
    baseline_ok = {}
    for tests in groups:
        outcome, detail, secs = run_tests(copy, list(tests), timeout)
        baseline_ok[tests] = outcome == "passed"
        print(f"baseline {' '.join(tests)}: {outcome} in {secs:.0f} s {detail}", flush=True)
    results: list[tuple[str, Mutant, str, str]] = []
    for i, m in chosen:
        path, tests = where[i]
        src = pristine[path]
        if not baseline_ok[tuple(tests)]:
            results.append((i, m, "not run", "the unmutated tests fail"))
        else:
            line = src[: src.index(m.old)].count("\n") + 1
            (copy / path).write_text(src.replace(m.old, m.new), encoding="utf-8")
            try:
                outcome, detail, secs = run_tests(copy, tests, timeout)
            finally:
                (copy / path).write_text(src, encoding="utf-8")
            status = "survived" if outcome == "passed" else "killed"
            detail = f"{path}:{line}, {secs:.0f} s" + (f", by {detail}" if detail else "")
            results.append((i, m, status, detail))
        _, _, status, detail = results[-1]
        print(f"{status.upper():9s} {i:16s} {m.what}  [{m.kind}; {detail}]", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run the mutants whose id or label contains this text")
    parser.add_argument("--list", action="store_true", help="print the mutants and the file each is found in, and exit")
    parser.add_argument("--check", action="store_true",
                        help="check that every snippet is found exactly once and has tests, and exit (2 if not)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per test run (a timeout kills the mutant)")
    args = parser.parse_args(argv)

    ids = mutant_ids(MUTANTS)
    chosen = [(i, m) for i, m in zip(ids, MUTANTS) if not args.only or args.only in i or args.only in m.path]
    if not chosen:
        print(f"mutants: nothing matches --only {args.only!r}", file=sys.stderr)
        return 2
    where, problems = resolve(chosen, read_sources(ROOT))
    if args.list:
        for i, m in chosen:
            found = f"{where[i][0]} -> {' '.join(where[i][1])}" if i in where else "NOT FOUND EXACTLY ONCE"
            print(f"{i:16s} {m.kind:9s} {found}: {m.what}")
    if problems:
        print(f"mutants: {len(problems)} mutant(s) cannot run:", *problems, sep="\n  ", file=sys.stderr)
        return 2
    if args.check:
        print(f"mutants: all {len(chosen)} snippet(s) found exactly once, each with its tests")
    if args.list or args.check:
        return 0

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # killed: still remove the temporary copy
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gkl-mutants-") as tmp:
        copy = Path(tmp)
        make_copy(copy)
        where_copy, problems = resolve(chosen, read_sources(copy))
        if problems or where_copy != where:
            print("mutants: the copy differs from the tree (edited while copying?); run again", file=sys.stderr)
            return 2
        check = subprocess.run([sys.executable, "-c", "import gkl; print(gkl.__file__)"], cwd=copy,
                               env=test_env(copy), capture_output=True, text=True)
        if not check.stdout.strip().startswith(str(copy)):
            print(f"mutants: the copy does not shadow the installed gkl ({check.stdout.strip() or check.stderr.strip()})",
                  file=sys.stderr)
            return 2
        results = run_mutants(copy, chosen, where, args.timeout)

    killed, survivors = ([r for r in results if r[2] == s] for s in ("killed", "survived"))
    ran, skipped = len(killed) + len(survivors), len(results) - len(killed) - len(survivors)
    print(f"\nmutation score: {len(killed)}/{ran} killed ({100.0 * len(killed) / max(ran, 1):.0f} %) in "
          f"{(time.monotonic() - t_start) / 60:.1f} min" + (f"; {skipped} not run (failing baseline)" if skipped else ""))
    for i, m, _, _ in survivors:
        print(f"  survivor {i}: {m.path}: {m.what}  [{m.old.strip()!r} -> {m.new.strip()!r}]")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
