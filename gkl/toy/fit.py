r"""Fitting a student to fixed teacher logits, and measuring its error per group of classes.

**Fitting a student** (:func:`fit_student`). A student is fitted to fixed teacher logits
:math:`O_m \in \mathbb{R}^{N \times C}` by full-batch SGD on a loss from :func:`make_loss`. The student
is either the logit matrix itself (``model="logits"``, no architecture: any difference comes from the
loss) or :math:`O_n = X W` with fixed random features :math:`X` (``model="linear"``, classes share
parameters; the teacher is replaced by its least-squares projection :math:`X W^{\star}` so a perfect
fit exists). Softmax ignores a constant added to all logits of a sample, so the error that counts is
that of the **centred** logits, per sample :math:`i` and class :math:`c`:

.. math::

   e^{\mathrm{logit}}_{ic} = \big|(o_{n,ic} - \bar o_{n,i}) - (o_{m,ic} - \bar o_{m,i})\big|,

   e^{\mathrm{prob}}_{ic} = \big|\mathrm{softmax}(o_{n,i}/T)_c - \mathrm{softmax}(o_{m,i}/T)_c\big| ,

averaged over each group of :func:`rank_groups` (the teacher's top-1 class of each sample, its 2nd
class, the lower half of its classes, all classes). The synthetic teacher (:func:`synthetic_teacher`)
is :math:`o_m = \sigma\,\varepsilon + \kappa\, \mathrm{onehot}(y)` with :math:`\varepsilon \sim \mathcal N(0, I)`:
one confident class per sample.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from gkl.core import losses as L

__all__ = ["make_loss", "synthetic_teacher", "rank_groups", "fit_student"]


def make_loss(
    name: str, gamma: float = 1.0, temperature: float = 1.0, alpha: float = 1.0, beta: float = 1.0
) -> Callable[[Tensor, Tensor], Tensor]:
    r"""A loss ``f(student_logits, teacher_logits)`` by name: ``"kl"`` (:func:`gkl.kl_div` × :math:`T^2`),
    ``"dkl"``, ``"ikl"`` or ``"gkl"`` (per-sample weights at ``temperature``; ``gamma`` for ``"gkl"``).

    The teacher is detached inside, as in distillation. GKL's CE has no :math:`T^2` factor
    (see :func:`gkl.gkl`).
    """
    T = float(temperature)
    if name == "kl":
        return lambda s, t: T * T * L.kl_div(s, t.detach(), T)
    if name == "dkl":
        return lambda s, t: L.dkl(s, t.detach(), T, alpha, beta)
    if name in ("ikl", "gkl"):
        g = 1.0 if name == "ikl" else gamma
        return lambda s, t: L.gkl(s, t.detach(), alpha=alpha, beta=beta, gamma=g, temperature=T, weight_temperature=T)
    raise ValueError(f"unknown loss {name!r}: expected 'kl', 'dkl', 'ikl' or 'gkl'")


def synthetic_teacher(
    num_samples: int, num_classes: int, confidence: float = 8.0, noise: float = 1.5, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Peaked teacher logits: ``noise * randn`` plus ``confidence`` on each sample's label.

    Returns ``(logits (N, C) float64, labels (N,))``; labels are drawn uniformly.
    """
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(num_classes, (num_samples,), generator=g)
    logits = noise * torch.randn(num_samples, num_classes, generator=g, dtype=torch.float64)
    logits[torch.arange(num_samples), y] += confidence
    return logits, y


def rank_groups(teacher_logits: Tensor) -> dict[str, Tensor]:
    r"""Boolean masks ``(N, C)`` by the teacher's ranking of each sample's classes: ``"top-1 class"``,
    ``"2nd class"``, ``"lower half"`` (0-based ranks :math:`\ge \lfloor C/2 \rfloor`) and ``"all classes"``."""
    C = teacher_logits.shape[1]
    order = teacher_logits.argsort(dim=1, descending=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(C).expand_as(order).contiguous())
    return {"top-1 class": rank == 0, "2nd class": rank == 1, "lower half": rank >= C // 2,
            "all classes": torch.ones_like(rank, dtype=torch.bool)}


