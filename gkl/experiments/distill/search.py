"""The design-time search for a teacher/student pair, and the authors' reported trends beside ours."""

from __future__ import annotations

from typing import Any, Mapping

from gkl.experiments.distill.compare import compare_to
from gkl.methods.distill.train import RunResult

__all__ = ["PAIR_SEARCH", "trends_vs_reported"]

#: Teacher/student pairs tried on mnist1d while designing the chapters (scratch loop with the same
#: models, AdamW, cosine schedule; KD at T = 4 with CE and KD weights 1 unless noted; 3 seeds each;
#: **not re-run during the book build**). Accuracies in %, mean ± std over seeds.
_PAIR_COLUMNS = ("student", "train samples", "augmentation", "epochs", "alone", "KD", "Δ", "note")
PAIR_SEARCH: list[dict[str, Any]] = [dict(zip(_PAIR_COLUMNS, row)) for row in [
    ("MLP 100-100", 4000, "none", 20, "63.8 ± 1.4", "63.3 ± 1.5", -0.6, ""),
    ("CNN width 4", 4000, "none", 20, "51.5 ± 1.1", "47.7 ± 4.3", -3.8, ""),
    ("CNN width 8", 4000, "none", 20, "70.9 ± 1.4", "69.8 ± 2.8", -1.0, ""),
    ("MLP 100-100", 4000, "shift ±4", 20, "67.5 ± 1.5", "64.1 ± 1.5", -3.3, ""),
    ("CNN width 4", 4000, "shift ±4", 20, "59.8 ± 10.0", "51.8 ± 4.0", -8.0, ""),
    ("MLP 100-100", 4000, "shift ±8", 40, "71.0 ± 2.6", "69.4 ± 0.5", -1.6, "KD: CE 0.1, KD 0.9"),
    ("CNN width 16", 1000, "shift ±4", 60, "87.2 ± 5.1", "89.1 ± 5.0", 1.9, ""),
    ("MLP 100-100", 1000, "shift ±4", 60, "59.2 ± 2.1", "58.8 ± 0.7", -0.4, ""),
    ("CNN width 8", 1000, "shift ±4", 60, "74.0 ± 4.4", "67.0 ± 4.1", -7.0, ""),
    ("CNN width 8 + BN", 4000, "none", 30, "92.2 ± 1.3", "91.3 ± 1.9", -0.8, ""),
    ("CNN width 8 + BN", 1000, "none", 60, "77.6 ± 1.6", "76.6 ± 0.5", -1.0, ""),
    ("MLP 100-100", 4000, "mixup (soft labels)", 40, "60.2 ± 1.1", "62.6 ± 0.7", 2.5, "KD: T 1, no label CE"),
    ("CNN width 8 + BN", 4000, "mixup (soft labels)", 30, "86.5 ± 1.2", "87.1 ± 2.7", 0.5, ""),
    ("MLP 100-100", 4000, "mix, majority label", 60, "60.9 ± 0.5", "62.8 ± 1.6", 1.8, ""),
    ("CNN width 8 + BN", 4000, "mix, majority label", 30, "88.1 ± 0.5", "90.0 ± 1.4", 2.0, ""),
    ("CNN width 8 + BN", 4000, "mix, majority label", 60, "92.9 ± 1.3", "93.6 ± 1.0", 0.7, ""),
    ("CNN width 8 + BN", 2000, "mix, majority label", 60, "87.8 ± 1.0", "89.3 ± 1.3", 1.5, ""),
    ("CNN width 16 + BN", 2000, "mix, majority label", 60, "94.2 ± 0.8", "95.9 ± 0.4", 1.6, "chosen"),
]]


def trends_vs_reported(results: Mapping[str, list[RunResult]]) -> list[dict[str, Any]]:
    """The authors' reported trends (from :mod:`gkl.reported`) beside the same comparison in ``results``.

    For each trend "A beats B": the reported gaps (points) and our difference of mean last-epoch
    accuracies with its verdict (see :func:`compare_to`): ``agrees`` if we also see A better (the 95 %
    interval of the paired difference above zero), ``disagrees`` if we see A worse, else
    ``inconclusive``; the interval and the minimum detectable effect beside it.
    """
    from gkl import reported

    im = reported.load("imagenet_kd")
    lt = reported.load("imagenet_lt_kd")

    def gap(table, a, b, **key):
        return table.value("top1", method=a, **key) - table.value("top1", method=b, **key)

    trends = [
        ("gkl", "kd", "GKL beats KL/KD",
         [f"ImageNet-LT X101→R18 {gap(lt, 'GKL', 'KL'):+.2f}"]),
        ("gkl", "dkd", "GKL beats DKD",
         [f"ImageNet R34→R18 {gap(im, 'GKL', 'DKD', student='ResNet-18'):+.2f}",
          f"ImageNet R50→MobileNetV1 {gap(im, 'GKL', 'DKD', student='MobileNetV1'):+.2f}"]),
    ]
    out = []
    for a, b, text, rep in trends:
        if a not in results or b not in results:
            continue
        row = {r["method"]: r for r in compare_to({b: results[b], a: results[a]}, b)}[a]
        verdict = {"better": "agrees", "worse": "disagrees"}.get(row["verdict"], f"inconclusive ({row['verdict']})")
        d = row["diff"]
        out.append({"trend": text, "reported by the authors": "; ".join(rep),
                    "ours (points)": f"{100 * row['delta']:+.2f}, " + ("95 % CI " if d.low is not None else "")
                                     + f"{d.interval_text(100, 2)}, MDE {d.mde_text(100, 2)} "
                                     f"(seeds won {row['wins']}/{row['n']})",
                    "reading": verdict})
    return out

