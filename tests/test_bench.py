"""The loss benchmark script: it runs, its pairwise form is the same loss, its table is well formed.
(No timing is asserted: speed is measured by `python -m gkl.bench`, not by tests.)"""

from __future__ import annotations

import json

import pytest
import torch

import gkl
from gkl import bench


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
    assert {(r["impl"], r["classes"]) for r in rows} == {(i, c) for i in bench.IMPLEMENTATIONS for c in (4, 128)}
    assert all(r["median_ms"] > 0 and r["peak_mib"] >= 0 and r["batch"] == 16 for r in rows)
    peak = {(r["impl"], r["classes"]): r["peak_mib"] for r in rows}
    # The pairwise form holds (B, C, C) tensors: at C = 128 that is 1 MiB each; the closed form stays O(B·C).
    assert peak[("pairwise", 128)] > 1.0
    assert peak[("gkl", 128)] < 0.25 * peak[("pairwise", 128)]


def test_markdown_table():
    rows = [
        {"impl": i, "classes": c, "median_ms": m, "peak_mib": 1.0}
        for i, c, m in [("gkl", 10, 1.0), ("pairwise", 10, 3.0), ("torch_kl_div", 10, 2.0)]
    ]
    table = bench.rows_to_markdown(rows)
    assert table.splitlines()[0].startswith("| C | gkl ms")
    assert "| 10 | 1.000 | 3.000 | 2.000 |" in table and "3.00×" in table and "0.50×" in table


def test_cli_writes_json_and_markdown(tmp_path, capsys):
    assert bench.main(["--batch", "4", "--classes", "3", "--repeats", "1", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "loss_benchmark.json").read_text())
    assert len(data["rows"]) == len(bench.IMPLEMENTATIONS) and data["meta"]["torch"] == torch.__version__
    assert "| C |" in (tmp_path / "loss_benchmark.md").read_text()


def test_bad_arguments():
    with pytest.raises(SystemExit):
        bench.main(["--classes", "0"])
    with pytest.raises(ValueError, match="unknown implementations"):
        bench.benchmark_losses(classes=[3], implementations=["nope"])
