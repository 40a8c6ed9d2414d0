"""A Colab-like virtual environment for the install and chapter tests (``test_colab_install.py``,
``test_colab_like.py``): a fresh venv holding Colab's preinstalled versions of the packages that
matter to ``gkl[train,viz]`` and nothing of this build (no ``gkl``, no myst-nb, no Jupyter Book).

:data:`COLAB_PREINSTALLED` is Google Colab's runtime as of late 2025 (``pip list`` there), restricted to
what ``gkl[train,viz]`` depends on, directly or not, plus the notebook stack (``ipykernel``,
``ipywidgets`` 7.7, JupyterLab 4). torch/torchvision are the releases that lie on this machine's disk
(:data:`TORCH_CUDA`, :data:`TORCH_CPU`; Colab's own are CUDA builds of a similar release).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COLAB_PREINSTALLED = (
    "pip==24.1.2",
    "requests==2.32.4",
    "urllib3==2.5.0",
    "idna==3.10",
    "numpy==2.0.2",
    "scipy==1.16.1",
    "scikit-learn==1.6.1",
    "matplotlib==3.10.0",
    "plotly==5.24.1",
    "sympy==1.13.3",
    "tqdm==4.67.1",
    "pillow==11.3.0",
    "ipykernel==6.17.1",
    "ipywidgets==7.7.1",
    "jupyterlab>=4,<5",
)
#: torch and torchvision from this machine's disk: CUDA builds that import and run on CPU (~5.7 GB
#: installed, ~1.5 min), like Colab's own pair, for environments that run the chapters.
TORCH_CUDA = ("torch==2.14.1", "torchvision==0.29.1")
#: The CPU build of torch (190 MB) with the torchvision of its release, for environments that only
#: resolve and install (PyPI's torchvision does not import beside a ``+cpu`` torch; nothing imports it there).
TORCH_CPU = ("torch==2.13.0", "torchvision==0.28.0")


def build_wheel(dest: Path) -> Path:
    """``gkl``'s wheel, built from the checkout into ``dest`` (no dependencies, no build isolation)."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dest),
                    str(ROOT)], check=True, capture_output=True)
    return next(dest.glob("gkl-*.whl"))


def _env() -> dict[str, str]:
    """This process's environment without what would leak the build's packages into the venv."""
    env = dict(os.environ)
    for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_TARGET", "PIP_PREFIX", "PIP_USER", "PIP_REQUIRE_VIRTUALENV"):
        env.pop(var, None)
    return env


def pip(python: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``python -m pip ARGS`` in the venv; output captured (stdout and stderr as text)."""
    proc = subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args], capture_output=True,
                          text=True, env=_env())
    if check and proc.returncode != 0:
        raise AssertionError(f"pip {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def colab_venv(dest: Path, torch: tuple[str, ...] = TORCH_CUDA) -> Path:
    """A fresh venv at ``dest`` seeded with :data:`COLAB_PREINSTALLED` and ``torch``; returns its python."""
    venv.create(dest, with_pip=True, symlinks=True)
    python = dest / "bin" / "python"
    pip(python, "install", "-q", *COLAB_PREINSTALLED, *torch)
    return python


def installed(python: Path) -> dict[str, str]:
    """``{normalised name: version}`` of every distribution in the venv (``pip list``, pip included)."""
    rows = json.loads(pip(python, "list", "--format=json").stdout)
    return {r["name"].lower().replace("_", "-"): r["version"] for r in rows}
