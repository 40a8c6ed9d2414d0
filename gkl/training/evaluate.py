"""Per-epoch evaluation: :func:`evaluate` sums an objective's per-batch metrics over a test set (and
over ranks) with the model in eval mode and a forked, seeded RNG; :func:`eval_indices` picks the fixed
test subset of ``TrainConfig.eval_subset``."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from gkl.data import collate
from gkl.training.config import TrainConfig
from gkl.training.device import to_device
from gkl.training.distributed import all_reduce
from gkl.training.objective import Objective, StepContext

__all__ = ["evaluate", "eval_indices"]


def eval_indices(n: int, config: TrainConfig) -> Optional[list[int]]:
    """Sorted indices of ``config.eval_subset`` test samples drawn with seed ``config.seed + 12345``
    (from a private generator), or ``None`` to evaluate on all ``n``."""
    if config.eval_subset is None or config.eval_subset >= n:
        return None
    g = torch.Generator().manual_seed(config.seed + 12345)
    return torch.randperm(n, generator=g)[: config.eval_subset].sort().values.tolist()


def evaluate(
    module: nn.Module,
    objective: Objective,
    dataset: Dataset,
    ctx: StepContext,
    batch_size: int = 512,
    seed: int = 0,
) -> dict[str, float]:
    """Run :meth:`Objective.eval_batch` over ``dataset`` (this rank's stride under DDP), reduce over
    ranks and divide by the number of samples. The model is put in eval mode and its mode restored;
    the global RNG is forked and seeded with ``seed`` (+ rank), so evaluation is repeatable and leaves
    the caller's random stream untouched."""
    n = len(dataset)
    idx = list(range(ctx.rank, n, ctx.world_size))
    loader = DataLoader(Subset(dataset, idx), batch_size=batch_size, shuffle=False, collate_fn=collate)
    was_training = module.training
    module.eval()
    sums: dict[str, Tensor] = {}
    count = torch.zeros((), dtype=torch.float64, device=ctx.device)
    devices = [ctx.device] if ctx.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed + ctx.rank)
            for x, y in loader:
                x, y = to_device(x, ctx.device), to_device(y, ctx.device)
                for k, v in objective.eval_batch(module, x, y, ctx).items():
                    v = torch.as_tensor(v, device=ctx.device).detach().to(torch.float64)
                    sums[k] = sums[k] + v if k in sums else v
                count += y.shape[0]
    finally:
        module.train(was_training)
    names = sorted(sums)
    # every rank must hold the same metric names for the reduction below
    packed = all_reduce(torch.stack([count] + [sums[k] for k in names]))
    total = max(float(packed[0]), 1.0)
    return {k: float(packed[i + 1]) / total for i, k in enumerate(names)}
