"""The two array namespaces a vjp can be written against, with the same names and signatures.

- ``array_namespace(xp)``: the array module ``xp`` that ``chainrule.backend`` hands out plus a
  few helpers, used on the fast first-order path. One namespace per array module, built once
  and cached; ``Node.xp`` is the default module's (NumPy on the CPU);
- ``TensorNS``: the same names bound to chainrule's own ops, used under ``create_graph=True``
  (``TensorCtx.xp``), so a vjp written once is differentiable again.

A vjp may use arithmetic operators, comparisons, and ``c.xp.NAME`` for the names in
``VJP_NAMES``, called positionally with NumPy's argument order. Adding a name means adding it to
both sides here.
"""

from __future__ import annotations

import math
from functools import partial
from types import SimpleNamespace
from typing import Any

from chainrule import backend
from chainrule.autograd.engine import TensorCtx
from chainrule.autograd.node import Node
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.ops import arrays as A
from chainrule.ops import conv as _conv
from chainrule.ops import decomp as _decomp
from chainrule.ops import fused as _fused
from chainrule.ops import indexing as _indexing
from chainrule.ops import linalg as _linalg
from chainrule.ops import shape as _shape
from chainrule.ops import special as _special


def _const(name: str) -> Any:
    """A non-differentiable array function lifted to tensors (its result is a constant), run by
    the array module of its array arguments (the default module when there are none)."""
    def lifted(*args: Any, **kwargs: Any) -> Tensor:
        raw = [a._data if isinstance(a, Tensor) else a for a in args]
        xp = backend.get_array_module(*raw)
        return _leaf(xp.asarray(getattr(xp, name)(*raw, **kwargs)))
    return lifted


def _array_cast(x: Any, dtype: Any) -> Any:
    return x.astype(dtype, copy=False)


def _swapaxes(x: Any, axis0: int, axis1: int) -> Any:
    return x.swapaxes(axis0, axis1)


def _logcumsumexp_array(xp: Any, x: Any, axis: int) -> Any:
    return xp.logaddexp.accumulate(x, axis=axis)


_NAMESPACES: dict[Any, SimpleNamespace] = {}


def array_namespace(xp: Any) -> SimpleNamespace:
    """The vjp namespace on arrays of the array module ``xp`` (built on first use, then cached):
    ``xp``'s functions under NumPy's names, and the helpers with ``xp`` bound."""
    ns = _NAMESPACES.get(xp)
    if ns is not None:
        return ns
    ns = _NAMESPACES[xp] = SimpleNamespace(
        where=xp.where, sign=xp.sign, exp=xp.exp, log=xp.log, sin=xp.sin, cos=xp.cos,
        tanh=xp.tanh, sqrt=xp.sqrt, abs=xp.abs, maximum=xp.maximum, minimum=xp.minimum,
        erf=partial(A.erf, xp), sigmoid=partial(A.sigmoid, xp), cast=_array_cast,
        sum_to=A.sum_to, zeros_like=xp.zeros_like, ones_like=xp.ones_like, zeros=xp.zeros,
        ones_vector=partial(A.ones_vector, xp), reshape=xp.reshape,
        broadcast_to=xp.broadcast_to, matmul=xp.matmul, einsum=partial(_linalg.einsum_arrays, xp),
        softmax=partial(_fused.softmax_arrays, xp),
        log_softmax=partial(_fused.log_softmax_arrays, xp), softplus=partial(A.softplus, xp),
        swapaxes=_swapaxes, stack=xp.stack, cat=xp.concatenate,  # (arrays, axis) positionally
        # reductions (call with keepdims= as a keyword), shapes and indexing
        sum=xp.sum, mean=xp.mean, prod=xp.prod, transpose=xp.transpose, flip=xp.flip,
        constant_pad=partial(_shape.constant_pad_array, xp),
        getitem_backward=partial(_indexing.getitem_backward_array, xp),
        index_put=_indexing.index_put_array, gather=partial(_indexing.gather_array, xp),
        gather_backward=partial(_indexing.gather_backward_array, xp),
        tril=xp.tril, triu=xp.triu, cumsum=xp.cumsum,  # (x, k) and (x, axis), positionally
        cumprod=xp.cumprod, logcumsumexp=partial(_logcumsumexp_array, xp),
        conv=_conv.conv_arrays, conv_input_grad=_conv.conv_input_grad_arrays,
        conv_weight_grad=_conv.conv_weight_grad_arrays,
        digamma=partial(_special.digamma_array, xp),
        polygamma=partial(_special.polygamma_array, xp),  # (n, x), as torch.polygamma
        inv=partial(_decomp.inv_array, xp), solve=partial(_decomp.solve_array, xp),
    )
    return ns


