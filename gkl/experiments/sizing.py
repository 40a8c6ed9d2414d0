r"""How many epochs of a GPU profile fit a time budget: from a measured epoch time when a device
check has run (``tools/device_check.py``), else from an **estimate** that says what it assumes.

The estimate counts the floating-point operations of one training epoch with
:class:`torch.utils.flop_counter.FlopCounterMode` on the profile's real model (one image: a
forward pass; a full step, forward + backward to inputs and weights; an attack step, forward +
backward to the input only) and divides by a sustained rate :class:`Rate`. Per training image:

* adversarial training with a :math:`K`-step attack: :math:`K\,F_{attack} + n\,F_{step}`, with
  :math:`n` = 2 forward/backward passes for the methods with a clean and an adversarial term
  (TRADES, IKL, GKL), 1 for PGD-AT;
* distillation: :math:`F_{forward}` (teacher) :math:`+ F_{step}` (student); the teacher's own training
  :math:`F_{step}` of the teacher.

Evaluation per test point: PGD-:math:`k` costs :math:`k\,F_{attack}`; standard AutoAttack is charged
:data:`AUTOATTACK_STEPS` attack steps per point — an upper-bound-style figure for its four attacks
(APGD-CE 100, APGD-T 9×100, FAB-T 9×100 iterations, Square 5,000 queries) on a model that keeps a
third to a half of the points robust. Data loading, Python overhead and a slower first epoch are not
counted, so the estimate is optimistic at small models; it is a sizing rule, not a measurement.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import torch

__all__ = ["Rate", "COLAB_T4", "AUTOATTACK_STEPS", "model_flops", "Sizing", "at_sizing", "distill_sizing",
           "measured_epoch_s", "recorded_epoch_s", "plan_sentence"]

#: Attack steps (forward + input backward) charged per point for standard AutoAttack.
AUTOATTACK_STEPS = 2000


@dataclass(frozen=True)
class Rate:
    """A sustained training throughput (FLOP/s) assumed for a device, with its basis."""

    device: str
    flops_per_s: float
    precision: str
    basis: str


#: The rate the GPU profiles are sized for: a Colab T4 under fp16 autocast (``amp="fp16"``).
COLAB_T4 = Rate(
    device="Colab T4",
    flops_per_s=12e12,
    precision="fp16 autocast",
    basis="an assumption, not a measurement: 18 % of the T4's 65 TFLOP/s fp16 tensor-core peak and "
          "1.5× its 8.1 TFLOP/s fp32 peak (NVIDIA T4 datasheet); half or twice this rate roughly halves "
          "or doubles the epochs",
)


def model_flops(model: torch.nn.Module, shape: tuple[int, ...] = (3, 32, 32)) -> dict[str, float]:
    """FLOPs per image of ``model``: ``forward``, ``step`` (forward + backward to weights and input)
    and ``attack`` (forward + backward to the input only), counted on a batch of two in eval mode."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    x = torch.randn(2, *shape)
    out: dict[str, float] = {}
    try:
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            model(x)
        out["forward"] = fc.get_total_flops() / 2
        with FlopCounterMode(display=False) as fc:
            model(x.clone().requires_grad_()).sum().backward()
        out["step"] = fc.get_total_flops() / 2
        flags = [p.requires_grad for p in model.parameters()]
        for p in model.parameters():
            p.requires_grad_(False)
        try:
            with FlopCounterMode(display=False) as fc:
                model(x.clone().requires_grad_()).sum().backward()
            out["attack"] = fc.get_total_flops() / 2
        finally:
            for p, f in zip(model.parameters(), flags):
                p.requires_grad_(f)
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return out


@dataclass(frozen=True)
class Sizing:
    """The epochs that fit ``budget_s`` and the times behind them (seconds, estimated or measured)."""

    epochs: int
    epoch_s: float
    fixed_s: float
    runs: int
    budget_s: float
    basis: str

    @property
    def total_s(self) -> float:
        return self.fixed_s + self.runs * self.epochs * self.epoch_s

    def sentence(self) -> str:
        """One line for a chapter: what fits and on what basis."""
        return (f"{self.runs} run(s) × {self.epochs} epochs at {self.epoch_s / 60:.1f} min per epoch, plus "
                f"{self.fixed_s / 60:.1f} min of fixed work: about {self.total_s / 60:.0f} min ({self.basis})")


def _fit(budget_s: float, fixed_s: float, runs: int, epoch_s: float, basis: str) -> Sizing:
    epochs = max(1, math.floor((budget_s - fixed_s) / (runs * epoch_s)))
    return Sizing(epochs=epochs, epoch_s=epoch_s, fixed_s=fixed_s, runs=runs, budget_s=budget_s, basis=basis)


