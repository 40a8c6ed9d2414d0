r"""Adversarial attacks and robustness evaluation (inputs in [0, 1], models return logits).

* :func:`pgd` — projected gradient descent (Madry et al.) in the :math:`L_\infty` or :math:`L_2`
  ball of radius :math:`\varepsilon`, random start, restarts, *per-point worst case*: every iterate of
  every restart that misclassifies a point is kept, so more steps or restarts can only lower the
  robust accuracy.

  .. math:: x^{t+1} = \Pi_{B_\varepsilon(x)\cap[0,1]^d}\big(x^t + a\,\mathrm{sign}(\nabla_x \ell(f(x^t), y))\big)
     \quad (L_\infty;\; L_2 \text{ uses } \nabla/\|\nabla\|_2)

* :func:`trades_perturb` — the inner maximisation of TRADES-style training: starting from
  :math:`x + 0.001\,\mathcal N(0, I)`, ascend a divergence between the adversarial and the clean
  logits, :math:`\max_{x'} D(f(x'), S(f(x)))` — KL for TRADES, the configured GKL/IKL loss for
  those methods.
* :func:`autoattack` — the standard AutoAttack ensemble of ``torchattacks`` (APGD-CE, APGD-T,
  FAB-T, Square; per-point worst case), seeded, on a given device. Note: ``torchattacks``' standard
  version runs APGD/APGD-T/FAB with 10 iterations (the original AutoAttack uses 100), so it is a
  cheaper, somewhat weaker evaluation.
* :func:`robustness` — clean, PGD, AutoAttack and worst-case (per point, over all attacks) accuracy.
* :func:`gradient_masking_check` — compares white-box (APGD-CE + APGD-T) with black-box (Square)
  accuracy: a model whose gradients are masked (e.g. :class:`InputQuantizer` in front of it) resists
  gradient attacks but not a query-based one, so black-box accuracy well *below* white-box accuracy
  flags gradient masking.

Every function puts the model in eval mode and restores its previous mode, never accumulates
parameter gradients, and — when given a ``seed`` — runs inside a forked RNG so the caller's random
stream is untouched (``torchattacks`` reseeds the global RNG).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "pgd",
    "trades_perturb",
    "autoattack",
    "square",
    "apgd_whitebox",
    "predict",
    "robustness",
    "accuracy_vs_epsilon",
    "InputQuantizer",
    "MaskingReport",
    "gradient_masking_check",
    "eval_mode",
]

NORMS = ("linf", "l2")


def _norm(norm: str) -> str:
    n = str(norm).lower()
    if n not in NORMS:
        raise ValueError(f"norm must be 'linf' or 'l2', got {norm!r}")
    return n


def _eps(eps: float) -> float:
    e = float(eps)
    if not e >= 0:
        raise ValueError(f"epsilon must be >= 0, got {eps}")
    return e


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode and restore its previous mode (even on error)."""
    was = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was)


@contextlib.contextmanager
def _seeded(seed: Optional[int], device: torch.device) -> Iterator[None]:
    if seed is None:
        yield
        return
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _model_device(model: nn.Module, device: Optional[torch.device]) -> torch.device:
    if device is not None:
        return torch.device(device)
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def _project(delta: Tensor, eps: float, norm: str) -> Tensor:
    if norm == "linf":
        return delta.clamp(-eps, eps)
    flat = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    factor = (eps / flat).clamp(max=1.0)
    return delta * factor.view(-1, *([1] * (delta.dim() - 1)))


def _ascent(grad: Tensor, norm: str) -> Tensor:
    if norm == "linf":
        return grad.sign()
    g = grad.flatten(1).norm(dim=1).clamp_min(1e-12)
    return grad / g.view(-1, *([1] * (grad.dim() - 1)))


