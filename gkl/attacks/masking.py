"""Gradient masking: a false defence, and the check that exposes it.

:func:`gradient_masking_check` compares white-box (APGD-CE + APGD-T) with black-box (Square)
attacks on the same points: a model whose gradients are masked (e.g. :class:`InputQuantizer` in
front of it) resists gradient attacks but not a query-based one, so a share of points broken
*only* by the black-box attack above a stated tolerance flags gradient masking.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import torch
from torch import Tensor, nn

from gkl.attacks.autoattack import AutoAttackBudget, _resolve_version, _targets, apgd_whitebox, square
from gkl.attacks.threat import _model_device, predict

__all__ = ["InputQuantizer", "MaskingReport", "MASKING_TOLERANCE", "gradient_masking_check"]


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
