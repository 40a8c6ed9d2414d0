"""The training engine: determinism, metrics, checkpoints, resume after a kill at any point."""

import json

import pytest
import torch
import torch.nn.functional as F

from gkl.models import build_model
from gkl.training import Objective, StepOutput, TrainConfig, default_runs_dir, fit, read_metrics
from gkl.training.checkpoint import load_checkpoint, save_checkpoint
from gkl.training.device import determinism_status, get_device, seed_everything

torch.set_num_threads(1)  # small ops: threads only contend on a shared 2-core machine


class CE(Objective):
    def __init__(self, crash_at=None):
        self.crash_at = crash_at

    def loss_terms(self, model, x, y, ctx):
        if self.crash_at is not None and (ctx.epoch, ctx.step % ctx.steps_per_epoch) == self.crash_at:
            raise KeyboardInterrupt("simulated kill")
        logits = model(x)
        # a random term makes the run depend on the RNG state, so resume must restore it
        noise = 1e-3 * torch.randn(()) * logits.mean()
        return StepOutput({"ce": F.cross_entropy(logits, y), "noise": noise}, logits=logits)


@pytest.fixture(scope="module")
def digits(digits_data):
    tr, te, info = digits_data
    return tr.subset(256), te.subset(100), info


def factory(info):
    return lambda: build_model("small_cnn", 10, mean=info.mean, std=info.std, widths=(8, 16))


def cfg(**kw):
    base = dict(epochs=3, batch_size=32, lr=0.05, progress=False, seed=7)
    base.update(kw)
    return TrainConfig(**base)


def strip(history):
    return [{k: v for k, v in m.items() if k != "time_s"} for m in history]


def test_device_helper():
    assert get_device("cpu") == torch.device("cpu")
    assert get_device(None).type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="not a device"):
        get_device("banana")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            get_device("cuda")


def test_determinism_settings_really_take_effect():
    seed_everything(0, deterministic=True)
    s = determinism_status()
    assert s["deterministic_algorithms"] and s["cudnn_deterministic"] and not s["cudnn_benchmark"]
    a = torch.rand(3)
    seed_everything(0, deterministic=False)
    assert not determinism_status()["deterministic_algorithms"]
    assert torch.equal(a, torch.rand(3))
    seed_everything(0)


def test_two_runs_give_identical_metrics(tmp_path, digits):
    tr, te, info = digits
    h1 = fit(factory(info), CE(), tr, te, cfg(), tmp_path / "a")
    h2 = fit(factory(info), CE(), tr, te, cfg(), tmp_path / "b")
    assert strip(h1) == strip(h2)
    assert [m["epoch"] for m in h1] == [1, 2, 3]
    assert {"epoch", "lr", "train_loss", "train_ce", "train_noise", "train_acc", "clean_acc", "time_s"} <= set(h1[0])
    assert h1[-1]["lr"] == pytest.approx(0.0)  # cosine to zero
    assert strip(read_metrics(tmp_path / "a")) == strip(h1)
    h3 = fit(factory(info), CE(), tr, te, cfg(seed=8), tmp_path / "c")
    assert strip(h3) != strip(h1)


@pytest.mark.parametrize("kill", ["between_epochs", "mid_epoch"])
def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path, digits, kill):
    tr, te, info = digits
    full = fit(factory(info), CE(), tr, te, cfg(), tmp_path / "full")
    out = tmp_path / "killed"
    if kill == "between_epochs":
        fit(factory(info), CE(), tr, te, cfg(), out, stop_after=1)
    else:
        with pytest.raises(KeyboardInterrupt):
            fit(factory(info), CE(crash_at=(2, 3)), tr, te, cfg(), out)
    assert len(read_metrics(out)) == 1  # only the finished epoch survives
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1
    resumed = fit(factory(info), CE(), tr, te, cfg(progress=True), out, resume=True)
    assert strip(resumed) == strip(full)
    assert strip(read_metrics(out)) == strip(full)


