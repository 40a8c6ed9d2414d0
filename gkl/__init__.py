"""gkl — Generalized Kullback-Leibler divergence loss (Cui et al., TPAMI 2026) in PyTorch.

The losses are pure functions of two logit tensors (``student_logits``, ``teacher_logits``) and run in
O(B·C) time and memory. Everything else in the package (data, models, attacks, training, figures,
derivations) sits on top of them.
"""

from gkl.core import (
    ClassPrior,
    DKLLoss,
    GKLLoss,
    IKLLoss,
    KLDivLoss,
    LossParts,
    dkl,
    dkl_parts,
    gkl,
    gkl_parts,
    ikl,
    kl_div,
)

__version__ = "0.1.0"

__all__ = [
    "kl_div",
    "dkl",
    "dkl_parts",
    "gkl",
    "gkl_parts",
    "ikl",
    "LossParts",
    "KLDivLoss",
    "DKLLoss",
    "IKLLoss",
    "GKLLoss",
    "ClassPrior",
]
