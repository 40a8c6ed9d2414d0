"""A real tiny teacher (:func:`digits_teacher`): softmax regression on scikit-learn's 8×8 digits;
:func:`teacher_examples` picks a typical, a wrong and an over-confident sample of it."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["digits_teacher", "teacher_examples"]


def digits_teacher(steps: int = 150, seed: int = 0, lr: float = 0.5) -> dict[str, Any]:
    """A real (small) teacher: softmax regression trained on scikit-learn's handwritten digits.

    Full-batch SGD for ``steps`` steps on standardised pixels of the training split of
    ``gkl.data.get_dataset("digits", seed=seed)``. Returns ``{"logits", "targets", "accuracy"}`` on
    that training split (logits of the trained model, float64; accuracy on the same samples).
    """
    from gkl.data import get_dataset

    train, _, info = get_dataset("digits", seed=seed)
    x, y = train.tensors()
    x = x.flatten(1).double()
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    torch.manual_seed(seed)
    lin = torch.nn.Linear(x.shape[1], info.num_classes).double()
    opt = torch.optim.SGD(lin.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(lin(x), y).backward()
        opt.step()
    with torch.no_grad():
        logits = lin(x)
    return {"logits": logits, "targets": y, "accuracy": float((logits.argmax(1) == y).double().mean())}


def teacher_examples(logits: Tensor, targets: Tensor) -> dict[str, int]:
    """Indices of three telling samples of a teacher: ``"typical"`` (correct, median confidence),
    ``"wrong"`` (the most confident mistake) and ``"over-confident"`` (correct, highest confidence).

    Raises ``ValueError`` if the teacher makes no mistake (then there is no ``"wrong"`` example).
    """
    p = F.softmax(logits.double(), 1)
    conf, pred = p.max(1)
    correct = pred == targets
    if correct.all():
        raise ValueError("the teacher makes no mistake on these samples: no 'wrong' example to show")
    idx_c = correct.nonzero().flatten()
    idx_w = (~correct).nonzero().flatten()
    order = idx_c[conf[idx_c].argsort()]
    return {
        "typical": int(order[len(order) // 2]),
        "wrong": int(idx_w[conf[idx_w].argmax()]),
        "over-confident": int(order[-1]),
    }
