"""The two array namespaces a vjp can be written against, with the same names and signatures.

- ``ArrayNS``: NumPy plus a few helpers, used on the fast first-order path (``Node.xp``);
- ``TensorNS``: the same names bound to chainrule's own ops, used under ``create_graph=True``
  (``TensorCtx.xp``), so a vjp written once is differentiable again.

A vjp may use arithmetic operators, comparisons, and ``c.xp.NAME`` for the names in
``VJP_NAMES``, called positionally with NumPy's argument order. Adding a name means adding it to
both sides here.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np

from chainrule.autograd.engine import TensorCtx
from chainrule.autograd.node import Node
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.ops import arrays as A
from chainrule.ops import conv as _conv
from chainrule.ops import fused as _fused
from chainrule.ops import indexing as _indexing
from chainrule.ops import linalg as _linalg
from chainrule.ops import shape as _shape


def _const(fn: Any) -> Any:
    """A non-differentiable NumPy function lifted to tensors (its result is a constant)."""
    def lifted(*args: Any, **kwargs: Any) -> Tensor:
        return _leaf(np.asarray(fn(*[a._data if isinstance(a, Tensor) else a for a in args],
                                   **kwargs)))
    return lifted


def _array_cast(x: np.ndarray, dtype: Any) -> np.ndarray:
    return x.astype(dtype, copy=False)


ArrayNS = SimpleNamespace(
    where=np.where, sign=np.sign, exp=np.exp, log=np.log, sin=np.sin, cos=np.cos, tanh=np.tanh,
    sqrt=np.sqrt, abs=np.abs, maximum=np.maximum, minimum=np.minimum, erf=A.erf,
    sigmoid=A.sigmoid, cast=_array_cast, sum_to=A.sum_to, zeros_like=np.zeros_like,
    ones_like=np.ones_like, zeros=np.zeros, reshape=np.reshape, broadcast_to=np.broadcast_to,
    matmul=np.matmul, einsum=_linalg.einsum_arrays, softmax=_fused.softmax_arrays,
    log_softmax=_fused.log_softmax_arrays, softplus=A.softplus,
    swapaxes=lambda x, axis0, axis1: x.swapaxes(axis0, axis1),
    # reductions (call with keepdims= as a keyword), shapes and indexing
    sum=np.sum, mean=np.mean, prod=np.prod, transpose=np.transpose, flip=np.flip,
    constant_pad=_shape.constant_pad_array, getitem_backward=_indexing.getitem_backward_array,
    index_put=_indexing.index_put_array, gather=_indexing.gather_array,
    gather_backward=_indexing.gather_backward_array,
    conv=_conv.conv_arrays, conv_input_grad=_conv.conv_input_grad_arrays,
    conv_weight_grad=_conv.conv_weight_grad_arrays,
)

TensorNS = SimpleNamespace()


def _reduction(fn: Any) -> Any:
    """A chainrule reduction with NumPy's ``(x, axis, keepdims=)`` signature."""
    def reduce(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
        return fn(x, axis, keepdims)
    return reduce


def _gather_backward(g: Tensor, shape: tuple, dim: int, index: np.ndarray) -> Tensor:
    return _indexing._scatter_add(_leaf(np.zeros(shape, dtype=g.dtype)), g, dim, index)


def bind_tensor_namespace(ops: Any) -> None:
    """Fill ``TensorNS`` from the loaded ops (called once by ``chainrule.ops``)."""
    TensorNS.__dict__.update(
        where=ops.where, sign=_const(np.sign), exp=ops.exp, log=ops.log, sin=ops.sin,
        cos=ops.cos, tanh=ops.tanh, sqrt=ops.sqrt, abs=ops.abs, maximum=ops.maximum,
        minimum=ops.minimum, erf=ops.erf, sigmoid=ops.sigmoid, cast=ops.cast,
        sum_to=ops.sum_to, zeros_like=_const(np.zeros_like), ones_like=_const(np.ones_like),
        zeros=_const(np.zeros), reshape=ops.reshape, broadcast_to=ops.broadcast_to,
        matmul=ops.matmul, einsum=ops.einsum, softmax=ops.softmax,
        log_softmax=ops.log_softmax, softplus=lambda x: ops.softplus(x, 1.0, math.inf),
        swapaxes=ops.transpose,
        sum=_reduction(ops.sum), mean=_reduction(ops.mean), prod=_reduction(ops.prod),
        transpose=ops.permute, flip=ops.flip,
        constant_pad=lambda x, pad: _shape._pad(x, pad, 0.0),
        getitem_backward=_indexing._getitem_backward, index_put=_indexing._index_put,
        gather=_indexing._gather, gather_backward=_gather_backward,
        conv=lambda x, w, geom: _conv._conv(x, w, None, *geom),
        conv_input_grad=lambda g, w, geom, size: _conv._conv_transpose(g, w, None, *geom,
                                                                       tuple(size)),
        conv_weight_grad=lambda x, g, geom, k: _conv._conv_weight(x, g, *geom, tuple(k)),
    )
    missing = set(vars(ArrayNS)) ^ set(vars(TensorNS))
    if missing:
        raise RuntimeError(f"vjp namespaces disagree on: {sorted(missing)}")


VJP_NAMES = ArrayNS.__dict__.keys()

Node.xp = ArrayNS
TensorCtx.xp = TensorNS
