r"""The maths of the book as code: sympy derivations and hand-derived gradients.

Everything the theory chapters *derive* is built here, so that tests can check it symbolically
(sympy) and numerically (against torch autograd through :mod:`gkl.core.losses`).

Notation (as in :mod:`gkl.core.losses`): :math:`o_m` are the *teacher* (reference) logits, :math:`o_n`
the *student* logits (the side being trained), :math:`s = \mathrm{softmax}(o/T)`,
:math:`d = (o_m - o_n)/T`.

* :mod:`gkl.derivations.symbolic` — KL and DKL as sympy expressions, stop-gradients in sympy, the
  proof of the decoupling theorem and the identities behind the O(C) wMSE;
* :mod:`gkl.derivations.numeric` — hand-derived gradients against autograd, the precision of the
  closed form, the wMSE's curvature, MSE on probabilities (what the wMSE is not);
* :mod:`gkl.derivations.kd_scale` — the scale of the two terms in KD (:math:`T^2\,\mathrm{KL}` = CE
  with weight :math:`T^2` + raw-logit wMSE with weight 1) and the relative wMSE weight of a setting.

sympy is imported lazily (only the symbolic functions need it): importing this package does not import it.
"""

from gkl.derivations.kd_scale import (
    KDScaleProof,
    kd_scale_check,
    kd_scale_proof,
    relative_wmse_weight,
    relative_wmse_weights,
)
from gkl.derivations.numeric import (
    autograd_gradients,
    closed_form_precision,
    decoupling_numeric_check,
    kl_hand_gradients,
    mse_on_probabilities,
    pairwise_sq_sum_explicit,
    pairwise_sq_sum_naive,
    wmse_curvature,
    wmse_vs_mse_on_probabilities,
)
from gkl.derivations.symbolic import (
    DecouplingProof,
    closed_form_identity,
    decoupling_proof,
    dkl_expr,
    kl_expr,
    log_softmax_expr,
    logit_symbols,
    softmax_expr,
    stop_gradient_diff,
    wmse_variance_identity,
)

__all__ = [
    "logit_symbols",
    "softmax_expr",
    "log_softmax_expr",
    "kl_expr",
    "dkl_expr",
    "stop_gradient_diff",
    "DecouplingProof",
    "decoupling_proof",
    "closed_form_identity",
    "wmse_variance_identity",
    "kl_hand_gradients",
    "autograd_gradients",
    "decoupling_numeric_check",
    "pairwise_sq_sum_explicit",
    "pairwise_sq_sum_naive",
    "closed_form_precision",
    "wmse_curvature",
    "mse_on_probabilities",
    "wmse_vs_mse_on_probabilities",
    "KDScaleProof",
    "kd_scale_proof",
    "kd_scale_check",
    "relative_wmse_weight",
    "relative_wmse_weights",
]
