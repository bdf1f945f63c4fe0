"""Input generators for the op sweep: each op declares the inputs its gradient is checked on.

A ``Sample`` is one call: the raw input arrays (float64; floating ones become tensors that
require grad, integer/bool ones stay constant), the op's parameters, and a label. Shapes cover
0-d tensors, size-1 dimensions and broadcasting pairs, so one declaration exercises the engine's
unbroadcasting as well as the op.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

array = np.array
"""Hand-written sample arrays (``S.array([1, 0, 2])``): NumPy on the CPU, like all sample data."""
ones = np.ones
zeros = np.zeros
Rng = np.random.Generator
"""The random generator sample functions take (``def _samples(rng: S.Rng)``)."""
Domain = Callable[[Rng, tuple[int, ...]], np.ndarray]


@dataclass
class Sample:
    inputs: list[Any]
    params: tuple = ()
    label: str = ""
    kwargs: dict = field(default_factory=dict)
    order: int = 2  # 1: the gradient exists here but is not differentiable (a kink), so the
    #                 second-order sweep skips this sample (e.g. a zero norm)

    def __repr__(self) -> str:
        shapes = [np.shape(x) if not isinstance(x, list) else [np.shape(v) for v in x]
                  for x in self.inputs]
        return f"Sample({self.label or shapes}, params={self.params})"


def real(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal values."""
    return rng.standard_normal(shape)


def positive(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values in [0.5, 2] (log, sqrt, pow bases)."""
    return rng.uniform(0.5, 2.0, shape)


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values in ±[0.3, 2]: clear of the kink at 0 (abs, relu) and of division by zero."""
    return rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def unit(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values in (-0.9, 0.9)."""
    return rng.uniform(-0.9, 0.9, shape)


def above_one(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values in [1.2, 3]: inside the domain of acosh, clear of its edge at 1."""
    return rng.uniform(1.2, 3.0, shape)


def distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values with no ties, at least 0.1 apart (max, min, sort: no kink from equal entries)."""
    n = int(np.prod(shape, dtype=np.int64))
    vals = (rng.permutation(n) - n / 2) * 0.25 + rng.uniform(-0.05, 0.05, n)
    return vals.reshape(shape)


def orthogonal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random orthogonal matrices (a batch of them for shapes (..., n, n))."""
    q, r = np.linalg.qr(rng.standard_normal(shape))
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


def spread(rng: np.random.Generator, batch: tuple[int, ...], k: int, lo: float) -> np.ndarray:
    """k values per batch entry, descending, at least 0.5 apart, the smallest above ``lo``."""
    return lo + np.cumsum(rng.uniform(0.5, 1.5, (*batch, k)), axis=-1)[..., ::-1]


def full_rank(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Matrices (..., m, n) with distinct singular values, >= 0.5 and 0.5 apart: invertible
    when square, and clear of the SVD's kinks (equal singular values)."""
    *batch, m, n = shape
    k = min(m, n)
    u = orthogonal(rng, (*batch, m, m))[..., :k]
    v = orthogonal(rng, (*batch, n, n))[..., :k]
    return (u * spread(rng, tuple(batch), k, 0.5)[..., None, :]) @ np.swapaxes(v, -1, -2)


def symmetric(rng: np.random.Generator, shape: tuple[int, ...], lo: float) -> np.ndarray:
    """Symmetric matrices (..., n, n) with distinct eigenvalues, 0.5 apart, all above ``lo``
    (positive-definite for lo >= 0)."""
    q = orthogonal(rng, shape)
    w = spread(rng, shape[:-2], shape[-1], lo)
    return (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)


UNARY_SHAPES: tuple[tuple[int, ...], ...] = ((), (1,), (4,), (2, 3), (2, 1, 3))
BROADCAST_PAIRS: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = (
    ((), ()), ((3,), ()), ((), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)),
    ((1,), (2, 3)), ((2, 3, 1), (3, 4)), ((2, 3), (2, 3)),
)


def unary(domain: Domain = real, params: Sequence[tuple] = ((),)) -> Callable[..., Iterable]:
    """One input of each shape in ``UNARY_SHAPES``, for each parameter tuple."""
    def gen(rng: np.random.Generator) -> Iterable[Sample]:
        for shape in UNARY_SHAPES:
            for p in params:
                yield Sample([domain(rng, shape)], tuple(p))
    return gen


def binary(da: Domain = real, db: Domain = real, params: Sequence[tuple] = ((),),
           scalars: bool = True) -> Callable[..., Iterable]:
    """Two inputs over broadcasting shape pairs; with ``scalars``, also a Python-float operand."""
    def gen(rng: np.random.Generator) -> Iterable[Sample]:
        for sa, sb in BROADCAST_PAIRS:
            for p in params:
                yield Sample([da(rng, sa), db(rng, sb)], tuple(p))
        if scalars:
            yield Sample([da(rng, (2, 3)), float(db(rng, ()))], label="tensor, python float")
            yield Sample([float(da(rng, ())), db(rng, (2, 3))], label="python float, tensor")
    return gen


def cases(*samples: Sample) -> Callable[..., Iterable]:
    """A fixed list of samples (arrays made by the caller's lambdas)."""
    def gen(rng: np.random.Generator) -> Iterable[Sample]:
        return list(samples)
    return gen
