"""Shape primitives: reshape, broadcasting, transposes. Most are views (no copy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.errors import broadcast_error, fmt_shape, op_error
from chainrule.ops import samples as S
from chainrule.ops.registry import primitive


def _shape_arg(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def _reshape_samples(rng: np.random.Generator):
    yield S.Sample([rng.standard_normal((2, 3))], ((3, 2),))
    yield S.Sample([rng.standard_normal((2, 3))], ((-1,),))
    yield S.Sample([rng.standard_normal(())], ((1, 1),))
    yield S.Sample([rng.standard_normal((1,))], ((),))


@primitive("reshape", saves="", view=True, torch="reshape",
           formula="d reshape(x)/dx: reshape the gradient back", samples=_reshape_samples)
def _reshape(x, shape):
    try:
        return np.reshape(x, shape)
    except ValueError:
        raise op_error("reshape", f"cannot reshape a tensor of shape {fmt_shape(np.shape(x))} "
                       f"({np.size(x)} elements) to {fmt_shape(shape)}",
                       "a shape with the same number of elements (one -1 may stand for the "
                       "rest)") from None


@_reshape.defvjp
def _(c, g):
    return (c.xp.reshape(g, c.x[0].shape),)


def reshape(x: Any, shape: Sequence[int]) -> Any:
    """The same elements in a new shape (``-1`` infers one dimension)."""
    return _reshape(x, _shape_arg(shape))


def _broadcast_samples(rng: np.random.Generator):
    yield S.Sample([rng.standard_normal((3,))], ((2, 3),))
    yield S.Sample([rng.standard_normal((2, 1))], ((2, 4),))
    yield S.Sample([rng.standard_normal(())], ((2, 2),))
    yield S.Sample([rng.standard_normal((1, 3))], ((2, 1, 3),))


@primitive("broadcast_to", saves="", view=True, torch="broadcast_to",
           formula="d broadcast(x)/dx: sum the gradient over the broadcast dims",
           samples=_broadcast_samples)
def _broadcast_to(x, shape):
    try:
        return np.broadcast_to(x, shape)
    except ValueError:
        raise broadcast_error("broadcast_to", np.shape(x), shape) from None


@_broadcast_to.defvjp
def _(c, g):
    return (c.xp.sum_to(g, c.x[0].shape),)


def broadcast_to(x: Any, shape: Sequence[int]) -> Any:
    """``x`` broadcast to ``shape`` (a read-only view)."""
    return _broadcast_to(x, _shape_arg(shape))


def expand(x: Any, shape: Sequence[int]) -> Any:
    """PyTorch's ``expand``: like broadcast_to, where -1 keeps a dimension's size."""
    shape = _shape_arg(shape)
    xs = np.shape(x)
    lead = len(shape) - len(xs)
    if lead < 0:
        raise op_error("expand", f"cannot expand {fmt_shape(xs)} to fewer dimensions "
                       f"{fmt_shape(shape)}", "at least as many dimensions as the tensor has")
    full = tuple(xs[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(shape))
    return _broadcast_to(x, full)
