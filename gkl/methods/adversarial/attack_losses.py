r"""The inner maximisation's objectives: what a method's training attack ascends.

Every objective is a scalar ``f(adv_logits, clean_logits)`` ascended by
:func:`gkl.attacks.trades_perturb` (started at :math:`x + 0.001\,\mathcal N(0, I)`, model in eval
mode, sign steps, projection to the ε-ball and to [0, 1]). A method picks one by name
(``attack_loss`` in its config):

* ``"released"`` (default for ``ikl``/``gkl``): what the released code ascends for the data set —
  ``"soft-ce"`` for 10 classes (CIFAR-10, and digits here), ``"gkl-unit"`` for 100 (CIFAR-100);
* ``"soft-ce"``: the soft-label CE :math:`-S(s_c)^\top \log s_a` at :math:`T = 1` (released :math:`\alpha = 1,
  \beta = 0`); its gradient w.r.t. :math:`x_a` equals that of TRADES' :math:`\mathrm{KL}(s_c\|s_a)`;
* ``"gkl-unit"``: the GKL loss with :math:`\alpha = \beta = \gamma = 1` at :math:`T = 1`, with the
  method's class prior (per-sample weights without one);
* ``"gkl"``: the method's own configured robust terms (not what the released code does);
* ``"kl"``: :math:`\mathrm{KL}(s_c\|s_a)` at :math:`T = 1` (TRADES' attack, its default).

``"label-ce"`` (PGD on the label CE, last iterate) is not a divergence: it is PGD-AT's attack, which a
method chooses by returning ``None`` from ``attack_objective``.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch.nn.functional as F
from torch import Tensor

from gkl.core.losses import gkl_parts, kl_div

__all__ = ["ATTACK_LOSSES", "ATTACK_LOSS_HELP", "ATTACK_WORDS", "attack_objective", "check_attack_loss",
           "released_attack_loss", "resolve_attack_loss", "soft_label_ce"]

#: The divergence-form inner losses a method's ``attack_loss`` may name.
ATTACK_LOSSES = ("released", "soft-ce", "gkl-unit", "gkl", "kl")

#: The ``attack_loss`` field's help (the CLI's ``--attack-loss``).
ATTACK_LOSS_HELP = "inner loss of the training attack (released: soft-ce for 10 classes, gkl-unit for 100)"

#: How the chapter's method table words each (resolved) inner loss.
ATTACK_WORDS = {
    "label-ce": "PGD on the label CE, last iterate",
    "kl": "KL(s_c ‖ s_a) at T = 1 (TRADES)",
    "soft-ce": "soft-label CE at T = 1 (released CIFAR-10; gradient = TRADES' KL attack)",
    "gkl-unit": "GKL with α = β = γ = 1 at T = 1, prior on (released CIFAR-100)",
    "gkl": "the configured GKL training loss",
}

Objective = Callable[[Tensor, Tensor], Tensor]


def released_attack_loss(num_classes: int) -> str:
    """The inner loss the released IKL/GKL code ascends: CIFAR-100 (100 classes) ``"gkl-unit"``,
    CIFAR-10 ``"soft-ce"`` (used here for every data set with fewer than 100 classes)."""
    return "gkl-unit" if num_classes >= 100 else "soft-ce"


def resolve_attack_loss(name: str, num_classes: int) -> str:
    """``name``, with ``"released"`` replaced by :func:`released_attack_loss` of ``num_classes``."""
    return released_attack_loss(num_classes) if name == "released" else name


def check_attack_loss(name: str) -> None:
    """One-line ``ValueError`` unless ``name`` is one of :data:`ATTACK_LOSSES`."""
    if name == "label-ce":
        raise ValueError("attack_loss 'label-ce' is PGD-AT's attack, and PGD-AT has no other: use method 'pgd-at'")
    if name not in ATTACK_LOSSES:
        raise ValueError(f"attack_loss must be one of {', '.join(ATTACK_LOSSES)}, got {name!r}")


def soft_label_ce(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    r""":math:`\mathrm{mean}_b\,\big(-S(\mathrm{softmax}(o_m))^\top \log \mathrm{softmax}(o_n)\big)` at :math:`T = 1`."""
    return -(F.softmax(teacher_logits.detach(), dim=1) * F.log_softmax(student_logits, dim=1)).sum(1).mean()


def attack_objective(
    name: str,
    targets: Tensor,
    own: Objective,
    prior: Optional[Tensor] = None,
    weight_temperature: float = 1.0,
) -> Objective:
    """The scalar ``f(adv_logits, clean_logits)`` named ``name`` (already resolved, not ``"released"``).

    ``own`` is the method's own robust loss (for ``"gkl"``); ``prior`` the class prior in use (``None``:
    per-sample weights at ``weight_temperature``), used by ``"gkl-unit"``.
    """
    if name == "kl":
        return lambda adv, clean: kl_div(adv, clean)
    if name == "soft-ce":
        return soft_label_ce
    if name == "gkl-unit":  # GKL with α = β = γ = 1 at T = 1: the sum wmse + ce
        return lambda adv, clean: sum(gkl_parts(adv, clean, targets if prior is not None else None, prior, gamma=1.0,
                                                temperature=1.0, weight_temperature=weight_temperature))
    if name == "gkl":
        return own
    raise ValueError(f"attack_loss {name!r} has no divergence form")
