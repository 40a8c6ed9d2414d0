r"""Micro-benchmark of the loss: closed form vs the pairwise (released-code) form vs ``F.kl_div``.

Run ``python -m gkl.bench --threads 1 --out benchmarks/results`` (``--help`` for sizes). For each
number of classes :math:`C` and each case it times forward + backward of

* ``gkl``          — :func:`gkl.gkl` without a class prior (per-sample weights softmax(o_m / T2)^γ);
* ``gkl_prior``    — :func:`gkl.gkl` with a class prior, as training calls it: a fixed
  :attr:`gkl.ClassPrior.current` for the whole epoch, targets in ``[0, C)``;
* ``torch_kl_div`` — ``F.kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean")``, KL as
  distillation and TRADES code usually call it;
* ``torch_kl_div_log`` — the same with a log-probability target (``log_target=True``), the faster call;
* ``pairwise``     — :func:`pairwise_gkl`, GKL (no prior) built from ``(B, C, C)`` tensors of logit
  differences, the way the released code computes it (O(B·C²) time and memory);

all at temperature T = 4 (GKL: γ = 0.2, T2 = 4, α = 1, β = 4). Two cases: ``kd`` (distillation: the
teacher logits are detached, only the student's get a gradient) and ``at`` (adversarial training:
both logit tensors get one).

**How it times.** After a warm-up (which also lets :func:`gkl.gkl` check and raise the prior to γ
once, as it does once per epoch in training), every repeat is one round of one call per
implementation, in an order rotated by one place each round, so that drifts of the machine and the
caches left by the previous call hit all of them alike. The pairwise form is timed in its own loop
after the others (it is slow, and its memory traffic would slow the call after it). Reported: the
median and the quartiles of each implementation's times, and for each pair of implementations timed
in the same rounds the median and quartiles of their per-round time ratio — the spread says how far
a ratio can be trusted on that machine. ``clock="thread"`` counts the CPU time of the calling thread
instead of wall time (CPU only): less sensitive to other processes on a busy machine.
Peak memory is the largest amount of memory the call holds at once beyond its inputs: from the CUDA
allocator on a GPU, from the PyTorch profiler's allocation events on the CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from gkl.core.losses import gkl
from gkl.core.prior import ClassPrior

__all__ = [
    "pairwise_gkl",
    "benchmark_losses",
    "rows_to_markdown",
    "memory_to_markdown",
    "ratio",
    "main",
    "IMPLEMENTATIONS",
    "CASES",
]


def pairwise_gkl(
    student_logits: Tensor,
    teacher_logits: Tensor,
    targets: Optional[Tensor] = None,
    class_prior: Optional[Tensor] = None,
    alpha: float = 1.0,
    beta: float = 1.0,
    gamma: float = 1.0,
    temperature: float = 1.0,
    weight_temperature: float = 1.0,
) -> Tensor:
    r"""GKL computed over all ordered class pairs with ``(B, C, C)`` tensors, as the released code does.

    .. math:: \frac14 \sum_{b,j,k} w_b[j,k] (\Delta m_{b,jk} - \Delta n_{b,jk})^2 / \sum_{b,j,k} w_b[j,k]

    For teaching and benchmarking only: same value as :func:`gkl.gkl`, O(B·C²) time and memory.
    """
    B, C = student_logits.shape
    delta_m = teacher_logits[:, :, None] - teacher_logits[:, None, :]  # (B, C, C)
    delta_n = student_logits[:, :, None] - student_logits[:, None, :]
    with torch.no_grad():
        u = class_prior[targets] if class_prior is not None else F.softmax(teacher_logits / weight_temperature, 1)
        u = u.pow(gamma)
        w = u[:, :, None] * u[:, None, :]  # (B, C, C)
    wmse = 0.25 * (w * (delta_m - delta_n).square()).sum() / w.sum()
    ce = -(F.softmax(teacher_logits.detach() / temperature, 1) * F.log_softmax(student_logits / temperature, 1))
    return beta * wmse + alpha * ce.sum(1).mean()


T, GAMMA, ALPHA, BETA = 4.0, 0.2, 1.0, 4.0  # the settings every implementation is timed at


def _torch_kl_div(student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, prior: Tensor) -> Tensor:
    # The usual call in distillation / TRADES code: probabilities as the target.
    return F.kl_div(F.log_softmax(student_logits / T, 1), F.softmax(teacher_logits / T, 1), reduction="batchmean")


def _torch_kl_div_log(student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, prior: Tensor) -> Tensor:
    # The faster variant with a log-probability target (what gkl.kl_div uses).
    return F.kl_div(
        F.log_softmax(student_logits / T, 1), F.log_softmax(teacher_logits / T, 1), reduction="batchmean", log_target=True
    )


def _gkl(student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, prior: Tensor) -> Tensor:
    return gkl(student_logits, teacher_logits, alpha=ALPHA, beta=BETA, gamma=GAMMA, temperature=T, weight_temperature=T)


def _gkl_prior(student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, prior: Tensor) -> Tensor:
    return gkl(student_logits, teacher_logits, targets, prior, alpha=ALPHA, beta=BETA, gamma=GAMMA, temperature=T)


def _pairwise(student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, prior: Tensor) -> Tensor:
    return pairwise_gkl(student_logits, teacher_logits, alpha=ALPHA, beta=BETA, gamma=GAMMA, temperature=T, weight_temperature=T)


#: name -> ``fn(student_logits, teacher_logits, targets, class_prior)`` returning the loss.
IMPLEMENTATIONS: dict[str, Callable[[Tensor, Tensor, Tensor, Tensor], Tensor]] = {
    "gkl": _gkl,
    "gkl_prior": _gkl_prior,
    "torch_kl_div": _torch_kl_div,
    "torch_kl_div_log": _torch_kl_div_log,
    "pairwise": _pairwise,
}
#: ``kd``: teacher detached (distillation); ``at``: gradients to both logit tensors (adversarial training).
CASES = ("kd", "at")
_SEPARATE = ("pairwise",)  # timed in a loop of their own


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step(fn: Callable, s: Tensor, t: Tensor, y: Tensor, prior: Tensor) -> None:
    s.grad = t.grad = None
    fn(s, t, y, prior).backward()


def _timed(fn: Callable, s: Tensor, t: Tensor, y: Tensor, prior: Tensor, device: torch.device, clock: Callable[[], float]) -> float:
    _sync(device)
    start = clock()
    _step(fn, s, t, y, prior)
    _sync(device)
    return (clock() - start) * 1e3


def _peak_mib(fn: Callable, s: Tensor, t: Tensor, y: Tensor, prior: Tensor, device: torch.device) -> float:
    """Peak memory held during one forward + backward, beyond the inputs, in MiB."""
    if device.type == "cuda":
        _step(fn, s, t, y, prior)  # allocate the gradients first so they count as inputs
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        _step(fn, s, t, y, prior)
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    from torch.profiler import ProfilerActivity, profile

    _step(fn, s, t, y, prior)
    with _stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        _step(fn, s, t, y, prior)
    # Each op records the memory it allocated minus what it freed ("self" usage); in time order the
    # running sum is the memory held, and its maximum the peak.
    running = peak = 0
    for e in sorted(prof.events(), key=lambda e: e.time_range.start):
        running += e.self_cpu_memory_usage
        peak = max(peak, running)
    return peak / 2**20


@contextlib.contextmanager
def _stderr_silenced():
    """The CPU profiler's C++ side logs start/stop lines to file descriptor 2; hide them."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _quartiles(xs: Sequence[float]) -> tuple[float, float, float]:
    if len(xs) < 2:
        return (xs[0], xs[0], xs[0])
    q1, q2, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return q1, q2, q3


