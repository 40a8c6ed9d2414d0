"""Chapters run the way Colab runs them: from their ``.ipynb``, in a clean environment where ``gkl`` is
installed by the notebook's own set-up cell from the **built wheel** (never the source tree or an
editable install), in a working directory outside the repository (no repository files, no build
cache). This catches a chapter that leans on files of the checkout or on the book build.

The clean environment is a fresh virtual environment seeded with Colab's preinstalled versions only
(:mod:`tests.colab_env`: requests 2.32, numpy 2, ipywidgets 7.7, JupyterLab 4, torch ...); nothing of
this build's environment is visible in it (no myst-nb, no Jupyter Book, no ``gkl``). The notebook's
set-up cell installs the wheel with its declared extras into it because ``GKL_INSTALL`` names the
wheel (on Colab the cell installs from GitHub instead), so a chapter that needs a package the extras
do not declare fails here. Part I chapters run in full; the training chapters run their smoke profile
(``GKL_SMOKE=1``, :mod:`gkl.experiments.smoke`: one epoch, two seeds), each from an empty run cache
of its own, as a reader opening that one chapter in Colab would. The chapters with a ``PROFILE`` switch
also run once with ``PROFILE = "gpu"`` (the reader's edit of that line), in smoke mode, on tiny
CIFAR-shaped files (``GKL_DATA_DIR``, :func:`gkl.data.write_fake_cifar`) and without any recorded GPU
sweep: the released configurations on the GPU profile's code path, on a CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.colab_env import build_wheel, colab_venv

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402  (tools/notebooks.py)

CHAPTERS = [md for md in notebooks.planned_chapters(ROOT) if md.parent.name in ("theory", "training")]
#: The line of the chapters' first code cell that picks the profile; a reader edits "cpu" to "gpu".
PROFILE_LINE = 'PROFILE = "cpu"'
#: ``(chapter, profile)`` runs: every chapter as it is, and the chapters with a profile switch on "gpu".
#: Training chapters that, with the recorded full-power runs shipped in the wheel, read them and
#: train nothing themselves (their reproduction slice needs the full budget, so smoke runs skip it).
READS_RECORDS = {"claims", "distillation_ablations", "guidelines"}
RUNS = [(md, "default") for md in CHAPTERS] + [
    (md, "gpu") for md in CHAPTERS if md.parent.name == "training" and PROFILE_LINE in md.read_text()]
#: Packages of the book build that Colab does not have: none may be importable in the clean venv.
BUILD_ONLY = ("gkl", "myst_nb", "jupyter_book", "sphinx", "jupytext", "pytest")


@pytest.fixture(scope="module")
def wheel_kernel(tmp_path_factory):
    """``(kernel name, venv python, wheel)``: a kernel in a Colab-like venv, and the wheel its notebooks install."""
    tmp = tmp_path_factory.mktemp("colab-like")
    wheel = build_wheel(tmp / "dist")
    env_dir = tmp / "venv"
    python = colab_venv(env_dir)
    probe = subprocess.run([str(python), "-c", f"import importlib.util as u; print([m for m in {BUILD_ONLY!r} if u.find_spec(m)])"],
                           capture_output=True, text=True, cwd=tmp, check=True)
    assert probe.stdout.strip() == "[]", f"the clean venv sees the build's packages: {probe.stdout}"
    spec_dir = tmp / "jupyter" / "kernels" / "gkl-wheel"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "gkl from its wheel", "language": "python"}))
    return {"jupyter_path": str(tmp / "jupyter"), "python": python, "wheel": wheel, "work": tmp / "work", "venv": env_dir}


def test_glue_without_myst_nb_is_a_plain_display(monkeypatch):
    """The chapters glue values through :func:`gkl.figures.markdown.glue`, which needs no myst-nb."""
    import builtins

    from gkl.figures import markdown

    real_import = builtins.__import__

    def no_myst_nb(name, *args, **kwargs):
        if name == "myst_nb" or name.startswith("myst_nb."):
            raise ImportError("No module named 'myst_nb'")
        return real_import(name, *args, **kwargs)

    shown = []
    monkeypatch.setattr(builtins, "__import__", no_myst_nb)
    monkeypatch.setattr("IPython.display.display", lambda v: shown.append(v))
    assert markdown.glue("x", 1.5, display=False) == 1.5 and shown == []
    assert markdown.glue("x", 2.5) == 2.5 and shown == [2.5]


def test_the_profile_switch_is_found_where_readers_edit_it():
    gpu = [md.stem for md, profile in RUNS if profile == "gpu"]
    assert {"adversarial", "distillation"} <= set(gpu), gpu
    for md, profile in RUNS:
        if profile == "gpu":  # exactly once, in a code cell of the notebook readers open
            import nbformat

            nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
            assert sum(PROFILE_LINE in c.source for c in nb.cells if c.cell_type == "code") == 1, md


def _switch_profile(nb, profile: str) -> None:
    """Edit the profile line as a reader would (``PROFILE = "gpu"``)."""
    cell = next(c for c in nb.cells if c.cell_type == "code" and PROFILE_LINE in c.source)
    cell.source = cell.source.replace(PROFILE_LINE, f'PROFILE = "{profile}"', 1)


@pytest.mark.slow
@pytest.mark.parametrize("md,profile", RUNS, ids=[f"{md.stem}-{p}" if p != "default" else md.stem for md, p in RUNS])
def test_chapter_runs_from_the_wheel_outside_the_repository(md, profile, wheel_kernel, monkeypatch, tmp_path):
    import nbclient
    import nbformat

    work = wheel_kernel["work"] / f"{md.stem}-{profile}"
    work.mkdir(parents=True)
    monkeypatch.setenv("JUPYTER_PATH", wheel_kernel["jupyter_path"])
    monkeypatch.setenv("GKL_INSTALL", f"{wheel_kernel['wheel']}[train,viz]")
    for var in ("PYTHONPATH", "PYTHONHOME", "GKL_RUNS_DIR", "GKL_SMOKE", "GKL_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    # the kernel (and any process a chapter starts) sees the clean venv, as Colab's shell sees its python
    monkeypatch.setenv("VIRTUAL_ENV", str(wheel_kernel["venv"]))
    monkeypatch.setenv("PATH", f"{wheel_kernel['venv'] / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    training = md.parent.name == "training"
    if training:
        monkeypatch.setenv("GKL_SMOKE", "1")
    nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    if profile == "gpu":  # tiny CIFAR-shaped files stand in for the download; no GPU sweep is recorded
        from gkl.data import write_fake_cifar

        data = tmp_path / "data"
        from gkl.experiments.smoke import CIFAR_TRAIN

        write_fake_cifar(data, "cifar10", n_train=32, n_test=16)
        write_fake_cifar(data, "cifar100", n_train=CIFAR_TRAIN, n_test=16)  # the smoke run's training subset
        monkeypatch.setenv("GKL_DATA_DIR", str(data))
        _switch_profile(nb, "gpu")
    nb.cells.append(nbformat.v4.new_code_cell("import gkl\nprint(gkl.__file__)"))
    nbclient.NotebookClient(nb, timeout=600 if profile != "gpu" else 1200, kernel_name="gkl-wheel", resources={"metadata": {"path": str(work)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    setup = next(c for c in nb.cells if c.cell_type == "code")  # the install cell: pip's output, if any
    assert "ERROR" not in "".join(o.get("text", "") for o in setup.get("outputs", [])), setup.outputs
    where = "".join(o.get("text", "") for o in nb.cells[-1].outputs).strip()
    assert where.startswith(str(wheel_kernel["venv"])), f"gkl came from {where}, not from the installed wheel"
    assert not any(p.name == "book" for p in work.rglob("*")), "the chapter wrote into a book/ folder"
    if training:  # the chapter said it ran the smoke profile, and its runs went to the smoke cache folders
        from gkl.experiments.smoke import BANNER

        text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        assert BANNER in text
        root = work / "runs"
        profiles = [*root.glob("adversarial/*"), *root.glob("distill/*")]  # runs/<task>/<profile>/
        assert all(p.name.endswith("-smoke") for p in profiles), profiles  # never a full-size run
        # pages whose results are the recorded full-power runs (shipped in the wheel) train nothing
        assert profiles or md.stem in READS_RECORDS, f"{md.stem} trained nothing in smoke mode"
        if profile == "gpu":  # the released configuration, on the CIFAR profiles' cache folders
            shown = text + "".join(str(v) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                                   for v in o.get("data", {}).values())  # Markdown and HTML displays too
            assert "released configuration, not re-tuned here" in shown
            assert all("gpu" in p.name for p in profiles), profiles
