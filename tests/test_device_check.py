"""The GPU device check cannot rot: its CPU dry run executes every part of it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_device_check_dry_run_writes_every_section(tmp_path):
    out = tmp_path / "device.json"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "device_check.py"), "--dry-run", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["dry_run"] and res["device"].startswith("cpu")
    losses = {(r["C"], r["loss"], r["precision"]) for r in res["losses"]}
    for C in (10, 100):
        for loss in ("gkl", "gkl_prior", "torch_kl_div", "pairwise"):
            for precision in ("fp32", "bf16"):
                assert (C, loss, precision) in losses
    assert all(r["median_ms"] > 0 for r in res["losses"])
    profiles = [e["profile"] for e in res["epochs"]]
    assert profiles == ["adversarial/gpu (GKL)", "adversarial/gpu (TRADES)", "distill/gpu (gkl)", "distill/gpu (kd)"]
    assert all(e.get("epoch_s", 0) > 0 for e in res["epochs"])
    assert set(res["step_overhead"]) == {"adversarial: GKL / TRADES", "distillation: GKL / KD"}
    assert all(v > 0 for v in res["step_overhead"].values())


def test_device_check_refuses_to_run_without_a_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "device_check.py"), "--out", str(tmp_path / "x.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "no CUDA device" in proc.stderr
