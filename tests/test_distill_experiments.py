"""The distillation chapters' experiments (gkl/experiments/distill): named and profiled configurations,
run grids and their cache keys, summaries, verdicts, ablations, the student report and the recipe.

Their figures: tests/test_figures.py; the tuning sweep: tests/test_distill_sweep.py."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gkl.experiments import distill as distill_mod
from gkl.experiments.distill import CONFIGS, PROFILES, run_dir, run_grid, student_report, summarize
from gkl.methods.distill import distill_config
from tests.conftest import DIGITS_TRAIN, MLP_S, MLP_T, FakeRun, fake_histories


def test_student_report(digits_teacher):
    from gkl.data import get_dataset

    _, test, _ = get_dataset("digits")
    r = student_report(digits_teacher, digits_teacher, test)
    assert r["agreement"] == 1.0
    assert 0 <= r["ece"] <= 1 and abs(sum(r["bin_count"]) - len(test)) < 1e-9


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


def test_paired_verdicts():
    from gkl.experiments.distill import difference_sentence, paired_verdict, verdict_between

    assert paired_verdict([0.9, 0.91, 0.92], [0.8, 0.81, 0.79]) == "ahead"
    assert paired_verdict([0.8, 0.81, 0.79], [0.9, 0.91, 0.92]) == "behind"
    # a large mean gap with one seed of the other sign is not a detected difference
    assert paired_verdict([0.99, 0.99, 0.70], [0.80, 0.80, 0.80]) == "no difference detected"
    # per-seed differences of both signs around a small mean are not one either ...
    assert paired_verdict([0.81, 0.84, 0.92], [0.80, 0.85, 0.90]) == "no difference detected"
    # ... while a small gap of about the same size on every seed is (paired: the seed spread cancels)
    assert paired_verdict([0.81, 0.862, 0.91], [0.80, 0.85, 0.90]) == "ahead"
    # exactly the same gap on 3 seeds has no spread: the exact sign-flip test, p = 0.25
    assert paired_verdict([0.81, 0.86, 0.91], [0.80, 0.85, 0.90]) == "no difference detected"
    assert paired_verdict([0.9], [0.1]) == "too few seeds"  # one seed: no spread to compare with
    assert paired_verdict([0.9, 0.8], [0.1, 0.2]) == "too few seeds"  # two: no verdict either
    assert paired_verdict([0.9, 0.8, 0.7], [0.8, 0.7, 0.6]) == "no difference detected"  # no spread, n = 3
    v = verdict_between([0.9, 0.91, 0.92], [0.8, 0.81, 0.79])
    assert v["verdict"] == "ahead" and v["wins"] == 3 and v["n"] == 3 and v["delta"] == pytest.approx(0.11)
    assert v["mde"] == pytest.approx(v["diff"].mde) and v["mde"] > 0
    s = difference_sentence([0.9, 0.91, 0.92], [0.8, 0.81, 0.79], "GKL", "KD")
    assert s.startswith("GKL is ahead of KD (+11.0 points, 95 % CI [+") and s.endswith(", 3/3 seeds higher)")
    assert f"MDE {v['diff'].mde_text()} points" in s
    s = difference_sentence([0.9], [0.1], "GKL", "KD")
    assert s.startswith("too few seeds to compare GKL and KD (+80.0 points")
    s = difference_sentence([0.9, 0.8, 0.7], [0.8, 0.7, 0.6], "GKL", "KD")
    assert "no interval (no spread), exact sign-flip p = 0.25" in s and s.startswith("no difference detected")
    rows = distill_mod.summarize({k: [FakeRun(h) for h in hs] for k, hs in fake_histories().items()})
    assert verdict_between(rows[1], rows[0])["verdict"] == "too few seeds"  # two seeds


def test_summaries_and_comparison():
    res = {k: [FakeRun(h) for h in hs] for k, hs in fake_histories().items()}
    rows = distill_mod.summarize(res)
    assert rows[0]["method"] == "none" and rows[0]["mean"] == pytest.approx(0.805)
    assert rows[0]["std"] == pytest.approx(0.01 / math.sqrt(2))
    cmp = distill_mod.compare_to(res, "none")
    assert cmp[0]["method"] == "kd" and cmp[0]["wins"] == 2 and cmp[0]["verdict"] == "too few seeds"  # two seeds
    three = {k: [FakeRun([{**h, "test_acc": h["test_acc"] + e} for h in hs[0]]) for e in (0.0, 0.01, 0.03)]
             for k, hs in fake_histories().items()}
    three["kd"][2].history[-1]["test_acc"] += 0.01  # spread in the differences: an interval
    (kd,) = distill_mod.compare_to(three, "none")
    assert kd["verdict"] == "better" and kd["mde"] > 0
    assert "| kd |" in distill_mod.format_comparison(cmp) and "| MDE (points) |" in distill_mod.format_comparison(cmp)
    assert "80.50 ± 0.71" in distill_mod.format_table(rows)
    one = distill_mod.summarize({"kd": [FakeRun(fake_histories()["kd"][0])]})
    assert one[0]["std"] == 0.0 and one[0]["n"] == 1  # gkl.experiments.stats.mean_std: no spread from one seed
    assert "(one seed)" in distill_mod.format_table(one) and "±" not in distill_mod.format_table(one)
    with pytest.raises(ValueError, match="baseline"):
        distill_mod.compare_to(res, "dkd")


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
    assert row["value"] == "1.0" and row["delta"] == pytest.approx(0.02)
    # +2 points on every seed: no spread, so no interval; 3 seeds: the exact sign-flip p = 0.25
    assert row["verdict"] == "no difference detected at n = 3" and row["low"] is None and row["mde"] is None
    runs["beta"]["1.0"] = [R(0.92), R(0.935), R(0.94)]
    (row,) = distill_mod.ablation_rows([s], runs, g, ref)
    assert row["verdict"] == "ahead" and row["mde"] == row["diff"].mde > 0


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
