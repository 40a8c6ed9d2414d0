"""Adversarial-training objectives, schedules, class prior and the chapter's experiment runner."""

import json

import pytest
import torch

from gkl.data import write_fake_cifar
from gkl.experiments.adversarial import PROFILES, format_table, run_experiment, run_one, summarize
from gkl.methods.adversarial import AdversarialConfig, AdversarialObjective, load_trained, train_adversarial
from gkl.models import build_model
from gkl.training import TrainConfig

torch.set_num_threads(1)  # small ops: threads only contend on a shared 2-core machine


@pytest.fixture(scope="module")
def digits(digits_data):
    tr, te, info = digits_data
    return tr.subset(128), te.subset(64), info


def test_config_validation_and_method_defaults():
    with pytest.raises(ValueError, match="unknown adversarial-training method 'mart'"):
        AdversarialConfig.for_method("mart")
    with pytest.raises(ValueError, match="epsilon"):
        AdversarialConfig.for_method("trades", epsilon=-0.1)
    g = AdversarialConfig.for_method("gkl", beta=None, gamma=0.3)
    # released AT: CE at T = 1, the prior's softmax at T = 4, the data set's released inner loss
    m = g.method
    assert (m.alpha, m.beta, m.gamma, m.temperature, m.prior_temperature, m.use_prior, m.attack_loss) == \
        (4.0, 20.0, 0.3, 1.0, 4.0, True, "released")
    assert AdversarialConfig.for_method("gkl").method.gamma == 0.2
    assert AdversarialObjective(g, 10).method.attack_loss == "soft-ce"
    assert AdversarialObjective(g, 100).method.attack_loss == "gkl-unit"
    assert AdversarialConfig.for_method("trades").method.beta == 6.0
    assert AdversarialConfig.for_method("trades").method.attack_loss == "kl"
    # each method holds only its own settings (IKL is γ = 1; PGD-AT has none)
    assert AdversarialConfig.for_method("pgd-at").to_dict()["method"] == "pgd-at"
    assert "gamma" not in AdversarialConfig.for_method("ikl").to_dict()
    for method, bad in (("ikl", "gamma"), ("trades", "alpha"), ("pgd-at", "beta")):
        with pytest.raises(ValueError, match=f"method '{method}' has no setting {bad}"):
            AdversarialConfig.for_method(method, **{bad: 1.0})
    assert AdversarialConfig.from_dict(g.to_dict()) == g
    assert g.replace(gamma=0.5, epsilon=0.1).to_dict() == {**g.to_dict(), "gamma": 0.5, "epsilon": 0.1}
    for bad in ({"attack_loss": "ce"}, {"eps_schedule": "cosine"}, {"awp_gamma": 0.0}, {"prior_temperature": 0}):
        with pytest.raises(ValueError):
            AdversarialConfig.for_method("gkl", **bad)
    with pytest.raises(ValueError, match="label-ce"):
        AdversarialConfig.for_method("gkl", attack_loss="label-ce")


def test_epsilon_and_step_curriculum_reach_full_strength_after_warmup(step_context):
    cfg = AdversarialConfig.for_method("trades", epsilon=0.2, eps_warmup=3, attack_steps=5, attack_steps_min=2)
    obj = AdversarialObjective(cfg, 10)
    m = build_model("small_cnn", 10)
    sched = [obj.schedule(step_context(m, step=s, steps_per_epoch=10)) for s in range(100)]  # 10 epochs x 10 steps
    eps = [e for e, _ in sched]
    assert eps[0] == pytest.approx(0.2 / 30) and eps[29] == pytest.approx(0.2)  # full at epoch 3, not at the end
    assert all(b >= a for a, b in zip(eps, eps[1:])) and max(eps) == pytest.approx(0.2)
    steps = [k for _, k in sched]
    assert steps[0] == 2 and steps[29:] == [5] * 71 and sorted(set(steps)) == [2, 3, 4, 5]
    assert AdversarialObjective(AdversarialConfig.for_method("trades"), 10).schedule(step_context(m, steps_per_epoch=10)) == (8 / 255, 10)


def test_released_linear_epsilon_reaches_full_strength_only_in_the_last_epoch(step_context):
    cfg = AdversarialConfig.for_method("gkl", epsilon=0.2, eps_schedule="released-linear", attack_steps=5,
                                       attack_steps_min=2, eps_warmup=3)
    obj = AdversarialObjective(cfg, 10)
    m = build_model("small_cnn", 10)
    sched = [obj.schedule(step_context(m, step=s, steps_per_epoch=10)) for s in range(100)]  # 10 epochs x 10 steps
    assert [e for e, _ in sched[::10]] == pytest.approx([0.2 * e / 10 for e in range(1, 11)])
    assert all(sched[10 * e + i] == sched[10 * e] for e in range(10) for i in range(10))  # per epoch
    assert {k for _, k in sched} == {5}  # the released code never runs its step curriculum


