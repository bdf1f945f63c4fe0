"""Channel dropout: ``dropout1d``/``dropout2d`` (``torch.nn.functional``): whole feature maps."""

from __future__ import annotations

from typing import Any

from chainrule import backend, ops
from chainrule.autograd.factories import as_tensor
from chainrule.autograd.tensor import Tensor
from chainrule.errors import op_error
from chainrule.random import Generator, generator_of

__all__ = ["dropout1d", "dropout2d"]


def _channel_dropout(name: str, nd: int, input: Any, p: float, training: bool,
                     inplace: bool, generator: Generator | None) -> Tensor:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = input if isinstance(input, Tensor) else as_tensor(input)
    if x.ndim not in (nd + 1, nd + 2):
        raise op_error(name, f"input has {x.ndim} dims", f"(N, C, *{nd} spatial) or "
                       f"(C, *{nd} spatial)")
    if not training or p == 0.0:
        return x
    arr = x._data
    lead = x.shape[:-nd]  # (N, C) or (C,)
    if p == 1.0:
        mask = backend.get_array_module(arr).zeros(lead, dtype=arr.dtype)
    else:
        u = generator_of(generator).random(lead, dtype=arr.dtype if arr.dtype.itemsize >= 4
                                           else backend.float32)
        mask = (u >= p).astype(arr.dtype)
        mask *= 1.0 / (1.0 - p)
    mask = mask.reshape(*lead, *(1,) * nd)
    if inplace:
        return x._inplace(name + "_", ops.mul, mask)
    return ops.mul(x, mask)


def dropout2d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False,
              generator: Generator | None = None) -> Tensor:
    """Zero whole channels (N, C) of an (N, C, H, W) input with probability ``p``, scaling the
    others by 1 / (1 - p), in training; otherwise the identity (``torch.nn.functional``)."""
    return _channel_dropout("dropout2d", 2, input, p, training, inplace, generator)


def dropout1d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False,
              generator: Generator | None = None) -> Tensor:
    """Zero whole channels of an (N, C, L) input with probability ``p`` (training only)."""
    return _channel_dropout("dropout1d", 1, input, p, training, inplace, generator)
