"""The released DKLv2 adversarial-training formulas, re-implemented independently (tests only).

Written from paper.md's line-by-line reading of ``Adv-training-dkl/train_dkl_cifar10.py`` /
``train_dkl_cifar100.py`` (facts, not code): pairwise ``(B, C, C)`` tensors, the class prior as a sum
of soft-maxes normalised per row at the epoch's end, nothing imported from ``gkl``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dkl_loss(adv, clean, prior_rows, alpha=1.0, beta=1.0, gamma=1.0, T=1.0):
    """``beta * ¼ Σ_b Σ_jk w (Δclean − Δadv)² / Σ w + alpha * mean_b(−S(softmax(clean/T))ᵀ log softmax(adv/T))``
    with ``w = (prior_rows^γ)(prior_rows^γ)ᵀ`` held constant and the gradient of the squared term
    reaching both logits."""
    C = adv.shape[1]
    d_clean = clean.view(-1, C, 1) - clean.view(-1, 1, C)
    d_adv = adv.view(-1, C, 1) - adv.view(-1, 1, C)
    with torch.no_grad():
        u = prior_rows.pow(gamma)
        w = u.view(-1, C, 1) * u.view(-1, 1, C)
    mse = 0.25 * ((d_clean - d_adv) ** 2 * w).sum() / w.sum()
    sce = -(F.softmax(clean / T, dim=1).detach() * F.log_softmax(adv / T, dim=1)).sum(1).mean()
    return beta * mse + alpha * sce


def trades_kl(adv, clean):
    """TRADES' robust term: batch mean of KL(softmax(clean) ‖ softmax(adv)), gradient to both sides."""
    p = F.softmax(clean, dim=1)
    return (p * (F.log_softmax(clean, dim=1) - F.log_softmax(adv, dim=1))).sum() / adv.shape[0]


def prior_after_epoch(clean_logits, targets, num_classes, T):
    """``Σ onehot(y)ᵀ softmax(clean/T)`` over the epoch, each row divided by its sum."""
    acc = F.one_hot(targets, num_classes).to(clean_logits.dtype).t() @ F.softmax(clean_logits / T, dim=1)
    return acc / acc.sum(dim=1, keepdim=True)


def uniform_prior(num_classes, dtype=torch.float64):
    """The first epoch's prior: every entry 1/C."""
    return torch.ones(num_classes, num_classes, dtype=dtype) / num_classes


def perturb(model, x, attack_loss, eps, steps, step_size):
    """The released inner maximisation: eval mode, start ``x + 0.001·N(0, I)``, ``steps`` sign steps
    of ``step_size`` ascending ``attack_loss(model(x_adv), model(x))``, projection to the ε-ball,
    clamp to [0, 1]. Uses torch's global RNG for the start."""
    model.eval()
    x_adv = x.detach() + 0.001 * torch.randn(x.shape, dtype=x.dtype)
    for _ in range(steps):
        x_adv.requires_grad_()
        with torch.enable_grad():
            loss = attack_loss(model(x_adv), model(x))
        (grad,) = torch.autograd.grad(loss, [x_adv])
        x_adv = x_adv.detach() + step_size * torch.sign(grad.detach())
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0.0, 1.0)
    return x_adv


def training_loss(model, x, x_adv, y, prior, alpha, beta, gamma):
    """``CE(model(x), y) + dkl_loss(model(x_adv), model(x), prior[y])`` with the model in train mode."""
    model.train()
    adv, clean = model(x_adv), model(x)
    rows = F.one_hot(y, prior.shape[0]).to(prior.dtype) @ prior
    return F.cross_entropy(clean, y) + dkl_loss(adv, clean, rows, alpha, beta, gamma), clean
