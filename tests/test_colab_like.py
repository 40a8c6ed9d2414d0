"""Chapters run the way Colab runs them: from their ``.ipynb``, in a clean environment where ``gkl`` is
installed by the notebook's own set-up cell from the **built wheel** (never the source tree or an
editable install), in a working directory outside the repository (no repository files, no build
cache). This catches a chapter that leans on files of the checkout or on the book build.

The clean environment is a fresh virtual environment whose third-party packages (torch, plotly, ...)
are this environment's, seen through a read-only overlay that leaves ``gkl`` out; the notebook's set-up
cell installs the wheel into it because ``GKL_INSTALL`` names the wheel (on Colab the cell installs
from GitHub instead). Part I chapters run in full; the training chapters run their smoke profile
(``GKL_SMOKE=1``, :mod:`gkl.experiments.smoke`: one epoch, two seeds), each from an empty run cache
of its own, as a reader opening that one chapter in Colab would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402  (tools/notebooks.py)

CHAPTERS = [md for md in notebooks.planned_chapters(ROOT) if md.parent.name in ("theory", "training")]


def _overlay(host: Path, dest: Path) -> Path:
    """A folder of links to every entry of ``host`` site-packages except ``gkl``'s own files."""
    dest.mkdir(parents=True)
    for entry in host.iterdir():
        name = entry.name.lower()
        if name == "gkl" or name.startswith(("gkl-", "__editable__.gkl", "__editable___gkl")):
            continue
        (dest / entry.name).symlink_to(entry)
    return dest


@pytest.fixture(scope="module")
def wheel_kernel(tmp_path_factory):
    """``(kernel name, venv python, wheel)``: a kernel in a clean venv, and the wheel its notebooks install."""
    tmp = tmp_path_factory.mktemp("colab-like")
    dist = tmp / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
                    str(ROOT)], check=True, capture_output=True)
    wheel = next(dist.glob("gkl-*.whl"))
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    purelib = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                           text=True).strip())
    overlay = _overlay(Path(sysconfig.get_paths()["purelib"]), tmp / "host-packages")
    (purelib / "host-packages.pth").write_text(f"{overlay}\n")  # a plain path: its own .pth files never run
    probe = subprocess.run([str(python), "-c", "import gkl"], capture_output=True, text=True, cwd=tmp)
    assert probe.returncode != 0, "gkl must not be importable before the notebook installs it"
    spec_dir = tmp / "jupyter" / "kernels" / "gkl-wheel"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "gkl from its wheel", "language": "python"}))
    return {"jupyter_path": str(tmp / "jupyter"), "python": python, "wheel": wheel, "work": tmp / "work", "venv": env_dir}


@pytest.mark.slow
@pytest.mark.parametrize("md", CHAPTERS, ids=[md.stem for md in CHAPTERS])
def test_chapter_runs_from_the_wheel_outside_the_repository(md, wheel_kernel, monkeypatch):
    import nbclient
    import nbformat

    work = wheel_kernel["work"] / md.stem
    work.mkdir(parents=True)
    monkeypatch.setenv("JUPYTER_PATH", wheel_kernel["jupyter_path"])
    monkeypatch.setenv("GKL_INSTALL", f"{wheel_kernel['wheel']}[train,viz]")
    for var in ("PYTHONPATH", "GKL_RUNS_DIR", "GKL_SMOKE"):
        monkeypatch.delenv(var, raising=False)
    training = md.parent.name == "training"
    if training:
        monkeypatch.setenv("GKL_SMOKE", "1")
    nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import gkl\nprint(gkl.__file__)"))
    nbclient.NotebookClient(nb, timeout=600, kernel_name="gkl-wheel", resources={"metadata": {"path": str(work)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    where = "".join(o.get("text", "") for o in nb.cells[-1].outputs).strip()
    assert where.startswith(str(wheel_kernel["venv"])), f"gkl came from {where}, not from the installed wheel"
    assert not any(p.name == "book" for p in work.rglob("*")), "the chapter wrote into a book/ folder"
    if training:  # the chapter said it ran the smoke profile, and its runs went to the smoke cache folders
        from gkl.experiments.smoke import BANNER

        text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        assert BANNER in text
        root = work / "runs"
        profiles = [*root.glob("adversarial-*"), *root.glob("distill/*")]  # one folder per profile
        assert profiles and all(p.name.endswith("-smoke") for p in profiles), profiles
