"""The method contract, for every registered method of each family: it builds, takes a training step,
trains through the engine (``gkl.training.fit``, via the family's train function) and resumes from its
checkpoint exactly, and every field of its config is a command-line flag that parses.

Parametrised over ``DISTILLERS.names()`` and ``ADVERSARIAL.names()``, read when the tests are collected,
so a method registered by the package is tested without editing a list. A throw-away method of each
kind, registered from this file for the duration of one test, goes through the same contract (and the
distiller through the CLI and the run cache as well), so the contract holds for a method that lives
outside the package too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest
import torch
from torch import nn

import gkl
from gkl.cli import build_parser
from gkl.experiments.distill import PROFILES, run_dir
from gkl.methods.adversarial import (
    ADVERSARIAL,
    ATTACK_LOSSES,
    AdversarialConfig,
    AdversarialObjective,
    DivergenceMethod,
    train_adversarial,
)
from gkl.methods.distill import DISTILLERS, DistillConfig, Distiller, build_distiller, describe, distill_config
from gkl.methods.distill.train import train_student
from gkl.methods.registry import MethodConfig, param
from gkl.models import build_model
from gkl.training import TrainConfig, read_metrics
from tests.conftest import DIGITS_TRAIN, MLP_S, MLP_T, run_cli

torch.set_num_threads(1)  # small ops: threads only contend on a shared 2-core machine


# ---------------------------------------------------------------------------------------------
# Throw-away methods: registered from this file, one test at a time
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _ScaledKDConfig(DistillConfig):
    scale: float = param(0.5, "weight of the throw-away term")
    temperature: float = param(2.0, "T of the soft labels", strict=True)


class _ScaledKD(Distiller):
    """A throw-away distiller: ``kd`` = scale · KL at temperature T (no T²)."""

    name = "scaled_kd_test"
    label = "scaled KD (test)"
    Config = _ScaledKDConfig

    def kd_terms(self, student_logits, teacher_logits, targets, epoch, training):
        return {"kd": self.config.scale * gkl.kl_div(student_logits, teacher_logits, self.config.temperature)}


@dataclasses.dataclass
class _HalfTRADESConfig(MethodConfig):
    weight: float = param(0.5, "weight of the KL term")
    attack_loss: str = param("kl", "inner loss of the training attack", choices=ATTACK_LOSSES)


class _HalfTRADES(DivergenceMethod):
    """A throw-away AT method: TRADES with its KL term scaled by ``weight``."""

    name, label, Config = "half-trades-test", "Half-TRADES (test)", _HalfTRADESConfig

    def divergence(self, adv_logits, clean_logits, targets):
        return {"robust": self.config.weight * gkl.kl_div(adv_logits, clean_logits)}

    @classmethod
    def describe(cls, config, num_classes):
        return f"CE + {config.weight:g}·KL(s_c ‖ s_a)", "KL(s_c ‖ s_a)"


def _registered(registry, method):
    """Yield the method's name; a class (a throw-away method) is registered for the test, then removed."""
    if isinstance(method, str):
        yield method
        return
    registry.register(method)
    try:
        yield method.name
    finally:
        registry.unregister(method.name)
    assert method.name not in registry


def _throwaway(cls):
    return pytest.param(cls, id=f"{cls.name}(throw-away)")


@pytest.fixture
def throwaway():
    yield from _registered(DISTILLERS, _ScaledKD)


@pytest.fixture(params=[*DISTILLERS.names(), _throwaway(_ScaledKD)])
def distiller(request):
    """Each registered distiller's name, and the throw-away one's (registered meanwhile)."""
    yield from _registered(DISTILLERS, request.param)


@pytest.fixture(params=[*ADVERSARIAL.names(), _throwaway(_HalfTRADES)])
def at_method(request):
    """Each registered adversarial-training method's name, and the throw-away one's."""
    yield from _registered(ADVERSARIAL, request.param)


def test_the_registries_hold_the_papers_methods():
    """The parametrisation is not empty: the package's methods are registered when it is imported."""
    assert {"none", "kd", "dkd", "ikl", "gkl"} <= set(DISTILLERS.names())
    assert {"pgd-at", "trades", "ikl", "gkl"} <= set(ADVERSARIAL.names())


# ---------------------------------------------------------------------------------------------
# Shared checks
# ---------------------------------------------------------------------------------------------
def _strip(history):
    return [{k: v for k, v in h.items() if k != "time_s"} for h in history]


def _check_resume(full, cut_rows, resumed):
    """The run stopped after epoch 1 and resumed equals the uninterrupted one, and the resumed run
    continued from the checkpoint instead of training epoch 1 again (its first row is the stored one,
    wall time included)."""
    assert len(cut_rows) == 1 and cut_rows[0]["epoch"] == 1
    assert [h["epoch"] for h in full] == [1, 2]
    assert _strip(resumed) == _strip(full)
    assert resumed[0] == cut_rows[0]


