"""Command line: ``python -m gkl adversarial | evaluate | distill``.

Examples::

    python -m gkl adversarial --dataset digits --method gkl --epochs 12 --epsilon 0.2 --out runs/gkl
    python -m gkl adversarial --dataset digits --method gkl --epochs 12 --epsilon 0.2 --out runs/gkl --resume
    python -m gkl adversarial --dataset cifar10 --method gkl --preset released --out runs/gkl-c10
    python -m gkl evaluate --checkpoint runs/gkl/checkpoint.pt --attack autoattack
    torchrun --nproc_per_node 4 -m gkl adversarial --dataset cifar10 --model wrn34_10 --method gkl ...

``adversarial`` writes ``OUT/metrics.jsonl`` (one JSON object per epoch, also printed) and
``OUT/checkpoint.pt`` (every epoch; ``--resume`` continues a killed run). ``evaluate`` prints clean
and robust accuracy and saves them as JSON. Bad arguments or inputs end with one line
``gkl: error: ...`` on stderr and exit code 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from fractions import Fraction
from pathlib import Path
from typing import Optional, Sequence

__all__ = ["main", "build_parser", "CLIError"]

PROG = "gkl"


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        raise CLIError(message)


def _number(text: str) -> float:
    """A float, also written as a fraction such as ``8/255``."""
    try:
        return float(Fraction(text)) if "/" in text else float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def _add_adversarial(sub) -> None:
    from .adversarial import ATTACK_LOSSES, EPS_SCHEDULES, METHODS

    p = sub.add_parser("adversarial", help="adversarial training (PGD-AT, TRADES, IKL, GKL)")
    p.add_argument("--dataset", choices=["digits", "cifar10", "cifar100"], default="digits")
    p.add_argument("--model", default=None, help="registered model (default: small_cnn for digits, preact_resnet18 for CIFAR)")
    p.add_argument("--method", choices=METHODS, default="gkl")
    p.add_argument("--preset", choices=["released"], default=None,
                   help="released: the authors' DKLv2 recipe for cifar10/cifar100 (WRN-34-10, raw inputs, 200 "
                        "epochs, lr 0.2, linear eps ramp, 5 steps of eps/2, AWP 0.005 from epoch 10, checkpoint "
                        "averaging 0.9); explicit flags override it")
    p.add_argument("--epochs", type=int, default=None, help="default 10 (200 with --preset released)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="run folder (metrics.jsonl, checkpoint.pt)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--overwrite", action="store_true", help="start afresh even if --out holds a checkpoint")
    g = p.add_argument_group("loss (defaults depend on --method)")
    g.add_argument("--alpha", type=_number, help="weight of the soft-label CE (IKL/GKL)")
    g.add_argument("--beta", type=_number, help="TRADES beta, or weight of the wMSE (IKL/GKL)")
    g.add_argument("--gamma", type=_number, help="weight exponent (GKL)")
    g.add_argument("--temperature", type=_number, help="temperature T of the soft-label CE (IKL/GKL; released 1)")
    g.add_argument("--no-prior", action="store_true", help="IKL/GKL without class-wise global information")
    g.add_argument("--prior-temperature", type=_number, help="softmax temperature of the class prior (released 4)")
    g.add_argument("--awp", type=_number, default=None, metavar="GAMMA",
                   help="adversarial weight perturbation of relative size GAMMA (released 0.005)")
    g.add_argument("--awp-warmup", type=int, default=None, help="first epoch with AWP (default 10)")
    g.add_argument("--ema", type=_number, default=None, metavar="DECAY",
                   help="checkpoint averaging: EMA of the per-epoch weights (released 0.9), evaluated at the end")
    g.add_argument("--raw-inputs", action="store_true", default=None,
                   help="feed raw [0, 1] inputs to the model (no normalisation), as released")
    a = p.add_argument_group("attack")
    a.add_argument("--epsilon", type=_number, help="radius (default 0.2 on digits, 8/255 on CIFAR); fractions allowed")
    a.add_argument("--norm", choices=["linf", "l2"], default="linf")
    a.add_argument("--attack-steps", type=int, default=None, help="inner steps (default 5 digits, 10 CIFAR)")
    a.add_argument("--attack-steps-min", type=int, default=None, help="first-epoch steps of the curriculum")
    a.add_argument("--step-ratio", type=_number, default=None, help="step size as a fraction of epsilon")
    a.add_argument("--eps-schedule", choices=EPS_SCHEDULES, default=None,
                   help="ramp-hold: ramp over --eps-warmup epochs, then hold (default); released-linear: "
                        "eps*epoch/epochs, full eps only in the last epoch (released)")
    a.add_argument("--eps-warmup", type=_number, default=0.0, help="epochs over which epsilon ramps up")
    a.add_argument("--attack-loss", choices=ATTACK_LOSSES, default=None,
                   help="inner loss; default: released (IKL/GKL: soft-ce for 10 classes, gkl-unit for 100), "
                        "kl (TRADES), label-ce (PGD-AT)")
    a.add_argument("--eval-steps", type=int, default=10, help="PGD steps of the per-epoch robust accuracy")
    o = p.add_argument_group("optimisation")
    o.add_argument("--batch-size", type=int, default=None)
    o.add_argument("--lr", type=_number, default=None)
    o.add_argument("--weight-decay", type=_number, default=None, help="default 5e-4")
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
    p.set_defaults(func=_cmd_adversarial)


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="clean and robust accuracy of a checkpoint")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--attack", choices=["pgd", "autoattack", "autoattack_fast"], default="pgd",
                   help="autoattack: the standard AutoAttack (official budget); autoattack_fast: a reduced budget")
    p.add_argument("--weights", choices=["averaged", "last"], default="averaged",
                   help="averaged: the checkpoint-averaged weights when the run kept them (else the last)")
    p.add_argument("--epsilon", type=_number, default=None, help="default: the training epsilon")
    p.add_argument("--norm", choices=["linf", "l2"], default=None)
    p.add_argument("--steps", type=int, default=20, help="PGD steps")
    p.add_argument("--restarts", type=int, default=1, help="PGD restarts")
    p.add_argument("--subset", type=int, default=None, help="first N test points (default: all)")
    p.add_argument("--model", default=None, help="expected model name (checked against the checkpoint)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", default=None, help="JSON file (default: next to the checkpoint)")
    p.set_defaults(func=_cmd_evaluate)


def _add_distill(sub) -> None:
    p = sub.add_parser("distill", help="knowledge distillation (see gkl.distill)")
    try:
        from . import distill
    except ImportError as err:  # keep the other commands usable
        p.set_defaults(func=lambda args: _fail(f"distillation is unavailable: {err}"))
        return
    if not (hasattr(distill, "add_cli_arguments") and hasattr(distill, "run_cli")):
        p.set_defaults(func=lambda args: _fail("gkl.distill has no command-line entry point yet"))
        return
    distill.add_cli_arguments(p)
    p.set_defaults(func=lambda args: distill.run_cli(args))


def _fail(message: str):
    raise CLIError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Generalized KL divergence: training and evaluation.")
    sub = parser.add_subparsers(dest="command", metavar="{adversarial,evaluate,distill}", parser_class=_Parser)
    sub.required = True
    _add_adversarial(sub)
    _add_evaluate(sub)
    _add_distill(sub)
    return parser


def _check_positive_int(value: Optional[int], name: str, allow_zero: bool = False) -> None:
    if value is not None and (value < 0 or (value == 0 and not allow_zero)):
        raise CLIError(f"{name} must be {'>= 0' if allow_zero else '>= 1'}, got {value}")


def _pick(*values):
    """The first value that is not ``None``."""
    return next((v for v in values if v is not None), None)


def _cmd_adversarial(args) -> int:
    from .adversarial import AdversarialConfig, released_recipe, train_adversarial
    from .engine import TrainConfig

    cifar = args.dataset.startswith("cifar")
    if args.preset == "released" and not cifar:
        raise CLIError("--preset released is the CIFAR recipe: use --dataset cifar10 or cifar100")
    rec = released_recipe(args.dataset, args.method) if args.preset == "released" else \
        {"adversarial": {}, "train": {}, "model": {}}
    ra, rt, rm = rec["adversarial"], rec["train"], rec["model"]
    if args.epsilon is not None and args.epsilon < 0:
        raise CLIError(f"--epsilon must be >= 0, got {args.epsilon}")
    for name in ("epochs", "batch_size", "train_subset", "eval_subset", "awp_warmup"):
        _check_positive_int(getattr(args, name), "--" + name.replace("_", "-"))
    for name in ("attack_steps", "attack_steps_min", "eval_steps", "workers"):
        _check_positive_int(getattr(args, name), "--" + name.replace("_", "-"), allow_zero=True)
    adv = AdversarialConfig.for_method(
        args.method,
        epsilon=_pick(args.epsilon, ra.get("epsilon"), 8 / 255 if cifar else 0.2),
        norm=args.norm,
        attack_steps=_pick(args.attack_steps, ra.get("attack_steps"), 10 if cifar else 5),
        attack_steps_min=args.attack_steps_min,
        step_ratio=_pick(args.step_ratio, ra.get("step_ratio"), 0.25 if cifar else 0.4),
        eps_schedule=_pick(args.eps_schedule, ra.get("eps_schedule")),
        eps_warmup=args.eps_warmup,
        alpha=args.alpha,
        beta=args.beta,
        gamma=_pick(args.gamma, ra.get("gamma")),
        temperature=args.temperature,
        use_prior=False if args.no_prior else None,
        prior_temperature=_pick(args.prior_temperature, ra.get("prior_temperature")),
        attack_loss=args.attack_loss,
        awp_gamma=_pick(args.awp, ra.get("awp_gamma")),
        awp_warmup=_pick(args.awp_warmup, ra.get("awp_warmup")),
        eval_steps=args.eval_steps,
    )
    train = TrainConfig(
        epochs=_pick(args.epochs, rt.get("epochs"), 10),
        batch_size=_pick(args.batch_size, rt.get("batch_size"), 128 if cifar else 64),
        lr=_pick(args.lr, rt.get("lr"), 0.1 if cifar else 0.05),
        weight_decay=_pick(args.weight_decay, rt.get("weight_decay"), 5e-4),
        schedule=_pick(args.schedule, rt.get("schedule"), "cosine"),
        milestones=tuple(args.milestones),
        seed=args.seed,
        device=args.device,
        num_workers=args.workers,
        eval_subset=args.eval_subset,
        progress=not args.no_progress,
        deterministic=not cifar,
        ema_decay=_pick(args.ema, rt.get("ema_decay")),
        amp=args.amp,
    )
    model = _pick(args.model, rm.get("name"), "preact_resnet18" if cifar else "small_cnn")
    normalize = not _pick(args.raw_inputs, rm.get("normalize") is False, False)
    printer = None if args.quiet else (lambda m: print(json.dumps(m), flush=True))
    train_adversarial(
        args.dataset, model, adv, train, args.out,
        data_root=args.data_root, train_subset=args.train_subset,
        resume=args.resume, overwrite=args.overwrite, on_epoch=printer, normalize=normalize,
    )
    return 0


def _cmd_evaluate(args) -> int:
    import torch

    from .adversarial import load_trained
    from .attacks import robustness
    from .data import get_dataset
    from .device import get_device
    from .engine import is_main_process

    if args.epsilon is not None and args.epsilon < 0:
        raise CLIError(f"--epsilon must be >= 0, got {args.epsilon}")
    _check_positive_int(args.subset, "--subset")
    _check_positive_int(args.steps, "--steps", allow_zero=True)
    _check_positive_int(args.restarts, "--restarts")
    device = get_device(args.device)
    model, ckpt = load_trained(args.checkpoint, model_name=args.model, device=device, weights=args.weights)
    meta = ckpt["meta"]
    adv = meta.get("adversarial", {})
    eps = args.epsilon if args.epsilon is not None else adv.get("epsilon")
    if eps is None:
        raise CLIError("the checkpoint records no epsilon: pass --epsilon")
    norm = args.norm or adv.get("norm", "linf")
    _, test_set, info = get_dataset(meta["dataset"], args.data_root)
    x, y = test_set.tensors()
    if args.subset is not None:
        x, y = x[: args.subset], y[: args.subset]
    res = robustness(
        model, x, y, eps, attacks=(args.attack,), norm=norm, pgd_steps=args.steps, pgd_restarts=args.restarts,
        n_classes=info.num_classes, seed=args.seed, device=device,
    )
    from .attacks import attack_label

    res.update({"checkpoint": str(args.checkpoint), "attack": args.attack, "epsilon": eps, "norm": norm,
                "attack_label": attack_label(args.attack, args.steps, args.restarts, n_classes=info.num_classes),
                "weights": "averaged" if args.weights == "averaged" and "averaged_model" in ckpt else "last",
                "epoch": int(ckpt["epoch"]), "model": meta["model"], "dataset": meta["dataset"]})
    if args.attack == "pgd":
        res.update({"steps": args.steps, "restarts": args.restarts})
    out = Path(args.out) if args.out else Path(args.checkpoint).with_name(f"eval-{args.attack}.json")
    if Path(args.checkpoint).is_dir() and not args.out:
        out = Path(args.checkpoint) / f"eval-{args.attack}.json"
    if is_main_process():
        out.write_text(json.dumps(res, indent=2) + "\n")
        print(f"clean_acc {res['clean_acc']:.4f}  robust_acc ({res['attack_label']}, eps={eps:.4g}, {norm}) "
              f"{res['robust_acc']:.4f}  n={res['n']}  -> {out}")
    del torch
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; returns the exit code (2 for user errors, printed as one line)."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except CLIError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, FloatingPointError, KeyError) as err:
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"{PROG}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
