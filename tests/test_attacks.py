"""Attack sanity checks (the failure modes AutoAttack/torchattacks users report)."""

import pytest
import torch
import torch.nn.functional as F

from gkl import attacks
from gkl.attacks import InputQuantizer, gradient_masking_check, pgd, predict, robustness, trades_perturb
from gkl.data import get_dataset
from gkl.losses import kl_div
from gkl.models import build_model

torch.set_num_threads(1)  # small ops: threads only contend on a shared 2-core machine


@pytest.fixture(scope="module")
def trained():
    """A small CNN trained for a few epochs on digits with plain cross-entropy (~1 s)."""
    torch.manual_seed(0)
    tr, te, info = get_dataset("digits")
    m = build_model("small_cnn", 10, mean=info.mean, std=info.std)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    x, y = tr.tensors()
    for _ in range(4):
        perm = torch.randperm(len(y))
        for i in range(0, len(y), 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            F.cross_entropy(m(x[idx]), y[idx]).backward()
            opt.step()
    xt, yt = te.tensors()
    return m.eval(), xt[:120], yt[:120]


def acc(model, x, y):
    return (predict(model, x) == y).float().mean().item()


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 1.0)])
def test_pgd_stays_in_the_threat_model_and_lowers_accuracy(trained, norm, eps):
    m, x, y = trained
    xa = pgd(m, x, y, eps, steps=10, norm=norm, seed=0)
    d = (xa - x).flatten(1)
    size = d.abs().max(1).values if norm == "linf" else d.norm(dim=1)
    assert float(size.max()) <= eps + 1e-5
    assert 0.0 <= float(xa.min()) and float(xa.max()) <= 1.0
    clean = acc(m, x, y)
    assert clean > 0.85
    assert acc(m, xa, y) < clean


def test_accuracy_falls_as_epsilon_grows(trained):
    m, x, y = trained
    accs = attacks.accuracy_vs_epsilon(m, x, y, [0.0, 0.05, 0.1, 0.2, 0.3], steps=10, seed=0)
    assert accs[0] == pytest.approx(acc(m, x, y))
    assert all(b <= a for a, b in zip(accs, accs[1:])), accs
    assert accs[-1] < 0.2 < accs[0]


def test_more_steps_and_restarts_never_raise_accuracy(trained):
    m, x, y = trained
    a = [acc(m, pgd(m, x, y, 0.06, steps=s, step_size=0.01, seed=3), y) for s in (1, 3, 10, 30)]
    assert all(b <= c for b, c in zip(a[1:], a)), a
    r1 = acc(m, pgd(m, x, y, 0.06, steps=5, restarts=1, seed=3), y)
    r3 = acc(m, pgd(m, x, y, 0.06, steps=5, restarts=3, seed=3), y)
    assert r3 <= r1


def test_attacks_restore_model_mode_and_caller_rng(trained):
    m, x, y = trained
    for p in m.parameters():
        p.grad = None
    for mode in (True, False):
        m.train(mode)
        torch.manual_seed(123)
        pgd(m, x[:8], y[:8], 0.1, steps=2, seed=0)
        attacks.autoattack(m, x[:8], y[:8], 0.1, seed=0, square_queries=50)
        assert m.training is mode
        after = torch.rand(3)
        torch.manual_seed(123)
        assert torch.equal(after, torch.rand(3))  # seeded attacks leave the global stream untouched
    m.eval()
    assert all(p.grad is None for p in m.parameters())


def test_trades_perturb_increases_the_divergence(trained):
    m, x, y = trained
    torch.manual_seed(0)
    xa = trades_perturb(m, x, lambda a, c: kl_div(a, c), 0.1, steps=5)
    assert float((xa - x).abs().max()) <= 0.1 + 1e-6
    with torch.no_grad():
        assert kl_div(m(xa), m(x)) > 10 * kl_div(m((x + 0.001 * torch.randn_like(x)).clamp(0, 1)), m(x))


def test_robustness_reports_the_per_point_worst_case(trained):
    m, x, y = trained
    # Square's standard 5000 queries would take a minute here; 100 keep the test fast
    r = robustness(m, x[:60], y[:60], 0.1, attacks=("pgd", "autoattack"), pgd_steps=10, seed=0, square_queries=100)
    assert r["n"] == 60
    assert r["robust_acc"] <= min(r["pgd_acc"], r["autoattack_acc"]) <= max(r["pgd_acc"], r["autoattack_acc"]) <= r["clean_acc"]
    assert r["autoattack_acc"] < r["clean_acc"]
    again = robustness(m, x[:60], y[:60], 0.1, attacks=("autoattack",), seed=0, square_queries=100)
    assert again["autoattack_acc"] == r["autoattack_acc"]  # seeded
    with pytest.raises(ValueError, match="unknown attack"):
        robustness(m, x, y, 0.1, attacks=("fgsm",))
    with pytest.raises(ValueError, match="epsilon"):
        pgd(m, x, y, -0.1)


def test_gradient_masking_is_caught_by_the_black_box_attack(trained):
    m, x, y = trained
    masked = InputQuantizer(m, levels=4)
    xs = x[:40]
    # the quantiser blocks gradients: white-box attacks see nothing
    xx = xs.clone().requires_grad_(True)
    masked(xx).sum().backward()
    assert float(xx.grad.abs().max()) == 0.0
    report = gradient_masking_check(masked, xs, y[:40], 0.1, n_queries=200, seed=0)
    assert report.masked, str(report)
    assert report.blackbox_only > 0
    honest = gradient_masking_check(m, xs, y[:40], 0.1, n_queries=200, seed=0)
    assert not honest.masked, str(honest)
    assert "Square" in str(honest)
