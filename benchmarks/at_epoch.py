"""Cost of a GKL adversarial-training epoch against a TRADES epoch (same model, data and attack).

Target: a GKL-AT epoch costs no more than 1.05x a TRADES epoch. Both run through the same engine
(:func:`gkl.training.fit`, one epoch, no evaluation) with the same inner attack (KL, ``attack_steps``
steps), so the difference is the outer loss (GKL with class prior vs KL) and the prior's bookkeeping.
For information it also times GKL with its own loss as the inner objective (``attack_loss="gkl"``, see
:mod:`gkl.methods.adversarial.attack_losses`), which changes the attack and so is not the like-for-like
number.

Measured side by side: the variants are interleaved in every repeat, in an order that rotates from one
repeat to the next, and the median is reported.

    python benchmarks/at_epoch.py                 # digits + CIFAR-shaped batches, writes at_epoch.{json,md}
    python benchmarks/at_epoch.py --quick         # fewer repeats (a smoke run)
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from gkl.data import TensorDataset, get_dataset
from gkl.methods.adversarial import AdversarialConfig, AdversarialObjective
from gkl.models import build_model
from gkl.training import TrainConfig, fit
from gkl.training.device import seed_everything

HERE = Path(__file__).resolve().parent
VARIANTS = {
    "TRADES": dict(method="trades", beta=6.0),
    "GKL (same KL attack)": dict(method="gkl", alpha=4.0, beta=20.0, gamma=0.2, temperature=4.0, attack_loss="kl"),
    "GKL (GKL-loss attack)": dict(method="gkl", alpha=4.0, beta=20.0, gamma=0.2, temperature=4.0, attack_loss="gkl"),
}


def epoch_seconds(setting: dict, variant: dict) -> float:
    seed_everything(0)
    model = build_model(setting["model"], setting["num_classes"], **setting["model_kwargs"])
    kw = dict(variant)
    adv = AdversarialConfig.for_method(kw.pop("method"), epsilon=setting["epsilon"], attack_steps=setting["attack_steps"], **kw)
    obj = AdversarialObjective(adv, setting["num_classes"])
    cfg = TrainConfig(epochs=1, batch_size=setting["batch_size"], lr=0.01, progress=False, seed=0)
    t0 = time.perf_counter()
    fit(model, obj, setting["train_set"], None, cfg)
    return time.perf_counter() - t0


def settings(quick: bool) -> list[dict]:
    tr, _, info = get_dataset("digits")
    g = torch.Generator().manual_seed(0)
    n_cifar = 2 * 16 if quick else 4 * 32
    cifar = TensorDataset(torch.randint(0, 256, (n_cifar, 3, 32, 32), dtype=torch.uint8, generator=g),
                          torch.randint(0, 10, (n_cifar,), generator=g))
    return [
        dict(name="digits, small_cnn, 1437 images, batch 64, 5-step attack", model="small_cnn", num_classes=10,
             model_kwargs=dict(mean=info.mean, std=info.std, widths=[16, 32, 64]), train_set=tr, batch_size=64,
             epsilon=0.2, attack_steps=5),
        dict(name=f"CIFAR-shaped, preact_resnet18, {n_cifar} random 32x32 images, batch {16 if quick else 32}, 3-step attack",
             model="preact_resnet18", num_classes=10, model_kwargs={}, train_set=cifar,
             batch_size=16 if quick else 32, epsilon=8 / 255, attack_steps=3),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=HERE / "at_epoch")
    ap.add_argument("--only", default=None, help="run only the settings whose name contains this text")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (3 if args.quick else 7)
    results = []
    chosen = [s for s in settings(args.quick) if args.only is None or args.only in s["name"]]
    if not chosen:
        ap.error(f"no setting matches --only {args.only!r}")
    for s in chosen:
        times = {v: [] for v in VARIANTS}
        epoch_seconds(s, VARIANTS["TRADES"])  # warm-up
        names = list(VARIANTS)
        for i in range(repeats):  # interleaved, and the order rotates so no variant always runs first
            for v in names[i % len(names):] + names[: i % len(names)]:
                times[v].append(epoch_seconds(s, VARIANTS[v]))
        med = {v: statistics.median(t) for v, t in times.items()}
        row = {"setting": s["name"], "repeats": repeats, "median_s": med, "all_s": times,
               "ratio_gkl_same_attack": med["GKL (same KL attack)"] / med["TRADES"],
               "ratio_gkl_own_attack": med["GKL (GKL-loss attack)"] / med["TRADES"]}
        results.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "all_s"}), flush=True)
    meta = {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
            "threads": args.threads, "target": "GKL (same KL attack) / TRADES <= 1.05"}
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    lines = ["# GKL-AT vs TRADES: seconds per epoch (median, CPU)", "",
             f"torch {meta['torch']}, {platform.machine()}, {args.threads} thread(s), {repeats} interleaved repeats. "
             "Target: GKL (same KL attack) / TRADES <= 1.05.", "",
             "| setting | TRADES | GKL (same KL attack) | ratio | GKL (GKL-loss attack) | ratio |", "|---|---|---|---|---|---|"]
    for r in results:
        m = r["median_s"]
        lines.append(f"| {r['setting']} | {m['TRADES']:.3f} | {m['GKL (same KL attack)']:.3f} | "
                     f"{r['ratio_gkl_same_attack']:.3f} | {m['GKL (GKL-loss attack)']:.3f} | {r['ratio_gkl_own_attack']:.3f} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
