"""Robustness evaluation: clean, PGD, AutoAttack and per-point worst-case accuracy.

* :func:`robustness` — clean, PGD, AutoAttack and worst-case (per point, over all attacks) accuracy;
  every attack's output is checked to lie in the threat model.
* :func:`accuracy_vs_epsilon` — PGD robust accuracy against the radius.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from gkl.attacks.autoattack import autoattack
from gkl.attacks.pgd import pgd
from gkl.attacks.threat import _batches, _eps, _grads_kept, _model_device, _norm, eval_mode, predict

__all__ = ["AttackSpec", "robustness", "accuracy_vs_epsilon"]


_AUTOATTACK_NAMES = {"autoattack": "standard", "autoattack_fast": "fast"}
AttackSpec = Union[str, tuple[str, Callable[[nn.Module, Tensor, Tensor], Tensor]]]


def _check_threat_model(name: str, xa: Tensor, x: Tensor, eps: float, norm: str, tol: float = 1e-5) -> None:
    d = (xa - x).flatten(1)
    size = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
    if xa.numel() and (float(size.max()) > eps + tol or float(xa.min()) < -tol or float(xa.max()) > 1 + tol):
        raise ValueError(
            f"attack {name!r} returned inputs outside the threat model: max {norm} distance "
            f"{float(size.max()):.6g} (eps {eps}), range [{float(xa.min()):.6g}, {float(xa.max()):.6g}]"
        )


def robustness(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    attacks: Sequence[AttackSpec] = ("pgd", "autoattack"),
    norm: str = "linf",
    pgd_steps: int = 20,
    pgd_restarts: int = 1,
    n_classes: int = 10,
    seed: int = 0,
    device: Optional[torch.device] = None,
    batch_size: int = 512,
    square_queries: Optional[int] = None,
) -> dict[str, float]:
    """Clean and robust accuracy over the whole of ``(x, y)``.

    ``attacks`` holds names — ``"pgd"`` (PGD-``pgd_steps``, per-point worst iterate),
    ``"autoattack"`` (standard AutoAttack), ``"autoattack_fast"`` (the reduced budget, see
    :func:`autoattack_label`) — or ``(name, fn)`` pairs with ``fn(model, x, y) -> x_adv``.
    Returns ``clean_acc``, ``<name>_acc`` for each attack and ``robust_acc``: the per-point worst
    case — a point counts as robust only if it is classified correctly clean *and* under every
    attack. Also ``n`` (the number of points). Every attack's output is checked to lie in the
    threat model (``ValueError`` otherwise). ``square_queries`` is kept for backward compatibility
    only (see :func:`autoattack`).
    """
    norm, eps = _norm(norm), _eps(eps)
    device = _model_device(model, device)
    y = y.cpu()
    ok = predict(model, x, batch_size, device) == y
    out = {"n": int(y.shape[0]), "clean_acc": ok.float().mean().item()}
    worst = ok.clone()
    for spec in attacks:
        if isinstance(spec, str):
            name = spec
            if name == "pgd":
                xa = torch.cat(
                    [
                        pgd(model, x[s], y[s], eps, steps=pgd_steps, norm=norm, restarts=pgd_restarts, seed=seed + i,
                            device=device)
                        for i, s in enumerate(_batches(x.shape[0], batch_size))
                    ]
                )
            elif name in _AUTOATTACK_NAMES:
                xa = autoattack(model, x, y, eps, norm, n_classes, seed, device, batch_size, square_queries,
                                version=_AUTOATTACK_NAMES[name])
            else:
                raise ValueError(f"unknown attack {name!r}; choose 'pgd', 'autoattack', 'autoattack_fast' or pass (name, fn)")
        else:
            name, fn = spec
            if not isinstance(name, str) or not callable(fn) or name in ("clean", "robust", "n"):
                raise ValueError(f"an attack must be a name or a (name, fn) pair with a new name, got {spec!r}")
            with eval_mode(model), _grads_kept(model):
                xa = fn(model, x, y)
        xa = xa.detach().cpu()
        _check_threat_model(name, xa, x.detach().cpu(), eps, norm)
        correct = predict(model, xa, batch_size, device) == y
        out[f"{name}_acc"] = correct.float().mean().item()
        worst &= correct
    out["robust_acc"] = worst.float().mean().item()
    return out


def accuracy_vs_epsilon(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    epsilons: Sequence[float],
    norm: str = "linf",
    steps: int = 20,
    seed: int = 0,
    device: Optional[torch.device] = None,
) -> list[float]:
    """PGD robust accuracy at each radius (step size :math:`2.5\\varepsilon/\\text{steps}`)."""
    device = _model_device(model, device)
    y = y.cpu()
    accs = []
    for e in epsilons:
        xa = pgd(model, x, y, e, steps=steps, norm=norm, seed=seed, device=device)
        accs.append((predict(model, xa.cpu(), device=device) == y).float().mean().item())
    return accs
