"""Tensor factories with PyTorch's names and arguments (``dtype=``, ``device=``, ...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule import backend
from chainrule.autograd.dtypes import get_default_dtype, to_dtype
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.random import Generator, generator_of


def _size(size: tuple) -> tuple[int, ...]:
    if len(size) == 1 and not isinstance(size[0], (int, np.integer)):
        size = tuple(size[0])
    try:
        return tuple(int(s) for s in size)
    except TypeError:
        raise TypeError(f"size: expected integers, got {size!r}") from None


def _make(arr: np.ndarray, device: Any, requires_grad: bool, where: str) -> Tensor:
    if device is not None:
        backend.check_device(device, where)
    return _leaf(arr, requires_grad)


def _float(dtype: Any) -> np.dtype:
    return get_default_dtype() if dtype is None else to_dtype(dtype)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros."""
    return _make(np.zeros(_size(size), _float(dtype)), device, requires_grad, "zeros")


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return _make(np.ones(_size(size), _float(dtype)), device, requires_grad, "ones")


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor whose values are not initialised (zeros here: NumPy's empty is not cheaper to
    trust)."""
    return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size: Sequence[int], fill_value: Any, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor filled with ``fill_value`` (dtype inferred from it, as in PyTorch)."""
    if dtype is None:
        dtype = (get_default_dtype() if isinstance(fill_value, float) else
                 np.asarray(fill_value).dtype)
    return _make(np.full(_size((size,)), fill_value, to_dtype(dtype)), device, requires_grad,
                 "full")


def _like(t: Any, dtype: Any) -> tuple[tuple[int, ...], np.dtype]:
    arr = t._data if isinstance(t, Tensor) else np.asarray(t)
    return arr.shape, (arr.dtype if dtype is None else to_dtype(dtype))


def zeros_like(t: Any, dtype: Any = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
    shape, dt = _like(t, dtype)
    return _make(np.zeros(shape, dt), device, requires_grad, "zeros_like")


def ones_like(t: Any, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    shape, dt = _like(t, dtype)
    return _make(np.ones(shape, dt), device, requires_grad, "ones_like")


def full_like(t: Any, fill_value: Any, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    shape, dt = _like(t, dtype)
    return _make(np.full(shape, fill_value, dt), device, requires_grad, "full_like")


def empty_like(t: Any, dtype: Any = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
    return zeros_like(t, dtype, device, requires_grad)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Values from ``start`` to ``end`` (exclusive) by ``step``; integers give int64."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = backend.int64 if is_int else get_default_dtype()
    return _make(np.arange(start, end, step, dtype=to_dtype(dtype)), device, requires_grad,
                 "arange")


def linspace(start: float, end: float, steps: int, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    return _make(np.linspace(start, end, int(steps), dtype=_float(dtype)), device, requires_grad,
                 "linspace")


def eye(n: int, m: int | None = None, dtype: Any = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    """The identity matrix (n x m)."""
    return _make(np.eye(n, m, dtype=_float(dtype)), device, requires_grad, "eye")


def rand(*size: Any, generator: Generator | None = None, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1)."""
    arr = generator_of(generator).random(_size(size)).astype(_float(dtype))
    return _make(arr, device, requires_grad, "rand")


def randn(*size: Any, generator: Generator | None = None, dtype: Any = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    arr = generator_of(generator).standard_normal(_size(size)).astype(_float(dtype))
    return _make(arr, device, requires_grad, "randn")


def randint(low: int, high: int | None = None, size: Sequence[int] = (), *,
            generator: Generator | None = None, dtype: Any = None, device: Any = None) -> Tensor:
    """Integers uniformly drawn from [low, high)."""
    if high is None:
        low, high = 0, low
    arr = generator_of(generator).integers(low, high, _size((size,)))
    return _make(arr.astype(to_dtype(dtype or backend.int64)), device, False, "randint")


def randperm(n: int, *, generator: Generator | None = None, dtype: Any = None,
             device: Any = None) -> Tensor:
    """A random permutation of 0..n-1."""
    arr = generator_of(generator).permutation(int(n)).astype(to_dtype(dtype or backend.int64))
    return _make(arr, device, False, "randperm")


def normal(mean: float, std: float, size: Sequence[int], *, generator: Generator | None = None,
           dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Normal samples with the given mean and standard deviation."""
    arr = generator_of(generator).normal(mean, std, _size((size,))).astype(_float(dtype))
    return _leaf(arr, requires_grad)