def benchmark_losses(
    batch: int = 256,
    classes: Sequence[int] = (10, 100, 1000),
    repeats: int = 10,
    device: Optional[str | torch.device] = None,
    implementations: Sequence[str] = ("gkl", "gkl_prior", "torch_kl_div", "torch_kl_div_log", "pairwise"),
    warmup: int = 2,
    seed: int = 0,
    cases: Sequence[str] = CASES,
    pairwise_repeats: Optional[int] = None,
    clock: str = "wall",
) -> list[dict]:
    """Time (ms) and peak memory (MiB) of forward + backward for each case, C and implementation.

    Returns one row per (case, C, implementation) with keys ``impl``, ``case``, ``classes``,
    ``batch``, ``median_ms``, ``q1_ms``, ``q3_ms``, ``min_ms``, ``times_ms`` (in round order),
    ``repeats``, ``peak_mib``, ``device``, ``clock``. ``pairwise_repeats`` (default: ``repeats``)
    sets the repeats of the separately timed pairwise form.
    """
    if batch < 1 or repeats < 1 or warmup < 0 or (pairwise_repeats is not None and pairwise_repeats < 1):
        raise ValueError("batch, repeats and pairwise_repeats must be >= 1 and warmup >= 0")
    unknown = set(implementations) - IMPLEMENTATIONS.keys()
    if unknown:
        raise ValueError(f"unknown implementations {sorted(unknown)}; choose from {sorted(IMPLEMENTATIONS)}")
    bad_cases = set(cases) - set(CASES)
    if bad_cases or not cases:
        raise ValueError(f"unknown cases {sorted(bad_cases)}; choose from {list(CASES)}")
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if clock not in ("wall", "thread"):
        raise ValueError(f"clock must be 'wall' or 'thread', got {clock!r}")
    if clock == "thread" and dev.type != "cpu":
        raise ValueError("clock='thread' times CPU work only: use it with device='cpu'")
    tick = time.perf_counter if clock == "wall" else time.thread_time
    rows = []
    gen = torch.Generator().manual_seed(seed)
    for C in classes:
        s0 = 3 * torch.randn(batch, C, generator=gen)
        t0 = 3 * torch.randn(batch, C, generator=gen)
        y = torch.randint(0, C, (batch,), generator=gen).to(dev)
        prior = ClassPrior(C, temperature=T)
        prior.update(t0.to(dev), y)  # one epoch's statistics, as training collects them
        class_prior = prior.roll()  # fixed for the next epoch: what gkl receives every batch
        for case in cases:
            s = s0.to(dev).requires_grad_()
            t = t0.to(dev).requires_grad_(case == "at")
            fns = {name: IMPLEMENTATIONS[name] for name in implementations}
            for fn in fns.values():
                for _ in range(warmup):
                    _step(fn, s, t, y, class_prior)
            times: dict[str, list[float]] = {name: [] for name in fns}
            together = [name for name in fns if name not in _SEPARATE]
            for i in range(repeats):  # interleaved rounds, the order rotated by one place each round
                k = i % len(together) if together else 0
                for name in together[k:] + together[:k]:
                    times[name].append(_timed(fns[name], s, t, y, class_prior, dev, tick))
            for name in fns:
                if name in _SEPARATE:  # on its own, after the others
                    for _ in range(pairwise_repeats or repeats):
                        times[name].append(_timed(fns[name], s, t, y, class_prior, dev, tick))
            for name, fn in fns.items():
                q1, med, q3 = _quartiles(times[name])
                rows.append(
                    {
                        "impl": name,
                        "case": case,
                        "classes": int(C),
                        "batch": int(batch),
                        "median_ms": med,
                        "q1_ms": q1,
                        "q3_ms": q3,
                        "min_ms": min(times[name]),
                        "times_ms": times[name],
                        "repeats": len(times[name]),
                        "peak_mib": _peak_mib(fn, s, t, y, class_prior, dev),
                        "device": str(dev),
                        "clock": clock,
                    }
                )
    return rows


