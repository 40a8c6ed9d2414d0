r"""AutoAttack (Croce & Hein, 2020), built from ``torchattacks``' member classes.

``torchattacks.AutoAttack(version="standard")`` is not the official configuration (its APGD,
APGD-T and FAB run 10 iterations, its targeted members target every other class), so
:func:`build_autoattack` assembles the members itself:

- ``version="standard"`` (:data:`STANDARD_AUTOATTACK`) is the official standard version for
  :math:`L_\infty` and :math:`L_2`: APGD-CE (100 iterations, 1 restart), APGD-T (targeted DLR
  loss, 100 iterations, :math:`\min(9, C-1)` target classes, 1 restart), FAB-T (targeted,
  100 iterations, :math:`\min(9, C-1)` target classes, 1 restart), Square (5000 queries,
  :math:`p_\text{init} = 0.8`, 1 restart), run in that order on the points still robust.
- ``version="fast"`` (:data:`FAST_AUTOATTACK`) keeps the four members but cuts their budget
  (20 iterations, 3 target classes, 1000 Square queries) for CPU runs. It is a weaker attack: its
  numbers are labelled "AutoAttack-fast" (:func:`autoattack_label`) and must not be reported as
  AutoAttack.

Both report the *per-point worst case* (:func:`worst_case`): a point is robust only if no member
breaks it. :func:`square` (black-box) and :func:`apgd_whitebox` (APGD-CE + APGD-T) run AutoAttack's
two halves separately, for :func:`gkl.attacks.masking.gradient_masking_check`.

``torchattacks``' members assume images, ``(N, C, H, W)`` with a square-ish ``H × W``; an input of
another shape (a 1-D signal ``(N, C, L)``, a feature vector ``(N, F)``) is shown to them as a square
image, each channel's values laid out row by row and zero-padded to the next square, which the model
never sees (:class:`gkl.attacks.threat._AsSquareImage`): the threat model is unchanged, and the padding, having no
gradient and no effect, never moves.

``torchattacks`` is imported only when an attack is built, so importing :mod:`gkl.attacks` does not
import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from gkl.attacks.threat import (
    _AsSquareImage,
    _batches,
    _eps,
    _grads_kept,
    _into_threat_model,
    _model_device,
    _norm,
    _seeded,
    eval_mode,
    predict,
)

__all__ = [
    "AutoAttackBudget",
    "STANDARD_AUTOATTACK",
    "FAST_AUTOATTACK",
    "AUTOATTACK_VERSIONS",
    "autoattack_label",
    "attack_label",
    "AutoAttackRun",
    "AutoAttackEnsemble",
    "build_autoattack",
    "worst_case",
    "autoattack",
    "square",
    "apgd_whitebox",
]


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
    """Run a ``torchattacks`` attack in batches (eval mode, ``.grad`` kept), on ``device``; an input
    that is not an image batch is attacked as a square image (:class:`_AsSquareImage`)."""
    atk.set_device(device)
    view = None if x.dim() == 4 else _AsSquareImage(model, x.shape[1:])
    outs = []
    with eval_mode(model), _grads_kept(model), torch.enable_grad():
        if view is not None:
            atk.model = view  # the attack's own model, for this run only
        try:
            for s in _batches(x.shape[0], batch_size):
                xs = x[s].to(device)
                if view is None:
                    outs.append(atk(xs, y[s].to(device)).detach())
                else:
                    outs.append(view.from_image(atk(view.to_image(xs), y[s].to(device)).detach()))
        finally:
            atk.model = model
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
