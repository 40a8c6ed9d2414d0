r"""Convergence and learning rates of the toy distillation of :mod:`gkl.toy.fit`.

:func:`convergence_experiment` repeats the fit for several losses and seeds (each seed draws its own
teacher) and reports mean ± standard deviation over seeds; :func:`convergence_table` summarises it;
:func:`lr_sweep` repeats it at several learning rates and picks, for each loss, the one with the
smallest final centred-logit error over all classes; :func:`toy_distillation` is KL against IKL.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch

from gkl.toy.fit import fit_student, make_loss, synthetic_teacher

__all__ = ["convergence_experiment", "convergence_table", "lr_sweep", "toy_distillation"]


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
