"""``python -m gkl bench``: the loss micro-benchmark (see :mod:`gkl.bench`).

Prints a markdown table of times and time ratios and one of peak memory; with ``--out DIR`` also
writes ``DIR/loss_benchmark.json`` (settings, machine and every row) and ``DIR/loss_benchmark.md``.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

from gkl.cli.common import check_positive_int

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    from gkl.bench import CASES, IMPLEMENTATIONS

    p = sub.add_parser("bench", help="time forward + backward of the loss against F.kl_div and the pairwise form",
                       description="Micro-benchmark of the loss: closed form vs the pairwise (released-code) form "
                                   "vs F.kl_div.")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--classes", type=int, nargs="+", default=[10, 100, 1000])
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--pairwise-repeats", type=int, default=None, help="default: --repeats")
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    p.add_argument("--implementations", nargs="+", choices=list(IMPLEMENTATIONS), default=list(IMPLEMENTATIONS))
    p.add_argument("--clock", choices=("wall", "thread"), default="wall", help="thread: CPU time of this thread")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", type=Path, default=None, help="folder for loss_benchmark.{json,md}")
    p.set_defaults(func=run)


def _command(args) -> str:
    """The command line that reproduces this run, every setting spelled out."""
    parts = ["python -m gkl bench", f"--batch {args.batch}", "--classes " + " ".join(map(str, args.classes)),
             f"--repeats {args.repeats}"]
    if args.pairwise_repeats is not None:
        parts.append(f"--pairwise-repeats {args.pairwise_repeats}")
    parts += ["--cases " + " ".join(args.cases), "--implementations " + " ".join(args.implementations),
              f"--clock {args.clock}"]
    parts += [f"--{k} {v}" for k, v in (("device", args.device), ("threads", args.threads), ("out", args.out))
              if v is not None]
    return " ".join(parts)


def run(args) -> int:
    import torch

    from gkl.bench import benchmark_losses, memory_to_markdown, rows_to_markdown

    for name in ("batch", "repeats", "pairwise_repeats", "threads"):
        check_positive_int(getattr(args, name), "--" + name.replace("_", "-"))
    for c in args.classes:
        check_positive_int(c, "--classes")
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
        "command": _command(args),
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
