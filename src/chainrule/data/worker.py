"""Worker processes for ``DataLoader(num_workers=N)``, with PyTorch's semantics.

Each worker is a process that holds its own copy of the dataset (forked where the platform
allows, so nothing is pickled to start it). The loader's iterator sends it lists of indices and
gets collated batches back on one result queue; batches are handed to the caller in the order
the sampler produced them, whichever worker finishes first. At most ``prefetch_factor`` tasks
per worker are in flight.

Seeds: every epoch (or every pool, with ``persistent_workers``) draws a ``base_seed`` from the
loader's generator; worker ``i`` seeds chainrule's default generator, NumPy's legacy global state
and Python's ``random`` with ``base_seed + i`` before calling ``worker_init_fn(i)``, so
``cr.manual_seed`` makes augmentations in workers reproducible. ``get_worker_info()`` tells code
running in a worker which worker it is (and is None in the main process).

Failures are loud: an exception in a worker is re-raised in the main process with the worker's
id and traceback; a worker that dies (killed, segfault) is noticed within a second and reported
with its exit code; ``timeout`` bounds the wait for one batch. Workers ignore Ctrl-C (SIGINT):
the main process gets the KeyboardInterrupt and shuts the workers down. Data comes back through
``multiprocessing`` queues (pickle between our own processes, never from files).
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing as mp
import os
import queue
import random as _pyrandom
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

_POLL_S = 0.5  # how often a waiting main process checks that its workers are alive


@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker (PyTorch's fields)."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_WORKER_INFO: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """The current worker's id, count, seed and dataset copy; None in the main process."""
    return _WORKER_INFO


class _Done:
    """An iterable dataset's worker has no more batches."""


def _context() -> Any:
    methods = mp.get_all_start_methods()
    return mp.get_context("fork" if "fork" in methods else "spawn")


def _worker_loop(loader: Any, worker_id: int, num_workers: int, seed: int,
                 tasks: Any, results: Any) -> None:
    """The body of one worker process: seed, init, then fetch until told to stop."""
    global _WORKER_INFO
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    from chainrule import random as cr_random

    cr_random.manual_seed(seed)
    np.random.seed(seed % 2**32)
    _pyrandom.seed(seed)
    _WORKER_INFO = WorkerInfo(worker_id, num_workers, seed, loader.dataset)
    batches: Iterator[Any] | None = None
    try:
        if loader.worker_init_fn is not None:
            loader.worker_init_fn(worker_id)
    except BaseException as e:  # reported to the main process; then this worker stops
        results.put((None, worker_id, _failure(e, worker_id, "running worker_init_fn")))
        return
    if loader._iterable:
        batches = loader._iterable_batches()
    while True:
        task = tasks.get()
        if task is None:
            return
        task_id, indices = task
        try:
            if batches is not None:
                item = next(batches, _Done)
                out = _Done if item is _Done else loader._collate_iterable(item)
            else:
                out = loader._fetch_task(indices)
        except BaseException as e:
            results.put((task_id, worker_id, _failure(e, worker_id, "fetching a batch")))
            continue
        results.put((task_id, worker_id, out))


@dataclass
class _Failure:
    """An exception raised in a worker, as text (its type may not pickle)."""

    worker_id: int
    where: str
    kind: str
    message: str
    trace: str


def _failure(e: BaseException, worker_id: int, where: str) -> _Failure:
    return _Failure(worker_id, where, type(e).__name__, str(e),
                    "".join(traceback.format_exception(type(e), e, e.__traceback__)))


