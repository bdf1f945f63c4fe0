"""Running reductions along one dim: ``cumprod``, ``logcumsumexp``, ``cummax`` and ``cummin``
(``cumsum`` lives with the attention helpers).

``cumprod``'s gradient is the reversed running sum of ``g * out`` divided by ``x``, except where
``x`` is zero (PyTorch handles zeros too): there it is written with exclusive running products,
so it stays right to second order. ``cummax`` / ``cummin`` return ``(values, indices)``; the
values are a ``gather`` at the indices, so their gradient goes to the index chosen (the last one
on ties, as in PyTorch).
"""

from __future__ import annotations

import math
from typing import Any

from chainrule import backend
from chainrule.autograd.dtypes import to_dtype
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.ops import samples as S
from chainrule.ops.elementwise import cast
from chainrule.ops.indexing import ValuesIndices, _gather
from chainrule.ops.registry import primitive, public
from chainrule.ops.shape import normalize_dim, required_dim, reshape


def _raw(v: Any) -> Any:
    return v._data if isinstance(v, Tensor) else v


def _scan_dim(name: str, x: Any, dim: Any) -> int:
    """``dim`` as a non-negative axis of ``x`` (0 for a 0-d tensor, which accepts 0 and -1)."""
    return normalize_dim(dim, backend.xp.ndim(x), name)


def _reverse_cumsum(xp: Any, v: Any, d: int) -> Any:
    """``out[i] = v[i] + v[i+1] + ...`` along ``d``."""
    return xp.flip(xp.cumsum(xp.flip(v, d), d), d)


def _scan_samples(domain: S.Domain) -> Any:
    def gen(rng: S.Rng):
        yield S.Sample([domain(rng, (4,))], (0,))
        yield S.Sample([domain(rng, (2, 3))], (1,))
        yield S.Sample([domain(rng, (2, 3))], (0,))
        yield S.Sample([domain(rng, ())], (0,))
        yield S.Sample([domain(rng, (2, 1, 3))], (2,))
    return gen


# --- cumprod ----------------------------------------------------------------------------------


def _cumprod_samples(rng: S.Rng):
    yield from _scan_samples(S.away_from_zero)(rng)
    yield S.Sample([S.array([1.5, 0.0, -2.0, 0.7])], (0,), label="one zero")
    yield S.Sample([S.array([0.8, 0.0, -1.3, 0.0, 1.1])], (0,), label="two zeros")
    yield S.Sample([S.array([0.0, 0.0, 1.2, 0.0])], (0,), label="three zeros, first at 0")
    yield S.Sample([S.array([[0.5, 0.0, 1.5], [1.2, -0.7, 0.0], [0.9, 1.1, -1.4]])], (1,),
                   label="zeros in some rows")
    yield S.Sample([S.array([[0.5, 1.3], [0.0, -0.6], [1.4, 0.0]])], (0,),
                   label="zeros along dim 0")


@primitive("cumprod", saves="x,out", torch=lambda torch, x, dim: torch.cumprod(x, dim),
           formula="d cumprod(x)_j/dx_i = prod_{m<=j, m!=i} x_m (i <= j); "
                   "g -> reversed cumsum(g * out) / x where x != 0",
           samples=_cumprod_samples, export=False)
def _cumprod(xp, x, dim):
    if x.ndim == 0:
        return x.copy()
    return xp.cumprod(x, dim)


@_cumprod.defvjp
def _(c, g):
    x, xp, d = c.x[0], c.xp, c.p[0]
    xa = _raw(x)
    if xa.ndim == 0:
        return (g,)
    zero = xa == 0
    if not zero.any():
        return (_reverse_cumsum(xp, g * c.out, d) / x,)
    # Where x_i != 0 the quotient above is exact (out_j / x_i is the product of the others).
    # At a zero x_z the gradient is E_z * S_z: E the exclusive running product, S_z the sum over
    # j >= z of g_j times the product of x over (z, j]. Only the first zero of a slice can have
    # E_z != 0, and only the first two have a nonzero derivative of E_z * S_z, so S is computed
    # exactly (a running product restarted after the zero) for those two; it is 0 past them.
    am = backend.get_array_module(xa)
    before = am.cumsum(zero, axis=d) - zero  # zeros strictly before each position
    lead = (slice(None),) * d
    nd = xa.ndim
    shifted = xp.constant_pad(c.out[(*lead, slice(0, -1))], (0, 0) * (nd - 1 - d) + (1, 0))
    first = (am.arange(xa.shape[d]) == 0).reshape((-1,) + (1,) * (nd - 1 - d))
    excl = xp.where(first, 1.0, shifted)
    s1 = _reverse_cumsum(xp, g * xp.cumprod(xp.where(before == 0, 1.0, x), d), d)
    s2 = _reverse_cumsum(xp, g * xp.cumprod(xp.where(before <= 1, 1.0, x), d), d)
    at_zero = excl * xp.where(before == 0, s1, xp.where(before == 1, s2, 0.0))
    quotient = _reverse_cumsum(xp, g * c.out, d) / xp.where(zero, 1.0, x)
    return (xp.where(zero, at_zero, quotient),)


