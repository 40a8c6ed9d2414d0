"""The adversarial-training sweep: its rules on synthetic rows, the command end to end on a tiny
profile, and one recorded configuration re-run to check that it reproduces."""

import dataclasses

import pytest
import torch

import gkl.experiments.adversarial.sweep as S
from gkl.experiments import protocol
from gkl.experiments.adversarial import PROFILES, config_scores, grid_neighbours, label, tuned_profile
from gkl.experiments.record import read_record, same_numerics
from gkl.methods.adversarial import ADVERSARIAL

torch.set_num_threads(1)


def _row(method, cid, seed, pgd, clean, stage="grid", epochs=10):
    return {"stage": stage, "method": method, "config_id": cid, "seed": seed, "epochs": epochs, "val_pgd": pgd,
            "val_clean": clean}


def _record(grids, rows, epochs=None):
    return {"task": "adversarial", "profile": "cpu", "score": "val_pgd", "rows": rows,
            "grids": {m: [{"config_id": i, "settings": c, "train": {}} for i, c in enumerate(g)] for m, g in grids.items()},
            "chosen": protocol.choose_configs(rows, "val_pgd", "val_clean", S.CLEAN_DROP), **(epochs or {})}


def test_grid_neighbours_are_the_one_setting_changes_with_paired_differences():
    grid = [{"beta": 20, "gamma": 0.2}, {"beta": 10, "gamma": 0.2}, {"beta": 10, "gamma": 0.0}]  # 2: two changes
    rows = []
    for seed in (0, 1):
        rows += [_row("gkl", 0, seed, 0.50 + seed / 100, 0.9), _row("gkl", 1, seed, 0.40 + seed / 50, 0.9),
                 _row("gkl", 2, seed, 0.30, 0.9)]
    rec = _record({"gkl": grid}, rows)
    (cfg, diff), = grid_neighbours(rec, "gkl", rec["chosen"]["gkl"]["config_id"])
    assert cfg["changed"] == "beta" and diff.n == 2 and diff.mean == pytest.approx(-0.095)
    assert diff.b == "beta = 10"
    assert [s["config_id"] for s in config_scores(rec, "gkl")] == [0, 1, 2]


@pytest.fixture
def half_trades():
    """A throw-away AT method (the contract test's), registered for one test."""
    from tests.test_method_contract import _HalfTRADES

    ADVERSARIAL.register(_HalfTRADES)
    try:
        yield _HalfTRADES.name
    finally:
        ADVERSARIAL.unregister(_HalfTRADES.name)


def test_a_registered_method_without_a_grid_or_a_record_is_a_clear_error(half_trades):
    with pytest.raises(ValueError, match="has no grid"):
        S.run_sweep("cpu", out="/nonexistent/never-written.json")
    with pytest.raises(ValueError, match="is not in the recorded adversarial sweep"):
        tuned_profile(read_record("adversarial-cpu"))


def test_the_sweep_command_end_to_end_on_a_tiny_profile(tmp_path, monkeypatch, half_trades):
    """A throw-away method with only its class, its registration and a grid entry goes through."""
    monkeypatch.setitem(PROFILES, "tiny", PROFILES["cpu"].replace(
        name="tiny", epochs=1, model_kwargs={"widths": [8, 16]}, validation=(160, 80)))
    grids = {**{k: v[:2] for k, v in S.GRIDS.items()}, half_trades: [{"weight": 0.5}, {"weight": 1.0}]}
    spec = dataclasses.replace(S.SPEC, grids=grids, budgets=(1, 2))
    out = tmp_path / "rec.json"
    rec = protocol.run_sweep(spec, "tiny", seeds=(0,), stage="all", workers=1, out=out, command=["sweep"],
                             runs_dir=tmp_path)
    assert rec["runs"] == len(rec["rows"]) == 5 * 2 + 5 * 2
    assert set(rec["chosen"]) == set(ADVERSARIAL.names()) and rec["epoch_budget"]["chosen"] in (1, 2)
    assert half_trades in rec["chosen"] and rec["grids"][half_trades][0]["config"]["weight"] == 0.5
    assert {p.name for p in (tmp_path / "adversarial").iterdir()} == {"tiny-val"}  # the one cache convention
    assert rec["strongest_baseline"] in ("pgd-at", "trades")
    stored = read_record(out)
    assert [e["settings"] for e in stored["grids"]["trades"]] == [{"beta": 6.0}, {"beta": 1.0}]
    assert stored["command"] == "sweep" and stored["grids"]["trades"][1]["config"]["beta"] == 1.0
    assert all(len(r["curves"]["val_pgd"]) == r["epochs"] for r in stored["rows"])
    again = protocol.run_sweep(spec, "tiny", seeds=(0,), stage="epochs", workers=1, out=out, command=["sweep"],
                               runs_dir=tmp_path)
    assert [r["val_pgd"] for r in again["rows"]] == [r["val_pgd"] for r in stored["rows"]]  # cached, same rows
    prof = tuned_profile(stored, seeds=(0, 1))
    assert prof.epochs == stored["epoch_budget"]["chosen"]
    assert list(prof.methods) == ["PGD-AT", "TRADES", "IKL", "GKL", "Half-TRADES (test)"]
    assert prof.methods["TRADES"] == ("trades", stored["chosen"]["trades"]["settings"])
    with pytest.raises(ValueError, match="no validation split"):
        S.run_sweep("gpu-released", out=out)


