"""Adversarial attacks and robustness evaluation (inputs in [0, 1], models return logits).

One module per job; this package re-exports their public names:

* :mod:`gkl.attacks.threat` — the threat model (ε-ball ∩ [0, 1]^d) and what every attack shares:
  eval mode restored, parameter gradients kept, seeded RNG fork, :func:`predict`.
* :mod:`gkl.attacks.pgd` — :func:`pgd` (evaluation and Madry's PGD-AT) and :func:`trades_perturb`
  (the inner maximisation of TRADES, IKL-AT and GKL-AT).
* :mod:`gkl.attacks.autoattack` — AutoAttack's standard and fast budgets built from ``torchattacks``
  members, their labels, the per-point worst case, Square and the white-box half.
* :mod:`gkl.attacks.evaluate` — :func:`robustness` (clean, PGD, AutoAttack, worst case) and
  :func:`accuracy_vs_epsilon`.
* :mod:`gkl.attacks.masking` — :class:`InputQuantizer` (a false defence) and
  :func:`gradient_masking_check` (white-box against black-box).

``torchattacks`` is imported only when an AutoAttack member is built.
"""

from gkl.attacks.autoattack import (
    AUTOATTACK_VERSIONS,
    FAST_AUTOATTACK,
    STANDARD_AUTOATTACK,
    AutoAttackBudget,
    AutoAttackEnsemble,
    AutoAttackRun,
    apgd_whitebox,
    attack_label,
    autoattack,
    autoattack_label,
    build_autoattack,
    square,
    worst_case,
)
from gkl.attacks.evaluate import AttackSpec, accuracy_vs_epsilon, robustness
from gkl.attacks.masking import MASKING_TOLERANCE, InputQuantizer, MaskingReport, gradient_masking_check
from gkl.attacks.pgd import ITERATES, pgd, trades_perturb
from gkl.attacks.threat import NORMS, eval_mode, predict

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
    "AttackSpec",
    "NORMS",
    "ITERATES",
]
