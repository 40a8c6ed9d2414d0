"""Attack sanity checks (the failure modes AutoAttack/torchattacks users report).

Hand-made tiny models (fixed weights) make the per-point worst case and the threat model checkable
exactly; a small CNN trained for a few seconds on digits checks the statistical invariants.
"""

import pytest
import torch
import torch.nn.functional as F
import torchattacks
from torch import nn

from gkl import attacks
from gkl.attacks import (
    FAST_AUTOATTACK,
    STANDARD_AUTOATTACK,
    AutoAttackBudget,
    InputQuantizer,
    MaskingReport,
    autoattack,
    autoattack_label,
    build_autoattack,
    gradient_masking_check,
    pgd,
    predict,
    robustness,
    threat,
    trades_perturb,
    worst_case,
)
from gkl.core.losses import kl_div
from gkl.data import get_dataset
from gkl.models import build_model

torch.set_num_threads(1)  # small ops: threads only contend on a shared 2-core machine

TOL = 1e-6
#: A budget small enough for tests; labelled "AutoAttack-custom", never mistaken for AutoAttack.
TINY_AA = AutoAttackBudget(apgd_steps=5, target_classes=2, fab_steps=5, square_queries=50)


# ---------------------------------------------------------------- tiny hand-made models


def linear_model(n_classes: int = 10, shape=(1, 8, 8), seed: int = 0) -> nn.Module:
    """A fixed random linear classifier on small images."""
    g = torch.Generator().manual_seed(seed)
    d = int(torch.tensor(shape).prod())
    lin = nn.Linear(d, n_classes)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(n_classes, d, generator=g))
        lin.bias.copy_(torch.randn(n_classes, generator=g))
    return nn.Sequential(nn.Flatten(), lin).eval()


def edge_inputs(n: int, shape=(1, 8, 8), seed: int = 1) -> torch.Tensor:
    """Pixels at 0.02 or 0.98: any ascent step of 0.1 pushes half of them out of [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    return torch.where(torch.rand(n, *shape, generator=g) < 0.5, 0.02, 0.98)


class Bump(nn.Module):
    r"""Two inputs ``(x0, x1)``; logits ``[0, 1 - 100 (x0 - 0.45)^2, x0 - 100]``.

    Class 1 wins only for :math:`x_0 \in (0.35, 0.55)`; class 2 never wins. Ascending the third
    logit moves :math:`x_0` up by the step size each iteration, so from :math:`x_0 = 0.3` with step
    0.1 the iterates 0.4 and 0.5 are misclassified and the last one, 0.6, is not.
    """

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))  # a parameter, so the model has a device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = x[:, 0] + 0 * self.dummy
        return torch.stack([torch.zeros_like(x0), 1 - 100 * (x0 - 0.45) ** 2, x0 - 100], dim=1)


class Threshold(nn.Module):
    """2-D inputs; class 1 iff x0 > 0.5 (a fixed linear model)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 2)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor([[-10.0, 0.0], [10.0, 0.0]]))
            self.lin.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x - torch.tensor([0.5, 0.0]))


def assert_in_threat_model(xa, x, eps, norm):
    assert xa.shape == x.shape
    d = (xa - x).flatten(1)
    size = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
    assert float(size.max()) <= eps + TOL, float(size.max())
    assert float(xa.min()) >= 0.0 and float(xa.max()) <= 1.0, (float(xa.min()), float(xa.max()))


# ---------------------------------------------------------------- the trained digits CNN


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


