"""The engine under DistributedDataParallel: 2 CPU processes on the gloo backend (as under torchrun)."""

import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from gkl.methods.adversarial import AdversarialConfig  # noqa: F401  (imported before forking: fast start)

torch.set_num_threads(1)  # also keeps the forked workers single-threaded


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out: str) -> None:
    # the environment torchrun would set
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                       "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world)})
    torch.set_num_threads(1)
    import torch.distributed as dist

    from gkl.data import get_dataset
    from gkl.methods.adversarial import train_adversarial
    from gkl.training import TrainConfig

    tr, te, info = get_dataset("digits")
    data = (tr.subset(96), te.subset(40), info)
    adv = AdversarialConfig.for_method("gkl", epsilon=0.1, attack_steps=1)
    train = TrainConfig(epochs=2, batch_size=16, lr=0.05, progress=False, device="cpu")
    obj_holder = {}
    import gkl.methods.adversarial.train as A

    orig = A.AdversarialObjective

    class Spy(orig):  # keep a handle on the objective to compare priors across ranks
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            obj_holder["obj"] = self

    A.AdversarialObjective = Spy
    kw = {"data": data, "model_kwargs": {"widths": [8, 16]}}
    results = {}
    for name in ("full", "resumed"):
        run_dir = os.path.join(out, name)
        if name == "resumed":  # killed after epoch 1 (a fresh objective and model on resume)
            train_adversarial("digits", "small_cnn", adv, train, run_dir, stop_after=1, **kw)
        model, history = train_adversarial("digits", "small_cnn", adv, train, run_dir, resume=name == "resumed", **kw)
        obj = obj_holder["obj"]
        results[name] = {"history": history, "prior": obj.method.prior.current.clone(),  # epoch 2's, all-reduced
                         "params": [p.detach().clone() for p in model.parameters()]}
    torch.save(results, os.path.join(out, f"rank{rank}.pt"))
    dist.barrier()
    dist.destroy_process_group()


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs the fork start method")
def test_two_process_ddp_run(tmp_path):
    out = tmp_path / "ddp"
    out.mkdir()
    mp.start_processes(_worker, args=(2, _free_port(), str(out)), nprocs=2, start_method="fork")
    r0, r1 = (torch.load(out / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    strip = lambda h: [{k: v for k, v in m.items() if k != "time_s"} for m in h]  # noqa: E731
    for run in ("full", "resumed"):
        assert strip(r0[run]["history"]) == strip(r1[run]["history"])  # metrics reduced over ranks
        assert all(torch.equal(a, b) for a, b in zip(r0[run]["params"], r1[run]["params"]))  # replicas equal
        assert torch.allclose(r0[run]["prior"], r1[run]["prior"])  # the class prior is synchronised
    assert not torch.allclose(r0["full"]["prior"], torch.full((10, 10), 0.1))
    # killed after epoch 1 and resumed: the prior (saved after the all-reduced roll) and the whole
    # run equal the uninterrupted one's, on both ranks
    for r in (r0, r1):
        assert torch.equal(r["resumed"]["prior"], r["full"]["prior"])
        assert strip(r["resumed"]["history"]) == strip(r["full"]["history"])
        assert all(torch.equal(a, b) for a, b in zip(r["resumed"]["params"], r["full"]["params"]))
    out = out / "full"
    lines = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2]  # written once, by rank 0
    assert 0.0 <= lines[-1]["robust_acc"] <= lines[-1]["clean_acc"] <= 1.0
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.jsonl"]
    ck = torch.load(out / "checkpoint.pt", weights_only=True)
    assert len(ck["rng"]) == 2  # every rank's RNG state, for an exact resume
