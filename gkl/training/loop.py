r"""One training engine for adversarial training and knowledge distillation: :func:`fit`.

The engine owns everything that is not the loss: device, seeding, data loading, optimiser and
learning-rate schedule, progress bars, per-epoch evaluation, metrics, atomic checkpoints, resume and
DistributedDataParallel. A *task* plugs in an :class:`~gkl.training.objective.Objective` that computes
the named loss terms of one step (the interface and the order of its hooks:
:mod:`gkl.training.objective`; checkpoint averaging: :mod:`gkl.training.averaging`; mixed precision
and the non-finite-loss check: :mod:`gkl.training.precision`).

:func:`fit` reads as its named steps: :func:`_setup` (device, the checkpoint to resume, seeding,
model, optimiser, schedule, scaler, averaged model, loaders), :func:`_restore` (state, RNG and history
from the checkpoint, or a fresh ``metrics.jsonl``), then per epoch :func:`_train_one_epoch`,
:func:`_evaluate_epoch` and :func:`_save`.

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

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from gkl.training.averaging import make_averaged
from gkl.training.checkpoint import numpy_rng_from_plain, save_checkpoint
from gkl.training.config import TrainConfig
from gkl.training.device import get_rng_state, seed_everything, set_rng_state, to_device
from gkl.training.distributed import all_reduce, gather_objects, init_distributed, rank_device, wrap_model
from gkl.training.evaluate import eval_indices, evaluate
from gkl.training.loaders import loader_seed, train_loader
from gkl.training.metrics import History, append_metrics, rewrite_metrics
from gkl.training.objective import Objective, StepContext, StepOutput, build_trainable
from gkl.training.optim import lr_factor, make_optimizer
from gkl.training.precision import autocast, check_finite, make_scaler
from gkl.training.resume import checkpoint_to_resume

__all__ = ["fit"]


@dataclass
class _Run:
    """The state of one run, handed from step to step of :func:`fit`."""

    config: TrainConfig
    objective: Objective
    rank: int
    world: int
    device: torch.device
    out: Optional[Path]
    ckpt_path: Optional[Path]
    metrics_path: Optional[Path]
    run_config: dict[str, Any]
    meta: Optional[dict[str, Any]]
    model: nn.Module  # unwrapped
    extra: nn.ModuleDict  # the objective's own trainable modules (Objective.trainable), usually empty
    train_model: nn.Module  # what loss_terms gets: the model, DDP-wrapped when world > 1
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    averaged: Optional[nn.Module]
    sampler: DistributedSampler
    loader: DataLoader
    steps_per_epoch: int
    ctx: StepContext
    eval_set: Optional[Dataset]
    history: History
    start_epoch: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


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
        objective: the task (see :mod:`gkl.training.objective`).
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
    run, checkpoint = _setup(model, objective, train_set, test_set, config, out_dir, meta, resume, overwrite)
    _restore(run, checkpoint)
    run.train_model = wrap_model(run.model, run.device, run.world)  # after restoring: DDP broadcasts rank 0's
    objective.setup(run.ctx)

    last = config.epochs if stop_after is None else min(config.epochs, stop_after)
    for epoch in range(run.start_epoch, last + 1):
        t0 = time.perf_counter()
        metrics = _train_one_epoch(run, epoch)
        metrics.update(_evaluate_epoch(run, epoch))
        metrics["time_s"] = time.perf_counter() - t0
        run.history.append(metrics)
        _save(run, epoch, metrics)
        if run.main and on_epoch is not None:
            on_epoch(metrics)
        if run.world > 1:
            dist.barrier()
    run.history.averaged_model = run.averaged.module if run.averaged is not None else None
    return run.history


def _setup(
    model: Union[nn.Module, Callable[[], nn.Module]],
    objective: Objective,
    train_set: Dataset,
    test_set: Optional[Dataset],
    config: TrainConfig,
    out_dir: Optional[Union[str, Path]],
    meta: Optional[dict[str, Any]],
    resume: bool,
    overwrite: bool,
) -> tuple[_Run, Optional[dict[str, Any]]]:
    """Device, the checkpoint to resume (config checked before anything is built), seeding, model,
    optimiser, schedule, scaler, averaged model, loaders and step context; returns the run and the
    checkpoint (``None`` when starting afresh)."""
    rank, world = init_distributed(config.device)
    device = rank_device(config.device, rank, world)
    out = Path(out_dir) if out_dir is not None else None
    ckpt_path = out / "checkpoint.pt" if out is not None else None
    metrics_path = out / "metrics.jsonl" if out is not None else None
    run_config = {"train": config.to_dict(), "objective": objective.config()}
    checkpoint = checkpoint_to_resume(ckpt_path, run_config, resume, overwrite)

    seed_everything(config.seed, deterministic=config.deterministic)
    if not isinstance(model, nn.Module):
        model = model()  # same initial weights on every rank (DDP also broadcasts rank 0's)
        if not isinstance(model, nn.Module):
            raise TypeError("the model factory must return an nn.Module")
    extra = build_trainable(objective, model, world)  # built before the per-rank re-seed: same on every rank
    seed_everything(config.seed + rank, deterministic=config.deterministic)
    model.to(device)
    extra.to(device)
    objective.to(device)

    sampler, loader = train_loader(train_set, config, rank, world, device)
    steps_per_epoch = max(1, len(loader))
    optimizer = make_optimizer([p for m in (model, extra) for p in m.parameters() if p.requires_grad], config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(config, steps_per_epoch))
    scaler = make_scaler(config, device)
    averaged = make_averaged(model, config.ema_decay) if config.ema_decay is not None else None
    ctx = StepContext(device=device, module=model, config=config, epochs=config.epochs,
                      steps_per_epoch=steps_per_epoch, rank=rank, world_size=world)
    eval_set = test_set
    if test_set is not None:
        sub = eval_indices(len(test_set), config)
        eval_set = Subset(test_set, sub) if sub is not None else test_set
    run = _Run(config=config, objective=objective, rank=rank, world=world, device=device, out=out,
               ckpt_path=ckpt_path, metrics_path=metrics_path, run_config=run_config, meta=meta,
               model=model, extra=extra, train_model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
               averaged=averaged, sampler=sampler, loader=loader, steps_per_epoch=steps_per_epoch,
               ctx=ctx, eval_set=eval_set, history=History())
    return run, checkpoint


def _restore(run: _Run, checkpoint: Optional[dict[str, Any]]) -> None:
    """Load model, optimiser, schedule, scaler, objective, this rank's RNG state, averaged model and
    history from ``checkpoint`` and rewrite ``metrics.jsonl`` from that history; without a
    checkpoint, start an empty ``metrics.jsonl``."""
    if checkpoint is None:
        if run.main and run.metrics_path is not None:
            run.metrics_path.parent.mkdir(parents=True, exist_ok=True)
            rewrite_metrics(run.metrics_path, [])
        return
    try:
        run.model.load_state_dict(checkpoint["model"])
    except (RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()[0]
        raise ValueError(f"checkpoint {run.ckpt_path} holds another model: {first}") from None
    if len(run.extra):
        try:
            run.extra.load_state_dict(checkpoint["trainable"])
        except (RuntimeError, KeyError) as err:
            first = str(err).strip().splitlines()[0]
            raise ValueError(f"checkpoint {run.ckpt_path} lacks the objective's trainable modules: {first}") from None
    run.optimizer.load_state_dict(checkpoint["optimizer"])
    run.scheduler.load_state_dict(checkpoint["scheduler"])
    if "scaler" in checkpoint:
        run.scaler.load_state_dict(checkpoint["scaler"])
    run.objective.load_state_dict(checkpoint["objective"])
    run.objective.to(run.device)
    rng = checkpoint["rng"]
    if isinstance(rng, list) and len(rng) == run.world:
        state = dict(rng[run.rank])
        state["numpy"] = numpy_rng_from_plain(state["numpy"])
        set_rng_state(state)
    if run.averaged is not None:
        if "averaged_model" not in checkpoint:
            raise ValueError(f"checkpoint {run.ckpt_path} has no averaged model although ema_decay is set")
        run.averaged.load_state_dict(checkpoint["averaged_model"])
    run.history = History(checkpoint.get("history", []))
    run.start_epoch = int(checkpoint["epoch"]) + 1
    if run.main and run.metrics_path is not None:
        rewrite_metrics(run.metrics_path, run.history)


def _train_step(run: _Run, x: Any, y: Tensor) -> StepOutput:
    """One optimiser step: the objective's terms (under autocast), backward of their (scaled) sum,
    ``before_optimizer_step``, optional gradient clipping, optimiser and schedule step."""
    with autocast(run.config, run.device):
        res = run.objective.loss_terms(run.train_model, x, y, run.ctx)
    if isinstance(res, Mapping):
        res = StepOutput(dict(res))
    if not res.terms:
        raise ValueError("the objective returned no loss terms")
    loss = sum(res.terms.values())
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.objective.before_optimizer_step(run.ctx)
    if run.config.grad_clip is not None:
        run.scaler.unscale_(run.optimizer)
        nn.utils.clip_grad_norm_([p for m in (run.model, run.extra) for p in m.parameters()], run.config.grad_clip)
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.scheduler.step()
    return res


def _train_one_epoch(run: _Run, epoch: int) -> dict[str, Any]:
    """Every step of epoch ``epoch`` on this rank's shard, then the objective's ``end_epoch`` and the
    averaged model's update; returns the epoch's training metrics (reduced over ranks) and extras."""
    config, ctx, device = run.config, run.ctx, run.device
    ctx.epoch = epoch
    ctx.step = (epoch - 1) * run.steps_per_epoch
    run.sampler.set_epoch(epoch)
    run.loader.generator.manual_seed(loader_seed(config, epoch, run.rank))
    run.model.train()
    run.extra.train()
    run.objective.start_epoch(epoch, ctx)
    term_sums: dict[str, Tensor] = {}
    correct = torch.zeros((), dtype=torch.float64, device=device)
    seen = torch.zeros((), dtype=torch.float64, device=device)
    has_logits = False
    checked = 0  # steps before this one whose loss passed the finiteness check
    bar = None
    if config.progress and run.main:
        from tqdm.auto import tqdm  # a widget bar in a notebook (Colab), text in a terminal

        bar = tqdm(total=run.steps_per_epoch, desc=f"epoch {epoch}/{config.epochs}", leave=False, mininterval=1.0)
    for batch_index, (x, y) in enumerate(run.loader):
        x, y = to_device(x, device), to_device(y, device)
        res = _train_step(run, x, y)
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
            check_finite(term_sums, epoch, checked, batch_index)
            checked = batch_index + 1
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    check_finite(term_sums, epoch, checked, run.steps_per_epoch - 1)

    names = sorted(term_sums)
    packed = all_reduce(torch.stack([seen, correct] + [term_sums[k] for k in names]))
    n = max(float(packed[0]), 1.0)
    metrics: dict[str, Any] = {"epoch": epoch, "lr": run.optimizer.param_groups[0]["lr"]}
    terms = {k: float(packed[i + 2]) / n for i, k in enumerate(names)}
    metrics["train_loss"] = sum(terms.values())
    metrics.update({f"train_{k}": v for k, v in terms.items()})
    if has_logits:
        metrics["train_acc"] = float(packed[1]) / n
    metrics.update(run.objective.end_epoch(epoch, ctx))
    if run.averaged is not None:
        run.averaged.update_parameters(run.model)
    return metrics


def _evaluate_epoch(run: _Run, epoch: int) -> dict[str, float]:
    """The evaluation metrics of epoch ``epoch``: every ``eval_every`` epochs and after the last one;
    after the last one also the averaged model's (``ema_<name>``). Empty without a test set."""
    config = run.config
    metrics: dict[str, float] = {}
    eval_seed = config.seed * 100003 + epoch
    if run.eval_set is not None and (epoch % config.eval_every == 0 or epoch == config.epochs):
        metrics.update(evaluate(run.model, run.objective, run.eval_set, run.ctx, config.eval_batch_size, seed=eval_seed))
    if run.eval_set is not None and run.averaged is not None and epoch == config.epochs:
        ema = evaluate(run.averaged.module, run.objective, run.eval_set, run.ctx, config.eval_batch_size, seed=eval_seed)
        metrics.update({f"ema_{k}": v for k, v in ema.items()})
    return metrics


def _save(run: _Run, epoch: int, metrics: dict[str, Any]) -> None:
    """Append the epoch's line to ``metrics.jsonl`` on rank 0, after writing the checkpoint (every
    rank's RNG state gathered) atomically when the epoch is a multiple of ``checkpoint_every`` or the
    last one."""
    config = run.config
    if epoch % config.checkpoint_every and epoch != config.epochs:
        if run.main and run.out is not None:
            append_metrics(run.metrics_path, metrics)
        return
    rng_states = gather_objects(get_rng_state(), run.world)
    if run.main and run.out is not None:
        state = {
            "epoch": epoch,
            "config": run.run_config,
            "meta": run.meta or {},
            "model": run.model.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(),
            "scaler": run.scaler.state_dict(),
            "objective": run.objective.state_dict(),
            "rng": rng_states,
            "history": list(run.history),
        }
        if run.averaged is not None:
            state["averaged_model"] = run.averaged.state_dict()
        if len(run.extra):
            state["trainable"] = run.extra.state_dict()
        save_checkpoint(run.ckpt_path, state)
        append_metrics(run.metrics_path, metrics)
