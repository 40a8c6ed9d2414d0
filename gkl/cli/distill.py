"""``python -m gkl distill``: knowledge distillation of one student.

``--method`` offers every distiller registered in :data:`gkl.methods.distill.DISTILLERS`, and the
method flags (``--alpha``, ``--weight-temperature``, ``--prior/--no-prior`` ...) are generated from
the fields of their config dataclasses by :class:`~gkl.cli.method_flags.MethodFlags`, as for
``adversarial``. A flag that the chosen method's config lacks is a one-line error (``--gamma does not
apply to method kd``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from gkl.cli.common import add_run_folder_flags, check_run_folder, finished_message, model_names
from gkl.cli.method_flags import MethodFlags

__all__ = ["add_parser", "run", "method_flags"]


def method_flags() -> MethodFlags:
    """The flags of the registered distillers' config fields (:class:`~gkl.cli.method_flags.MethodFlags`;
    no defaults in their help: a method starts from its profile setting, see ``--method``)."""
    from gkl.methods.distill import DISTILLERS

    return MethodFlags(DISTILLERS, show_defaults=False)


def _method_help() -> str:
    from gkl.experiments.distill import DEFAULT_METHOD_CONFIGS
    from gkl.methods.distill import describe

    settings = "; ".join(f"{m}: {describe(c)}" for m, c in DEFAULT_METHOD_CONFIGS.items())
    return ("distillation method; without --config each method starts from its setting in the CPU profile, "
            "the released resnet56->resnet20 CIFAR-100 hyper-parameters (warm-up 5 of 60 epochs): "
            f"{settings}; any other registered method from its config's defaults")


def add_parser(sub) -> None:
    from gkl.methods.distill import DISTILLERS
    from gkl.methods.distill.objective import AUGMENTATIONS

    p = sub.add_parser("distill", help="knowledge distillation (" + ", ".join(
        DISTILLERS[m].label for m in DISTILLERS if DISTILLERS[m].needs_teacher) + ")")
    p.add_argument("--dataset", required=True, choices=["mnist1d", "digits", "cifar100"], help="data set")
    p.add_argument("--teacher", help="teacher.pt file, or a registered model to train (and cache) as the teacher: "
                                     f"{model_names()}")
    p.add_argument("--teacher-kwargs", default="{}", help="JSON arguments of the teacher architecture")
    p.add_argument("--teacher-epochs", type=int, default=None, help="epochs of a teacher trained here (default: --epochs)")
    p.add_argument("--student", required=True, help=f"student architecture, a registered model: {model_names()}")
    p.add_argument("--student-kwargs", default="{}", help='JSON arguments of the student, e.g. \'{"width": 8}\'')
    p.add_argument("--method", default="kd", choices=list(DISTILLERS.names()), help=_method_help())
    p.add_argument("--config", default=None, help="named released configuration, e.g. cifar100/resnet32x4-resnet8x4")
    p.add_argument("--epochs", type=int, default=None, help="training epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder (metrics.jsonl, checkpoint.pt)")
    add_run_folder_flags(p)
    p.add_argument("--lr", type=float, default=None, help="learning rate")
    p.add_argument("--batch-size", type=int, default=None, help="batch size")
    p.add_argument("--weight-decay", type=float, default=None, help="weight decay")
    p.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default=None)
    p.add_argument("--augment", choices=list(AUGMENTATIONS), default=None, help="batch augmentation")
    p.add_argument("--train-subset", type=int, default=None, help="train the student on this many samples")
    p.add_argument("--data-root", default=None, help="folder of CIFAR data")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: automatic)")
    p.add_argument("--progress", action="store_true", help="show progress bars")
    flags = method_flags()
    flags.add_to(p)
    p.set_defaults(func=run, method_flags=flags)


def _json_arg(text: str, name: str) -> dict[str, Any]:
    try:
        v = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{name} is not valid JSON: {err.msg}") from None
    if not isinstance(v, dict):
        raise ValueError(f"{name} must be a JSON object")
    return v


def _named_profile(args):
    """The profile of ``--config`` (``None`` without it)."""
    from gkl.experiments.distill import CONFIGS

    if args.config is None:
        return None
    if args.config not in CONFIGS:
        raise ValueError(f"unknown config {args.config!r}; available: {', '.join(CONFIGS)}")
    named = CONFIGS[args.config]
    if named.dataset != args.dataset:
        raise ValueError(f"config {args.config!r} is for {named.dataset!r}, not {args.dataset!r}")
    return named


def _method_config(args, named):
    """The method's config: from ``--config``, else the CPU profile, else its defaults; then the flags."""
    from gkl.experiments.distill import DEFAULT_METHOD_CONFIGS
    from gkl.methods.distill import distill_config

    base = named.methods.get(args.method) if named is not None else None
    base = base or DEFAULT_METHOD_CONFIGS.get(args.method) or distill_config(args.method)
    return base.replace(**args.method_flags.given(args, args.method))


