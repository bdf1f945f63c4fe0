"""Reductions: sum, mean and friends. Each vjp broadcasts the output gradient back over the
reduced dimensions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.ops import samples as S
from chainrule.ops.registry import primitive


def normalize_dims(dim: Any, ndim: int, op: str = "reduce") -> tuple[int, ...] | None:
    """``dim`` (None, int or sequence, negatives allowed) as a sorted tuple of axes, or None."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        d = int(d)
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(f"{op}: dim {d} is out of range for a tensor with {ndim} "
                             f"dimension(s); expected -{max(ndim, 1)} <= dim < {max(ndim, 1)}")
        out.append(d % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {dim} repeats a dimension")
    return tuple(sorted(out))


def keepdim_shape(shape: Sequence[int], axes: tuple[int, ...] | None) -> tuple[int, ...]:
    """The shape of a reduction over ``axes`` with keepdim=True."""
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _reduce_samples(domain: S.Domain = S.real) -> Any:
    def gen(rng: np.random.Generator):
        yield S.Sample([domain(rng, ())], (None, False))
        yield S.Sample([domain(rng, (4,))], (None, False))
        yield S.Sample([domain(rng, (4,))], ((0,), True))
        yield S.Sample([domain(rng, (2, 3))], ((1,), False))
        yield S.Sample([domain(rng, (2, 3))], ((0,), True))
        yield S.Sample([domain(rng, (2, 1, 3))], ((0, 2), False))
        yield S.Sample([domain(rng, (2, 3, 4))], (None, True))
    return gen


def _grad_to_input(c: Any, g: Any) -> Any:
    """Broadcast a reduction's output gradient back to the input's shape."""
    shape = c.x[0].shape
    axes, keepdim = c.p[0], c.p[1]
    if not keepdim:
        g = c.xp.reshape(g, keepdim_shape(shape, axes))
    return c.xp.broadcast_to(g, shape)


@primitive("sum", saves="", torch=lambda torch, x, dim, keepdim: (
    torch.sum(x) if dim is None and not keepdim else torch.sum(x, dim or tuple(range(x.ndim)),
                                                              keepdim)),
           formula="d sum(x)/dx_i = 1", samples=_reduce_samples())
def _sum(x, dim, keepdim):
    return np.sum(x, axis=dim, keepdims=keepdim)


@_sum.defvjp
def _(c, g):
    return (_grad_to_input(c, g),)


def sum(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Sum over ``dim`` (all dimensions when None)."""
    return _sum(x, normalize_dims(dim, np.ndim(x), "sum"), keepdim)


@primitive("mean", saves="", torch=lambda torch, x, dim, keepdim: (
    torch.mean(x) if dim is None and not keepdim else torch.mean(x, dim or tuple(range(x.ndim)),
                                                                 keepdim)),
           formula="d mean(x)/dx_i = 1/n", samples=_reduce_samples())
def _mean(x, dim, keepdim):
    return np.mean(x, axis=dim, keepdims=keepdim)


@_mean.defvjp
def _(c, g):
    shape = c.x[0].shape
    axes = c.p[0]
    n = int(np.prod([shape[a] for a in axes]) if axes is not None else np.prod(shape))
    return (_grad_to_input(c, g * (1.0 / max(n, 1))),)


def mean(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Mean over ``dim`` (all dimensions when None)."""
    return _mean(x, normalize_dims(dim, np.ndim(x), "mean"), keepdim)


def _sum_to_samples(rng: np.random.Generator):
    yield S.Sample([rng.standard_normal((2, 3))], ((3,),))
    yield S.Sample([rng.standard_normal((2, 3))], ((2, 1),))
    yield S.Sample([rng.standard_normal((4, 2, 3))], ((1, 3),))
    yield S.Sample([rng.standard_normal((2, 3))], ((),))


@primitive("sum_to", saves="", formula="the transpose of broadcasting: sum over broadcast dims",
           samples=_sum_to_samples)
def sum_to(x, shape):
    """Sum ``x`` down to ``shape`` (the inverse of broadcasting to x.shape)."""
    from chainrule.ops.arrays import sum_to as _array_sum_to
    return _array_sum_to(x, tuple(shape))


@sum_to.defvjp
def _(c, g):
    return (c.xp.broadcast_to(g, c.x[0].shape),)