@pytest.mark.slow
def test_a_recorded_configuration_reproduces(tmp_path):
    """Re-run the cheapest recorded grid row (one seed) and compare every epoch's validation numbers.

    On the recording machine's numerics (same torch, CPU model and vector unit: ``same_numerics``)
    a seeded one-thread run is bit-identical, so the tolerance is half a validation point. On another
    CPU the last bits of sums differ and training amplifies them (2 of 300 points were seen), so
    there the check is only that no number moved by more than 2 points."""
    record = read_record("adversarial-cpu")
    row = min((r for r in record["rows"] if r["stage"] == "grid"), key=lambda r: (r["epochs"], r["train_s"]))
    prof = S.row_profile(record, row)
    res = S.validate_one(prof, label(row["method"]), row["seed"], tmp_path)
    tol = 0.5 / record["validation"]["n_val"] if same_numerics(record) else 0.02
    assert res["key"] == row["key"]  # the same run, by its settings
    assert res["curves"]["epoch"] == row["curves"]["epoch"]
    for col in ("val_clean", "val_pgd"):
        assert res["curves"][col] == pytest.approx(row["curves"][col], abs=tol)
    assert (res["val_clean"], res["val_pgd"]) == pytest.approx((row["val_clean"], row["val_pgd"]), abs=tol)


def test_the_recorded_sweep_matches_the_grids_in_code():
    record = read_record("adversarial-cpu")
    assert {m: [e["settings"] for e in v] for m, v in record["grids"].items()} == S.GRIDS
    size = len(S.GRIDS["gkl"])
    assert {len(v) for v in record["grids"].values()} == {size}  # equal tuning budget
    assert sum(r["stage"] == "grid" for r in record["rows"]) == 4 * size * len(record["seeds"])
    assert record["command"].startswith("python -m gkl sweep adversarial --profile cpu")


def _synthetic_record():
    grids = {"trades": [{"beta": 6.0}, {"beta": 1.0}], "gkl": [{"beta": 20.0, "gamma": 0.2}, {"beta": 20.0, "gamma": 0.0}]}
    rows = []
    for seed in (0, 1):
        for m in grids:
            for cid in range(2):
                rows.append({**_row(m, cid, seed, 0.4 + 0.05 * cid + seed / 100, 0.9),
                             "curves": {"epoch": [1, 2], "val_clean": [0.8, 0.9], "val_pgd": [0.3, 0.4]}})
            for e in (2, 4):
                rows.append({**_row(m, 1, seed, 0.45 + e / 100, 0.9, stage="epochs", epochs=e),
                             "curves": {"epoch": list(range(1, e + 1)), "val_clean": [0.9] * e, "val_pgd": [0.4] * e}})
    means = protocol.budget_means(rows, "val_pgd")
    budget = protocol.plateau_budget(means, 0.01, "joint")
    return _record(grids, rows, {"epoch_budget": {"budgets": [2, 4], "tolerance": 0.01, "means": {
        m: {str(e): v for e, v in s.items()} for m, s in means.items()}, **budget}})


def test_tables_and_figures_of_a_record():
    from gkl.experiments.adversarial import format_budgets, format_grid, format_neighbours
    from gkl.figures.adversarial import sweep_scatter, validation_curves

    rec = _synthetic_record()
    grid = format_grid(rec)
    assert "| GKL | **beta = 20, gamma = 0** | **90.0** | **45.5** |" in grid and grid.count("**") == 2 * 3 * 2
    budgets = format_budgets(rec)
    assert "| 2 | **4** |" in budgets and "| TRADES | 47.0 | 49.0 | 0.0 |" in budgets
    neigh = format_neighbours(rec, "gkl")
    # two seeds: no interval, no verdict (it read "-5.0 [-5.0, -5.0] | behind" before)
    assert "| gamma = 0.2 | 90.0 | 40.5 | -5.0 no interval (too few seeds) | — | too few seeds (n = 2) |" in neigh
    assert "| MDE | verdict |" in neigh
    fig = validation_curves(rec)
    assert len(fig.data) == 2 * 2 * 2 and {t.name for t in fig.data if t.showlegend} == {"2 epochs", "4 epochs"}
    sc = sweep_scatter(rec)
    assert [t.name for t in sc.data] == ["TRADES", "GKL"] and list(sc.data[1].marker.symbol) == ["circle", "star"]


def test_rotating_autoattack_subsets_cover_different_points_per_seed_and_pair_methods():
    from gkl.experiments.adversarial.runs import aa_points

    prof = PROFILES["cpu"].replace(autoattack_subset=100, autoattack_rotate=True)
    idx = [aa_points(prof, 360, s).tolist() for s in range(4)]
    assert idx[0] == list(range(100)) and idx[1][0] == 100 and idx[3] == [(300 + i) % 360 for i in range(100)]
    assert aa_points(prof.replace(autoattack_rotate=False), 360, 3).tolist() == list(range(100))
    assert aa_points(prof.replace(autoattack_subset=None), 50, 2).tolist() == list(range(50))


def test_plateau_note_says_when_the_largest_budget_was_chosen():
    from gkl.experiments.adversarial import plateau_note

    rec = {"epoch_budget": {"budgets": [10, 20], "chosen": 20, "means": {"gkl": {"10": 0.5, "20": 0.56}}}}
    assert "+6.0 (GKL)" in plateau_note(rec) and "not** plateaued" in plateau_note(rec)
    assert plateau_note({"epoch_budget": {**rec["epoch_budget"], "chosen": 10}}) == "."
