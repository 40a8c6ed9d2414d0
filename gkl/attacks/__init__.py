r"""Adversarial attacks and robustness evaluation (inputs in [0, 1], models return logits).

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
* :func:`autoattack` — AutoAttack (Croce & Hein, 2020), built here from ``torchattacks``' member
  classes because ``torchattacks.AutoAttack(version="standard")`` is not the official configuration
  (its APGD, APGD-T and FAB run 10 iterations, its targeted members target every other class).

  - ``version="standard"`` (:data:`STANDARD_AUTOATTACK`) is the official standard version for
    :math:`L_\infty` and :math:`L_2`: APGD-CE (100 iterations, 1 restart), APGD-T (targeted DLR
    loss, 100 iterations, :math:`\min(9, C-1)` target classes, 1 restart), FAB-T (targeted,
    100 iterations, :math:`\min(9, C-1)` target classes, 1 restart), Square (5000 queries,
    :math:`p_\text{init} = 0.8`, 1 restart), run in that order on the points still robust.
  - ``version="fast"`` (:data:`FAST_AUTOATTACK`) keeps the four members but cuts their budget
    (20 iterations, 3 target classes, 1000 Square queries) for CPU runs. It is a weaker attack: its
    numbers are labelled "AutoAttack-fast" (:func:`autoattack_label`) and must not be reported as
    AutoAttack.

  Both report the *per-point worst case*: a point is robust only if no member breaks it.
* :func:`robustness` — clean, PGD, AutoAttack and worst-case (per point, over all attacks) accuracy.
* :func:`gradient_masking_check` — compares white-box (APGD-CE + APGD-T) with black-box (Square)
  attacks on the same points: a model whose gradients are masked (e.g. :class:`InputQuantizer` in
  front of it) resists gradient attacks but not a query-based one, so a share of points broken
  *only* by the black-box attack above a stated tolerance flags gradient masking.

Every function puts the model in eval mode and restores its previous mode, leaves the parameters'
``.grad`` as it found them, and — when given a ``seed`` — runs inside a forked RNG so the caller's
random stream is untouched (``torchattacks`` reseeds the global RNG). Every perturbation returned
lies in :math:`[0, 1]^d` and in the :math:`\varepsilon`-ball around its input.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "pgd",
    "trades_perturb",
    "AutoAttackBudget",
    "STANDARD_AUTOATTACK",
    "FAST_AUTOATTACK",
    "AUTOATTACK_VERSIONS",
    "autoattack_label",
    "attack_label",
    "AutoAttackEnsemble",
    "AutoAttackRun",
    "build_autoattack",
    "autoattack",
    "square",
    "apgd_whitebox",
    "predict",
    "worst_case",
    "robustness",
    "accuracy_vs_epsilon",
    "InputQuantizer",
    "MaskingReport",
    "MASKING_TOLERANCE",
    "gradient_masking_check",
    "eval_mode",
]

NORMS = ("linf", "l2")
ITERATES = ("worst", "last")


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
def _grads_kept(model: nn.Module) -> Iterator[None]:
    """Hide the parameters' ``.grad`` during an attack and put the very same tensors back.

    ``torchattacks`` calls ``backward()``, which would accumulate into existing ``.grad`` tensors in
    place; detaching them first keeps the caller's gradients bit-for-bit.
    """
    saved = [(p, p.grad) for p in model.parameters()]
    for p, _ in saved:
        p.grad = None
    try:
        yield
    finally:
        for p, g in saved:
            p.grad = g


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


def _bcast(v: Tensor, like: Tensor) -> Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def _project(delta: Tensor, eps: float, norm: str) -> Tensor:
    if norm == "linf":
        return delta.clamp(-eps, eps)
    flat = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    return delta * _bcast((eps / flat).clamp(max=1.0), delta)


def _into_threat_model(xa: Tensor, x: Tensor, eps: float, norm: str) -> Tensor:
    r""":math:`\Pi_{B_\varepsilon(x)\cap[0,1]^d}`-style clean-up: project onto the ball, then clamp to the box.

    Clamping towards the box only shrinks :math:`|x'_i - x_i|` (``x`` is in the box), so the result
    stays in the ball. A no-op, up to rounding, for attacks that already respect the threat model.
    """
    return (x + _project(xa - x, eps, norm)).clamp(0, 1)


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

    .. math:: x' \leftarrow \Pi_{B_\varepsilon(x)\cap[0,1]^d}\big(x' + a\,\mathrm{sign}\,\nabla_{x'} D(f(x'), f(x))\big),
       \qquad x'_0 = x + 0.001\,\mathcal N(0, I)

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


def _batches(n: int, batch_size: int) -> Iterator[slice]:
    for i in range(0, n, batch_size):
        yield slice(i, min(n, i + batch_size))


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int = 1024, device: Optional[torch.device] = None) -> Tensor:
    """Predicted labels (eval mode, mode restored), on CPU."""
    device = _model_device(model, device)
    with eval_mode(model):
        return torch.cat([model(x[s].to(device)).argmax(1).cpu() for s in _batches(x.shape[0], batch_size)])


# --------------------------------------------------------------------------------------------
# AutoAttack: budget, labels, construction, per-point worst case
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutoAttackBudget:
    """The budget of AutoAttack's four members (APGD-CE, APGD-T, FAB-T, Square, in that order).

    ``target_classes`` is the number of target classes of APGD-T and FAB-T (the runner-up classes
    by the clean logits), capped at ``n_classes - 1``; ``restarts`` applies to every member.
    """

    apgd_steps: int = 100
    target_classes: int = 9
    fab_steps: int = 100
    square_queries: int = 5000
    restarts: int = 1
    square_p_init: float = 0.8

    def __post_init__(self) -> None:
        for name in ("apgd_steps", "target_classes", "fab_steps", "square_queries", "restarts"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"AutoAttackBudget.{name} must be an int >= 1, got {v!r}")
        if not 0 < self.square_p_init <= 1:
            raise ValueError(f"AutoAttackBudget.square_p_init must be in (0, 1], got {self.square_p_init}")


#: The official standard AutoAttack (Croce & Hein, 2020) for L∞ and L2.
STANDARD_AUTOATTACK = AutoAttackBudget()
#: A reduced budget for CPU runs; weaker than AutoAttack, always labelled "AutoAttack-fast".
FAST_AUTOATTACK = AutoAttackBudget(apgd_steps=20, target_classes=3, fab_steps=20, square_queries=1000)
AUTOATTACK_VERSIONS: dict[str, AutoAttackBudget] = {"standard": STANDARD_AUTOATTACK, "fast": FAST_AUTOATTACK}


def _resolve_version(version: Union[str, AutoAttackBudget]) -> tuple[str, AutoAttackBudget]:
    """``(name, budget)``: name is "standard", "fast" or "custom" (a budget equal to neither)."""
    if isinstance(version, AutoAttackBudget):
        for name, b in AUTOATTACK_VERSIONS.items():
            if version == b:
                return name, b
        return "custom", version
    if version not in AUTOATTACK_VERSIONS:
        raise ValueError(f"unknown AutoAttack version {version!r}; choose 'standard', 'fast' or an AutoAttackBudget")
    return version, AUTOATTACK_VERSIONS[version]


def _targets(budget: AutoAttackBudget, n_classes: Optional[int]) -> int:
    return budget.target_classes if n_classes is None else min(budget.target_classes, n_classes - 1)


def autoattack_label(version: Union[str, AutoAttackBudget] = "standard", n_classes: Optional[int] = None) -> str:
    """A human label that names the version and its budget, e.g. for table headers and printouts.

    >>> autoattack_label("standard")
    'AutoAttack (standard: APGD-CE, APGD-T, FAB-T, Square; 100 it., 9 targets, 5000 queries)'
    >>> autoattack_label("fast")
    'AutoAttack-fast (reduced budget, not standard: APGD-CE, APGD-T, FAB-T, Square; 20 it., 3 targets, 1000 queries)'
    """
    name, b = _resolve_version(version)
    steps = f"{b.apgd_steps} it." if b.apgd_steps == b.fab_steps else f"APGD {b.apgd_steps} it., FAB {b.fab_steps} it."
    budget = f"{steps}, {_targets(b, n_classes)} targets, {b.square_queries} queries"
    if b.restarts != 1:
        budget += f", {b.restarts} restarts"
    if b.square_p_init != 0.8:
        budget += f", p_init {b.square_p_init}"
    members = "APGD-CE, APGD-T, FAB-T, Square"
    if name == "standard":
        return f"AutoAttack (standard: {members}; {budget})"
    if name == "fast":
        return f"AutoAttack-fast (reduced budget, not standard: {members}; {budget})"
    return f"AutoAttack-custom (non-standard budget: {members}; {budget})"


def attack_label(name: str, pgd_steps: int = 20, pgd_restarts: int = 1, n_classes: Optional[int] = None) -> str:
    """Human label of an attack name accepted by :func:`robustness` (``"pgd"``, ``"autoattack"``, ``"autoattack_fast"``)."""
    if name == "pgd":
        return f"PGD-{pgd_steps} ({pgd_restarts} restart{'s' if pgd_restarts != 1 else ''}, per-point worst iterate)"
    if name == "autoattack":
        return autoattack_label("standard", n_classes)
    if name == "autoattack_fast":
        return autoattack_label("fast", n_classes)
    return name


def _torchattacks_norm(norm: str) -> str:
    return {"linf": "Linf", "l2": "L2"}[_norm(norm)]


def _run_torchattack(atk, model: nn.Module, x: Tensor, y: Tensor, batch_size: int, device: torch.device) -> Tensor:
    """Run a ``torchattacks`` attack in batches (eval mode, ``.grad`` kept), on ``device``."""
    atk.set_device(device)
    outs = []
    with eval_mode(model), _grads_kept(model), torch.enable_grad():
        for s in _batches(x.shape[0], batch_size):
            outs.append(atk(x[s].to(device), y[s].to(device)).detach())
    return torch.cat(outs) if outs else x.detach().to(device).clone()


@dataclass(frozen=True)
class AutoAttackRun:
    """What :meth:`AutoAttackEnsemble.run` found.

    ``x_adv``: per point, the first member's adversarial input that fools the model (the clean input
    if none does); ``robust``: per point, correct clean and under every member; ``after``: robust
    accuracy after each member, in order (as AutoAttack prints it).
    """

    x_adv: Tensor
    robust: Tensor
    after: dict[str, float]


@dataclass(frozen=True, eq=False)
class AutoAttackEnsemble:
    """AutoAttack's members, built but not run (see :func:`build_autoattack`)."""

    model: nn.Module
    eps: float
    norm: str
    n_classes: int
    seed: int
    version: str
    budget: AutoAttackBudget
    members: tuple[tuple[str, Any], ...] = field(repr=False)

    @property
    def label(self) -> str:
        return autoattack_label(self.budget, self.n_classes)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.members)

    def run(self, x: Tensor, y: Tensor, batch_size: int = 512, device: Optional[torch.device] = None) -> AutoAttackRun:
        """Run the members in order, each only on the points still robust (per-point worst case)."""
        device = _model_device(self.model, device)
        if self.eps == 0:
            x = x.detach().to(device)
            robust = (predict(self.model, x, batch_size, device) == y.cpu()).to(device)
            acc = robust.float().mean().item()
            return AutoAttackRun(x.clone(), robust, {name: acc for name in self.names})
        calls = [
            (name, lambda xs, ys, a=atk: _run_torchattack(a, self.model, xs, ys, batch_size, device))
            for name, atk in self.members
        ]
        with _seeded(self.seed, device):
            x_adv, robust, after = _worst_case(self.model, x, y, calls, self.eps, self.norm, device, batch_size)
        return AutoAttackRun(x_adv, robust, after)


