"""The claims page's clean distillation tests run the configurations they say they run: KD with only
the student-side wMSE added (checked against KD and the independent pairwise reference, float64,
values and gradients, at T != 1), the prior at a larger β, and γ = 1 against the tuned γ."""

from __future__ import annotations

import pytest
import torch

from gkl.experiments import distill
from gkl.methods.distill import build_distiller, distill_config
from tests import reference as ref


@pytest.mark.parametrize("T,w", [(4.0, 1.0), (2.0, 0.5), (1.0, 3.0)])
def test_kd_with_student_wmse_is_kd_plus_the_student_side_wmse(T, w):
    g = torch.Generator().manual_seed(int(T * 10 + w))
    B, C = 6, 7
    student = (3 * torch.randn(B, C, generator=g, dtype=torch.float64)).requires_grad_()
    teacher = (3 * torch.randn(B, C, generator=g, dtype=torch.float64)).requires_grad_()
    y = torch.randint(0, C, (B,), generator=g)
    kd = distill_config("kd", kd_weight=w, temperature=T)
    broken = distill.kd_with_student_wmse(kd)
    assert (broken.method, broken.gamma, broken.weight_temperature, broken.prior, broken.warmup) == ("gkl", 1.0, T, False, 0)

    def loss(cfg):
        return sum(build_distiller(torch.nn.Identity(), cfg, C).kd_terms(student, teacher, y, epoch=1, training=True).values())

    def grads(value):
        return torch.autograd.grad(value, (student, teacher))

    kd_value, broken_value = loss(kd), loss(broken)
    wmse, _ = ref.gkl_terms(student, teacher, gamma=1.0, T=T, T2=T)  # raw logits, weights s_m^T[j] s_m^T[k]
    g_kd, g_broken, g_wmse = grads(kd_value), grads(broken_value), grads(w * wmse)
    # the student's gradient: KD's plus w x the wMSE's (the asymmetry broken, nothing else changed)
    torch.testing.assert_close(g_broken[0], g_kd[0] + g_wmse[0], rtol=1e-10, atol=1e-12)
    # the teacher side: the same gradient as KD's term (the wMSE is KD's teacher-side part, at this weight)
    torch.testing.assert_close(g_broken[1], g_kd[1], rtol=1e-10, atol=1e-12)
    assert (g_wmse[0].abs().max() > 1e-3).item()  # the added student gradient is not zero
    # the value: KD's T^2 w KL = T^2 w (CE - H(s_m)) plus the wMSE term
    ce = ref.soft_ce(student, teacher, T)
    sm = ref.softmax(teacher / T)
    H = -(sm * ref.log_softmax(teacher / T)).sum(1).mean()
    torch.testing.assert_close(kd_value, w * T * T * (ce - H), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(broken_value, w * T * T * ce + w * wmse, rtol=1e-10, atol=1e-12)


def test_kd_with_student_wmse_needs_kd():
    with pytest.raises(ValueError, match="needs a KD config"):
        distill.kd_with_student_wmse(distill_config("gkl"))


def test_claim_pairs_change_one_thing(monkeypatch):
    monkeypatch.delenv("GKL_SMOKE", raising=False)
    p = distill.tuned_profile("cpu")
    pairs = distill.claim_pairs(p)
    kd, g = p.methods["kd"], p.methods["gkl"]
    (ref_label, ref_cfg), (_, new) = pairs["asymmetry"].items()
    assert ref_cfg == kd and new == distill.kd_with_student_wmse(kd)
    off, on = pairs["prior"].values()
    assert off == on.replace(prior=False) and on.prior and on.beta == g.beta * max(distill.MOVES["beta"]) > g.beta
    one, tuned = pairs["gamma"].values()
    assert tuned == g and one == g.replace(gamma=1.0) and g.gamma < 1
    # runs shared with the ablations page (the same configs, so the same cache entries)
    ablated = {repr(c) for s in distill.ablation_sweeps(p) for c in s.configs}
    assert repr(on) in ablated and repr(one) in ablated


def test_page_plan_counts_what_the_cache_holds_and_offers_the_smoke_run(tmp_path, monkeypatch):
    from gkl.experiments.distill.runs import run_dir
    from gkl.experiments.record import read_record

    monkeypatch.delenv("GKL_SMOKE", raising=False)
    p = distill.tuned_profile("cpu")
    alone = p.methods["none"]  # needs no teacher: its cache folder is known without one
    record = read_record("distill-cpu")
    text = distill.page_plan(p, [alone, alone, p.methods["kd"]], record, runs_dir=tmp_path)
    n = len(p.seeds)
    assert f"needs {2 * n} student run(s) (2 configuration(s)" in text  # the duplicate counted once
    assert "0 are in the run cache" in text and f"trains {2 * n} (after training their teacher) now" in text
    assert "CPU-minutes" in text and "GKL_SMOKE=1" in text
    # one finished run of the student alone: a checkpoint and one metrics line per epoch
    out = run_dir(p, alone, p.seeds[0], tmp_path, None)
    out.mkdir(parents=True)
    (out / "checkpoint.pt").write_bytes(b"x")
    (out / "metrics.jsonl").write_text("{}\n" * int(p.train["epochs"]))
    text = distill.page_plan(p, [alone], record, runs_dir=tmp_path)
    assert "1 are in the run cache" in text and f"trains {n - 1} now" in text and "teacher" not in text
    monkeypatch.setenv("GKL_SMOKE", "1")
    smoke = distill.tuned_profile("cpu")
    assert "a smoke run" in distill.page_plan(smoke, [alone], record, runs_dir=tmp_path)


def test_cached_runs_of_the_adversarial_chapter(tmp_path, monkeypatch):
    import json

    from gkl.experiments import adversarial as at
    from gkl.experiments.adversarial.runs import _run_dir

    monkeypatch.delenv("GKL_SMOKE", raising=False)
    p = at.chapter_profile("cpu")
    total = len(p.methods) * len(p.seeds)
    assert at.cached_runs(p, tmp_path) == (0, total)
    label, seed = next(iter(p.methods)), p.seeds[0]
    out = _run_dir(tmp_path, p, label, seed)
    out.mkdir(parents=True)
    (out / "result.json").write_text(json.dumps({"key": "another key"}))  # a stale result does not count
    assert at.cached_runs(p, tmp_path) == (0, total)
    (out / "result.json").write_text(json.dumps({"key": p.key(label, seed)}))
    assert at.cached_runs(p, tmp_path) == (1, total)


def test_released_balance_moves_beta_only(monkeypatch):
    monkeypatch.delenv("GKL_SMOKE", raising=False)
    p = distill.tuned_profile("cpu")
    g = p.methods["gkl"]
    rows = [{"alpha": 1.0, "beta": b, "temperature": 4.0} for b in (1.0, 4.0, 16.0)]  # 16x, 64x, 256x KL's
    cfg, ratio, n = distill.released_balance(p, rows)
    assert (ratio, n) == (64.0, 3) and cfg == g.replace(beta=64.0 * g.alpha / g.temperature ** 2)
    assert cfg.beta / cfg.alpha * cfg.temperature ** 2 == pytest.approx(64.0)
    cfg, ratio, n = distill.released_balance(p)  # the package's released CIFAR-100 GKL settings
    assert n >= 5 and ratio > 10 and cfg.beta > g.beta
    with pytest.raises(ValueError, match="at least one released"):
        distill.released_balance(p, [])
