"""The project's adversarial-training defaults reproduce the released recipe (float64, values and
gradients), and every AT method's terms equal an independent formula.

The reference is ``tests/released_at.py``: the released DKLv2 formulas written out pairwise, nothing
imported from ``gkl``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gkl.methods.adversarial import AdversarialConfig, AdversarialObjective, soft_label_ce
from tests import released_at as rel

torch.set_num_threads(1)
C, B, D = 5, 12, 6


class Identity(nn.Module):
    """Logits = inputs: the terms' gradients w.r.t. the module's input are those w.r.t. the logits."""

    def forward(self, x):
        return x


def linear_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(D, 16), nn.Tanh(), nn.Linear(16, C)).double()


def logits_pair(seed=0):
    g = torch.Generator().manual_seed(seed)
    clean = (2 * torch.randn(B, C, generator=g, dtype=torch.float64)).requires_grad_()
    adv = (clean.detach() + torch.randn(B, C, generator=g, dtype=torch.float64)).requires_grad_()
    y = torch.randint(0, C, (B,), generator=g)
    return clean, adv, y


def random_prior(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(C, C, generator=g, dtype=torch.float64), dim=1)


def assert_same(a, b, wrt):
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    kw = {"retain_graph": True, "allow_unused": True, "materialize_grads": True}
    for ga, gb in zip(torch.autograd.grad(a, wrt, **kw), torch.autograd.grad(b, wrt, **kw)):
        torch.testing.assert_close(ga, gb, rtol=1e-9, atol=1e-12)


# -- each method's terms against an independent formula (values, gradients w.r.t. both logits) ----
@pytest.mark.parametrize("method", ["pgd-at", "trades", "ikl", "gkl"])
def test_terms_equal_the_formula(method):
    clean, adv, y = logits_pair()
    cfg = AdversarialConfig.for_method(method, alpha=3.0 if method in ("ikl", "gkl") else None,
                                       beta=None if method == "pgd-at" else 7.0, gamma=0.3 if method == "gkl" else None)
    obj = AdversarialObjective(cfg, C)
    prior = random_prior()
    if getattr(obj.method, "prior", None) is not None:
        obj.method.prior.current = prior.float().double()  # as the objective holds it (float32 from compute)
    out = obj.method.terms(Identity(), clean, adv, y)
    got = sum(out.terms.values())
    if method == "pgd-at":
        want = F.cross_entropy(adv, y)
    elif method == "trades":
        want = F.cross_entropy(clean, y) + 7.0 * rel.trades_kl(adv, clean)
    else:
        gamma = 1.0 if method == "ikl" else 0.3
        rows = obj.method.prior.current[y]
        want = F.cross_entropy(clean, y) + rel.dkl_loss(adv, clean, rows, alpha=3.0, beta=7.0, gamma=gamma, T=1.0)
    assert_same(got, want, (clean, adv))


def test_swapping_clean_and_adversarial_or_alpha_and_beta_is_caught():
    clean, adv, y = logits_pair()
    obj = AdversarialObjective(AdversarialConfig.for_method("gkl", alpha=3.0, beta=7.0), C)
    rows = obj.method.prior.current.double()[y]
    got = sum(obj.method.terms(Identity(), clean, adv, y).terms.values())
    swapped = F.cross_entropy(clean, y) + rel.dkl_loss(clean, adv, rows, alpha=3.0, beta=7.0, gamma=0.2)
    crossed = F.cross_entropy(clean, y) + rel.dkl_loss(adv, clean, rows, alpha=7.0, beta=3.0, gamma=0.2)
    assert abs(got - swapped) > 1e-3 and abs(got - crossed) > 1e-3


# -- the released inner losses ----------------------------------------------------------------
@pytest.mark.parametrize("classes,released", [(10, "soft-ce"), (100, "gkl-unit")])
def test_attack_loss_is_the_released_one(classes, released):
    g = torch.Generator().manual_seed(3)
    clean = torch.randn(B, classes, generator=g, dtype=torch.float64)
    adv = (clean + torch.randn(B, classes, generator=g, dtype=torch.float64)).requires_grad_()
    y = torch.randint(0, classes, (B,), generator=g)
    obj = AdversarialObjective(AdversarialConfig.for_method("gkl", gamma=0.4), classes)
    assert obj.method.attack_loss == released
    prior = torch.softmax(torch.randn(classes, classes, generator=g, dtype=torch.float64), 1)
    obj.method.prior.current = prior
    got = obj.method.attack_objective(y)(adv, clean)
    if classes == 10:  # CIFAR-10: dkl_loss(alpha=1, beta=0) at T = 1
        want = rel.dkl_loss(adv, clean, prior[y], alpha=1.0, beta=0.0, gamma=1.0)
        # ... whose gradient w.r.t. the adversarial logits is TRADES' KL attack's
        (g1,) = torch.autograd.grad(want, adv, retain_graph=True)
        (g2,) = torch.autograd.grad(rel.trades_kl(adv, clean), adv)
        torch.testing.assert_close(g1, g2)
    else:  # CIFAR-100: alpha = beta = gamma = 1 at T = 1, with the prior
        want = rel.dkl_loss(adv, clean, prior[y], alpha=1.0, beta=1.0, gamma=1.0)
    assert_same(got, want, (adv,))


# -- the class prior: epoch-ahead, from the clean logits at T_prior ------------------------------
def test_prior_is_the_released_one(step_context):
    model = linear_model()
    obj = AdversarialObjective(AdversarialConfig.for_method("gkl", epsilon=0.05, attack_steps=1), C)
    ctx = step_context(model)
    torch.testing.assert_close(obj.method.weights_prior().double(), rel.uniform_prior(C))  # epoch 1: uniform
    g = torch.Generator().manual_seed(5)
    batches = [(torch.rand(B, D, generator=g, dtype=torch.float64), torch.randint(0, C, (B,), generator=g)) for _ in range(3)]
    batches[0][1][:C] = torch.arange(C)  # every class is seen
    cleans = []
    for x, y in batches:
        obj.loss_terms(model, x, y, ctx)
        with torch.no_grad():
            cleans.append(model.train()(x))
    obj.end_epoch(1, ctx)
    want = rel.prior_after_epoch(torch.cat(cleans), torch.cat([y for _, y in batches]), C, T=4.0)
    torch.testing.assert_close(obj.method.weights_prior().double(), want, rtol=1e-6, atol=1e-7)


# -- a whole training step: attack, loss and gradients as released --------------------------------
@pytest.mark.parametrize("classes_like", ["cifar10", "cifar100"])
def test_training_step_is_the_released_one(classes_like, step_context):
    model = linear_model()
    g = torch.Generator().manual_seed(7)
    x = 0.1 + 0.8 * torch.rand(B, D, generator=g, dtype=torch.float64)  # the 0.001 start stays inside [0, 1]
    y = torch.randint(0, C, (B,), generator=g)
    prior = random_prior()
    eps, steps, ratio = 0.1, 3, 0.5
    cfg = AdversarialConfig.for_method("gkl", epsilon=eps, attack_steps=steps, step_ratio=ratio)
    obj = AdversarialObjective(cfg, C)
    if classes_like == "cifar100":
        obj.method.attack_loss = "gkl-unit"
    obj.method.prior.current = prior
    torch.manual_seed(11)
    out = obj.loss_terms(model, x, y, step_context(model))
    ours = sum(out.terms.values())
    ours_grads = torch.autograd.grad(ours, list(model.parameters()))

    rows = prior[y]
    if classes_like == "cifar10":
        attack = lambda a, c: rel.dkl_loss(a, c, rows, alpha=1.0, beta=0.0, gamma=1.0)  # noqa: E731
    else:
        attack = lambda a, c: rel.dkl_loss(a, c, rows, alpha=1.0, beta=1.0, gamma=1.0)  # noqa: E731
    torch.manual_seed(11)
    x_adv = rel.perturb(model, x, attack, eps, steps, ratio * eps)
    theirs, _ = rel.training_loss(model, x, x_adv, y, prior, alpha=4.0, beta=20.0, gamma=0.2)
    theirs_grads = torch.autograd.grad(theirs, list(model.parameters()))
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
    for a, b in zip(ours_grads, theirs_grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_ikl_is_gamma_one_and_has_no_gamma_setting():
    clean, adv, y = logits_pair()
    with pytest.raises(ValueError, match="'ikl' has no setting gamma"):
        AdversarialConfig.for_method("ikl", gamma=0.3)
    obj = AdversarialObjective(AdversarialConfig.for_method("ikl", alpha=3.0, beta=7.0), C)
    obj.method.prior.current = random_prior()
    got = sum(obj.method.terms(Identity(), clean, adv, y).terms.values())
    want = F.cross_entropy(clean, y) + rel.dkl_loss(adv, clean, obj.method.prior.current[y], alpha=3.0, beta=7.0,
                                                    gamma=1.0)
    assert_same(got, want, (clean, adv))


def test_soft_label_ce_never_moves_the_clean_logits():
    clean, adv, _ = logits_pair()
    (g_clean,) = torch.autograd.grad(soft_label_ce(adv, clean), clean, allow_unused=True, materialize_grads=True)
    assert torch.count_nonzero(g_clean) == 0


def test_evaluation_attacks_at_eval_epsilon(step_context):
    torch.manual_seed(0)
    model = linear_model()
    x, y = torch.rand(64, D, dtype=torch.float64), torch.randint(0, C, (64,))
    accs = []
    for eval_eps in (0.0, 0.5):
        obj = AdversarialObjective(AdversarialConfig.for_method("trades", epsilon=0.05, eval_epsilon=eval_eps), C)
        accs.append(obj.eval_batch(model, x, y, step_context(model)))
    assert accs[0]["robust_acc"] == accs[0]["clean_acc"]  # ε = 0: no attack at all
    assert accs[1]["robust_acc"] < accs[0]["robust_acc"]  # the configured evaluation radius is used


def test_pgd_at_trains_on_the_last_pgd_iterate():
    """Madry's PGD-AT: the training input is the last iterate (not the evaluation's worst iterate)."""
    from gkl.attacks import pgd

    model = linear_model()
    g = torch.Generator().manual_seed(9)
    x, y = torch.rand(B, D, generator=g, dtype=torch.float64), torch.randint(0, C, (B,), generator=g)
    obj = AdversarialObjective(AdversarialConfig.for_method("pgd-at", epsilon=0.3, attack_steps=4, step_ratio=0.5), C)
    torch.manual_seed(5)
    got = obj.perturb(model, x, y, 0.3, 4)
    torch.manual_seed(5)
    last = pgd(model, x, y, 0.3, 4, 0.15, "linf", random_start=True, iterate="last")
    torch.manual_seed(5)
    worst = pgd(model, x, y, 0.3, 4, 0.15, "linf", random_start=True, iterate="worst")
    assert torch.equal(got, last) and not torch.equal(last, worst)
