#!/usr/bin/env python3
"""One prepared check of the CUDA paths and GPU timings, written to one JSON file.

Run it on a GPU machine with no internet (``make device-check``; about 5–8 minutes on one GPU)::

    python tools/device_check.py --out benchmarks/results/device_check_<gpu>.json

It runs, in order:

1. the CUDA-parametrised tests (``pytest -m "not site" -k cuda``);
2. the loss benchmark on the device: ``gkl.gkl`` without and with a class prior (γ = 0.2, T = 4),
   ``F.kl_div(log_softmax, softmax, "batchmean")`` and the pairwise B×C×C form, forward + backward,
   B = 256, C ∈ {100, 1000, 21841} (the pairwise form only where its tensors fit), fp32 and bf16
   autocast, median time (``torch.utils.benchmark``) and peak memory;
3. one timed training epoch of each GPU profile's runs, with the profile's batch size and mixed
   precision, on CIFAR-shaped synthetic data written by :func:`gkl.data.write_fake_cifar` (50,000
   training images, so the epoch is full size): adversarial GKL and TRADES, the distillation student
   with GKL and with KD; ``step_overhead`` holds GKL's epoch time over TRADES' and over KD's.

``--dry-run`` runs the same code on the CPU at toy sizes (CI runs it, so the script cannot rot).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run_cuda_tests(dry_run: bool) -> dict:
    """The CUDA-parametrised tests (on a CPU-only machine they are all skipped)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "not site", "-k", "cuda", "-p", "no:cacheprovider",
           "tests/test_losses.py", "tests/test_engine.py", "tests/test_attacks.py"]
    if dry_run:
        cmd += ["--collect-only"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    tail = (proc.stdout.strip().splitlines() or [""])[-1]
    return {"command": " ".join(cmd[2:]), "returncode": proc.returncode, "summary": tail,
            "seconds": round(time.perf_counter() - t0, 1)}


def loss_benchmark(device: torch.device, classes: list[int], batch: int, dry_run: bool) -> list[dict]:
    """Median fwd+bwd time (ms) and peak memory (MiB) of each loss, fp32 and bf16 autocast."""
    from torch.utils import benchmark

    import gkl
    from gkl.bench import pairwise_gkl

    T, gamma = 4.0, 0.2
    rows = []
    for C in classes:
        g = torch.Generator(device="cpu").manual_seed(C)
        s0 = torch.randn(batch, C, generator=g).to(device)
        t0 = torch.randn(batch, C, generator=g).to(device)
        y = torch.randint(0, C, (batch,), generator=g).to(device)
        prior = torch.softmax(torch.randn(C, C, generator=g), 1).to(device)
        variants = {
            "gkl": lambda s, t: gkl.gkl(s, t, beta=8.0, gamma=gamma, temperature=T, weight_temperature=T),
            "gkl_prior": lambda s, t, y=y, prior=prior: gkl.gkl(s, t, y, prior, beta=8.0, gamma=gamma, temperature=T),
            "torch_kl_div": lambda s, t: F.kl_div(F.log_softmax(s / T, 1), F.softmax(t / T, 1), reduction="batchmean"),
        }
        if batch * C * C * 4 * 6 < (2**30 if not dry_run else 2**28):  # the pairwise form's B×C×C tensors fit
            variants["pairwise"] = lambda s, t: pairwise_gkl(s, t, gamma=gamma, temperature=T, weight_temperature=T)
        for precision in ("fp32", "bf16"):
            for name, fn in variants.items():
                def step(fn=fn, s0=s0, t0=t0, bf16=precision == "bf16"):
                    s = s0.detach().requires_grad_()
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                        loss = fn(s, t0.detach())
                    loss.backward()

                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                timer = benchmark.Timer(stmt="step()", globals={"step": step})
                m = timer.blocked_autorange(min_run_time=0.05 if dry_run else 0.5)
                peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
                rows.append({"C": C, "B": batch, "loss": name, "precision": precision,
                             "median_ms": round(1e3 * m.median, 4), "runs": len(m.times),
                             "peak_mib": None if peak is None else round(peak, 1)})
    return rows


def profile_epochs(device: torch.device, dry_run: bool) -> list[dict]:
    """One timed epoch of the GPU profiles' runs on synthetic CIFAR-shaped data, with each profile's own
    batch size and mixed precision: adversarial GKL and TRADES (PreActResNet-18, CIFAR-10), and the
    distillation student with GKL and with KD (CIFAR-100). Their ratios are the training-step overheads."""
    from gkl.data import get_dataset, write_fake_cifar
    from gkl.experiments.adversarial import PROFILES as AT_PROFILES

    out = []
    n_train = 64 if dry_run else 50_000
    with tempfile.TemporaryDirectory() as tmp:
        write_fake_cifar(Path(tmp) / "data", "cifar10", n_train=n_train, n_test=64 if dry_run else 1000)
        data = get_dataset("cifar10", Path(tmp) / "data")
        prof = AT_PROFILES["gpu"]
        for label in ("GKL", "TRADES"):
            out.append(_at_epoch(prof, label, data, device, dry_run, n_train))
    out.extend(_distill_epochs(device, dry_run))
    return out


def _at_epoch(prof, label: str, data, device: torch.device, dry_run: bool, n_train: int) -> dict:
    from gkl.methods.adversarial import train_adversarial

    train = dataclasses.replace(prof.train_config(0, str(device)), epochs=1, eval_subset=64, progress=False,
                                deterministic=False, num_workers=0, amp=None if dry_run else prof.amp)
    t0 = time.perf_counter()
    _, hist = train_adversarial("cifar10", prof.model, prof.adversarial_config(label), train, None, data=data,
                                model_kwargs={"width": 4} if dry_run else {})
    return {"profile": f"adversarial/gpu ({label})", "model": prof.model, "amp": train.amp,
            "batch_size": train.batch_size, "train_images": n_train, "epoch_s": round(hist[-1]["time_s"], 2),
            "wall_s": round(time.perf_counter() - t0, 2), "images_per_s": round(n_train / hist[-1]["time_s"], 1)}


def _distill_epochs(device: torch.device, dry_run: bool) -> list[dict]:
    """One epoch of the distillation GPU profile's student with its GKL and its KD distiller (a random
    teacher of the profile's architecture: the time does not depend on its weights)."""
    from gkl.data import write_fake_cifar
    from gkl.experiments.distill import GPU_PROFILE as prof
    from gkl.methods.distill import build_distiller
    from gkl.methods.distill.objective import DistillObjective
    from gkl.methods.distill.train import load_data
    from gkl.models import build_model
    from gkl.training import TrainConfig, fit

    n_train = 64 if dry_run else 50_000
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        write_fake_cifar(Path(tmp) / "data", "cifar100", n_train=n_train, n_test=64 if dry_run else 1000)
        tr, te, info = load_data("cifar100", data_root=str(Path(tmp) / "data"))
        teacher = build_model(prof.teacher_arch, info.num_classes, **dict(prof.teacher_kwargs)).to(device).eval()
        for label in ("gkl", "kd"):
            student = build_model(prof.student_arch, info.num_classes, **dict(prof.student_kwargs))
            objective = DistillObjective(build_distiller(teacher, prof.methods[label], info.num_classes))
            amp = None if dry_run else prof.train.get("amp")
            cfg = TrainConfig(epochs=1, batch_size=int(prof.train["batch_size"]), lr=0.05, progress=False,
                              device=str(device), deterministic=False, eval_subset=64, amp=amp)
            hist = fit(student, objective, tr, te, cfg)
            out.append({"profile": f"distill/gpu ({label})", "teacher": prof.teacher_arch, "student": prof.student_arch,
                        "amp": amp, "batch_size": cfg.batch_size, "train_images": n_train,
                        "epoch_s": round(hist[-1]["time_s"], 2), "images_per_s": round(n_train / hist[-1]["time_s"], 1)})
    return out


def step_overheads(epochs: list[dict]) -> dict:
    """GKL's training-step time over its baseline's, per task, from the timed epochs."""
    t = {e["profile"]: e["epoch_s"] for e in epochs}
    return {"adversarial: GKL / TRADES": round(t["adversarial/gpu (GKL)"] / t["adversarial/gpu (TRADES)"], 3),
            "distillation: GKL / KD": round(t["distill/gpu (gkl)"] / t["distill/gpu (kd)"], 3)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--dry-run", action="store_true", help="CPU, toy sizes: checks the script itself")
    args = p.parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        print("device_check: no CUDA device (use --dry-run on a CPU machine)", file=sys.stderr)
        return 2
    device = torch.device("cpu" if args.dry_run else "cuda")
    t0 = time.perf_counter()
    result = {
        "device": "cpu (dry run)" if args.dry_run else torch.cuda.get_device_name(device),
        "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
        "dry_run": args.dry_run,
        "cuda_tests": run_cuda_tests(args.dry_run),
        "losses": loss_benchmark(device, [10, 100] if args.dry_run else [100, 1000, 21841], 16 if args.dry_run else 256,
                                 args.dry_run),
        "epochs": profile_epochs(device, args.dry_run),
    }
    result["step_overhead"] = step_overheads(result["epochs"])
    result["total_s"] = round(time.perf_counter() - t0, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"device_check: wrote {args.out} in {result['total_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