@pytest.mark.parametrize("method,terms", [
    ("pgd-at", {"robust"}), ("trades", {"natural", "robust"}),
    ("ikl", {"natural", "robust_ce", "robust_wmse"}), ("gkl", {"natural", "robust_ce", "robust_wmse"}),
])
def test_each_method_takes_a_step(method, terms, digits, step_context):
    tr, _, info = digits
    torch.manual_seed(0)
    m = build_model("small_cnn", 10, mean=info.mean, std=info.std).train()
    obj = AdversarialObjective(AdversarialConfig.for_method(method, epsilon=0.1, attack_steps=3), 10)
    ctx = step_context(m, steps_per_epoch=10)
    obj.start_epoch(1, ctx)
    x, y = tr.tensors()
    out = obj.loss_terms(m, x[:32], y[:32], ctx)
    assert set(out.terms) == terms and all(t.dim() == 0 and torch.isfinite(t) for t in out.terms.values())
    sum(out.terms.values()).backward()
    assert m.training and all(p.grad is not None for p in m.parameters())


def test_class_prior_comes_from_the_previous_epochs_clean_logits(digits, step_context):
    tr, _, info = digits
    m = build_model("small_cnn", 10, mean=info.mean, std=info.std)
    obj = AdversarialObjective(AdversarialConfig.for_method("gkl", epsilon=0.1, attack_steps=1), 10)
    ctx = step_context(m, steps_per_epoch=10)
    obj.start_epoch(1, ctx)
    assert torch.allclose(obj.method.weights_prior(), torch.full((10, 10), 0.1))  # uniform in epoch 1
    x, y = tr.tensors()
    m.train()
    obj.loss_terms(m, x, y, ctx)
    with torch.no_grad():  # the clean logits of the training forward pass (train mode), at T_prior = 4
        probs = torch.softmax(m.train()(x) / obj.cfg.method.prior_temperature, 1)
    obj.end_epoch(1, ctx)
    want = torch.stack([probs[y == c].mean(0) for c in range(10)])
    assert torch.allclose(obj.method.weights_prior(), want, atol=1e-5)
    assert obj.method.prior.num_samples == 0  # reset for the new epoch
    nop = AdversarialObjective(AdversarialConfig.for_method("gkl", use_prior=False), 10)
    assert nop.method.prior is None and nop.states() == {}


def test_training_resumes_exactly_with_the_prior(tmp_path, digits):
    adv = AdversarialConfig.for_method("gkl", epsilon=0.1, attack_steps=2, eps_warmup=1)
    train = TrainConfig(epochs=3, batch_size=32, lr=0.05, progress=False)
    _, full = train_adversarial("digits", "small_cnn", adv, train, tmp_path / "a", data=digits, model_kwargs={"widths": [8, 16]})
    train_adversarial("digits", "small_cnn", adv, train, tmp_path / "b", data=digits, model_kwargs={"widths": [8, 16]}, stop_after=2)
    _, resumed = train_adversarial("digits", "small_cnn", adv, train, tmp_path / "b", data=digits,
                                   model_kwargs={"widths": [8, 16]}, resume=True)
    strip = lambda h: [{k: v for k, v in m.items() if k != "time_s"} for m in h]  # noqa: E731
    assert strip(full) == strip(resumed)
    assert {"clean_acc", "robust_acc", "epsilon", "train_robust_wmse"} <= set(full[-1])
    assert full[-1]["robust_acc"] <= full[-1]["clean_acc"]
    model, ck = load_trained(tmp_path / "a")
    assert ck["meta"]["model"] == "small_cnn" and not model.training
    with pytest.raises(ValueError, match="not 'preact_resnet18'"):
        load_trained(tmp_path / "a", model_name="preact_resnet18")