def build_autoattack(
    model: nn.Module,
    eps: float,
    norm: str = "linf",
    n_classes: int = 10,
    version: Union[str, AutoAttackBudget] = "standard",
    seed: int = 0,
) -> AutoAttackEnsemble:
    """Build AutoAttack's members from ``torchattacks`` classes with the budget of ``version``.

    Members, in order: ``apgd-ce`` (``torchattacks.APGD``, cross-entropy), ``apgd-t``
    (``torchattacks.APGDT``, targeted DLR loss), ``fab-t`` (``torchattacks.FAB`` with
    ``multi_targeted=True``), ``square`` (``torchattacks.Square``, margin loss, no rescaled
    schedule, as in the official code). APGD-T and FAB-T target the ``min(target_classes,
    n_classes - 1)`` runner-up classes; every member uses ``restarts`` restarts and the same seed.
    Nothing is run: :meth:`AutoAttackEnsemble.run` runs it.
    """
    import torchattacks

    name, b = _resolve_version(version)
    eps, n = _eps(eps), _torchattacks_norm(norm)
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 4:
        raise ValueError(f"AutoAttack's APGD-T (targeted DLR loss) needs n_classes >= 4, got {n_classes!r}")
    targets = _targets(b, n_classes)
    apgd_ce = torchattacks.APGD(model, norm=n, eps=eps, steps=b.apgd_steps, n_restarts=b.restarts, seed=seed, loss="ce", rho=0.75)
    apgd_t = torchattacks.APGDT(model, norm=n, eps=eps, steps=b.apgd_steps, n_restarts=b.restarts, seed=seed, rho=0.75,
                                n_classes=n_classes)
    apgd_t.n_target_classes = targets  # torchattacks sets n_classes - 1 (every other class)
    fab_t = torchattacks.FAB(model, norm=n, eps=eps, steps=b.fab_steps, n_restarts=b.restarts, seed=seed,
                             multi_targeted=True, n_classes=n_classes)
    fab_t.n_target_classes = targets
    sq = torchattacks.Square(model, norm=n, eps=eps, n_queries=b.square_queries, n_restarts=b.restarts,
                             p_init=b.square_p_init, loss="margin", resc_schedule=False, seed=seed)
    return AutoAttackEnsemble(
        model=model, eps=eps, norm=_norm(norm), n_classes=n_classes, seed=seed, version=name, budget=b,
        members=(("apgd-ce", apgd_ce), ("apgd-t", apgd_t), ("fab-t", fab_t), ("square", sq)),
    )


