"""Distillers: frozen teacher in eval mode, gradients only to the student, correct loss terms."""

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
    d = build_distiller(student, teacher, config, num_classes=5)
    d.train()
    assert d.training and student.training
    assert not teacher.training, "teacher must stay in eval() after .train()"
    assert all(not p.requires_grad for p in teacher.parameters())
    before = {k: v.clone() for k, v in teacher.state_dict().items()}  # BN running stats included
    x, y = _batch()
    logits, terms = d.forward_train(x, y, epoch=5)
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
    assert not student.training and not teacher.training
    d.train()
    assert not teacher.training


def test_teacher_output_is_deterministic_eval_mode():
    # Dropout in the teacher would make two calls differ if it were in train mode.
    student, teacher = _nets()
    d = KD(student, teacher, distill_config("kd")).train()
    x, _ = _batch()
    assert torch.equal(d.teacher_logits(x), d.teacher_logits(x))


def test_kd_term_is_T2_times_kl():
    student, teacher = _nets()
    d = KD(student, teacher, distill_config("kd", temperature=3.0, kd_weight=0.9, ce_weight=0.1)).train()
    x, y = _batch()
    logits, terms = d.forward_train(x, y)
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
    d = DKD(student, teacher, distill_config("dkd", alpha=1.0, beta=8.0, warmup=4)).eval()  # no dropout noise
    x, y = _batch()
    _, t1 = d.forward_train(x, y, epoch=1)
    _, t4 = d.forward_train(x, y, epoch=4)
    assert torch.allclose(t1["nckd"] * 4, t4["nckd"], rtol=1e-5)
    assert torch.allclose(t1["tckd"] * 4, t4["tckd"], rtol=1e-5)


def test_gkl_terms_match_package_loss_and_prior_rolls_over():
    student, teacher = _nets()
    cfg = distill_config("gkl", alpha=1.5, beta=4.0, gamma=0.3, temperature=2.0, weight_temperature=3.0, prior=True, warmup=2)
    d = GKL(student, teacher, cfg, num_classes=5).train()
    x, y = _batch()
    logits, terms = d.forward_train(x, y, epoch=1)
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
    logits2, terms2 = d.forward_train(x, y, epoch=2)
    expect2 = gkl.gkl(logits2, t, y, p.compute(), alpha=1.5, beta=4.0, gamma=0.3, temperature=2.0)
    assert torch.allclose(terms2["kd_ce"] + terms2["kd_wmse"], expect2, rtol=1e-5)
    # no accumulation in eval mode
    d.eval()
    n = d.prior.num_samples
    d.forward_train(x, y, epoch=2)
    assert d.prior.num_samples == n
    # the prior is the distiller's only state: one object, holding `current` and the statistics
    assert d.states() == {"prior": d.prior}
    assert not hasattr(d, "current_prior")


def test_gkl_prior_state_roundtrip():
    student, teacher = _nets()
    cfg = distill_config("gkl", gamma=0.5, prior=True)
    d = GKL(student, teacher, cfg, num_classes=5).train()
    x, y = _batch()
    d.forward_train(x, y)
    d.end_epoch()
    d.forward_train(x, y)
    state = d.states()["prior"].state_dict()
    d2 = GKL(*_nets(), cfg, num_classes=5)
    d2.states()["prior"].load_state_dict(state)
    assert d2.prior.num_samples == d.prior.num_samples
    assert torch.equal(d2.prior.current, d.prior.current)
    assert not torch.allclose(d2.prior.current, torch.full((5, 5), 0.2))
    # methods without a prior have no state besides their modules
    assert build_distiller(*_nets(), distill_config("gkl", prior=False), 5).states() == {}
    assert build_distiller(*_nets(), distill_config("kd"), 5).states() == {}


def test_ikl_defaults_are_the_released_ikl_and_gamma_is_one():
    # IKL has no γ setting: its weight exponent is 1
    with pytest.raises(ValueError, match="'ikl' has no setting gamma"):
        distill_config("ikl", gamma=0.1)
    ikl_distiller = build_distiller(*_nets(), distill_config("ikl"), 5)
    assert type(ikl_distiller) is IKL and ikl_distiller.gamma == 1.0
    assert build_distiller(*_nets(), distill_config("gkl", gamma=0.3), 5).gamma == 0.3
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
    d = build_distiller(student, teacher, distill_config("gkl", prior=False, gamma=0.0), 5)
    assert d.prior is None
    x, y = _batch()
    _, terms = d.forward_train(x, y)
    assert set(terms) == {"ce", "kd_ce", "kd_wmse"}


