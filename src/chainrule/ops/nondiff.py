"""Functions with no useful gradient: they return constant tensors (``requires_grad=False``).

PyTorch gives sign, floor, ceil, round and trunc a zero gradient almost everywhere; here they
stop the graph instead, which gives the same parameter updates. argmax, argmin and argsort return
int64 indices.
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.ops.registry import public


def _arr(x: Any) -> tuple[Any, backend.ndarray]:
    """The array module and the array of ``x`` (a Tensor, an array or a nested list)."""
    a = x._data if isinstance(x, Tensor) else x
    xp = backend.get_array_module(a)
    return xp, xp.asarray(a)


def _index_result(xp: Any, out: Any) -> Tensor:
    return _leaf(xp.asarray(out).astype(backend.int64, copy=False))


def _arg(name: str, x: Any, dim: Any, keepdim: bool) -> Tensor:
    xp, a = _arr(x)
    if a.ndim == 0:
        return _leaf(xp.zeros((), dtype=backend.int64))
    if a.size == 0:
        raise IndexError(f"{name}: cannot take {name} of an empty tensor of shape {a.shape}")
    fn = getattr(xp, name)
    if dim is None:
        return _index_result(xp, fn(a, axis=None, keepdims=keepdim))
    return _index_result(xp, fn(a, axis=int(dim), keepdims=keepdim))


@public(method=True)
def argmax(x: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the largest value (of the flattened tensor when ``dim`` is None)."""
    return _arg("argmax", x, dim, keepdim)


@public(method=True)
def argmin(x: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index of the smallest value (of the flattened tensor when ``dim`` is None)."""
    return _arg("argmin", x, dim, keepdim)


@public(method=True)
def argsort(x: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The indices that sort ``x`` along ``dim`` (ties keep their order: always stable)."""
    xp, a = _arr(x)
    if a.ndim == 0:
        return _leaf(xp.zeros((), dtype=backend.int64))
    if descending:  # a stable ascending sort of the reversed tensor, read backwards
        rev = xp.argsort(xp.flip(a, dim), axis=dim, kind="stable")
        return _index_result(xp, a.shape[dim] - 1 - xp.flip(rev, dim))
    return _index_result(xp, xp.argsort(a, axis=dim, kind="stable"))


def _const(name: str, x: Any, *args: Any) -> Tensor:
    xp, a = _arr(x)
    return _leaf(xp.asarray(getattr(xp, name)(a, *args)))


@public(method=True)
def sign(x: Any) -> Tensor:
    """-1, 0 or 1 by the sign of each entry (a constant)."""
    return _const("sign", x)


@public(method=True)
def floor(x: Any) -> Tensor:
    """The largest integer <= x, elementwise (a constant)."""
    return _const("floor", x)


@public(method=True)
def ceil(x: Any) -> Tensor:
    """The smallest integer >= x, elementwise (a constant)."""
    return _const("ceil", x)


@public(method=True)
def trunc(x: Any) -> Tensor:
    """x rounded toward zero, elementwise (a constant)."""
    return _const("trunc", x)


@public(method=True)
def round(x: Any, decimals: int = 0) -> Tensor:
    """x rounded to ``decimals`` places, halves to even (as PyTorch); a constant."""
    return _const("round", x, decimals)
