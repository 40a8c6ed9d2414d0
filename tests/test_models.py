"""Models: registry, logits, normalisation inside the model, architecture sizes."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gkl.models import Normalize, available_models, build_model, register_model

torch.set_num_threads(1)  # small ops: threads only contend on a shared 2-core machine


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_registry_lists_every_family():
    names = set(available_models())
    assert {"small_cnn", "preact_resnet18", "wide_resnet", "wrn34_10", "wrn28_10"} <= names
    with pytest.raises(ValueError, match="unknown model"):
        build_model("no_such_net", 10)
    with pytest.raises(ValueError, match="num_classes"):
        build_model("small_cnn", 1)
    with pytest.raises(ValueError, match="already registered"):
        register_model("small_cnn")(lambda num_classes: nn.Linear(1, num_classes))


def test_small_cnn_returns_logits_and_normalises_inside():
    torch.manual_seed(0)
    m = build_model("small_cnn", 10, mean=(0.3,), std=(0.2,))
    x = torch.rand(5, 1, 8, 8)
    out = m(x)
    assert out.shape == (5, 10) and not torch.allclose(out.softmax(1).sum(1), out.sum(1))
    # the first layer normalises: a model with mean 0 / std 1 fed normalised inputs agrees
    ref = build_model("small_cnn", 10)
    ref.load_state_dict(m.state_dict() | {"features.0.mean": torch.zeros(1), "features.0.std": torch.ones(1)})
    assert torch.allclose(ref((x - 0.3) / 0.2), out, atol=1e-6)
    m.eval()
    assert torch.allclose(m(x), out)  # no batch norm / dropout: same function in eval mode


@pytest.mark.parametrize("size", [2, 3, 5])
def test_small_cnn_pool_is_adaptive_avg_pool_bit_for_bit(size):
    """The pooling shortcut (an input already 2×2 passes through) changes nothing: values and
    input gradients equal nn.AdaptiveAvgPool2d's exactly, at the default size and others."""
    from gkl.models.small import _PoolTo

    torch.manual_seed(size)
    x = torch.randn(4, 3, size, size, dtype=torch.float64)
    g = torch.randn(4, 3, 2, 2, dtype=torch.float64)
    outs = []
    for pool in (_PoolTo(2), nn.AdaptiveAvgPool2d(2)):
        xi = x.clone().requires_grad_(True)
        y = pool(xi)
        y.backward(g)
        outs.append((y.detach(), xi.grad))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])


def test_mnist1d_pool_is_max_pool1d_bit_for_bit():
    """The CNN1d's pooling equals F.max_pool1d exactly, values and gradients, with ties and NaNs
    (ties go to the first element of a pair, a NaN wins), and so does a whole training step."""
    from gkl.models import mnist1d

    torch.manual_seed(0)
    x = torch.relu(torch.randn(8, 3, 12))
    x[:, :, 4] = x[:, :, 5]  # ties
    x[0, 0, 7] = x[0, 1, 2] = float("nan")
    x[0, 2, 2:4] = float("nan")
    g = torch.randn(8, 3, 6)
    got, want = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    y1, y2 = mnist1d.max_pool2(got), F.max_pool1d(want, 2)
    y1.backward(g)
    y2.backward(g)
    assert torch.equal(y1.nan_to_num(), y2.nan_to_num()) and torch.equal(got.grad, want.grad)
    model = build_model("mnist1d_cnn", 10, width=8, batchnorm=True)
    inputs = torch.randn(16, 1, 40)
    grads = []
    for pool in (mnist1d.max_pool2, lambda t: F.max_pool1d(t, 2)):
        model.zero_grad()
        original = mnist1d.max_pool2
        mnist1d.max_pool2 = pool
        try:
            F.cross_entropy(model(inputs), torch.arange(16) % 10).backward()
        finally:
            mnist1d.max_pool2 = original
        grads.append([p.grad.clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads))


def test_normalize_layer():
    n = Normalize((0.5, 0.25, 0.0), (0.5, 0.5, 2.0))
    x = torch.rand(2, 3, 4, 4)
    want = (x - torch.tensor([0.5, 0.25, 0.0]).view(1, 3, 1, 1)) / torch.tensor([0.5, 0.5, 2.0]).view(1, 3, 1, 1)
    assert torch.allclose(n(x), want)
    assert "mean" in dict(n.named_buffers())
    with pytest.raises(ValueError):
        Normalize((0.0,), (0.0,))


def test_preact_resnet18_shape_and_size():
    m = build_model("preact_resnet18", 10, width=8)
    assert m(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    assert 11.1e6 < n_params(build_model("preact_resnet18", 10)) < 11.2e6  # the usual 11.17 M


def test_wide_resnet_definitions():
    small = build_model("wide_resnet", 100, depth=10, widen_factor=1)
    assert small(torch.rand(2, 3, 32, 32)).shape == (2, 100)
    assert 46.1e6 < n_params(build_model("wrn34_10", 10)) < 46.2e6  # WRN-34-10: 46.16 M
    assert 36.4e6 < n_params(build_model("wrn28_10", 10)) < 36.5e6  # WRN-28-10: 36.48 M
    with pytest.raises(ValueError, match="6n"):
        build_model("wide_resnet", 10, depth=33)
