"""chainrule.data against torch.utils.data on the same data: batches, dtypes, len, errors."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import DataLoader, Dataset, IterableDataset, TensorDataset, random_split
from tests.helpers import lazy_torch as torch

Point = namedtuple("Point", ["a", "b"])


def flat(batch: Any) -> Any:
    """A batch as plain nested Python values plus dtype names, for either library."""
    if isinstance(batch, cr.Tensor):
        return ("tensor", batch.numpy().dtype.name, batch.tolist())
    if isinstance(batch, torch.Tensor):
        return ("tensor", str(batch.dtype).removeprefix("torch."), batch.tolist())
    if isinstance(batch, dict):
        return {k: flat(v) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return (type(batch).__name__, [flat(v) for v in batch])
    if isinstance(batch, (list, tuple)):
        return (type(batch).__name__, [flat(v) for v in batch])
    return batch


def both(make: Any, **kw: Any) -> tuple[list, list]:
    """Run the same loader in chainrule and torch; ``make(lib)`` builds the dataset."""
    ours = DataLoader(make("cr"), **kw)
    theirs = torch.utils.data.DataLoader(make("torch"), **kw)
    assert len(ours) == len(theirs)
    return [flat(b) for b in ours], [flat(b) for b in theirs]


def tensor_dataset(lib: str, n: int = 11) -> Any:
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = np.arange(n) % 3
    if lib == "cr":
        return TensorDataset(x, y)
    return torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))


@pytest.mark.parametrize("batch_size", [1, 3, 4, 11, 20, None])
@pytest.mark.parametrize("drop_last", [False, True])
def test_tensor_dataset_batches(batch_size: int | None, drop_last: bool) -> None:
    if batch_size is None and drop_last:
        return
    ours, theirs = both(tensor_dataset, batch_size=batch_size, drop_last=drop_last)
    assert ours == theirs


def test_sampler_and_batch_sampler() -> None:
    ours, theirs = both(tensor_dataset, batch_size=2, sampler=[5, 3, 1, 10])
    assert ours == theirs
    ours, theirs = both(tensor_dataset, batch_sampler=[[0, 1], [9], [2, 3, 4]])
    assert ours == theirs


class Mixed:
    """A dataset of mixed Python structures, as either library's Dataset subclass."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Any:
        return {"arr": np.full((2,), i, np.float32), "i": i, "f": 0.25 * i, "s": f"s{i}",
                "t": (i, 2 * i), "l": [np.int64(i), np.float64(i) / 2], "p": Point(i, -i),
                "b": bool(i % 2), "u8": np.uint8(i)}


def mixed(lib: str) -> Any:
    base = Dataset if lib == "cr" else torch.utils.data.Dataset
    return type("M", (Mixed, base), {})(7)


@pytest.mark.parametrize("batch_size", [3, None])
def test_default_collate_and_convert_structures(batch_size: int | None) -> None:
    ours, theirs = both(mixed, batch_size=batch_size)
    assert ours == theirs


def test_iterable_dataset_batches() -> None:
    def make(lib: str) -> Any:
        base = IterableDataset if lib == "cr" else torch.utils.data.IterableDataset

        class Stream(base):  # type: ignore[misc, valid-type]
            def __iter__(self):  # type: ignore[no-untyped-def]
                return iter([(np.float32(i), i) for i in range(8)])

            def __len__(self) -> int:
                return 8
        return Stream()

    for kw in ({"batch_size": 3}, {"batch_size": 3, "drop_last": True}, {"batch_size": None}):
        ours, theirs = both(make, **kw)
        assert ours == theirs


def test_shuffle_is_a_permutation_like_torch() -> None:
    cr.manual_seed(0)
    ours = [b[1].tolist() for b in DataLoader(tensor_dataset("cr"), batch_size=4, shuffle=True)]
    theirs = [b[1].tolist() for b in torch.utils.data.DataLoader(
        tensor_dataset("torch"), batch_size=4, shuffle=True)]
    assert [len(b) for b in ours] == [len(b) for b in theirs]
    assert sorted(i for b in ours for i in b) == sorted(i for b in theirs for i in b)


@pytest.mark.parametrize("lengths", [[3, 8], [0.3, 0.7], [0.5, 0.25, 0.25], [0.1] * 10])
def test_random_split_lengths(lengths: list) -> None:
    ours = random_split(tensor_dataset("cr"), lengths)
    theirs = torch.utils.data.random_split(tensor_dataset("torch"), lengths)
    assert [len(s) for s in ours] == [len(s) for s in theirs]


@pytest.mark.parametrize("kw", [
    {"sampler": [0, 1], "shuffle": True},
    {"batch_sampler": [[0]], "batch_size": 2},
    {"batch_sampler": [[0]], "drop_last": True},
    {"batch_size": None, "drop_last": True},
    {"num_workers": -1},
])
def test_same_argument_errors(kw: dict) -> None:
    with pytest.raises(ValueError):
        torch.utils.data.DataLoader(tensor_dataset("torch"), **kw)
    with pytest.raises(ValueError):
        DataLoader(tensor_dataset("cr"), **kw)