# ---------------------------------------------------------------- threat model: box and ball


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.5)])
@pytest.mark.parametrize("iterate", ["worst", "last"])
@pytest.mark.parametrize("random_start,restarts", [(False, 1), (True, 1), (True, 3)])
def test_pgd_output_is_in_the_box_and_the_ball(norm, eps, iterate, random_start, restarts):
    m, x = linear_model(), edge_inputs(16)
    y = torch.arange(16) % 10  # mostly wrong labels: "worst" keeps iterates, not only clean inputs
    xa = pgd(m, x, y, eps, steps=4, step_size=eps / 2, norm=norm, random_start=random_start, restarts=restarts,
             seed=0, iterate=iterate)
    assert_in_threat_model(xa, x, eps, norm)
    assert not torch.equal(xa, x)


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.5)])
def test_trades_perturb_is_clamped_to_the_box(norm, eps):
    m, x = linear_model(), edge_inputs(8)
    w = m[1].weight[0].detach().view(1, 1, 8, 8)
    # the divergence's gradient in x' is the first row of W: it pushes half of the pixels, each sitting
    # 0.02 from an edge, out of [0, 1] unless the step is clamped
    div = lambda adv, clean: adv[:, 0].sum()  # noqa: E731
    torch.manual_seed(0)
    xa = trades_perturb(m, x, div, eps, steps=5, step_size=eps / 2, norm=norm)
    assert_in_threat_model(xa, x, eps, norm)
    pushed_out = ((x > 0.5) & (w > 0)) | ((x < 0.5) & (w < 0))
    edge = (xa == 1.0) | (xa == 0.0)
    assert edge[pushed_out.expand_as(x)].float().mean() > 0.5  # the ascent really reaches the box's faces


def test_trades_perturb_increases_the_divergence(trained):
    m, x, y = trained
    torch.manual_seed(0)
    xa = trades_perturb(m, x, lambda a, c: kl_div(a, c), 0.1, steps=5)
    assert_in_threat_model(xa, x, 0.1, "linf")
    with torch.no_grad():
        assert kl_div(m(xa), m(x)) > 10 * kl_div(m((x + 0.001 * torch.randn_like(x)).clamp(0, 1)), m(x))


@pytest.mark.parametrize("norm,eps", [("linf", 0.15), ("l2", 1.0)])
def test_torchattacks_based_outputs_are_in_the_box_and_the_ball(norm, eps):
    m, x = linear_model(), edge_inputs(6)
    y = predict(m, x)
    outs = {
        "standard": autoattack(m, x, y, eps, norm, seed=0),
        "fast": autoattack(m, x, y, eps, norm, seed=0, version="fast"),
        "square": attacks.square(m, x, y, eps, norm, n_queries=100, seed=0),
        "apgd": attacks.apgd_whitebox(m, x, y, eps, norm, seed=0, version=TINY_AA),
    }
    for name, xa in outs.items():
        assert_in_threat_model(xa, x, eps, norm)
        assert acc(m, xa, y) < 1.0, name


# ---------------------------------------------------------------- per-point worst case


def test_pgd_worst_keeps_the_fooling_iterate_and_last_returns_the_last():
    m = Bump()
    x = torch.tensor([[0.3, 0.5], [0.0, 0.5]])  # A: fooled at iterates 1 and 2, not 3; B: never fooled
    y = torch.tensor([0, 0])
    kw = dict(steps=3, step_size=0.1, random_start=False, loss_fn=lambda logits, t: logits[:, 2])
    assert predict(m, x).tolist() == [0, 0]
    worst = pgd(m, x, y, 0.3, iterate="worst", **kw)
    last = pgd(m, x, y, 0.3, iterate="last", **kw)
    assert predict(m, worst).tolist() == [1, 0]
    assert float(worst[0, 0]) == pytest.approx(0.4)  # the first fooling iterate
    assert torch.equal(worst[1], x[1])  # never fooled: the clean input
    assert predict(m, last).tolist() == [0, 0]
    assert last[:, 0].tolist() == pytest.approx([0.6, 0.3])  # the last iterates
    assert predict(m, pgd(m, x, y, 0.3, iterate="worst", restarts=2, **kw)).tolist() == [1, 0]
    with pytest.raises(ValueError, match="iterate must be 'worst' or 'last'"):
        pgd(m, x, y, 0.3, iterate="best")


def _shift(lo: float, hi: float, by: float):
    """An 'attack' that moves x0 by ``by`` for the points with x0 in (lo, hi) and leaves the others."""

    def attack(*args):  # fn(model, x, y) for robustness, fn(x, y) for worst_case
        x = args[-2]
        xa = x.clone()
        near = (x[:, 0] > lo) & (x[:, 0] < hi)
        xa[near, 0] += by
        return xa

    return attack


