r"""Toy experiments of Part I: free student logits, tiny teachers, prior shards.

Everything here returns plain tensors, dicts and lists (so tests can check the numbers); the figures
that draw them live in :mod:`gkl.viz.theory`. Notation as in :mod:`gkl.losses`: :math:`o_m` are the
teacher (reference) logits, :math:`o_n` the student logits, :math:`u = \mathrm{softmax}(o_m/T)`.

**Which term moves which side** (:func:`term_gradients`). The gradients of each term of DKL
(:func:`gkl.dkl_parts`) or GKL (:func:`gkl.gkl_parts`) with respect to each side, by autograd. In DKL
the wMSE has no gradient on :math:`o_n` and the CE none on :math:`o_m`; in GKL the wMSE depends on
:math:`d = o_m - o_n` only, so :math:`\partial\,\mathrm{wMSE}/\partial o_n = -\partial\,\mathrm{wMSE}/\partial o_m`.

**Pair weights** (:func:`weight_matrix`). GKL weights the pair :math:`(j, k)` by
:math:`u_j^\gamma u_k^\gamma`; normalised to sum 1,

.. math:: w_{jk} = \frac{u_j^\gamma\, u_k^\gamma}{\big(\sum_j u_j^\gamma\big)^2} .

**Fitting a student** (:func:`fit_student`). A student is fitted to fixed teacher logits
:math:`O_m \in \mathbb{R}^{N \times C}` by full-batch SGD on a loss from :func:`make_loss`. The student
is either the logit matrix itself (``model="logits"``, no architecture: any difference comes from the
loss) or :math:`O_n = X W` with fixed random features :math:`X` (``model="linear"``, classes share
parameters; the teacher is replaced by its least-squares projection :math:`X W^{\star}` so a perfect
fit exists). Softmax ignores a constant added to all logits of a sample, so the error that counts is
that of the **centred** logits, per sample :math:`i` and class :math:`c`:

.. math:: e^{\mathrm{logit}}_{ic} = \big|(o_{n,ic} - \bar o_{n,i}) - (o_{m,ic} - \bar o_{m,i})\big|,
          \qquad e^{\mathrm{prob}}_{ic} = \big|\mathrm{softmax}(o_{n,i}/T)_c - \mathrm{softmax}(o_{m,i}/T)_c\big| ,

averaged over each group of :func:`rank_groups` (the teacher's top-1 class of each sample, its 2nd
class, the lower half of its classes, all classes). The synthetic teacher (:func:`synthetic_teacher`)
is :math:`o_m = \sigma\,\varepsilon + \kappa\, \mathrm{onehot}(y)` with :math:`\varepsilon \sim \mathcal N(0, I)`:
one confident class per sample.

**Convergence and learning rates.** :func:`convergence_experiment` repeats the fit for several losses
and seeds (each seed draws its own teacher) and reports mean ± standard deviation over seeds;
:func:`convergence_table` summarises it; :func:`lr_sweep` repeats it at several learning rates and
picks, for each loss, the one with the smallest final centred-logit error over all classes.

**A real tiny teacher** (:func:`digits_teacher`): softmax regression on scikit-learn's 8×8 digits;
:func:`teacher_examples` picks a typical, a wrong and an over-confident sample of it.

**The class prior on data-parallel ranks** (:func:`shard_priors`). Rank :math:`r` holds per-class
sums :math:`\Sigma^{(r)}_{c,:} = \sum_{i \in r,\, y_i = c} \mathrm{softmax}(o_{m,i}/T)` and counts
:math:`n^{(r)}_c`. Without synchronisation rank :math:`r` uses :math:`\Sigma^{(r)}_{c,:} / n^{(r)}_c`;
the all-reduce of :meth:`gkl.ClassPrior.compute` gives every rank
:math:`\sum_r \Sigma^{(r)}_{c,:} / \sum_r n^{(r)}_c`, the prior of one process over all the data.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from gkl.core import losses as L
from gkl.derivations import autograd_gradients
from gkl.core.prior import ClassPrior

__all__ = [
    "as_logit_vector",
    "term_gradients",
    "weight_matrix",
    "make_loss",
    "synthetic_teacher",
    "rank_groups",
    "wmse_hessian",
    "hessian_spectrum",
    "fit_student",
    "convergence_experiment",
    "convergence_table",
    "lr_sweep",
    "toy_distillation",
    "digits_teacher",
    "teacher_examples",
    "shard_priors",
]


def as_logit_vector(x: Any, name: str = "logits") -> Tensor:
    """``x`` as a float64 1-D tensor of at least 2 logits (one sample); ``ValueError`` otherwise."""
    t = torch.as_tensor(x, dtype=torch.float64)
    if t.dim() != 1 or t.numel() < 2:
        raise ValueError(f"{name} must be a 1-D vector of at least 2 logits, got shape {tuple(t.shape)}")
    return t


# --------------------------------------------------------------------------- one sample


def term_gradients(
    student_logits: Tensor,
    teacher_logits: Tensor,
    decoupled: str = "dkl",
    temperature: float = 1.0,
    gamma: float = 1.0,
) -> dict[str, Tensor]:
    r"""Gradient of each term (wMSE, CE) with respect to each side (teacher, student).

    ``decoupled="dkl"`` uses :func:`gkl.dkl_parts` (the KL-equivalent form with stop-gradients);
    ``"gkl"`` uses :func:`gkl.gkl_parts` (asymmetry broken; :math:`\gamma=1` is IKL without a prior;
    wMSE on raw logits, weights at ``temperature``). Returns a dict with keys ``wmse_teacher``,
    ``wmse_student``, ``ce_teacher``, ``ce_student`` (tensors shaped like the logits).
    """
    if decoupled == "dkl":
        def parts(s, t):
            return L.dkl_parts(s, t, temperature)
    elif decoupled == "gkl":
        def parts(s, t):
            return L.gkl_parts(s, t, gamma=gamma, temperature=temperature, weight_temperature=temperature)
    else:
        raise ValueError(f"decoupled must be 'dkl' or 'gkl', got {decoupled!r}")
    ws, wt = autograd_gradients(lambda s, t: parts(s, t).wmse, student_logits, teacher_logits)
    cs, ct = autograd_gradients(lambda s, t: parts(s, t).ce, student_logits, teacher_logits)
    return {"wmse_teacher": wt, "wmse_student": ws, "ce_teacher": ct, "ce_student": cs}


def weight_matrix(teacher_logits: Any, gamma: float, temperature: float = 1.0) -> Tensor:
    r"""Normalised pair weights :math:`w_{jk} = u_j^\gamma u_k^\gamma / (\sum_j u_j^\gamma)^2`,
    :math:`u = \mathrm{softmax}(o_m/T)` (one sample; entries sum to 1)."""
    u = F.softmax(as_logit_vector(teacher_logits, "teacher_logits") / temperature, 0).pow(gamma)
    w = u[:, None] * u[None, :]
    return w / w.sum()


# --------------------------------------------------------------------------- fitting a student


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


def wmse_hessian(weights: Tensor) -> Tensor:
    r"""Hessian of one sample's normalised wMSE in the student logits: :math:`\mathrm{diag}(w) - w w^\top`.

    With :math:`w = v / \sum_k v_k` (:math:`v = u^\gamma`) and :math:`d = o_m - o_n`, GKL's normalised wMSE is
    half a weighted variance,

    .. math::

        L = \frac{\tfrac14 \sum_{j,k} v_j v_k (d_j - d_k)^2}{(\sum_k v_k)^2}
          = \tfrac12\Big(\sum_j w_j d_j^2 - \big(\sum_j w_j d_j\big)^2\Big),

    so its Hessian is :math:`\mathrm{diag}(w) - w w^\top` (a quadratic: the same at every point). Its
    diagonal is :func:`gkl.derivations.wmse_curvature`. ``weights``: ``(C,)`` non-negative :math:`v`.
    """
    v = torch.as_tensor(weights, dtype=torch.float64)
    if v.dim() != 1 or v.numel() < 2 or bool((v < 0).any()) or float(v.sum()) <= 0:
        raise ValueError("weights must be a (C,) vector of non-negative numbers with C >= 2 and a positive sum")
    w = v / v.sum()
    return torch.diag(w) - torch.outer(w, w)


def hessian_spectrum(soft_labels: Tensor, gammas: Sequence[float]) -> list[dict[str, float]]:
    r"""For each :math:`\gamma`: the eigenvalues of :func:`wmse_hessian` of :math:`v = u^\gamma`.

    One eigenvalue is always 0 (shifting every logit changes nothing, the direction :math:`\mathbf 1`).
    Gradient descent closes an error component along eigenvector :math:`q` by the factor
    :math:`1 - \eta\beta\lambda` per step, so the **smallest non-zero eigenvalue** ``lambda_min`` sets
    the slowest mode and the largest, ``lambda_max``, the largest stable step. Returns rows with
    ``gamma``, ``lambda_min``, ``lambda_max``, ``ratio`` (``lambda_max / lambda_min``) and
    ``top_share``: how much of the slowest eigenvector sits on the top class (its squared entry).
    """
    u = torch.as_tensor(soft_labels, dtype=torch.float64)
    rows = []
    for g in gammas:
        vals, vecs = torch.linalg.eigh(wmse_hessian(u.pow(g)))
        nonzero = vals > 1e-12 * float(vals.max())
        i = int(torch.nonzero(nonzero)[0])  # eigh sorts ascending: the first non-zero one
        top = int(u.argmax())
        rows.append({"gamma": float(g), "lambda_min": float(vals[i]), "lambda_max": float(vals[-1]),
                     "ratio": float(vals[-1] / vals[i]), "top_share": float(vecs[top, i] ** 2)})
    return rows


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


def _mean_std(runs: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
    """Mean and sample standard deviation over runs (rows), per recorded step; std 0 for one run."""
    t = torch.tensor(runs, dtype=torch.float64)
    std = t.std(0, unbiased=True) if t.shape[0] > 1 else torch.zeros(t.shape[1], dtype=torch.float64)
    return t.mean(0).tolist(), std.tolist()


def convergence_experiment(
    configs: Sequence[Mapping[str, Any]],
    seeds: Sequence[int] = (0, 1, 2),
    num_samples: int = 64,
    num_classes: int = 10,
    confidence: float = 8.0,
    noise: float = 1.5,
    temperature: float = 4.0,
    steps: int = 200,
    lr: float = 1.0,
    model: str = "logits",
    record_every: int = 10,
) -> dict[str, Any]:
    """Run :func:`fit_student` for every loss config and seed; mean ± std over seeds.

    ``configs``: dicts with ``label``, ``loss`` (a :func:`make_loss` name) and optionally ``gamma``,
    ``alpha``, ``beta`` and ``lr`` (overrides the common ``lr``). Each seed draws its own teacher
    (:func:`synthetic_teacher`); every loss sees the same teachers. Returns
    ``{"steps", "settings", "results": {label: {"loss"|"logit"|"prob"|"gap": {group: (mean, std)}}}}``
    (``loss`` maps ``"all"`` to the loss curve).
    """
    if not configs or not seeds:
        raise ValueError("convergence_experiment needs at least one loss config and one seed")
    results: dict[str, Any] = {}
    recorded: list[int] = []
    for cfg in configs:
        fn = make_loss(cfg["loss"], cfg.get("gamma", 1.0), temperature, cfg.get("alpha", 1.0), cfg.get("beta", 1.0))
        runs = []
        for seed in seeds:
            teacher, _ = synthetic_teacher(num_samples, num_classes, confidence, noise, seed)
            runs.append(fit_student(teacher, fn, steps, cfg.get("lr", lr), model, temperature=temperature,
                                    record_every=record_every, seed=seed))
        res: dict[str, Any] = {"loss": {"all": _mean_std([r["loss"] for r in runs])}}
        for kind in ("logit", "prob", "gap"):
            res[kind] = {g: _mean_std([r[kind][g] for r in runs]) for g in runs[0][kind]}
        results[cfg["label"]] = res
        recorded = runs[0]["steps"]
    settings = dict(seeds=list(seeds), num_samples=num_samples, num_classes=num_classes, confidence=confidence,
                    noise=noise, temperature=temperature, steps=steps, lr=lr, model=model)
    return {"steps": recorded, "settings": settings, "results": results}


def convergence_table(result: Mapping[str, Any], kind: str = "logit", fraction: float = 0.25) -> list[dict]:
    """Summary rows of :func:`convergence_experiment`, one per loss and class group.

    Each row: ``loss``, ``group``, ``initial``, ``final_mean``, ``final_std`` (error at the last
    recorded step, mean ± std over seeds), ``remaining`` (final / initial mean error) and
    ``steps_to_fraction``: the first recorded step at which the mean error is at most ``fraction`` ×
    its initial value (``None`` if never reached).
    """
    rows = []
    steps = result["steps"]
    for label, res in result["results"].items():
        for group, (mean, std) in res[kind].items():
            reached = next((s for s, m in zip(steps, mean) if m <= fraction * mean[0]), None)
            rows.append({"loss": label, "group": group, "initial": mean[0], "final_mean": mean[-1],
                         "final_std": std[-1], "remaining": mean[-1] / mean[0] if mean[0] else math.nan,
                         "steps_to_fraction": reached})
    return rows


def lr_sweep(
    configs: Sequence[Mapping[str, Any]], lrs: Sequence[float] = (1.0, 4.0, 16.0), **kw: Any
) -> dict[str, Any]:
    """Run :func:`convergence_experiment` at every learning rate and pick each loss's best one.

    The best learning rate of a loss minimises its final mean centred-logit error over **all classes**
    (mean over seeds; a non-finite error counts as infinitely bad). Returns ``{"by_lr": {lr: result},
    "best_lr": {label: lr}, "best": result, "diverged": {label: [lr, ...]}}`` where ``best`` holds each
    loss's curves at its own best learning rate (labels get `` @ lr`` appended) in the format of
    :func:`convergence_experiment`, and ``diverged`` lists the learning rates whose final error is not
    finite or exceeds its initial value a thousandfold.
    """
    by_lr = {float(lr): convergence_experiment(configs, lr=float(lr), **kw) for lr in lrs}
    best_lr: dict[str, float] = {}
    best: dict[str, Any] = {}
    diverged: dict[str, list[float]] = {}
    for cfg in configs:
        label = cfg["label"]
        final = {lr: res["results"][label]["logit"]["all classes"][0] for lr, res in by_lr.items()}
        lr = min(final, key=lambda r: final[r][-1] if math.isfinite(final[r][-1]) else math.inf)
        best_lr[label] = lr
        best[f"{label} @ lr {lr:g}"] = by_lr[lr]["results"][label]
        diverged[label] = [r for r, c in final.items() if not math.isfinite(c[-1]) or c[-1] > 1e3 * c[0]]
    first = next(iter(by_lr.values()))
    settings = dict(first["settings"], lr=list(by_lr))
    return {"by_lr": by_lr, "best_lr": best_lr, "diverged": diverged,
            "best": {"steps": first["steps"], "settings": settings, "results": best}}


def toy_distillation(
    seeds: Sequence[int] = (0, 1, 2), steps: int = 200, beta: float = 8.0, kl_lrs: Sequence[float] = (1.0, 8.0),
    **kw: Any,
) -> dict[str, Any]:
    """KL (:math:`T^2` KL, at each learning rate in ``kl_lrs``) against IKL (γ = 1, per-sample weights,
    asymmetry broken, :math:`\\alpha = 1`) in the toy distillation of :func:`convergence_experiment`;
    IKL runs at the common ``lr`` (default 1)."""
    configs = [{"label": f"KL (T²·KL), lr {lr:g}", "loss": "kl", "lr": lr} for lr in kl_lrs]
    configs.append({"label": f"IKL (α=1, β={beta:g})", "loss": "ikl", "beta": beta})
    return convergence_experiment(configs, seeds=seeds, steps=steps, **kw)


# --------------------------------------------------------------------------- tiny real teacher, class prior


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


def shard_priors(
    logits: Tensor, targets: Tensor, num_ranks: int = 2, temperature: float = 1.0, split: str = "sorted"
) -> dict[str, Any]:
    """What each of ``num_ranks`` data-parallel ranks computes, without and with the all-reduce.

    The samples are split into shards (``"sorted"``: by label, as an un-shuffled sampler would;
    ``"strided"``: sample ``i`` to rank ``i % R``, as ``DistributedSampler`` without shuffling). Each
    rank fills its own :class:`gkl.ClassPrior`; the all-reduce of :meth:`gkl.ClassPrior.compute` is
    simulated in one process by summing the ranks' statistics (exactly what ``all_reduce`` does).

    Returns ``{"local": [prior per rank], "synced": prior, "single": prior of one process over all
    data, "classes": [sorted classes seen by each rank], "max_local_gap": max |local - single|,
    "max_synced_gap": max |synced - single|}``.
    """
    if split == "sorted":
        order = targets.argsort(stable=True)
        shards = order.tensor_split(num_ranks)
    elif split == "strided":
        shards = [torch.arange(r, targets.numel(), num_ranks) for r in range(num_ranks)]
    else:
        raise ValueError(f"split must be 'sorted' or 'strided', got {split!r}")
    C = logits.shape[1]
    ranks = []
    for idx in shards:
        p = ClassPrior(C, temperature)
        p.update(logits[idx], targets[idx])
        ranks.append(p)
    local = [p.compute() for p in ranks]
    total = ClassPrior(C, temperature)
    states = [p.state_dict() for p in ranks]
    merged = dict(states[0])
    merged["sums"] = sum(s["sums"] for s in states)  # all_reduce(sums)
    merged["counts"] = sum(s["counts"] for s in states)  # all_reduce(counts)
    total.load_state_dict(merged)
    synced = total.compute()
    single = ClassPrior(C, temperature)
    single.update(logits, targets)
    single_prior = single.compute()
    return {
        "local": local,
        "synced": synced,
        "single": single_prior,
        "classes": [sorted(set(targets[idx].tolist())) for idx in shards],
        "max_local_gap": max(float((p - single_prior).abs().max()) for p in local),
        "max_synced_gap": float((synced - single_prior).abs().max()),
    }
