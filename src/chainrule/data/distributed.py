"""``DistributedSampler``: each rank's share of a dataset, for data-parallel training.

Every epoch the indices are permuted from ``seed + epoch`` (the same permutation on every rank:
call ``set_epoch(epoch)`` before each epoch, as in PyTorch), padded by repeating the first
indices so the total divides by ``num_replicas`` (or cut with ``drop_last=True``), and rank r
takes every ``num_replicas``-th index starting at r.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized
from typing import Any

import numpy as np

from chainrule.data.sampler import Sampler

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler):
    """Yields the indices of rank ``rank`` out of ``num_replicas`` (defaults: the process group)."""

    def __init__(self, dataset: Sized, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from chainrule.distributed import get_rank, get_world_size

            num_replicas = get_world_size() if num_replicas is None else num_replicas
            rank = get_rank() if rank is None else rank
        if not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive integer, got "
                             f"{num_replicas!r}")
        if not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, int(seed), drop_last, 0
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use ``seed + epoch`` for the next permutation (call it before every epoch)."""
        self.epoch = int(epoch)

    def index_array(self, rng: Any = None) -> np.ndarray:
        """This rank's indices for the current epoch (``rng`` is ignored: the order comes from
        ``seed + epoch``, the same on every rank)."""
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            order = np.arange(n)
        if self.drop_last:
            order = order[:self.total_size]
        elif self.total_size > n:
            pad = self.total_size - n
            order = np.concatenate([order, np.resize(order, pad)]) if n else order
        return order[self.rank:self.total_size:self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.index_array().tolist())

    def __len__(self) -> int:
        return self.num_samples
