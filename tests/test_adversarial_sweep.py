"""The adversarial-training sweep: its rules on synthetic rows, the command end to end on a tiny
profile, and one recorded configuration re-run to check that it reproduces."""

import pytest
import torch

import gkl.experiments.adversarial.sweep as S
from gkl.experiments.adversarial import (
    PROFILES,
    choose_configs,
    config_scores,
    grid_neighbours,
    plateau_budget,
    strongest_baseline,
    tuned_profile,
)
from gkl.experiments.record import read_record, same_numerics

torch.set_num_threads(1)


def _row(method, cid, config, seed, pgd, clean, stage="grid", epochs=10):
    return {"stage": stage, "method": method, "method_name": method.lower(), "config_id": cid, "config": config,
            "seed": seed, "epochs": epochs, "val_pgd": pgd, "val_clean": clean}


def test_config_rule_excludes_collapsed_clean_accuracy_and_breaks_ties_by_clean_then_grid_order():
    rows = []
    for seed, d in ((0, 0.0), (1, 0.02)):
        rows += [_row("A", 0, {"beta": 1}, seed, 0.40 + d, 0.95),
                 _row("A", 1, {"beta": 9}, seed, 0.60 + d, 0.80),  # most robust, clean collapsed (> 10 points)
                 _row("A", 2, {"beta": 4}, seed, 0.50 + d, 0.90),
                 _row("A", 3, {"beta": 5}, seed, 0.50 + d, 0.92),  # same robust, higher clean: chosen
                 _row("B", 0, {"g": 0}, seed, 0.30, 0.9), _row("B", 1, {"g": 1}, seed, 0.30, 0.9)]  # exact tie
    chosen = choose_configs(rows)
    assert chosen["A"]["config_id"] == 3 and chosen["A"]["val_pgd"] == pytest.approx(0.51)
    assert chosen["B"]["config_id"] == 0  # full tie: the earlier configuration of the grid
    assert [s["config_id"] for s in config_scores(rows, "A")] == [0, 1, 2, 3]
    assert choose_configs(rows, clean_drop=0.2)["A"]["config_id"] == 1


def test_plateau_rule_takes_the_smallest_budget_within_tolerance_for_every_method():
    scores = {"A": {10: 0.50, 20: 0.505, 30: 0.51}, "B": {10: 0.40, 20: 0.45, 30: 0.455}}
    assert plateau_budget(scores) == 20  # B gains 5 points from 10 to 20, then 0.5
    assert plateau_budget(scores, tol=0.06) == 10
    assert plateau_budget({"A": {10: 0.5, 20: 0.4}}) == 10  # longer and worse: the shorter budget
    assert strongest_baseline({"PGD-AT": {20: 0.41}, "TRADES": {20: 0.45}, "GKL": {20: 0.9}}, 20) == "TRADES"
    with pytest.raises(ValueError, match="no epoch budget"):
        plateau_budget({"A": {10: 0.5}, "B": {20: 0.4}})


def test_grid_neighbours_are_the_one_setting_changes_with_paired_differences():
    rows = []
    for seed in (0, 1):
        rows += [_row("GKL", 0, {"beta": 20, "gamma": 0.2}, seed, 0.50 + seed / 100, 0.9),
                 _row("GKL", 1, {"beta": 10, "gamma": 0.2}, seed, 0.40 + seed / 50, 0.9),
                 _row("GKL", 2, {"beta": 10, "gamma": 0.0}, seed, 0.30, 0.9)]  # two changes: not a neighbour
    chosen = choose_configs(rows)["GKL"]
    (cfg, diff), = grid_neighbours(rows, "GKL", chosen)
    assert cfg["changed"] == "beta" and diff.n == 2 and diff.mean == pytest.approx(-0.095)
    assert diff.b == "beta = 10"


def test_the_sweep_command_end_to_end_on_a_tiny_profile(tmp_path, monkeypatch):
    monkeypatch.setitem(PROFILES, "tiny", PROFILES["cpu"].replace(
        name="tiny", epochs=1, model_kwargs={"widths": [8, 16]}, validation=(160, 80)))
    monkeypatch.setattr(S, "GRIDS", {k: v[:2] for k, v in S.GRIDS.items()})
    monkeypatch.setattr(S, "EPOCH_BUDGETS", (1, 2))
    out = tmp_path / "rec.json"
    rec = S.run_sweep("tiny", seeds=(0,), stage="all", workers=1, out=out, command=["sweep"], runs_dir=tmp_path)
    assert rec["runs"] == len(rec["rows"]) == 4 * 2 + 4 * 2
    assert set(rec["chosen"]) == {"PGD-AT", "TRADES", "IKL", "GKL"} and rec["epochs"]["chosen"] in (1, 2)
    assert rec["strongest_baseline"] in ("PGD-AT", "TRADES")
    stored = read_record(out)
    assert stored["grids"]["TRADES"] == [{"beta": 6.0}, {"beta": 1.0}] and stored["command"] == "sweep"
    assert all(len(r["curve_pgd"]) == r["epochs"] for r in stored["rows"])
    again = S.run_sweep("tiny", seeds=(0,), stage="epochs", workers=1, out=out, command=["sweep"], runs_dir=tmp_path)
    assert [r["val_pgd"] for r in again["rows"]] == [r["val_pgd"] for r in stored["rows"]]  # cached, same rows
    prof = tuned_profile(stored, seeds=(0, 1))
    assert prof.epochs == stored["epochs"]["chosen"] and list(prof.methods) == list(rec["chosen"])
    assert prof.methods["TRADES"] == ("trades", stored["chosen"]["TRADES"]["config"])
    with pytest.raises(ValueError, match="no validation split"):
        S.run_sweep("gpu-released", out=out)


