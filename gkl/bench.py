r"""Micro-benchmark of the loss: closed form vs the pairwise (released-code) form vs ``F.kl_div``.

Run ``python -m gkl.bench --out benchmarks/results`` (``--help`` for sizes). For each number of classes
:math:`C` it times forward + backward of

* ``gkl``          — :func:`gkl.gkl`, the O(B·C) closed form of the weighted MSE;
* ``pairwise``     — :func:`pairwise_gkl`, the same loss built from ``(B, C, C)`` tensors of logit
  differences, the way the released code computes it (O(B·C²) time and memory);
* ``torch_kl_div`` — ``F.kl_div(log_softmax(student), softmax(teacher))``, KL as distillation and
  TRADES code usually calls it;
* ``torch_kl_div_log`` — the same with a log-probability target (``log_target=True``), the faster call;

all at temperature 4 (GKL: γ = 0.5, T2 = 4), with gradients to both logit tensors (the
adversarial-training setting). Repeats are interleaved
(one call of each implementation per round) so that drifts of the machine hit all of them alike, and
the median is reported. Peak memory is the largest amount of memory the call holds at once beyond its
inputs: from the CUDA allocator on a GPU, from the PyTorch profiler's allocation events on the CPU.
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

from .losses import gkl

__all__ = ["pairwise_gkl", "benchmark_losses", "rows_to_markdown", "main", "IMPLEMENTATIONS"]


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


def _torch_kl_div(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    # The usual call in distillation / TRADES code: probabilities as the target.
    return F.kl_div(F.log_softmax(student_logits / 4.0, 1), F.softmax(teacher_logits / 4.0, 1), reduction="batchmean")


def _torch_kl_div_log(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    # The faster variant with a log-probability target (what gkl.kl_div uses).
    return F.kl_div(
        F.log_softmax(student_logits / 4.0, 1), F.log_softmax(teacher_logits / 4.0, 1), reduction="batchmean", log_target=True
    )


def _gkl(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    return gkl(student_logits, teacher_logits, alpha=1.0, beta=1.0, gamma=0.5, temperature=4.0, weight_temperature=4.0)


def _pairwise(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    return pairwise_gkl(student_logits, teacher_logits, alpha=1.0, beta=1.0, gamma=0.5, temperature=4.0, weight_temperature=4.0)


IMPLEMENTATIONS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "gkl": _gkl,
    "pairwise": _pairwise,
    "torch_kl_div": _torch_kl_div,
    "torch_kl_div_log": _torch_kl_div_log,
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step(fn: Callable[[Tensor, Tensor], Tensor], s: Tensor, t: Tensor) -> None:
    s.grad = t.grad = None
    fn(s, t).backward()


def _timed(fn: Callable[[Tensor, Tensor], Tensor], s: Tensor, t: Tensor, device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    _step(fn, s, t)
    _sync(device)
    return (time.perf_counter() - start) * 1e3


def _peak_mib(fn: Callable[[Tensor, Tensor], Tensor], s: Tensor, t: Tensor, device: torch.device) -> float:
    """Peak memory held during one forward + backward, beyond the inputs, in MiB."""
    if device.type == "cuda":
        _step(fn, s, t)  # allocate the gradients first so they count as inputs
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        _step(fn, s, t)
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - base) / 2**20
    from torch.profiler import ProfilerActivity, profile

    _step(fn, s, t)
    with _stderr_silenced(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        _step(fn, s, t)
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


def benchmark_losses(
    batch: int = 256,
    classes: Sequence[int] = (10, 100, 1000),
    repeats: int = 10,
    device: Optional[str | torch.device] = None,
    implementations: Sequence[str] = ("gkl", "pairwise", "torch_kl_div", "torch_kl_div_log"),
    warmup: int = 2,
    seed: int = 0,
) -> list[dict]:
    """Time (median ms) and peak memory (MiB) of forward + backward for each implementation and C.

    Returns one row per (implementation, C) with keys ``impl``, ``classes``, ``batch``,
    ``median_ms``, ``min_ms``, ``repeats``, ``peak_mib``, ``device``.
    """
    if batch < 1 or repeats < 1 or warmup < 0:
        raise ValueError("batch and repeats must be >= 1 and warmup >= 0")
    unknown = set(implementations) - IMPLEMENTATIONS.keys()
    if unknown:
        raise ValueError(f"unknown implementations {sorted(unknown)}; choose from {sorted(IMPLEMENTATIONS)}")
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    gen = torch.Generator().manual_seed(seed)
    for C in classes:
        s = (3 * torch.randn(batch, C, generator=gen)).to(dev).requires_grad_()
        t = (3 * torch.randn(batch, C, generator=gen)).to(dev).requires_grad_()
        fns = {name: IMPLEMENTATIONS[name] for name in implementations}
        for fn in fns.values():
            for _ in range(warmup):
                _step(fn, s, t)
        times: dict[str, list[float]] = {name: [] for name in fns}
        for _ in range(repeats):  # interleaved rounds
            for name, fn in fns.items():
                times[name].append(_timed(fn, s, t, dev))
        for name, fn in fns.items():
            rows.append(
                {
                    "impl": name,
                    "classes": int(C),
                    "batch": int(batch),
                    "median_ms": statistics.median(times[name]),
                    "min_ms": min(times[name]),
                    "repeats": repeats,
                    "peak_mib": _peak_mib(fn, s, t, dev),
                    "device": str(dev),
                }
            )
    return rows


def rows_to_markdown(rows: Sequence[dict]) -> str:
    """A markdown table: one line per C, time and memory per implementation, and the two ratios."""
    by = {(r["impl"], r["classes"]): r for r in rows}
    impls = list(dict.fromkeys(r["impl"] for r in rows))
    classes = sorted({r["classes"] for r in rows})
    head = ["C"] + [f"{i} ms" for i in impls] + [f"{i} MiB" for i in impls]
    ratios = [("pairwise", "gkl"), ("gkl", "torch_kl_div"), ("gkl", "torch_kl_div_log")]
    ratios = [(a, b) for a, b in ratios if a in impls and b in impls]
    head += [f"{a}/{b} time" for a, b in ratios]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for C in classes:
        cells = [str(C)]
        cells += [f"{by[(i, C)]['median_ms']:.3f}" for i in impls]
        cells += [f"{by[(i, C)]['peak_mib']:.2f}" for i in impls]
        cells += [f"{by[(a, C)]['median_ms'] / by[(b, C)]['median_ms']:.2f}×" for a, b in ratios]
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
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    parser.add_argument("--threads", type=_positive_int, default=None, help="torch CPU threads")
    parser.add_argument("--out", type=Path, default=None, help="folder for loss_benchmark.{json,md}")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = benchmark_losses(args.batch, args.classes, args.repeats, args.device)
    table = rows_to_markdown(rows)
    meta = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "threads": torch.get_num_threads(),
        "device_name": torch.cuda.get_device_name() if rows[0]["device"].startswith("cuda") else platform.node() and "cpu",
        "command": " ".join(["python -m gkl.bench", *(argv if argv is not None else sys.argv[1:])]),
    }
    print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "loss_benchmark.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
        (args.out / "loss_benchmark.md").write_text(
            f"Forward + backward, batch {args.batch}, median of {args.repeats} interleaved repeats "
            f"({meta['device_name']}, {meta['threads']} threads, torch {meta['torch']}).\n\n{table}\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