def _other_value(action: argparse.Action, default):
    """A valid value unlike the field's default: the other boolean, one more, a half, another choice."""
    if isinstance(default, bool):
        return not default
    if action.choices is not None:
        return next(c for c in action.choices if c != default)
    if isinstance(default, int):
        return default + 1
    if isinstance(default, float):
        return default / 2 if default else 0.5
    return default


def _flag_argv(subcommand: str, config: type) -> tuple[list[str], dict]:
    """Command-line words that give every field of ``config`` a value (found by the flag's ``dest``,
    which is the field's name), and those values."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[subcommand]
    argv, values = [], {}
    for f in dataclasses.fields(config):
        actions = [a for a in sub._actions if a.dest == f.name]
        assert actions, f"no flag of `{subcommand}` sets {config.method}'s setting {f.name!r}"
        value = _other_value(actions[0], f.default)
        values[f.name] = value
        if isinstance(value, bool):  # --flag / --no-flag: a BooleanOptionalAction, or two store actions
            a = actions[0]
            if isinstance(a, argparse.BooleanOptionalAction):
                argv.append(next(s for s in a.option_strings if s.startswith("--no-") != value))
            else:
                argv.append(next(x for x in actions if x.const is value).option_strings[0])
        else:
            argv += [actions[0].option_strings[0], str(value)]
    return argv, values


# ---------------------------------------------------------------------------------------------
# Distillers
# ---------------------------------------------------------------------------------------------
def _nets(seed: int = 0, c: int = 5):
    torch.manual_seed(seed)
    student = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, c))
    teacher = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, c))
    return student, teacher


def test_distiller_builds_and_takes_a_step(distiller):
    cfg = distill_config(distiller)
    assert cfg.method == distiller and DISTILLERS.from_dict(cfg.to_dict()) == cfg
    student, teacher = _nets()
    d = build_distiller(teacher, cfg, num_classes=5)
    assert isinstance(d, DISTILLERS[distiller])
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student_before = [p.detach().clone() for p in student.parameters()]
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(12, 8, generator=g), torch.randint(0, 5, (12,), generator=g)
    d.train()
    logits, terms = d.forward_train(student, x, y, epoch=1)
    assert logits.shape == (12, 5) and "ce" in terms
    assert all(t.dim() == 0 and torch.isfinite(t) for t in terms.values())
    opt = torch.optim.SGD(student.parameters(), lr=0.1)
    sum(terms.values()).backward()
    opt.step()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in student.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(student_before, student.parameters()))
    assert all(p.grad is None for p in teacher.parameters())
    assert all(torch.equal(v, teacher_before[k]) for k, v in teacher.state_dict().items())
    d.end_epoch()


def test_distiller_trains_through_the_engine_and_resumes(distiller, digits_teacher, tmp_path):
    cfg = distill_config(distiller)
    train = {**DIGITS_TRAIN, "batch_size": 32}
    kw = dict(distill=cfg, teacher=digits_teacher, train_subset=96)
    full = train_student("digits", "mnist1d_mlp", MLP_S, train, out_dir=tmp_path / "full", **kw)
    train_student("digits", "mnist1d_mlp", MLP_S, train, out_dir=tmp_path / "cut", stop_after=1, **kw)
    cut_rows = read_metrics(tmp_path / "cut")
    resumed = train_student("digits", "mnist1d_mlp", MLP_S, train, out_dir=tmp_path / "cut", resume=True, **kw)
    _check_resume(full.history, cut_rows, resumed.history)
    row = full.history[-1]
    assert {"train_loss", "train_ce", "test_acc"} <= set(row)
    if DISTILLERS[distiller].needs_teacher:  # a distillation term besides the label CE is logged
        assert {k for k in row if k.startswith("train_")} - {"train_loss", "train_ce", "train_acc"}, row
    assert (tmp_path / "full" / "checkpoint.pt").is_file()


def test_distiller_flags_parse(distiller):
    flags, values = _flag_argv("distill", DISTILLERS[distiller].Config)
    args = build_parser().parse_args(["distill", "--dataset", "digits", "--student", "mnist1d_mlp", "--out", "x",
                                      "--method", distiller, *flags])
    assert args.method == distiller
    parsed = {name: getattr(args, name) for name in values}
    assert parsed == values and all(type(parsed[k]) is type(v) for k, v in values.items())
    assert distill_config(distiller, **parsed).to_dict() == {"method": distiller, **values}


def test_a_registered_distiller_runs_through_engine_cli_and_cache(throwaway, digits_teacher, tmp_path, monkeypatch,
                                                                  capsys):
    p = PROFILES["cpu"]
    keys_before = {k: run_dir(p, c, 0, tmp_path, "t") for k, c in p.methods.items()}
    cfg = distill_config("scaled_kd_test", scale=0.25)
    assert cfg.to_dict() == {"method": "scaled_kd_test", "ce_weight": 1.0, "scale": 0.25, "temperature": 2.0}
    assert describe(cfg) == "ce_weight 1, scale 0.25, temperature 2"
    with pytest.raises(ValueError, match="scale must be a finite number >= 0"):
        distill_config("scaled_kd_test", scale=-1.0)
    # the engine: named terms are logged, the teacher stays frozen
    r = train_student("digits", "mnist1d_mlp", MLP_S, {**DIGITS_TRAIN, "epochs": 1}, distill=cfg, teacher=digits_teacher)
    assert {"train_ce", "train_kd", "test_acc"} <= set(r.history[-1])
    # the run cache: its own folder; the registered methods' keys are unchanged
    assert run_dir(p, cfg, 0, tmp_path, "t").name.startswith("scaled_kd_test-s0-")
    assert {k: run_dir(p, c, 0, tmp_path, "t") for k, c in p.methods.items()} == keys_before
    # the command line: --method offers it, its field became a flag, which other methods refuse
    monkeypatch.setenv("GKL_RUNS_DIR", str(tmp_path / "runs"))
    base = ["distill", "--dataset", "digits", "--student", "mnist1d_mlp", "--student-kwargs", json.dumps(MLP_S),
            "--epochs", "1", "--teacher", "mnist1d_mlp", "--teacher-kwargs", json.dumps(MLP_T)]
    args = build_parser().parse_args(base + ["--method", "scaled_kd_test", "--scale", "0.1", "--out", "x"])
    assert (args.method, args.scale) == ("scaled_kd_test", 0.1)
    code, out, err = run_cli(base + ["--method", "scaled_kd_test", "--scale", "0.1", "--out", str(tmp_path / "a")], capsys)
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert "train_kd" in rows[-1]
    code, _, err = run_cli(base + ["--method", "kd", "--scale", "0.1", "--out", str(tmp_path / "b")], capsys)
    assert code == 2 and "--scale does not apply to method kd" in err


# ---------------------------------------------------------------------------------------------
# Adversarial-training methods
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits(digits_data):
    tr, te, info = digits_data
    return tr.subset(64), te.subset(32), info


def test_at_method_builds_and_takes_a_step(at_method, digits, step_context):
    cfg = AdversarialConfig.for_method(at_method, epsilon=0.1, attack_steps=1)
    assert cfg.method.method == at_method and AdversarialConfig.from_dict(cfg.to_dict()) == cfg
    tr, _, info = digits
    torch.manual_seed(0)
    model = build_model("small_cnn", 10, mean=info.mean, std=info.std, widths=(8, 16)).train()
    before = [p.detach().clone() for p in model.parameters()]
    obj = AdversarialObjective(cfg, 10)
    assert isinstance(obj.method, ADVERSARIAL[at_method])
    ctx = step_context(model, steps_per_epoch=1)
    obj.start_epoch(1, ctx)
    x, y = tr.tensors()
    out = obj.loss_terms(model, x[:16], y[:16], ctx)
    assert out.terms and all(t.dim() == 0 and torch.isfinite(t) for t in out.terms.values())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sum(out.terms.values()).backward()
    opt.step()
    assert model.training and any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    obj.end_epoch(1, ctx)


def test_at_method_trains_through_the_engine_and_resumes(at_method, digits, tmp_path):
    adv = AdversarialConfig.for_method(at_method, epsilon=0.1, attack_steps=1)
    train = TrainConfig(epochs=2, batch_size=32, lr=0.05, progress=False, seed=3)
    kw = dict(data=digits, model_kwargs={"widths": [8, 16]})
    _, full = train_adversarial("digits", "small_cnn", adv, train, tmp_path / "full", **kw)
    train_adversarial("digits", "small_cnn", adv, train, tmp_path / "cut", stop_after=1, **kw)
    cut_rows = read_metrics(tmp_path / "cut")
    _, resumed = train_adversarial("digits", "small_cnn", adv, train, tmp_path / "cut", resume=True, **kw)
    _check_resume(full, cut_rows, resumed)
    assert {"train_loss", "clean_acc", "robust_acc"} <= set(full[-1])


def test_at_method_flags_parse(at_method):
    flags, values = _flag_argv("adversarial", ADVERSARIAL[at_method].Config)
    args = build_parser().parse_args(["adversarial", "--method", at_method, "--out", "x", *flags])
    assert args.method == at_method
    parsed = {name: getattr(args, name) for name in values}
    assert parsed == values and all(type(parsed[k]) is type(v) for k, v in values.items())
    cfg = AdversarialConfig.for_method(at_method, **parsed)
    assert cfg.method.to_dict() == {"method": at_method, **values}
