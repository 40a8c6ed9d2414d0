"""The README's quickstart is real code: run it."""

from __future__ import annotations

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_runs_and_trains():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python quickstart"
    torch.manual_seed(0)
    scope: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), scope)
    prior = scope["prior"].current  # rolled after the last epoch: a real prior, not the uniform start
    assert prior.shape == (10, 10) and not torch.allclose(prior, torch.full((10, 10), 0.1))
    torch.testing.assert_close(prior.sum(1), torch.ones(10))
    assert torch.isfinite(scope["loss"])


def test_readme_names_the_two_commands():
    text = README.read_text()
    assert "make book" in text and "make test" in text