def test_student_alone_needs_no_teacher_and_config_validation():
    student, _ = _nets()
    d = build_distiller(student, None, {"method": "none"}, 5)
    assert isinstance(d, StudentAlone)
    x, y = _batch()
    _, terms = d.forward_train(x, y)
    assert set(terms) == {"ce"}
    with pytest.raises(ValueError, match="needs a teacher"):
        build_distiller(student, None, distill_config("kd"), 5)
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


# ---------------------------------------------------------------------------------------------
# Engine integration, resume, command line, profiles
# ---------------------------------------------------------------------------------------------
import json  # noqa: E402

from gkl import cli  # noqa: E402
from gkl.experiments import distill as distill_mod  # noqa: E402
from gkl.experiments.distill import CONFIGS, PROFILES, run_grid, student_report, summarize  # noqa: E402
from gkl.methods.distill.objective import AUGMENTATIONS, mix_majority, random_shift_1d  # noqa: E402
from gkl.methods.distill.train import train_student  # noqa: E402
from gkl.training import read_metrics  # noqa: E402

DIGITS_TRAIN = dict(epochs=2, batch_size=64, optimizer="adam", lr=1e-2, weight_decay=0.0, seed=0)
MLP_T = {"hidden": 32, "in_features": 64}
MLP_S = {"hidden": 8, "in_features": 64}


@pytest.fixture(scope="module")
def digits_teacher():
    return train_student("digits", "mnist1d_mlp", MLP_T, DIGITS_TRAIN).model


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


def test_student_report(digits_teacher):
    from gkl.data import get_dataset

    _, test, _ = get_dataset("digits")
    r = student_report(digits_teacher, digits_teacher, test)
    assert r["agreement"] == 1.0
    assert 0 <= r["ece"] <= 1 and abs(sum(r["bin_count"]) - len(test)) < 1e-9


