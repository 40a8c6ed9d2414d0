"""``python -m gkl adversarial``: adversarial training of one method (see :mod:`gkl.adversarial`)."""

from __future__ import annotations

import json

from gkl.cli.common import CLIError, check_positive_int, number, pick

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    from gkl.adversarial import ATTACK_LOSSES, EPS_SCHEDULES, METHODS

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
    g.add_argument("--alpha", type=number, help="weight of the soft-label CE (IKL/GKL)")
    g.add_argument("--beta", type=number, help="TRADES beta, or weight of the wMSE (IKL/GKL)")
    g.add_argument("--gamma", type=number, help="weight exponent (GKL)")
    g.add_argument("--temperature", type=number, help="temperature T of the soft-label CE (IKL/GKL; released 1)")
    g.add_argument("--no-prior", action="store_true", help="IKL/GKL without class-wise global information")
    g.add_argument("--prior-temperature", type=number, help="softmax temperature of the class prior (released 4)")
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
    a.add_argument("--attack-loss", choices=ATTACK_LOSSES, default=None,
                   help="inner loss; default: released (IKL/GKL: soft-ce for 10 classes, gkl-unit for 100), "
                        "kl (TRADES), label-ce (PGD-AT)")
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
    p.set_defaults(func=run)



def run(args) -> int:
    from gkl.adversarial import AdversarialConfig, released_recipe, train_adversarial
    from gkl.training import TrainConfig

    cifar = args.dataset.startswith("cifar")
    if args.preset == "released" and not cifar:
        raise CLIError("--preset released is the CIFAR recipe: use --dataset cifar10 or cifar100")
    rec = released_recipe(args.dataset, args.method) if args.preset == "released" else \
        {"adversarial": {}, "train": {}, "model": {}}
    ra, rt, rm = rec["adversarial"], rec["train"], rec["model"]
    if args.epsilon is not None and args.epsilon < 0:
        raise CLIError(f"--epsilon must be >= 0, got {args.epsilon}")
    for name in ("epochs", "batch_size", "train_subset", "eval_subset", "awp_warmup"):
        check_positive_int(getattr(args, name), "--" + name.replace("_", "-"))
    for name in ("attack_steps", "attack_steps_min", "eval_steps", "workers"):
        check_positive_int(getattr(args, name), "--" + name.replace("_", "-"), allow_zero=True)
    adv = AdversarialConfig.for_method(
        args.method,
        epsilon=pick(args.epsilon, ra.get("epsilon"), 8 / 255 if cifar else 0.2),
        norm=args.norm,
        attack_steps=pick(args.attack_steps, ra.get("attack_steps"), 10 if cifar else 5),
        attack_steps_min=args.attack_steps_min,
        step_ratio=pick(args.step_ratio, ra.get("step_ratio"), 0.25 if cifar else 0.4),
        eps_schedule=pick(args.eps_schedule, ra.get("eps_schedule")),
        eps_warmup=args.eps_warmup,
        alpha=args.alpha,
        beta=args.beta,
        gamma=pick(args.gamma, ra.get("gamma")),
        temperature=args.temperature,
        use_prior=False if args.no_prior else None,
        prior_temperature=pick(args.prior_temperature, ra.get("prior_temperature")),
        attack_loss=args.attack_loss,
        awp_gamma=pick(args.awp, ra.get("awp_gamma")),
        awp_warmup=pick(args.awp_warmup, ra.get("awp_warmup")),
        eval_steps=args.eval_steps,
    )
    train = TrainConfig(
        epochs=pick(args.epochs, rt.get("epochs"), 10),
        batch_size=pick(args.batch_size, rt.get("batch_size"), 128 if cifar else 64),
        lr=pick(args.lr, rt.get("lr"), 0.1 if cifar else 0.05),
        weight_decay=pick(args.weight_decay, rt.get("weight_decay"), 5e-4),
        schedule=pick(args.schedule, rt.get("schedule"), "cosine"),
        milestones=tuple(args.milestones),
        seed=args.seed,
        device=args.device,
        num_workers=args.workers,
        eval_subset=args.eval_subset,
        progress=not args.no_progress,
        deterministic=not cifar,
        ema_decay=pick(args.ema, rt.get("ema_decay")),
        amp=args.amp,
    )
    model = pick(args.model, rm.get("name"), "preact_resnet18" if cifar else "small_cnn")
    normalize = not pick(args.raw_inputs, rm.get("normalize") is False, False)
    printer = None if args.quiet else (lambda m: print(json.dumps(m), flush=True))
    train_adversarial(
        args.dataset, model, adv, train, args.out,
        data_root=args.data_root, train_subset=args.train_subset,
        resume=args.resume, overwrite=args.overwrite, on_epoch=printer, normalize=normalize,
    )
    return 0


