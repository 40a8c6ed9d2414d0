"""``python -m gkl adversarial``: adversarial training of one method (see :mod:`gkl.methods.adversarial`).

``--method`` offers every registered method; the method hyper-parameter flags are generated from the
registered ``Config`` dataclasses (the union of their fields, help from each field's
``metadata["help"]``). A flag that the chosen method's config lacks is a one-line error. A config
field may not share its name with a run option (``--epsilon``, ``--lr``, ...): argparse refuses the
duplicate when the parser is built.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from gkl.cli.common import CLIError, check_positive_int, number, pick

__all__ = ["add_parser", "run"]


def _method_fields() -> dict[str, list[tuple[str, dataclasses.Field]]]:
    """Field name -> ``[(method, field), ...]`` over the registered methods' configs."""
    from gkl.methods.adversarial import ADVERSARIAL

    fields: dict[str, list[tuple[str, dataclasses.Field]]] = {}
    for name in ADVERSARIAL.names():
        for f in dataclasses.fields(ADVERSARIAL[name].Config):
            fields.setdefault(f.name, []).append((name, f))
    return fields


def _flag_type(f: dataclasses.Field):
    """``metadata["type"]``, else from the default: a float accepts fractions (``8/255``)."""
    if "type" in f.metadata:
        return f.metadata["type"]
    if isinstance(f.default, float):
        return number
    return int if isinstance(f.default, int) else str


def _flags(f: dataclasses.Field) -> tuple[str, ...]:
    """The option strings of a config field: ``metadata["flags"]`` or ``--field-name``."""
    return tuple(f.metadata.get("flags", ("--" + f.name.replace("_", "-"),)))


def _add_method_flags(group, fields: dict[str, list[tuple[str, dataclasses.Field]]]) -> None:
    """One flag per config field: ``--name`` (``--name``/``--no-name`` for a bool, or the field's
    ``metadata["flags"]``), typed by its default, ``None`` meaning "the method's default"."""
    for name, owners in fields.items():
        first = owners[0][1]
        helps: dict[str, list[str]] = {}
        for method, f in owners:
            helps.setdefault(f.metadata.get("help", name.replace("_", " ")), []).append(f"{method} {f.default}")
        text = "; ".join(f"{h} [default: {', '.join(d)}]" for h, d in helps.items()).replace("%", "%%")
        flags = _flags(first)
        kw: dict[str, Any] = {"dest": name, "default": None, "help": text}
        if isinstance(first.default, bool):
            kw["action"] = argparse.BooleanOptionalAction
        else:
            kw["type"] = _flag_type(first)
            if "choices" in first.metadata:
                kw["choices"] = first.metadata["choices"]
        group.add_argument(*flags, **kw)