@public(method=True)
def cumprod(input: Any, dim: Any = None, *, dtype: Any = None, axis: Any = None) -> Any:
    """Running products along ``dim``: ``out[i] = input[0] * ... * input[i]`` (as
    ``torch.cumprod``; ``dtype`` casts the input first). The gradient is exact with zeros in the
    input."""
    dim = required_dim("cumprod", dim, axis)
    if dtype is not None:
        input = cast(input, to_dtype(dtype))
    return _cumprod(input, _scan_dim("cumprod", input, dim))


# --- logcumsumexp -----------------------------------------------------------------------------


def _logcumsumexp_samples(rng: S.Rng):
    yield from _scan_samples(S.real)(rng)
    yield S.Sample([S.array([[300.0, 301.5, -400.0], [-800.0, 2.0, 700.0]])], (1,),
                   label="large values: no overflow")


@primitive("logcumsumexp", saves="x,out",
           torch=lambda torch, x, dim: torch.logcumsumexp(x, dim),
           formula="d logcumsumexp(x)_j/dx_i = exp(x_i - out_j) (i <= j); computed in log space, "
                   "positive and negative g apart",
           samples=_logcumsumexp_samples, export=False)
def _logcumsumexp(xp, x, dim):
    if x.ndim == 0:
        return x.copy()
    return xp.logaddexp.accumulate(x, axis=dim)


@_logcumsumexp.defvjp
def _(c, g):
    # sum_{j>=i} g_j exp(x_i - out_j) without overflow: exp(x_i + log sum_{j>=i} |g_j| e^-out_j)
    # for the positive and the negative entries of g apart (PyTorch's formula). Entries of the
    # other sign get a log far below every other term (by twice the log of the largest float),
    # whose exp is 0: a finite stand-in for log 0, so no inf - inf appears at any order
    x, xp, d = c.x[0], c.xp, c.p[0]
    ga = _raw(g)
    if ga.ndim == 0 or ga.size == 0:
        return (g,)
    am = backend.get_array_module(ga)
    log_abs = xp.log(xp.where(ga == 0, 1.0, xp.abs(g)))
    span = _raw(log_abs) - _raw(c.out)
    span = span[am.isfinite(span)]
    floor = (float(span.min()) if span.size else 0.0) - 2.0 * math.log(am.finfo(ga.dtype).max)

    def part(mask: Any) -> Any:
        v = xp.flip(xp.where(mask, log_abs, floor) - c.out, d)
        return xp.exp(xp.flip(xp.logcumsumexp(v, d), d) + x)

    return (part(ga > 0) - part(ga < 0),)


@public(method=True)
def logcumsumexp(input: Any, dim: Any = None, *, axis: Any = None) -> Any:
    """``log(cumsum(exp(input)))`` along ``dim``, computed without overflow (as
    ``torch.logcumsumexp``)."""
    dim = required_dim("logcumsumexp", dim, axis)
    return _logcumsumexp(input, _scan_dim("logcumsumexp", input, dim))


# --- cummax, cummin ---------------------------------------------------------------------------


def _running_index(name: str, x: Any, dim: Any, axis: Any, larger: bool) -> Any:
    dim = required_dim(name, dim, axis)
    xa = _raw(x) if isinstance(x, Tensor) else backend.get_array_module(x).asarray(x)
    am = backend.get_array_module(xa)
    d = normalize_dim(dim, xa.ndim, name)
    if xa.ndim == 0 or xa.size == 0:
        idx = am.zeros(xa.shape, dtype=backend.int64)
        return ValuesIndices(reshape(x, xa.shape), _leaf(idx))
    best = (am.maximum if larger else am.minimum).accumulate(xa, axis=d)
    lead = (slice(None),) * d
    prev = am.concatenate([xa[(*lead, slice(0, 1))], best[(*lead, slice(0, -1))]], axis=d)
    better = (xa >= prev) if larger else (xa <= prev)
    if xa.dtype.kind in "fc":
        better |= am.isnan(xa)  # a NaN is the running extremum from there on (PyTorch)
    pos = am.arange(xa.shape[d], dtype=backend.int64).reshape((-1,) + (1,) * (xa.ndim - 1 - d))
    idx = am.maximum.accumulate(am.where(better, pos, 0), axis=d)  # ties: the last index
    return ValuesIndices(_gather(x, d, idx), _leaf(idx))


@public(method=True)
def cummax(input: Any, dim: Any = None, *, axis: Any = None) -> ValuesIndices:
    """``(values, indices)``: the running maximum along ``dim`` and where it was found (the
    last index on ties; NaN propagates), as ``torch.cummax``. The gradient goes to the index."""
    return _running_index("cummax", input, dim, axis, True)


@public(method=True)
def cummin(input: Any, dim: Any = None, *, axis: Any = None) -> ValuesIndices:
    """``(values, indices)``: the running minimum along ``dim`` and where it was found (as
    ``cummax``)."""
    return _running_index("cummin", input, dim, axis, False)
