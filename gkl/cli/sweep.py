"""``python -m gkl sweep distill|adversarial``: the tuning sweeps behind the training chapters.

Every method gets the same number of configurations, tried on a **validation split carved from the
training data** (never the test set), then the chosen configuration of each method is trained for
several epoch budgets to read off where validation accuracy plateaus. The result table is written with
the command, the commit and the environment that produced it (:mod:`gkl.experiments.record`); the
book loads the recorded file and re-trains only the chosen configurations.
"""

from __future__ import annotations

from gkl.cli.common import check_positive_int

__all__ = ["add_parser", "run"]

_TASKS = {"distill": "gkl.experiments.distill.sweep", "adversarial": "gkl.experiments.adversarial.sweep"}


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="tuning sweeps on a validation split (distill, adversarial)")
    p.add_argument("task", choices=list(_TASKS), help="which chapter's sweep")
    p.add_argument("--profile", default="cpu", help="the experiment profile (default: cpu)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="seeds per configuration (default 0 1)")
    p.add_argument("--stage", choices=["grid", "epochs", "all"], default="all",
                   help="grid: the hyper-parameter grid; epochs: epoch budgets of the chosen configs; all: both")
    p.add_argument("--workers", type=int, default=None, help="parallel runs (default: 2 on CPU, 1 on a GPU)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: automatic)")
    p.add_argument("--out", default=None, help="JSON file (default: the recorded file in the package)")
    p.set_defaults(func=run)


def run(args) -> int:
    import importlib

    check_positive_int(args.workers, "--workers")
    module = importlib.import_module(_TASKS[args.task])
    command = ["python", "-m", "gkl", "sweep", args.task, "--profile", args.profile,
               "--seeds", *map(str, args.seeds), "--stage", args.stage]  # canonical: what re-creates it
    record = module.run_sweep(profile=args.profile, seeds=tuple(args.seeds), stage=args.stage,
                              workers=args.workers, device=args.device, out=args.out, command=command)
    print(f"{len(record['rows'])} rows -> {record.get('path', args.out)}")
    return 0
