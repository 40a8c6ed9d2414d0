"""What a student learned beyond its accuracy: agreement with the teacher and calibration."""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

__all__ = ["student_report"]


@torch.no_grad()
def student_report(student: nn.Module, teacher: Optional[nn.Module], dataset: Dataset, bins: int = 10,
                   batch_size: int = 1000) -> dict[str, Any]:
    r"""What a student learned, on ``dataset``: accuracy, agreement with the teacher's top-1, expected
    calibration error and the reliability-diagram data.

    .. math:: \mathrm{ECE} = \sum_{b} \frac{n_b}{N} \,\big|\mathrm{acc}_b - \mathrm{conf}_b\big|

    over ``bins`` equal-width confidence bins (confidence = top-1 softmax probability).
    """
    if hasattr(dataset, "tensors"):
        xs, ys = dataset.tensors()
    else:
        xs, ys = map(torch.stack, zip(*[dataset[i] for i in range(len(dataset))]))
    dev = next(student.parameters()).device
    student.eval()
    probs, tpred = [], []
    for i in range(0, len(xs), batch_size):
        x = xs[i : i + batch_size].to(dev)
        probs.append(F.softmax(student(x).float(), 1).cpu())
        if teacher is not None:
            teacher.eval()
            tpred.append(teacher(x).argmax(1).cpu())
    p = torch.cat(probs)
    conf, pred = p.max(1)
    correct = (pred == ys).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64)
    which = torch.bucketize(conf.double(), edges[1:-1], right=True)
    count = torch.bincount(which, minlength=bins).double()
    acc_b = torch.bincount(which, weights=correct, minlength=bins) / count.clamp_min(1)
    conf_b = torch.bincount(which, weights=conf.double(), minlength=bins) / count.clamp_min(1)
    ece = float(((count / len(ys)) * (acc_b - conf_b).abs()).sum())
    out = {
        "acc": float(correct.mean()),
        "ece": ece,
        "nll": float(F.nll_loss(p.clamp_min(1e-12).log(), ys)),
        "mean_confidence": float(conf.mean()),
        "bin_edges": edges.tolist(),
        "bin_count": count.tolist(),
        "bin_acc": acc_b.tolist(),
        "bin_conf": conf_b.tolist(),
    }
    if teacher is not None:
        out["agreement"] = float((pred == torch.cat(tpred)).double().mean())
    return out
