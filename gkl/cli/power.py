"""``python -m gkl power distill | adversarial``: a chapter's full-power headline comparison, recorded offline.

Trains the tuned profile's methods (the recorded sweep's choices) with many seeds, evaluates each run
on the same test points (distillation: further unseen mnist1d points; adversarial: the standard
AutoAttack on every test point), and writes the per-point results with the command, the commit and
the environment (:mod:`gkl.experiments.distill.full_power`, :mod:`gkl.experiments.adversarial.full_power`);
the chapter reads the record, states its verdict with its minimum detectable effect, and checks it
against the runs the build re-trains.
"""

from __future__ import annotations

from gkl.cli.common import check_positive_int

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    from gkl.experiments.distill.full_power import SEEDS, TEST_POINTS

    p = sub.add_parser("power", help="full-power headline comparison, recorded (distill, adversarial)")
    p.add_argument("task", choices=["distill", "adversarial"], help="which chapter's headline")
    p.add_argument("--profile", default="cpu", help="the experiment profile (default: cpu)")
    p.add_argument("--seeds", type=int, default=len(SEEDS), help=f"number of seeds, 0..N-1 (default {len(SEEDS)})")
    p.add_argument("--test-points", type=int, default=None,
                   help=f"distill only: unseen test points every student is evaluated on (default {TEST_POINTS}); "
                        "adversarial attacks every point of its test split")
    p.add_argument("--workers", type=int, default=None, help="parallel runs (default: 2 on CPU, 1 on a GPU)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: automatic)")
    p.add_argument("--out", default=None, help="JSON file (default: the recorded file in the package)")
    p.set_defaults(func=run)


def run(args) -> int:
    check_positive_int(args.seeds, "--seeds")
    check_positive_int(args.workers, "--workers")
    command = ["python", "-m", "gkl", "power", args.task, "--profile", args.profile, "--seeds", str(args.seeds)]
    seeds = tuple(range(args.seeds))
    if args.task == "adversarial":
        from gkl.experiments.adversarial.full_power import run_full_power

        if args.test_points is not None:
            raise ValueError("--test-points applies to distill only: adversarial attacks every point of its test split")
        record = run_full_power(args.profile, seeds, args.workers, args.device, args.out, command)
    else:
        from gkl.experiments.distill.full_power import TEST_POINTS, run_full_power

        points = TEST_POINTS if args.test_points is None else args.test_points
        check_positive_int(points, "--test-points")
        command += ["--test-points", str(points)]  # canonical: what re-creates it
        record = run_full_power(args.profile, seeds, points, args.workers, args.device, args.out, command)
    print(f"{len(record['rows'])} runs, {record['compute_s'] / 60:.1f} CPU-minutes -> {record['path']}")
    return 0