@pytest.mark.slow
def test_gpu_profile_code_path_on_a_tiny_cifar_folder(tmp_path):
    """The `gpu` profile end to end (one training step per run) on a synthetic CIFAR-format folder."""
    write_fake_cifar(tmp_path / "data", "cifar10", n_train=16, n_test=8)
    gpu = PROFILES["gpu"]
    prof = gpu.replace(
        data_root=str(tmp_path / "data"), epochs=1, seeds=(0,), batch_size=16, train_subset=None, validation=None,
        eval_subset=None, autoattack_subset=4, model_kwargs={"width": 4}, num_workers=0,
        methods={"GKL": gpu.methods["GKL"]}, curve_epsilons=(0.0, 8 / 255), attacks=("pgd", "autoattack_fast"),
        amp=None, eval_every=1,  # fp32 on the CPU (the profile's fp16 autocast is for the GPU)
    )
    exp = run_experiment(prof, runs_dir=tmp_path / "runs", workers=1)
    (rec,) = exp.records
    assert len(rec["history"]) == 1 and rec["autoattack_n"] == 4 and rec["n_test"] == 8
    assert rec["robust_n"] == 4 and rec["robust_acc"] <= min(rec["autoattack_fast_acc"], rec["subset_pgd_acc"])
    assert {"clean_acc", "pgd_acc", "autoattack_fast_acc", "curve_pgd_acc"} <= set(rec)
    assert isinstance(exp.load_model("GKL", 0), torch.nn.Module)
    assert rec["train_s"] > 0 and (exp.run_dir("GKL", 0) / "metrics.jsonl").is_file()


def test_runner_caches_and_tables(tmp_path, digits, monkeypatch):
    prof = PROFILES["cpu"].replace(epochs=1, seeds=(0, 1), attacks=("pgd",), curve_epsilons=(0.0, 0.1), validation=(96, 32),
                                   model_kwargs={"widths": [8, 16]}, methods={"TRADES": PROFILES["cpu"].methods["TRADES"]})
    import gkl.experiments.adversarial.runs as R

    monkeypatch.setattr(R, "get_dataset", lambda *a, **k: digits)
    exp = run_experiment(prof, runs_dir=tmp_path, workers=1)
    assert [r["seed"] for r in exp.records] == [0, 1]
    path = exp.run_dir("TRADES", 0) / "result.json"
    assert json.loads(path.read_text())["key"] == prof.key("TRADES", 0)
    mtime = path.stat().st_mtime_ns
    again = run_one(prof, "TRADES", 0, tmp_path)
    assert path.stat().st_mtime_ns == mtime and again["pgd_acc"] == exp.records[0]["pgd_acc"]
    rows = summarize(exp.records)
    assert rows[0]["seeds"] == 2 and len(rows[0]["clean_acc"]) == 2
    table = format_table(rows)
    assert table.startswith("| method | seeds | clean | PGD-20 | worst case |") and "±" in table


def test_a_method_registered_here_trains_runs_in_the_cli_and_leaves_other_keys_alone(tmp_path, digits, capsys):
    """Adding a method is one file plus one registry line: a throw-away method registered from this
    test trains through the engine, gets its ``--method`` choice and its own flag in the CLI, fills
    the chapter's method table, and changes no other method's run key."""
    from dataclasses import dataclass, field

    from gkl.cli import build_parser, main
    from gkl.core.losses import kl_div
    from gkl.experiments.adversarial import describe_methods
    from gkl.methods.adversarial import ADVERSARIAL, DivergenceMethod
    from gkl.methods.registry import MethodConfig

    prof = PROFILES["cpu"]
    keys = {label: prof.key(label, 0) for label in prof.methods}

    @dataclass
    class HalfConfig(MethodConfig):
        weight: float = field(default=0.5, metadata={"help": "weight of the KL term"})
        attack_loss: str = "kl"

    class HalfTRADES(DivergenceMethod):
        name, label, Config = "half-trades", "Half-TRADES", HalfConfig

        def divergence(self, adv_logits, clean_logits, targets):
            return {"robust": self.config.weight * kl_div(adv_logits, clean_logits)}

        @classmethod
        def describe(cls, config, num_classes):
            return f"CE + {config.weight:g}·KL(s_c ‖ s_a)", "KL(s_c ‖ s_a)"

    ADVERSARIAL.register(HalfTRADES)
    try:
        adv = AdversarialConfig.for_method("half-trades", epsilon=0.1, attack_steps=1, weight=0.25)
        assert adv.to_dict()["weight"] == 0.25
        train = TrainConfig(epochs=1, batch_size=64, lr=0.05, progress=False)
        _, hist = train_adversarial("digits", "small_cnn", adv, train, None, data=digits,
                                    model_kwargs={"widths": [8, 16]})
        assert {"train_natural", "train_robust", "clean_acc", "robust_acc"} <= set(hist[-1])
        args = build_parser().parse_args(["adversarial", "--method", "half-trades", "--weight", "1/4", "--out", "x"])
        assert (args.method, args.weight) == ("half-trades", 0.25)
        assert main(["adversarial", "--method", "gkl", "--weight", "0.3", "--out", str(tmp_path)]) == 2
        assert "--weight does not apply to method gkl" in capsys.readouterr().err
        with_half = prof.replace(methods={**prof.methods, "Half": ("half-trades", {})})
        assert {label: with_half.key(label, 0) for label in prof.methods} == keys
        assert "| Half | CE + 0.5·KL(s_c ‖ s_a) | KL(s_c ‖ s_a), 5 steps" in describe_methods(with_half, 10)
    finally:
        ADVERSARIAL.unregister("half-trades")
    assert "half-trades" not in ADVERSARIAL
    # a method's key hashes its own config: changing GKL's settings leaves TRADES' key alone
    changed = prof.replace(methods={**prof.methods, "GKL": ("gkl", {"gamma": 0.5})})
    assert changed.key("TRADES", 0) == keys["TRADES"] and changed.key("GKL", 0) != keys["GKL"]
    # a method given as its config is the same run as (name, settings)
    from gkl.methods.adversarial import GKL

    as_config = prof.replace(methods={**prof.methods, "GKL": GKL.Config(gamma=0.5)})
    assert as_config.key("GKL", 0) == changed.key("GKL", 0)


