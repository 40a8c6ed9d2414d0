r"""One training engine for adversarial training and knowledge distillation.

The engine owns everything that is not the loss: device, seeding, data loading, optimiser and
learning-rate schedule, progress bars, per-epoch evaluation, metrics, atomic checkpoints, resume and
DistributedDataParallel. A *task* plugs in an :class:`Objective` that computes the named loss terms
of one step.

**Interface.**

.. code-block:: python

    from gkl.engine import Objective, StepOutput, TrainConfig, fit

    class MyObjective(Objective):
        def __init__(self, teacher, prior):
            self.teacher, self.prior = teacher, prior

        def modules(self):            # frozen extra modules: moved to the device, eval(), no grad,
            return {"teacher": self.teacher}        # saved in the checkpoint

        def states(self):             # objects with state_dict()/load_state_dict() (and .to(device)):
            return {"prior": self.prior}            # moved to the device, saved in the checkpoint

        def end_epoch(self, epoch, ctx):            # on every rank: this epoch's prior weights the next
            self.prior.roll()
            return {}

        def loss_terms(self, model, inputs, targets, ctx):
            logits = model(inputs)                  # model: the trainable model (maybe DDP-wrapped)
            with torch.no_grad():
                t = self.teacher(inputs)
            self.prior.update(t, targets)
            kd = gkl.gkl(logits, t, targets, self.prior.current, beta=8.0, gamma=0.2, temperature=4.0)
            return StepOutput({"ce": F.cross_entropy(logits, targets), "kd": kd},
                              logits=logits)       # loss = sum of the terms; logits -> train_acc

    history = fit(model, MyObjective(...), train_set, test_set, TrainConfig(epochs=5), out_dir="runs/x")

* :meth:`Objective.loss_terms` returns a :class:`StepOutput` (or a plain ``dict``) of **already
  weighted** scalar terms; the engine minimises their sum and logs each as ``train_<name>``.
  ``ctx`` is a :class:`StepContext`: ``ctx.module`` is the unwrapped model (run attacks on it, not
  on the DDP wrapper), plus ``device``, ``epoch``, ``epochs``, ``step``, ``steps_per_epoch``,
  ``progress`` (fraction of training done, for schedules), ``rank``, ``world_size``, ``config``.
* :meth:`Objective.start_epoch` / :meth:`Objective.end_epoch` run on **every** rank (so collective
  calls such as :meth:`gkl.ClassPrior.compute` are safe there); ``end_epoch`` may return extra
  metrics (floats, identical on every rank).
* :meth:`Objective.eval_batch` returns per-batch **sums** (e.g. the number of correct predictions)
  under metric names; the engine adds them over the test set (and over ranks) and divides by the
  number of samples. The default gives ``clean_acc``; adversarial objectives add ``robust_acc``.
  It runs with the model in eval mode, inside a forked, seeded RNG (evaluation never changes the
  training's random stream).
* :meth:`Objective.before_optimizer_step` runs after ``loss.backward()`` and before
  ``optimizer.step()`` (e.g. to take back an adversarial weight perturbation, :mod:`gkl.awp`).
* :meth:`Objective.extra_state` / :meth:`Objective.load_extra_state` save any other plain state.

**Checkpoint averaging** (``ema_decay``, e.g. 0.9 as in the released adversarial-training code): after
every epoch an exponential moving average of the weights, buffers included, is updated with
:class:`torch.optim.swa_utils.AveragedModel` — :math:`\bar w \leftarrow d\,\bar w + (1-d)\,w_e`,
:math:`\bar w = w_1` after the first epoch. It is saved in the checkpoint (so it survives a resume),
evaluated after the last epoch (metrics ``ema_<name>``) and returned as ``history.averaged_model``.

**Mixed precision** (``amp="bf16"`` or ``"fp16"``, for GPU runs): the objective's forward pass runs
under :func:`torch.autocast`; fp16 adds a :class:`torch.amp.GradScaler` (saved in the checkpoint).
Attacks inside the objective run under the same autocast.

**Non-finite losses** stop training with a :class:`FloatingPointError` naming the epoch and the step
range. The check costs one host synchronisation every ``nan_check_every`` steps and at every epoch's
end, not one per step.

Outputs in ``out_dir`` (only rank 0 writes): ``metrics.jsonl`` — one JSON object per epoch with
``epoch``, ``lr``, ``train_loss``, ``train_<term>``, ``train_acc``, the evaluation metrics, the extra
metrics and ``time_s`` (the only entry that differs between identical runs); ``checkpoint.pt`` —
model, optimiser, scheduler, objective state, the RNG states of every rank, the epoch, the config,
the metrics history and ``meta`` (what the caller needs to rebuild the model), written atomically
after every epoch.

**Resume** (``resume=True``) loads the checkpoint, rewrites ``metrics.jsonl`` from the history stored
in it and continues with the next epoch: a run killed at any point loses only its unfinished epoch,
and a resumed run gives the same metrics as an uninterrupted one (data order depends only on
``(seed, epoch)``; RNG states are restored; data-loader workers, started afresh every epoch, take
their seeds from a generator seeded by ``(seed, epoch, rank)``, so augmentations drawn in workers
match too). The config must match the checkpoint's (keys that do not change results, such as
``progress`` or ``device``, may differ; ``num_workers`` may not: every worker draws its own
augmentation stream).

**Distributed**: under ``torchrun --nproc_per_node N`` (environment variable ``WORLD_SIZE`` > 1) the
engine initialises ``torch.distributed`` (NCCL on CUDA, gloo on CPU) unless it already is, wraps the
model in DistributedDataParallel, shards the training data with a seeded ``DistributedSampler``
(``batch_size`` is per process) and the test data by stride, reduces all metrics over ranks, and only
rank 0 writes files. Each rank seeds its RNG with ``seed + rank``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from gkl.training.checkpoint import atomic_write_text, load_checkpoint, numpy_rng_from_plain, save_checkpoint
from gkl.data import collate
from gkl.training.device import get_device, get_rng_state, seed_everything, set_rng_state

__all__ = [
    "TrainConfig",
    "Objective",
    "StepOutput",
    "StepContext",
    "fit",
    "evaluate",
    "read_metrics",
    "default_runs_dir",
    "init_distributed",
    "is_main_process",
    "RUNTIME_KEYS",
    "History",
]

#: Config keys that do not change results; they may differ between a run and its resumption.
RUNTIME_KEYS = frozenset({"progress", "device", "deterministic", "nan_check_every"})


def default_runs_dir() -> Path:
    """Where chapters cache their runs: ``$GKL_RUNS_DIR`` if set, else ``./runs``."""
    return Path(os.environ.get("GKL_RUNS_DIR", "runs"))


@dataclass
class TrainConfig:
    """Optimisation and bookkeeping settings (the loss settings belong to the objective).

    The learning rate follows ``schedule`` per step: ``"cosine"`` (to 0 at the end),
    ``"multistep"`` (times ``lr_decay`` at each epoch in ``milestones``) or ``"constant"``, after an
    optional linear warm-up over ``warmup_epochs``.
    """

    epochs: int = 10
    batch_size: int = 128
    eval_batch_size: int = 512
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    milestones: tuple[int, ...] = ()
    lr_decay: float = 0.1
    warmup_epochs: float = 0.0
    grad_clip: Optional[float] = None
    seed: int = 0
    deterministic: bool = True
    device: Optional[str] = None
    num_workers: int = 0
    eval_every: int = 1
    eval_subset: Optional[int] = None
    drop_last: bool = False
    progress: bool = True
    ema_decay: Optional[float] = None
    nan_check_every: int = 50
    amp: Optional[str] = None

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be an int >= 1, got {self.epochs!r}")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError("batch sizes must be >= 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.optimizer not in ("sgd", "adam", "adamw"):
            raise ValueError(f"optimizer must be 'sgd', 'adam' or 'adamw', got {self.optimizer!r}")
        if self.schedule not in ("cosine", "multistep", "constant"):
            raise ValueError(f"schedule must be 'cosine', 'multistep' or 'constant', got {self.schedule!r}")
        if self.eval_every < 1:
            raise ValueError(f"eval_every must be >= 1, got {self.eval_every}")
        if self.eval_subset is not None and self.eval_subset < 1:
            raise ValueError(f"eval_subset must be >= 1 or None, got {self.eval_subset}")
        if self.ema_decay is not None and not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) or None, got {self.ema_decay}")
        if self.amp not in (None, "bf16", "fp16"):
            raise ValueError(f"amp must be None, 'bf16' or 'fp16', got {self.amp!r}")
        if self.nan_check_every < 1 or self.num_workers < 0:
            raise ValueError("nan_check_every must be >= 1 and num_workers >= 0")
        self.milestones = tuple(int(m) for m in self.milestones)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["milestones"] = list(self.milestones)
        return d


@dataclass
class StepOutput:
    """What :meth:`Objective.loss_terms` returns: weighted scalar terms (summed into the loss) and,
    optionally, the clean logits of the batch (for ``train_acc``)."""

    terms: dict[str, Tensor]
    logits: Optional[Tensor] = None


@dataclass
class StepContext:
    """Read-only facts about the current step, passed to the objective."""

    device: torch.device
    module: nn.Module
    config: TrainConfig
    epoch: int = 0
    epochs: int = 1
    step: int = 0
    steps_per_epoch: int = 1
    rank: int = 0
    world_size: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def progress(self) -> float:
        """Fraction of training completed before this step, in [0, 1)."""
        return self.step / max(1, self.epochs * self.steps_per_epoch)


class Objective:
    """Base class of a training task; override :meth:`loss_terms` (see the module docstring)."""

    def modules(self) -> dict[str, nn.Module]:
        """Frozen extra modules (e.g. a teacher)."""
        return {}

    def states(self) -> dict[str, Any]:
        """Stateful helpers with ``state_dict``/``load_state_dict`` (e.g. a :class:`gkl.ClassPrior`)."""
        return {}

    def setup(self, ctx: StepContext) -> None:
        """Called once before training (after the device is known and the modules moved)."""

    def start_epoch(self, epoch: int, ctx: StepContext) -> None:
        """Called on every rank before epoch ``epoch`` (1-based)."""

    def loss_terms(self, model: nn.Module, inputs: Tensor, targets: Tensor, ctx: StepContext) -> Union[StepOutput, dict]:
        raise NotImplementedError

    def before_optimizer_step(self, ctx: StepContext) -> None:
        """Called after ``loss.backward()``, before ``optimizer.step()`` (default: nothing)."""

    def end_epoch(self, epoch: int, ctx: StepContext) -> dict[str, float]:
        """Called on every rank after the epoch's steps; returns extra metrics."""
        return {}

    def eval_batch(self, module: nn.Module, inputs: Tensor, targets: Tensor, ctx: StepContext) -> dict[str, Tensor]:
        """Per-batch sums of evaluation metrics; default: ``clean_acc`` (number correct)."""
        with torch.no_grad():
            return {"clean_acc": (module(inputs).argmax(1) == targets).sum()}

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def config(self) -> dict[str, Any]:
        """Plain description of the objective's settings (saved in the checkpoint, checked on resume)."""
        return {}

    # -- used by the engine ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "modules": {k: m.state_dict() for k, m in self.modules().items()},
            "states": {k: s.state_dict() for k, s in self.states().items()},
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for k, m in self.modules().items():
            if k in state.get("modules", {}):
                m.load_state_dict(state["modules"][k])
        for k, s in self.states().items():
            if k not in state.get("states", {}):
                raise ValueError(f"checkpoint has no state for objective part {k!r}")
            s.load_state_dict(state["states"][k])
        self.load_extra_state(state.get("extra", {}))

    def to(self, device: torch.device) -> "Objective":
        for m in self.modules().values():
            m.to(device).eval().requires_grad_(False)
        for s in self.states().values():
            if hasattr(s, "to"):
                s.to(device)
        return self