def _basis(rate: Rate, measured: bool) -> str:
    return (f"epoch time measured on {rate.device}" if measured else
            f"estimate: FLOPs counted on the model / {rate.flops_per_s / 1e12:g} TFLOP/s on {rate.device}, "
            f"{rate.precision}; {rate.basis}")


def at_sizing(model: torch.nn.Module, train_images: int, attack_steps: int, methods: dict[str, int],
              eval_points: int, pgd_steps: int, aa_points: int, budget_s: float = 1800.0,
              rate: Rate = COLAB_T4, epoch_s: Optional[float] = None) -> Sizing:
    """Epochs of an adversarial-training profile: ``methods`` maps each run to its number of
    training forward/backward passes per image (2 for TRADES/IKL/GKL, 1 for PGD-AT). ``epoch_s``
    (a measured epoch of the costliest method) replaces the estimate."""
    f = model_flops(model)
    worst = max(methods.values())
    est = train_images * (attack_steps * f["attack"] + worst * f["step"]) / rate.flops_per_s
    per_eval = (eval_points * pgd_steps + aa_points * AUTOATTACK_STEPS) * f["attack"] / rate.flops_per_s
    return _fit(budget_s, len(methods) * per_eval, len(methods), epoch_s or est, _basis(rate, epoch_s is not None))


def distill_sizing(teacher: torch.nn.Module, student: torch.nn.Module, train_images: int, runs: int,
                   teacher_epochs_per_student_epoch: float = 1.0, budget_s: float = 1800.0,
                   rate: Rate = COLAB_T4, epoch_s: Optional[float] = None) -> tuple[Sizing, int]:
    """``(student sizing, teacher epochs)`` of a distillation profile: the teacher trains for
    ``teacher_epochs_per_student_epoch`` × the students' epochs, then ``runs`` students distil."""
    ft, fs = model_flops(teacher), model_flops(student)
    student_s = epoch_s or train_images * (ft["forward"] + fs["step"]) / rate.flops_per_s
    teacher_s = train_images * ft["step"] / rate.flops_per_s
    # one "epoch" of the plan: every student once, and the teacher's share
    per = runs * student_s + teacher_epochs_per_student_epoch * teacher_s
    sizing = _fit(budget_s, 0.0, 1, per, _basis(rate, epoch_s is not None))
    teacher_epochs = max(1, round(teacher_epochs_per_student_epoch * sizing.epochs))
    fixed = teacher_epochs * teacher_s
    students = Sizing(epochs=sizing.epochs, epoch_s=student_s, fixed_s=fixed, runs=runs, budget_s=budget_s,
                      basis=sizing.basis)
    return students, teacher_epochs


def measured_epoch_s(results: Union[str, Path], profile: str) -> Optional[float]:
    """The epoch time of ``profile`` (e.g. ``"adversarial/gpu (GKL)"``) in a device-check JSON
    (full-size, fp32 run), or ``None`` if the file or the profile is absent or it was a dry run."""
    p = Path(results)
    if not p.is_file():
        return None
    data = json.loads(p.read_text())
    if data.get("dry_run"):
        return None
    for row in data.get("epochs", []):
        if row.get("profile") == profile and row.get("amp") in (None, "fp16"):
            return float(row["epoch_s"])
    return None


def recorded_epoch_s(record: Mapping[str, Any]) -> dict[str, float]:
    """Per method (registered name) of a recorded sweep: the mean training time of one epoch, over
    its epochs-stage runs (``train_s / epochs``; one CPU thread, evaluation excluded, on the machine
    the record names)."""
    acc: dict[str, list[float]] = {}
    for r in record.get("rows", []):
        if r.get("stage") == "epochs" and r.get("train_s") and r.get("epochs"):
            acc.setdefault(r["method"], []).append(float(r["train_s"]) / int(r["epochs"]))
    return {m: sum(v) / len(v) for m, v in acc.items()}


def plan_sentence(what: str, runs: int, epochs: int, seconds: Optional[float], basis: str,
                  teacher_epochs: int = 0) -> str:
    """What a chapter trains and about how long, for its first lines: ``runs`` runs of ``epochs``
    epochs (and a teacher of ``teacher_epochs``), ``seconds`` in all on ``basis`` (``None``: no
    figure, ``basis`` says why)."""
    teacher = f" after a teacher of {teacher_epochs} epoch(s)" if teacher_epochs else ""
    head = f"It trains {what}: {runs} run(s) × {epochs} epoch(s) = {runs * epochs} run-epochs{teacher}"
    if seconds is None:
        return f"{head} ({basis})."
    took = f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
    return f"{head}; about **{took}** ({basis})."
