r"""Adversarial training with KL, IKL and GKL: the objective, the run helpers and the experiment.

Methods (``o_c`` = clean logits, ``o_a`` = adversarial logits, both from the model in train mode;
:math:`\mathcal{L}_{CE}` the cross-entropy with the label):

* ``pgd-at`` (Madry et al.): :math:`\mathcal{L}_{CE}(o_a, y)`, :math:`x_a` = the **last iterate** of
  PGD on the label CE (evaluation, not training, keeps the per-point worst iterate).
* ``trades`` (Zhang et al.): :math:`\mathcal{L}_{CE}(o_c, y) + \beta\,\mathrm{KL}(s_c \| s_a)`,
  :math:`x_a = \arg\max \mathrm{KL}(s_c \| s_a)` (``beta`` = TRADES' :math:`\beta`, default 6).
* ``ikl`` / ``gkl``, as released (DKLv2 ``train_dkl_cifar10/100.py``):
  :math:`\mathcal{L}_{CE}(o_c, y) + \beta\,\mathrm{wMSE}_\gamma(o_a, o_c) + \alpha\,\mathrm{CE}(s_c, s_a)`
  with :func:`gkl.gkl_parts` — weights :math:`u^\gamma u^\gamma` from ``u`` = the class-prior row of the
  label, normalised by the batch's total weight, the gradient of the wMSE reaching **both** the
  adversarial and the clean logits, and the soft-label CE at ``temperature`` :math:`T = 1` (the released
  loss is called without a temperature). ``ikl`` is :math:`\gamma = 1`. Released: :math:`\alpha = 4`,
  :math:`\beta = 20`, :math:`\gamma = 0.2` (CIFAR-10) / 0.4 (CIFAR-100).

**Class prior** (IKL/GKL with ``use_prior``): row :math:`c` is the mean of
:math:`\mathrm{softmax}(o_c / T_p)` over the clean training logits of class :math:`c` of one epoch, with
``prior_temperature`` :math:`T_p = 4` (the released scripts' ``--T`` sets only this temperature), used
during the next epoch (uniform in epoch 1): :meth:`gkl.ClassPrior.roll` at every epoch's end,
all-reduced over DDP ranks.

**The inner maximisation** (``attack_loss``), started at :math:`x + 0.001\,\mathcal N(0, I)`, model in
eval mode, sign steps, projection to the ε-ball and to [0, 1]:

* ``"released"`` (default for ``ikl``/``gkl``): what the released code ascends for the data set —
  ``"soft-ce"`` for 10 classes (CIFAR-10, and digits here), ``"gkl-unit"`` for 100 (CIFAR-100);
* ``"soft-ce"``: the soft-label CE :math:`-S(s_c)^\top \log s_a` at :math:`T = 1` (released :math:`\alpha = 1,
  \beta = 0`); its gradient w.r.t. :math:`x_a` equals that of TRADES' :math:`\mathrm{KL}(s_c\|s_a)`;
* ``"gkl-unit"``: the GKL loss with :math:`\alpha = \beta = \gamma = 1` at :math:`T = 1`, with the prior;
* ``"gkl"``: the configured training loss itself (not what the released code does);
* ``"kl"``: :math:`\mathrm{KL}(s_c\|s_a)` at :math:`T = 1` (TRADES' attack, its default);
* ``"label-ce"``: PGD on the label CE (``pgd-at``'s only attack).

**Schedules** (``eps_schedule``):

* ``"ramp-hold"`` (the intended one): ε grows linearly per step from 0 to ``epsilon`` over the first
  ``eps_warmup`` epochs, then stays; the attack steps grow from ``attack_steps_min`` (if set) to
  ``attack_steps`` over the same warm-up;
* ``"released-linear"`` (what the released code runs): :math:`\varepsilon_e = \varepsilon\,e/E` per epoch
  :math:`e = 1..E`, reaching ``epsilon`` only in the last epoch; ``attack_steps`` steps throughout (its
  2→5-step curriculum never runs: a chain of ``if`` s leaves 5 steps of :math:`\varepsilon_e/2`).

The step size is ``step_ratio`` × the current ε.

**Adversarial weight perturbation** (``awp_gamma``, released 0.005 from epoch ``awp_warmup`` = 10):
:mod:`gkl.awp`, computed on the full training loss of the method (usable with TRADES, IKL, GKL and
PGD-AT). **Checkpoint averaging** (released: momentum 0.9 over the per-epoch weights) is the engine's
``TrainConfig.ema_decay``; **raw [0, 1] inputs** (no normalisation, as released) are the model's
``mean``/``std`` (``Profile.normalize=False``, CLI ``--raw-inputs``). :func:`released_recipe` collects
the whole released recipe.
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
from typing import Any, Callable, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gkl.attacks import accuracy_vs_epsilon, pgd, robustness, trades_perturb
from gkl.training.awp import AdversarialWeightPerturbation
from gkl.training.checkpoint import load_checkpoint
from gkl.data import get_dataset
from gkl.training import Objective, StepContext, StepOutput, TrainConfig, default_runs_dir, fit
from gkl.core.losses import gkl_parts, kl_div
from gkl.models import build_model
from gkl.core.prior import ClassPrior
from gkl.experiments.stats import mean_std

__all__ = [
    "METHODS",
    "ATTACK_LOSSES",
    "EPS_SCHEDULES",
    "AdversarialConfig",
    "AdversarialObjective",
    "Profile",
    "PROFILES",
    "method_defaults",
    "released_attack_loss",
    "released_recipe",
    "train_adversarial",
    "load_trained",
    "run_experiment",
    "summarize",
    "format_table",
]

METHODS = ("pgd-at", "trades", "ikl", "gkl")
ATTACK_LOSSES = ("released", "soft-ce", "gkl-unit", "gkl", "kl", "label-ce")
EPS_SCHEDULES = ("ramp-hold", "released-linear")


def method_defaults(method: str) -> dict[str, Any]:
    """Loss settings each method starts from: the released AT settings for IKL/GKL (α=4, β=20, CE at
    T=1, class prior at T=4; γ=0.2 is the CIFAR-10 GKL value) and TRADES' β=6."""
    if method == "pgd-at":
        return {"attack_loss": "label-ce"}
    if method == "trades":
        return {"beta": 6.0, "attack_loss": "kl"}
    released = {"alpha": 4.0, "beta": 20.0, "temperature": 1.0, "prior_temperature": 4.0, "use_prior": True,
                "attack_loss": "released"}
    if method == "ikl":
        return {**released, "gamma": 1.0}
    if method == "gkl":
        return {**released, "gamma": 0.2}
    raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def released_attack_loss(num_classes: int) -> str:
    """The inner loss the released IKL/GKL code ascends: CIFAR-100 (100 classes) ``"gkl-unit"``,
    CIFAR-10 ``"soft-ce"`` (used here for every data set with fewer than 100 classes)."""
    return "gkl-unit" if num_classes >= 100 else "soft-ce"