def _random_start(x: Tensor, eps: float, norm: str) -> Tensor:
    if norm == "linf":
        return torch.empty_like(x).uniform_(-eps, eps)
    d = torch.randn_like(x)
    d = d / d.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (x.dim() - 1)))
    r = torch.rand(x.shape[0], device=x.device).view(-1, *([1] * (x.dim() - 1)))
    return d * eps * r


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
) -> Tensor:
    """Untargeted PGD; returns adversarial inputs (per-point worst case over iterates and restarts).

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
    """
    norm, eps = _norm(norm), _eps(eps)
    if steps < 0 or restarts < 1:
        raise ValueError(f"need steps >= 0 and restarts >= 1, got {steps}, {restarts}")
    device = _model_device(model, device)
    x, y = x.detach().to(device), y.to(device)
    a = 2.5 * eps / max(steps, 1) if step_size is None else float(step_size)
    loss_fn = loss_fn or (lambda logits, t: F.cross_entropy(logits, t, reduction="none"))
    best = x.clone()
    with eval_mode(model), _seeded(seed, device):
        with torch.no_grad():
            fooled = model(x).argmax(1) != y
        if eps == 0:
            return best
        for _ in range(restarts):
            delta = _random_start(x, eps, norm) if random_start else torch.zeros_like(x)
            xa = (x + delta).clamp(0, 1)
            for it in range(steps + 1):
                xa.requires_grad_(True)
                logits = model(xa)
                with torch.no_grad():
                    wrong = (logits.argmax(1) != y) & ~fooled
                    best[wrong] = xa.detach()[wrong]
                    fooled |= wrong
                if it == steps:  # the last iterate is evaluated; no further step
                    break
                (grad,) = torch.autograd.grad(loss_fn(logits, y).sum(), xa)
                with torch.no_grad():
                    xa = x + _project(xa.detach() + a * _ascent(grad, norm) - x, eps, norm)
                    xa = xa.clamp(0, 1)
    return best


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
    """TRADES-style inner maximisation of ``divergence(adv_logits, clean_logits)`` (a scalar).

    Starts at :math:`x + 0.001\\,\\mathcal N(0, I)`, takes ``steps`` ascent steps of ``step_size``
    (default :math:`\\varepsilon/4`) projected to the ball and to [0, 1]. The clean logits are computed
    once, without gradient (in eval mode, like the adversarial ones), unless given. Uses torch's global
    RNG (seeded by the training engine). The model's mode is restored afterwards.
    """
    norm, eps = _norm(norm), _eps(eps)
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


def _batches(n: int, batch_size: int) -> Iterator[slice]:
    for i in range(0, n, batch_size):
        yield slice(i, min(n, i + batch_size))


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int = 1024, device: Optional[torch.device] = None) -> Tensor:
    """Predicted labels (eval mode, mode restored), on CPU."""
    device = _model_device(model, device)
    with eval_mode(model):
        return torch.cat([model(x[s].to(device)).argmax(1).cpu() for s in _batches(x.shape[0], batch_size)])


def _torchattacks_norm(norm: str) -> str:
    return {"linf": "Linf", "l2": "L2"}[_norm(norm)]


def _run_torchattack(atk, model: nn.Module, x: Tensor, y: Tensor, batch_size: int, device: torch.device) -> Tensor:
    atk.set_device(device)
    outs = []
    saved = [(p, p.grad) for p in model.parameters()]  # torchattacks calls backward(): keep .grad as it was
    try:
        with eval_mode(model):
            for s in _batches(x.shape[0], batch_size):
                outs.append(atk(x[s].to(device), y[s].to(device)).detach())
    finally:
        for p, g in saved:
            p.grad = g
    return torch.cat(outs)


def autoattack(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    norm: str = "linf",
    n_classes: int = 10,
    seed: int = 0,
    device: Optional[torch.device] = None,
    batch_size: int = 512,
    square_queries: int = 5000,
) -> Tensor:
    """Adversarial inputs from ``torchattacks.AutoAttack(version='standard')`` (per-point worst case).

    ``square_queries`` is the query budget of its last member, Square: 5000 in the standard version;
    lower it only to keep tests fast (it then is no longer standard AutoAttack).
    """
    import torchattacks

    eps = _eps(eps)
    device = _model_device(model, device)
    if eps == 0:
        return x.detach().to(device).clone()
    with _seeded(seed, device):
        atk = torchattacks.AutoAttack(
            model, norm=_torchattacks_norm(norm), eps=eps, version="standard", n_classes=n_classes, seed=seed
        )
        if square_queries != 5000:
            for member in atk._autoattack.attacks:
                if isinstance(member, torchattacks.Square):
                    member.n_queries = int(square_queries)
        return _run_torchattack(atk, model, x, y, batch_size, device)


def square(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    norm: str = "linf",
    n_queries: int = 5000,
    seed: int = 0,
    device: Optional[torch.device] = None,
    batch_size: int = 512,
) -> Tensor:
    """Black-box Square attack (AutoAttack's settings), seeded."""
    import torchattacks

    device = _model_device(model, device)
    with _seeded(seed, device):
        atk = torchattacks.Square(model, norm=_torchattacks_norm(norm), eps=_eps(eps), n_queries=n_queries, seed=seed)
        return _run_torchattack(atk, model, x, y, batch_size, device)


def apgd_whitebox(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    norm: str = "linf",
    n_classes: int = 10,
    seed: int = 0,
    device: Optional[torch.device] = None,
    batch_size: int = 512,
) -> Tensor:
    """The white-box half of standard AutoAttack: APGD-CE then APGD-T (per-point worst case)."""
    import torchattacks
    from torchattacks.wrappers.multiattack import MultiAttack

    device = _model_device(model, device)
    n = _torchattacks_norm(norm)
    with _seeded(seed, device):
        atk = MultiAttack(
            [
                torchattacks.APGD(model, norm=n, eps=_eps(eps), seed=seed, loss="ce", n_restarts=1),
                torchattacks.APGDT(model, norm=n, eps=_eps(eps), seed=seed, n_classes=n_classes, n_restarts=1),
            ]
        )
        return _run_torchattack(atk, model, x, y, batch_size, device)


