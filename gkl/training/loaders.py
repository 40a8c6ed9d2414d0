"""The training data loader: seeded, sharded over ranks, and reproducible across a resume.

Data order depends only on ``(seed, epoch)`` (a seeded :class:`~torch.utils.data.DistributedSampler`,
``batch_size`` per process); data-loader workers, started afresh every epoch, take their seeds from a
generator seeded by ``(seed, epoch, rank)`` (:func:`loader_seed`), so augmentations drawn in workers
match between a resumed run and an uninterrupted one.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from gkl.data import collate
from gkl.training.config import TrainConfig

__all__ = ["train_loader", "loader_seed"]


def train_loader(
    train_set: Dataset, config: TrainConfig, rank: int, world: int, device: torch.device
) -> tuple[DistributedSampler, DataLoader]:
    """The sampler (call ``set_epoch`` every epoch) and the loader (reseed ``loader.generator`` with
    :func:`loader_seed` every epoch) of this rank's shard of ``train_set``."""
    sampler = DistributedSampler(
        train_set, num_replicas=world, rank=rank, shuffle=True, seed=config.seed, drop_last=config.drop_last
    )
    loader = DataLoader(
        train_set,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=config.num_workers,
        collate_fn=collate,
        drop_last=config.drop_last,
        pin_memory=device.type == "cuda",
        # workers restart every epoch and take their seeds from a generator reseeded per epoch
        # (see :func:`loader_seed`), so a resumed run draws the same augmentations; persistent workers would not
        persistent_workers=False,
        generator=torch.Generator(),
    )
    return sampler, loader


def loader_seed(config: TrainConfig, epoch: int, rank: int) -> int:
    """Seed of the generator a loader draws its worker seeds from: a function of (seed, epoch, rank)
    only, so data-loader workers draw the same augmentations in a resumed run as in an uninterrupted
    one. (The augmentations still depend on ``num_workers``: each worker has its own stream.)"""
    return ((config.seed * 1_000_003 + epoch) * 1009 + rank) % (2**63)
