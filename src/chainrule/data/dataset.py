"""Datasets with PyTorch's names: Dataset, TensorDataset, Subset, ConcatDataset, random_split.

A map-style dataset has ``__getitem__(i)`` (one sample) and ``__len__``. Datasets that hold whole
arrays also offer ``get_batch(indices)``: the already-collated batch for an index array, built by
one fancy index per array instead of fetching and stacking samples one by one. ``DataLoader`` uses
it when ``collate_fn`` is the default, so ``TensorDataset`` batches cost one copy per array::

    ds = TensorDataset(x, y)              # tensors or NumPy arrays, same length along dim 0
    ds[3]                                 # (x[3], y[3])
    ds.get_batch(np.array([3, 1, 4]))     # [x[[3, 1, 4]], y[[3, 1, 4]]], as default_collate gives
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from chainrule.autograd.factories import from_numpy, tensor
from chainrule.autograd.tensor import Tensor
from chainrule.errors import fmt_shape
from chainrule.random import Generator, generator_of


def as_array(x: Any) -> np.ndarray:
    """``x`` (a Tensor, array or nested list of numbers) as an array, sharing memory when it can."""
    if isinstance(x, Tensor):
        return x.detach().numpy()
    if isinstance(x, np.ndarray):
        return x
    return tensor(x).detach().numpy()  # Python floats become the default dtype, as in cr.tensor


def wrap(x: Any) -> Any:
    """Arrays and NumPy scalars become tensors; tensors and everything else pass through."""
    if isinstance(x, np.ndarray):
        return from_numpy(x)
    if isinstance(x, np.generic):
        return from_numpy(np.asarray(x))
    return x


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of samples: subclasses define ``__iter__`` (``DataLoader`` batches the stream)."""

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class TensorDataset(Dataset):
    """Samples are rows of the given tensors (or arrays): ``ds[i] == (t[i] for t in tensors)``.

    Every tensor must have the same size along dim 0. Arrays are wrapped without a copy.
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset: give at least one tensor, e.g. TensorDataset(x, y)")
        arrays = [as_array(t) for t in tensors]
        for i, a in enumerate(arrays):
            if a.ndim == 0:
                raise ValueError(f"TensorDataset: tensor {i} is 0-d; every tensor needs a first "
                                 "dimension that indexes the samples")
        sizes = [a.shape[0] for a in arrays]
        if len(set(sizes)) > 1:
            listed = ", ".join(f"tensor {i} has {a.shape[0]} (shape {fmt_shape(a.shape)})"
                               for i, a in enumerate(arrays))
            raise ValueError(f"TensorDataset: size mismatch along dim 0: {listed}; every tensor "
                             "needs one row per sample")
        self.arrays: tuple[np.ndarray, ...] = tuple(arrays)
        self.tensors: tuple[Tensor, ...] = tuple(
            t if isinstance(t, Tensor) else from_numpy(a) for t, a in zip(tensors, arrays))

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(from_numpy(np.asarray(a[index, ...])) for a in self.arrays)

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def get_batch(self, indices: np.ndarray) -> list[Tensor]:
        """The collated batch for ``indices``: one fancy index per array (a copy)."""
        return [from_numpy(a[indices]) for a in self.arrays]


def apply_batch(transform: Callable[[Any], Any], x: np.ndarray) -> Any:
    """Apply a per-sample ``transform`` to a batch: vectorised when it has ``batch``, else
    sample by sample, stacked."""
    batch = getattr(transform, "batch", None)
    if batch is not None:
        return batch(x)
    return np.stack([as_array(transform(s)) for s in x])


class ArrayDataset(Dataset):
    """``(data[i], targets[i])`` pairs from whole arrays, with optional transforms.

    ``transform`` / ``target_transform`` are called on one sample (an array) in ``ds[i]``; in a
    batch they are applied to the whole batch at once when they offer ``batch(x)`` (every
    ``chainrule.data.transforms`` transform does), which is what makes loading fast.
    """

    def __init__(self, data: Any, targets: Any = None, transform: Callable | None = None,
                 target_transform: Callable | None = None) -> None:
        self.data = as_array(data)
        self.targets = None if targets is None else as_array(targets)
        if self.targets is not None and len(self.targets) != len(self.data):
            raise ValueError(f"{type(self).__name__}: {len(self.data)} samples but "
                             f"{len(self.targets)} targets; expected one target per sample")
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return self.data.shape[0]

    def _prepare(self, x: np.ndarray, batched: bool) -> np.ndarray:
        """What a stored sample (or batch) becomes before ``transform``: itself here;
        subclasses convert (MNIST: uint8 (28, 28) -> float32 (1, 28, 28) in [0, 1])."""
        return x

    def __getitem__(self, index: Any) -> Any:
        x = self._prepare(np.asarray(self.data[index, ...]), False)
        if self.transform is not None:
            x = self.transform(x)
        if self.targets is None:
            return wrap(x)
        y = np.asarray(self.targets[index, ...])
        if self.target_transform is not None:
            y = self.target_transform(y)
        return wrap(x), wrap(y)

    def get_batch(self, indices: np.ndarray) -> Any:
        x = self._prepare(self.data[indices], True)
        if self.transform is not None:
            x = apply_batch(self.transform, x)
        if self.targets is None:
            return wrap(x)
        y = self.targets[indices]
        if self.target_transform is not None:
            y = apply_batch(self.target_transform, y)
        return [wrap(x), wrap(y)]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices
        self._index = np.asarray(indices, dtype=np.int64).reshape(-1)

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def get_batch(self) -> Callable[[np.ndarray], Any] | None:
        inner = getattr(self.dataset, "get_batch", None)
        if inner is None:
            return None
        return lambda indices: inner(self._index[indices])


class ConcatDataset(Dataset):
    """The samples of several datasets, one after another."""

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for i, d in enumerate(self.datasets):
            if isinstance(d, IterableDataset):
                raise TypeError(f"ConcatDataset: dataset {i} is an IterableDataset; only "
                                "map-style datasets can be concatenated")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def _locate(self, idx: int) -> tuple[int, int]:
        n = len(self)
        if idx < 0:
            if -idx > n:
                raise ValueError(f"ConcatDataset: index {idx} out of range for length {n}")
            idx += n
        if idx >= n:
            raise IndexError(f"ConcatDataset: index {idx} out of range for length {n}")
        d = int(np.searchsorted(self.cumulative_sizes, idx, side="right"))
        return d, idx - (self.cumulative_sizes[d - 1] if d else 0)

    def __getitem__(self, idx: int) -> Any:
        d, i = self._locate(int(idx))
        return self.datasets[d][i]

    @property
    def get_batch(self) -> Callable[[np.ndarray], Any] | None:
        inner = [getattr(d, "get_batch", None) for d in self.datasets]
        if any(f is None for f in inner):
            return None

        def get(indices: np.ndarray) -> Any:
            indices = np.asarray(indices, dtype=np.int64)
            which = np.searchsorted(self.cumulative_sizes, indices, side="right")
            starts = np.concatenate([[0], self.cumulative_sizes[:-1]])
            used = np.unique(which)
            if len(used) == 1:
                d = int(used[0])
                return inner[d](indices - starts[d])  # type: ignore[misc]
            order = np.concatenate([np.flatnonzero(which == d) for d in used])
            parts = [inner[d](indices[which == d] - starts[d]) for d in used]  # type: ignore[misc]
            return _concat_batches(parts, np.argsort(order, kind="stable"))
        return get


def _concat_batches(parts: list, inverse: np.ndarray) -> Any:
    """Join batches of the same structure along dim 0, then put rows back in request order."""
    first = parts[0]
    if isinstance(first, Tensor):
        return from_numpy(np.concatenate([p.detach().numpy() for p in parts])[inverse])
    if isinstance(first, np.ndarray):
        return np.concatenate(parts)[inverse]
    if isinstance(first, dict):
        return {k: _concat_batches([p[k] for p in parts], inverse) for k in first}
    if isinstance(first, (list, tuple)):
        out = [_concat_batches([p[i] for p in parts], inverse) for i in range(len(first))]
        return out if isinstance(first, list) else type(first)(out)
    raise TypeError(f"ConcatDataset: cannot join batches of type {type(first).__name__}")


def random_split(dataset: Dataset, lengths: Sequence[int | float],
                 generator: Generator | None = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths.

    ``lengths`` are counts that sum to ``len(dataset)``, or fractions that sum to 1 (each subset
    gets ``floor(n * f)``, and the remainder goes one by one to the first subsets, as in PyTorch).
    The permutation is drawn from ``generator`` (the default generator when None).
    """
    n = len(dataset)  # type: ignore[arg-type]
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"random_split: fraction at index {i} is {frac}; fractions must "
                                 "be between 0 and 1")
        counts = [math.floor(n * frac) for frac in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, c in enumerate(counts):
            if c == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an "
                              "empty dataset.", stacklevel=2)
        lengths = counts
    if any(int(c) != c or c < 0 for c in lengths):
        raise ValueError(f"random_split: lengths {lengths} must be non-negative integers or "
                         "fractions that sum to 1")
    if sum(lengths) != n:
        raise ValueError(f"random_split: lengths {lengths} sum to {sum(lengths)}, but the "
                         f"dataset has {n} samples; expected counts that sum to {n} or "
                         "fractions that sum to 1")
    perm = generator_of(generator).permutation(n).tolist()
    out, offset = [], 0
    for c in lengths:
        out.append(Subset(dataset, perm[offset:offset + int(c)]))
        offset += int(c)
    return out