def test_robust_accuracy_is_the_per_point_worst_case_over_attacks():
    m = Threshold()
    x = torch.tensor([[0.45, 0.2], [0.55, 0.8], [0.1, 0.5], [0.9, 0.5]])
    y = torch.tensor([0, 1, 0, 1])
    first, second = ("first", _shift(0.4, 0.5, 0.1)), ("second", _shift(0.5, 0.6, -0.1))  # each breaks one point
    r = robustness(m, x, y, 0.1, attacks=(first, second))
    assert r["clean_acc"] == 1.0 and r["first_acc"] == 0.75 and r["second_acc"] == 0.75
    assert r["robust_acc"] == 0.5  # 0.75 if only one attack were counted
    run = worst_case(m, x, y, [first, second], 0.1)  # the combiner itself, fn(x, y)
    assert run.robust.tolist() == [False, False, True, True]
    assert run.after == {"first": 0.75, "second": 0.5}
    assert predict(m, run.x_adv).tolist() == [1, 0, 0, 1]
    with pytest.raises(ValueError, match="outside the threat model"):
        robustness(m, x, y, 0.1, attacks=(("too_far", _shift(0.4, 0.5, 0.2)),))


def test_autoattack_runs_members_on_the_points_still_robust():
    m, x = linear_model(), edge_inputs(8)
    y = predict(m, x)
    ens = build_autoattack(m, 0.04, n_classes=10, version=TINY_AA)
    run = ens.run(x, y)
    assert list(run.after) == ["apgd-ce", "apgd-t", "fab-t", "square"]
    after = list(run.after.values())
    assert all(b <= a for a, b in zip(after, after[1:])), after
    assert torch.equal(run.robust, predict(m, run.x_adv) == y)
    assert after[-1] == run.robust.float().mean().item()


