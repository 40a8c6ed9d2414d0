"""The method flags of both sub-commands come from one helper (:class:`gkl.cli.method_flags.MethodFlags`):
a flag that several methods share with different types parses for each of them, converted for the
method ``--method`` selects; bad values and flags the method lacks are one-line errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from gkl.cli import build_parser, main
from gkl.cli.adversarial import _adversarial_config
from gkl.cli.common import CLIError
from gkl.cli.distill import _method_config
from gkl.core.losses import kl_div
from gkl.methods.adversarial import ADVERSARIAL, AttackSetup, DivergenceMethod, attack_defaults
from gkl.methods.distill import DISTILLERS, DistillConfig, Distiller
from gkl.methods.registry import MethodConfig, param

torch.set_num_threads(1)  # small ops: threads only contend on a shared 2-core machine


# -- throw-away methods whose fields share a name, not a type, with registered methods' fields ----------
@dataclasses.dataclass
class _IntTemperatureConfig(DistillConfig):
    temperature: int = param(3, "an integer T (KD's, IKL's, GKL's T is a float)", low=1)  # float elsewhere
    prior: float = param(0.5, "a number (IKL's and GKL's --prior is a switch)")  # bool elsewhere


class _IntTemperature(Distiller):
    name, label, Config = "int_t_test", "int-T (test)", _IntTemperatureConfig

    def kd_terms(self, student_logits, teacher_logits, targets, epoch, training):
        return {"kd": self.config.prior * kl_div(student_logits, teacher_logits, float(self.config.temperature))}


@dataclasses.dataclass
class _IntBetaConfig(MethodConfig):
    beta: int = param(2, "an integer β (TRADES' and GKL's are floats)")
    use_prior: str = param("yes", "a word named like GKL's switch", choices=("yes", "no"), flag="--use-prior")
    attack_loss: str = param("kl", "its inner loss", choices=("kl",))


class _IntBeta(DivergenceMethod):
    name, label, Config = "int-beta-test", "int-β (test)", _IntBetaConfig

    def divergence(self, adv_logits, clean_logits, targets):
        return {"robust": self.config.beta * kl_div(adv_logits, clean_logits)}


@pytest.fixture
def throwaway_distiller():
    DISTILLERS.register(_IntTemperature)
    try:
        yield _IntTemperature.name
    finally:
        DISTILLERS.unregister(_IntTemperature.name)


@pytest.fixture
def throwaway_at_method():
    ADVERSARIAL.register(_IntBeta)
    try:
        yield _IntBeta.name
    finally:
        ADVERSARIAL.unregister(_IntBeta.name)


DISTILL = ["distill", "--dataset", "digits", "--student", "mnist1d_mlp", "--out", "x"]
ADV = ["adversarial", "--out", "x"]


def _distill(argv):
    args = build_parser().parse_args(DISTILL + argv)
    return _method_config(args, None)


def test_a_distill_flag_shared_with_another_type_parses_for_each_method(throwaway_distiller):
    cfg = _distill(["--method", throwaway_distiller, "--temperature", "5", "--prior", "0.25"])
    assert (cfg.temperature, cfg.prior) == (5, 0.25)
    assert type(cfg.temperature) is int and type(cfg.prior) is float
    cfg = _distill(["--method", "kd", "--temperature", "2.5"])
    assert cfg.temperature == 2.5 and type(cfg.temperature) is float
    assert _distill(["--method", "gkl", "--temperature", "8/2", "--no-prior"]) == \
        _distill(["--method", "gkl"]).replace(temperature=4.0, prior=False)
    assert _distill(["--method", "ikl", "--prior"]).prior is True
    assert _distill(["--method", "dkd", "--temperature", "2"]).temperature == 2.0


def test_a_flag_shared_with_another_type_gives_one_line_errors(throwaway_distiller, capsys):
    bad = [
        (["--method", throwaway_distiller, "--temperature", "2.5"], "argument --temperature (method int_t_test): invalid int"),
        (["--method", throwaway_distiller, "--prior"], "expected one value"),
        (["--method", throwaway_distiller, "--no-prior"], "expected one value, not --no-prior"),
        (["--method", "gkl", "--prior", "0.5"], "a switch, it takes no value"),
        (["--method", "kd", "--temperature", "abc"], "not a number: 'abc'"),
        (["--method", "kd", "--prior"], "--prior does not apply to method kd (its flags: --ce-weight, --kd-weight"),
    ]
    for argv, message in bad:
        with pytest.raises(CLIError) as err:
            _distill(argv)
        assert message in str(err.value) and "\n" not in str(err.value), (argv, str(err.value))
    # through `python -m gkl`: exit code 2 and one line, before any training
    for argv, message in bad[:2]:
        assert main(DISTILL + argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("gkl: error: ") and message in err and err.count("\n") == 1, err


def test_the_distill_help_names_each_methods_meaning(throwaway_distiller, capsys):
    with pytest.raises(SystemExit):
        main(["distill", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "kd, dkd, ikl, gkl: T of the soft labels; int_t_test: an integer T" in out
    assert "dkd: TCKD weight; ikl, gkl: weight of the soft-label CE" in out


def test_an_at_flag_shared_with_another_type_parses_for_each_method(throwaway_at_method):
    def cfg(argv):
        return _adversarial_config(build_parser().parse_args(ADV + argv), {})

    c = cfg(["--method", throwaway_at_method, "--beta", "3", "--use-prior", "no"]).method
    assert (c.beta, c.use_prior) == (3, "no") and type(c.beta) is int
    assert cfg(["--method", "trades", "--beta", "1/2"]).method.beta == 0.5
    c = cfg(["--method", "gkl", "--beta", "7", "--no-use-prior"]).method  # GKL's --prior, by its field's name too
    assert (c.beta, c.use_prior) == (7.0, False) and type(c.beta) is float
    assert cfg(["--method", "ikl", "--no-prior"]).method.use_prior is False
    with pytest.raises(CLIError, match="invalid int value: '2.5'"):
        cfg(["--method", throwaway_at_method, "--beta", "2.5"])
    with pytest.raises(CLIError, match="invalid choice: 'maybe'"):
        cfg(["--method", throwaway_at_method, "--use-prior", "maybe"])
    with pytest.raises(CLIError, match="--beta does not apply to method pgd-at"):
        cfg(["--method", "pgd-at", "--beta", "1"])


def test_the_attack_defaults_are_read_from_the_method_layer():
    for dataset in ("digits", "cifar10", "cifar100"):
        args = build_parser().parse_args(ADV + ["--dataset", dataset, "--method", "trades"])
        assert _adversarial_config(args, {}).setup == AttackSetup(**attack_defaults(dataset))
    assert attack_defaults("cifar10") == dataclasses.asdict(AttackSetup())
    digits = attack_defaults("digits")
    assert (digits["epsilon"], digits["attack_steps"], digits["step_ratio"]) == (0.2, 5, 0.4)
    # a flag beats the preset, which beats the default
    args = build_parser().parse_args(ADV + ["--dataset", "cifar10", "--attack-steps", "3"])
    setup = _adversarial_config(args, {"attack_steps": 5, "step_ratio": 0.5}).setup
    assert (setup.attack_steps, setup.step_ratio, setup.eval_steps) == (3, 0.5, AttackSetup().eval_steps)


def test_a_method_field_named_like_a_run_option_is_a_clear_error():
    @dataclasses.dataclass
    class EpsConfig(DistillConfig):
        epochs: int = param(1, "clashes with --epochs")

    class Eps(Distiller):
        name, label, Config = "eps_test", "eps (test)", EpsConfig

    DISTILLERS.register(Eps)
    try:
        with pytest.raises(ValueError, match="setting 'epochs' clashes with the command-line flag --epochs"):
            build_parser()
    finally:
        DISTILLERS.unregister(Eps.name)
    assert DISTILLERS.names() == ("none", "kd", "dkd", "ikl", "gkl")
