"""Method configs of both families: one declaration dialect (``param``), one validation style
(``MethodConfig.__post_init__``), settings frozen where run keys and recorded sweeps depend on them,
and GKL as the general method with IKL its γ = 1 case."""

from __future__ import annotations

import dataclasses

import pytest
import torch

import gkl.methods.distill as distill
from gkl.methods import adversarial as at
from gkl.methods.registry import ADVERSARIAL, DISTILLERS, MethodConfig, Registry, param

#: Every registered method's default config, as run keys and the recorded sweeps hash it.
DEFAULTS = {
    "distill": {
        "none": {"ce_weight": 1.0},
        "kd": {"ce_weight": 1.0, "kd_weight": 1.0, "temperature": 4.0},
        "dkd": {"ce_weight": 1.0, "alpha": 1.0, "beta": 1.0, "temperature": 4.0, "warmup": 0},
        "ikl": {"ce_weight": 1.0, "alpha": 1.0, "beta": 1.0, "temperature": 4.0, "weight_temperature": 100.0,
                "prior": False, "warmup": 0},
        "gkl": {"ce_weight": 1.0, "alpha": 1.0, "beta": 1.0, "temperature": 4.0, "weight_temperature": 4.0,
                "prior": True, "warmup": 0, "gamma": 1.0},
    },
    "adversarial": {
        "pgd-at": {},
        "trades": {"beta": 6.0, "attack_loss": "kl"},
        "ikl": {"alpha": 4.0, "beta": 20.0, "temperature": 1.0, "weight_temperature": 1.0, "use_prior": True,
                "prior_temperature": 4.0, "attack_loss": "released"},
        "gkl": {"alpha": 4.0, "beta": 20.0, "temperature": 1.0, "weight_temperature": 1.0, "use_prior": True,
                "prior_temperature": 4.0, "attack_loss": "released", "gamma": 0.2},
    },
}
REGISTRIES = {"distill": DISTILLERS, "adversarial": ADVERSARIAL}


@pytest.mark.parametrize("family", list(DEFAULTS))
def test_registration_order_and_default_configs_are_frozen(family):
    reg = REGISTRIES[family]
    assert reg.names() == tuple(DEFAULTS[family])
    for name, fields in DEFAULTS[family].items():
        d = reg.config(name).to_dict()
        assert d == {"method": name, **fields} and list(d) == ["method", *fields]  # keys, values and order
        assert reg.from_dict(d) == reg.config(name)


def test_gkl_is_the_general_method_and_ikl_its_gamma_1_case():
    assert issubclass(distill.IKL, distill.GKL) and issubclass(at.IKL, at.GKL)
    assert distill.IKL.__module__.endswith(".ikl") and distill.GKL.kd_terms.__module__.endswith(".gkl")
    assert at.GKL.divergence.__module__.endswith(".gkl")
    assert not any(f.name == "gamma" for f in dataclasses.fields(distill.IKLConfig))
    assert not any(f.name == "gamma" for f in dataclasses.fields(at.IKL.Config))
    # IKL = GKL at γ = 1, with IKL's own settings: the same terms
    torch.manual_seed(0)
    s, t, y = torch.randn(6, 5), torch.randn(6, 5), torch.randint(0, 5, (6,))
    ikl_cfg = distill.distill_config("ikl", prior=True, weight_temperature=3.0)
    gkl_cfg = distill.distill_config("gkl", prior=True, weight_temperature=3.0, gamma=1.0)
    net = torch.nn.Identity()
    a = distill.build_distiller(net, ikl_cfg, 5).kd_terms(s, t, y, 1, True)
    b = distill.build_distiller(net, gkl_cfg, 5).kd_terms(s, t, y, 1, True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ikl_at, gkl_at = at.IKL(ADVERSARIAL.config("ikl"), 5), at.GKL(ADVERSARIAL.config("gkl", gamma=1.0), 5)
    a, b = ikl_at.divergence(s, t, y), gkl_at.divergence(s, t, y)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the released recipe sets GKL's γ, never IKL's
    for dataset in ("cifar10", "cifar100"):
        assert "gamma" not in at.released_recipe(dataset, "ikl")["adversarial"]
        assert "gamma" in at.released_recipe(dataset, "gkl")["adversarial"]
    assert at.IKL.describe(ADVERSARIAL.config("ikl"), 10)[0].startswith("CE + 20·wMSE(γ = 1, class prior at T = 4)")
    assert "γ" not in distill.describe(distill.distill_config("ikl"))


def test_one_declaration_dialect_and_one_validation_style():
    assert distill.param is param  # the distillation name stays importable
    for reg in REGISTRIES.values():
        for name in reg.names():
            for f in dataclasses.fields(reg[name].Config):
                assert "help" in f.metadata and "low" in f.metadata, (name, f.name)  # declared with param()
    bad = [
        (DISTILLERS, "gkl", {"temperature": 0.0}, "temperature must be a finite number > 0"),
        (DISTILLERS, "dkd", {"warmup": 1.5}, "warmup must be an int >= 0"),
        (DISTILLERS, "ikl", {"prior": 1}, "prior must be True or False"),
        (ADVERSARIAL, "gkl", {"temperature": 0.0}, "temperature must be a finite number > 0"),
        (ADVERSARIAL, "gkl", {"gamma": -0.1}, "gamma must be a finite number >= 0"),
        (ADVERSARIAL, "ikl", {"use_prior": "yes"}, "use_prior must be True or False"),
        (ADVERSARIAL, "trades", {"beta": float("nan")}, "beta must be a finite number >= 0"),
        (ADVERSARIAL, "trades", {"attack_loss": "nope"}, "attack_loss must be one of"),
        (ADVERSARIAL, "gkl", {"attack_loss": "label-ce"}, "PGD-AT's attack"),
    ]
    for reg, name, settings, message in bad:
        with pytest.raises(ValueError, match=message):
            reg.config(name, **settings)

    @dataclasses.dataclass
    class Plain(MethodConfig):  # fields declared without param(): checked by their default's type
        weight: float = 0.5
        loss: str = "kl"
        steps: int = dataclasses.field(default=2, metadata={"low": 1})

    assert Plain(weight=1, loss="x", steps=1).weight == 1
    for changes, message in (({"weight": -1.0}, "weight must be"), ({"loss": 3}, "loss must be a string"),
                             ({"steps": 0}, "steps must be an int >= 1")):
        with pytest.raises(ValueError, match=message):
            Plain(**changes)


def test_register_before_keeps_a_method_ahead_of_the_one_it_extends():
    reg: Registry = Registry("test")

    @dataclasses.dataclass
    class C(MethodConfig):
        pass

    made = {n: type(n, (), {"name": n, "Config": C}) for n in ("a", "b", "c")}
    reg.register(made["a"])
    reg.register(made["c"])
    reg.register(before="c")(made["b"])
    assert reg.names() == ("a", "b", "c")
    reg.register(made["b"], before="nowhere")  # already known, an unknown anchor: nothing moves
    assert reg.names() == ("a", "b", "c")