class OneDim(nn.Module):
    """A 1-D convolution on signals (N, 2, 40), which refuses any other shape (no silent reshape)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv, self.lin = nn.Conv1d(2, 4, 5), nn.Linear(4 * 36, 10)

    def forward(self, x):
        assert x.dim() == 3 and x.shape[1:] == (2, 40), x.shape
        return self.lin(torch.relu(self.conv(x)).flatten(1))


@pytest.mark.parametrize("shape, model", [((2, 40), OneDim), ((40,), lambda: linear_model(shape=(40,)))],
                         ids=["signal", "features"])
def test_autoattack_attacks_inputs_that_are_not_images(shape, model):
    """torchattacks' members assume (N, C, H, W) images: a signal or a feature vector is attacked as a
    square image the model never sees, every member runs, and the adversarial inputs keep the input's
    shape inside the threat model."""
    from gkl.attacks.threat import _AsSquareImage

    m = model().eval()
    x = torch.rand(12, *shape, generator=torch.Generator().manual_seed(3))
    view = _AsSquareImage(m, shape)
    img = view.to_image(x)
    assert img.shape == (12, view.channels, 7, 7)  # 40 values per channel on a 7 x 7 grid, 9 padded
    assert torch.equal(view.from_image(img), x) and torch.allclose(view(img), m(x), atol=1e-6)
    y = predict(m, x)
    run = build_autoattack(m, 0.1, n_classes=10, version=TINY_AA).run(x, y)
    assert list(run.after) == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert run.x_adv.shape == x.shape and (run.x_adv - x).abs().max() <= 0.1 + 1e-6
    assert torch.equal(run.robust, predict(m, run.x_adv) == y) and run.robust.float().mean() < 1


# ---------------------------------------------------------------- AutoAttack's configuration


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_standard_autoattack_is_the_official_configuration(norm):
    m = linear_model(n_classes=100)
    ens = build_autoattack(m, 8 / 255, norm, n_classes=100, version="standard", seed=7)
    assert ens.budget == STANDARD_AUTOATTACK and ens.version == "standard"
    assert ens.names == ("apgd-ce", "apgd-t", "fab-t", "square")
    (_, ce), (_, apgdt), (_, fab), (_, sq) = ens.members
    assert type(ce) is torchattacks.APGD and type(apgdt) is torchattacks.APGDT
    assert type(fab) is torchattacks.FAB and type(sq) is torchattacks.Square
    for a in (ce, apgdt, fab, sq):
        assert a.n_restarts == 1 and a.seed == 7 and a.eps == 8 / 255
        assert a.norm == {"linf": "Linf", "l2": "L2"}[norm]
    assert ce.loss == "ce" and ce.steps == 100
    assert apgdt.steps == 100 and apgdt.n_target_classes == 9  # torchattacks' default would be 99
    assert fab.multi_targeted and fab.steps == 100 and fab.n_target_classes == 9
    assert sq.n_queries == 5000 and sq.p_init == 0.8 and sq.loss == "margin" and not sq.rescale_schedule
    assert ens.label == autoattack_label("standard")
    assert ens.label.startswith("AutoAttack (standard:") and "100 it., 9 targets, 5000 queries" in ens.label


def test_fast_autoattack_is_a_labelled_reduced_budget():
    m = linear_model(n_classes=10)
    ens = build_autoattack(m, 0.1, n_classes=5, version="fast")
    (_, ce), (_, apgdt), (_, fab), (_, sq) = ens.members
    assert (ce.steps, apgdt.steps, fab.steps, sq.n_queries) == (20, 20, 20, 1000)
    assert apgdt.n_target_classes == fab.n_target_classes == 3
    assert ens.budget == FAST_AUTOATTACK
    assert build_autoattack(m, 0.1, n_classes=5).members[1][1].n_target_classes == 4  # min(9, C - 1)
    labels = {autoattack_label("standard"), autoattack_label("fast"), autoattack_label(TINY_AA)}
    assert len(labels) == 3
    assert autoattack_label("fast").startswith("AutoAttack-fast (reduced budget")
    assert autoattack_label(TINY_AA).startswith("AutoAttack-custom")
    assert autoattack_label(AutoAttackBudget()) == autoattack_label("standard")
    assert attacks.attack_label("autoattack_fast") == autoattack_label("fast")
    with pytest.raises(ValueError, match="n_classes >= 4"):
        build_autoattack(m, 0.1, n_classes=3)
    with pytest.raises(ValueError, match="unknown AutoAttack version"):
        build_autoattack(m, 0.1, version="plus")
    with pytest.raises(ValueError, match="square_queries"):
        autoattack(m, edge_inputs(2), torch.tensor([0, 1]), 0.1, square_queries=100)
    with pytest.raises(ValueError, match="apgd_steps"):
        AutoAttackBudget(apgd_steps=0)


# ---------------------------------------------------------------- invariants on a trained model


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 1.0)])
def test_pgd_lowers_accuracy(trained, norm, eps):
    m, x, y = trained
    xa = pgd(m, x, y, eps, steps=10, norm=norm, seed=0)
    assert_in_threat_model(xa, x, eps, norm)
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


def test_attacks_restore_model_mode_grads_and_caller_rng(trained):
    m, x, y = trained
    grads = [torch.full_like(p, 0.5) for p in m.parameters()]
    for p, g in zip(m.parameters(), grads):
        p.grad = g
    for mode in (True, False):
        m.train(mode)
        torch.manual_seed(123)
        pgd(m, x[:8], y[:8], 0.1, steps=2, seed=0)
        autoattack(m, x[:8], y[:8], 0.1, seed=0, version=TINY_AA)
        gradient_masking_check(m, x[:8], y[:8], 0.1, n_queries=20, seed=0, version=TINY_AA)
        assert m.training is mode
        after = torch.rand(3)
        torch.manual_seed(123)
        assert torch.equal(after, torch.rand(3))  # seeded attacks leave the global stream untouched
    m.eval()
    # the very same gradient tensors, unchanged (torchattacks' backward() would accumulate into them)
    assert all(p.grad is g and bool((g == 0.5).all()) for p, g in zip(m.parameters(), grads))
    for p in m.parameters():
        p.grad = None


def test_robustness_reports_clean_pgd_and_autoattack(trained):
    m, x, y = trained
    r = robustness(m, x[:40], y[:40], 0.1, attacks=("pgd", "autoattack_fast"), pgd_steps=10, seed=0)
    assert r["n"] == 40 and set(r) == {"n", "clean_acc", "pgd_acc", "autoattack_fast_acc", "robust_acc"}
    assert r["robust_acc"] <= min(r["pgd_acc"], r["autoattack_fast_acc"])
    assert max(r["pgd_acc"], r["autoattack_fast_acc"]) <= r["clean_acc"]
    assert r["autoattack_fast_acc"] < r["clean_acc"]
    again = robustness(m, x[:40], y[:40], 0.1, attacks=("autoattack_fast",), seed=0)
    assert again["autoattack_fast_acc"] == r["autoattack_fast_acc"]  # seeded
    with pytest.raises(ValueError, match="unknown attack"):
        robustness(m, x, y, 0.1, attacks=("fgsm",))
    with pytest.raises(ValueError, match="square_queries"):
        robustness(m, x, y, 0.1, attacks=("autoattack",), square_queries=100)
    with pytest.raises(ValueError, match="epsilon"):
        pgd(m, x, y, -0.1)


# ---------------------------------------------------------------- gradient masking


@pytest.mark.parametrize("broken_only,masked", [(1, False), (2, False), (3, True), (30, True)])
def test_masking_verdict_is_the_share_broken_only_by_the_black_box(broken_only, masked):
    # accuracies chosen to contradict the share: only blackbox_only / n against tolerance decides
    rep = MaskingReport(n=100, clean_acc=0.9, whitebox_acc=0.5, blackbox_acc=0.1 if not masked else 0.5,
                        blackbox_only=broken_only, tolerance=0.02)
    assert rep.masked is masked
    assert rep.verdict == ("gradient masking suspected" if masked else "no sign of gradient masking")
    text = str(rep)
    assert rep.verdict in text and f"{broken_only}/100" in text and "tolerance 2.0%" in text
    assert MaskingReport(n=0, clean_acc=0, whitebox_acc=0, blackbox_acc=0, blackbox_only=0).masked is False


def test_gradient_masking_is_caught_by_the_black_box_attack(trained):
    m, x, y = trained
    masked = InputQuantizer(m, levels=4)
    xs, ys = x[:60], y[:60]
    # the quantiser blocks gradients: white-box attacks see nothing
    xx = xs.clone().requires_grad_(True)
    masked(xx).sum().backward()
    assert float(xx.grad.abs().max()) == 0.0
    report = gradient_masking_check(masked, xs, ys, 0.1, n_queries=200, seed=0, version="fast")
    assert report.masked, str(report)
    assert report.blackbox_only / report.n > report.tolerance
    honest = gradient_masking_check(m, xs, ys, 0.1, n_queries=200, seed=0, version="fast")
    assert not honest.masked, str(honest)
    assert "Square, 200 queries" in str(honest) and honest.verdict in str(honest)


def test_l2_projection_leaves_points_inside_the_ball_alone():
    delta = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    norms = delta.flatten(1).norm(dim=1)
    eps = float(norms.median())
    out = threat._project(delta, eps, "l2")
    inside = norms < 0.999 * eps
    assert torch.equal(out[inside], delta[inside])  # not pushed onto the sphere
    outside = norms > 1.001 * eps
    torch.testing.assert_close(out[outside].flatten(1).norm(dim=1), torch.full((int(outside.sum()),), eps))


def test_threat_model_clean_up_projects_then_clamps_to_the_box():
    x = torch.full((2, 1, 4, 4), 0.95)
    xa = x + 0.5  # outside the ball and the box
    out = threat._into_threat_model(xa, x, 0.1, "linf")
    assert float(out.max()) <= 1.0 and float(out.min()) >= 0.0
    torch.testing.assert_close(out, torch.ones_like(x))


def test_trades_default_step_is_a_quarter_of_epsilon_and_the_start_is_random():
    """One step from x + 0.001·N(0, I) moves every pixel by ε/4 (sign step), and TRADES' own KL has
    zero gradient at x itself, so a start exactly at x would never move."""
    torch.manual_seed(0)
    model = linear_model()
    x = 0.25 + 0.5 * torch.rand(4, 1, 8, 8)
    xa = attacks.trades_perturb(model, x, lambda a, c: kl_div(a, c), eps=0.2, steps=1)
    step = (xa - x).abs()
    assert torch.allclose(step, torch.full_like(step, 0.05), atol=6e-3)  # ε/4, plus the 0.001·N(0, 1) start
    xr = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(kl_div(model(xr), model(x).detach()), xr)
    assert float(g.abs().max()) < 1e-6  # why the random start matters


def test_importing_attacks_does_not_import_torchattacks():
    """torchattacks is imported only when an AutoAttack member is built."""
    import subprocess
    import sys

    code = "import sys, gkl.attacks; print('torchattacks' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
