"""``python -m gkl power distill``: the full-power headline comparison, recorded offline.

Trains every method of the tuned profile (the recorded sweep's choices) with many seeds, evaluates
each student on the same large set of unseen test points, and writes the per-point results with the
command, the commit and the environment (:mod:`gkl.experiments.distill.full_power`); the chapter
reads the record, states its verdict with its minimum detectable effect, and re-runs a slice.
"""

from __future__ import annotations

from gkl.cli.common import check_positive_int

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    from gkl.experiments.distill.full_power import SEEDS, TEST_POINTS

    p = sub.add_parser("power", help="full-power headline comparison, recorded (distill)")
    p.add_argument("task", choices=["distill"], help="which chapter's headline")
    p.add_argument("--profile", default="cpu", help="the experiment profile (default: cpu)")
    p.add_argument("--seeds", type=int, default=len(SEEDS), help=f"number of seeds, 0..N-1 (default {len(SEEDS)})")
    p.add_argument("--test-points", type=int, default=TEST_POINTS,
                   help=f"unseen test points every student is evaluated on (default {TEST_POINTS})")
    p.add_argument("--workers", type=int, default=None, help="parallel runs (default: 2 on CPU, 1 on a GPU)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: automatic)")
    p.add_argument("--out", default=None, help="JSON file (default: the recorded file in the package)")
    p.set_defaults(func=run)


def run(args) -> int:
    from gkl.experiments.distill.full_power import run_full_power

    check_positive_int(args.seeds, "--seeds")
    check_positive_int(args.test_points, "--test-points")
    check_positive_int(args.workers, "--workers")
    command = ["python", "-m", "gkl", "power", args.task, "--profile", args.profile, "--seeds", str(args.seeds),
               "--test-points", str(args.test_points)]  # canonical: what re-creates it
    record = run_full_power(args.profile, tuple(range(args.seeds)), args.test_points, args.workers, args.device,
                            args.out, command)
    print(f"{len(record['rows'])} runs, {record['compute_s'] / 60:.1f} CPU-minutes -> {record['path']}")
    return 0
