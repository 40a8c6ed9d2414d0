"""Which chosen settings sit at the edge of their grids (gkl.experiments.grids)."""

from __future__ import annotations

from gkl.experiments.grids import edge_note, edges, flat
from gkl.experiments.record import read_record


def test_edges_look_along_one_setting_with_the_others_held():
    grid = [{"beta": 20.0, "gamma": 0.2}, {"beta": 10.0, "gamma": 0.2}, {"beta": 40.0, "gamma": 0.2},
            {"beta": 20.0, "gamma": 0.0}, {"beta": 20.0, "gamma": 0.6}, {"beta": 5.0, "gamma": 0.6}]
    assert edges(grid, 0) == []  # beta 20 between 10 and 40; gamma 0.2 between 0 and 0.6
    assert edges(grid, 1) == [("beta", 10.0, "smallest")]  # gamma 0.2 was tried alone at beta 10: no edge
    assert edges(grid, 2) == [("beta", 40.0, "largest")]
    assert edges(grid, 4) == [("beta", 20.0, "largest"), ("gamma", 0.6, "largest")]
    assert edges([{"use_prior": True}, {"use_prior": False}], 0) == []  # not a number: no edge
    assert flat({"beta": 1.0, "train": {"lr": 0.1}}) == {"beta": 1.0, "lr": 0.1}
    recorded = {"config_id": 3, "settings": {"beta": 1.0}, "config": {"method": "gkl", "beta": 1.0, "alpha": 1.0},
                "train": {"lr": 0.1}}
    assert flat(recorded) == {"beta": 1.0, "lr": 0.1}


def test_edge_notes_of_the_recorded_sweeps_name_only_edge_choices():
    for name in ("adversarial-cpu", "distill-cpu"):
        rec = read_record(name)
        note = edge_note(rec["grids"], rec["chosen"], {})
        found = [m for m in rec["grids"] if edges(rec["grids"][m], int(rec["chosen"][m]["config_id"]))]
        assert all(f"{m} (" in note for m in found)
        assert ("At the edge" in note) == bool(found)
        for grid in rec["grids"].values():  # every method's grid varies something: its entries differ
            assert len({repr(sorted(flat(e).items())) for e in grid}) == len(grid)
