"""Figures of the theory chapters (Part I of the book): one module per chapter of ``book/theory/``.

================================  ==========================================================
chapter (``book/theory/X.md``)    figures (``gkl/figures/theory/X.py``)
================================  ==========================================================
``kl_in_practice``                :func:`soft_label_temperature_figure`, :func:`kl_gradient_check_figure`
``decoupling``                    :func:`decoupling_gradient_figure`, :func:`decoupling_numeric_figure`
``asymmetry``                     :func:`term_gradients_figure`, :func:`convergence_figure`
``weight_function``               :func:`weight_function_figure`, :func:`curvature_figure`
``class_prior``                   :func:`class_prior_figure`, :func:`sample_vs_prior_weights_figure`,
                                  :func:`prior_sync_figure`
``making_it_fast``                :func:`benchmark_figure`, :func:`benchmark_table`
================================  ==========================================================

Every function returns a figure (:class:`plotly.graph_objects.Figure`) or a table
(``IPython.display.HTML``) for results computed elsewhere: the maths in :mod:`gkl.derivations`, the
toy experiments (fitting a student, convergence, learning-rate sweeps, pair weights, class priors on
data-parallel ranks) in :mod:`gkl.toy`, the loss benchmark in :mod:`gkl.bench`. These modules call
down into those, never the other way round. Figures with a slider are interactive on the static
website (:func:`gkl.figures.common.slider_figure`); colours come from :mod:`gkl.figures.palette`.
This package re-exports every figure, so a chapter writes ``from gkl.figures import theory``.
"""

from gkl.figures.theory.asymmetry import convergence_figure, term_gradients_figure
from gkl.figures.theory.class_prior import class_prior_figure, prior_sync_figure, sample_vs_prior_weights_figure
from gkl.figures.theory.decoupling import decoupling_gradient_figure, decoupling_numeric_figure
from gkl.figures.theory.kl_in_practice import kl_gradient_check_figure, soft_label_temperature_figure
from gkl.figures.theory.making_it_fast import benchmark_figure, benchmark_table
from gkl.figures.theory.weight_function import curvature_figure, weight_function_figure

__all__ = [
    "soft_label_temperature_figure",
    "kl_gradient_check_figure",
    "decoupling_gradient_figure",
    "decoupling_numeric_figure",
    "term_gradients_figure",
    "convergence_figure",
    "weight_function_figure",
    "curvature_figure",
    "class_prior_figure",
    "sample_vs_prior_weights_figure",
    "prior_sync_figure",
    "benchmark_figure",
    "benchmark_table",
]
