"""GKL_SMOKE: the chapters' profiles shrink to a smoke run only when asked, under names of their own."""

from __future__ import annotations

from gkl.experiments import adversarial as at
from gkl.experiments import distill, smoke
from gkl.experiments.profile import AT_CHAPTER_SEEDS, CHAPTER_SEEDS
from gkl.experiments.record import read_record


def test_profiles_are_untouched_without_the_variable(monkeypatch):
    monkeypatch.delenv(smoke.ENV, raising=False)
    record = read_record("adversarial-cpu")
    p = at.chapter_profile(record)
    assert p.epochs == record["epoch_budget"]["chosen"] and p.seeds == AT_CHAPTER_SEEDS and not p.name.endswith("-smoke")
    d = distill.tuned_profile("cpu")
    assert d.train["epochs"] == read_record("distill-cpu")["epoch_budget"]["chosen"] and d.seeds == CHAPTER_SEEDS
    monkeypatch.setenv(smoke.ENV, "0")
    assert not smoke.enabled() and at.chapter_profile(record) == p


def test_smoke_profiles_are_small_and_never_share_a_cache_folder(monkeypatch):
    monkeypatch.delenv(smoke.ENV, raising=False)
    record = read_record("adversarial-cpu")
    real_at, real_kd = at.chapter_profile(record), distill.tuned_profile("cpu")
    monkeypatch.setenv(smoke.ENV, "1")
    p = at.chapter_profile(record)
    assert (p.epochs, p.seeds, p.test_subset, p.autoattack_subset) == (1, (0, 1), 64, 4)
    assert p.name == real_at.name + "-smoke" and p.methods == real_at.methods
    assert p.key("GKL", 0) != real_at.key("GKL", 0)
    d = distill.tuned_profile("cpu")
    assert d.train["epochs"] == 1 and d.teacher_train["epochs"] == 1 and d.seeds == (0, 1)
    assert d.name == real_kd.name + "-smoke" and d.methods == real_kd.methods
    assert smoke.distill(d) == d  # shrinking twice changes nothing


def test_chapters_announce_a_smoke_run(monkeypatch, capsys):
    from gkl.figures import runtime

    monkeypatch.setenv(smoke.ENV, "1")
    runtime.start()
    assert smoke.BANNER in capsys.readouterr().out
    monkeypatch.delenv(smoke.ENV)
    runtime.start()
    assert capsys.readouterr().out == ""


def test_a_cifar_smoke_run_on_a_cpu_attacks_a_handful_of_points(monkeypatch):
    """PreActResNet-18 on a CPU: the GPU profile's smoke run checks the code path on 16 test points,
    AutoAttack on 2, PGD against ε only at 0 and the training ε (with CUDA: the usual smoke sizes)."""
    import torch

    monkeypatch.setenv(smoke.ENV, "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    base = at.PROFILES["gpu"]
    p = smoke.adversarial(base)
    assert (p.test_subset, p.autoattack_subset) == (16, 2) and p.curve_epsilons == (0.0, base.epsilon)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    q = smoke.adversarial(base)
    assert (q.test_subset, q.autoattack_subset, q.curve_epsilons) == (64, 4, base.curve_epsilons)
