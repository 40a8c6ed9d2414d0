"""Distillers (gkl/methods/distill): frozen teacher in eval mode, gradients only to the student, correct
loss terms; DKD's parts (gkl/core/dkd.py, tested with its distiller); configs; the batch augmentations.

Training a student with a distiller through the engine: tests/test_distill_training.py; every registered
distiller through build, engine, resume and CLI: tests/test_method_contract.py."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gkl
from gkl.core.dkd import dkd_parts
from gkl.methods.distill import (
    DISTILLERS,
    DKD,
    GKL,
    IKL,
    KD,
    StudentAlone,
    build_distiller,
    distill_config,
    warmup_factor,
)
from gkl.methods.distill.objective import AUGMENTATIONS, mix_majority, random_shift_1d


def _nets(seed: int = 0, c: int = 5):
    torch.manual_seed(seed)
    student = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, c))
    teacher = nn.Sequential(nn.Linear(8, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, c))
    return student, teacher


def _batch(b: int = 12, c: int = 5, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 8, generator=g), torch.randint(0, c, (b,), generator=g)


ALL = [
    distill_config("kd", temperature=4.0),
    distill_config("dkd", alpha=1.0, beta=8.0, temperature=4.0, warmup=2),
    distill_config("ikl", alpha=1.0, beta=4.0, temperature=4.0),
    distill_config("ikl", alpha=1.0, beta=4.0, temperature=4.0, weight_temperature=4.0, prior=True, warmup=2),
    distill_config("gkl", alpha=1.0, beta=4.0, gamma=0.2, prior=True, warmup=3),
    distill_config("gkl", alpha=2.0, beta=1.0, gamma=0.5, prior=False),
]


def _config_id(c) -> str:
    return f"{c.method}-prior{getattr(c, 'prior', None)}-w{getattr(c, 'warmup', 0)}"


@pytest.mark.parametrize("config", ALL, ids=_config_id)
def test_teacher_frozen_in_eval_and_gradients_only_to_student(config):
    student, teacher = _nets()
    d = build_distiller(teacher, config, num_classes=5)
    d.train()
    student.train()  # the student is the engine's: the distiller never sets its mode
    assert d.training and student.training
    assert not teacher.training, "teacher must stay in eval() after .train()"
    assert all(not p.requires_grad for p in teacher.parameters())
    before = {k: v.clone() for k, v in teacher.state_dict().items()}  # BN running stats included
    x, y = _batch()
    logits, terms = d.forward_train(student, x, y, epoch=5)
    assert logits.shape == (12, 5)
    assert "ce" in terms and len(terms) >= 2
    loss = sum(terms.values())
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in student.parameters())
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k]), f"teacher buffer {k} changed"
    d.train(True)
    d.eval()
    assert student.training and not teacher.training
    d.train()
    assert not teacher.training


def test_teacher_output_is_deterministic_eval_mode():
    # Dropout in the teacher would make two calls differ if it were in train mode.
    student, teacher = _nets()
    d = KD(teacher, distill_config("kd")).train()
    x, _ = _batch()
    assert torch.equal(d.teacher_logits(x), d.teacher_logits(x))


def test_kd_term_is_T2_times_kl():
    student, teacher = _nets()
    d = KD(teacher, distill_config("kd", temperature=3.0, kd_weight=0.9, ce_weight=0.1)).train()
    x, y = _batch()
    logits, terms = d.forward_train(student, x, y)
    with torch.no_grad():
        t = teacher(x)
    assert torch.allclose(terms["kd"], 0.9 * 9.0 * gkl.kl_div(logits, t, 3.0))
    assert torch.allclose(terms["ce"], 0.1 * F.cross_entropy(logits, y))


def _dkd_reference(s, t, y, T):
    """DKD from its definition with explicit probabilities (float64)."""
    s, t = s.double() / T, t.double() / T
    ps, pt = s.softmax(1), t.softmax(1)
    idx = torch.arange(len(y))
    bs = torch.stack([ps[idx, y], 1 - ps[idx, y]], 1)
    bt = torch.stack([pt[idx, y], 1 - pt[idx, y]], 1)
    tckd = (bt * (bt.log() - bs.log())).sum(1).mean()
    mask = F.one_hot(y, s.shape[1]).bool()
    qs = s.masked_fill(mask, -math.inf).softmax(1)
    qt = t.masked_fill(mask, -math.inf).softmax(1)
    nckd = torch.where(mask, torch.zeros_like(qt), qt * (qt.clamp_min(1e-300).log() - qs.clamp_min(1e-300).log())).sum(1).mean()
    return tckd * T * T, nckd * T * T


def test_dkd_parts_match_definition_and_decompose_kl():
    torch.manual_seed(3)
    s, t = torch.randn(16, 7) * 3, torch.randn(16, 7) * 3
    y = torch.randint(0, 7, (16,))
    tckd, nckd = dkd_parts(s, t, y, 2.0)
    rt, rn = _dkd_reference(s, t, y, 2.0)
    assert torch.allclose(tckd.double(), rt, atol=1e-5) and torch.allclose(nckd.double(), rn, atol=1e-5)
    # KL = TCKD + (1 - p_t^teacher) NCKD per sample (the DKD identity), checked on one sample.
    T = 2.0
    for b in range(3):
        sb, tb, yb = s[b : b + 1], t[b : b + 1], y[b : b + 1]
        tc, nc = dkd_parts(sb, tb, yb, T)
        pt = (tb / T).softmax(1)[0, yb]
        kl = gkl.kl_div(sb, tb, T) * T * T
        assert torch.allclose(kl, tc + (1 - pt) * nc, atol=1e-5)


def test_dkd_zero_when_student_equals_teacher_and_warmup():
    torch.manual_seed(0)
    s = torch.randn(6, 4)
    y = torch.randint(0, 4, (6,))
    tckd, nckd = dkd_parts(s, s.clone(), y, 4.0)
    assert tckd.abs() < 1e-6 and nckd.abs() < 1e-6
    assert warmup_factor(1, 20) == pytest.approx(0.05)
    assert warmup_factor(25, 20) == 1.0 and warmup_factor(3, 0) == 1.0


def test_dkd_warmup_scales_terms():
    student, teacher = _nets()
    d = DKD(teacher, distill_config("dkd", alpha=1.0, beta=8.0, warmup=4)).eval()
    student.eval()  # no dropout noise
    x, y = _batch()
    _, t1 = d.forward_train(student, x, y, epoch=1)
    _, t4 = d.forward_train(student, x, y, epoch=4)
    assert torch.allclose(t1["nckd"] * 4, t4["nckd"], rtol=1e-5)
    assert torch.allclose(t1["tckd"] * 4, t4["tckd"], rtol=1e-5)


def test_gkl_terms_match_package_loss_and_prior_rolls_over():
    student, teacher = _nets()
    cfg = distill_config("gkl", alpha=1.5, beta=4.0, gamma=0.3, temperature=2.0, weight_temperature=3.0, prior=True, warmup=2)
    d = GKL(teacher, cfg, num_classes=5).train()
    x, y = _batch()
    logits, terms = d.forward_train(student, x, y, epoch=1)
    with torch.no_grad():
        t = teacher(x)
    uniform = torch.full((5, 5), 0.2)
    expect = gkl.gkl(logits, t, y, uniform, alpha=1.5, beta=4.0, gamma=0.3, temperature=2.0)
    assert torch.allclose(terms["kd_ce"] + terms["kd_wmse"], 0.5 * expect, rtol=1e-5)
    # The first epoch uses the uniform prior; the epoch's statistics weight the next epoch after the roll.
    assert torch.equal(d.prior.current, uniform) and d.prior.num_samples == 12
    d.end_epoch()
    p = gkl.ClassPrior(5, 3.0)
    p.update(t, y)
    assert torch.allclose(d.prior.current, p.compute())
    assert d.prior.num_samples == 0
    logits2, terms2 = d.forward_train(student, x, y, epoch=2)
    expect2 = gkl.gkl(logits2, t, y, p.compute(), alpha=1.5, beta=4.0, gamma=0.3, temperature=2.0)
    assert torch.allclose(terms2["kd_ce"] + terms2["kd_wmse"], expect2, rtol=1e-5)
    # no accumulation in eval mode
    student.eval()
    n = d.prior.num_samples
    d.forward_train(student, x, y, epoch=2)
    assert d.prior.num_samples == n
    # the prior is the distiller's only state: one object, holding `current` and the statistics
    assert d.states() == {"prior": d.prior}
    assert not hasattr(d, "current_prior")


def test_gkl_prior_state_roundtrip():
    student, teacher = _nets()
    cfg = distill_config("gkl", gamma=0.5, prior=True)
    d = GKL(teacher, cfg, num_classes=5).train()
    x, y = _batch()
    d.forward_train(student, x, y)
    d.end_epoch()
    d.forward_train(student, x, y)
    state = d.states()["prior"].state_dict()
    d2 = GKL(_nets()[1], cfg, num_classes=5)
    d2.states()["prior"].load_state_dict(state)
    assert d2.prior.num_samples == d.prior.num_samples
    assert torch.equal(d2.prior.current, d.prior.current)
    assert not torch.allclose(d2.prior.current, torch.full((5, 5), 0.2))
    # methods without a prior have no state besides their modules
    assert build_distiller(_nets()[1], distill_config("gkl", prior=False), 5).states() == {}
    assert build_distiller(_nets()[1], distill_config("kd"), 5).states() == {}


def test_ikl_defaults_are_the_released_ikl_and_gamma_is_one():
    # IKL has no γ setting: its weight exponent is 1
    with pytest.raises(ValueError, match="'ikl' has no setting gamma"):
        distill_config("ikl", gamma=0.1)
    ikl_distiller = build_distiller(_nets()[1], distill_config("ikl"), 5)
    assert type(ikl_distiller) is IKL and ikl_distiller.gamma == 1.0
    assert build_distiller(_nets()[1], distill_config("gkl", gamma=0.3), 5).gamma == 0.3
    # released IKL (DKLv1) defaults: no class prior, T2 = 100; GKL's: prior on, T2 = 4
    ikl = distill_config("ikl")
    assert (ikl.prior, ikl.weight_temperature) == (False, 100.0)
    g = distill_config("gkl")
    assert (g.prior, g.weight_temperature) == (True, 4.0)
    assert distill_config("ikl", prior=True, weight_temperature=1.0).prior is True  # explicit values win
    assert distill_config("ikl", prior=None).prior is False  # None: the method's default
    assert DISTILLERS.from_dict(ikl.to_dict()) == ikl  # concrete values round-trip
    assert ikl.to_dict() == {"method": "ikl", "ce_weight": 1.0, "alpha": 1.0, "beta": 1.0, "temperature": 4.0,
                             "weight_temperature": 100.0, "prior": False, "warmup": 0}
    with pytest.raises(ValueError, match="prior"):
        distill_config("gkl", prior="yes")
    with pytest.raises(ValueError, match="warmup must be an int >= 0"):
        distill_config("dkd", warmup=1.5)
    student, teacher = _nets()
    d = build_distiller(teacher, distill_config("gkl", prior=False, gamma=0.0), 5)
    assert d.prior is None
    x, y = _batch()
    _, terms = d.forward_train(student, x, y)
    assert set(terms) == {"ce", "kd_ce", "kd_wmse"}


def test_student_alone_needs_no_teacher_and_config_validation():
    student, _ = _nets()
    d = build_distiller(None, {"method": "none"}, 5)
    assert isinstance(d, StudentAlone)
    x, y = _batch()
    _, terms = d.forward_train(student, x, y)
    assert set(terms) == {"ce"}
    with pytest.raises(ValueError, match="needs a teacher"):
        build_distiller(None, distill_config("kd"), 5)
    with pytest.raises(ValueError, match="unknown distillation method"):
        distill_config("fitnet")
    with pytest.raises(ValueError, match="temperature"):
        distill_config("kd", temperature=0.0)
    with pytest.raises(ValueError, match="beta"):
        distill_config("dkd", beta=-1.0)
    with pytest.raises(ValueError, match="has no setting tau"):
        DISTILLERS.from_dict({"method": "kd", "tau": 2})
    with pytest.raises(ValueError, match="has no setting alpha"):
        distill_config("kd", alpha=1.0)  # DKD's and IKL's alpha is not KD's


def test_augmentations_keep_shapes_and_are_seeded():
    x = torch.randn(6, 1, 40)
    torch.manual_seed(0)
    a = random_shift_1d(x, 3)
    torch.manual_seed(0)
    assert torch.equal(a, random_shift_1d(x, 3))
    assert a.shape == x.shape
    m = mix_majority(x)
    assert m.shape == x.shape
    # shift by zero is the identity
    assert torch.equal(random_shift_1d(x, 0), x)
    assert set(AUGMENTATIONS) == {"shift1d", "mix"}
