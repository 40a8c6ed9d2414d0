"""The loss benchmark script: it runs, its pairwise form is the same loss, it times what it says (rotated
rounds, the pairwise form on its own), its tables are well formed.
(No timing is asserted: speed is measured by `python -m gkl.bench`, not by tests.)"""

from __future__ import annotations

import json

import pytest
import torch

import gkl
from gkl import bench
from gkl.bench import timing
from gkl.cli import main as cli_main


@pytest.mark.parametrize("use_prior", [False, True])
def test_pairwise_form_equals_closed_form(use_prior):
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(5, 9, generator=g, dtype=torch.float64), torch.randn(5, 9, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 3, 8, 2, 2])
    prior = torch.softmax(torch.randn(9, 9, generator=g, dtype=torch.float64), 1) if use_prior else None
    kw = dict(alpha=2.0, beta=8.0, gamma=0.2, temperature=4.0, weight_temperature=2.0)
    torch.testing.assert_close(bench.pairwise_gkl(s, t, y, prior, **kw), gkl.gkl(s, t, y if use_prior else None, prior, **kw))


def test_benchmark_rows_and_memory_growth():
    rows = bench.benchmark_losses(batch=16, classes=[4, 128], repeats=2, warmup=1, device="cpu")
    want = {(i, c, case) for i in bench.IMPLEMENTATIONS for c in (4, 128) for case in bench.CASES}
    assert {(r["impl"], r["classes"], r["case"]) for r in rows} == want
    assert all(r["median_ms"] > 0 and r["q1_ms"] <= r["median_ms"] <= r["q3_ms"] for r in rows)
    assert all(r["peak_mib"] >= 0 and r["batch"] == 16 and len(r["times_ms"]) == r["repeats"] == 2 for r in rows)
    peak = {(r["impl"], r["classes"], r["case"]): r["peak_mib"] for r in rows}
    # The pairwise form holds (B, C, C) tensors: at C = 128 that is 1 MiB each; the closed form stays O(B·C).
    for case in bench.CASES:
        assert peak[("pairwise", 128, case)] > 1.0
        assert peak[("gkl", 128, case)] < 0.25 * peak[("pairwise", 128, case)]
        assert peak[("gkl_prior", 128, case)] < 0.25 * peak[("pairwise", 128, case)]


def test_rounds_rotate_and_pairwise_runs_alone(monkeypatch):
    """Each round calls every implementation once, starting one place later than the round before;
    the pairwise form is called only after all the rounds of the others."""
    calls = []

    def recorder(name):
        def fn(s, t, y, prior):
            calls.append(name)
            return (s * t).sum()

        return fn

    fake = {name: recorder(name) for name in ("a", "b", "c", "pairwise")}
    monkeypatch.setattr(timing, "IMPLEMENTATIONS", fake)
    monkeypatch.setattr(timing, "_peak_mib", lambda *args: 0.0)
    bench.benchmark_losses(batch=2, classes=[3], repeats=4, warmup=0, cases=["kd"], implementations=list(fake), pairwise_repeats=2)
    assert calls == ["a", "b", "c", "b", "c", "a", "c", "a", "b", "a", "b", "c", "pairwise", "pairwise"]


def test_teacher_gradient_only_in_the_at_case(monkeypatch):
    seen = []

    def fn(s, t, y, prior):
        seen.append(t.requires_grad)
        assert prior.shape == (3, 3) and y.shape == (2,) and int(y.max()) < 3
        torch.testing.assert_close(prior.sum(1), torch.ones(3))  # a ClassPrior after one epoch
        return (s * t).sum()

    monkeypatch.setattr(timing, "IMPLEMENTATIONS", {"f": fn})
    monkeypatch.setattr(timing, "_peak_mib", lambda *args: 0.0)
    rows = bench.benchmark_losses(batch=2, classes=[3], repeats=1, warmup=0, implementations=["f"], cases=["kd", "at"])
    assert seen == [False, True] and [r["case"] for r in rows] == ["kd", "at"]


def _row(impl, C, case, times, mib=1.0):
    return {"impl": impl, "classes": C, "case": case, "median_ms": sorted(times)[len(times) // 2], "times_ms": times, "peak_mib": mib}


def test_ratio_uses_paired_rounds_and_reports_the_spread():
    rows = [
        _row("gkl", 10, "kd", [1.0, 2.0, 3.0, 4.0, 5.0]),
        _row("torch_kl_div", 10, "kd", [2.0, 2.0, 2.0, 2.0, 2.0]),
        _row("pairwise", 10, "kd", [300.0, 300.0, 300.0]),
    ]
    med, q1, q3 = bench.ratio(rows, "gkl", "torch_kl_div", 10, "kd")
    assert (med, q1, q3) == (1.5, 1.0, 2.0)  # quartiles of the per-round ratios 0.5 .. 2.5
    assert bench.ratio(rows, "pairwise", "gkl", 10, "kd") == (100.0, 100.0, 100.0)  # not paired: medians
    table = bench.rows_to_markdown(rows)
    assert table.splitlines()[0].startswith("| C | case | gkl ms | torch_kl_div ms | pairwise ms |")
    assert "| 10 | kd | 3.000 | 2.000 | 300.000 |" in table
    assert "1.50× (1.00–2.00)" in table and "| 100× |" in table
    memory = bench.memory_to_markdown(rows)
    assert memory.splitlines()[0] == "| C | case | gkl MiB | torch_kl_div MiB | pairwise MiB |"


def test_markdown_without_cases_or_round_times():
    rows = [
        {"impl": i, "classes": c, "median_ms": m, "peak_mib": 1.0}
        for i, c, m in [("gkl", 10, 1.0), ("pairwise", 10, 3.0), ("torch_kl_div", 10, 2.0)]
    ]
    table = bench.rows_to_markdown(rows)
    assert table.splitlines()[0].startswith("| C | gkl ms")
    assert "| 10 | 1.000 | 3.000 | 2.000 |" in table and "3.00×" in table and "0.50×" in table


def test_cli_writes_json_and_markdown(tmp_path, capsys):
    argv = ["--batch", "4", "--classes", "3", "--repeats", "2", "--pairwise-repeats", "1", "--out", str(tmp_path)]
    assert cli_main(["bench", *argv, "--clock", "thread", "--device", "cpu"]) == 0
    data = json.loads((tmp_path / "loss_benchmark.json").read_text())
    assert len(data["rows"]) == len(bench.IMPLEMENTATIONS) * len(bench.CASES) and data["meta"]["torch"] == torch.__version__
    assert data["meta"]["clock"] == "thread" and {r["clock"] for r in data["rows"]} == {"thread"}
    text = (tmp_path / "loss_benchmark.md").read_text()
    assert "| C | case |" in text and "Peak memory" in text and "interquartile" in text


def test_bad_arguments(capsys):
    assert cli_main(["bench", "--classes", "0"]) == 2
    assert "--classes must be >= 1" in capsys.readouterr().err
    assert cli_main(["bench", "--cases", "nope"]) == 2
    assert "argument --cases: invalid choice" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown implementations"):
        bench.benchmark_losses(classes=[3], implementations=["nope"])
    with pytest.raises(ValueError, match="unknown cases"):
        bench.benchmark_losses(classes=[3], cases=["nope"])
    with pytest.raises(ValueError, match="clock"):
        bench.benchmark_losses(classes=[3], clock="sundial")