def robustness(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    attacks: Sequence[str] = ("pgd", "autoattack"),
    norm: str = "linf",
    pgd_steps: int = 20,
    pgd_restarts: int = 1,
    n_classes: int = 10,
    seed: int = 0,
    device: Optional[torch.device] = None,
    batch_size: int = 512,
    square_queries: int = 5000,
) -> dict[str, float]:
    """Clean and robust accuracy over the whole of ``(x, y)``.

    Returns ``clean_acc``, ``<attack>_acc`` for each attack (``"pgd"``, ``"autoattack"``) and
    ``robust_acc``: the per-point worst case — a point counts as robust only if it is classified
    correctly clean *and* under every attack. Also ``n`` (the number of points).
    """
    device = _model_device(model, device)
    y = y.cpu()
    ok = predict(model, x, batch_size, device) == y
    out = {"n": int(y.shape[0]), "clean_acc": ok.float().mean().item()}
    worst = ok.clone()
    for name in attacks:
        if name == "pgd":
            xa = torch.cat(
                [
                    pgd(model, x[s], y[s], eps, steps=pgd_steps, norm=norm, restarts=pgd_restarts, seed=seed + i, device=device)
                    for i, s in enumerate(_batches(x.shape[0], batch_size))
                ]
            )
        elif name == "autoattack":
            xa = autoattack(model, x, y, eps, norm, n_classes, seed, device, batch_size, square_queries)
        else:
            raise ValueError(f"unknown attack {name!r}; choose 'pgd' or 'autoattack'")
        correct = predict(model, xa.cpu(), batch_size, device) == y
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


class _RoundSTE(torch.autograd.Function):
    """Rounding whose backward pass returns zero — gradients are masked, not approximated."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        return torch.zeros_like(grad)


class InputQuantizer(nn.Module):
    r"""Quantise inputs to ``levels`` grey levels, :math:`x \mapsto \mathrm{round}(x (L-1))/(L-1)`.

    Non-differentiable: its gradient is zero everywhere, so gradient-based attacks see no signal
    (gradient masking) while the model is barely more robust. The textbook false defence.
    """

    def __init__(self, model: nn.Module, levels: int = 4) -> None:
        super().__init__()
        if levels < 2:
            raise ValueError(f"levels must be >= 2, got {levels}")
        self.model = model
        self.levels = levels

    def forward(self, x: Tensor) -> Tensor:
        q = _RoundSTE.apply(x * (self.levels - 1)) / (self.levels - 1)
        return self.model(q)


@dataclass
class MaskingReport:
    """Result of :func:`gradient_masking_check` (accuracies in [0, 1] on the same points)."""

    n: int
    clean_acc: float
    whitebox_acc: float
    blackbox_acc: float
    blackbox_only: int
    tolerance: float

    @property
    def masked(self) -> bool:
        """True when the black-box attack beats the white-box one by more than ``tolerance``."""
        return self.blackbox_acc < self.whitebox_acc - self.tolerance

    def __str__(self) -> str:
        verdict = "gradient masking suspected" if self.masked else "no sign of gradient masking"
        return (
            f"clean {self.clean_acc:.1%}, white-box (APGD-CE+APGD-T) {self.whitebox_acc:.1%}, "
            f"black-box (Square) {self.blackbox_acc:.1%} on {self.n} points\n"
            f"  {self.blackbox_only} broken only by Square: {verdict}"
        )


def gradient_masking_check(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    norm: str = "linf",
    n_classes: int = 10,
    n_queries: int = 1000,
    tolerance: float = 0.02,
    seed: int = 0,
    device: Optional[torch.device] = None,
    batch_size: int = 512,
) -> MaskingReport:
    """Run the white-box (APGD-CE + APGD-T) and black-box (Square) parts of AutoAttack separately.

    A black-box attack only queries outputs; it cannot beat a gradient attack on an honest,
    differentiable model by much. If Square leaves clearly fewer points robust than the gradient
    attacks (more than ``tolerance``), the gradients are not telling the truth.
    """
    device = _model_device(model, device)
    y = y.cpu()
    clean = predict(model, x, batch_size, device) == y
    wb = predict(model, apgd_whitebox(model, x, y, eps, norm, n_classes, seed, device, batch_size).cpu(), batch_size, device) == y
    bb = predict(model, square(model, x, y, eps, norm, n_queries, seed, device, batch_size).cpu(), batch_size, device) == y
    wb &= clean
    bb &= clean
    return MaskingReport(
        n=int(y.shape[0]),
        clean_acc=clean.float().mean().item(),
        whitebox_acc=wb.float().mean().item(),
        blackbox_acc=bb.float().mean().item(),
        blackbox_only=int((wb & ~bb).sum()),
        tolerance=tolerance,
    )