def _train_settings(args, named) -> dict[str, Any]:
    """The schedule: ``--config``'s (milestones scaled to ``--epochs``) or the data set's default, then the flags."""
    from gkl.experiments.distill import DEFAULT_TRAIN

    train = dict(named.train) if named is not None else dict(DEFAULT_TRAIN.get(args.dataset, {}))
    for k, v in (("epochs", args.epochs), ("lr", args.lr), ("batch_size", args.batch_size),
                 ("weight_decay", args.weight_decay), ("optimizer", args.optimizer)):
        if v is not None:
            train[k] = v
    if args.epochs is not None and named is not None and train.get("milestones"):
        # scale a multistep schedule to the shorter run
        full = named.train["epochs"]
        train["milestones"] = [max(1, round(m * args.epochs / full)) for m in named.train["milestones"]]
    train["seed"] = args.seed
    train.setdefault("epochs", 10)
    if train["epochs"] < 1:
        raise ValueError(f"--epochs must be >= 1, got {train['epochs']}")
    return train


def _teacher(args, named, train: dict[str, Any], num_classes: int):
    """``(model, weights hash)`` of ``--teacher``: a teacher file, or an architecture trained (and cached) here."""
    from gkl.experiments.teachers import TeacherSpec, get_teacher, load_teacher
    from gkl.models import available_models

    path = Path(args.teacher)
    if path.suffix in (".pt", ".pth") or path.exists():
        loaded = load_teacher(path, dataset=args.dataset, num_classes=num_classes)
        return loaded.model, loaded.weights_sha256
    if args.teacher not in available_models():
        raise ValueError(f"--teacher {args.teacher!r} is neither a file nor a registered model")
    tkw = _json_arg(args.teacher_kwargs, "--teacher-kwargs")
    if named is not None and args.teacher == named.teacher_arch:
        ttrain = dict(named.teacher_train)
        tkw = tkw or dict(named.teacher_kwargs)
    else:
        ttrain = {k: v for k, v in train.items() if k != "seed"}
        ttrain["seed"] = 0
    if args.teacher_epochs is not None:
        ttrain["epochs"] = args.teacher_epochs
    spec = TeacherSpec(args.dataset, args.teacher, tkw, ttrain, None)
    loaded = get_teacher(spec, progress=args.progress, device=args.device, data_root=args.data_root)
    return loaded.model, loaded.weights_sha256


def run(args) -> int:
    """Run ``python -m gkl distill`` from parsed ``args``; returns the exit code (0).

    Raises :class:`CLIError` / ``ValueError`` / ``FileNotFoundError`` with a one-line message on bad
    input (:func:`gkl.cli.main` turns them into ``gkl: error: ...`` and exit code 2).
    """
    from gkl.methods.distill import DISTILLERS
    from gkl.methods.distill.train import load_data, train_student
    from gkl.models import build_model

    named = _named_profile(args)
    config = _method_config(args, named)
    train = _train_settings(args, named)
    out = Path(args.out)
    done = check_run_folder(out, args.resume, args.overwrite)  # before a teacher is trained
    student_kwargs = _json_arg(args.student_kwargs, "--student-kwargs")
    if named is not None and args.student == named.student_arch and not student_kwargs:
        student_kwargs = dict(named.student_kwargs)
    _, _, info = load_data(args.dataset, None, args.data_root, args.seed)
    build_model(args.student, info.num_classes, **student_kwargs)  # validates name and arguments

    teacher: Optional[Any] = None
    teacher_hash: Optional[str] = None
    if DISTILLERS[config.method].needs_teacher:
        if not args.teacher:
            raise ValueError(f"method {config.method!r} needs --teacher (a teacher.pt file or an architecture)")
        teacher, teacher_hash = _teacher(args, named, train, info.num_classes)

    if args.overwrite and (out / "checkpoint.pt").exists():
        (out / "checkpoint.pt").unlink()
    result = train_student(
        args.dataset, args.student, student_kwargs, train, distill=config, teacher=teacher, teacher_hash=teacher_hash,
        augment=args.augment, train_subset=args.train_subset, out_dir=out, resume=args.resume,
        progress=args.progress, device=args.device, data_root=args.data_root,
    )
    if done == train["epochs"]:  # a finished run: the engine checked its config, trained nothing
        print(finished_message(out, done))
        return 0
    last = result.history[-1]
    print(f"epoch {last['epoch']}: train_loss {last['train_loss']:.4f}, test_acc {last['test_acc']:.4f} -> {out}")
    return 0
