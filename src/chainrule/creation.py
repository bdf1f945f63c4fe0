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


def randint(low: Any = 0, high: Any = None, size: Any = None, *,
            generator: Generator | None = None, dtype: Any = None, device: Any = None,
            requires_grad: bool = False) -> Tensor:
    """Integers uniformly drawn from [low, high), as ``torch.randint``: ``randint(high, size)``
    or ``randint(low, high, size)`` (``size`` a tuple; int64 unless ``dtype`` says otherwise)."""
    if size is None and isinstance(high, (tuple, list)):  # randint(high, size)
        low, high, size = 0, low, high
    elif high is None and size is not None:  # randint(high, size=...)
        low, high = 0, low
    if high is None or size is None:
        raise TypeError(f"randint: expected randint(high, size) or randint(low, high, size) "
                        f"with size a tuple such as (3,), got low={low!r}, high={high!r}, "
                        f"size={size!r}")
    low, high = int(low), int(high)
    if low >= high:
        raise RuntimeError(f"randint: expected low < high, got low={low}, high={high}")
    arr = generator_of(generator).integers(low, high, _size((size,)))
    return _make(arr.astype(to_dtype(dtype or backend.int64)), device, requires_grad, "randint")


def rand_like(input: Any, *, dtype: Any = None, device: Any = None,
              requires_grad: bool = False, generator: Generator | None = None) -> Tensor:
    """Uniform samples in [0, 1) with ``input``'s shape and (floating) dtype."""
    shape, dt = _like(input, dtype)
    _check_floating("rand_like", dt)
    arr = generator_of(generator).random(shape).astype(dt)
    return _make(arr, device, requires_grad, "rand_like")


def randn_like(input: Any, *, dtype: Any = None, device: Any = None,
               requires_grad: bool = False, generator: Generator | None = None) -> Tensor:
    """Standard normal samples with ``input``'s shape and (floating) dtype."""
    shape, dt = _like(input, dtype)
    _check_floating("randn_like", dt)
    arr = generator_of(generator).standard_normal(shape).astype(dt)
    return _make(arr, device, requires_grad, "randn_like")


def randint_like(input: Any, low: int = 0, high: int | None = None, *, dtype: Any = None,
                 device: Any = None, requires_grad: bool = False,
                 generator: Generator | None = None) -> Tensor:
    """Integers from [low, high) with ``input``'s shape and dtype: ``randint_like(x, high)`` or
    ``randint_like(x, low, high)``."""
    if high is None:
        low, high = 0, low
    shape, dt = _like(input, dtype)
    arr = generator_of(generator).integers(int(low), int(high), shape).astype(dt)
    return _make(arr, device, requires_grad, "randint_like")


def _check_floating(where: str, dt: Any) -> None:
    if not backend.is_floating(dt):
        raise RuntimeError(f"{where}: the input has dtype {dt}, but random floats need a "
                           "floating dtype; pass dtype=cr.float32 (or use randint_like)")


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


class _TypedTensorMeta(type):
    """``isinstance(x, cr.FloatTensor)`` is True for float32 tensors, as in PyTorch."""

    _dtype: Any

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, Tensor) and obj.dtype == cls._dtype


class _TypedTensor(metaclass=_TypedTensorMeta):
    """PyTorch's legacy typed constructors: ``cr.LongTensor([1, 2])`` (from data) or
    ``cr.FloatTensor(2, 3)`` (a tensor of that size: zeros here, uninitialised in PyTorch)."""

    _dtype: Any = None

    def __new__(cls, *args: Any, device: Any = None) -> Any:  # type: ignore[misc]
        if device is not None:
            backend.check_device(device, cls.__name__)
        if not args:
            return _leaf(np.zeros((0,), cls._dtype))
        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            data = args[0]
            data = data._data if isinstance(data, Tensor) else data
            return _leaf(np.array(data, dtype=cls._dtype))
        return _leaf(np.zeros(_size(args), cls._dtype))


class FloatTensor(_TypedTensor):
    _dtype = backend.float32


class DoubleTensor(_TypedTensor):
    _dtype = backend.float64


class HalfTensor(_TypedTensor):
    _dtype = backend.float16


class LongTensor(_TypedTensor):
    _dtype = backend.int64


class IntTensor(_TypedTensor):
    _dtype = backend.int32


class ShortTensor(_TypedTensor):
    _dtype = backend.int16


class ByteTensor(_TypedTensor):
    _dtype = backend.uint8


class BoolTensor(_TypedTensor):
    _dtype = backend.bool_
