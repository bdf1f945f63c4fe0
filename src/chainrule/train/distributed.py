"""What ``fit`` does differently inside an MPI job (``init_process_group`` called, world > 1).

The model is wrapped in ``DistributedDataParallel`` (unless it already is one): rank 0's weights
are broadcast and gradients averaged during backward. A dataset (not a DataLoader of the user's)
is read through a ``DistributedSampler`` seeded with ``seed`` (0 by default) and ``set_epoch``
each epoch; ``batch_size`` is per rank, as in PyTorch. The logged training loss is the mean
over every rank's samples; validation runs on every rank over the whole validation set, with
rank 0's buffers. Progress bars, loggers and checkpoints run on rank 0 alone (callbacks with
``main_process_only = True``); a checkpoint holds the unwrapped model, so it resumes on any
number of ranks, or none.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.factories import from_numpy
from chainrule.distributed import process_group as pg

__all__ = ["active", "broadcast_value", "global_mean", "main_only", "unwrap", "wrap"]


def active() -> bool:
    """True inside a process group of more than one rank."""
    return pg.is_initialized() and pg.get_world_size() > 1


def wrap(model: Any) -> Any:
    """``model`` as a ``DistributedDataParallel`` (itself when it already is one)."""
    from chainrule.nn.parallel import DistributedDataParallel

    if isinstance(model, DistributedDataParallel):
        return model
    return DistributedDataParallel(model)


def unwrap(model: Any) -> Any:
    """The module inside a ``DistributedDataParallel`` (the model itself otherwise)."""
    from chainrule.nn.parallel import DistributedDataParallel

    return model.module if isinstance(model, DistributedDataParallel) else model


def main_only(callbacks: list[Any]) -> list[Any]:
    """The callbacks this rank runs: all on rank 0, none marked ``main_process_only`` elsewhere."""
    if pg.is_main_process():
        return callbacks
    return [cb for cb in callbacks if not getattr(cb, "main_process_only", False)]


def global_mean(total: float, count: int) -> tuple[float, int]:
    """Sum ``total`` and ``count`` over the ranks."""
    t = from_numpy(np.array([total, float(count)]))
    pg.all_reduce(t)
    a = t.numpy()
    return float(a[0]), int(a[1])


def broadcast_value(value: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``value`` on every rank (pickled)."""
    box = [value]
    pg.broadcast_object_list(box, src)
    return box[0]


def is_main() -> bool:
    """True on rank 0 and outside an MPI job."""
    return pg.is_main_process()