def worst_case(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    attacks: Sequence[tuple[str, Callable[[Tensor, Tensor], Tensor]]],
    eps: float,
    norm: str = "linf",
    device: Optional[torch.device] = None,
    batch_size: int = 512,
) -> AutoAttackRun:
    """Per-point worst case over ``attacks`` (``(name, fn(x, y) -> x_adv)``), run in order.

    Each attack runs only on the points still robust (correct clean and under every earlier attack);
    its outputs are put into the threat model (ball ∩ box, a no-op up to rounding for an honest
    attack) and a point is broken if the model misclassifies that output. How AutoAttack combines
    its members.
    """
    device = _model_device(model, device)
    with eval_mode(model), _grads_kept(model):
        x_adv, robust, after = _worst_case(model, x, y, list(attacks), _eps(eps), _norm(norm), device, batch_size)
    return AutoAttackRun(x_adv, robust, after)


def _worst_case(model, x, y, attacks, eps, norm, device, batch_size):
    x, y = x.detach().to(device), y.to(device)
    adv = x.clone()
    robust = predict(model, x, batch_size, device).to(device) == y
    after: dict[str, float] = {}
    for name, run in attacks:
        idx = robust.nonzero().flatten()
        if idx.numel():
            xs = x[idx]
            xa = _into_threat_model(run(xs, y[idx]).detach().to(device), xs, eps, norm)
            fooled = predict(model, xa, batch_size, device).to(device) != y[idx]
            adv[idx[fooled]] = xa[fooled]
            robust[idx[fooled]] = False
        after[name] = robust.float().mean().item()
    return adv, robust, after


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
    square_queries: Optional[int] = None,
    version: Union[str, AutoAttackBudget] = "standard",
) -> Tensor:
    """Adversarial inputs from AutoAttack (per-point worst case over its members), on ``device``.

    ``version="standard"`` is the official standard AutoAttack; ``"fast"`` a reduced budget (see the
    module docstring and :func:`autoattack_label`); an :class:`AutoAttackBudget` sets any budget
    (labelled "AutoAttack-custom" unless it equals one of the two). ``square_queries`` is kept for
    backward compatibility only: it must equal the version's own Square budget (5000 for
    "standard"), otherwise a ``ValueError`` is raised — pass a budget instead.
    """
    name, b = _resolve_version(version)
    if square_queries is not None and int(square_queries) != b.square_queries:
        raise ValueError(
            f"square_queries={square_queries} would silently change AutoAttack-{name}, whose Square uses "
            f"{b.square_queries} queries; pass version='fast' or an AutoAttackBudget instead"
        )
    device = _model_device(model, device)
    if _eps(eps) == 0:
        return x.detach().to(device).clone()
    ens = build_autoattack(model, eps, norm, n_classes, b, seed)
    return ens.run(x, y, batch_size, device).x_adv


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
    """Black-box Square attack with AutoAttack's settings (margin loss, :math:`p_\\text{init} = 0.8`,
    no rescaled schedule, 1 restart), seeded; adversarial inputs on ``device``."""
    import torchattacks

    device = _model_device(model, device)
    eps, norm = _eps(eps), _norm(norm)
    if eps == 0:
        return x.detach().to(device).clone()
    atk = torchattacks.Square(model, norm=_torchattacks_norm(norm), eps=eps, n_queries=int(n_queries), n_restarts=1,
                              p_init=0.8, loss="margin", resc_schedule=False, seed=seed)
    call = [("square", lambda xs, ys: _run_torchattack(atk, model, xs, ys, batch_size, device))]
    with _seeded(seed, device):
        return _worst_case(model, x, y, call, eps, norm, device, batch_size)[0]


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
    version: Union[str, AutoAttackBudget] = "standard",
) -> Tensor:
    """The white-box half of AutoAttack: its APGD-CE then APGD-T, with ``version``'s budget
    (per-point worst case); adversarial inputs on ``device``."""
    device = _model_device(model, device)
    ens = build_autoattack(model, eps, norm, n_classes, version, seed)
    if ens.eps == 0:
        return x.detach().to(device).clone()
    calls = [
        (name, lambda xs, ys, a=atk: _run_torchattack(a, model, xs, ys, batch_size, device))
        for name, atk in ens.members
        if name in ("apgd-ce", "apgd-t")
    ]
    with _seeded(seed, device):
        return _worst_case(model, x, y, calls, ens.eps, ens.norm, device, batch_size)[0]


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Gradient masking
# --------------------------------------------------------------------------------------------


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


