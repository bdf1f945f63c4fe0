"""Functions with no useful gradient: they return constant tensors (``requires_grad=False``).

PyTorch gives sign, floor, ceil, round and trunc a zero gradient almost everywhere; here they
stop the graph instead, which gives the same parameter updates. argmax, argmin and argsort return
int64 indices.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.ops.registry import public


def _arr(x: Any) -> np.ndarray:
    return x._data if isinstance(x, Tensor) else np.asarray(x)


def _index_result(out: Any) -> Tensor:
    return _leaf(np.asarray(out).astype(np.int64, copy=False))


def _arg(fn: Any, x: Any, dim: Any, keepdim: bool) -> Tensor:
    a = _arr(x)
    if a.ndim == 0:
        return _leaf(np.zeros((), dtype=np.int64))
    if a.size == 0:
        raise IndexError(f"{fn.__name__}: cannot take {fn.__name__} of an empty tensor of shape "
                         f"{a.shape}")
    if dim is None:
        return _index_result(fn(a, axis=None, keepdims=keepdim))
    return _index_result(fn(a, axis=int(dim), keepdims=keepdim))


@public(method=True)
def argmax(x: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the largest value (of the flattened tensor when ``dim`` is None)."""
    return _arg(np.argmax, x, dim, keepdim)


@public(method=True)
def argmin(x: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the smallest value (of the flattened tensor when ``dim`` is None)."""
    return _arg(np.argmin, x, dim, keepdim)


@public(method=True)
def argsort(x: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The indices that sort ``x`` along ``dim`` (ties keep their order: always stable)."""
    a = _arr(x)
    if a.ndim == 0:
        return _leaf(np.zeros((), dtype=np.int64))
    if descending:  # a stable ascending sort of the reversed tensor, read backwards
        rev = np.argsort(np.flip(a, dim), axis=dim, kind="stable")
        return _index_result(a.shape[dim] - 1 - np.flip(rev, dim))
    return _index_result(np.argsort(a, axis=dim, kind="stable"))


@public(method=True)
def sign(x: Any) -> Tensor:
    """-1, 0 or 1 by the sign of each entry (a constant)."""
    return _leaf(np.sign(_arr(x)))


@public(method=True)
def floor(x: Any) -> Tensor:
    """The largest integer <= x, elementwise (a constant)."""
    return _leaf(np.floor(_arr(x)))


@public(method=True)
def ceil(x: Any) -> Tensor:
    """The smallest integer >= x, elementwise (a constant)."""
    return _leaf(np.ceil(_arr(x)))


@public(method=True)
def trunc(x: Any) -> Tensor:
    """x rounded toward zero, elementwise (a constant)."""
    return _leaf(np.trunc(_arr(x)))


@public(method=True)
def round(x: Any, decimals: int = 0) -> Tensor:
    """x rounded to ``decimals`` places, halves to even (as PyTorch); a constant."""
    return _leaf(np.asarray(np.round(_arr(x), decimals)))
