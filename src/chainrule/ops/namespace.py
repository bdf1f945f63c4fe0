"""The two array namespaces a vjp can be written against, with the same names and signatures.

- ``ArrayNS``: NumPy plus a few helpers, used on the fast first-order path (``Node.xp``);
- ``TensorNS``: the same names bound to chainrule's own ops, used under ``create_graph=True``
  (``TensorCtx.xp``), so a vjp written once is differentiable again.

A vjp may use arithmetic operators, comparisons, and ``c.xp.NAME`` for the names in
``VJP_NAMES``, called positionally with NumPy's argument order. Adding a name means adding it to
both sides here.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from chainrule.autograd.engine import TensorCtx
from chainrule.autograd.node import Node
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.ops import arrays as A


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
)

TensorNS = SimpleNamespace()


def bind_tensor_namespace(ops: Any) -> None:
    """Fill ``TensorNS`` from the loaded ops (called once by ``chainrule.ops``)."""
    TensorNS.__dict__.update(
        where=ops.where, sign=_const(np.sign), exp=ops.exp, log=ops.log, sin=ops.sin,
        cos=ops.cos, tanh=ops.tanh, sqrt=ops.sqrt, abs=ops.abs, maximum=ops.maximum,
        minimum=ops.minimum, erf=ops.erf, sigmoid=ops.sigmoid, cast=ops.cast,
        sum_to=ops.sum_to, zeros_like=_const(np.zeros_like), ones_like=_const(np.ones_like),
        zeros=_const(np.zeros), reshape=ops.reshape, broadcast_to=ops.broadcast_to,
    )
    missing = set(vars(ArrayNS)) ^ set(vars(TensorNS))
    if missing:
        raise RuntimeError(f"vjp namespaces disagree on: {sorted(missing)}")


VJP_NAMES = ArrayNS.__dict__.keys()

Node.xp = ArrayNS
TensorCtx.xp = TensorNS