def test_sparse_checkpoints_resume_from_the_last_one_written(tmp_path, digits):
    """checkpoint_every = 2 of 3 epochs: a run killed during epoch 3 resumes from epoch 2's checkpoint
    (epoch 1 wrote none) and ends as the uninterrupted run; the last epoch is always saved."""
    tr, te, info = digits
    full = fit(factory(info), CE(), tr, te, cfg(epochs=3, checkpoint_every=2), tmp_path / "full")
    assert load_checkpoint(tmp_path / "full" / "checkpoint.pt")["epoch"] == 3  # the last epoch is saved
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        fit(factory(info), CE(crash_at=(3, 1)), tr, te, cfg(epochs=3, checkpoint_every=2), out)
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 2 and len(read_metrics(out)) == 2
    resumed = fit(factory(info), CE(), tr, te, cfg(epochs=3, checkpoint_every=1), out, resume=True)  # a runtime key
    assert strip(resumed) == strip(full) == strip(read_metrics(out))
    with pytest.raises(ValueError, match="checkpoint_every"):
        cfg(checkpoint_every=0)


def test_checkpoint_contents_and_guards(tmp_path, digits):
    tr, te, info = digits
    out = tmp_path / "run"
    fit(factory(info), CE(), tr, te, cfg(epochs=1), out, meta={"model": "small_cnn"})
    ck = load_checkpoint(out / "checkpoint.pt")
    assert {"model", "optimizer", "scheduler", "objective", "rng", "epoch", "config", "history", "meta"} <= set(ck)
    assert ck["meta"] == {"model": "small_cnn"} and ck["config"]["train"]["epochs"] == 1
    assert not list(out.glob("*.tmp"))  # the atomic write leaves no temporary file
    with pytest.raises(FileExistsError):
        fit(factory(info), CE(), tr, te, cfg(epochs=1), out)
    with pytest.raises(ValueError, match="config differs in train.lr"):
        fit(factory(info), CE(), tr, te, cfg(epochs=1, lr=0.1), out, resume=True)
    other = lambda: build_model("small_cnn", 10, widths=(4,))  # noqa: E731
    with pytest.raises(ValueError, match="another model"):
        fit(other, CE(), tr, te, cfg(epochs=1), out, resume=True)
    (out / "checkpoint.pt").write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="corrupted"):
        fit(factory(info), CE(), tr, te, cfg(epochs=1), out, resume=True)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "none.pt")
    save_checkpoint(tmp_path / "x.pt", {"epoch": 0})
    torch.save({"not": "ours"}, tmp_path / "y.pt")
    with pytest.raises(ValueError, match="not a gkl checkpoint"):
        load_checkpoint(tmp_path / "y.pt")


def test_progress_bar_and_no_output_dir(digits, capsys):
    tr, te, info = digits
    fit(factory(info), CE(), tr, None, cfg(epochs=1, progress=False))
    assert capsys.readouterr().err == ""
    fit(factory(info), CE(), tr, None, cfg(epochs=1, progress=True))
    assert "epoch 1/1" in capsys.readouterr().err


def test_lr_schedules_and_config_validation(digits):
    tr, te, info = digits
    h = fit(factory(info), CE(), tr, None, cfg(epochs=4, schedule="multistep", milestones=(2, 3), lr_decay=0.5))
    assert [round(m["lr"], 6) for m in h] == [0.05, 0.025, 0.0125, 0.0125]
    with pytest.raises(ValueError):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError):
        TrainConfig(schedule="linear")


def test_runs_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("GKL_RUNS_DIR", str(tmp_path))
    assert default_runs_dir() == tmp_path
    monkeypatch.delenv("GKL_RUNS_DIR")
    assert str(default_runs_dir()) == "runs"


def test_objective_state_round_trip(tmp_path, digits):
    from gkl.core.prior import ClassPrior

    class WithPrior(CE):
        def __init__(self):
            super().__init__()
            self.prior = ClassPrior(10, 2.0)

        def states(self):
            return {"prior": self.prior}

        def loss_terms(self, model, x, y, ctx):
            out = super().loss_terms(model, x, y, ctx)
            self.prior.update(out.logits, y)
            return out

    tr, te, info = digits
    obj = WithPrior()
    fit(factory(info), obj, tr, te, cfg(epochs=1), tmp_path)
    saved = load_checkpoint(tmp_path / "checkpoint.pt")["objective"]["states"]["prior"]
    assert float(saved["counts"].sum()) == len(tr)
    assert json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])["epoch"] == 1
