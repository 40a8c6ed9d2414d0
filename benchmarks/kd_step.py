"""Cost of one distillation step with GKL against the same step with KD.

A step = teacher forward (no grad) + student forward + loss terms + backward + SGD update, exactly
as :class:`gkl.methods.distill.objective.DistillObjective` runs it inside the engine (GKL with the class prior: the
prior is updated every step). Steps of the two methods are **interleaved** (one KD step, one GKL
step, ..., the first of each pair alternating), so drifts of the machine hit both alike, and the median over repeats is reported.

For each number of classes C it also times the loss alone (forward + backward of the loss terms on
logits of shape (B, C)) and reports its share of the step.

Requirement checked: median GKL step ≤ 1.05 × median KD step.

    python benchmarks/kd_step.py                   # resnet56 -> resnet20, B = 64, C = 100 and 1000
    python benchmarks/kd_step.py --quick           # tiny models (seconds)
    python benchmarks/kd_step.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from typing import Callable

import torch

from gkl.methods.distill import build_distiller, distill_config
from gkl.models import build_model

METHODS = {
    "kd": distill_config("kd", ce_weight=0.1, kd_weight=0.9, temperature=4.0),
    # released resnet32x4 -> resnet8x4 setting: alpha 1, beta 16, gamma 0.05, prior on
    "gkl": distill_config("gkl", alpha=1.0, beta=16.0, gamma=0.05, temperature=4.0, weight_temperature=4.0, prior=True),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_step(distiller, optimizer, x, y, device) -> Callable[[], float]:
    def step() -> float:
        _sync(device)
        t0 = time.perf_counter()
        _, terms = distiller.forward_train(x, y, epoch=100)
        loss = sum(terms.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        _sync(device)
        return time.perf_counter() - t0

    return step


def make_loss_only(distiller, B: int, C: int, device) -> Callable[[], float]:
    g = torch.Generator().manual_seed(1)
    s = (torch.randn(B, C, generator=g) * 3).to(device).requires_grad_(True)
    t = (torch.randn(B, C, generator=g) * 3).to(device)
    y = torch.randint(0, C, (B,), generator=g).to(device)

    def run() -> float:
        _sync(device)
        t0 = time.perf_counter()
        terms = distiller.kd_terms(s, t, y, 100, True)
        sum(terms.values()).backward()
        _sync(device)
        s.grad = None
        return time.perf_counter() - t0

    return run


def bench(num_classes: int, student: str, teacher: str, input_shape, batch: int, repeats: int, warmup: int, device) -> dict:
    torch.manual_seed(0)
    x = torch.rand(batch, *input_shape, device=device)
    y = torch.randint(0, num_classes, (batch,), device=device)
    steps, losses = {}, {}
    for name, cfg in METHODS.items():
        torch.manual_seed(0)  # same initial weights for both methods
        s = build_model(student, num_classes).to(device)
        t = build_model(teacher, num_classes).to(device)
        d = build_distiller(s, t, cfg, num_classes).train()
        opt = torch.optim.SGD(s.parameters(), lr=0.01, momentum=0.9)
        steps[name] = make_step(d, opt, x, y, device)
        losses[name] = make_loss_only(d, batch, num_classes, device)
    times = {n: [] for n in METHODS}
    loss_times = {n: [] for n in METHODS}
    names = list(METHODS)
    for i in range(warmup + repeats):
        for n in names[i % 2 :] + names[: i % 2]:  # interleaved; who goes first alternates
            dt = steps[n]()
            lt = losses[n]()
            if i >= warmup:
                times[n].append(dt)
                loss_times[n].append(lt)
    med = {n: statistics.median(v) for n, v in times.items()}
    lmed = {n: statistics.median(v) for n, v in loss_times.items()}
    return {
        "num_classes": num_classes,
        "step_ms": {n: 1e3 * v for n, v in med.items()},
        "loss_ms": {n: 1e3 * v for n, v in lmed.items()},
        "loss_share": {n: lmed[n] / med[n] for n in METHODS},
        "ratio_gkl_over_kd": med["gkl"] / med["kd"],
        "passes": med["gkl"] <= 1.05 * med["kd"],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classes", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--student", default="resnet20")
    p.add_argument("--teacher", default="resnet56")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default=None)
    p.add_argument("--quick", action="store_true", help="tiny 1-D models on (1, 40) inputs")
    p.add_argument("--json", default=None, help="write the results here")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    from gkl.training.device import get_device

    device = get_device(a.device)
    student, teacher, shape = a.student, a.teacher, (3, 32, 32)
    if a.quick:
        student, teacher, shape = "mnist1d_mlp", "mnist1d_cnn", (1, 40)
    rows = [bench(c, student, teacher, shape, a.batch, a.repeats, a.warmup, device) for c in a.classes]
    print(f"# KD step vs GKL step: {teacher} -> {student}, batch {a.batch}, {device}, {a.threads} thread(s), "
          f"median of {a.repeats} interleaved repeats")
    print("| C | KD step (ms) | GKL step (ms) | GKL/KD | loss share KD | loss share GKL | ≤ 1.05× |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['num_classes']} | {r['step_ms']['kd']:.1f} | {r['step_ms']['gkl']:.1f} | {r['ratio_gkl_over_kd']:.3f} | "
              f"{100 * r['loss_share']['kd']:.1f}% | {100 * r['loss_share']['gkl']:.1f}% | {'yes' if r['passes'] else 'NO'} |")
    if a.json:
        meta = {"student": student, "teacher": teacher, "batch": a.batch, "device": str(device), "threads": a.threads,
                "repeats": a.repeats, "torch": torch.__version__, "machine": platform.platform()}
        with open(a.json, "w") as fh:
            json.dump({"meta": meta, "rows": rows}, fh, indent=2)
    return 0 if all(r["passes"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
