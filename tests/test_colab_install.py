"""Installing ``gkl[train,viz]`` into Colab leaves Colab's environment as it was.

A fresh venv is seeded with Colab's preinstalled versions (:mod:`tests.colab_env`: requests 2.32,
urllib3 2, idna 3, numpy 2, ipywidgets 7.7, JupyterLab 4, scikit-learn, matplotlib, plotly, sympy,
torch/torchvision ...); then the built wheel is installed with its extras, as a chapter's set-up cell
does. pip must print no resolver ERROR, and no package that was installed may change version: only
additions (gkl and what Colab lacks, e.g. torchattacks, mnist1d). Before the fix, torchattacks 3.5
(``requests~=2.25.1``) downgraded requests/urllib3/idna with a resolver error (JupyterLab's server
needs requests >= 2.31), and ``ipywidgets>=8`` upgraded Colab's 7.7.
"""

from __future__ import annotations

import pytest

from tests.colab_env import TORCH_CPU, build_wheel, colab_venv, installed, pip


@pytest.mark.slow
def test_installing_the_extras_over_colab_changes_no_installed_package(tmp_path):
    wheel = build_wheel(tmp_path / "dist")
    python = colab_venv(tmp_path / "venv", torch=TORCH_CPU)
    before = installed(python)
    assert "gkl" not in before
    consistent_before = pip(python, "check", check=False).returncode == 0

    proc = pip(python, "install", f"{wheel}[train,viz]")
    output = proc.stdout + proc.stderr
    after = installed(python)

    assert "ERROR" not in output, f"pip printed an error:\n{output}"
    assert "dependency resolver does not currently take into account" not in output, output
    changed = {name: f"{v} -> {after.get(name, 'removed')}" for name, v in before.items() if after.get(name) != v}
    assert changed == {}, f"installing gkl[train,viz] changed Colab's packages: {changed}"
    added = set(after) - set(before)
    assert {"gkl", "torchattacks"} <= added, added
    if consistent_before:  # the install leaves no broken requirement behind either
        check = pip(python, "check", check=False)
        assert check.returncode == 0, check.stdout
