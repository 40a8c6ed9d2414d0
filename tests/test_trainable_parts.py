"""A method's own trainable parts: the engine builds the student, and a distiller may declare modules
of its own (FitNet's regressors, CRD's embeddings) that train, checkpoint and resume with it."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gkl.methods.distill import DISTILLERS, DistillConfig, Distiller, param
from gkl.methods.distill.train import train_student
from gkl.training.checkpoint import load_checkpoint
from tests.conftest import DIGITS_TRAIN, MLP_S


@dataclasses.dataclass
class HeadConfig(DistillConfig):
    hint_weight: float = param(0.5, "weight of the hint term")


class HeadDistiller(Distiller):
    """A throw-away distiller with a trainable part: a linear map of the student's logits regressed
    onto the teacher's (the shape of FitNet's regressor, on logits)."""

    name = "head-hint"
    label = "Head hint"
    Config = HeadConfig

    def trainable_modules(self, student: nn.Module) -> dict[str, nn.Module]:
        return {"regressor": nn.Linear(10, 10)}

    def kd_terms(self, student_logits: Tensor, teacher_logits: Tensor, targets: Tensor, epoch: int,
                 training: bool) -> dict[str, Tensor]:
        return {"hint": self.config.hint_weight * F.mse_loss(self.extra["regressor"](student_logits), teacher_logits)}


@pytest.fixture
def head_hint():
    DISTILLERS.register(HeadDistiller)
    try:
        yield HeadConfig()
    finally:
        DISTILLERS.unregister("head-hint")


def test_a_distillers_own_modules_train_checkpoint_and_resume_exactly(tmp_path, digits_teacher, head_hint):
    kw = dict(distill=head_hint, teacher=digits_teacher)
    full = train_student("digits", "mnist1d_mlp", MLP_S, DIGITS_TRAIN, out_dir=tmp_path / "full", **kw)
    ck = load_checkpoint(tmp_path / "full" / "checkpoint.pt", map_location="cpu")
    assert set(ck["trainable"]) == {"regressor.weight", "regressor.bias"}
    # the optimiser holds the student's parameters and the regressor's (a state for each)
    n_student = sum(1 for _ in full.model.parameters())
    assert len(ck["optimizer"]["state"]) == n_student + 2
    train_student("digits", "mnist1d_mlp", MLP_S, DIGITS_TRAIN, out_dir=tmp_path / "cut", stop_after=1, **kw)
    resumed = train_student("digits", "mnist1d_mlp", MLP_S, DIGITS_TRAIN, out_dir=tmp_path / "cut", **kw)
    strip = lambda hs: [{k: v for k, v in h.items() if k != "time_s"} for h in hs]  # noqa: E731
    assert strip(resumed.history) == strip(full.history) and "train_hint" in full.history[-1]
    again = load_checkpoint(tmp_path / "cut" / "checkpoint.pt", map_location="cpu")
    assert torch.equal(again["trainable"]["regressor.weight"], ck["trainable"]["regressor.weight"])


def test_a_checkpoint_without_the_trainable_parts_is_a_clear_error(tmp_path, digits_teacher, head_hint):
    kw = dict(distill=head_hint, teacher=digits_teacher)
    train_student("digits", "mnist1d_mlp", MLP_S, DIGITS_TRAIN, out_dir=tmp_path / "r", stop_after=1, **kw)
    ck = load_checkpoint(tmp_path / "r" / "checkpoint.pt", map_location="cpu")
    del ck["trainable"]
    torch.save(ck, tmp_path / "r" / "checkpoint.pt")
    with pytest.raises(ValueError, match="lacks the objective's trainable modules"):
        train_student("digits", "mnist1d_mlp", MLP_S, DIGITS_TRAIN, out_dir=tmp_path / "r", **kw)