@dataclass
class AdversarialConfig:
    """Settings of an adversarial-training objective (see the module docstring)."""

    method: str = "gkl"
    epsilon: float = 8 / 255
    norm: str = "linf"
    attack_steps: int = 10
    attack_steps_min: Optional[int] = None
    step_ratio: float = 0.25
    eps_schedule: str = "ramp-hold"
    eps_warmup: float = 0.0
    alpha: float = 1.0
    beta: float = 1.0
    gamma: float = 1.0
    temperature: float = 1.0
    weight_temperature: float = 1.0
    use_prior: bool = False
    prior_temperature: float = 4.0
    attack_loss: Optional[str] = None
    awp_gamma: Optional[float] = None
    awp_warmup: int = 10
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
        if self.eps_schedule not in EPS_SCHEDULES:
            raise ValueError(f"eps_schedule must be one of {', '.join(EPS_SCHEDULES)}, got {self.eps_schedule!r}")
        for name in ("alpha", "beta", "gamma"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("temperature", "weight_temperature", "prior_temperature"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.attack_loss is None:
            self.attack_loss = method_defaults(self.method)["attack_loss"]
        if self.attack_loss not in ATTACK_LOSSES:
            raise ValueError(f"attack_loss must be one of {', '.join(ATTACK_LOSSES)}, got {self.attack_loss!r}")
        if (self.method == "pgd-at") != (self.attack_loss == "label-ce"):
            raise ValueError("attack_loss 'label-ce' is PGD-AT's attack, and PGD-AT has no other")
        if self.awp_gamma is not None and not self.awp_gamma > 0:
            raise ValueError(f"awp_gamma must be > 0 or None, got {self.awp_gamma}")
        if self.awp_warmup < 1:
            raise ValueError(f"awp_warmup is the first epoch with AWP (>= 1), got {self.awp_warmup}")
        if self.eval_epsilon is not None and not self.eval_epsilon >= 0:
            raise ValueError(f"eval_epsilon must be >= 0, got {self.eval_epsilon}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def soft_label_ce(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    r""":math:`\mathrm{mean}_b\,\big(-S(\mathrm{softmax}(o_m))^\top \log \mathrm{softmax}(o_n)\big)` at :math:`T = 1`."""
    return -(F.softmax(teacher_logits.detach(), dim=1) * F.log_softmax(student_logits, dim=1)).sum(1).mean()


class AdversarialObjective(Objective):
    """The engine objective for ``pgd-at``, ``trades``, ``ikl`` and ``gkl`` (see the module docstring).

    Loss terms logged per epoch: ``natural`` (CE on clean inputs), ``robust`` (KL / adversarial CE),
    or ``robust_ce`` and ``robust_wmse`` for IKL/GKL (each already weighted by ``alpha``/``beta``).
    Evaluation metrics: ``clean_acc`` and ``robust_acc`` (PGD with ``eval_steps`` steps at
    ``eval_epsilon``, default ``epsilon``). Extra metrics: ``epsilon`` (reached at the epoch's end),
    ``attack_steps``, ``awp`` (1 when AWP ran in the epoch).
    """

    def __init__(self, config: AdversarialConfig, num_classes: int) -> None:
        self.cfg = config
        self.num_classes = num_classes
        self.attack_loss = released_attack_loss(num_classes) if config.attack_loss == "released" else config.attack_loss
        decoupled = config.method in ("ikl", "gkl")
        self.prior: Optional[ClassPrior] = None
        if decoupled and config.use_prior:
            self.prior = ClassPrior(num_classes, config.prior_temperature)
        self.awp: Optional[AdversarialWeightPerturbation] = None
        self._eps_now = config.epsilon
        self._steps_now = config.attack_steps
        self._awp_now = False

    # -- engine hooks ---------------------------------------------------------------------------
    def states(self) -> dict[str, Any]:
        return {"prior": self.prior} if self.prior is not None else {}

    def config(self) -> dict[str, Any]:
        return self.cfg.to_dict()

    def setup(self, ctx: StepContext) -> None:
        if self.cfg.awp_gamma is not None:
            self.awp = AdversarialWeightPerturbation(ctx.module, self.cfg.awp_gamma)

    def end_epoch(self, epoch: int, ctx: StepContext) -> dict[str, float]:
        if self.prior is not None:  # epoch-ahead: this epoch's clean logits weight the next epoch
            self.prior.roll()
        return {"epsilon": float(self._eps_now), "attack_steps": int(self._steps_now), "awp": int(self._awp_now)}

    def schedule(self, ctx: StepContext) -> tuple[float, int]:
        """``(ε, attack steps)`` for the current step (see ``eps_schedule`` in the module docstring)."""
        c = self.cfg
        if c.eps_schedule == "released-linear":
            return c.epsilon * ctx.epoch / ctx.epochs, c.attack_steps
        if c.eps_warmup <= 0:
            return c.epsilon, c.attack_steps
        frac = min(1.0, (ctx.step + 1) / (c.eps_warmup * ctx.steps_per_epoch))
        lo = c.attack_steps if c.attack_steps_min is None else c.attack_steps_min
        return c.epsilon * frac, int(round(lo + (c.attack_steps - lo) * frac))

    # -- the loss -------------------------------------------------------------------------------
    def weights_prior(self) -> Optional[Tensor]:
        """The class prior in use this epoch (``None`` without one)."""
        return self.prior.current if self.prior is not None else None

    def divergence(self, adv_logits: Tensor, clean_logits: Tensor, targets: Tensor) -> dict[str, Tensor]:
        """The weighted robust terms between adversarial (student) and clean (teacher) logits."""
        c = self.cfg
        if c.method == "trades":
            return {"robust": c.beta * kl_div(adv_logits, clean_logits)}
        gamma = 1.0 if c.method == "ikl" else c.gamma
        parts = self._gkl_parts(adv_logits, clean_logits, targets, gamma, c.temperature)
        return {"robust_ce": c.alpha * parts.ce, "robust_wmse": c.beta * parts.wmse}

    def _gkl_parts(self, adv: Tensor, clean: Tensor, targets: Tensor, gamma: float, temperature: float):
        prior = self.weights_prior()
        return gkl_parts(adv, clean, targets if prior is not None else None, prior, gamma=gamma,
                         temperature=temperature, weight_temperature=self.cfg.weight_temperature)

    def attack_objective(self, targets: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
        """The scalar ``f(adv_logits, clean_logits)`` the inner maximisation ascends."""
        name = self.attack_loss
        if name == "kl":
            return lambda adv, clean: kl_div(adv, clean)
        if name == "soft-ce":
            return soft_label_ce
        if name == "gkl-unit":
            return lambda adv, clean: sum(self._gkl_parts(adv, clean, targets, 1.0, 1.0))
        if name == "gkl":
            return lambda adv, clean: sum(self.divergence(adv, clean, targets).values())
        raise ValueError(f"attack_loss {name!r} has no divergence form")  # label-ce: PGD-AT

    def terms(self, net: nn.Module, inputs: Tensor, x_adv: Tensor, targets: Tensor,
              update_prior: bool = False) -> StepOutput:
        """The method's weighted training terms with ``net`` (the model, or AWP's proxy copy)."""
        adv_logits = net(x_adv)
        if self.cfg.method == "pgd-at":
            return StepOutput({"robust": F.cross_entropy(adv_logits, targets)}, logits=adv_logits)
        clean_logits = net(inputs)  # after the adversarial batch, as released (BN statistics order)
        if update_prior and self.prior is not None:
            self.prior.update(clean_logits.detach(), targets)
        out = {"natural": F.cross_entropy(clean_logits, targets)}
        out.update(self.divergence(adv_logits, clean_logits, targets))
        return StepOutput(out, logits=clean_logits)

    def perturb(self, module: nn.Module, inputs: Tensor, targets: Tensor, eps: float, steps: int) -> Tensor:
        """The training attack of the method (on the unwrapped ``module``)."""
        c = self.cfg
        step_size = c.step_ratio * eps
        if c.method == "pgd-at":
            return pgd(module, inputs, targets, eps, steps, step_size, c.norm, random_start=True, iterate="last")
        return trades_perturb(module, inputs, self.attack_objective(targets), eps, steps, step_size, c.norm)

    def loss_terms(self, model: nn.Module, inputs: Tensor, targets: Tensor, ctx: StepContext) -> StepOutput:
        eps, steps = self.schedule(ctx)
        self._eps_now, self._steps_now = eps, steps
        x_adv = self.perturb(ctx.module, inputs, targets, eps, steps)
        if self.awp is not None and ctx.epoch >= self.cfg.awp_warmup:
            self._awp_now = True
            self.awp.perturb(lambda net: sum(self.terms(net, inputs, x_adv, targets).terms.values()))
        else:
            self._awp_now = False
        return self.terms(model, inputs, x_adv, targets, update_prior=True)

    def before_optimizer_step(self, ctx: StepContext) -> None:
        if self.awp is not None:
            self.awp.restore()  # the gradient was taken at the perturbed weights; step from the saved ones

    def eval_batch(self, module: nn.Module, inputs: Tensor, targets: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        c = self.cfg
        eps = c.epsilon if c.eval_epsilon is None else c.eval_epsilon
        with torch.no_grad():
            clean = module(inputs).argmax(1) == targets
        x_adv = pgd(module, inputs, targets, eps, steps=c.eval_steps, norm=c.norm)
        with torch.no_grad():
            robust = (module(x_adv).argmax(1) == targets) & clean
        return {"clean_acc": clean.sum(), "robust_acc": robust.sum()}


def released_recipe(dataset: str, method: str = "gkl") -> dict[str, dict[str, Any]]:
    """The released DKLv2 adversarial-training recipe for ``dataset`` (``cifar10``/``cifar100``), as
    ``{"adversarial": AdversarialConfig overrides, "train": TrainConfig overrides, "model": {...}}``.

    WRN-34-10 on raw [0, 1] inputs, 200 epochs, batch 128, SGD lr 0.2 (cosine), wd 5e-4, ε = 8/255 with
    the released linear ramp, 5 attack steps of ε/2, AWP 0.005 from epoch 10, checkpoint averaging
    with momentum 0.9, the released inner attack, and for IKL/GKL α=4, β=20, CE at T=1, the class
    prior at T=4 (the released CIFAR-100 GKL command passes ``--T 1.0``: prior at T=1, γ=0.4).
    """
    if dataset not in ("cifar10", "cifar100"):
        raise ValueError(f"the released recipe is for cifar10 or cifar100, not {dataset!r}")
    adv: dict[str, Any] = {
        "epsilon": 8 / 255, "norm": "linf", "attack_steps": 5, "step_ratio": 0.5,
        "eps_schedule": "released-linear", "awp_gamma": 0.005, "awp_warmup": 10, "eval_steps": 10,
    }
    if method == "gkl":
        adv.update({"gamma": 0.2} if dataset == "cifar10" else {"gamma": 0.4, "prior_temperature": 1.0})
    train = {"epochs": 200, "batch_size": 128, "lr": 0.2, "schedule": "cosine", "weight_decay": 5e-4,
             "momentum": 0.9, "ema_decay": 0.9}
    return {"adversarial": adv, "train": train, "model": {"name": "wrn34_10", "normalize": False}}


# -- one run -----------------------------------------------------------------------------------
def _model_kwargs(info, model_kwargs: Optional[dict], normalize: bool = True) -> dict[str, Any]:
    """Model arguments from the data set: its mean/std (``normalize=False``: raw [0, 1] inputs, as the
    released adversarial-training models take them) and its number of input channels."""
    channels = info.input_shape[0] if info.input_shape else 3
    if normalize:
        kw: dict[str, Any] = {"mean": tuple(info.mean), "std": tuple(info.std)}
    else:
        kw = {"mean": (0.0,) * channels, "std": (1.0,) * channels}
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
    normalize: bool = True,
) -> tuple[nn.Module, list[dict[str, Any]]]:
    """Build the model (seeded by ``train.seed``), train it adversarially with the engine.

    ``data`` may pass ``(train_set, test_set, info)`` already loaded. ``train_subset`` trains on a
    fixed random subset (seeded by 0, the same for every run). ``normalize=False`` feeds raw [0, 1]
    inputs to the model (released). Returns ``(model, history)``: the model is the
    checkpoint-averaged one when ``train.ema_decay`` is set (``history.averaged_model``), else the
    last-epoch weights; the checkpoint's ``meta`` records how to rebuild it (see :func:`load_trained`).
    """
    from gkl.training.device import seed_everything

    train_set, test_set, info = data if data is not None else get_dataset(dataset, data_root)
    if train_subset is not None and train_subset < len(train_set):
        train_set = train_set.subset(train_subset, seed=0)
    kw = _model_kwargs(info, model_kwargs, normalize)
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
    averaged = getattr(history, "averaged_model", None)
    return (averaged if averaged is not None else model), history


def load_trained(
    checkpoint: Union[str, Path], model_name: Optional[str] = None, device: Optional[torch.device] = None,
    weights: str = "averaged",
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from a checkpoint written by the engine; returns ``(model, checkpoint)``.

    ``checkpoint`` is the file or its run folder. ``model_name``, if given, must match the
    checkpoint's (a clear ``ValueError`` otherwise, as for weights that do not fit the model).
    ``weights="averaged"`` loads the checkpoint-averaged weights when the run kept them (else the
    last ones); ``"last"`` always the last epoch's.
    """
    if weights not in ("averaged", "last"):
        raise ValueError(f"weights must be 'averaged' or 'last', got {weights!r}")
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
    state = ckpt["model"]
    if weights == "averaged" and "averaged_model" in ckpt:  # AveragedModel: "module.<name>" + n_averaged
        state = {k[len("module."):]: v for k, v in ckpt["averaged_model"].items() if k.startswith("module.")}
    try:
        model.load_state_dict(state)
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

    ``methods`` maps a label to ``(method, overrides of AdversarialConfig)``. ``attacks`` are names
    understood by :func:`gkl.attacks.robustness` (``"autoattack"`` is the standard AutoAttack,
    ``"autoattack_fast"`` a reduced budget, labelled as such). ``autoattack_subset`` ``None``
    evaluates AutoAttack on the full test split (``test_subset``: the final evaluation uses only the
    first that many test points). ``eps_schedule``, ``awp_gamma``/``awp_warmup`` (AWP),
    ``ema_decay`` (checkpoint averaging, evaluated at the end) and ``normalize=False`` (raw inputs)
    switch on the parts of the released recipe (see :func:`released_recipe`).
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
    eps_schedule: str = "ramp-hold"
    eps_warmup: float = 3.0
    awp_gamma: Optional[float] = None
    awp_warmup: int = 10
    ema_decay: Optional[float] = None
    normalize: bool = True
    schedule: str = "cosine"
    pgd_steps: int = 20
    attacks: tuple[str, ...] = ("pgd", "autoattack")
    autoattack_subset: Optional[int] = None
    test_subset: Optional[int] = None
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
            {"profile": {k: v for k, v in dataclasses.asdict(self).items() if k != "data_root"},
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
            "eps_schedule": self.eps_schedule,
            "eps_warmup": self.eps_warmup,
            "awp_gamma": self.awp_gamma,
            "awp_warmup": self.awp_warmup,
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
            schedule=self.schedule,
            warmup_epochs=self.warmup_epochs,
            ema_decay=self.ema_decay,
            seed=seed,
            eval_subset=self.eval_subset,
            num_workers=self.num_workers,
            deterministic=self.deterministic,
            device=device,
            progress=False,
        )


#: The methods of the chapters, at the released settings (:func:`method_defaults`: IKL/GKL α=4,
#: β=20, CE at T=1, prior at T=4, the released inner attack; TRADES β=6 with its KL attack).
_METHODS = {
    "TRADES": ("trades", {}),
    "IKL": ("ikl", {}),
    "GKL": ("gkl", {}),
}


def _released_cifar10_profile(base: "Profile") -> "Profile":
    rec = released_recipe("cifar10")
    adv, train = rec["adversarial"], rec["train"]
    return base.replace(
        name="gpu-released", model=rec["model"]["name"], normalize=False,
        attack_steps=adv["attack_steps"], step_ratio=adv["step_ratio"], eps_schedule=adv["eps_schedule"],
        awp_gamma=adv["awp_gamma"], awp_warmup=adv["awp_warmup"], ema_decay=train["ema_decay"],
        epochs=train["epochs"], batch_size=train["batch_size"], lr=train["lr"], weight_decay=train["weight_decay"],
        train_subset=None, seeds=(0,),
    )


#: ``cpu``: the digits experiment the website shows. ``gpu``: CIFAR-10 with PreActResNet-18,
#: sized for about 20 minutes on a Colab GPU (an estimate; see the chapter). ``gpu-released``:
#: the full released recipe on CIFAR-10 (WRN-34-10, 200 epochs: days on one GPU).
PROFILES: dict[str, Profile] = {
    "cpu": Profile(
        name="cpu",
        dataset="digits",
        model="small_cnn",
        model_kwargs={"widths": [16, 32, 64]},
        epsilon=0.2,
        epochs=10,
        methods=_METHODS,
        seeds=(0, 1, 2),
        batch_size=64,
        lr=0.05,
        attack_steps=5,
        step_ratio=0.4,
        eps_warmup=3.0,
        autoattack_subset=120,  # standard AutoAttack costs ~0.25 s per point here: a stated third
        curve_epsilons=(0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3),
    ),
    "gpu": Profile(
        name="gpu",
        dataset="cifar10",
        model="preact_resnet18",
        epsilon=8 / 255,
        methods=_METHODS,
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
PROFILES["gpu-released"] = _released_cifar10_profile(PROFILES["gpu"])


def _run_dir(runs_dir: Path, profile: Profile, label: str, seed: int) -> Path:
    return runs_dir / f"adversarial-{profile.name}" / label.lower() / f"seed{seed}"


def run_one(profile: Profile, label: str, seed: int, runs_dir: Union[str, Path], device: Optional[str] = None,
            threads: Optional[int] = 1) -> dict[str, Any]:
    """Train (or reuse a finished run of) one method and seed, evaluate it, cache ``result.json``.

    The result holds the per-epoch history, ``clean_acc``, ``pgd_acc``, ``autoattack_acc``,
    ``robust_acc`` (per-point worst case over every attack, on the ``robust_n`` points every attack
    ran on: the AutoAttack subset when there is one), the PGD accuracy at each of
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
            normalize=profile.normalize,
        )
        train_s = time.perf_counter() - t0
        x, y = data[1].tensors()
        if profile.test_subset is not None:  # final evaluation on the first test_subset test points
            x, y = x[: profile.test_subset], y[: profile.test_subset]
        t0 = time.perf_counter()
        n_aa = min(profile.autoattack_subset or x.shape[0], x.shape[0])
        aa_names = [a for a in profile.attacks if a.startswith("autoattack")]
        full_aa = n_aa == x.shape[0]
        first = list(profile.attacks) if full_aa else [a for a in profile.attacks if a not in aa_names]
        rob = robustness(model, x, y, profile.epsilon, attacks=first, pgd_steps=profile.pgd_steps,
                         n_classes=data[2].num_classes, seed=seed)
        result = {"key": key, "method": label, "seed": seed, "n_test": int(y.shape[0]), **rob}
        if aa_names:
            result["autoattack_n"] = n_aa
            if not full_aa:  # AutoAttack on the first n_aa test points only (stated with the results)
                aa = robustness(model, x[:n_aa], y[:n_aa], profile.epsilon, attacks=["pgd", *aa_names],
                                pgd_steps=profile.pgd_steps, n_classes=data[2].num_classes, seed=seed)
                result.update({f"{a}_acc": aa[f"{a}_acc"] for a in aa_names})
                result["robust_acc"] = aa["robust_acc"]  # worst case over every attack, on that subset
                result["subset_pgd_acc"] = aa["pgd_acc"]  # PGD on the same points, to compare with AutoAttack
        result["robust_n"] = n_aa if aa_names else int(y.shape[0])
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
    from gkl.training.device import get_device

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


def paired(records: Sequence[dict[str, Any]], a: str, b: str, key: str):
    """:func:`gkl.stats.paired_difference` of ``key`` between methods ``a`` and ``b`` (``b − a``)."""
    from gkl.experiments.stats import paired_difference

    ra = {r["seed"]: r[key] for r in records if r["method"] == a}
    rb = {r["seed"]: r[key] for r in records if r["method"] == b}
    return paired_difference(ra, rb, a, b)


_ATTACK_WORDS = {
    "label-ce": "PGD on the label CE, last iterate",
    "kl": "KL(s_c ‖ s_a) at T = 1 (TRADES)",
    "soft-ce": "soft-label CE at T = 1 (released CIFAR-10; gradient = TRADES' KL attack)",
    "gkl-unit": "GKL with α = β = γ = 1 at T = 1, prior on (released CIFAR-100)",
    "gkl": "the configured GKL training loss",
}


def describe_methods(profile: "Profile", num_classes: int) -> str:
    """A markdown table of what each method of ``profile`` trained with: loss settings and inner attack."""
    lines = ["| method | training loss | inner maximisation (train-time attack) |", "|---|---|---|"]
    for label in profile.methods:
        c = profile.adversarial_config(label)
        if c.method == "trades":
            loss = f"CE + {c.beta:g}·KL(s_c ‖ s_a)"
        elif c.method == "pgd-at":
            loss = "CE on the adversarial input"
        else:
            g = 1.0 if c.method == "ikl" else c.gamma
            prior = f"class prior at T = {c.prior_temperature:g}" if c.use_prior else f"per-sample weights at T₂ = {c.weight_temperature:g}"
            loss = f"CE + {c.beta:g}·wMSE(γ = {g:g}, {prior}) + {c.alpha:g}·soft CE at T = {c.temperature:g}"
        name = released_attack_loss(num_classes) if c.attack_loss == "released" else c.attack_loss
        extra = "; AWP" if c.awp_gamma else ""
        lines.append(f"| {label} | {loss} | {_ATTACK_WORDS[name]}, {c.attack_steps} steps of "
                     f"{c.step_ratio:g}·ε{extra} |")
    return "\n".join(lines)


def summarize(records: Sequence[dict[str, Any]],
              keys: Sequence[str] = ("clean_acc", "pgd_acc", "autoattack_acc", "autoattack_fast_acc", "robust_acc"),
              ) -> list[dict[str, Any]]:
    """Per method: mean and sample standard deviation over seeds of each accuracy key."""
    out = []
    for label in dict.fromkeys(r["method"] for r in records):
        rs = [r for r in records if r["method"] == label]
        row: dict[str, Any] = {"method": label, "seeds": len(rs)}
        for k in keys:
            if all(k in r for r in rs):
                row[k] = mean_std([r[k] for r in rs])
        out.append(row)
    return out


_HEAD = {"clean_acc": "clean", "pgd_acc": "PGD", "autoattack_acc": "AutoAttack (standard)",
         "autoattack_fast_acc": "AutoAttack-fast (reduced budget)", "robust_acc": "worst case"}


def format_table(summary: Sequence[dict[str, Any]], pgd_steps: int = 20) -> str:
    """A markdown table of :func:`summarize` output, accuracies in % as mean ± std."""
    keys = [k for k in _HEAD if all(k in row for row in summary)]
    heads = [f"PGD-{pgd_steps}" if k == "pgd_acc" else _HEAD[k] for k in keys]
    lines = ["| method | seeds | " + " | ".join(heads) + " |", "|---|---|" + "---|" * len(keys)]
    for row in summary:
        cells = [f"{100 * row[k][0]:.1f} ± {100 * row[k][1]:.1f}" for k in keys]
        lines.append(f"| {row['method']} | {row['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
