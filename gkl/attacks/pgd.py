r"""PGD and the TRADES-style inner maximisation (inputs in [0, 1], models return logits).

* :func:`pgd` — projected gradient descent (Madry et al.) in the :math:`L_\infty` or :math:`L_2`
  ball of radius :math:`\varepsilon`, random start, restarts.

  .. math:: x^{t+1} = \Pi_{B_\varepsilon(x)\cap[0,1]^d}\big(x^t + a\,\mathrm{sign}(\nabla_x \ell(f(x^t), y))\big)
     \quad (L_\infty;\; L_2 \text{ uses } \nabla/\|\nabla\|_2)

  ``iterate="worst"`` (evaluation, the default) keeps, per point, the first iterate of any restart
  that misclassifies it, so more steps or restarts can only lower the robust accuracy;
  ``iterate="last"`` (Madry's PGD adversarial training) returns the last iterate of the last
  restart, with no early stopping.
* :func:`trades_perturb` — the inner maximisation of TRADES-style training: starting from
  :math:`x + 0.001\,\mathcal N(0, I)`, ascend a divergence between the adversarial and the clean
  logits, :math:`\max_{x'} D(f(x'), f(x))`. TRADES ascends :math:`\mathrm{KL}(S(f(x))\,\|\,S(f(x')))`;
  for IKL/GKL the authors' released code ascends the soft-label cross-entropy at :math:`T = 1` on
  CIFAR-10 (its gradient in :math:`x'` equals that of TRADES' KL attack) and the GKL loss with
  :math:`\alpha = \beta = \gamma = 1` at :math:`T = 1` on CIFAR-100.

Both follow the conventions of :mod:`gkl.attacks.threat` (eval mode restored, seeded RNG fork,
outputs in the threat model).
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gkl.attacks.threat import _bcast, _eps, _model_device, _norm, _project, _seeded, eval_mode

__all__ = ["ITERATES", "pgd", "trades_perturb"]

ITERATES = ("worst", "last")


def _ascent(grad: Tensor, norm: str) -> Tensor:
    if norm == "linf":
        return grad.sign()
    return grad / _bcast(grad.flatten(1).norm(dim=1).clamp_min(1e-12), grad)


def _random_start(x: Tensor, eps: float, norm: str) -> Tensor:
    if norm == "linf":
        return torch.empty_like(x).uniform_(-eps, eps)
    d = torch.randn_like(x)
    d = d / _bcast(d.flatten(1).norm(dim=1).clamp_min(1e-12), x)
    return d * eps * _bcast(torch.rand(x.shape[0], device=x.device), x)


def pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    steps: int = 10,
    step_size: Optional[float] = None,
    norm: str = "linf",
    random_start: bool = True,
    restarts: int = 1,
    loss_fn: Optional[Callable[[Tensor, Tensor], Tensor]] = None,
    seed: Optional[int] = None,
    device: Optional[torch.device] = None,
    iterate: str = "worst",
) -> Tensor:
    """Untargeted PGD; returns adversarial inputs.

    Args:
        model: maps inputs in [0, 1] to logits.
        x, y: inputs and labels.
        eps: radius of the threat model (``>= 0``).
        steps: iterations per restart.
        step_size: ascent step; default :math:`2.5\\,\\varepsilon/\\text{steps}`.
        norm: ``"linf"`` or ``"l2"``.
        random_start: start uniformly in the ball (L∞) / at a random point of the ball (L2).
        restarts: independent restarts (each from a new random start).
        loss_fn: ``loss_fn(logits, y)`` per-sample losses to ascend; default cross-entropy.
        seed: if given, the random starts are drawn from a forked RNG seeded with it.
        device: where to compute (default: the model's device).
        iterate: ``"worst"`` (for evaluation) — per point, the first iterate of any restart that
            misclassifies it (the clean input if it is misclassified already, the clean input too if
            no iterate fools the model), so more steps or restarts never raise robust accuracy;
            ``"last"`` (for Madry's PGD adversarial training) — the last iterate of the last
            restart, no early stopping.
    """
    norm, eps = _norm(norm), _eps(eps)
    if iterate not in ITERATES:
        raise ValueError(f"iterate must be 'worst' or 'last', got {iterate!r}")
    if steps < 0 or restarts < 1:
        raise ValueError(f"need steps >= 0 and restarts >= 1, got {steps}, {restarts}")
    device = _model_device(model, device)
    x, y = x.detach().to(device), y.to(device)
    a = 2.5 * eps / max(steps, 1) if step_size is None else float(step_size)
    loss_fn = loss_fn or (lambda logits, t: F.cross_entropy(logits, t, reduction="none"))
    if eps == 0:
        return x.clone()
    keep_worst = iterate == "worst"
    best = x.clone()
    with eval_mode(model), _seeded(seed, device):
        if keep_worst:
            with torch.no_grad():
                fooled = model(x).argmax(1) != y
        for _ in range(restarts):
            delta = _random_start(x, eps, norm) if random_start else torch.zeros_like(x)
            xa = (x + delta).clamp(0, 1)
            for it in range(steps + 1):
                if it == steps and not keep_worst:
                    break
                xa.requires_grad_(True)
                logits = model(xa)
                if keep_worst:
                    with torch.no_grad():
                        wrong = (logits.argmax(1) != y) & ~fooled
                        best[wrong] = xa.detach()[wrong]
                        fooled |= wrong
                    if it == steps:  # the last iterate is evaluated; no further step
                        break
                (grad,) = torch.autograd.grad(loss_fn(logits, y).sum(), xa)
                with torch.no_grad():
                    # x' ← Π_{B_ε(x) ∩ [0,1]^d}(x' + a·ascent(∇))
                    xa = (x + _project(xa.detach() + a * _ascent(grad, norm) - x, eps, norm)).clamp(0, 1)
    return best if keep_worst else xa.detach()


def trades_perturb(
    model: nn.Module,
    x: Tensor,
    divergence: Callable[[Tensor, Tensor], Tensor],
    eps: float,
    steps: int = 10,
    step_size: Optional[float] = None,
    norm: str = "linf",
    clean_logits: Optional[Tensor] = None,
) -> Tensor:
    r"""TRADES-style inner maximisation of ``divergence(adv_logits, clean_logits)`` (a scalar).

    .. math::

       x' \leftarrow \Pi_{B_\varepsilon(x)\cap[0,1]^d}\big(x' + a\,\mathrm{sign}\,\nabla_{x'} D(f(x'), f(x))\big),

       x'_0 = x + 0.001\,\mathcal N(0, I)

    The divergence is what the method ascends: TRADES' KL between the clean and the adversarial
    softmax; for IKL/GKL the authors' released code ascends the soft-label cross-entropy at
    :math:`T = 1` on CIFAR-10 (the same gradient in :math:`x'` as TRADES' KL, the clean entropy being
    constant in :math:`x'`) and the GKL loss with :math:`\alpha = \beta = \gamma = 1` at :math:`T = 1`
    on CIFAR-100.

    Takes ``steps`` ascent steps of ``step_size`` (default :math:`\varepsilon/4`) projected to the ball
    and clamped to [0, 1]. The clean logits are computed once, without gradient (in eval mode, like the
    adversarial ones), unless given. Uses torch's global RNG (seeded by the training engine). The
    model's mode is restored afterwards; parameter gradients are not touched (``autograd.grad`` with
    respect to the input only).
    """
    norm, eps = _norm(norm), _eps(eps)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    x = x.detach()
    if eps == 0 or steps == 0:
        return x.clone()
    a = eps / 4 if step_size is None else float(step_size)
    with eval_mode(model):
        if clean_logits is None:
            with torch.no_grad():
                clean_logits = model(x)
        clean_logits = clean_logits.detach()
        xa = (x + 0.001 * torch.randn_like(x)).clamp(0, 1)
        for _ in range(steps):
            xa.requires_grad_(True)
            (grad,) = torch.autograd.grad(divergence(model(xa), clean_logits), xa)
            with torch.no_grad():
                xa = (x + _project(xa + a * _ascent(grad, norm) - x, eps, norm)).clamp(0, 1)
    return xa.detach()