# -- distributed helpers -----------------------------------------------------------------------
def init_distributed(device: Optional[str] = None) -> tuple[int, int]:
    """Initialise ``torch.distributed`` from torchrun's environment if needed; returns ``(rank, world)``."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    use_cuda = torch.cuda.is_available() and (device is None or str(device).startswith("cuda") or device == "auto")
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return dist.get_rank(), dist.get_world_size()


def is_main_process() -> bool:
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _all_reduce(t: Tensor) -> Tensor:
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t)
    return t


# -- helpers -----------------------------------------------------------------------------------
def _lr_factor(config: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    total = config.epochs * steps_per_epoch
    warm = int(round(config.warmup_epochs * steps_per_epoch))

    def factor(step: int) -> float:
        if warm > 0 and step < warm:
            return (step + 1) / warm
        if config.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
        if config.schedule == "multistep":
            epoch = step / steps_per_epoch
            return config.lr_decay ** sum(epoch >= m for m in config.milestones)
        return 1.0

    return factor


def _make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, nesterov=config.nesterov, weight_decay=config.weight_decay
        )
    cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)


def _to_device(x: Any, device: torch.device) -> Any:
    if isinstance(x, Tensor):
        return x.to(device, non_blocking=True)
    if isinstance(x, (list, tuple)):
        return type(x)(_to_device(v, device) for v in x)
    return x


def _comparable(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in cfg.items() if k not in RUNTIME_KEYS}


class History(list):
    """The per-epoch metrics :func:`fit` returns (a list of dicts), plus ``averaged_model``: the
    checkpoint-averaged model when ``TrainConfig.ema_decay`` is set, else ``None``."""

    averaged_model: Optional[nn.Module] = None


def _make_averaged(model: nn.Module, decay: float) -> nn.Module:
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _loader_seed(config: TrainConfig, epoch: int, rank: int) -> int:
    """Seed of the generator a loader draws its worker seeds from: a function of (seed, epoch, rank)
    only, so data-loader workers draw the same augmentations in a resumed run as in an uninterrupted
    one. (The augmentations still depend on ``num_workers``: each worker has its own stream.)"""
    return ((config.seed * 1_000_003 + epoch) * 1009 + rank) % (2**63)


def read_metrics(out_dir: Union[str, Path]) -> list[dict[str, Any]]:
    """The per-epoch metrics of a run (``out_dir/metrics.jsonl``)."""
    path = Path(out_dir) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics at {path}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _eval_indices(n: int, config: TrainConfig) -> Optional[list[int]]:
    if config.eval_subset is None or config.eval_subset >= n:
        return None
    g = torch.Generator().manual_seed(config.seed + 12345)
    return torch.randperm(n, generator=g)[: config.eval_subset].sort().values.tolist()


def evaluate(
    module: nn.Module,
    objective: Objective,
    dataset: Dataset,
    ctx: StepContext,
    batch_size: int = 512,
    seed: int = 0,
) -> dict[str, float]:
    """Run :meth:`Objective.eval_batch` over ``dataset`` (this rank's stride under DDP), reduce over
    ranks and divide by the number of samples. The model is put in eval mode and its mode restored;
    the global RNG is forked and seeded with ``seed`` (+ rank), so evaluation is repeatable and leaves
    the caller's random stream untouched."""
    n = len(dataset)
    idx = list(range(ctx.rank, n, ctx.world_size))
    loader = DataLoader(Subset(dataset, idx), batch_size=batch_size, shuffle=False, collate_fn=collate)
    was_training = module.training
    module.eval()
    sums: dict[str, Tensor] = {}
    count = torch.zeros((), dtype=torch.float64, device=ctx.device)
    devices = [ctx.device] if ctx.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed + ctx.rank)
            for x, y in loader:
                x, y = _to_device(x, ctx.device), _to_device(y, ctx.device)
                for k, v in objective.eval_batch(module, x, y, ctx).items():
                    v = torch.as_tensor(v, device=ctx.device).detach().to(torch.float64)
                    sums[k] = sums[k] + v if k in sums else v
                count += y.shape[0]
    finally:
        module.train(was_training)
    names = sorted(sums)
    # every rank must hold the same metric names for the reduction below
    packed = _all_reduce(torch.stack([count] + [sums[k] for k in names]))
    total = max(float(packed[0]), 1.0)
    return {k: float(packed[i + 1]) / total for i, k in enumerate(names)}


