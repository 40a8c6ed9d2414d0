"""Command line: training, evaluation, resume and one-line errors (never a traceback)."""

import json
import subprocess
import sys

import pytest
import torch

from gkl.cli import main
from tests.conftest import MLP_S, MLP_T, run_cli

torch.set_num_threads(1)  # small ops: threads only contend on a shared 2-core machine

FAST = ["--train-subset", "96", "--eval-subset", "40", "--attack-steps", "1", "--no-progress", "--quiet"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "gkl"
    rc = main(["adversarial", "--dataset", "digits", "--method", "gkl", "--epochs", "2", "--seed", "1",
               "--out", str(out), "--gamma", "0.3", "--epsilon", "0.1", *FAST])
    assert rc == 0
    return out


def one_line_error(capsys, argv, match):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("gkl: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert match in err, err


def test_adversarial_writes_metrics_and_checkpoint(run_dir):
    lines = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2]
    assert {"epoch", "train_loss", "clean_acc", "robust_acc"} <= set(lines[0])
    assert (run_dir / "checkpoint.pt").is_file()


def test_resume_of_a_finished_run_changes_nothing(run_dir, capsys):
    before = (run_dir / "metrics.jsonl").read_text()
    rc = main(["adversarial", "--dataset", "digits", "--method", "gkl", "--epochs", "2", "--seed", "1",
               "--out", str(run_dir), "--gamma", "0.3", "--epsilon", "1/10", *FAST, "--resume"])
    assert rc == 0 and (run_dir / "metrics.jsonl").read_text() == before
    one_line_error(capsys, ["adversarial", "--epochs", "2", "--out", str(run_dir), *FAST], "exists")


def test_evaluate_prints_and_saves(run_dir, capsys):
    rc = main(["evaluate", "--checkpoint", str(run_dir / "checkpoint.pt"), "--attack", "pgd", "--subset", "50", "--steps", "5"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "clean_acc" in out and "robust_acc" in out
    res = json.loads((run_dir / "eval-pgd.json").read_text())
    assert res["n"] == 50 and res["epsilon"] == pytest.approx(0.1) and res["robust_acc"] <= res["clean_acc"]


def test_bad_arguments_give_one_line_errors(run_dir, tmp_path, capsys):
    one_line_error(capsys, ["adversarial", "--method", "mart", "--out", str(tmp_path)], "invalid choice")
    one_line_error(capsys, ["adversarial", "--epsilon", "-0.1", "--out", str(tmp_path)], "--epsilon must be >= 0")
    one_line_error(capsys, ["adversarial", "--epsilon", "abc", "--out", str(tmp_path)], "not a number")
    # a method flag that the chosen method's config lacks
    one_line_error(capsys, ["adversarial", "--method", "ikl", "--gamma", "0.3", "--out", str(tmp_path)],
                   "--gamma does not apply to method ikl")
    one_line_error(capsys, ["adversarial", "--method", "pgd-at", "--beta", "1", "--out", str(tmp_path)],
                   "--beta does not apply to method pgd-at")
    one_line_error(capsys, ["adversarial", "--method", "trades", "--no-prior", "--out", str(tmp_path)],
                   "--prior does not apply to method trades")
    one_line_error(capsys, ["evaluate", "--checkpoint", str(tmp_path / "missing.pt")], "not found")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    one_line_error(capsys, ["evaluate", "--checkpoint", str(bad)], "corrupted")
    one_line_error(capsys, ["evaluate", "--checkpoint", str(run_dir), "--model", "wrn34_10"], "holds a 'small_cnn' model")
    # weights of another architecture under a checkpoint that claims small_cnn
    ck = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    ck["meta"]["model_kwargs"]["widths"] = [4]
    torch.save(ck, tmp_path / "other.pt")
    one_line_error(capsys, ["evaluate", "--checkpoint", str(tmp_path / "other.pt")], "does not fit model")
    one_line_error(capsys, ["evaluate", "--checkpoint", str(run_dir), "--epsilon", "-1"], "--epsilon must be >= 0")
    one_line_error(capsys, [], "required")


def test_method_flags_come_from_the_registered_configs():
    from gkl.cli import build_parser
    from gkl.cli.adversarial import _adversarial_config
    from gkl.methods.adversarial import ADVERSARIAL

    parser = build_parser()
    args = parser.parse_args(["adversarial", "--method", "gkl", "--no-prior", "--alpha", "3", "--gamma", "1/5",
                              "--attack-loss", "kl", "--out", "x"])
    cfg = _adversarial_config(args, {}, cifar=False)
    assert (cfg.method.use_prior, cfg.method.alpha, cfg.method.gamma, cfg.method.attack_loss) == (False, 3.0, 0.2, "kl")
    assert (cfg.setup.epsilon, cfg.setup.attack_steps, cfg.setup.step_ratio) == (0.2, 5, 0.4)  # digits defaults
    sub = next(a for a in parser._actions if a.dest == "command").choices["adversarial"]
    assert next(a for a in sub._actions if a.dest == "method").choices == ADVERSARIAL.names()


def test_distill_subcommand_is_registered(capsys):
    with pytest.raises(SystemExit) as e:
        main(["distill", "--help"])
    assert e.value.code == 0 and "distill" in capsys.readouterr().out


def test_python_dash_m_exit_code_and_no_traceback(tmp_path):
    p = subprocess.run([sys.executable, "-m", "gkl", "adversarial", "--method", "nope", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.startswith("gkl: error:") and "Traceback" not in p.stderr


@pytest.mark.slow
def test_released_preset_on_a_tiny_cifar_folder(tmp_path, capsys):
    """--preset released switches on the whole released recipe; explicit flags override it."""
    from gkl.data import write_fake_cifar

    write_fake_cifar(tmp_path / "data", "cifar100", n_train=8, n_test=4)
    out = tmp_path / "run"
    rc = main(["adversarial", "--dataset", "cifar100", "--method", "gkl", "--preset", "released",
               "--model", "preact_resnet18", "--epochs", "1", "--awp-warmup", "1", "--batch-size", "8",
               "--eval-subset", "4", "--data-root", str(tmp_path / "data"), "--out", str(out), "--no-progress", "--quiet"])
    assert rc == 0
    ck = torch.load(out / "checkpoint.pt", weights_only=False)
    adv, train = ck["config"]["objective"], ck["config"]["train"]
    assert (adv["eps_schedule"], adv["awp_gamma"], adv["attack_steps"], adv["step_ratio"]) == ("released-linear", 0.005, 5, 0.5)
    assert (adv["temperature"], adv["prior_temperature"], adv["gamma"], adv["alpha"], adv["beta"]) == (1.0, 1.0, 0.4, 4.0, 20.0)
    assert adv["epsilon"] == pytest.approx(8 / 255) and adv["attack_loss"] == "released"
    assert (train["lr"], train["ema_decay"], train["epochs"]) == (0.2, 0.9, 1)  # --epochs overrides the preset
    assert ck["meta"]["model_kwargs"]["mean"] == [0.0] * 3 and ck["meta"]["model_kwargs"]["std"] == [1.0] * 3
    assert "averaged_model" in ck and ck["history"][-1]["awp"] == 1
    assert main(["adversarial", "--dataset", "digits", "--preset", "released", "--out", str(tmp_path / "x")]) == 2
    assert "CIFAR recipe" in capsys.readouterr().err


def test_cli_distill_and_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GKL_RUNS_DIR", str(tmp_path / "runs"))
    base = ["distill", "--dataset", "digits", "--student", "mnist1d_mlp", "--student-kwargs", json.dumps(MLP_S),
            "--epochs", "2"]
    teacher = ["--teacher", "mnist1d_mlp", "--teacher-kwargs", json.dumps(MLP_T)]
    code, out, err = run_cli(base + teacher + ["--method", "gkl", "--gamma", "0.5", "--out", str(tmp_path / "a")], capsys)
    assert code == 0, err
    rows = [json.loads(l) for l in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and {"train_loss", "test_acc"} <= set(rows[0])
    assert (tmp_path / "a" / "checkpoint.pt").is_file()
    teachers = list((tmp_path / "runs" / "teachers").glob("*/teacher.pt"))
    assert len(teachers) == 1
    # the cached teacher file is accepted as --teacher
    code, _, err = run_cli(base + ["--teacher", str(teachers[0]), "--method", "kd", "--out", str(tmp_path / "b")], capsys)
    assert code == 0, err
    # --resume on a finished run is a no-op that keeps the metrics
    code, _, err = run_cli(base + ["--teacher", str(teachers[0]), "--method", "kd", "--out", str(tmp_path / "b"), "--resume"], capsys)
    assert code == 0, err
    assert len((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()) == 2

    bad = [
        (base + ["--method", "kd", "--out", str(tmp_path / "c")], "needs --teacher"),
        (base + teacher + ["--method", "kd", "--out", str(tmp_path / "a")], "exists"),
        (base + ["--teacher", str(tmp_path / "nope.pt"), "--method", "kd", "--out", str(tmp_path / "d")], "does not exist"),
        (base + ["--teacher", "no_such_arch", "--method", "kd", "--out", str(tmp_path / "d")], "neither a file"),
        (["distill", "--dataset", "digits", "--student", "nope", "--out", str(tmp_path / "e"), "--method", "none"], "unknown model"),
        (base + teacher + ["--method", "gkl", "--temperature", "0", "--out", str(tmp_path / "f")], "temperature"),
        (base + teacher + ["--method", "fitnet", "--out", str(tmp_path / "f")], "invalid choice"),
        (base + teacher + ["--method", "kd", "--gamma", "0.5", "--out", str(tmp_path / "f")],
         "--gamma does not apply to method kd"),
        (base + teacher + ["--method", "ikl", "--gamma", "0.5", "--kd-weight", "1", "--out", str(tmp_path / "f")],
         "--kd-weight, --gamma do not apply to method ikl"),
        (base + teacher + ["--method", "gkl", "--prior", "--no-prior", "--out", str(tmp_path / "f")], "not allowed"),
        (base + teacher + ["--student-kwargs", "{bad", "--method", "kd", "--out", str(tmp_path / "f")], "not valid JSON"),
        (base + teacher + ["--config", "cifar100/resnet56-resnet20", "--method", "kd", "--out", str(tmp_path / "f")], "is for 'cifar100'"),
    ]
    for args, msg in bad:
        code, _, err = run_cli(args, capsys)
        assert code == 2, (args, err)
        assert err.startswith("gkl: error:") and msg in err and len(err.strip().splitlines()) == 1, err
    # a corrupted teacher file
    broken = tmp_path / "broken.pt"
    broken.write_bytes(teachers[0].read_bytes()[:100])
    code, _, err = run_cli(base + ["--teacher", str(broken), "--method", "kd", "--out", str(tmp_path / "g")], capsys)
    assert code == 2 and "corrupted" in err


def test_cli_help_states_the_ikl_defaults(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["distill", "--help"])
    assert exc.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "ikl: 1 × CE + ω·(1 × soft-label CE + 4 × wMSE), T 4, no class prior (per-sample weights at T2 100)" in out
    assert "gkl: 1 × CE + ω·(1 × soft-label CE + 4 × wMSE, γ 0.2), T 4, class prior at T2 4" in out
    # every flag name of the flat config still exists, each says which methods it applies to
    for flag in ("--alpha", "--beta", "--gamma", "--temperature", "--weight-temperature", "--ce-weight", "--kd-weight",
                 "--warmup", "--prior", "--no-prior"):
        assert f" {flag} " in out, flag
    assert "dkd: TCKD weight; ikl, gkl: weight of the soft-label CE" in out