def test_a_recorded_configuration_reproduces(tmp_path):
    """Re-run the cheapest recorded grid row (one seed) and compare every epoch's validation numbers.

    On the recording machine's numerics (same torch, CPU model and vector unit: ``same_numerics``)
    a seeded one-thread run is bit-identical, so the tolerance is half a validation point. On another
    CPU the last bits of sums differ and training amplifies them (2 of 300 points were seen), so
    there the check is only that no number moved by more than 2 points."""
    record = read_record("adversarial-cpu")
    row = min((r for r in record["rows"] if r["stage"] == "grid"), key=lambda r: (r["epochs"], r["train_s"]))
    prof = S.row_profile(record, row)
    res = S.validate_one(prof, row["method"], row["seed"], tmp_path)
    tol = 0.5 / record["validation"]["n_val"] if same_numerics(record) else 0.02
    assert res["curve_epochs"] == row["curve_epochs"]
    assert res["curve_clean"] == pytest.approx(row["curve_clean"], abs=tol)
    assert res["curve_pgd"] == pytest.approx(row["curve_pgd"], abs=tol)
    assert (res["val_clean"], res["val_pgd"]) == pytest.approx((row["val_clean"], row["val_pgd"]), abs=tol)


def test_the_recorded_sweep_is_complete_and_its_choices_follow_the_rules():
    record = read_record("adversarial-cpu")
    rows = record["rows"]
    assert record["grids"] == {k: [dict(c) for c in v] for k, v in S.GRIDS.items()}
    size = len(S.GRIDS["GKL"])
    assert {len(v) for v in record["grids"].values()} == {size}  # equal tuning budget
    n_seeds = len(record["seeds"])
    assert sum(r["stage"] == "grid" for r in rows) == 4 * size * n_seeds
    chosen = choose_configs(rows)
    assert {k: v["config_id"] for k, v in chosen.items()} == {k: v["config_id"] for k, v in record["chosen"].items()}
    from gkl.experiments.adversarial import budget_scores

    assert plateau_budget(budget_scores(rows)) == record["epochs"]["chosen"]
    assert record["command"].startswith("python -m gkl sweep adversarial --profile cpu")


def _synthetic_record():
    rows = []
    for seed in (0, 1):
        for m, grid in (("TRADES", [{"beta": 6.0}, {"beta": 1.0}]),
                        ("GKL", [{"beta": 20.0, "gamma": 0.2}, {"beta": 20.0, "gamma": 0.0}])):
            for cid, cfg in enumerate(grid):
                rows.append({**_row(m, cid, cfg, seed, 0.4 + 0.05 * cid + seed / 100, 0.9), "curve_epochs": [1, 2],
                             "curve_clean": [0.8, 0.9], "curve_pgd": [0.3, 0.4]})
            for e in (2, 4):
                rows.append({**_row(m, 1, grid[1], seed, 0.45 + e / 100, 0.9, stage="epochs", epochs=e),
                             "curve_epochs": list(range(1, e + 1)), "curve_clean": [0.9] * e, "curve_pgd": [0.4] * e})
    chosen = choose_configs(rows)
    from gkl.experiments.adversarial import budget_scores

    scores = budget_scores(rows)
    return {"rows": rows, "chosen": chosen, "grids": {"TRADES": [], "GKL": []}, "budgets": [2, 4],
            "epochs": {"chosen": plateau_budget(scores), "scores": {m: {str(e): v for e, v in s.items()}
                                                                     for m, s in scores.items()}, "tolerance": 0.01}}


def test_tables_and_figures_of_a_record():
    from gkl.experiments.adversarial import format_budgets, format_grid, format_neighbours
    from gkl.figures.adversarial import sweep_scatter, validation_curves

    rec = _synthetic_record()
    grid = format_grid(rec)
    assert "| GKL | **beta = 20, gamma = 0** | **90.0** | **45.5** |" in grid and grid.count("**") == 2 * 3 * 2
    budgets = format_budgets(rec)
    assert "| 2 | **4** |" in budgets and "| TRADES | 47.0 | 49.0 | 0.0 |" in budgets
    neigh = format_neighbours(rec, "GKL")
    assert "| gamma = 0.2 | 90.0 | 40.5 | -5.0 [-5.0, -5.0] | behind |" in neigh
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

    rec = {"budgets": [10, 20], "epochs": {"chosen": 20, "scores": {"A": {"10": 0.5, "20": 0.56}}}}
    assert "+6.0 (A)" in plateau_note(rec) and "not** plateaued" in plateau_note(rec)
    assert plateau_note({**rec, "epochs": {**rec["epochs"], "chosen": 10}}) == "."
