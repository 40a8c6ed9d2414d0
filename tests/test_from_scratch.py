"""The chapter's GKL from scratch (the cell tagged ``gkl-from-scratch`` in making_it_fast.md) equals
the package's fused :func:`gkl.gkl`: values and gradients on both sides, with and without a prior."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import gkl

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "theory" / "making_it_fast.md"


def _from_scratch():
    text = CHAPTER.read_text(encoding="utf-8")
    m = re.search(r"```\{code-cell\} ipython3\n:tags: \[gkl-from-scratch\]\n(.*?)```", text, re.S)
    assert m, "making_it_fast.md has no cell tagged gkl-from-scratch"
    namespace: dict = {}
    exec(compile(m.group(1), str(CHAPTER), "exec"), namespace)  # the chapter's own code
    return namespace["gkl_from_scratch"]


@pytest.mark.parametrize("gamma", [0.0, 0.2, 1.0])
@pytest.mark.parametrize("with_prior", [False, True])
def test_from_scratch_equals_the_fused_loss(gamma, with_prior):
    f = _from_scratch()
    g = torch.Generator().manual_seed(int(10 * gamma) + with_prior)
    B, C = 12, 7
    o_n = 2 * torch.randn(B, C, generator=g, dtype=torch.float64, requires_grad=True)
    o_m = 2 * torch.randn(B, C, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, C, (B,), generator=g)
    prior = torch.softmax(torch.randn(C, C, generator=g, dtype=torch.float64), dim=1) if with_prior else None
    kw = dict(alpha=0.7, beta=3.0, gamma=gamma)
    ours = f(o_n, o_m, y, prior, T=2.0, T2=3.0, **kw)
    fused = gkl.gkl(o_n, o_m, y, prior, temperature=2.0, weight_temperature=3.0, **kw)
    torch.testing.assert_close(ours, fused, rtol=1e-10, atol=1e-12)
    for a, b in zip(torch.autograd.grad(ours, (o_n, o_m)), torch.autograd.grad(fused, (o_n, o_m))):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_a_wrong_from_scratch_would_fail():
    """The comparison is sharp: dropping the batch normalisation changes the value."""
    f = _from_scratch()
    g = torch.Generator().manual_seed(3)
    o_n, o_m = torch.randn(4, 5, generator=g, dtype=torch.float64), torch.randn(4, 5, generator=g, dtype=torch.float64)
    assert not torch.allclose(f(o_n, o_m, beta=1.0, alpha=0.0) * 4, gkl.gkl(o_n, o_m, beta=1.0, alpha=0.0))