def _errors(
    student: Tensor, teacher: Tensor, temperature: float, groups: dict[str, Tensor]
) -> dict[str, dict[str, float]]:
    """Per-group mean errors: centred-logit error, soft-label (probability) error and per-pair gap
    errors :math:`|(z_{top} - z_j) - (t_{top} - t_j)|` of the top class against the 2nd class and
    against the lower half (``gap``)."""
    cs = student - student.mean(1, keepdim=True)
    ct = teacher - teacher.mean(1, keepdim=True)
    logit_err = (cs - ct).abs()
    prob_err = (F.softmax(student / temperature, 1) - F.softmax(teacher / temperature, 1)).abs()
    top = groups["top-1 class"]
    d = student - teacher
    gap_err = (d[top].unsqueeze(1) - d.view(d.shape[0], -1)).abs()  # (N, C): |d_top - d_j|
    return {
        "logit": {k: float(logit_err[m].mean()) for k, m in groups.items()},
        "prob": {k: float(prob_err[m].mean()) for k, m in groups.items()},
        "gap": {"top vs 2nd": float(gap_err[groups["2nd class"]].mean()),
                "top vs lower half": float(gap_err[groups["lower half"]].mean())},
    }


def fit_student(
    teacher_logits: Tensor,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    steps: int = 200,
    lr: float = 1.0,
    model: str = "logits",
    features: int = 32,
    temperature: float = 4.0,
    record_every: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    r"""Fit a student to fixed teacher logits with full-batch SGD and record per-class-group errors.

    ``model="logits"``: the student logits themselves are the parameters (start at 0).
    ``model="linear"``: student logits :math:`= X W` with fixed random features
    :math:`X \in \mathbb{R}^{N\times D}` and :math:`W` starting at 0; the teacher is refitted in that
    class as the least-squares logits :math:`X W^{\star}` closest to ``teacher_logits`` so a perfect fit exists.

    Records, at step 0, every ``record_every`` steps and at the last step, the loss and the mean
    absolute error of the student's **centred logits** (``logit``) and of its **soft labels at**
    ``temperature`` (``prob``) for each group of :func:`rank_groups`.
    Also the per-pair gap errors of the top class (``gap``, see :func:`_errors`).
    Returns ``{"steps", "loss", "logit": {group: [...]}, "prob": {group: [...]}, "gap": {pair: [...]}, "teacher"}``.
    """
    N, C = teacher_logits.shape
    teacher = teacher_logits.detach().to(torch.float64)
    if model == "logits":
        param = torch.zeros(N, C, dtype=torch.float64, requires_grad=True)

        def forward() -> Tensor:
            return param
    elif model == "linear":
        g = torch.Generator().manual_seed(seed + 10_000)
        X = torch.randn(N, features, generator=g, dtype=torch.float64) / math.sqrt(features)
        teacher = X @ torch.linalg.lstsq(X, teacher).solution  # realisable teacher
        param = torch.zeros(features, C, dtype=torch.float64, requires_grad=True)

        def forward() -> Tensor:
            return X @ param
    else:
        raise ValueError(f"model must be 'logits' or 'linear', got {model!r}")
    groups = rank_groups(teacher)
    opt = torch.optim.SGD([param], lr=lr)
    out: dict[str, Any] = {"steps": [], "loss": [], "logit": {k: [] for k in groups}, "prob": {k: [] for k in groups},
                           "gap": {"top vs 2nd": [], "top vs lower half": []}, "teacher": teacher}
    for step in range(steps + 1):
        opt.zero_grad()
        student = forward()
        loss = loss_fn(student, teacher)
        if step % record_every == 0 or step == steps:
            err = _errors(student.detach(), teacher, temperature, groups)
            out["steps"].append(step)
            out["loss"].append(float(loss.detach()))
            for kind in ("logit", "prob", "gap"):
                for k, v in err[kind].items():
                    out[kind][k].append(v)
        if step < steps:
            loss.backward()
            opt.step()
    return out
