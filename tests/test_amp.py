"""Mixed precision: the engine's ``amp`` option and the losses' own precision under CPU autocast."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import gkl
from gkl.data import TensorDataset
from gkl.training import Objective, StepOutput, TrainConfig, fit

torch.set_num_threads(1)


@pytest.mark.parametrize("loss", ["kl_div", "gkl", "gkl_prior"])
def test_losses_compute_in_float32_from_bf16_logits_under_autocast(loss):
    torch.manual_seed(0)
    lin = nn.Linear(16, 10)
    x, y = torch.randn(32, 16), torch.arange(32) % 10
    prior = torch.softmax(torch.randn(10, 10), 1)
    fns = {
        "kl_div": lambda s, t: gkl.kl_div(s, t, 4.0),
        "gkl": lambda s, t: gkl.gkl(s, t, gamma=0.2, temperature=4.0, weight_temperature=4.0),
        "gkl_prior": lambda s, t: gkl.gkl(s, t, y, prior, beta=8.0, gamma=0.2, temperature=4.0),
    }
    with torch.autocast("cpu", dtype=torch.bfloat16):
        s = lin(x)
        t = lin(x + 0.1).detach()
        out = fns[loss](s, t)
    assert s.dtype == torch.bfloat16 and out.dtype == torch.float32
    # exactly the float32 computation on the same (bf16-rounded) logits
    want = fns[loss](s.detach().float(), t.float())
    torch.testing.assert_close(out.detach(), want, rtol=1e-6, atol=1e-6)
    out.backward()
    assert torch.isfinite(lin.weight.grad).all() and lin.weight.grad.abs().sum() > 0


class _CE(Objective):
    def loss_terms(self, model, inputs, targets, ctx):
        logits = model(inputs)
        self.dtype = logits.dtype
        return StepOutput({"ce": nn.functional.cross_entropy(logits, targets)}, logits=logits)


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def test_engine_trains_under_bf16_autocast_and_resumes(tmp_path):
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.rand(128, 1, 8, 8, generator=g), torch.randint(0, 10, (128,), generator=g))
    obj = _CE()
    cfg = TrainConfig(epochs=2, batch_size=32, lr=0.1, progress=False, amp="bf16")
    hist = fit(_net, obj, data, data, cfg, tmp_path / "a")
    assert obj.dtype == torch.bfloat16 and all(torch.isfinite(torch.tensor(m["train_loss"])) for m in hist)
    fp32 = fit(_net, _CE(), data, data, TrainConfig(epochs=2, batch_size=32, lr=0.1, progress=False))
    assert abs(hist[-1]["train_loss"] - fp32[-1]["train_loss"]) < 0.1  # same training, lower precision
    fit(_net, _CE(), data, data, cfg, tmp_path / "b", stop_after=1)
    resumed = fit(_net, _CE(), data, data, cfg, tmp_path / "b", resume=True)
    strip = lambda h: [{k: v for k, v in m.items() if k != "time_s"} for m in h]  # noqa: E731
    assert strip(resumed) == strip(hist)
    with pytest.raises(ValueError, match="amp"):
        TrainConfig(amp="fp8")