def test_figures_draw_what_they_are_given():
    from gkl.attacks import MaskingReport
    from gkl.figures.adversarial import adversarial_grid, learning_curves, masking_bars, robustness_curve

    hist = [{"epoch": e, "clean_acc": 0.5 + 0.1 * e, "robust_acc": 0.1 * e} for e in (1, 2)]
    recs = [{"method": m, "seed": s, "history": hist, "curve_epsilons": [0.0, 0.1], "curve_pgd_acc": [0.9, 0.4 + s / 10]}
            for m in ("TRADES", "GKL") for s in (0, 1)]
    fig = learning_curves(recs)
    names = {t.name for t in fig.data if t.showlegend}
    assert names == {"TRADES", "GKL"} and len(fig.data) == 8  # band + mean line, 2 panels, 2 methods
    means = [t for t in fig.data if t.mode == "lines+markers" and t.name == "GKL" and t.xaxis == "x2"]
    assert list(means[0].y) == pytest.approx([0.1, 0.2])
    fig = robustness_curve(recs, train_epsilon=0.1)
    gkl_mean = [t for t in fig.data if t.name == "GKL" and t.mode == "lines+markers"][0]
    assert list(gkl_mean.y) == pytest.approx([0.9, 0.45])
    torch.manual_seed(0)
    m = build_model("small_cnn", 10)
    x, y = torch.rand(4, 1, 8, 8), torch.arange(4)
    g = adversarial_grid({"A": m, "B": m}, x, y, 0.1, n=4, steps=2)
    assert len(g.axes) == 12  # 3 rows (clean, A, B) x 4 images
    import matplotlib.pyplot as plt

    plt.close(g)
    rep = MaskingReport(n=10, clean_acc=0.9, whitebox_acc=0.8, blackbox_acc=0.3, blackbox_only=5, tolerance=0.02)
    assert rep.masked and "masking suspected" in str(rep)
    bars = masking_bars({"m": rep})
    assert [list(t.y) for t in bars.data] == [[0.9], [0.8], [0.3]]


def test_the_robustness_curve_reuses_the_clean_and_pgd_numbers_exactly(digits):
    """ε = 0 and the training ε of the curve are not attacked twice; the reused numbers are the ones
    a separate PGD run of the curve gives (same attack, step size and seed)."""
    from gkl.attacks import accuracy_vs_epsilon
    from gkl.experiments.adversarial.runs import _evaluate

    torch.manual_seed(0)
    model = build_model("small_cnn", 10, in_channels=1, widths=[8, 16]).eval()
    _, test, _ = digits
    x, y = test.tensors()
    prof = PROFILES["cpu"].replace(attacks=("pgd",), curve_epsilons=(0.0, 0.1, 0.2, 0.3), pgd_steps=5)
    res = _evaluate(prof, model, x, y, 10, seed=3)
    direct = accuracy_vs_epsilon(model, x, y, prof.curve_epsilons, steps=5, seed=3)
    assert res["curve_pgd_acc"] == direct
    assert res["curve_pgd_acc"][0] == res["clean_acc"] and res["curve_pgd_acc"][2] == res["pgd_acc"]


def test_adversarial_training_refuses_inputs_outside_the_attacks_box(tmp_path):
    """The attacks keep every input in [0, 1]: standardised signals (mnist1d's) would be clamped
    silently, so training them adversarially is refused with a one-line error before anything runs."""
    from gkl.data import get_dataset

    train, test, info = get_dataset("mnist1d")
    cfg = AdversarialConfig.for_method("trades", epsilon=0.05)
    with pytest.raises(ValueError, match=r"training inputs span \[-\d.*box \[0, 1\].*'mnist1d-box'"):
        train_adversarial("mnist1d", "mnist1d_cnn", cfg, TrainConfig(epochs=1), tmp_path / "run",
                          data=(train.subset(64, seed=0), test, info))
    assert not (tmp_path / "run").exists()
