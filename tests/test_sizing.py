"""GPU profiles sized by the stated rule (gkl.experiments.sizing): FLOP counts, the fitting
arithmetic, measured epoch times taking over from the estimate, and the profiles' epochs."""

import json

import pytest
import torch

from gkl.experiments import sizing
from gkl.experiments.adversarial import PROFILES as AT_PROFILES
from gkl.experiments.adversarial.profiles import gpu_sizing as gpu_sizing_at
from gkl.experiments.distill import profiles as distill_profiles
from gkl.models import build_model


def test_flops_of_a_linear_layer_are_the_textbook_counts():
    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5, bias=False))
    f = sizing.model_flops(m, (3, 2, 2))
    # forward 2·in·out; backward to the input 2·in·out and to the weights 2·in·out
    assert f == {"forward": 120.0, "step": 360.0, "attack": 240.0}
    assert all(p.grad is None and p.requires_grad for p in m.parameters())


def test_fit_floors_the_epochs_that_fit_and_reports_the_total():
    s = sizing._fit(budget_s=100.0, fixed_s=10.0, runs=3, epoch_s=10.0, basis="b")
    assert s.epochs == 3 and s.total_s == 100.0
    assert sizing._fit(10.0, 50.0, 1, 10.0, "b").epochs == 1  # never zero: the sentence then shows the overrun
    assert "3 run(s) × 3 epochs" in s.sentence()


def test_a_measured_epoch_replaces_the_estimate(tmp_path):
    model = build_model("small_cnn", 10, in_channels=3, widths=[4, 8])
    methods = {"A": 2, "B": 1}
    est = sizing.at_sizing(model, 1000, 5, methods, eval_points=10, pgd_steps=20, aa_points=5)
    assert est.basis.startswith("estimate")
    meas = sizing.at_sizing(model, 1000, 5, methods, eval_points=10, pgd_steps=20, aa_points=5, epoch_s=60.0)
    assert meas.epoch_s == 60.0 and meas.basis.startswith("epoch time measured")
    assert meas.epochs == int((1800 - meas.fixed_s) // 120)
    path = tmp_path / "check.json"
    path.write_text(json.dumps({"dry_run": False, "epochs": [{"profile": "adversarial/gpu (GKL)", "amp": None,
                                                                "epoch_s": 61.5}]}))
    assert sizing.measured_epoch_s(path, "adversarial/gpu (GKL)") == 61.5
    assert sizing.measured_epoch_s(path, "distill/gpu (gkl)") is None
    path.write_text(json.dumps({"dry_run": True, "epochs": [{"profile": "x", "epoch_s": 1.0}]}))
    assert sizing.measured_epoch_s(path, "x") is None
    assert sizing.measured_epoch_s(tmp_path / "missing.json", "x") is None


@pytest.mark.slow
def test_the_adversarial_gpu_profile_has_the_epochs_the_rule_gives():
    p = AT_PROFILES["gpu"]
    s = gpu_sizing_at()
    assert (p.epochs, p.eval_every, p.amp) == (s.epochs, s.epochs, "fp16") and s.total_s <= s.budget_s
    assert s.runs == 4 and s.basis.startswith("estimate")
    # by hand: PGD-AT one training pass, the others two; the costliest sets the epoch
    f = sizing.model_flops(build_model("preact_resnet18", 10))
    per_image = p.attack_steps * f["attack"] + 2 * f["step"]
    assert s.epoch_s == pytest.approx(45_000 * per_image / sizing.COLAB_T4.flops_per_s)
    assert AT_PROFILES["gpu-released"].amp is None  # the released recipe itself is fp32


@pytest.mark.slow
def test_the_distillation_gpu_profile_has_the_epochs_the_rule_gives():
    p = distill_profiles.GPU_PROFILE
    s, teacher_epochs = distill_profiles.gpu_sizing()
    assert (p.train["epochs"], p.teacher_train["epochs"]) == (s.epochs, teacher_epochs) == (
        distill_profiles.GPU_STUDENT_EPOCHS, distill_profiles.GPU_TEACHER_EPOCHS)
    assert s.total_s <= s.budget_s and s.runs == len(p.methods) == 5
    assert p.train["amp"] == p.teacher_train["amp"] == "fp16"
    assert p.train["milestones"] == distill_profiles.scaled_cifar_train(s.epochs)["milestones"]
