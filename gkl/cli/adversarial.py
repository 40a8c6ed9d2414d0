"""``python -m gkl adversarial``: adversarial training of one method (see :mod:`gkl.methods.adversarial`).

``--method`` offers every registered method; the method hyper-parameter flags are generated from the
registered ``Config`` dataclasses by :class:`~gkl.cli.method_flags.MethodFlags`, as for ``distill``.
A flag that the chosen method's config lacks is a one-line error. A config field may not share its
name with a run option (``--epsilon``, ``--lr``, ...): a one-line error when the parser is built.

The attack's defaults are :func:`gkl.methods.adversarial.attack_defaults` of the data set (the
:class:`~gkl.methods.adversarial.AttackSetup` defaults, with the data set's own), never numbers of
this module.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from gkl.cli.common import (
    CLIError,
    add_run_folder_flags,
    check_positive_int,
    check_run_folder,
    finished_message,
    model_names,
    number,
    pick,
)
from gkl.cli.method_flags import MethodFlags

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    from gkl.methods.adversarial import ADVERSARIAL, EPS_SCHEDULES

    labels = ", ".join(ADVERSARIAL[m].label for m in ADVERSARIAL.names())
    p = sub.add_parser("adversarial", help=f"adversarial training ({labels})")
    p.add_argument("--dataset", choices=["digits", "cifar10", "cifar100"], default="digits")
    p.add_argument("--model", default=None,
                   help=f"registered model: {model_names()} (default: small_cnn for digits, preact_resnet18 for CIFAR)")
    p.add_argument("--method", choices=ADVERSARIAL.names(), default="gkl")
    p.add_argument("--preset", choices=["released"], default=None,
                   help="released: the authors' DKLv2 recipe for cifar10/cifar100 (WRN-34-10, raw inputs, 200 "
                        "epochs, lr 0.2, linear eps ramp, 5 steps of eps/2, AWP 0.005 from epoch 10, checkpoint "
                        "averaging 0.9); explicit flags override it")
    p.add_argument("--epochs", type=int, default=None, help="default 10 (200 with --preset released)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="run folder (metrics.jsonl, checkpoint.pt)")
    add_run_folder_flags(p)
    method_group = p.add_argument_group("method hyper-parameters (defaults depend on --method)")  # filled last
    g = p.add_argument_group("released recipe options")
    g.add_argument("--awp", type=number, default=None, metavar="GAMMA",
                   help="adversarial weight perturbation of relative size GAMMA (released 0.005)")
    g.add_argument("--awp-warmup", type=int, default=None, help=f"first epoch with AWP (default {_by_dataset('awp_warmup')})")
    g.add_argument("--ema", type=number, default=None, metavar="DECAY",
                   help="checkpoint averaging: EMA of the per-epoch weights (released 0.9), evaluated at the end")
    g.add_argument("--raw-inputs", action="store_true", default=None,
                   help="feed raw [0, 1] inputs to the model (no normalisation), as released")
    a = p.add_argument_group("attack")
    a.add_argument("--epsilon", type=number, help=f"radius (default {_by_dataset('epsilon')}); fractions allowed")
    a.add_argument("--norm", choices=["linf", "l2"], default=None, help=f"default {_by_dataset('norm')}")
    a.add_argument("--attack-steps", type=int, default=None, help=f"inner steps (default {_by_dataset('attack_steps')})")
    a.add_argument("--attack-steps-min", type=int, default=None, help="first-epoch steps of the curriculum")
    a.add_argument("--step-ratio", type=number, default=None,
                   help=f"step size as a fraction of epsilon (default {_by_dataset('step_ratio')})")
    a.add_argument("--eps-schedule", choices=EPS_SCHEDULES, default=None,
                   help="ramp-hold: ramp over --eps-warmup epochs, then hold (default); released-linear: "
                        "eps*epoch/epochs, full eps only in the last epoch (released)")
    a.add_argument("--eps-warmup", type=number, default=None,
                   help=f"epochs over which epsilon ramps up (default {_by_dataset('eps_warmup')})")
    a.add_argument("--eval-steps", type=int, default=None,
                   help=f"PGD steps of the per-epoch robust accuracy (default {_by_dataset('eval_steps')})")
    o = p.add_argument_group("optimisation")
    o.add_argument("--batch-size", type=int, default=None)
    o.add_argument("--lr", type=number, default=None)
    o.add_argument("--weight-decay", type=number, default=None, help="default 5e-4")
    o.add_argument("--schedule", choices=["cosine", "multistep", "constant"], default=None, help="default cosine")
    o.add_argument("--milestones", type=int, nargs="*", default=[])
    o.add_argument("--train-subset", type=int, default=None)
    o.add_argument("--eval-subset", type=int, default=None, help="test points for the per-epoch evaluation")
    o.add_argument("--device", default=None)
    o.add_argument("--data-root", default=None)
    o.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    o.add_argument("--amp", choices=["bf16", "fp16"], default=None, help="mixed precision (GPU runs)")
    o.add_argument("--no-progress", action="store_true")
    o.add_argument("--quiet", action="store_true", help="do not print the per-epoch JSON lines")
    flags = MethodFlags(ADVERSARIAL)
    flags.add_to(method_group)
    p.set_defaults(func=run, method_flags=flags)


def _by_dataset(name: str) -> str:
    """``"0.2 on digits, 8/255 elsewhere"``: the default of :class:`AttackSetup` field ``name`` per data set."""
    from gkl.methods.adversarial import DATASET_ATTACKS, AttackSetup

    def fmt(v: Any) -> str:
        return "8/255" if v == 8 / 255 else f"{v:g}" if isinstance(v, float) else str(v)

    own = [f"{fmt(s[name])} on {d}" for d, s in DATASET_ATTACKS.items() if name in s]
    return ", ".join(own + [fmt(getattr(AttackSetup(), name)) + (" elsewhere" if own else "")])


# -- run: named steps ---------------------------------------------------------------------------
def _check(args) -> None:
    """One-line errors for values argparse lets through."""
    if args.preset == "released" and not args.dataset.startswith("cifar"):
        raise CLIError("--preset released is the CIFAR recipe: use --dataset cifar10 or cifar100")
    if args.epsilon is not None and args.epsilon < 0:
        raise CLIError(f"--epsilon must be >= 0, got {args.epsilon}")
    for name in ("epochs", "batch_size", "train_subset", "eval_subset", "awp_warmup"):
        check_positive_int(getattr(args, name), "--" + name.replace("_", "-"))
    for name in ("attack_steps", "attack_steps_min", "eval_steps", "workers"):
        check_positive_int(getattr(args, name), "--" + name.replace("_", "-"), allow_zero=True)


def _method_settings(args, recipe: dict[str, Any]) -> dict[str, Any]:
    """The chosen method's settings: the preset's, overridden by the flags given."""
    from gkl.methods.adversarial import ADVERSARIAL

    own = {f.name for f in dataclasses.fields(ADVERSARIAL[args.method].Config)}
    return {**{k: v for k, v in recipe.items() if k in own}, **args.method_flags.given(args, args.method)}


def _adversarial_config(args, recipe: dict[str, Any], cifar: bool = False):
    """The flags given, else the preset's settings, else the data set's :func:`attack_defaults`
    (``cifar`` is not read: ``args.dataset`` decides)."""
    from gkl.methods.adversarial import AdversarialConfig, attack_defaults
    from gkl.methods.adversarial.base import SETUP_FIELDS

    flags = {k: getattr(args, k, None) for k in SETUP_FIELDS} | {"awp_gamma": args.awp}
    defaults = attack_defaults(args.dataset)
    setup = {k: pick(flags.get(k), recipe.get(k), defaults[k]) for k in SETUP_FIELDS}
    return AdversarialConfig.for_method(args.method, **setup, **_method_settings(args, recipe))


def _train_config(args, recipe: dict[str, Any], cifar: bool):
    from gkl.training import TrainConfig

    return TrainConfig(
        epochs=pick(args.epochs, recipe.get("epochs"), 10),
        batch_size=pick(args.batch_size, recipe.get("batch_size"), 128 if cifar else 64),
        lr=pick(args.lr, recipe.get("lr"), 0.1 if cifar else 0.05),
        weight_decay=pick(args.weight_decay, recipe.get("weight_decay"), 5e-4),
        schedule=pick(args.schedule, recipe.get("schedule"), "cosine"),
        milestones=tuple(args.milestones),
        seed=args.seed,
        device=args.device,
        num_workers=args.workers,
        eval_subset=args.eval_subset,
        progress=not args.no_progress,
        deterministic=not cifar,
        ema_decay=pick(args.ema, recipe.get("ema_decay")),
        amp=args.amp,
    )


def run(args) -> int:
    from gkl.methods.adversarial import released_recipe, train_adversarial
    from gkl.training import is_main_process

    _check(args)
    cifar = args.dataset.startswith("cifar")
    rec = released_recipe(args.dataset, args.method) if args.preset == "released" else \
        {"adversarial": {}, "train": {}, "model": {}}
    adv = _adversarial_config(args, rec["adversarial"])
    train = _train_config(args, rec["train"], cifar)
    model = pick(args.model, rec["model"].get("name"), "preact_resnet18" if cifar else "small_cnn")
    normalize = not pick(args.raw_inputs, rec["model"].get("normalize") is False, False)
    done = check_run_folder(Path(args.out), args.resume, args.overwrite)  # before data and model are built
    printer = None if args.quiet else (lambda m: print(json.dumps(m), flush=True))
    train_adversarial(
        args.dataset, model, adv, train, args.out,
        data_root=args.data_root, train_subset=args.train_subset,
        resume=args.resume, overwrite=args.overwrite, on_epoch=printer, normalize=normalize,
    )
    if done == train.epochs and is_main_process():  # a finished run: the engine checked its config, trained nothing
        print(finished_message(args.out, done), flush=True)
    return 0
