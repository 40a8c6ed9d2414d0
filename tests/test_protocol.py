"""The tuning protocol both tasks share (gkl.experiments.protocol): its rules on synthetic rows, the
clear errors for methods a grid or a record lacks, and a throw-away distiller that reaches a sweep and
the chapters' profile with only its class, its registration and its grid entry."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from gkl.experiments import protocol
from gkl.experiments.distill import sweep as DS
from gkl.experiments.distill.profiles import PROFILES
from gkl.experiments.profile import ExperimentProfile
from gkl.experiments.record import read_record
from gkl.methods.distill import DISTILLERS, KD, KDConfig


def _row(method, cid, seed, score, guard=0.9, stage="grid", epochs=10):
    return {"stage": stage, "method": method, "config_id": cid, "seed": seed, "epochs": epochs, "s": score, "g": guard}


def test_choice_with_a_guard_excludes_collapsed_configs_and_breaks_ties_by_guard_then_grid_order():
    rows = []
    for seed, d in ((0, 0.0), (1, 0.02)):
        rows += [_row("a", 0, seed, 0.40 + d, 0.95),
                 _row("a", 1, seed, 0.60 + d, 0.80),  # the best score, its guard collapsed (> 10 points)
                 _row("a", 2, seed, 0.50 + d, 0.90),
                 _row("a", 3, seed, 0.50 + d, 0.92),  # same score, higher guard: chosen
                 _row("b", 0, seed, 0.30), _row("b", 1, seed, 0.30)]  # an exact tie
    chosen = protocol.choose_configs(rows, "s", "g", 0.10)
    assert chosen["a"]["config_id"] == 3 and chosen["a"]["means"]["s"] == pytest.approx(0.51) and chosen["a"]["n"] == 2
    assert chosen["b"]["config_id"] == 0  # a full tie: the earlier configuration of the grid
    assert protocol.choose_configs(rows, "s", "g", 0.2)["a"]["config_id"] == 1
    assert protocol.choose_configs(rows, "s")["a"]["config_id"] == 1  # no guard: the best score


def test_plateau_rules():
    means = {"a": {30: 0.902, 60: 0.904, 90: 0.906}, "b": {30: 0.880, 60: 0.899, 90: 0.901}}
    out = protocol.plateau_budget(means, 0.005, "per-method")
    assert out["per_method"] == {"a": 30, "b": 60} and out["chosen"] == 60 and out["plateau_reached"]
    assert not protocol.plateau_budget({"a": {30: 0.80, 60: 0.85, 90: 0.90}}, 0.005, "per-method")["plateau_reached"]
    assert protocol.plateau_budget({"a": {30: 0.9, 60: 0.9}}, 0.005, "per-method")["chosen"] == 30  # a tie: shorter
    # the joint rule: one budget within tolerance for every method *at that budget*
    dip = {"a": {10: 0.50, 20: 0.45, 30: 0.505}, "b": {10: 0.40, 20: 0.45, 30: 0.455}}
    assert protocol.plateau_budget(dip, 0.01, "per-method")["chosen"] == 20  # max of a's 10 and b's 20
    assert protocol.plateau_budget(dip, 0.01, "joint")["chosen"] == 30  # at 20, a has dropped 5.5 points
    assert protocol.plateau_budget({"a": {10: 0.5, 20: 0.4}}, 0.01, "joint")["chosen"] == 10
    with pytest.raises(ValueError, match="no epoch budget"):
        protocol.plateau_budget({"a": {10: 0.5}, "b": {20: 0.4}}, 0.01, "joint")
    with pytest.raises(ValueError, match="plateau rule"):
        protocol.plateau_budget(means, 0.01, "longest")
    assert protocol.strongest_baseline({"x": {20: 0.41}, "y": {20: 0.45}, "gkl": {20: 0.9}}, 20, ("x", "y")) == "y"
    assert protocol.strongest_baseline({"x": {20: 0.45}, "y": {20: 0.45}}, 20, ("x", "y")) == "x"  # ties: first


def test_the_recorded_sweeps_share_one_schema():
    keys = {"task", "profile", "seeds", "stage", "score", "validation", "grid_epochs", "rules", "grids", "chosen",
            "epoch_budget", "strongest_baseline", "runs", "compute_s", "rows", "command", "commit", "environment"}
    for name, registry in (("distill-cpu", DISTILLERS), ("adversarial-cpu", None)):
        rec = read_record(name)
        assert keys <= set(rec), name
        names = set(rec["grids"])
        if registry is None:
            from gkl.methods.adversarial import ADVERSARIAL as registry
        assert names == set(registry.names()) == set(rec["chosen"]) == set(rec["epoch_budget"]["means"])
        assert rec["strongest_baseline"] in names
        assert {r["method"] for r in rec["rows"]} == names  # registered names, never labels
        assert {"n_train", "n_val"} <= set(rec["validation"])
        for r in rec["rows"]:
            assert {"stage", "method", "config_id", "seed", "epochs", rec["score"], "train_s"} <= set(r)
            if r["stage"] == "epochs":
                assert len(r["curves"]["epoch"]) == len(r["curves"][rec["score"]])
        for entries in rec["grids"].values():
            assert [e["config_id"] for e in entries] == list(range(len(entries)))
            assert all({"settings", "train", "config"} <= set(e) for e in entries)
        # the choices follow the rules from the rows
        spec = DS.SPEC if rec["task"] == "distill" else __import__("gkl.experiments.adversarial.sweep",
                                                                      fromlist=["SPEC"]).SPEC
        ids = lambda c: {m: v["config_id"] for m, v in c.items()}  # noqa: E731
        chosen = protocol.choose_configs(rec["rows"], spec.score, spec.guard, spec.guard_drop)
        assert ids(chosen) == ids(rec.get("grid_chosen", rec["chosen"]))
        means = protocol.budget_means(rec["rows"], spec.score)
        budget = protocol.plateau_budget(means, spec.tolerance, spec.plateau)
        E = budget["chosen"]
        assert E == rec["epoch_budget"]["chosen"] and budget["per_method"] == {
            m: int(e) for m, e in rec["epoch_budget"]["per_method"].items()}
        final = {m: {E: v[E]} for m, v in means.items()}
        if "grid_chosen" in rec:  # re-ranked at the chosen budget
            top = protocol.rank_configs(rec["rows"], spec.score, spec.guard, spec.guard_drop)
            assert {(r["method"], r["config_id"]) for r in rec["rows"] if r["stage"] == "rerank"} == {
                (m, c["config_id"]) for m, r in top.items() for c in r[: spec.rerank]}
            chosen = protocol.choose_configs(rec["rows"], spec.score, spec.guard, spec.guard_drop, stage="rerank")
            assert ids(chosen) == ids(rec["chosen"])
            final = {m: {E: c["means"][spec.score]} for m, c in chosen.items()}
        assert protocol.strongest_baseline(final, E, spec.baselines) == rec["strongest_baseline"]


class _ThrowawayConfig(KDConfig):
    """Its own config class (KD's settings), so registering it leaves KD's config alone."""


class _Throwaway(KD):
    """A distiller as CONTRIBUTING's recipe adds one (here KD under another name)."""

    name = "throwaway"
    label = "Throwaway"
    Config = _ThrowawayConfig


@pytest.fixture
def throwaway():
    DISTILLERS.register(_Throwaway)
    try:
        yield "throwaway"
    finally:
        DISTILLERS.unregister("throwaway")


def test_a_registered_method_without_a_grid_or_a_record_is_a_clear_error(throwaway):
    with pytest.raises(ValueError, match="'throwaway' has no grid"):
        DS.run_sweep("cpu", out="/nonexistent/never-written.json")
    with pytest.raises(ValueError, match="'throwaway' is not in the recorded distill sweep"):
        DS.tuned_profile("cpu")
    with pytest.raises(ValueError, match="not a distill one"):
        DS.tuned_profile(read_record("adversarial-cpu"))


def test_a_throwaway_distiller_reaches_a_sweep_and_the_tuned_profile(throwaway, tmp_path, monkeypatch):
    """One class, its registration and one grid entry: the sweep tunes it, the record holds it by its
    registered name and the tuned profile trains it — no profile, list or chapter edited."""
    tiny = PROFILES["cpu"].replace(name="tiny", train_subset=200, train={**PROFILES["cpu"].train, "epochs": 1},
                                   teacher_train={**PROFILES["cpu"].teacher_train, "epochs": 1})
    monkeypatch.setitem(PROFILES, "tiny", tiny)
    grids = {m: g[:2] for m, g in DS.GRIDS.items()}
    grids[throwaway] = [{"temperature": 2.0}]
    spec = dataclasses.replace(DS.SPEC, grids=grids, budgets=(1, 2), refine={}, rerank=0)
    with pytest.raises(ValueError, match="the same number of configurations"):
        protocol.run_sweep(spec, "tiny", out=tmp_path / "never.json")
    grids[throwaway].append({"temperature": 8.0})
    old = torch.get_num_threads()
    rec = protocol.run_sweep(spec, "tiny", seeds=(0,), workers=1, out=tmp_path / "rec.json", runs_dir=tmp_path)
    assert torch.get_num_threads() == old
    assert rec["runs"] == 2 * len(grids) + 2 * len(grids)  # grid rows + two budgets per method
    assert set(rec["chosen"]) == set(DISTILLERS.names()) and throwaway in rec["chosen"]
    assert rec["grids"][throwaway][1]["config"] == _ThrowawayConfig(temperature=8.0).to_dict()
    assert rec["epoch_budget"]["chosen"] in (1, 2) and rec["strongest_baseline"] in DS.BASELINES
    prof = DS.tuned_profile(tmp_path / "rec.json", seeds=(0,))
    assert list(prof.methods) == list(DISTILLERS.names()) and prof.methods[throwaway].method == throwaway
    again = protocol.run_sweep(spec, "tiny", seeds=(0,), stage="epochs", workers=1, out=tmp_path / "rec.json",
                               runs_dir=tmp_path)
    assert again["reused_rows"] == 2 * len(grids) and again["rows"] == rec["rows"]  # kept, not re-trained


def test_both_tasks_cache_runs_by_one_convention(tmp_path):
    """runs_dir / task / profile / <method>-s<seed>-<key>, for the chapters' runs and the sweeps' alike."""
    import re

    from gkl.experiments.adversarial import PROFILES as AT_PROFILES
    from gkl.experiments.adversarial.runs import _run_dir
    from gkl.experiments.distill.runs import run_dir

    at = AT_PROFILES["cpu"]
    d = PROFILES["cpu"]
    folders = {
        "adversarial/cpu/gkl-s3-": _run_dir(tmp_path, at, "GKL", 3),
        "distill/mnist1d-cpu/gkl-s3-": run_dir(d, d.methods["gkl"], 3, tmp_path, "t"),
        "distill/mnist1d-cpu-val/kd-s0-": run_dir(DS.validation_profile(d), d.methods["kd"], 0, tmp_path, "t"),
    }
    for prefix, folder in folders.items():
        rel = folder.relative_to(tmp_path).as_posix()
        assert rel.startswith(prefix) and re.fullmatch(r"[0-9a-f]{12,16}", rel[len(prefix):]), rel


# --- the protocol's logic on a fake task (no training: a score function of the settings) -------------
@dataclasses.dataclass(frozen=True)
class _FakeProfile(ExperimentProfile):
    epochs: int = 10

    @property
    def train_epochs(self) -> int:
        return self.epochs

    def with_epochs(self, epochs: int) -> "_FakeProfile":
        return self.replace(epochs=int(epochs))


def _fake_score(method: str, entry: dict, epochs: int, seed: int) -> float:
    """Method "a": a large x wins at 10 epochs, a small x at 40 (the grid's ranking is not the final
    budget's); the learning rate 2.0 adds a little; "b" is flat. Seeds add a tiny spread."""
    x, lr = entry.get("x", 0.0), entry.get("train", {}).get("lr", 1.0)
    base = {"a": 0.5 + (0.01 * x if epochs <= 10 else -0.01 * x), "b": 0.55}[method]
    return base + (0.004 if lr == 2.0 else 0.0) + 0.0001 * seed + 0.001 * min(epochs, 40) / 40


def _fake_spec(**changes):
    from gkl.methods.registry import MethodConfig, Registry

    reg = Registry("fake")
    for name in ("a", "b"):
        cfg = dataclasses.make_dataclass(f"{name.upper()}Config", [("x", float, 0.0)], bases=(MethodConfig,))
        reg.register(type(name.upper(), (), {"name": name, "label": name.upper(), "Config": cfg}))

    def run_rows(profile, rows, grids, workers, device, runs_dir):
        out = []
        for r in rows:
            e = grids[r["method"]][r["config_id"]]
            v = _fake_score(r["method"], e, r["epochs"], r["seed"])
            out.append({**r, "s": v, "curves": {"epoch": [r["epochs"]], "s": [v]}, "train_s": 1.0})
        return out

    spec = protocol.SweepSpec(
        task="fake", registry=reg, grids={"a": [{"x": 0.0}, {"x": 1.0}, {"x": 2.0}], "b": [{}, {"x": 5.0}, {"x": 6.0}]},
        budgets=(10, 20, 40), tolerance=0.0001, plateau="per-method", baselines=("b",), score="s",
        rules={"score": "s"}, profiles={"p": _FakeProfile("p", "none")}, run_rows=run_rows,
        describe=lambda p: {"n_train": 1, "n_val": 1}, entry_config=lambda p, m, e: {"method": m, **e})
    return dataclasses.replace(spec, **changes)


def test_a_second_round_around_the_first_choice_and_re_ranking_at_the_final_budget(tmp_path):
    refine = {m: [{"train": {"lr": 0.5}}, {"train": {"lr": 2.0}}] for m in ("a", "b")}
    spec = _fake_spec(refine=refine, rerank=3)
    rec = protocol.run_sweep(spec, "p", seeds=(0, 1), out=tmp_path / "r.json")
    a = rec["grids"]["a"]
    assert [e["round"] for e in a] == [1, 1, 1, 2, 2]
    assert a[4]["settings"] == {"x": 2.0} and a[4]["train"] == {"lr": 2.0}  # round 2: around round 1's x = 2
    assert rec["grid_chosen"]["a"]["config_id"] == 4  # at 10 epochs: x = 2 with lr 2.0
    assert rec["epoch_budget"]["chosen"] == 40
    # re-ranked at 40 epochs among the grid's top 3 (ids 4, 2, 3): x = 2 loses there, but x = 0 was not
    # among the top 3, so the best re-ranked is still an x = 2 one: lr 2.0 (id 4) over lr 0.5 (id 3) and id 2
    assert {r["config_id"] for r in rec["rows"] if r["stage"] == "rerank" and r["method"] == "a"} == {4, 2, 3}
    assert rec["chosen"]["a"]["config_id"] == 4 and rec["strongest_baseline"] == "b"
    spec1 = _fake_spec(rerank=3)  # without round 2: the top 3 are all of a's grid, x = 0 wins at 40 epochs
    rec1 = protocol.run_sweep(spec1, "p", seeds=(0, 1), out=tmp_path / "r1.json")
    assert rec1["grid_chosen"]["a"]["config_id"] == 2 and rec1["chosen"]["a"]["config_id"] == 0
    assert rec1["chosen"]["a"]["means"]["s"] == pytest.approx(_fake_score("a", {"x": 0.0}, 40, 0) + 0.00005)
    again = protocol.run_sweep(spec1, "p", seeds=(0, 1), stage="epochs", out=tmp_path / "r1.json")
    assert again["rows"] == rec1["rows"] and again["reused_rows"] == len(rec1["rows"]) - 12  # all but the grid
    with pytest.raises(ValueError, match="same number of configurations"):
        protocol.run_sweep(_fake_spec(refine={"a": refine["a"]}), "p", out=tmp_path / "x.json")
