"""Helpers shared by the distributions (``torch.distributions.utils``): parameters as broadcast
tensors, probabilities <-> logits, ``lazy_property``, and the draws from chainrule's generator
(``cr.manual_seed`` makes every sample reproducible)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule import backend
from chainrule.autograd.dtypes import get_default_dtype
from chainrule.autograd.grad_mode import enable_grad
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.random import generator_of

__all__ = ["broadcast_all", "clamp_probs", "euler_constant", "lazy_property", "logits_to_probs",
           "probs_to_logits"]

euler_constant = 0.57721566490153286060  # the Euler-Mascheroni constant


def as_param(v: Any, dtype: Any = None) -> Tensor:
    """``v`` as a floating Tensor (a Tensor is kept, graph and all)."""
    if isinstance(v, Tensor):
        return v if v.dtype.kind == "f" else v.to(dtype or get_default_dtype())
    return _leaf(backend.xp.asarray(v, dtype=dtype or get_default_dtype()))


def broadcast_all(*values: Any) -> list[Tensor]:
    """The parameters as tensors of one shape (their broadcast), keeping their graphs; numbers
    take the dtype of the first Tensor (the default dtype when there is none)."""
    ts = [v for v in values if isinstance(v, Tensor) and v.dtype.kind == "f"]
    dtype = ts[0].dtype if ts else None
    params = [as_param(v, dtype) for v in values]
    try:
        shape = backend.broadcast_shapes(*(p.shape for p in params))
    except ValueError:
        shapes = ", ".join(str(tuple(p.shape)) for p in params)
        raise ValueError(f"distribution parameters of shapes {shapes} do not broadcast to one "
                         "batch shape") from None
    return [p if tuple(p.shape) == shape else p.expand(shape) for p in params]


def finfo(t: Tensor) -> Any:
    return backend.xp.finfo(t.dtype)


def clamp_probs(probs: Tensor) -> Tensor:
    """``probs`` clamped to [eps, 1 - eps] of its dtype."""
    eps = float(finfo(probs).eps)
    return probs.clamp(eps, 1 - eps)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """``log(p) - log(1 - p)`` (binary) or ``log(p)``, with ``p`` clamped away from 0 and 1."""
    p = clamp_probs(probs)
    return (p.log() - (-p).log1p()) if is_binary else p.log()


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """``sigmoid(logits)`` (binary) or ``softmax(logits, -1)``."""
    return logits.sigmoid() if is_binary else logits.softmax(-1)


def sum_rightmost(value: Tensor, dim: int) -> Tensor:
    """``value`` summed over its ``dim`` rightmost dimensions."""
    return value.reshape((*value.shape[:value.ndim - dim], -1)).sum(-1) if dim else value


class lazy_property:
    """A property computed on first access (with grad enabled) and then stored on the
    instance: the parametrisation that was not given (``probs`` from ``logits``, ...). The
    names computed so are listed in the instance's ``_computed`` (``expand`` recomputes them)."""

    def __init__(self, wrapped: Callable[[Any], Any]) -> None:
        self.wrapped = wrapped
        self.__doc__ = wrapped.__doc__
        self.__name__ = wrapped.__name__

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        with enable_grad():
            value = self.wrapped(instance)
        instance.__dict__[self.__name__] = value
        instance.__dict__.setdefault("_computed", set()).add(self.__name__)
        return value


# -- draws from chainrule's generator ---------------------------------------------------------


def standard_normal(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """N(0, 1) draws of ``like``'s dtype (a constant)."""
    return _leaf(generator_of(None).standard_normal(shape).astype(like.dtype, copy=False))


def uniform(shape: tuple[int, ...], like: Tensor, low: float = 0.0, high: float = 1.0) -> Tensor:
    """U[low, high) draws of ``like``'s dtype (a constant)."""
    u = generator_of(None).random(shape) * (high - low) + low
    return _leaf(u.astype(like.dtype, copy=False))
