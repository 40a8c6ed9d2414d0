r"""Micro-benchmark of the loss: closed form vs the pairwise (released-code) form vs ``F.kl_div``.

Run ``python -m gkl bench --threads 1 --out benchmarks/results`` (``--help`` for sizes; the command
is :mod:`gkl.cli.bench`). For each number of classes :math:`C` and each case it times forward +
backward of

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

import contextlib
import os
import statistics
import sys
import time
from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from gkl.core.losses import gkl
from gkl.core.prior import ClassPrior

__all__ = ["pairwise_gkl", "benchmark_losses", "quartiles", "IMPLEMENTATIONS", "CASES", "SEPARATE"]


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
#: Timed in a loop of their own, after the interleaved rounds of the others.
SEPARATE = ("pairwise",)


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


def quartiles(xs: Sequence[float]) -> tuple[float, float, float]:
    """``(q1, median, q3)`` of ``xs`` (inclusive method; one value gives it three times)."""
    if len(xs) < 2:
        return (xs[0], xs[0], xs[0])
    q1, q2, q3 = statistics.quantiles(xs, n=4, method="inclusive")
    return q1, q2, q3


def _round_times(
    fns: dict[str, Callable], s: Tensor, t: Tensor, y: Tensor, prior: Tensor, device: torch.device,
    tick: Callable[[], float], repeats: int, separate_repeats: int,
) -> dict[str, list[float]]:
    """Times (ms) of each implementation: ``repeats`` interleaved rounds, the order rotated by one
    place each round; then each implementation of :data:`SEPARATE` on its own, ``separate_repeats`` times."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    together = [name for name in fns if name not in SEPARATE]
    for i in range(repeats):  # interleaved rounds, the order rotated by one place each round
        k = i % len(together) if together else 0
        for name in together[k:] + together[:k]:
            times[name].append(_timed(fns[name], s, t, y, prior, device, tick))
    for name in fns:
        if name in SEPARATE:  # on its own, after the others
            for _ in range(separate_repeats):
                times[name].append(_timed(fns[name], s, t, y, prior, device, tick))
    return times


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
            times = _round_times(fns, s, t, y, class_prior, dev, tick, repeats, pairwise_repeats or repeats)
            for name, fn in fns.items():
                q1, med, q3 = quartiles(times[name])
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
