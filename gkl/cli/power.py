"""``python -m gkl power distill | adversarial | mechanisms``: a full-power comparison, recorded offline.

Trains the tuned profile's methods (the recorded sweep's choices) with many seeds, evaluates each run
on the same test points (distillation: further unseen mnist1d points; adversarial: the standard
AutoAttack on every test point), and writes the per-point results with the command, the commit and
the environment (:mod:`gkl.experiments.distill.full_power`, :mod:`gkl.experiments.adversarial.full_power`);
the chapter reads the record, states its verdict with its minimum detectable effect, and checks it
against the runs the build re-trains. ``mechanisms`` trains the arms of the claims' clean tests and of
the ablations (:mod:`gkl.experiments.distill.mechanisms`) on the distillation record's test points;
its references are that record's runs, so it needs that record and at most its number of seeds.
"""

from __future__ import annotations

from gkl.cli.common import check_positive_int

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    from gkl.experiments.distill import mechanisms
    from gkl.experiments.distill.full_power import SEEDS, TEST_POINTS

    p = sub.add_parser("power", help="full-power comparison, recorded (distill, adversarial, mechanisms)")
    p.add_argument("task", choices=["distill", "adversarial", "mechanisms"],
                   help="a chapter's headline (distill, adversarial) or the distillation claims' clean tests and "
                        "ablations (mechanisms)")
    p.add_argument("--profile", default="cpu", help="the experiment profile (default: cpu)")
    p.add_argument("--seeds", type=int, default=None,
                   help=f"number of seeds, 0..N-1 (default {len(SEEDS)}; mechanisms {len(mechanisms.SEEDS)})")
    p.add_argument("--test-points", type=int, default=None,
                   help=f"distill only: unseen test points every student is evaluated on (default {TEST_POINTS}); "
                        "adversarial attacks every point of its test split")
    p.add_argument("--workers", type=int, default=None, help="parallel runs (default: 2 on CPU, 1 on a GPU)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: automatic)")
    p.add_argument("--out", default=None, help="JSON file (default: the recorded file in the package)")
    p.set_defaults(func=run)


def run(args) -> int:
    from gkl.experiments.distill import mechanisms
    from gkl.experiments.distill.full_power import SEEDS

    n = args.seeds if args.seeds is not None else len(mechanisms.SEEDS if args.task == "mechanisms" else SEEDS)
    check_positive_int(n, "--seeds")
    check_positive_int(args.workers, "--workers")
    command = ["python", "-m", "gkl", "power", args.task, "--profile", args.profile, "--seeds", str(n)]
    seeds = tuple(range(n))
    if args.task != "distill" and args.test_points is not None:
        raise ValueError(f"--test-points applies to distill only: {args.task} "
                         + ("attacks every point of its test split" if args.task == "adversarial" else
                            "uses the distillation record's test points"))
    if args.task == "mechanisms":
        record = mechanisms.run_mechanisms(f"distill-power-{args.profile}", seeds, args.workers, args.device,
                                           args.out, command)
    elif args.task == "adversarial":
        from gkl.experiments.adversarial.full_power import run_full_power

        record = run_full_power(args.profile, seeds, args.workers, args.device, args.out, command)
    else:
        from gkl.experiments.distill.full_power import TEST_POINTS, run_full_power

        points = TEST_POINTS if args.test_points is None else args.test_points
        check_positive_int(points, "--test-points")
        command += ["--test-points", str(points)]  # canonical: what re-creates it
        record = run_full_power(args.profile, seeds, points, args.workers, args.device, args.out, command)
    print(f"{len(record['rows'])} runs, {record['compute_s'] / 60:.1f} CPU-minutes -> {record['path']}")
    return 0
