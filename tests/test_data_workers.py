"""DataLoader(num_workers=N): real worker processes with PyTorch's semantics and loud failures."""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import signal
import time

import numpy as np
import pytest

import chainrule as cr
from chainrule.utils.data import (
    DataLoader,
    Dataset,
    IterableDataset,
    TensorDataset,
    get_worker_info,
)


class Numbers(Dataset):
    """Item i is (i, worker id, pid, one random draw from chainrule's default generator)."""

    def __init__(self, n: int = 40) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        info = get_worker_info()
        return (cr.tensor(float(i)), info.id if info else -1, os.getpid(),
                float(cr.rand(1).item()))


class Failing(Numbers):
    def __getitem__(self, i: int):
        if i == 13:
            raise ValueError("bad sample 13")
        return super().__getitem__(i)


class Dying(Numbers):
    def __getitem__(self, i: int):
        if i == 13:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__getitem__(i)


class Sleepy(Numbers):
    def __getitem__(self, i: int):
        time.sleep(3.0)
        return super().__getitem__(i)


class Stream(IterableDataset):
    """0..n-1, sharded across workers with get_worker_info as PyTorch's docs show."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, self.n, step))


@pytest.fixture(autouse=True)
def no_leftover_workers():
    yield
    gc.collect()
    deadline = time.monotonic() + 5
    while mp.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not mp.active_children(), "a DataLoader left worker processes behind"


def values(loader: DataLoader) -> list[list[float]]:
    return [b[0].tolist() for b in loader]


def test_workers_give_the_same_batches_in_the_same_order() -> None:
    ds = Numbers(40)
    assert values(DataLoader(ds, batch_size=6, num_workers=2)) == values(
        DataLoader(ds, batch_size=6))
    x = cr.arange(50.0).reshape(25, 2)
    fast = DataLoader(TensorDataset(x, cr.arange(25)), batch_size=4, num_workers=2)
    assert [b[0].tolist() for b in fast] == [b[0].tolist() for b in
                                            DataLoader(TensorDataset(x, cr.arange(25)),
                                                       batch_size=4)]
    one = DataLoader(ds, batch_size=None, num_workers=2)
    assert [float(item[0]) for item in one] == [float(i) for i in range(40)]
    assert len(DataLoader(ds, batch_size=6, num_workers=2)) == 7


def test_both_workers_serve_and_get_worker_info_is_none_in_the_main_process() -> None:
    ids = set()
    for batch in DataLoader(Numbers(40), batch_size=4, num_workers=2):
        ids.update(batch[1].tolist())
    assert ids == {0, 1}
    assert get_worker_info() is None


def test_shuffle_and_worker_seeds_are_reproducible_under_manual_seed() -> None:
    def run() -> tuple[list, list]:
        cr.manual_seed(7)
        order, draws = [], []
        for b in DataLoader(Numbers(24), batch_size=4, shuffle=True, num_workers=2):
            order += b[0].tolist()
            draws += b[3].tolist()
        return order, draws

    (o1, d1), (o2, d2) = run(), run()
    assert o1 == o2 and d1 == d2
    assert sorted(o1) == [float(i) for i in range(24)]
    assert len(set(d1)) == len(d1)  # workers are seeded differently


def test_worker_init_fn_runs_in_each_worker() -> None:
    def init(worker_id: int) -> None:
        info = get_worker_info()
        assert info is not None and info.id == worker_id and info.num_workers == 3
        np.random.seed(1000 + worker_id)

    loader = DataLoader(Numbers(12), batch_size=2, num_workers=3, worker_init_fn=init)
    assert sorted(v for b in values(loader) for v in b) == [float(i) for i in range(12)]


def test_an_exception_in_a_worker_names_the_worker_and_the_cause() -> None:
    loader = DataLoader(Failing(40), batch_size=4, num_workers=2)
    with pytest.raises(RuntimeError, match=r"DataLoader worker \d raised ValueError while "
                       r"fetching a batch: bad sample 13") as info:
        list(loader)
    assert "Original traceback in the worker" in str(info.value)


def test_a_killed_worker_is_reported_with_its_signal() -> None:
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"exited unexpectedly \(killed by signal 9\)"):
        list(DataLoader(Dying(40), batch_size=4, num_workers=2))
    assert time.monotonic() - start < 30


def test_timeout_bounds_the_wait_for_a_batch() -> None:
    with pytest.raises(RuntimeError, match=r"timed out after 0\.5 seconds"):
        next(iter(DataLoader(Sleepy(4), batch_size=2, num_workers=1, timeout=0.5)))


def test_persistent_workers_serve_every_epoch_and_others_are_new_each_epoch() -> None:
    def pids(loader: DataLoader) -> set[int]:
        return {p for b in loader for p in b[2].tolist()}

    keep = DataLoader(Numbers(16), batch_size=4, num_workers=2, persistent_workers=True)
    first = pids(keep)
    assert pids(keep) == first and os.getpid() not in first
    keep._pool.close()
    fresh = DataLoader(Numbers(16), batch_size=4, num_workers=2)
    assert pids(fresh).isdisjoint(pids(fresh))


def test_iterable_dataset_sharded_by_worker_info() -> None:
    got = [v for b in DataLoader(Stream(23), batch_size=5, num_workers=2) for v in b.tolist()]
    assert sorted(got) == list(range(23))


def test_breaking_out_early_leaves_no_process_behind() -> None:
    it = iter(DataLoader(Numbers(40), batch_size=2, num_workers=2))
    next(it)
    del it  # the fixture checks that the workers are gone


def test_resume_mid_epoch_with_workers() -> None:
    cr.manual_seed(3)
    loader = DataLoader(Numbers(20), batch_size=4, shuffle=True, num_workers=2)
    it = iter(loader)
    seen = [next(it)[0].tolist() for _ in range(2)]
    state = loader.state_dict()
    rest = [b[0].tolist() for b in it]
    loader.load_state_dict(state)
    assert [b[0].tolist() for b in loader] == rest
    assert len(seen) + len(rest) == 5


def test_worker_options_are_validated() -> None:
    with pytest.raises(ValueError, match="need num_workers > 0"):
        DataLoader(Numbers(4), persistent_workers=True)
    with pytest.raises(ValueError, match="prefetch_factor must be a positive integer"):
        DataLoader(Numbers(4), num_workers=1, prefetch_factor=0)


def test_a_failing_worker_init_fn_is_reported() -> None:
    def init(worker_id: int) -> None:
        raise OSError("no such shard")

    with pytest.raises(RuntimeError, match="raised OSError while running worker_init_fn: no "
                       "such shard"):
        list(DataLoader(Numbers(8), batch_size=2, num_workers=2, worker_init_fn=init))