def fit(
    model: Union[nn.Module, Callable[[], nn.Module]],
    objective: Objective,
    train_set: Dataset,
    test_set: Optional[Dataset],
    config: TrainConfig,
    out_dir: Optional[Union[str, Path]] = None,
    *,
    resume: bool = False,
    meta: Optional[dict[str, Any]] = None,
    overwrite: bool = False,
    stop_after: Optional[int] = None,
    on_epoch: Optional[Callable[[dict[str, Any]], None]] = None,
) -> list[dict[str, Any]]:
    """Train ``model`` with ``objective``; returns the list of per-epoch metrics.

    Args:
        model: the trainable model (unwrapped; moved to the device here), or a function that builds
            it — called *after* seeding, so its initial weights follow ``config.seed`` (an instance
            passed in keeps the weights it has: seed before building it).
        objective: the task (see the module docstring).
        train_set, test_set: datasets of ``(input, label)``; ``test_set=None`` skips evaluation.
        config: :class:`TrainConfig`.
        out_dir: where ``metrics.jsonl`` and ``checkpoint.pt`` go; ``None`` writes nothing.
        resume: continue from ``out_dir/checkpoint.pt`` if it exists (else start afresh).
        meta: plain data saved in the checkpoint (e.g. model name and data set, for evaluation).
        overwrite: start afresh even if ``out_dir`` holds a checkpoint (without it, that is an error).
        stop_after: stop after this many epochs in total (to simulate a killed run in tests).
        on_epoch: called on rank 0 with each epoch's metrics, after its checkpoint is written
            (the command line prints them as JSON lines).

    Raises:
        FileExistsError: ``out_dir`` holds a checkpoint and neither ``resume`` nor ``overwrite`` is set.
        ValueError: resuming with a different config, or from a checkpoint of another model.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    rank, world = init_distributed(config.device)
    if world > 1 and torch.cuda.is_available() and (config.device in (None, "auto", "cuda")):
        local = int(os.environ.get("LOCAL_RANK", rank % max(1, torch.cuda.device_count())))
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = get_device(config.device)
    main = rank == 0
    out = Path(out_dir) if out_dir is not None else None
    ckpt_path = out / "checkpoint.pt" if out is not None else None
    metrics_path = out / "metrics.jsonl" if out is not None else None

    run_config = {"train": config.to_dict(), "objective": objective.config()}
    checkpoint = None
    if ckpt_path is not None and ckpt_path.exists():
        if resume:
            checkpoint = load_checkpoint(ckpt_path, map_location="cpu")
            saved = checkpoint.get("config", {})
            # a field added to TrainConfig after the checkpoint was written counts as its default
            defaults = TrainConfig().to_dict()
            a = {"train": _comparable({**defaults, **saved.get("train", {})}), "objective": saved.get("objective", {})}
            b = {"train": _comparable(run_config["train"]), "objective": run_config["objective"]}
            if a != b:
                diff = sorted(
                    f"{part}.{k}"
                    for part in ("train", "objective")
                    for k in set(a[part]) | set(b[part])
                    if a[part].get(k) != b[part].get(k)
                )
                raise ValueError(f"cannot resume {ckpt_path}: config differs in {', '.join(diff)}")
        elif not overwrite:
            raise FileExistsError(f"{ckpt_path} exists: pass resume=True to continue it or overwrite=True")

    seed_everything(config.seed, deterministic=config.deterministic)
    if not isinstance(model, nn.Module):
        model = model()  # same initial weights on every rank (DDP also broadcasts rank 0's)
        if not isinstance(model, nn.Module):
            raise TypeError("the model factory must return an nn.Module")
    seed_everything(config.seed + rank, deterministic=config.deterministic)
    model.to(device)
    objective.to(device)

    sampler = DistributedSampler(
        train_set, num_replicas=world, rank=rank, shuffle=True, seed=config.seed, drop_last=config.drop_last
    )
    loader = DataLoader(
        train_set,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=config.num_workers,
        collate_fn=collate,
        drop_last=config.drop_last,
        pin_memory=device.type == "cuda",
        # workers restart every epoch and take their seeds from a generator reseeded per epoch
        # (below), so a resumed run draws the same augmentations; persistent workers would not
        persistent_workers=False,
        generator=torch.Generator(),
    )
    steps_per_epoch = max(1, len(loader))
    optimizer = _make_optimizer([p for p in model.parameters() if p.requires_grad], config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_factor(config, steps_per_epoch))
    # fp16 needs loss scaling; bf16 and fp32 do not (a disabled scaler is a pass-through)
    scaler = torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")

    start_epoch = 1
    history = History()
    averaged = _make_averaged(model, config.ema_decay) if config.ema_decay is not None else None
    if checkpoint is not None:
        try:
            model.load_state_dict(checkpoint["model"])
        except (RuntimeError, KeyError) as err:
            first = str(err).strip().splitlines()[0]
            raise ValueError(f"checkpoint {ckpt_path} holds another model: {first}") from None
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        if "scaler" in checkpoint:
            scaler.load_state_dict(checkpoint["scaler"])
        objective.load_state_dict(checkpoint["objective"])
        objective.to(device)
        rng = checkpoint["rng"]
        if isinstance(rng, list) and len(rng) == world:
            state = dict(rng[rank])
            state["numpy"] = numpy_rng_from_plain(state["numpy"])
            set_rng_state(state)
        if averaged is not None:
            if "averaged_model" not in checkpoint:
                raise ValueError(f"checkpoint {ckpt_path} has no averaged model although ema_decay is set")
            averaged.load_state_dict(checkpoint["averaged_model"])
        history = History(checkpoint.get("history", []))
        start_epoch = int(checkpoint["epoch"]) + 1
        if main and metrics_path is not None:
            atomic_write_text(metrics_path, "".join(json.dumps(m) + "\n" for m in history))
    elif main and metrics_path is not None:
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(metrics_path, "")

    train_model: nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        train_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    ctx = StepContext(
        device=device,
        module=model,
        config=config,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        rank=rank,
        world_size=world,
    )
    objective.setup(ctx)
    eval_set = test_set
    if test_set is not None:
        sub = _eval_indices(len(test_set), config)
        eval_set = Subset(test_set, sub) if sub is not None else test_set

    last = config.epochs if stop_after is None else min(config.epochs, stop_after)
    for epoch in range(start_epoch, last + 1):
        t0 = time.perf_counter()
        ctx.epoch = epoch
        ctx.step = (epoch - 1) * steps_per_epoch
        sampler.set_epoch(epoch)
        loader.generator.manual_seed(_loader_seed(config, epoch, rank))
        model.train()
        objective.start_epoch(epoch, ctx)
        term_sums: dict[str, Tensor] = {}
        correct = torch.zeros((), dtype=torch.float64, device=device)
        seen = torch.zeros((), dtype=torch.float64, device=device)
        has_logits = False
        checked = 0  # steps before this one whose loss passed the finiteness check
        bar = None
        if config.progress and main:
            from tqdm import tqdm

            bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch}/{config.epochs}", leave=False, mininterval=1.0)
        for batch_index, (x, y) in enumerate(loader):
            x, y = _to_device(x, device), _to_device(y, device)
            with _autocast(config, device):
                res = objective.loss_terms(train_model, x, y, ctx)
            if isinstance(res, Mapping):
                res = StepOutput(dict(res))
            if not res.terms:
                raise ValueError("the objective returned no loss terms")
            loss = sum(res.terms.values())
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            objective.before_optimizer_step(ctx)
            if config.grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            b = y.shape[0]
            with torch.no_grad():
                for k, v in res.terms.items():
                    v = v.detach().to(torch.float64) * b
                    term_sums[k] = term_sums[k] + v if k in term_sums else v
                if res.logits is not None:
                    has_logits = True
                    correct += (res.logits.detach().argmax(1) == y).sum()
                seen += b
            ctx.step += 1
            if (batch_index + 1) % config.nan_check_every == 0:  # one host sync per interval
                _check_finite(term_sums, epoch, checked, batch_index)
                checked = batch_index + 1
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        _check_finite(term_sums, epoch, checked, steps_per_epoch - 1)

        names = sorted(term_sums)
        packed = _all_reduce(torch.stack([seen, correct] + [term_sums[k] for k in names]))
        n = max(float(packed[0]), 1.0)
        metrics: dict[str, Any] = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}
        terms = {k: float(packed[i + 2]) / n for i, k in enumerate(names)}
        metrics["train_loss"] = sum(terms.values())
        metrics.update({f"train_{k}": v for k, v in terms.items()})
        if has_logits:
            metrics["train_acc"] = float(packed[1]) / n
        metrics.update(objective.end_epoch(epoch, ctx))
        if averaged is not None:
            averaged.update_parameters(model)
        eval_seed = config.seed * 100003 + epoch
        if eval_set is not None and (epoch % config.eval_every == 0 or epoch == config.epochs):
            metrics.update(evaluate(model, objective, eval_set, ctx, config.eval_batch_size, seed=eval_seed))
        if eval_set is not None and averaged is not None and epoch == config.epochs:
            ema = evaluate(averaged.module, objective, eval_set, ctx, config.eval_batch_size, seed=eval_seed)
            metrics.update({f"ema_{k}": v for k, v in ema.items()})
        metrics["time_s"] = time.perf_counter() - t0
        history.append(metrics)

        rng_states = [get_rng_state()]
        if world > 1:
            gathered: list[Any] = [None] * world
            dist.all_gather_object(gathered, rng_states[0])
            rng_states = gathered
        if main and out is not None:
            state = {
                "epoch": epoch,
                "config": run_config,
                "meta": meta or {},
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "objective": objective.state_dict(),
                "rng": rng_states,
                "history": list(history),
            }
            if averaged is not None:
                state["averaged_model"] = averaged.state_dict()
            save_checkpoint(ckpt_path, state)
            with open(metrics_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(metrics) + "\n")
        if main and on_epoch is not None:
            on_epoch(metrics)
        if world > 1:
            dist.barrier()
    history.averaged_model = averaged.module if averaged is not None else None
    return history


def _autocast(config: TrainConfig, device: torch.device):
    """Mixed precision for the forward pass (``config.amp``: ``"bf16"`` or ``"fp16"``), else a no-op.
    The losses of :mod:`gkl.losses` compute in float32 from low-precision logits."""
    if config.amp is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if config.amp == "bf16" else torch.float16)


def _check_finite(term_sums: Mapping[str, Tensor], epoch: int, first: int, last: int) -> None:
    """Raise if a running loss-term sum is not finite (one host sync for all terms)."""
    if not term_sums:
        return
    total = torch.stack([v for v in term_sums.values()]).sum()
    if not bool(torch.isfinite(total)):
        bad = sorted(k for k, v in term_sums.items() if not bool(torch.isfinite(v)))
        raise FloatingPointError(
            f"non-finite loss ({', '.join(bad)}) at epoch {epoch}, in steps {first}..{last} of the epoch"
        )