RATIOS = [
    ("gkl", "torch_kl_div"),
    ("gkl_prior", "torch_kl_div"),
    ("gkl", "torch_kl_div_log"),
    ("gkl_prior", "torch_kl_div_log"),
    ("pairwise", "gkl"),
]


def ratio(rows: Sequence[dict], a: str, b: str, classes: int, case: Optional[str] = None) -> tuple[float, float, float]:
    """Time ratio ``a / b`` at ``classes`` (and ``case``): (median, q1, q3).

    For two implementations timed in the same rounds, the quartiles of the per-round ratios;
    otherwise (the pairwise form, or rows without ``times_ms``) the ratio of the medians, three times.
    """
    by = {(r["impl"], r["classes"], r.get("case")): r for r in rows}
    ra, rb = by[(a, classes, case)], by[(b, classes, case)]
    ta, tb = ra.get("times_ms"), rb.get("times_ms")
    if ta and tb and len(ta) == len(tb) and a not in _SEPARATE and b not in _SEPARATE:
        q1, med, q3 = _quartiles([x / z for x, z in zip(ta, tb)])
        return med, q1, q3
    r = ra["median_ms"] / rb["median_ms"]
    return r, r, r


def _fmt_ratio(m: float, q1: float, q3: float) -> str:
    digits = 0 if m >= 100 else 2
    if q1 == q3 == m:
        return f"{m:.{digits}f}×"
    return f"{m:.{digits}f}× ({q1:.{digits}f}–{q3:.{digits}f})"


