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
from chainrule.ops.shape import dim_alias, dim_axis


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
def argmax(x: Any, dim: int | None = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Tensor:
    """Index of the largest value (of the flattened tensor when ``dim`` is None)."""
    if axis is not None or keepdims is not None:  # NumPy-style aliases, as torch accepts
        dim, keepdim = dim_alias("argmax", dim, keepdim, axis, keepdims)
    return _arg("argmax", x, dim, keepdim)


@public(method=True)
def argmin(x: Any, dim: int | None = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Tensor:
    """Index of the smallest value (of the flattened tensor when ``dim`` is None)."""
    if axis is not None or keepdims is not None:  # NumPy-style aliases, as torch accepts
        dim, keepdim = dim_alias("argmin", dim, keepdim, axis, keepdims)
    return _arg("argmin", x, dim, keepdim)


@public(method=True)
def argsort(x: Any, dim: int = -1, descending: bool = False, stable: bool = False, *,
            axis: Any = None) -> Tensor:
    """The indices that sort ``x`` along ``dim`` (ties keep their order: always stable)."""
    if axis is not None:
        dim = dim_axis("argsort", dim, axis, -1)
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


def _pair(where: str, input: Any, other: Any) -> tuple[Any, Any, Any]:
    xp, a = _arr(input)
    _, b = _arr(other)
    try:
        backend.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise RuntimeError(f"{where}: shapes {tuple(a.shape)} and {tuple(b.shape)} do not "
                           "broadcast; compare tensors of the same (or broadcastable) shape"
                           ) from None
    return xp, a, b


@public(method=True)
def isclose(input: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """Elementwise ``|input - other| <= atol + rtol * |other|`` (a bool tensor), as
    ``torch.isclose``."""
    xp, a, b = _pair("isclose", input, other)
    return _leaf(xp.asarray(xp.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)))


@public  # Tensor.allclose and Tensor.equal are written on Tensor (autograd/tensor.py)
def allclose(input: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """True when every element satisfies ``|input - other| <= atol + rtol * |other|`` (a Python
    bool), as ``torch.allclose``."""
    xp, a, b = _pair("allclose", input, other)
    return bool(xp.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


@public
def equal(input: Any, other: Any) -> bool:
    """True when both have the same shape and the same values (a Python bool; NaN is never
    equal), as ``torch.equal``."""
    xp, a = _arr(input)
    _, b = _arr(other)
    return a.shape == b.shape and bool(xp.array_equal(a, b))