ArrayNS = array_namespace(backend.xp)
"""The default module's namespace (``Node.xp``, the fast path)."""

TensorNS = SimpleNamespace()


def _reduction(fn: Any) -> Any:
    """A chainrule reduction with NumPy's ``(x, axis, keepdims=)`` signature."""
    def reduce(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
        return fn(x, axis, keepdims)
    return reduce


def _gather_backward(g: Tensor, shape: tuple, dim: int, index: backend.ndarray) -> Tensor:
    zeros = backend.get_array_module(index).zeros(shape, dtype=g.dtype)
    return _indexing._scatter_add(_leaf(zeros), g, dim, index)


def _ones_vector(n: int, dtype: Any) -> Tensor:
    return _leaf(A.ones_vector(backend.xp, n, dtype))


def bind_tensor_namespace(ops: Any) -> None:
    """Fill ``TensorNS`` from the loaded ops (called once by ``chainrule.ops``)."""
    TensorNS.__dict__.update(
        where=ops.where, sign=_const("sign"), exp=ops.exp, log=ops.log, sin=ops.sin,
        cos=ops.cos, tanh=ops.tanh, sqrt=ops.sqrt, abs=ops.abs, maximum=ops.maximum,
        minimum=ops.minimum, erf=ops.erf, sigmoid=ops.sigmoid, cast=ops.cast,
        sum_to=ops.sum_to, zeros_like=_const("zeros_like"), ones_like=_const("ones_like"),
        zeros=_const("zeros"), ones_vector=_ones_vector, reshape=ops.reshape,
        broadcast_to=ops.broadcast_to,
        matmul=ops.matmul, einsum=ops.einsum, softmax=ops.softmax,
        log_softmax=ops.log_softmax, softplus=lambda x: ops.softplus(x, 1.0, math.inf),
        swapaxes=ops.transpose, stack=ops.stack, cat=ops.cat,
        sum=_reduction(ops.sum), mean=_reduction(ops.mean), prod=_reduction(ops.prod),
        transpose=ops.permute, flip=ops.flip,
        constant_pad=lambda x, pad: _shape._pad(x, pad, 0.0),
        getitem_backward=_indexing._getitem_backward, index_put=_indexing._index_put,
        gather=_indexing._gather, gather_backward=_gather_backward,
        tril=ops.tril, triu=ops.triu, cumsum=ops.cumsum, cumprod=ops.cumprod,
        logcumsumexp=ops.logcumsumexp,
        conv=lambda x, w, geom: _conv._conv(x, w, None, *geom),
        conv_input_grad=lambda g, w, geom, size: _conv._conv_transpose(g, w, None, *geom,
                                                                       tuple(size)),
        conv_weight_grad=lambda x, g, geom, k: _conv._conv_weight(x, g, *geom, tuple(k)),
        digamma=ops.digamma, polygamma=ops.polygamma,
        inv=_decomp._inv, solve=_decomp._solve,
    )
    missing = set(vars(ArrayNS)) ^ set(vars(TensorNS))
    if missing:
        raise RuntimeError(f"vjp namespaces disagree on: {sorted(missing)}")


VJP_NAMES = ArrayNS.__dict__.keys()

Node.xp = ArrayNS
TensorCtx.xp = TensorNS
