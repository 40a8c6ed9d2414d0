"""Training a student through the engine (gkl/methods/distill/train.py): resume equals the uninterrupted
run, the checkpoint holds one class prior, rolled for the next epoch."""

from __future__ import annotations

import pytest
import torch

from gkl.methods.distill import distill_config
from gkl.methods.distill.train import train_student
from gkl.training import read_metrics
from tests.conftest import DIGITS_TRAIN, MLP_S


@pytest.mark.parametrize("method", [pytest.param("kd", marks=pytest.mark.slow), pytest.param("dkd", marks=pytest.mark.slow), "gkl"])
def test_resume_matches_uninterrupted_run(tmp_path, digits_teacher, method):
    cfg = {"kd": distill_config("kd"), "dkd": distill_config("dkd", warmup=2),
           "gkl": distill_config("gkl", gamma=0.3, beta=2.0, prior=True, warmup=2)}[method]
    kw = dict(distill=cfg, teacher=digits_teacher, augment="mix")
    full = train_student("digits", "mnist1d_mlp", MLP_S, DIGITS_TRAIN, out_dir=tmp_path / "full", **kw)
    train_student("digits", "mnist1d_mlp", MLP_S, DIGITS_TRAIN, out_dir=tmp_path / "cut", stop_after=1, **kw)
    assert len(read_metrics(tmp_path / "cut")) == 1
    resumed = train_student("digits", "mnist1d_mlp", MLP_S, DIGITS_TRAIN, out_dir=tmp_path / "cut", resume=True, **kw)
    strip = lambda hs: [{k: v for k, v in h.items() if k != "time_s"} for h in hs]  # noqa: E731
    assert strip(resumed.history) == strip(full.history)
    row = read_metrics(tmp_path / "full")[-1]
    assert {"epoch", "train_loss", "test_acc", "train_ce"} <= set(row)
    assert (tmp_path / "full" / "checkpoint.pt").is_file()


def test_checkpoint_holds_one_prior_rolled_for_the_next_epoch(tmp_path, digits_teacher):
    cfg = distill_config("gkl", gamma=0.3, beta=2.0, prior=True, warmup=2)
    train_student("digits", "mnist1d_mlp", MLP_S, DIGITS_TRAIN, distill=cfg, teacher=digits_teacher,
                  out_dir=tmp_path / "run", stop_after=1)
    ck = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    obj = ck["objective"]
    found = []

    def walk(x, path):
        if isinstance(x, dict):
            if "current" in x or "sums" in x:
                found.append(path)
            for k, v in x.items():
                walk(v, path + (k,))

    walk(ck, ())
    assert found == [("objective", "states", "prior")], found  # one copy of the prior state
    prior = obj["states"]["prior"]
    assert float(prior["counts"].sum()) == 0 and float(prior["sums"].abs().sum()) == 0  # rolled: statistics restart
    cur = prior["current"]
    assert torch.allclose(cur.sum(1), torch.ones(10)) and not torch.allclose(cur, torch.full((10, 10), 0.1))