def _keys(rows: Sequence[dict]) -> tuple[list[str], list[tuple[int, Optional[str]]]]:
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    cases = list(dict.fromkeys(r.get("case") for r in rows))
    keys = sorted({(r["classes"], r.get("case")) for r in rows}, key=lambda k: (k[0], cases.index(k[1])))
    return impls, keys


def rows_to_markdown(rows: Sequence[dict]) -> str:
    """A markdown table: one line per (C, case), the median ms of each implementation and the time
    ratios of :data:`RATIOS`, each with the interquartile range of its per-round ratios."""
    impls, keys = _keys(rows)
    by = {(r["impl"], r["classes"], r.get("case")): r for r in rows}
    ratios = [(a, b) for a, b in RATIOS if a in impls and b in impls]
    has_case = any(case is not None for _, case in keys)
    head = ["C"] + (["case"] if has_case else []) + [f"{i} ms" for i in impls] + [f"{a}/{b} time" for a, b in ratios]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for C, case in keys:
        cells = [str(C)] + ([case] if has_case else [])
        cells += [f"{by[(i, C, case)]['median_ms']:.3f}" if (i, C, case) in by else "" for i in impls]
        cells += [_fmt_ratio(*ratio(rows, a, b, C, case)) for a, b in ratios]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def memory_to_markdown(rows: Sequence[dict]) -> str:
    """A markdown table: one line per (C, case), the peak MiB of each implementation."""
    impls, keys = _keys(rows)
    by = {(r["impl"], r["classes"], r.get("case")): r for r in rows}
    has_case = any(case is not None for _, case in keys)
    head = ["C"] + (["case"] if has_case else []) + [f"{i} MiB" for i in impls]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for C, case in keys:
        cells = [str(C)] + ([case] if has_case else [])
        cells += [f"{by[(i, C, case)]['peak_mib']:.2f}" if (i, C, case) in by else "" for i in impls]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gkl.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=_positive_int, default=256)
    parser.add_argument("--classes", type=_positive_int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeats", type=_positive_int, default=10)
    parser.add_argument("--pairwise-repeats", type=_positive_int, default=None, help="default: --repeats")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--implementations", nargs="+", choices=list(IMPLEMENTATIONS), default=list(IMPLEMENTATIONS))
    parser.add_argument("--clock", choices=("wall", "thread"), default="wall", help="thread: CPU time of this thread")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    parser.add_argument("--threads", type=_positive_int, default=None, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=None, help="folder for loss_benchmark.{json,md}")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = benchmark_losses(
        args.batch,
        args.classes,
        args.repeats,
        args.device,
        implementations=args.implementations,
        cases=args.cases,
        pairwise_repeats=args.pairwise_repeats,
        clock=args.clock,
    )
    table, memory = rows_to_markdown(rows), memory_to_markdown(rows)
    meta = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "threads": torch.get_num_threads(),
        "device_name": torch.cuda.get_device_name() if rows[0]["device"].startswith("cuda") else "cpu",
        "clock": args.clock,
        "command": " ".join(["python -m gkl.bench", *(argv if argv is not None else sys.argv[1:])]),
    }
    print(table)
    print()
    print(memory)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "loss_benchmark.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
        (args.out / "loss_benchmark.md").write_text(
            f"Forward + backward, batch {args.batch}, median of {args.repeats} interleaved rounds in rotated order "
            f"({args.clock} clock; {meta['device_name']}, {meta['threads']} threads, torch {meta['torch']}); "
            f"ratios: median (interquartile range) of the per-round ratios.\n\n{table}\n\nPeak memory beyond the inputs:\n\n{memory}\n"
        )
    return 0
