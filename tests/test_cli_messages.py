"""What the command line says: a finished run on ``--resume``, the run folder's errors in the CLI's own
words (``--resume`` / ``--overwrite``), a corrupted checkpoint as one line, the model names in
``--help``, and usage lines and help texts that name only commands and flags that exist."""

import json
import re
import subprocess
import sys

import pytest
import torch

from gkl.cli import SUBCOMMANDS, build_parser, main
from gkl.models import available_models
from tests.conftest import MLP_S

torch.set_num_threads(1)  # small ops: threads only contend on a shared 2-core machine

ADV = ["adversarial", "--dataset", "digits", "--method", "trades", "--epochs", "1", "--train-subset", "64",
       "--eval-subset", "20", "--attack-steps", "1", "--eval-steps", "1", "--no-progress", "--quiet"]
DISTILL = ["distill", "--dataset", "digits", "--student", "mnist1d_mlp", "--student-kwargs", json.dumps(MLP_S),
           "--method", "none", "--epochs", "1", "--train-subset", "64"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """``{"adversarial": (argv, out), "distill": (argv, out)}``: a finished one-epoch run of each."""
    root = tmp_path_factory.mktemp("finished")
    runs = {}
    for name, argv in (("adversarial", ADV), ("distill", DISTILL)):
        out = root / name
        assert main([*argv, "--out", str(out)]) == 0
        runs[name] = (argv, out)
    return runs


def _one_line_error(capsys, argv, *needles):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("gkl: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.mark.parametrize("command", ["adversarial", "distill"])
def test_resume_of_a_finished_run_says_so_and_trains_nothing(finished, command, capsys):
    argv, out = finished[command]
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in (out / "checkpoint.pt", out / "metrics.jsonl")}
    assert main([*argv, "--out", str(out), "--resume"]) == 0
    printed = capsys.readouterr()
    assert "already finished (1 of 1 epochs)" in printed.out and str(out) in printed.out, printed
    assert printed.out.count("\n") == 1 and printed.err == "", printed
    assert {p.name: p.read_bytes() for p in (out / "checkpoint.pt", out / "metrics.jsonl")} == before


@pytest.mark.parametrize("command", ["adversarial", "distill"])
def test_an_existing_checkpoint_names_the_cli_flags(finished, command, capsys):
    argv, out = finished[command]
    err = _one_line_error(capsys, [*argv, "--out", str(out)], "checkpoint.pt exists", "--resume", "--overwrite")
    assert "resume=True" not in err and "overwrite=True" not in err
    _one_line_error(capsys, [*argv, "--out", str(out), "--resume", "--overwrite"],
                    "--overwrite: not allowed with argument --resume")


@pytest.mark.parametrize("command", ["adversarial", "distill"])
def test_a_truncated_checkpoint_is_a_one_line_error(finished, command, tmp_path, capsys):
    argv, out = finished[command]
    broken = tmp_path / command
    broken.mkdir()
    data = (out / "checkpoint.pt").read_bytes()
    (broken / "checkpoint.pt").write_bytes(data[: len(data) // 2])
    _one_line_error(capsys, [*argv, "--out", str(broken), "--resume"], "corrupted")
    (broken / "checkpoint.pt").write_bytes(b"")
    _one_line_error(capsys, [*argv, "--out", str(broken), "--resume"], "corrupted")


def _help(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def _option_help(text: str, option: str) -> str:
    """The help of ``option`` in ``--help`` output ``text``, whitespace collapsed."""
    body = text.split("\noptions:", 1)[1]
    block = re.search(rf"\n  {re.escape(option)} [A-Z_]+(.*?)(?=\n  -|\n\n|\Z)", body, re.S)
    assert block, option
    return " ".join(block.group(1).split())


def test_help_lists_the_registered_models(capsys):
    names = available_models()
    distill = _help(capsys, "distill")
    for option in ("--student", "--teacher"):
        listed = _option_help(distill, option)
        assert all(re.search(rf"\b{n}\b", listed) for n in names), (option, listed)
    listed = _option_help(_help(capsys, "adversarial"), "--model")
    assert all(re.search(rf"\b{n}\b", listed) for n in names), listed


def test_usage_lines_name_a_command_that_exists(capsys):
    top = _help(capsys)
    assert top.startswith("usage: python -m gkl "), top.splitlines()[0]
    for name in SUBCOMMANDS:
        assert _help(capsys, name).startswith(f"usage: python -m gkl {name} ")
    # "python -m gkl" runs: the package has a __main__
    p = subprocess.run([sys.executable, "-m", "gkl", "--help"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.startswith("usage: python -m gkl "), p.stderr


def test_help_texts_mention_only_flags_that_exist():
    """Every ``--flag`` a sub-command's help mentions (``default: --epochs``, ``over --eps-warmup epochs``)
    is one of its own options."""
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices
    for name, parser in sub.items():
        options = {o for a in parser._actions for o in a.option_strings}
        mentioned = {m for a in parser._actions if a.help for m in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", a.help)}
        mentioned |= set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", parser.description or ""))
        assert mentioned <= options, (name, sorted(mentioned - options))
