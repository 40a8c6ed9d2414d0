"""The released recipe's options: AWP, checkpoint averaging, resume with data-loader workers, the
non-finite-loss guard."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from gkl.data import TensorDataset
from gkl.methods.adversarial import AdversarialConfig, load_trained, train_adversarial
from gkl.training import Objective, StepOutput, TrainConfig, fit
from gkl.training.awp import AdversarialWeightPerturbation, perturbed_parameters

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def digits(digits_data):
    tr, te, info = digits_data
    return tr.subset(96), te.subset(32), info


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))


def strip(history):
    return [{k: v for k, v in m.items() if k != "time_s"} for m in history]


# -- AWP -----------------------------------------------------------------------------------------
def test_awp_perturbs_each_weight_by_its_relative_size_and_restores_exactly():
    net = small_net().train()
    x, y = torch.rand(8, 1, 8, 8), torch.arange(8)
    before = copy.deepcopy(net.state_dict())
    awp = AdversarialWeightPerturbation(net, gamma=0.005)
    assert awp.names == ["0.weight", "4.weight"] == perturbed_parameters(net)  # no biases, no BN
    loss_fn = lambda m: nn.functional.cross_entropy(m(x), y)  # noqa: E731
    v = awp.perturb(loss_fn)
    params = dict(net.named_parameters())
    for name in awp.names:
        rel = (params[name] - before[name]).norm() / before[name].norm()
        assert rel.item() == pytest.approx(0.005, rel=1e-5)
    assert torch.equal(params["0.bias"], before["0.bias"])
    # buffers (BN running statistics) are untouched by the proxy pass
    assert all(torch.equal(net.state_dict()[k], before[k]) for k in before if "running" in k)
    awp.restore()  # bit for bit
    assert all(torch.equal(net.state_dict()[k], before[k]) for k in before) and not awp.active
    # the direction increases the loss (first order): <v, grad L> > 0
    probe = copy.deepcopy(net)
    g = torch.autograd.grad(loss_fn(probe), [dict(probe.named_parameters())[n] for n in awp.names])
    assert sum((vi * gi).sum() for vi, gi in zip(v.values(), g)) > 0
    with pytest.raises(ValueError, match="gamma"):
        AdversarialWeightPerturbation(net, gamma=0)


def test_awp_restore_is_exact_after_a_training_step(digits):
    """After perturb → backward → restore, the weights are the saved ones bit for bit (the optimiser
    then steps from them with the gradient taken at the perturbed point)."""
    net = small_net().train()
    x, y = torch.rand(8, 1, 8, 8), torch.arange(8)
    saved = {k: v.clone() for k, v in net.state_dict().items()}
    awp = AdversarialWeightPerturbation(net, 0.01)
    awp.perturb(lambda m: nn.functional.cross_entropy(m(x), y))
    nn.functional.cross_entropy(net(x), y).backward()
    awp.restore()
    params = dict(net.named_parameters())
    assert all(torch.equal(params[n], saved[n]) for n in awp.names)
    assert all(p.grad is not None for p in net.parameters())


def test_awp_changes_training_and_resumes_exactly(tmp_path, digits):
    adv = AdversarialConfig.for_method("trades", epsilon=0.1, attack_steps=1, awp_gamma=0.005, awp_warmup=2)
    plain = AdversarialConfig.for_method("trades", epsilon=0.1, attack_steps=1)
    train = TrainConfig(epochs=3, batch_size=32, lr=0.05, progress=False)
    kw = {"data": digits, "model_kwargs": {"widths": [8, 16]}}
    _, full = train_adversarial("digits", "small_cnn", adv, train, tmp_path / "a", **kw)
    _, no_awp = train_adversarial("digits", "small_cnn", plain, train, None, **kw)
    assert [m["awp"] for m in full] == [0, 1, 1] and [m["awp"] for m in no_awp] == [0, 0, 0]
    assert strip(full)[0] == {**strip(no_awp)[0], "awp": 0}  # identical before AWP starts ...
    assert full[-1]["train_loss"] != no_awp[-1]["train_loss"]  # ... and different once it runs
    train_adversarial("digits", "small_cnn", adv, train, tmp_path / "b", stop_after=2, **kw)
    _, resumed = train_adversarial("digits", "small_cnn", adv, train, tmp_path / "b", resume=True, **kw)
    assert strip(resumed) == strip(full)


# -- checkpoint averaging ----------------------------------------------------------------------------
def test_checkpoint_averaging_is_the_released_ema_and_survives_resume(tmp_path, digits):
    adv = AdversarialConfig.for_method("gkl", epsilon=0.1, attack_steps=1)
    train = TrainConfig(epochs=3, batch_size=32, lr=0.05, progress=False, ema_decay=0.9)
    kw = {"data": digits, "model_kwargs": {"widths": [8, 16]}}
    snapshots = []
    import gkl.training.loop as E

    real = E.make_averaged

    def spy(model, decay):  # record each epoch's weights (parameters and buffers) as they are averaged
        avg = real(model, decay)
        update = avg.update_parameters

        def record(m):
            snapshots.append({k: v.detach().clone() for k, v in m.state_dict().items()})
            update(m)

        avg.update_parameters = record
        return avg

    E.make_averaged = spy
    try:
        model, full = train_adversarial("digits", "small_cnn", adv, train, tmp_path / "a", **kw)
    finally:
        E.make_averaged = real
    assert len(snapshots) == 3
    want = {k: snapshots[0][k].double() for k in snapshots[0]}  # w ← 0.1·w_epoch + 0.9·w, from epoch 1
    for snap in snapshots[1:]:
        want = {k: 0.9 * want[k] + 0.1 * snap[k].double() for k in want}
    got = model.state_dict()
    for k, v in want.items():
        if v.is_floating_point() and "num_batches" not in k:
            torch.testing.assert_close(got[k].double(), v, rtol=1e-5, atol=1e-6)
    assert {"ema_clean_acc", "ema_robust_acc"} <= set(full[-1]) and "ema_clean_acc" not in full[0]
    train_adversarial("digits", "small_cnn", adv, train, tmp_path / "b", stop_after=2, **kw)
    resumed_model, resumed = train_adversarial("digits", "small_cnn", adv, train, tmp_path / "b", resume=True, **kw)
    assert strip(resumed) == strip(full)
    assert all(torch.equal(a, b) for a, b in zip(resumed_model.state_dict().values(), model.state_dict().values()))
    loaded, _ = load_trained(tmp_path / "b")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    last, _ = load_trained(tmp_path / "b", weights="last")
    assert any(not torch.equal(a, b) for a, b in zip(last.state_dict().values(), model.state_dict().values()))


# -- resume with data-loader workers ------------------------------------------------------------------
class _Plain(Objective):
    def loss_terms(self, model, inputs, targets, ctx):
        logits = model(inputs)
        return StepOutput({"ce": nn.functional.cross_entropy(logits, targets)}, logits=logits)


def test_resume_is_exact_with_augmenting_workers(tmp_path):
    g = torch.Generator().manual_seed(0)
    train = TensorDataset(torch.rand(64, 1, 8, 8, generator=g), torch.randint(0, 10, (64,), generator=g),
                          augment=True, pad=2)
    cfg = TrainConfig(epochs=3, batch_size=16, lr=0.05, num_workers=2, progress=False)
    full = fit(small_net, _Plain(), train, None, cfg, tmp_path / "a")
    fit(small_net, _Plain(), train, None, cfg, tmp_path / "b", stop_after=1)
    resumed = fit(small_net, _Plain(), train, None, cfg, tmp_path / "b", resume=True)
    assert strip(resumed) == strip(full)
    with pytest.raises(ValueError, match="num_workers"):
        fit(small_net, _Plain(), train, None, TrainConfig(epochs=3, batch_size=16, lr=0.05, num_workers=0,
                                                           progress=False), tmp_path / "b", resume=True)


# -- the non-finite-loss guard ------------------------------------------------------------------------
class _Explodes(Objective):
    def __init__(self, at_step):
        self.at_step = at_step

    def loss_terms(self, model, inputs, targets, ctx):
        logits = model(inputs)
        loss = nn.functional.cross_entropy(logits, targets)
        if ctx.step == self.at_step:
            loss = loss * float("nan")
        return StepOutput({"ce": loss}, logits=logits)


@pytest.mark.parametrize("every,at,window", [(2, 3, "2..3"), (50, 1, "0..3")])
def test_non_finite_loss_is_reported_with_its_step_window(every, at, window):
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.rand(64, 1, 8, 8, generator=g), torch.randint(0, 10, (64,), generator=g))
    cfg = TrainConfig(epochs=1, batch_size=16, lr=0.05, progress=False, nan_check_every=every)
    with pytest.raises(FloatingPointError, match=f"non-finite loss \\(ce\\) at epoch 1, in steps {window}"):
        fit(small_net, _Explodes(at), data, None, cfg)