def _cli(args, capsys):
    code = cli.main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_distill_and_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GKL_RUNS_DIR", str(tmp_path / "runs"))
    base = ["distill", "--dataset", "digits", "--student", "mnist1d_mlp", "--student-kwargs", json.dumps(MLP_S),
            "--epochs", "2"]
    teacher = ["--teacher", "mnist1d_mlp", "--teacher-kwargs", json.dumps(MLP_T)]
    code, out, err = _cli(base + teacher + ["--method", "gkl", "--gamma", "0.5", "--out", str(tmp_path / "a")], capsys)
    assert code == 0, err
    rows = [json.loads(l) for l in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and {"train_loss", "test_acc"} <= set(rows[0])
    assert (tmp_path / "a" / "checkpoint.pt").is_file()
    teachers = list((tmp_path / "runs" / "teachers").glob("*/teacher.pt"))
    assert len(teachers) == 1
    # the cached teacher file is accepted as --teacher
    code, _, err = _cli(base + ["--teacher", str(teachers[0]), "--method", "kd", "--out", str(tmp_path / "b")], capsys)
    assert code == 0, err
    # --resume on a finished run is a no-op that keeps the metrics
    code, _, err = _cli(base + ["--teacher", str(teachers[0]), "--method", "kd", "--out", str(tmp_path / "b"), "--resume"], capsys)
    assert code == 0, err
    assert len((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()) == 2

    bad = [
        (base + ["--method", "kd", "--out", str(tmp_path / "c")], "needs --teacher"),
        (base + teacher + ["--method", "kd", "--out", str(tmp_path / "a")], "exists"),
        (base + ["--teacher", str(tmp_path / "nope.pt"), "--method", "kd", "--out", str(tmp_path / "d")], "does not exist"),
        (base + ["--teacher", "no_such_arch", "--method", "kd", "--out", str(tmp_path / "d")], "neither a file"),
        (["distill", "--dataset", "digits", "--student", "nope", "--out", str(tmp_path / "e"), "--method", "none"], "unknown model"),
        (base + teacher + ["--method", "gkl", "--temperature", "0", "--out", str(tmp_path / "f")], "temperature"),
        (base + teacher + ["--method", "fitnet", "--out", str(tmp_path / "f")], "invalid choice"),
        (base + teacher + ["--method", "kd", "--gamma", "0.5", "--out", str(tmp_path / "f")],
         "--gamma does not apply to method kd"),
        (base + teacher + ["--method", "ikl", "--gamma", "0.5", "--kd-weight", "1", "--out", str(tmp_path / "f")],
         "--kd-weight, --gamma do not apply to method ikl"),
        (base + teacher + ["--method", "gkl", "--prior", "--no-prior", "--out", str(tmp_path / "f")], "not allowed"),
        (base + teacher + ["--student-kwargs", "{bad", "--method", "kd", "--out", str(tmp_path / "f")], "not valid JSON"),
        (base + teacher + ["--config", "cifar100/resnet56-resnet20", "--method", "kd", "--out", str(tmp_path / "f")], "is for 'cifar100'"),
    ]
    for args, msg in bad:
        code, _, err = _cli(args, capsys)
        assert code == 2, (args, err)
        assert err.startswith("gkl: error:") and msg in err and len(err.strip().splitlines()) == 1, err
    # a corrupted teacher file
    broken = tmp_path / "broken.pt"
    broken.write_bytes(teachers[0].read_bytes()[:100])
    code, _, err = _cli(base + ["--teacher", str(broken), "--method", "kd", "--out", str(tmp_path / "g")], capsys)
    assert code == 2 and "corrupted" in err


def test_released_configs_are_named():
    c = CONFIGS["cifar100/resnet32x4-resnet8x4"]
    g = c.methods["gkl"]
    assert (c.teacher_arch, c.student_arch) == ("resnet32x4", "resnet8x4")
    assert (g.alpha, g.beta, g.gamma, g.prior, g.temperature, g.weight_temperature, g.warmup) == (1, 16, 0.05, True, 4, 4, 20)
    g = CONFIGS["cifar100/resnet56-resnet20"].methods["gkl"]
    assert (g.alpha, g.beta, g.gamma, g.prior) == (1, 4, 0.2, True)
    g = CONFIGS["cifar100/wrn40_2-wrn16_2"].methods["gkl"]
    assert (g.alpha, g.beta, g.gamma, g.prior) == (3, 20, 0.3, False)
    assert c.train["epochs"] == 240 and c.train["lr"] == 0.05 and c.train["batch_size"] == 64
    assert list(c.train["milestones"]) == [150, 180, 210]


@pytest.mark.parametrize("name, alpha, beta", [
    ("cifar100/resnet32x4-resnet8x4", 1, 8), ("cifar100/resnet56-resnet20", 1, 4), ("cifar100/wrn40_2-wrn16_2", 3, 12),
])
def test_ikl_configs_are_the_released_ikl(name, alpha, beta):
    """DKLv1 configs/cifar100/ikl_kd/*.yaml: their own α/β, T = 4, warm-up 20, and the cfg.py defaults
    GI = False, T2 = 100 — not GKL at γ = 1 with the prior."""
    from gkl import reported

    i = CONFIGS[name].methods["ikl"]
    assert (i.alpha, i.beta, i.temperature, i.weight_temperature, i.prior, i.warmup) == (alpha, beta, 4, 100, False, 20)
    assert not hasattr(i, "gamma")  # IKL's weight exponent is 1, not a setting
    row = reported.load("released_configs").where(task="KD", method="IKL", student=CONFIGS[name].student_arch)
    assert len(row) == 1
    assert (row[0]["alpha"], row[0]["beta"], row[0]["weight_temperature"], row[0]["prior"]) == (alpha, beta, 100, False)


def test_profiles_ikl_is_the_released_ikl_of_their_pair():
    cpu = PROFILES["cpu"].methods
    assert (cpu["ikl"].alpha, cpu["ikl"].beta, cpu["ikl"].temperature, cpu["ikl"].weight_temperature, cpu["ikl"].prior) == (1, 4, 4, 100, False)
    assert cpu["gkl"].prior is True and cpu["gkl"].weight_temperature == 4
    gpu = PROFILES["gpu"].methods["ikl"]
    assert (gpu.alpha, gpu.beta, gpu.prior, gpu.weight_temperature) == (1, 8, False, 100)
    # the command line without --config starts from the CPU profile
    assert distill_mod.DEFAULT_METHOD_CONFIGS["ikl"] == cpu["ikl"]


def test_cli_help_states_the_ikl_defaults(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["distill", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "ikl: 1 × CE + λ·(1 × soft-label CE + 4 × wMSE), T 4, no class prior (per-sample weights at T2 100)" in out
    assert "gkl: 1 × CE + λ·(1 × soft-label CE + 4 × wMSE, γ 0.2), T 4, class prior at T2 4" in out
    # every flag name of the flat config still exists, each says which methods it applies to
    for flag in ("--alpha", "--beta", "--gamma", "--temperature", "--weight-temperature", "--ce-weight", "--kd-weight",
                 "--warmup", "--prior", "--no-prior"):
        assert f" {flag} " in out, flag
    assert "dkd: TCKD weight; ikl, gkl: weight of the soft-label CE" in out


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


@pytest.mark.slow
def test_gpu_profile_code_path_on_tiny_fake_cifar(tmp_path):
    from gkl.data import write_fake_cifar

    root = write_fake_cifar(tmp_path / "data", "cifar100", n_train=16, n_test=8)
    p = PROFILES["gpu"]
    tiny = p.replace(
        teacher_train={**p.teacher_train, "epochs": 1, "batch_size": 16, "amp": None},  # fp32 on the CPU
        train={**p.train, "epochs": 1, "batch_size": 16, "amp": None},
    )
    res = run_grid(tiny, {k: tiny.methods[k] for k in ("kd", "gkl")}, runs_dir=tmp_path / "runs", data_root=str(root), workers=1)
    rows = summarize(res)
    assert [r["method"] for r in rows] == ["kd", "gkl"]
    assert all(0.0 <= r["mean"] <= 1.0 for r in rows)
    h = res["gkl"][0].history[-1]
    assert {"train_ce", "train_kd_ce", "train_kd_wmse", "test_acc"} <= set(h)
    assert list((tmp_path / "runs" / "teachers").glob("cifar100-resnet32x4-*/teacher.pt"))


# ---------------------------------------------------------------------------------------------
# Figures and summaries on tiny inputs
# ---------------------------------------------------------------------------------------------
def _fake_histories():
    def run(offset):
        return [{"epoch": e, "test_acc": 0.5 + 0.1 * e + offset, "train_loss": 2.0 / e, "train_ce": 1.0 / e,
                 "train_kd": 1.0 / e} for e in (1, 2, 3)]
    return {"none": [run(0.0), run(0.01)], "kd": [run(0.05), run(0.06)]}


class _R:
    def __init__(self, h):
        self.history = h


def test_paired_verdicts():
    from gkl.experiments.distill import difference_sentence, paired_verdict, verdict_between

    assert paired_verdict([0.9, 0.91, 0.92], [0.8, 0.81, 0.79]) == "ahead"
    assert paired_verdict([0.8, 0.81, 0.79], [0.9, 0.91, 0.92]) == "behind"
    # a large mean gap with one seed of the other sign is not a detected difference
    assert paired_verdict([0.99, 0.99, 0.70], [0.80, 0.80, 0.80]) == "no difference detected"
    # per-seed differences of both signs around a small mean are not one either ...
    assert paired_verdict([0.81, 0.84, 0.92], [0.80, 0.85, 0.90]) == "no difference detected"
    # ... while the same small gap on every seed is (paired: the seed spread cancels)
    assert paired_verdict([0.81, 0.86, 0.91], [0.80, 0.85, 0.90]) == "ahead"
    assert paired_verdict([0.9], [0.1]) == "no difference detected"  # one seed: no spread to compare with
    v = verdict_between([0.9, 0.91, 0.92], [0.8, 0.81, 0.79])
    assert v["verdict"] == "ahead" and v["wins"] == 3 and v["n"] == 3 and v["delta"] == pytest.approx(0.11)
    s = difference_sentence([0.9, 0.91, 0.92], [0.8, 0.81, 0.79], "GKL", "KD")
    assert s.startswith("GKL is ahead of KD (+11.0 points, 95 % CI [+") and s.endswith(", 3/3 seeds higher)")
    s = difference_sentence([0.9], [0.1], "GKL", "KD")
    assert s.startswith("no difference detected between GKL and KD (+80.0 points")
    rows = distill_mod.summarize({k: [_R(h) for h in hs] for k, hs in _fake_histories().items()})
    assert verdict_between(rows[1], rows[0])["verdict"] == "ahead"


def test_summaries_and_comparison():
    res = {k: [_R(h) for h in hs] for k, hs in _fake_histories().items()}
    rows = distill_mod.summarize(res)
    assert rows[0]["method"] == "none" and rows[0]["mean"] == pytest.approx(0.805)
    assert rows[0]["std"] == pytest.approx(0.01 / math.sqrt(2))
    cmp = distill_mod.compare_to(res, "none")
    assert cmp[0]["method"] == "kd" and cmp[0]["wins"] == 2 and cmp[0]["verdict"] == "better"
    assert "| kd |" in distill_mod.format_comparison(cmp)
    assert "80.50 ± 0.71" in distill_mod.format_table(rows)
    one = distill_mod.summarize({"kd": [_R(_fake_histories()["kd"][0])]})
    assert one[0]["std"] == 0.0 and one[0]["n"] == 1  # gkl.experiments.stats.mean_std: no spread from one seed
    assert "(one seed)" in distill_mod.format_table(one) and "±" not in distill_mod.format_table(one)
    with pytest.raises(ValueError, match="baseline"):
        distill_mod.compare_to(res, "dkd")


def test_figures_draw_what_they_are_given():
    from gkl.figures import distill as vd

    hist = _fake_histories()
    res = {k: [_R(h) for h in hs] for k, hs in hist.items()}
    rows = distill_mod.summarize(res)
    fig = vd.accuracy_bars(rows, reference={"teacher": 0.9})
    bars = [t for t in fig.data if t.type == "bar"]
    assert [b.x[0] for b in bars] == ["none", "kd"] and bars[1].y[0] == pytest.approx(100 * rows[1]["mean"])
    fig = vd.learning_curves(hist)
    lines = [t for t in fig.data if t.mode == "lines" and t.visible]
    assert {t.name for t in lines} == {"none", "kd"}
    assert list(lines[0].x) == [1, 2, 3]
    fig = vd.loss_term_curves(hist)
    assert {t.name for t in fig.data} == {"ce", "kd"}
    rep = {"acc": 0.8, "ece": 0.05, "bin_conf": [0.5, 0.9], "bin_acc": [0.4, 0.95], "bin_count": [3, 7]}
    fig = vd.reliability_diagram({"kd": rep})
    assert "ECE 5.0%" in fig.data[1].name
    fig = vd.sweep_plot([0.0, 0.5], rows, "γ", "t", {"alone": rows[0]})
    assert list(fig.data[0].x) == [0.0, 0.5]


def test_reported_figures():
    from gkl import reported
    from gkl.figures import distill as vd

    fig = vd.reported_kd_bars(reported.load("imagenet_kd"))
    assert {t.name for t in fig.data} == {"GKL", "ReviewKD", "DKD"}
    assert "not reproduced" in fig.layout.title.text
    fig = vd.robustbench_bars(reported.load("robustbench_autoattack"))
    gkl_aa = [t for t in fig.data if t.name == "GKL"][0]
    assert list(gkl_aa.y) == [57.13, 67.75, 31.91, 32.52, 39.37]
    base_aa = [t for t in fig.data if t.name != "GKL"][0]
    assert list(base_aa.y) == [56.17, 67.31, 30.77, 31.30, 38.83] and "AWP" in base_aa.text[0]


def test_gkl_recipe_runs_and_keeps_teacher():
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    x, y = torch.randn(64, 6), torch.randint(0, 3, (64,))
    teacher = nn.Linear(6, 3)
    student = nn.Linear(6, 3)
    before = [p.detach().clone() for p in teacher.parameters()]
    s0 = student.weight.detach().clone()
    distill_mod.gkl_recipe(student, teacher, DataLoader(TensorDataset(x, y), batch_size=32), 3, epochs=2, warmup=1)
    assert all(torch.equal(a, b) for a, b in zip(before, teacher.parameters()))
    assert not torch.equal(s0, student.weight)


def test_ablation_sweeps_move_one_setting_from_the_tuned_point():
    p = PROFILES["cpu"]  # stands in for the tuned profile: the sweeps work around any GKL setting
    g, ikl = p.methods["gkl"], p.methods["ikl"]
    sweeps = {s.name: s for s in distill_mod.ablation_sweeps(p)}
    assert set(sweeps) == {"asymmetry", "prior", "gamma", "beta", "temperature"}
    for s in sweeps.values():
        assert len(s.values) == len(s.configs) == len(set(map(str, s.values)))
        assert sum(c is g for c in s.configs) == 1  # the tuned point itself: the chapter's cached runs
        for c in s.configs:  # every other value differs from the tuned GKL in one setting only
            if c is not g and c.method == "gkl":
                assert sum(a != b for a, b in zip(c.to_dict().values(), g.to_dict().values())) == 1
    assert sweeps["gamma"].values == (0.2, 1.0)
    assert sweeps["beta"].values == (0.0, g.beta / 4, g.beta, g.beta * 4)  # both ways, and β = 0
    assert sweeps["beta"].configs[0] == sweeps["asymmetry"].configs[0]  # β = 0: one run, shared
    assert sweeps["asymmetry"].configs == (g.replace(beta=0.0), g, ikl)  # IKL: the chapter's tuned IKL
    assert [c.prior for c in sweeps["prior"].configs] == [True, False]


def test_ablation_rows_pair_each_value_with_the_tuned_gkl():
    class R:
        def __init__(self, a):
            self.history = [{"test_acc": a}]

    p = PROFILES["cpu"]
    g = p.methods["gkl"]
    s = distill_mod.Sweep("beta", "β", (1.0, 4.0), (g.replace(beta=1.0), g))
    ref = [R(0.90), R(0.91), R(0.92)]
    runs = {"beta": {"1.0": [R(0.92), R(0.93), R(0.94)], "4.0": ref}}
    (row,) = distill_mod.ablation_rows([s], runs, g, ref)
    assert row["value"] == "1.0" and row["delta"] == pytest.approx(0.02) and row["verdict"] == "ahead"


def _one_epoch_digits_profile(name):
    """A 1-epoch digits profile (MLP teacher and student; student alone and GKL; seeds 0, 1)."""
    from gkl.experiments.distill import Profile

    return Profile(
        name=name, dataset="digits", teacher_arch="mnist1d_mlp", teacher_kwargs=MLP_T,
        teacher_train={**DIGITS_TRAIN, "epochs": 1}, student_arch="mnist1d_mlp", student_kwargs=MLP_S,
        train={k: v for k, v in DIGITS_TRAIN.items() if k != "seed"} | {"epochs": 1},
        methods={"none": distill_config("none"), "gkl": distill_config("gkl", gamma=0.5)}, seeds=(0, 1),
    )


def test_run_grid_loads_finished_runs_without_workers(tmp_path, monkeypatch):
    p = _one_epoch_digits_profile("digits-cache")
    first = run_grid(p, runs_dir=tmp_path, workers=1)
    import concurrent.futures

    def refuse(*a, **k):
        raise AssertionError("no worker pool is needed when every run is cached")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", refuse)
    again = run_grid(p, runs_dir=tmp_path, workers=2)
    strip = lambda rs: [[{k: v for k, v in h.items() if k != "time_s"} for h in r.history] for r in rs]  # noqa: E731
    assert all(strip(first[k]) == strip(again[k]) for k in p.methods)


def test_prefetch_trains_only_what_is_missing_in_one_pool(tmp_path, monkeypatch):
    import gkl.experiments.distill.runs as R

    p = _one_epoch_digits_profile("digits-prefetch")
    pools = []

    def serial_pool(fn, tasks, workers):  # one pool call, run in this process
        pools.append(len(tasks))
        return [fn(t) for t in tasks]

    monkeypatch.setattr(R, "run_parallel", serial_pool)
    run_grid(p, {"none": p.methods["none"]}, runs_dir=tmp_path, workers=2)  # 2 runs cached
    configs = [p.methods["none"], p.methods["gkl"], distill_config("gkl", gamma=0.5)]  # a duplicate of gkl
    assert R.prefetch(p, configs, runs_dir=tmp_path, workers=2) == 2  # only gkl's two seeds
    assert pools == [2, 2]
    assert R.prefetch(p, configs, runs_dir=tmp_path, workers=2) == 0 and pools == [2, 2]


def test_show_renders_tables_as_html():
    from gkl.figures.markdown import markdown_to_html, show

    md = "Some **bold** `x<y`\n\n| a | b |\n|---|---|\n| 1 | **2** |\n\n* one\n* two"
    html = markdown_to_html(md)
    assert markdown_to_html("*γ < 1 helps*; *GKL's*, 2 * 3") == "<p><em>γ &lt; 1 helps</em>; <em>GKL's</em>, 2 * 3</p>"
    assert "<table" in html and "<th>a</th>" in html and "<td><strong>2</strong></td>" in html
    assert "<code>x&lt;y</code>" in html and html.count("<li>") == 2
    assert "|---|" not in html
    r = show(md)
    assert r._repr_markdown_() == md and r._repr_html_() == html


@pytest.mark.slow
def test_parallel_grid_equals_serial(tmp_path):
    from gkl.experiments.distill import Profile

    p = Profile(
        name="digits-tiny", dataset="digits", teacher_arch="mnist1d_mlp", teacher_kwargs=MLP_T,
        teacher_train=DIGITS_TRAIN, student_arch="mnist1d_mlp", student_kwargs=MLP_S,
        train={k: v for k, v in DIGITS_TRAIN.items() if k != "seed"},
        methods={"none": distill_config("none"), "gkl": distill_config("gkl", gamma=0.5)},
        augment="mix", seeds=(0, 1),
    )
    par = run_grid(p, runs_dir=tmp_path / "a", workers=2)
    ser = run_grid(p, runs_dir=tmp_path / "b", workers=1)
    strip = lambda rs: [[{k: v for k, v in h.items() if k != "time_s"} for h in r.history] for r in rs]  # noqa: E731
    assert all(strip(par[k]) == strip(ser[k]) for k in p.methods)


# ---------------------------------------------------------------------------------------------
# A new distiller is one class registered from anywhere: build, engine, CLI and run cache find it
# ---------------------------------------------------------------------------------------------
import dataclasses  # noqa: E402

from gkl.experiments.distill import run_dir  # noqa: E402
from gkl.methods.distill import DistillConfig, Distiller, describe, param  # noqa: E402


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


@pytest.fixture
def throwaway():
    DISTILLERS.register(_ScaledKD)
    try:
        yield _ScaledKD
    finally:
        DISTILLERS.unregister(_ScaledKD.name)
    assert _ScaledKD.name not in DISTILLERS


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
    args = cli.build_parser().parse_args(base + ["--method", "scaled_kd_test", "--scale", "0.1", "--out", "x"])
    assert (args.method, args.scale) == ("scaled_kd_test", 0.1)
    code, out, err = _cli(base + ["--method", "scaled_kd_test", "--scale", "0.1", "--out", str(tmp_path / "a")], capsys)
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert "train_kd" in rows[-1]
    code, _, err = _cli(base + ["--method", "kd", "--scale", "0.1", "--out", str(tmp_path / "b")], capsys)
    assert code == 2 and "--scale does not apply to method kd" in err


def test_run_keys_hash_only_the_methods_own_config(tmp_path):
    p = PROFILES["cpu"]
    kd, gkl_cfg = p.methods["kd"], p.methods["gkl"]
    assert set(kd.to_dict()) == {"method", "ce_weight", "kd_weight", "temperature"}
    a = run_dir(p, kd, 0, tmp_path, "t")
    assert run_dir(p, kd.replace(kd_weight=2.0), 0, tmp_path, "t") != a
    assert run_dir(p, kd, 0, tmp_path, "other teacher") != a
    none = p.methods["none"]
    assert run_dir(p, none, 0, tmp_path, "t") == run_dir(p, none, 0, tmp_path, "other")  # no teacher, no key part
    assert run_dir(p, gkl_cfg, 0, tmp_path, "t").name.startswith("gkl-s0-")