class WorkerPool:
    """``num_workers`` processes serving one loader (one epoch, or several if persistent)."""

    def __init__(self, loader: Any, base_seed: int) -> None:
        ctx = _context()
        self.loader, self.n = loader, loader.num_workers
        self.results = ctx.Queue()
        self.tasks = [ctx.Queue() for _ in range(self.n)]
        self.procs = []
        for i in range(self.n):
            p = ctx.Process(target=_worker_loop, daemon=True, name=f"chainrule-worker-{i}",
                            args=(loader, i, self.n, base_seed + i, self.tasks[i], self.results))
            p.start()
            self.procs.append(p)
        self.closed = False
        self.owner = os.getpid()  # a forked child inherits this object: only the owner closes
        self.ids = itertools.count()

    def send(self, worker: int, indices: Any) -> int:
        task_id = next(self.ids)
        self.tasks[worker].put((task_id, indices))
        return task_id

    def receive(self, timeout: float) -> tuple[int, int, Any]:
        """The next result from any worker; raises if a worker failed, died or timed out."""
        start = time.monotonic()
        while True:
            try:
                task_id, worker, out = self.results.get(timeout=_POLL_S)
            except queue.Empty:
                self._check_alive()
                if timeout and time.monotonic() - start > timeout:
                    self.close()
                    raise RuntimeError(f"DataLoader timed out after {timeout} seconds waiting "
                                       "for a batch from its workers (timeout=...)") from None
                continue
            if isinstance(out, _Failure):
                self.close()
                raise RuntimeError(
                    f"DataLoader worker {out.worker_id} raised {out.kind} while {out.where}: "
                    f"{out.message}\nOriginal traceback in the worker:\n{out.trace}")
            return task_id, worker, out

    def _check_alive(self) -> None:
        for i, p in enumerate(self.procs):
            if not p.is_alive():
                code = p.exitcode
                self.close()
                how = f"killed by signal {-code}" if code is not None and code < 0 else (
                    f"exit code {code}")
                raise RuntimeError(f"DataLoader worker {i} (pid {p.pid}) exited unexpectedly "
                                   f"({how}); if it ran out of memory, use fewer workers or a "
                                   "smaller batch_size")

    def close(self) -> None:
        """Stop the workers: ask politely, then terminate whoever does not listen."""
        if self.closed or os.getpid() != self.owner:
            return
        self.closed = True
        for q in self.tasks:
            with contextlib.suppress(OSError, ValueError):  # a queue already broken
                q.put(None)
        deadline = time.monotonic() + 2.0
        for p in self.procs:
            p.join(timeout=max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.terminate()
                p.join(timeout=1.0)
        for q in [*self.tasks, self.results]:
            q.cancel_join_thread()
            q.close()

    def __del__(self) -> None:
        if not getattr(self, "closed", True) and sys is not None:
            self.close()


class WorkerFeed:
    """One epoch's batches through a pool: in the sampler's order, ``prefetch`` per worker."""

    def __init__(self, pool: WorkerPool, index_batches: Iterator[Any] | None,
                 prefetch: int) -> None:
        self.pool, self.batches = pool, index_batches
        self.pending: dict[int, Any] = {}  # task id -> result that came back early
        self.order: list[int] = []  # task ids in the order the caller gets them
        self.turn = itertools.cycle(range(pool.n))
        self.exhausted: set[int] = set()  # iterable datasets: workers with no more batches
        for _ in range(prefetch * pool.n):
            if not self._dispatch():
                break

    def _dispatch(self) -> bool:
        pool = self.pool
        if self.batches is None:  # iterable dataset: ask the next live worker, round robin
            for _ in range(pool.n):
                w = next(self.turn)
                if w not in self.exhausted:
                    self.order.append(pool.send(w, None))
                    return True
            return False
        indices = next(self.batches, None)
        if indices is None:
            return False
        self.order.append(pool.send(next(self.turn), indices))
        return True

    def next(self, timeout: float) -> Any:
        while self.order:
            want = self.order.pop(0)
            while want not in self.pending:
                task_id, worker, out = self.pool.receive(timeout)
                self.pending[task_id] = (worker, out)
            worker, out = self.pending.pop(want)
            if out is _Done:
                self.exhausted.add(worker)
                self._dispatch()
                continue
            self._dispatch()
            return out
        raise StopIteration
