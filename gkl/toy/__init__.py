r"""Toy experiments of Part I: free student logits, tiny teachers, prior shards.

Everything here returns plain tensors, dicts and lists (so tests can check the numbers); the figures
that draw them live in :mod:`gkl.figures.theory`. Notation as in :mod:`gkl.core.losses`: :math:`o_m`
are the teacher (reference) logits, :math:`o_n` the student logits, :math:`u = \mathrm{softmax}(o_m/T)`.

* :mod:`gkl.toy.gradients` — one sample: which term moves which side, GKL's pair weights;
* :mod:`gkl.toy.hessian` — the wMSE's Hessian in the student logits and its spectrum per :math:`\gamma`;
* :mod:`gkl.toy.fit` — fitting a student to fixed teacher logits, errors per group of classes;
* :mod:`gkl.toy.convergence` — that fit over losses, seeds and learning rates;
* :mod:`gkl.toy.teachers` — a real tiny teacher (softmax regression on the digits) and telling samples;
* :mod:`gkl.toy.shards` — the class prior on data-parallel ranks, without and with the all-reduce.
"""

from gkl.toy.convergence import convergence_experiment, convergence_table, lr_sweep, toy_distillation
from gkl.toy.fit import fit_student, make_loss, rank_groups, synthetic_teacher
from gkl.toy.gradients import as_logit_vector, term_gradients, weight_matrix
from gkl.toy.hessian import hessian_spectrum, wmse_hessian
from gkl.toy.shards import shard_priors
from gkl.toy.teachers import digits_teacher, teacher_examples

__all__ = [
    "as_logit_vector",
    "term_gradients",
    "weight_matrix",
    "make_loss",
    "synthetic_teacher",
    "rank_groups",
    "wmse_hessian",
    "hessian_spectrum",
    "fit_student",
    "convergence_experiment",
    "convergence_table",
    "lr_sweep",
    "toy_distillation",
    "digits_teacher",
    "teacher_examples",
    "shard_priors",
]
