"""ClassPrior under a 2-process gloo DistributedDataParallel run on CPU: every rank gets the prior of all
the data (the released code has no such synchronisation), checked against the independent reference
``tests/reference.class_prior`` (written without ``gkl``)."""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import gkl
from tests import reference as ref

C, WORLD = 5, 2


def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 8, generator=g)
    # Uneven classes per shard: rank 0 sees only classes 0-2, rank 1 mostly 3-4.
    y = torch.cat([torch.randint(0, 3, (20,), generator=g), torch.randint(2, 5, (20,), generator=g)])
    return x, y


def model():
    torch.manual_seed(0)
    return torch.nn.Linear(8, C)


def _worker(rank, init_file, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        net = torch.nn.parallel.DistributedDataParallel(model())
        x, y = data()
        shard = slice(rank * 20, (rank + 1) * 20)
        prior = gkl.ClassPrior(C, temperature=2.0)
        for i in range(0, 20, 5):  # four mini-batches of this rank's shard
            xb, yb = x[shard][i : i + 5], y[shard][i : i + 5]
            logits = net(xb)
            prior.update(logits, yb)
            loss = gkl.gkl(logits, logits.detach() + 0.1, yb, prior.compute(), gamma=0.5)
            loss.backward()
        local_samples = prior.num_samples
        first, second = prior.compute(), prior.compute()  # computing twice must not double-count
        torch.save({"prior": first, "again": second, "local": local_samples}, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two spawned processes: ~6 s, mostly start-up
def test_prior_is_synchronised_across_ranks(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True)
    x, y = data()
    with torch.no_grad():
        logits = model()(x)  # the parameters never changed in the workers: no optimiser step
    # Row c: mean of softmax(logits / T) over ALL samples of class c, both shards together.
    want = ref.class_prior(logits, y, C, T=2.0)
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    for r in results:
        assert r["local"] == 20  # each rank only saw its own shard...
        assert r["prior"].shape == (C, C)
        # ...yet got the global prior (float64 statistics on CPU; float32 at worst)
        torch.testing.assert_close(r["prior"].double(), want, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(r["again"].double(), want, rtol=1e-6, atol=1e-7)
    # Without the all-reduce the ranks would disagree: rank 0 has never seen class 4, so its own prior
    # would keep a uniform row 4 and different rows 2 (class 2 is in both shards).
    local0 = ref.class_prior(logits[:20], y[:20], C, T=2.0)
    assert not torch.allclose(local0, want, atol=1e-3)
    assert torch.equal(local0[4], torch.full((C,), 1.0 / C, dtype=torch.float64))
