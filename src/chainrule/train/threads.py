"""How many BLAS/OpenMP threads to compute with, chosen from the size of the work.

NumPy's BLAS starts one thread per core by default. For the small matrices of a teaching-sized
MLP (a batch of 32 through 64-256-128-10) splitting each product across threads costs more in
start-up and synchronisation than it saves, and on a shared machine the threads fight the other
processes: ``chainrule train`` on digits took 4-13 s with the default where one thread took
0.6-1.1 s (2 cores, another process busy; ``python -m bench.threads`` measures it).

``auto_threads`` picks 1 thread below ``SMALL_WORK`` multiply-adds per batch, and otherwise at most
``MAX_AUTO`` (the usable cores); ``limit_threads`` applies a choice through threadpoolctl, for the
process's BLAS and OpenMP pools at once, and restores them afterwards.

Reproducibility: with a fixed thread count a run is bit-for-bit repeatable. Across thread counts
BLAS may split a dot product differently, so results can differ in the last bits and, after many
epochs, visibly; pass the same ``--threads`` to compare runs.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

SMALL_WORK = 20_000_000  # multiply-adds per forward batch below which 1 thread is fastest
MAX_AUTO = 4


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def matmul_work(sizes: Sequence[int], batch_size: int) -> int:
    """Multiply-adds of one forward batch through an MLP with layer ``sizes`` (in, ..., out)."""
    return int(batch_size) * sum(a * b for a, b in itertools.pairwise(sizes))


def auto_threads(work: int, cores: int | None = None) -> tuple[int, str]:
    """The thread count for ``work`` multiply-adds per batch, and why (for the output)."""
    cores = usable_cores() if cores is None else cores
    if work < SMALL_WORK or cores <= 1:
        return 1, f"auto: {work / 1e6:.1f}M multiply-adds per batch is small work"
    n = max(1, min(MAX_AUTO, cores))
    return n, f"auto: {work / 1e6:.0f}M multiply-adds per batch, {cores} cores"


@contextmanager
def limit_threads(n: int | None) -> Iterator[None]:
    """Run the block with at most ``n`` BLAS/OpenMP threads (None: leave the pools as they are).
    Without threadpoolctl installed, ``n`` other than None raises ImportError with the fix."""
    if n is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError as e:
        raise ImportError("choosing the thread count needs threadpoolctl: pip install "
                          "threadpoolctl") from e
    with threadpool_limits(limits=int(n)):
        yield


def current_blas_threads() -> int | None:
    """The thread count of NumPy's BLAS right now (None when threadpoolctl cannot tell)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    blas = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    return max(blas) if blas else None
