r"""Pilot for an adversarial-training headline at full power on ``mnist1d-box``: cost and variance.

The recorded AT headline on digits cannot reach a minimum detectable effect (MDE) of one AutoAttack
point: most of its uncertainty comes from the 360 test points (see
:func:`gkl.experiments.full_power.error_parts`), and digits has 1,797 images in all. ``mnist1d-box``
(:mod:`gkl.data`) has as many unseen test points as wanted. This script trains TRADES and GKL on it
for a few seeds, attacks the same unseen points of each with the standard AutoAttack, and prints
per run: clean and AutoAttack accuracy, APGD-CE + APGD-T alone (the white-box half), training and
attack seconds (one thread); then the variance components of the paired difference GKL − TRADES
(:math:`\sigma^2` within points across seeds, :math:`\tau^2` between points) and, from them, the
estimated MDE (80 % power, two-sided 5 %) of candidate designs, seeds × points:

.. math:: \mathrm{MDE} \approx 2.8\,\sqrt{(\tau^2 + \sigma^2/S)/P + \sigma^2/(S P)}.

With two seeds the components are rough; the sizes they suggest are a plan, not a result.

    python benchmarks/at_mnist1d_pilot.py                       # ε = 0.03, 2 seeds, 2,000 points
    python benchmarks/at_mnist1d_pilot.py --quick               # a smoke run (seconds)
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from gkl.attacks.autoattack import apgd_whitebox, build_autoattack
from gkl.attacks.threat import predict
from gkl.data import get_dataset, mnist1d_test_set
from gkl.methods.adversarial import AdversarialConfig, train_adversarial
from gkl.training import TrainConfig

#: The settings tried: TRADES and GKL at the digits sweep's choices (not tuned on this data set).
METHODS = {"trades": {"beta": 3.0}, "gkl": {"beta": 2.5, "gamma": 0.2, "use_prior": True}}
DESIGNS = ((8, 3000), (8, 4000), (10, 4000), (20, 2000))


def one_run(method: str, seed: int, args: argparse.Namespace, points) -> dict:
    train, test, info = get_dataset("mnist1d-box")
    adv = AdversarialConfig.for_method(method, epsilon=args.eps, attack_steps=5, step_ratio=0.4,
                                       eps_schedule="ramp-hold", eps_warmup=min(3.0, args.epochs), **METHODS[method])
    cfg = TrainConfig(epochs=args.epochs, batch_size=64, optimizer="sgd", lr=0.05, weight_decay=5e-4,
                      schedule="cosine", seed=seed, eval_every=args.epochs, deterministic=True)
    t0 = time.perf_counter()
    model, _ = train_adversarial("mnist1d-box", "mnist1d_cnn", adv, cfg, None, model_kwargs={"width": args.width},
                                 data=(train, test, info))
    train_s = time.perf_counter() - t0
    x, y = points
    model.eval()
    clean = (predict(model, x) == y).float().mean().item()
    t0 = time.perf_counter()
    white = (predict(model, apgd_whitebox(model, x, y, args.eps, n_classes=10, seed=seed)) == y).float().mean().item()
    apgd_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    run = build_autoattack(model, args.eps, n_classes=10, seed=seed).run(x, y)
    return {"method": method, "seed": seed, "clean": clean, "apgd_whitebox": white,
            "autoattack": run.robust.float().mean().item(), "train_s": round(train_s, 1),
            "apgd_s": round(apgd_s, 1), "autoattack_s": round(time.perf_counter() - t0, 1),
            "robust": run.robust.cpu().numpy().astype(np.int8)}


def components(runs: list[dict], seeds: list[int]) -> tuple[float, float]:
    """``(σ², τ²)`` of the paired difference GKL − TRADES, point by point."""
    by = {(r["method"], r["seed"]): r["robust"].astype(float) for r in runs}
    d = np.stack([by[("gkl", s)] - by[("trades", s)] for s in seeds])
    sigma2 = float(d.var(axis=0, ddof=1).mean())
    return sigma2, float(d.mean(axis=0).var(ddof=1) - sigma2 / len(seeds))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--eps", type=float, default=0.03)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--points", type=int, default=2000)
    p.add_argument("--quick", action="store_true", help="1 epoch, width 4, 100 points: checks the script runs")
    args = p.parse_args()
    if args.quick:
        args.epochs, args.width, args.points = 1, 4, 100
    if args.seeds < 2:
        p.error("--seeds must be at least 2 (the variance across seeds needs two)")
    torch.set_num_threads(1)
    extra = mnist1d_test_set(max(10_000, -(-args.points // 10) * 10), box=True)
    points = (extra.inputs[: args.points], extra.targets[: args.points])
    seeds = list(range(args.seeds))
    runs = []
    for s in seeds:
        for m in METHODS:
            runs.append(one_run(m, s, args, points))
            print(json.dumps({k: v for k, v in runs[-1].items() if k != "robust"}), flush=True)
    sigma2, tau2 = components(runs, seeds)
    mde = {f"{s} x {n}": round(280 * np.sqrt(max(tau2 + sigma2 / s, 0) / n + sigma2 / (s * n)), 2) for s, n in DESIGNS}
    print(json.dumps({"eps": args.eps, "epochs": args.epochs, "points": args.points, "sigma2": round(sigma2, 4),
                      "tau2": round(tau2, 4), "estimated_mde_points": mde}), flush=True)


if __name__ == "__main__":
    main()
