r"""GKL distillation (the paper's method): KL's soft-label CE plus a class-weighted MSE of logit
differences that, unlike in KL, reaches the student.

With :func:`gkl.gkl_parts` (:math:`o_n`: student logits, :math:`o_m`: teacher logits,
:math:`s^T = \mathrm{softmax}(o / T)`),

.. math::

   \texttt{kd\_ce} = \omega\,\alpha\,\mathrm{CE}(s_m^T, s_n^T), \qquad
   \texttt{kd\_wmse} = \omega\,\beta\,\mathrm{wMSE}_\gamma,

   \mathrm{wMSE}_\gamma = \frac{\sum_b \sum_{j,k} w_b[j,k]\,(\Delta m_{b,jk} - \Delta n_{b,jk})^2}
                              {4 \sum_b \sum_{j,k} w_b[j,k]},

   w_b[j,k] = u_{b,j}^\gamma\, u_{b,k}^\gamma

(plus ``ce``; :math:`\Delta m_{b,jk} = o_{m,bj} - o_{m,bk}`, likewise :math:`\Delta n` for the student),
:math:`\omega` the warm-up factor. :math:`\gamma = 1` is IKL (:mod:`gkl.methods.distill.ikl`),
:math:`\gamma = 0` a plain MSE of logit differences. The weights :math:`u` of a sample come either from its own teacher
logits, :math:`\mathrm{softmax}(o_m / T_2)`, or, with the class prior on, from the teacher's mean soft
label of its class over the **previous** epoch (:class:`gkl.ClassPrior` at :math:`T_2`, uniform in the
first epoch). The prior is collected while the student trains and rolled by :meth:`GKL.end_epoch`
(:meth:`gkl.ClassPrior.roll`): call it at the end of every training epoch, on every rank
(:class:`~gkl.methods.distill.objective.DistillObjective` does it for the engine).

The defaults are the released GKL (DKLv2) CIFAR-100 ones: the class prior on, :math:`T_2 = 4`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from torch import Tensor, nn

from gkl.core.losses import gkl_parts
from gkl.core.prior import ClassPrior
from gkl.methods.distill.base import DistillConfig, Distiller, param, warmup_factor, warmup_text
from gkl.methods.registry import DISTILLERS

__all__ = ["GKLTermsConfig", "GKLConfig", "GKL"]

PRIOR_HELP = "class-wise prior (global information) instead of per-sample weights softmax(o_m / T2)"


@dataclasses.dataclass
class GKLTermsConfig(DistillConfig):
    r"""The settings of GKL's two terms, all but :math:`\gamma` (what IKL's config holds too), at GKL's
    defaults (released-code names: ``alpha`` weights the soft-label CE, ``beta`` the wMSE).

    Attributes:
        alpha, beta: weights of the soft-label CE and of the wMSE.
        temperature: :math:`T` of the soft labels.
        weight_temperature: :math:`T_2` of the weights / of the class prior.
        prior: weight by the class prior instead of per-sample weights.
        warmup: epochs of linear warm-up of the distillation terms.
    """

    alpha: float = param(1.0, "weight of the soft-label CE")
    beta: float = param(1.0, "weight of the wMSE")
    temperature: float = param(4.0, "T of the soft labels", strict=True)
    weight_temperature: float = param(4.0, "T2 of the weights / of the class prior", strict=True)
    prior: bool = param(True, PRIOR_HELP)
    warmup: int = param(0, "warm-up epochs of the distillation terms")


@dataclasses.dataclass
class GKLConfig(GKLTermsConfig):
    r"""GKL's hyper-parameters: its terms' settings and the weight exponent :math:`\gamma`."""

    gamma: float = param(1.0, "weight exponent γ of the wMSE weights")


@DISTILLERS.register
class GKL(Distiller):
    r"""GKL with :func:`gkl.gkl_parts` at the config's :math:`\gamma`; optional epoch-ahead :class:`gkl.ClassPrior`.

    While the student trains, teacher logits are added to the running prior and the wMSE is weighted
    by ``prior.current`` (uniform in the first epoch); :meth:`end_epoch` rolls the prior, so the
    statistics of an epoch weight the next one. The prior is the only state: a checkpoint written
    after the roll holds the next epoch's prior and empty statistics.
    """

    name = "gkl"
    label = "GKL"
    Config = GKLConfig

    def __init__(self, teacher: nn.Module, config: GKLTermsConfig, num_classes: int) -> None:
        super().__init__(teacher, config)
        self.num_classes = num_classes
        self.prior = ClassPrior(num_classes, config.weight_temperature) if config.prior else None

    @classmethod
    def build(cls, teacher: Optional[nn.Module], config: GKLTermsConfig, num_classes: int) -> "GKL":
        return cls(teacher, config, num_classes)

    @property
    def gamma(self) -> float:
        r"""The weight exponent :math:`\gamma` of the config."""
        return self.config.gamma

    @classmethod
    def describe(cls, config: GKLTermsConfig) -> str:
        c = config
        gamma = f", γ {c.gamma:g}" if isinstance(c, GKLConfig) else ""
        weights = f"class prior at T2 {c.weight_temperature:g}" if c.prior else \
            f"no class prior (per-sample weights at T2 {c.weight_temperature:g})"
        lam, tail = warmup_text(c.warmup)
        return (f"{c.ce_weight:g} × CE + {lam}({c.alpha:g} × soft-label CE + {c.beta:g} × wMSE{gamma}), "
                f"T {c.temperature:g}, {weights}{tail}")

    def kd_terms(self, student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, epoch: int,
                 training: bool) -> dict[str, Tensor]:
        c = self.config
        prior = None
        if self.prior is not None:
            if training:
                self.prior.update(teacher_logits, targets)  # collected now, used next epoch
            prior = self.prior.current.to(student_logits.device)  # this epoch's prior
        parts = gkl_parts(student_logits, teacher_logits, targets, prior, self.gamma, c.temperature, c.weight_temperature)
        w = warmup_factor(epoch, c.warmup)
        return {"kd_ce": w * c.alpha * parts.ce, "kd_wmse": w * c.beta * parts.wmse}

    def end_epoch(self) -> None:
        """Roll the prior: this epoch's (all-reduced) statistics become the next epoch's prior."""
        if self.prior is not None:
            self.prior.roll()

    def states(self) -> dict[str, Any]:
        return {} if self.prior is None else {"prior": self.prior}