#: Default tolerance of :func:`gradient_masking_check`: the share of points broken only by the black box.
MASKING_TOLERANCE = 0.02


@dataclass
class MaskingReport:
    """Result of :func:`gradient_masking_check` (accuracies in [0, 1] on the same ``n`` points).

    ``blackbox_only`` counts the points the black-box attack breaks but the white-box one does not.
    Verdict: gradient masking is suspected when their share ``blackbox_only / n`` exceeds
    ``tolerance`` (default 0.02, i.e. 2 % of the points).
    """

    n: int
    clean_acc: float
    whitebox_acc: float
    blackbox_acc: float
    blackbox_only: int
    tolerance: float = MASKING_TOLERANCE
    whitebox_label: str = "APGD-CE + APGD-T"
    blackbox_label: str = "Square"

    @property
    def blackbox_only_share(self) -> float:
        """``blackbox_only / n`` (0 for no points)."""
        return self.blackbox_only / self.n if self.n else 0.0

    @property
    def masked(self) -> bool:
        """True when the share of points broken only by the black-box attack exceeds ``tolerance``."""
        return self.blackbox_only_share > self.tolerance

    @property
    def verdict(self) -> str:
        return "gradient masking suspected" if self.masked else "no sign of gradient masking"

    def __str__(self) -> str:
        sign = ">" if self.masked else "≤"
        return (
            f"clean {self.clean_acc:.1%}, white-box ({self.whitebox_label}) {self.whitebox_acc:.1%}, "
            f"black-box ({self.blackbox_label}) {self.blackbox_acc:.1%} on {self.n} points\n"
            f"  broken only by the black-box attack: {self.blackbox_only}/{self.n} = {self.blackbox_only_share:.1%} "
            f"{sign} tolerance {self.tolerance:.1%}: {self.verdict}"
        )


