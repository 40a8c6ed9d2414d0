"""``python -m gkl evaluate``: clean and robust accuracy of a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

from gkl.cli.common import CLIError, check_positive_int, number

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="clean and robust accuracy of a checkpoint")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--attack", choices=["pgd", "autoattack", "autoattack_fast"], default="pgd",
                   help="autoattack: the standard AutoAttack (official budget); autoattack_fast: a reduced budget")
    p.add_argument("--weights", choices=["averaged", "last"], default="averaged",
                   help="averaged: the checkpoint-averaged weights when the run kept them (else the last)")
    p.add_argument("--epsilon", type=number, default=None, help="default: the training epsilon")
    p.add_argument("--norm", choices=["linf", "l2"], default=None)
    p.add_argument("--steps", type=int, default=20, help="PGD steps")
    p.add_argument("--restarts", type=int, default=1, help="PGD restarts")
    p.add_argument("--subset", type=int, default=None, help="first N test points (default: all)")
    p.add_argument("--model", default=None, help="expected model name (checked against the checkpoint)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", default=None, help="JSON file (default: next to the checkpoint)")
    p.set_defaults(func=run)



def run(args) -> int:
    import torch

    from gkl.attacks import robustness
    from gkl.data import get_dataset
    from gkl.methods.adversarial import load_trained
    from gkl.training import is_main_process
    from gkl.training.device import get_device

    if args.epsilon is not None and args.epsilon < 0:
        raise CLIError(f"--epsilon must be >= 0, got {args.epsilon}")
    check_positive_int(args.subset, "--subset")
    check_positive_int(args.steps, "--steps", allow_zero=True)
    check_positive_int(args.restarts, "--restarts")
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
    from gkl.attacks import attack_label

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


