r"""The class prior on data-parallel ranks (:func:`shard_priors`).

Rank :math:`r` holds per-class sums :math:`\Sigma^{(r)}_{c,:} = \sum_{i \in r,\, y_i = c} \mathrm{softmax}(o_{m,i}/T)`
and counts :math:`n^{(r)}_c`. Without synchronisation rank :math:`r` uses :math:`\Sigma^{(r)}_{c,:} / n^{(r)}_c`;
the all-reduce of :meth:`gkl.ClassPrior.compute` gives every rank
:math:`\sum_r \Sigma^{(r)}_{c,:} / \sum_r n^{(r)}_c`, the prior of one process over all the data.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gkl.core.prior import ClassPrior

__all__ = ["shard_priors"]


def shard_priors(
    logits: Tensor, targets: Tensor, num_ranks: int = 2, temperature: float = 1.0, split: str = "sorted"
) -> dict[str, Any]:
    """What each of ``num_ranks`` data-parallel ranks computes, without and with the all-reduce.

    The samples are split into shards (``"sorted"``: by label, as an un-shuffled sampler would;
    ``"strided"``: sample ``i`` to rank ``i % R``, as ``DistributedSampler`` without shuffling). Each
    rank fills its own :class:`gkl.ClassPrior`; the all-reduce of :meth:`gkl.ClassPrior.compute` is
    simulated in one process by summing the ranks' statistics (exactly what ``all_reduce`` does).

    Returns ``{"local": [prior per rank], "synced": prior, "single": prior of one process over all
    data, "classes": [sorted classes seen by each rank], "max_local_gap": max |local - single|,
    "max_synced_gap": max |synced - single|}``.
    """
    if split == "sorted":
        order = targets.argsort(stable=True)
        shards = order.tensor_split(num_ranks)
    elif split == "strided":
        shards = [torch.arange(r, targets.numel(), num_ranks) for r in range(num_ranks)]
    else:
        raise ValueError(f"split must be 'sorted' or 'strided', got {split!r}")
    C = logits.shape[1]
    ranks = []
    for idx in shards:
        p = ClassPrior(C, temperature)
        p.update(logits[idx], targets[idx])
        ranks.append(p)
    local = [p.compute() for p in ranks]
    total = ClassPrior(C, temperature)
    states = [p.state_dict() for p in ranks]
    merged = dict(states[0])
    merged["sums"] = sum(s["sums"] for s in states)  # all_reduce(sums)
    merged["counts"] = sum(s["counts"] for s in states)  # all_reduce(counts)
    total.load_state_dict(merged)
    synced = total.compute()
    single = ClassPrior(C, temperature)
    single.update(logits, targets)
    single_prior = single.compute()
    return {
        "local": local,
        "synced": synced,
        "single": single_prior,
        "classes": [sorted(set(targets[idx].tolist())) for idx in shards],
        "max_local_gap": max(float((p - single_prior).abs().max()) for p in local),
        "max_synced_gap": float((synced - single_prior).abs().max()),
    }