def gradient_masking_check(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    norm: str = "linf",
    n_classes: int = 10,
    n_queries: Optional[int] = None,
    tolerance: float = MASKING_TOLERANCE,
    seed: int = 0,
    device: Optional[torch.device] = None,
    batch_size: int = 512,
    version: Union[str, AutoAttackBudget] = "standard",
) -> MaskingReport:
    """Run AutoAttack's white-box (APGD-CE + APGD-T) and black-box (Square) parts separately.

    A black-box attack only queries outputs; on an honest, differentiable model it breaks hardly any
    point that the gradient attacks cannot. If the share of points broken *only* by Square exceeds
    ``tolerance`` (default 0.02), the gradients are not telling the truth. Budgets are ``version``'s
    (standard AutoAttack by default); ``n_queries`` overrides Square's query budget.
    """
    _, b = _resolve_version(version)
    q = b.square_queries if n_queries is None else int(n_queries)
    targets = _targets(b, n_classes)
    device = _model_device(model, device)
    y = y.cpu()
    clean = predict(model, x, batch_size, device) == y
    xw = apgd_whitebox(model, x, y, eps, norm, n_classes, seed, device, batch_size, version=b)
    xb = square(model, x, y, eps, norm, q, seed, device, batch_size)
    wb = (predict(model, xw.cpu(), batch_size, device) == y) & clean
    bb = (predict(model, xb.cpu(), batch_size, device) == y) & clean
    return MaskingReport(
        n=int(y.shape[0]),
        clean_acc=clean.float().mean().item(),
        whitebox_acc=wb.float().mean().item(),
        blackbox_acc=bb.float().mean().item(),
        blackbox_only=int((wb & ~bb).sum()),
        tolerance=tolerance,
        whitebox_label=f"APGD-CE + APGD-T, {b.apgd_steps} it., {targets} targets",
        blackbox_label=f"Square, {q} queries",
    )
