r"""Adversarial training with KL, IKL and GKL: the objective, the run helpers and the experiment.

Methods (``o_c`` = clean logits, ``o_a`` = adversarial logits, :math:`\mathcal{L}_{CE}` the
cross-entropy with the label):

* ``pgd-at`` (Madry et al.): :math:`\mathcal{L}_{CE}(o_a, y)`, :math:`x_a` = PGD on the CE.
* ``trades`` (Zhang et al.): :math:`\mathcal{L}_{CE}(o_c, y) + \beta\,\mathrm{KL}(s_c \| s_a)`,
  :math:`x_a = \arg\max \mathrm{KL}(s_c \| s_a)` (``beta`` = TRADES' :math:`\beta`, default 6).
* ``ikl``: :math:`\mathcal{L}_{CE}(o_c, y) + \mathrm{IKL}(o_a, o_c)`: :func:`gkl.gkl` with
  :math:`\gamma = 1` and the class prior (asymmetry broken, class-wise global information).
* ``gkl``: :math:`\mathcal{L}_{CE}(o_c, y) + \mathrm{GKL}(o_a, o_c)`:
  ``beta * wMSE + alpha * softCE`` with weights :math:`u^\gamma`, ``u`` = the class prior row of
  the label (or the per-sample :math:`\mathrm{softmax}(o_c/T_2)` with ``use_prior=False``).

For ``ikl``/``gkl`` the inner maximisation ascends ``attack_loss``: ``"gkl"`` (default: the
configured loss itself), ``"ce"`` (its soft-label CE part only — equal to
:math:`\mathrm{KL}(s_c\|s_a)` at temperature :math:`T` up to a constant, what the released code does
on CIFAR-10) or ``"kl"`` (plain KL at :math:`T=1`, as TRADES).

**Class prior** (IKL/GKL with ``use_prior``): collected from the *clean logits of the training
forward pass* of epoch :math:`e` (:class:`gkl.ClassPrior`, temperature ``prior_temperature``), used
during epoch :math:`e+1` (uniform in epoch 1), synchronised over DDP ranks by its ``compute``.

**Schedules**, done right (the released code ramps ε to its final value only at the last epoch, and
a chain of ``if`` s disables its 2→5-step attack curriculum): ε grows linearly per step from 0 to
``epsilon`` over the first ``eps_warmup`` epochs, then stays; the number of attack steps grows from
``attack_steps_min`` to ``attack_steps`` over the same warm-up. The attack step size is
``step_ratio`` × the current ε.

Not implemented: adversarial weight perturbation (AWP, used by the paper from epoch 10 on CIFAR).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attacks import accuracy_vs_epsilon, pgd, robustness, trades_perturb
from .checkpoint import load_checkpoint
from .data import get_dataset
from .engine import Objective, StepContext, StepOutput, TrainConfig, default_runs_dir, fit
from .losses import gkl_parts, kl_div
from .models import build_model
from .prior import ClassPrior

__all__ = [
    "METHODS",
    "AdversarialConfig",
    "AdversarialObjective",
    "Profile",
    "PROFILES",
    "method_defaults",
    "train_adversarial",
    "load_trained",
    "run_experiment",
    "summarize",
    "format_table",
]

METHODS = ("pgd-at", "trades", "ikl", "gkl")


def method_defaults(method: str) -> dict[str, Any]:
    """Loss settings each method starts from (the paper's AT defaults for IKL/GKL: α=4, β=20, T=4)."""
    if method == "pgd-at":
        return {}
    if method == "trades":
        return {"beta": 6.0}
    if method == "ikl":
        return {"alpha": 4.0, "beta": 20.0, "gamma": 1.0, "temperature": 4.0, "use_prior": True}
    if method == "gkl":
        return {"alpha": 4.0, "beta": 20.0, "gamma": 0.2, "temperature": 4.0, "use_prior": True}
    raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


@dataclass
class AdversarialConfig:
    """Settings of an adversarial-training objective (see the module docstring)."""

    method: str = "gkl"
    epsilon: float = 8 / 255
    norm: str = "linf"
    attack_steps: int = 10
    attack_steps_min: Optional[int] = None
    step_ratio: float = 0.25
    eps_warmup: float = 0.0
    alpha: float = 1.0
    beta: float = 1.0
    gamma: float = 1.0
    temperature: float = 1.0
    weight_temperature: float = 1.0
    use_prior: bool = False
    prior_temperature: Optional[float] = None
    attack_loss: Optional[str] = None
    eval_epsilon: Optional[float] = None
    eval_steps: int = 10

    @classmethod
    def for_method(cls, method: str, **overrides: Any) -> "AdversarialConfig":
        """The method's defaults (:func:`method_defaults`) updated with ``overrides`` (``None`` ignored)."""
        kw = {"method": method, **method_defaults(method)}
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kw)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if not (self.epsilon >= 0 and math.isfinite(self.epsilon)):
            raise ValueError(f"epsilon must be >= 0, got {self.epsilon}")
        if self.norm not in ("linf", "l2"):
            raise ValueError(f"norm must be 'linf' or 'l2', got {self.norm!r}")
        if self.attack_steps < 0 or (self.attack_steps_min is not None and self.attack_steps_min < 0):
            raise ValueError("attack steps must be >= 0")
        if self.step_ratio <= 0 or self.eps_warmup < 0:
            raise ValueError("step_ratio must be > 0 and eps_warmup >= 0")
        for name in ("alpha", "beta", "gamma"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("temperature", "weight_temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.prior_temperature is not None and not self.prior_temperature > 0:
            raise ValueError(f"prior_temperature must be > 0, got {self.prior_temperature}")
        if self.attack_loss is None:
            self.attack_loss = {"pgd-at": "ce", "trades": "kl"}.get(self.method, "gkl")
        if self.attack_loss not in ("kl", "gkl", "ce"):
            raise ValueError(f"attack_loss must be 'kl', 'gkl' or 'ce', got {self.attack_loss!r}")
        if self.eval_epsilon is not None and not self.eval_epsilon >= 0:
            raise ValueError(f"eval_epsilon must be >= 0, got {self.eval_epsilon}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class AdversarialObjective(Objective):
    """The engine objective for ``pgd-at``, ``trades``, ``ikl`` and ``gkl`` (see the module docstring).

    Loss terms logged per epoch: ``natural`` (CE on clean inputs), ``robust`` (KL / adversarial CE),
    or ``robust_ce`` and ``robust_wmse`` for IKL/GKL (each already weighted by ``alpha``/``beta``).
    Evaluation metrics: ``clean_acc`` and ``robust_acc`` (PGD with ``eval_steps`` steps at
    ``eval_epsilon``, default ``epsilon``). Extra metrics: ``epsilon`` (reached at the epoch's end),
    ``attack_steps``.
    """

    def __init__(self, config: AdversarialConfig, num_classes: int) -> None:
        self.cfg = config
        self.num_classes = num_classes
        decoupled = config.method in ("ikl", "gkl")
        self.prior: Optional[ClassPrior] = None
        if decoupled and config.use_prior:
            self.prior = ClassPrior(num_classes, config.prior_temperature or config.temperature)
        self.current_prior: Optional[Tensor] = None
        self._eps_now = config.epsilon
        self._steps_now = config.attack_steps

    # -- engine hooks ---------------------------------------------------------------------------
    def states(self) -> dict[str, Any]:
        return {"prior": self.prior} if self.prior is not None else {}

    def config(self) -> dict[str, Any]:
        return self.cfg.to_dict()

    def start_epoch(self, epoch: int, ctx: StepContext) -> None:
        if self.prior is not None:  # epoch-ahead: the last epoch's statistics, then start afresh
            self.current_prior = self.prior.compute().to(ctx.device)
            self.prior.reset()

    def schedule(self, ctx: StepContext) -> tuple[float, int]:
        """``(ε, attack steps)`` for the current step: linear warm-up over ``eps_warmup`` epochs."""
        c = self.cfg
        if c.eps_warmup <= 0:
            return c.epsilon, c.attack_steps
        frac = min(1.0, (ctx.step + 1) / (c.eps_warmup * ctx.steps_per_epoch))
        lo = c.attack_steps if c.attack_steps_min is None else c.attack_steps_min
        return c.epsilon * frac, int(round(lo + (c.attack_steps - lo) * frac))

    def divergence(self, adv_logits: Tensor, clean_logits: Tensor, targets: Tensor) -> dict[str, Tensor]:
        """The weighted robust terms between adversarial (student) and clean (teacher) logits."""
        c = self.cfg
        if c.method == "trades":
            return {"robust": c.beta * kl_div(adv_logits, clean_logits)}
        parts = _gkl_parts(self, adv_logits, clean_logits, targets)
        return {"robust_ce": c.alpha * parts[1], "robust_wmse": c.beta * parts[0]}

    def _attack_objective(self, targets: Tensor):
        c = self.cfg
        if c.attack_loss == "kl":
            return lambda adv, clean: kl_div(adv, clean)
        if c.attack_loss == "ce":
            return lambda adv, clean: kl_div(adv, clean, c.temperature)
        return lambda adv, clean: sum(self.divergence(adv, clean, targets).values())

    def loss_terms(self, model: nn.Module, inputs: Tensor, targets: Tensor, ctx: StepContext) -> StepOutput:
        c = self.cfg
        eps, steps = self.schedule(ctx)
        self._eps_now, self._steps_now = eps, steps
        step_size = c.step_ratio * eps
        if c.method == "pgd-at":
            x_adv = pgd(ctx.module, inputs, targets, eps, steps, step_size, c.norm, random_start=True)
            adv_logits = model(x_adv)
            return StepOutput({"robust": F.cross_entropy(adv_logits, targets)}, logits=adv_logits)
        x_adv = trades_perturb(ctx.module, inputs, self._attack_objective(targets), eps, steps, step_size, c.norm)
        clean_logits = model(inputs)
        adv_logits = model(x_adv)
        if self.prior is not None:
            self.prior.update(clean_logits.detach(), targets)
        terms = {"natural": F.cross_entropy(clean_logits, targets)}
        terms.update(self.divergence(adv_logits, clean_logits, targets))
        return StepOutput(terms, logits=clean_logits)

    def end_epoch(self, epoch: int, ctx: StepContext) -> dict[str, float]:
        return {"epsilon": float(self._eps_now), "attack_steps": int(self._steps_now)}

    def eval_batch(self, module: nn.Module, inputs: Tensor, targets: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        c = self.cfg
        eps = c.epsilon if c.eval_epsilon is None else c.eval_epsilon
        with torch.no_grad():
            clean = module(inputs).argmax(1) == targets
        x_adv = pgd(module, inputs, targets, eps, steps=c.eval_steps, norm=c.norm)
        with torch.no_grad():
            robust = (module(x_adv).argmax(1) == targets) & clean
        return {"clean_acc": clean.sum(), "robust_acc": robust.sum()}


def _gkl_parts(obj: AdversarialObjective, adv: Tensor, clean: Tensor, targets: Tensor):
    c = obj.cfg
    gamma = 1.0 if c.method == "ikl" else c.gamma
    prior = obj.current_prior if obj.prior is not None else None
    return gkl_parts(
        adv,
        clean,
        targets if prior is not None else None,
        prior,
        gamma=gamma,
        temperature=c.temperature,
        weight_temperature=c.weight_temperature,
    )


# -- one run -----------------------------------------------------------------------------------
def _model_kwargs(info, model_kwargs: Optional[dict]) -> dict[str, Any]:
    kw = {"mean": tuple(info.mean), "std": tuple(info.std)}
    if info.input_shape and info.input_shape[0] != 3:
        kw["in_channels"] = info.input_shape[0]
    kw.update(model_kwargs or {})
    return kw


def train_adversarial(
    dataset: str,
    model_name: str,
    adv: AdversarialConfig,
    train: TrainConfig,
    out_dir: Optional[Union[str, Path]] = None,
    *,
    model_kwargs: Optional[dict[str, Any]] = None,
    data_root: Optional[Union[str, Path]] = None,
    train_subset: Optional[int] = None,
    resume: bool = False,
    overwrite: bool = False,
    stop_after: Optional[int] = None,
    data: Optional[tuple] = None,
    on_epoch=None,
) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Build the model (seeded by ``train.seed``), train it adversarially with the engine.

    ``data`` may pass ``(train_set, test_set, info)`` already loaded. ``train_subset`` trains on a
    fixed random subset (seeded by 0, the same for every run). Returns ``(model, history)``; the
    checkpoint's ``meta`` records how to rebuild the model (see :func:`load_trained`).
    """
    from .device import seed_everything

    train_set, test_set, info = data if data is not None else get_dataset(dataset, data_root)
    if train_subset is not None and train_subset < len(train_set):
        train_set = train_set.subset(train_subset, seed=0)
    kw = _model_kwargs(info, model_kwargs)
    seed_everything(train.seed, deterministic=train.deterministic)
    model = build_model(model_name, info.num_classes, **kw)
    meta = {
        "task": "adversarial",
        "dataset": dataset,
        "model": model_name,
        "model_kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()},
        "num_classes": info.num_classes,
        "input_shape": list(info.input_shape),
        "adversarial": adv.to_dict(),
    }
    objective = AdversarialObjective(adv, info.num_classes)
    history = fit(
        model, objective, train_set, test_set, train, out_dir,
        resume=resume, overwrite=overwrite, meta=meta, stop_after=stop_after, on_epoch=on_epoch,
    )
    return model, history


def load_trained(
    checkpoint: Union[str, Path], model_name: Optional[str] = None, device: Optional[torch.device] = None
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from a checkpoint written by the engine; returns ``(model, checkpoint)``.

    ``checkpoint`` is the file or its run folder. ``model_name``, if given, must match the
    checkpoint's (a clear ``ValueError`` otherwise, as for weights that do not fit the model).
    """
    path = Path(checkpoint)
    if path.is_dir():
        path = path / "checkpoint.pt"
    ckpt = load_checkpoint(path)
    meta = ckpt.get("meta") or {}
    if "model" not in meta or "num_classes" not in meta:
        raise ValueError(f"checkpoint {path} does not say which model it holds (no meta)")
    if model_name is not None and model_name != meta["model"]:
        raise ValueError(f"checkpoint {path} holds a {meta['model']!r} model, not {model_name!r}")
    model = build_model(meta["model"], int(meta["num_classes"]), **(meta.get("model_kwargs") or {}))
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()[0]
        raise ValueError(f"checkpoint {path} does not fit model {meta['model']!r}: {first}") from None
    if device is not None:
        model.to(device)
    return model.eval(), ckpt


# -- the experiment of the chapter --------------------------------------------------------------
@dataclass
class Profile:
    """Everything an experiment needs: data, model, training, attacks, seeds, methods.

    ``methods`` maps a label to ``(method, overrides of AdversarialConfig)``. ``autoattack_subset``
    ``None`` evaluates AutoAttack on the full test split (``test_subset``: the final evaluation
    uses only the first that many test points); ``square_queries`` other than 5000 (tests
    only) makes it a reduced AutoAttack.
    """

    name: str
    dataset: str
    model: str
    epsilon: float
    epochs: int
    methods: dict[str, tuple[str, dict[str, Any]]]
    seeds: tuple[int, ...] = (0, 1, 2)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.05
    weight_decay: float = 5e-4
    warmup_epochs: float = 0.0
    attack_steps: int = 5
    step_ratio: float = 0.4
    eps_warmup: float = 3.0
    pgd_steps: int = 20
    attacks: tuple[str, ...] = ("pgd", "autoattack")
    autoattack_subset: Optional[int] = None
    test_subset: Optional[int] = None
    square_queries: int = 5000
    eval_subset: Optional[int] = None
    train_subset: Optional[int] = None
    curve_epsilons: tuple[float, ...] = ()
    data_root: Optional[str] = None
    num_workers: int = 0
    deterministic: bool = True

    def replace(self, **kw: Any) -> "Profile":
        return dataclasses.replace(self, **kw)

    def key(self, method_label: str, seed: int) -> str:
        blob = json.dumps(
            {"profile": {k: v for k, v in dataclasses.asdict(self).items() if k not in ("num_workers", "data_root")},
             "method": method_label, "seed": seed},
            sort_keys=True, default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def adversarial_config(self, label: str) -> AdversarialConfig:
        method, overrides = self.methods[label]
        base = {
            "epsilon": self.epsilon,
            "attack_steps": self.attack_steps,
            "step_ratio": self.step_ratio,
            "eps_warmup": self.eps_warmup,
            "eval_steps": 10,
        }
        base.update(overrides)
        return AdversarialConfig.for_method(method, **base)

    def train_config(self, seed: int, device: Optional[str] = None) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            optimizer=self.optimizer,
            lr=self.lr,
            weight_decay=self.weight_decay,
            warmup_epochs=self.warmup_epochs,
            seed=seed,
            eval_subset=self.eval_subset,
            num_workers=self.num_workers,
            deterministic=self.deterministic,
            device=device,
            progress=False,
        )


_DIGITS_METHODS = {
    "TRADES": ("trades", {"beta": 6.0}),
    "IKL": ("ikl", {"alpha": 4.0, "beta": 20.0, "temperature": 4.0}),
    "GKL": ("gkl", {"alpha": 4.0, "beta": 20.0, "gamma": 0.2, "temperature": 4.0}),
}

#: ``cpu``: the digits experiment the website shows. ``gpu``: CIFAR-10 with PreActResNet-18,
#: sized for about 20 minutes on a Colab GPU (an estimate; see the chapter).
PROFILES: dict[str, Profile] = {
    "cpu": Profile(
        name="cpu",
        dataset="digits",
        model="small_cnn",
        model_kwargs={"widths": [16, 32, 64]},
        epsilon=0.2,
        epochs=10,
        methods=_DIGITS_METHODS,
        seeds=(0, 1, 2),
        batch_size=64,
        lr=0.05,
        attack_steps=5,
        step_ratio=0.4,
        eps_warmup=3.0,
        curve_epsilons=(0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3),
    ),
    "gpu": Profile(
        name="gpu",
        dataset="cifar10",
        model="preact_resnet18",
        epsilon=8 / 255,
        methods={
            "TRADES": ("trades", {"beta": 6.0}),
            "IKL": ("ikl", {"alpha": 4.0, "beta": 20.0, "temperature": 4.0}),
            "GKL": ("gkl", {"alpha": 4.0, "beta": 20.0, "gamma": 0.2, "temperature": 4.0}),
        },
        seeds=(0, 1),
        epochs=4,
        batch_size=128,
        lr=0.1,
        attack_steps=3,
        step_ratio=0.5,
        eps_warmup=1.0,
        train_subset=5000,
        eval_subset=500,
        test_subset=500,
        autoattack_subset=500,
        curve_epsilons=(0.0, 4 / 255, 8 / 255, 12 / 255, 16 / 255),
        num_workers=2,
        deterministic=False,
    ),
}


def _run_dir(runs_dir: Path, profile: Profile, label: str, seed: int) -> Path:
    return runs_dir / f"adversarial-{profile.name}" / label.lower() / f"seed{seed}"


def run_one(profile: Profile, label: str, seed: int, runs_dir: Union[str, Path], device: Optional[str] = None,
            threads: Optional[int] = 1) -> dict[str, Any]:
    """Train (or reuse a finished run of) one method and seed, evaluate it, cache ``result.json``.

    The result holds the per-epoch history, ``clean_acc``, ``pgd_acc``, ``autoattack_acc``,
    ``robust_acc`` (per-point worst case over the attacks), the PGD accuracy at each of
    ``curve_epsilons`` and the wall times. ``threads`` pins torch's CPU threads during the run
    (1 makes results independent of how many runs share the machine).
    """
    out = _run_dir(Path(runs_dir), profile, label, seed)
    key = profile.key(label, seed)
    res_path = out / "result.json"
    if res_path.is_file():
        cached = json.loads(res_path.read_text())
        if cached.get("key") == key:
            return cached
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        data = get_dataset(profile.dataset, profile.data_root)
        t0 = time.perf_counter()
        model, history = train_adversarial(
            profile.dataset, profile.model, profile.adversarial_config(label), profile.train_config(seed, device), out,
            model_kwargs=profile.model_kwargs, train_subset=profile.train_subset, overwrite=True, data=data,
        )
        train_s = time.perf_counter() - t0
        x, y = data[1].tensors()
        if profile.test_subset is not None:  # final evaluation on the first test_subset test points
            x, y = x[: profile.test_subset], y[: profile.test_subset]
        t0 = time.perf_counter()
        n_aa = min(profile.autoattack_subset or x.shape[0], x.shape[0])
        full_aa = "autoattack" in profile.attacks and n_aa == x.shape[0]
        first = profile.attacks if full_aa else [a for a in profile.attacks if a != "autoattack"]
        rob = robustness(model, x, y, profile.epsilon, attacks=first, pgd_steps=profile.pgd_steps,
                         n_classes=data[2].num_classes, seed=seed, square_queries=profile.square_queries)
        result = {"key": key, "method": label, "seed": seed, "n_test": int(y.shape[0]), **rob}
        if "autoattack" in profile.attacks:
            result["autoattack_n"] = n_aa
            if not full_aa:  # AutoAttack on the first n_aa test points only (stated with the results)
                aa = robustness(model, x[:n_aa], y[:n_aa], profile.epsilon, attacks=("autoattack",),
                                n_classes=data[2].num_classes, seed=seed, square_queries=profile.square_queries)
                result["autoattack_acc"] = aa["autoattack_acc"]
        result["curve_epsilons"] = list(profile.curve_epsilons)
        result["curve_pgd_acc"] = accuracy_vs_epsilon(model, x, y, profile.curve_epsilons, steps=profile.pgd_steps, seed=seed) \
            if profile.curve_epsilons else []
        result["eval_s"] = time.perf_counter() - t0
        result["train_s"] = train_s
        result["history"] = history
    finally:
        torch.set_num_threads(old_threads)
    res_path.write_text(json.dumps(result))
    return result


def _run_one_star(args: tuple) -> dict[str, Any]:
    return run_one(*args)


@dataclass
class Experiment:
    """Results of :func:`run_experiment`: one record per (method, seed) and where the runs live."""

    profile: Profile
    records: list[dict[str, Any]]
    runs_dir: Path
    wall_s: float

    def run_dir(self, label: str, seed: int) -> Path:
        return _run_dir(self.runs_dir, self.profile, label, seed)

    def load_model(self, label: str, seed: int) -> nn.Module:
        return load_trained(self.run_dir(label, seed))[0]

    def methods(self) -> list[str]:
        return list(self.profile.methods)


def run_experiment(
    profile: Union[str, Profile] = "cpu",
    runs_dir: Optional[Union[str, Path]] = None,
    workers: Optional[int] = None,
    device: Optional[str] = None,
) -> Experiment:
    """Every method × seed of a profile: train, evaluate (PGD, AutoAttack, PGD vs ε), cache.

    Runs are independent and seeded, so they may run in parallel processes (``workers``; default
    ``min(2, CPUs)`` on CPU, 1 on a GPU) with results identical to a serial run. Finished runs under
    ``runs_dir`` (default :func:`gkl.engine.default_runs_dir`) with the same settings are reused.
    """
    prof = PROFILES[profile] if isinstance(profile, str) else profile
    runs = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    jobs = [(prof, label, seed, runs, device, 1) for label in prof.methods for seed in prof.seeds]
    from .device import get_device

    on_gpu = get_device(device).type != "cpu"
    if workers is None:
        workers = 1 if on_gpu else max(1, min(2, os.cpu_count() or 1, len(jobs)))
    if on_gpu:
        jobs = [j[:-1] + (None,) for j in jobs]
    t0 = time.perf_counter()
    if prof.dataset.startswith("cifar"):
        get_dataset(prof.dataset, prof.data_root)  # download once, before any worker starts
    if workers > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            records = list(pool.map(_run_one_star, jobs))
    else:
        records = [run_one(*j) for j in jobs]
    return Experiment(prof, records, runs, time.perf_counter() - t0)


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    values = list(values)
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarize(records: Sequence[dict[str, Any]], keys: Sequence[str] = ("clean_acc", "pgd_acc", "autoattack_acc", "robust_acc")) -> list[dict[str, Any]]:
    """Per method: mean and sample standard deviation over seeds of each accuracy key."""
    out = []
    for label in dict.fromkeys(r["method"] for r in records):
        rs = [r for r in records if r["method"] == label]
        row: dict[str, Any] = {"method": label, "seeds": len(rs)}
        for k in keys:
            if all(k in r for r in rs):
                row[k] = _mean_std([r[k] for r in rs])
        out.append(row)
    return out


_HEAD = {"clean_acc": "clean", "pgd_acc": "PGD", "autoattack_acc": "AutoAttack", "robust_acc": "worst case"}


def format_table(summary: Sequence[dict[str, Any]], pgd_steps: int = 20) -> str:
    """A markdown table of :func:`summarize` output, accuracies in % as mean ± std."""
    keys = [k for k in _HEAD if all(k in row for row in summary)]
    heads = [f"PGD-{pgd_steps}" if k == "pgd_acc" else _HEAD[k] for k in keys]
    lines = ["| method | seeds | " + " | ".join(heads) + " |", "|---|---|" + "---|" * len(keys)]
    for row in summary:
        cells = [f"{100 * row[k][0]:.1f} ± {100 * row[k][1]:.1f}" for k in keys]
        lines.append(f"| {row['method']} | {row['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
