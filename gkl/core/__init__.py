"""The ground floor: the losses as pure functions of two logit tensors, DKD's loss beside them, the
epoch-ahead class prior and the argument checks they share. Nothing here imports from the floors above."""

from gkl.core.dkd import dkd_parts
from gkl.core.losses import LossParts, dkl, dkl_parts, gkl, gkl_parts, ikl, kl_div
from gkl.core.modules import DKLLoss, GKLLoss, IKLLoss, KLDivLoss
from gkl.core.prior import ClassPrior

__all__ = ["kl_div", "dkl", "dkl_parts", "gkl", "gkl_parts", "ikl", "dkd_parts", "LossParts",
           "KLDivLoss", "DKLLoss", "IKLLoss", "GKLLoss", "ClassPrior"]