def add_parser(sub) -> None:
    from gkl.methods.adversarial import ADVERSARIAL, EPS_SCHEDULES

    labels = ", ".join(ADVERSARIAL[m].label for m in ADVERSARIAL.names())
    p = sub.add_parser("adversarial", help=f"adversarial training ({labels})")
    p.add_argument("--dataset", choices=["digits", "cifar10", "cifar100"], default="digits")
    p.add_argument("--model", default=None, help="registered model (default: small_cnn for digits, preact_resnet18 for CIFAR)")
    p.add_argument("--method", choices=ADVERSARIAL.names(), default="gkl")
    p.add_argument("--preset", choices=["released"], default=None,
                   help="released: the authors' DKLv2 recipe for cifar10/cifar100 (WRN-34-10, raw inputs, 200 "
                        "epochs, lr 0.2, linear eps ramp, 5 steps of eps/2, AWP 0.005 from epoch 10, checkpoint "
                        "averaging 0.9); explicit flags override it")
    p.add_argument("--epochs", type=int, default=None, help="default 10 (200 with --preset released)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="run folder (metrics.jsonl, checkpoint.pt)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--overwrite", action="store_true", help="start afresh even if --out holds a checkpoint")
    fields = _method_fields()
    _add_method_flags(p.add_argument_group("method hyper-parameters (defaults depend on --method)"), fields)
    g = p.add_argument_group("released recipe options")
    g.add_argument("--awp", type=number, default=None, metavar="GAMMA",
                   help="adversarial weight perturbation of relative size GAMMA (released 0.005)")
    g.add_argument("--awp-warmup", type=int, default=None, help="first epoch with AWP (default 10)")
    g.add_argument("--ema", type=number, default=None, metavar="DECAY",
                   help="checkpoint averaging: EMA of the per-epoch weights (released 0.9), evaluated at the end")
    g.add_argument("--raw-inputs", action="store_true", default=None,
                   help="feed raw [0, 1] inputs to the model (no normalisation), as released")
    a = p.add_argument_group("attack")
    a.add_argument("--epsilon", type=number, help="radius (default 0.2 on digits, 8/255 on CIFAR); fractions allowed")
    a.add_argument("--norm", choices=["linf", "l2"], default="linf")
    a.add_argument("--attack-steps", type=int, default=None, help="inner steps (default 5 digits, 10 CIFAR)")
    a.add_argument("--attack-steps-min", type=int, default=None, help="first-epoch steps of the curriculum")
    a.add_argument("--step-ratio", type=number, default=None, help="step size as a fraction of epsilon")
    a.add_argument("--eps-schedule", choices=EPS_SCHEDULES, default=None,
                   help="ramp-hold: ramp over --eps-warmup epochs, then hold (default); released-linear: "
                        "eps*epoch/epochs, full eps only in the last epoch (released)")
    a.add_argument("--eps-warmup", type=number, default=0.0, help="epochs over which epsilon ramps up")
    a.add_argument("--eval-steps", type=int, default=10, help="PGD steps of the per-epoch robust accuracy")
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
    # field name -> how the error of a flag the chosen method lacks names it
    shown = {name: "/".join(_flags(owners[0][1])) for name, owners in fields.items()}
    p.set_defaults(func=run, method_settings=shown)


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
    given = {k: getattr(args, k) for k in args.method_settings if getattr(args, k) is not None}
    wrong = sorted(set(given) - own)
    if wrong:
        flags = ", ".join(args.method_settings[k] for k in wrong)
        its = ", ".join(args.method_settings.get(k, k) for k in sorted(own)) or "none"
        verb = "does" if len(wrong) == 1 else "do"
        raise CLIError(f"{flags} {verb} not apply to --method {args.method} (its flags: {its})")
    return {**{k: v for k, v in recipe.items() if k in own}, **given}


def _adversarial_config(args, recipe: dict[str, Any], cifar: bool):
    from gkl.methods.adversarial import AdversarialConfig

    return AdversarialConfig.for_method(
        args.method,
        epsilon=pick(args.epsilon, recipe.get("epsilon"), 8 / 255 if cifar else 0.2),
        norm=args.norm,
        attack_steps=pick(args.attack_steps, recipe.get("attack_steps"), 10 if cifar else 5),
        attack_steps_min=args.attack_steps_min,
        step_ratio=pick(args.step_ratio, recipe.get("step_ratio"), 0.25 if cifar else 0.4),
        eps_schedule=pick(args.eps_schedule, recipe.get("eps_schedule")),
        eps_warmup=args.eps_warmup,
        awp_gamma=pick(args.awp, recipe.get("awp_gamma")),
        awp_warmup=pick(args.awp_warmup, recipe.get("awp_warmup")),
        eval_steps=args.eval_steps,
        **_method_settings(args, recipe),
    )


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

    _check(args)
    cifar = args.dataset.startswith("cifar")
    rec = released_recipe(args.dataset, args.method) if args.preset == "released" else \
        {"adversarial": {}, "train": {}, "model": {}}
    adv = _adversarial_config(args, rec["adversarial"], cifar)
    train = _train_config(args, rec["train"], cifar)
    model = pick(args.model, rec["model"].get("name"), "preact_resnet18" if cifar else "small_cnn")
    normalize = not pick(args.raw_inputs, rec["model"].get("normalize") is False, False)
    printer = None if args.quiet else (lambda m: print(json.dumps(m), flush=True))
    train_adversarial(
        args.dataset, model, adv, train, args.out,
        data_root=args.data_root, train_subset=args.train_subset,
        resume=args.resume, overwrite=args.overwrite, on_epoch=printer, normalize=normalize,
    )
    return 0
