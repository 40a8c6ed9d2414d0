"""The losses as ``nn.Module`` s: each holds its hyper-parameters (checked once, at construction)
and calls the pure function of :mod:`gkl.core.losses` in ``forward``."""

from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

from gkl.core.checks import check_nonnegative, check_positive
from gkl.core.losses import dkl, gkl, kl_div

__all__ = ["KLDivLoss", "DKLLoss", "GKLLoss", "IKLLoss"]


class KLDivLoss(nn.Module):
    """Module form of :func:`~gkl.core.losses.kl_div`."""

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        self.temperature = check_positive(temperature, "temperature")

    def forward(self, student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
        return kl_div(student_logits, teacher_logits, self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


class DKLLoss(nn.Module):
    """Module form of :func:`~gkl.core.losses.dkl`."""

    def __init__(self, temperature: float = 1.0, alpha: float = 1.0, beta: float = 1.0) -> None:
        super().__init__()
        self.temperature = check_positive(temperature, "temperature")
        self.alpha = check_nonnegative(alpha, "alpha")
        self.beta = check_nonnegative(beta, "beta")

    def forward(self, student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
        return dkl(student_logits, teacher_logits, self.temperature, self.alpha, self.beta)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}, beta={self.beta}"


class GKLLoss(nn.Module):
    """Module form of :func:`~gkl.core.losses.gkl`; ``forward(student, teacher, targets=None, class_prior=None)``."""

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 1.0,
        gamma: float = 1.0,
        temperature: float = 1.0,
        weight_temperature: float = 1.0,
    ) -> None:
        super().__init__()
        self.alpha = check_nonnegative(alpha, "alpha")
        self.beta = check_nonnegative(beta, "beta")
        self.gamma = check_nonnegative(gamma, "gamma")
        self.temperature = check_positive(temperature, "temperature")
        self.weight_temperature = check_positive(weight_temperature, "weight_temperature")

    def forward(
        self,
        student_logits: Tensor,
        teacher_logits: Tensor,
        targets: Optional[Tensor] = None,
        class_prior: Optional[Tensor] = None,
    ) -> Tensor:
        return gkl(
            student_logits,
            teacher_logits,
            targets,
            class_prior,
            alpha=self.alpha,
            beta=self.beta,
            gamma=self.gamma,
            temperature=self.temperature,
            weight_temperature=self.weight_temperature,
        )

    def extra_repr(self) -> str:
        return (
            f"alpha={self.alpha}, beta={self.beta}, gamma={self.gamma}, "
            f"temperature={self.temperature}, weight_temperature={self.weight_temperature}"
        )


class IKLLoss(GKLLoss):
    """Module form of :func:`~gkl.core.losses.ikl` (:class:`GKLLoss` with ``gamma = 1``)."""

    def __init__(
        self, alpha: float = 1.0, beta: float = 1.0, temperature: float = 1.0, weight_temperature: float = 1.0
    ) -> None:
        super().__init__(alpha, beta, 1.0, temperature, weight_temperature)
