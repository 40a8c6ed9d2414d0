"""Speed of the two-level paired bootstrap (:func:`gkl.experiments.power.hierarchical_bootstrap`).

Synthetic 0/1 per-point results of two methods (seeds × points), both designs, median over repeats
after one warm-up call (which pays scipy's import):

    python benchmarks/bootstrap_speed.py                      # 30 seeds × 10,000 points × 2,000 replicates
    python benchmarks/bootstrap_speed.py --seeds 10 --points 360 --resamples 5000
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np

from gkl.experiments.power import hierarchical_bootstrap


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    a = (rng.random((args.seeds, args.points)) < 0.60).astype(np.float64)
    b = (rng.random((args.seeds, args.points)) < 0.61).astype(np.float64)
    print(f"{args.seeds} seeds × {args.points} points × {args.resamples} replicates; {platform.processor() or platform.machine()}")
    for design in ("crossed", "nested"):
        hierarchical_bootstrap(a, b, design=design, resamples=args.resamples)  # warm-up
        times = []
        for r in range(args.repeats):
            t0 = time.perf_counter()
            d = hierarchical_bootstrap(a, b, "A", "B", resamples=args.resamples, seed=r, design=design)
            times.append(time.perf_counter() - t0)
        print(f"{design:8s} median {statistics.median(times):.3f} s (min {min(times):.3f}): {d.sentence()}")


if __name__ == "__main__":
    main()
