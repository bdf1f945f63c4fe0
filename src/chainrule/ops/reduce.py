"""Reductions: sum, mean and friends. Each vjp broadcasts the output gradient back over the
reduced dimensions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.errors import fmt_shape, op_error
from chainrule.ops import samples as S
from chainrule.ops.elementwise import maximum, minimum
from chainrule.ops.indexing import ValuesIndices, _along, _index
from chainrule.ops.registry import primitive, public
from chainrule.ops.shape import dim_alias, normalize_dim, reshape


def normalize_dims(dim: Any, ndim: int, op: str = "reduce") -> tuple[int, ...] | None:
    """``dim`` (None, int or sequence, negatives allowed) as a sorted tuple of axes, or None."""
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, (int, backend.integer)) else tuple(dim)
    out = []
    hi = ndim if ndim > 0 else 1  # (this module defines max and min: no builtins below)
    for d in dims:
        d = int(d)
        if not -hi <= d < hi:
            raise IndexError(f"{op}: dim {d} is out of range for a tensor with {ndim} "
                             f"dimension(s); expected -{hi} <= dim < {hi}")
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
    def gen(rng: S.Rng):
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
def _sum(xp, x, dim, keepdim):
    return xp.sum(x, axis=dim, keepdims=keepdim)


@_sum.defvjp
def _(c, g):
    return (_grad_to_input(c, g),)


@public(method=True)
def sum(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Any:
    """Sum over ``dim`` (all dimensions when None)."""
    if axis is not None or keepdims is not None:  # NumPy-style aliases, as torch accepts
        dim, keepdim = dim_alias("sum", dim, keepdim, axis, keepdims)
    return _sum(x, normalize_dims(dim, backend.xp.ndim(x), "sum"), keepdim)


@primitive("mean", saves="", torch=lambda torch, x, dim, keepdim: (
    torch.mean(x) if dim is None and not keepdim else torch.mean(x, dim or tuple(range(x.ndim)),
                                                                 keepdim)),
           formula="d mean(x)/dx_i = 1/n", samples=_reduce_samples())
def _mean(xp, x, dim, keepdim):
    if x.dtype.kind not in "fc":  # PyTorch refuses too (NumPy would quietly return float64)
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a "
                           f"floating point or complex dtype. Got: {x.dtype}; convert first, "
                           "e.g. x.float().mean()")
    return xp.mean(x, axis=dim, keepdims=keepdim)


@_mean.defvjp
def _(c, g):
    shape = c.x[0].shape
    axes = c.p[0]
    n = math.prod([shape[a] for a in axes]) if axes is not None else math.prod(shape)
    return (_grad_to_input(c, g * (1.0 / (n if n > 0 else 1))),)


@public(method=True)
def mean(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Any:
    """Mean over ``dim`` (all dimensions when None)."""
    if axis is not None or keepdims is not None:  # NumPy-style aliases, as torch accepts
        dim, keepdim = dim_alias("mean", dim, keepdim, axis, keepdims)
    return _mean(x, normalize_dims(dim, backend.xp.ndim(x), "mean"), keepdim)


def _sum_to_samples(rng: S.Rng):
    yield S.Sample([rng.standard_normal((2, 3))], ((3,),))
    yield S.Sample([rng.standard_normal((2, 3))], ((2, 1),))
    yield S.Sample([rng.standard_normal((4, 2, 3))], ((1, 3),))
    yield S.Sample([rng.standard_normal((2, 3))], ((),))


@primitive("sum_to", saves="", formula="the transpose of broadcasting: sum over broadcast dims",
           samples=_sum_to_samples)
def sum_to(xp, x, shape):
    """Sum ``x`` down to ``shape`` (the inverse of broadcasting to x.shape)."""
    from chainrule.ops.arrays import sum_to as _array_sum_to
    return _array_sum_to(x, tuple(shape))


@sum_to.defvjp
def _(c, g):
    return (c.xp.broadcast_to(g, c.x[0].shape),)


# --- helpers for the reductions below ----------------------------------------------------------


def _raw(v: Any) -> Any:
    """The array of a Tensor (for constants derived from it: masks, counts), else ``v``."""
    return v._data if isinstance(v, Tensor) else v


def _count(shape: Sequence[int], axes: tuple[int, ...] | None) -> int:
    """How many elements a reduction over ``axes`` combines."""
    if axes is None:
        return math.prod(shape)
    return math.prod([shape[a] for a in axes])


def _keep(xp: Any, v: Any, shape: Sequence[int], axes: Any, keepdim: bool) -> Any:
    """A reduction's output (or its gradient) reshaped to the keepdim shape."""
    return v if keepdim else xp.reshape(v, keepdim_shape(shape, axes))


def _torch_dims(x: Any, dim: Any) -> Any:
    return tuple(range(x.ndim)) if dim is None else dim


# --- var, std ---------------------------------------------------------------------------------


def _var_samples(rng: S.Rng):
    r = rng.standard_normal
    yield S.Sample([r((4,))], ((0,), 1, False))
    yield S.Sample([r((2, 3))], ((1,), 0, True))
    yield S.Sample([r((2, 1, 3))], ((0, 2), 1, False))
    yield S.Sample([r((2, 3))], (None, 1, False))
    yield S.Sample([r((3, 2))], (None, 0.5, True))
    yield S.Sample([r(())], (None, 0, False))


def _torch_var(fn: str) -> Any:
    return lambda torch, x, dim, correction, keepdim: getattr(torch, fn)(
        x, dim=_torch_dims(x, dim), correction=correction, keepdim=keepdim)


@primitive("var", torch=_torch_var("var"),
           formula="d var(x)/dx_i = 2 (x_i - mean(x)) / (N - correction)",
           samples=_var_samples)
def _var(xp, x, dim, correction, keepdim):
    """Variance over dim, dividing by N - correction."""
    return xp.var(x, axis=dim, ddof=correction, keepdims=keepdim)


@_var.defvjp
def _(c, g):
    x, xp = c.x[0], c.xp
    axes, correction, keepdim = c.p
    dof = _count(x.shape, axes) - correction
    scale = 2.0 / dof if dof > 0 else math.nan
    gk = _keep(xp, g, x.shape, axes, keepdim)
    return (gk * (x - xp.mean(x, axes, keepdims=True)) * scale,)


@primitive("std", saves="x,out", torch=_torch_var("std"),
           formula="d std(x)/dx_i = (x_i - mean(x)) / ((N - correction) std(x))  (0 where std=0)",
           samples=_var_samples)
def _std(xp, x, dim, correction, keepdim):
    """Standard deviation over dim, dividing by N - correction."""
    return xp.std(x, axis=dim, ddof=correction, keepdims=keepdim)


@_std.defvjp
def _(c, g):
    x, xp = c.x[0], c.xp
    axes, correction, keepdim = c.p
    dof = _count(x.shape, axes) - correction
    scale = 1.0 / dof if dof > 0 else math.nan
    gk = _keep(xp, g, x.shape, axes, keepdim)
    sd = _keep(xp, c.out, x.shape, axes, keepdim)
    sd = xp.where(sd == 0, 1.0, sd)  # std = 0 means x == mean: the gradient is 0, not NaN
    return (gk * (x - xp.mean(x, axes, keepdims=True)) * scale / sd,)


def _correction(unbiased: bool, correction: Any) -> Any:
    return (1 if unbiased else 0) if correction is None else correction


@public(method=True)
def var(x: Any, dim: Any = None, unbiased: bool = True, keepdim: bool = False, *,
        correction: Any = None, axis: Any = None,
        keepdims: bool | None = None) -> Any:
    """Variance over ``dim`` (all dims when None), dividing by ``N - correction`` (``correction``
    defaults to 1, Bessel's correction, or 0 when ``unbiased=False``)."""
    if axis is not None or keepdims is not None:  # NumPy-style aliases, as torch accepts
        dim, keepdim = dim_alias("var", dim, keepdim, axis, keepdims)
    dims = normalize_dims(dim, backend.xp.ndim(x), "var")
    return _var(x, dims, _correction(unbiased, correction), keepdim)


@public(method=True)
def std(x: Any, dim: Any = None, unbiased: bool = True, keepdim: bool = False, *,
        correction: Any = None, axis: Any = None,
        keepdims: bool | None = None) -> Any:
    """Standard deviation: the square root of ``var`` with the same arguments."""
    if axis is not None or keepdims is not None:  # NumPy-style aliases, as torch accepts
        dim, keepdim = dim_alias("std", dim, keepdim, axis, keepdims)
    dims = normalize_dims(dim, backend.xp.ndim(x), "std")
    return _std(x, dims, _correction(unbiased, correction), keepdim)


# --- amax, amin, max, min ------------------------------------------------------------------


def _extremum_vjp(c: Any, g: Any) -> tuple:
    """The gradient of amax/amin: shared equally among the entries equal to the result."""
    x, xp = c.x[0], c.xp
    axes, keepdim = c.p
    xa = _raw(x)
    hit = xa == _raw(c.out).reshape(keepdim_shape(xa.shape, axes))
    count = hit.sum(axis=axes, keepdims=True).astype(xa.dtype)
    return (xp.where(hit, _keep(xp, g, xa.shape, axes, keepdim) / count, 0.0),)


@primitive("amax", saves="x,out", kinks=True, torch=lambda torch, x, dim, keepdim: torch.amax(
    x, _torch_dims(x, dim), keepdim),
           formula="d amax(x)/dx_i = 1/k where x_i is one of k maxima, else 0",
           samples=_reduce_samples(S.distinct))
def _amax(xp, x, dim, keepdim):
    """Maximum over dim."""
    return xp.max(x, axis=dim, keepdims=keepdim)


_amax.defvjp(_extremum_vjp)


@primitive("amin", saves="x,out", kinks=True, torch=lambda torch, x, dim, keepdim: torch.amin(
    x, _torch_dims(x, dim), keepdim),
           formula="d amin(x)/dx_i = 1/k where x_i is one of k minima, else 0",
           samples=_reduce_samples(S.distinct))
def _amin(xp, x, dim, keepdim):
    """Minimum over dim."""
    return xp.min(x, axis=dim, keepdims=keepdim)


_amin.defvjp(_extremum_vjp)


@public(method=True)
def amax(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Any:
    """The maximum over ``dim`` (all dims when None); ties share the gradient equally."""
    if axis is not None or keepdims is not None:  # NumPy-style aliases, as torch accepts
        dim, keepdim = dim_alias("amax", dim, keepdim, axis, keepdims)
    return _amax(x, normalize_dims(dim, backend.xp.ndim(x), "amax"), keepdim)


@public(method=True)
def amin(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Any:
    """The minimum over ``dim`` (all dims when None); ties share the gradient equally."""
    if axis is not None or keepdims is not None:  # NumPy-style aliases, as torch accepts
        dim, keepdim = dim_alias("amin", dim, keepdim, axis, keepdims)
    return _amin(x, normalize_dims(dim, backend.xp.ndim(x), "amin"), keepdim)


def _max_min(name: str, arg: str, x: Any, dim: Any, keepdim: bool) -> Any:
    xa = _raw(x) if isinstance(x, Tensor) else backend.get_array_module(x).asarray(x)
    xp = backend.get_array_module(xa)
    d = normalize_dim(dim, xa.ndim, name)
    if xa.ndim == 0:
        return ValuesIndices(reshape(x, ()), _leaf(xp.zeros((), dtype=backend.int64)))
    if xa.shape[d] == 0:
        raise op_error(name, f"cannot reduce over dim {d} of size 0 (shape "
                       f"{fmt_shape(xa.shape)})", "a non-empty dim", kind=IndexError)
    idx = getattr(xp, arg)(xa, axis=d, keepdims=keepdim)
    values = _index(x, _along(xp, idx, d) if keepdim else _along(xp, idx, d, xa.shape))
    return ValuesIndices(values, _leaf(idx.astype(backend.int64, copy=False)))


@public(method=True)
def max(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Any:
    """``max(x)``: the largest value (ties share the gradient). ``max(x, dim)``: the named tuple
    ``(values, indices)`` along ``dim``; the gradient goes to the returned index.
    ``max(x, other)`` with a tensor ``other`` is the elementwise ``maximum``."""
    if axis is not None or keepdims is not None:  # NumPy-style aliases, as torch accepts
        dim, keepdim = dim_alias("max", dim, keepdim, axis, keepdims)
    if dim is None:
        return _amax(x, None, False)
    if isinstance(dim, Tensor):
        return maximum(x, dim)
    return _max_min("max", "argmax", x, dim, keepdim)


@public(method=True)
def min(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Any:
    """``min(x)``: the smallest value; ``min(x, dim)``: ``(values, indices)``; ``min(x, other)``:
    the elementwise ``minimum`` (as ``max``)."""
    if axis is not None or keepdims is not None:  # NumPy-style aliases, as torch accepts
        dim, keepdim = dim_alias("min", dim, keepdim, axis, keepdims)
    if dim is None:
        return _amin(x, None, False)
    if isinstance(dim, Tensor):
        return minimum(x, dim)
    return _max_min("min", "argmin", x, dim, keepdim)


# --- prod ---------------------------------------------------------------------------------------


def _torch_prod(torch: Any, x: Any, dim: Any, keepdim: bool) -> Any:
    if dim is None:
        out = torch.prod(x)
        return out.reshape((1,) * x.ndim) if keepdim else out
    for d in sorted(dim, reverse=True):
        x = torch.prod(x, d, keepdim=True)
    return x if keepdim else x.reshape([s for i, s in enumerate(x.shape) if i not in dim])


def _prod_samples(rng: S.Rng):
    yield from _reduce_samples(S.away_from_zero)(rng)
    yield S.Sample([S.array([1.5, 0.0, -2.0])], (None, False), label="one zero")
    yield S.Sample([S.array([[0.0, 0.7], [1.2, -0.8]])], ((1,), True), label="one zero")
    yield S.Sample([S.array([[0.0, 0.7, 0.0], [0.0, 0.0, 0.0]])], ((1,), False),
                   label="two and three zeros")


@primitive("prod", saves="x,out", torch=_torch_prod,
           formula="d prod(x)/dx_i = product of the other entries",
           samples=_prod_samples)
def _prod(xp, x, dim, keepdim):
    """Product over dim."""
    return xp.prod(x, axis=dim, keepdims=keepdim)


@_prod.defvjp
def _(c, g):
    x, xp = c.x[0], c.xp
    axes, keepdim = c.p
    xa = _raw(x)
    gk = _keep(xp, g, xa.shape, axes, keepdim)
    zero = xa == 0
    if not zero.any():
        return (gk * _keep(xp, c.out, xa.shape, axes, keepdim) / x,)
    # With zeros, written so that it is right to second order too: in a slice with one zero
    # x_k, the others' product is pnz (the nonzeros' product) at k and x_k * pnz / x_i (value 0,
    # derivative pnz / x_i in x_k) elsewhere; with two zeros x_k, x_l it is x_l * pnz at k and
    # 0 elsewhere; with three or more, 0 (and so are its derivatives).
    nonzero = xp.where(zero, 1.0, x)
    pnz = xp.prod(nonzero, axes, keepdims=True)
    zeros = zero.sum(axis=axes, keepdims=True)
    zs = xp.sum(xp.where(zero, x, 0.0), axes, keepdims=True)  # the zeros' sum: value 0
    one = xp.where(zero, pnz, zs * (pnz / nonzero))
    two = xp.where(zero, (zs - x) * pnz, 0.0)
    others = xp.where(zeros == 0, pnz / nonzero, xp.where(zeros == 1, one,
                                                         xp.where(zeros == 2, two, 0.0)))
    return (gk * others,)


@public(method=True)
def prod(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Any:
    """The product over ``dim`` (all dims when None; an int or a tuple of ints)."""
    if axis is not None or keepdims is not None:  # NumPy-style aliases, as torch accepts
        dim, keepdim = dim_alias("prod", dim, keepdim, axis, keepdims)
    return _prod(x, normalize_dims(dim, backend.xp.ndim(x), "prod"), keepdim)


# --- logsumexp ---------------------------------------------------------------------------------


@primitive("logsumexp", saves="x,out", torch=lambda torch, x, dim, keepdim: torch.logsumexp(
    x, _torch_dims(x, dim), keepdim),
           formula="d logsumexp(x)/dx_i = exp(x_i - logsumexp(x)) (the softmax)",
           samples=_reduce_samples())
def _logsumexp(xp, x, dim, keepdim):
    """log(sum(exp(x))) over dim, shifted by the max (no overflow)."""
    m = xp.max(x, axis=dim, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)  # all -inf (or an inf): shift by 0
    with xp.errstate(divide="ignore"):
        out = xp.log(xp.sum(xp.exp(x - m), axis=dim, keepdims=True))
    out += m
    return out if keepdim else xp.squeeze(out, axis=dim)


@_logsumexp.defvjp
def _(c, g):
    # softmax(x) = exp(x - m) / sum(exp(x - m)) for a constant shift m (the max): more accurate
    # than exp(x - out) when out is rounded (float32), and as differentiable
    x, xp = c.x[0], c.xp
    axes, keepdim = c.p
    xa = _raw(x)
    xm = backend.get_array_module(xa)
    m = xa.max(axis=axes, keepdims=True)
    e = xp.exp(x - xm.where(xm.isfinite(m), m, 0))
    return (_keep(xp, g, x.shape, axes, keepdim) * (e / xp.sum(e, axes, keepdims=True)),)


@public(method=True)
def logsumexp(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: bool | None = None) -> Any:
    """log(sum(exp(x))) over ``dim`` (all dims when None), computed without overflow."""
    if axis is not None or keepdims is not None:  # NumPy-style aliases, as torch accepts
        dim, keepdim = dim_alias("logsumexp", dim, keepdim, axis, keepdims)
    return _logsumexp(x, normalize_dims(dim, backend.xp.ndim(x), "logsumexp"), keepdim)


# --- norm -------------------------------------------------------------------------------------


def _signed_distinct(rng: S.Rng, shape: tuple[int, ...]) -> backend.ndarray:
    """Values whose magnitudes are distinct and at least 0.3 (no kink of |x| or of a max)."""
    n = math.prod(shape)
    mags = 0.3 + 0.25 * rng.permutation(n) + rng.uniform(0.0, 0.05, n)
    return (mags * rng.choice([-1.0, 1.0], n)).reshape(shape)


def _norm_samples(rng: S.Rng):
    r = _signed_distinct
    for p in (2.0, 1.0, math.inf, 3.0, 0.5, -math.inf):
        yield S.Sample([r(rng, (2, 3))], (p, None, False))
        yield S.Sample([r(rng, (2, 3))], (p, (1,), True))
    yield S.Sample([r(rng, ())], (2.0, None, False))
    yield S.Sample([r(rng, (2, 1, 3))], (2.0, (0, 2), False))
    yield S.Sample([S.zeros((2, 2))], (2.0, (1,), False), label="zero norm: gradient 0",
                   order=1)  # x/||x|| is discontinuous at 0: no second derivative there


@primitive("norm", saves="x,out", kinks=True,
           torch=lambda torch, x, p, dim, keepdim: torch.linalg.vector_norm(x, p, dim, keepdim),
           formula="d ||x||_p/dx_i = sign(x_i) |x_i|^(p-1) / ||x||_p^(p-1)  (p=2: x/||x||)",
           samples=_norm_samples)
def _norm(xp, x, p, dim, keepdim):
    """The vector p-norm over dim."""
    if p == 2:
        return xp.sqrt(xp.sum(x * x, axis=dim, keepdims=keepdim))
    a = xp.abs(x)
    if p == 1:
        return xp.sum(a, axis=dim, keepdims=keepdim)
    if p == math.inf:
        return xp.max(a, axis=dim, keepdims=keepdim)
    if p == -math.inf:
        return xp.min(a, axis=dim, keepdims=keepdim)
    if p == 0:
        return xp.sum(x != 0, axis=dim, keepdims=keepdim).astype(x.dtype)
    return xp.sum(a ** p, axis=dim, keepdims=keepdim) ** (1.0 / p)


@_norm.defvjp
def _(c, g):
    x, xp = c.x[0], c.xp
    p, axes, keepdim = c.p
    gk = _keep(xp, g, x.shape, axes, keepdim)
    out = _keep(xp, c.out, x.shape, axes, keepdim)
    if p == 2:
        return (gk * x / xp.where(out == 0, 1.0, out),)  # x = 0 where the norm is 0
    if p == 1:
        return (gk * xp.sign(x),)
    if p == 0:
        return (xp.zeros_like(x),)
    if abs(p) == math.inf:  # shared equally among the entries of largest (smallest) |x|
        xa = _raw(x)
        hit = abs(xa) == _raw(out)
        count = hit.sum(axis=axes, keepdims=True).astype(xa.dtype)
        return (xp.where(hit, gk * xp.sign(x) / count, 0.0),)
    zero = _raw(x) == 0
    ax = xp.abs(x)
    if p < 1:
        ax = xp.where(zero, 1.0, ax)
    d = gk * xp.sign(x) * (ax / xp.where(out == 0, 1.0, out)) ** (p - 1.0)
    return (xp.where(zero, 0.0, d) if p < 1 else d,)


@public(method=True)
def norm(x: Any, p: Any = 2, dim: Any = None, keepdim: bool = False) -> Any:
    """The vector p-norm over ``dim`` (all entries when None): p = 2 ("fro"), 1, inf, -inf, 0
    or any other positive number. The gradient of a zero 2-norm is 0."""
    if p == "fro" or p is None:
        p = 2.0
    if isinstance(p, str) or (p != 0 and p != -math.inf and not p > 0):
        raise op_error("norm", f"p = {p!r} is not supported",
                       "2 ('fro'), 1, inf, -inf, 0 or another positive number", kind=ValueError)
    return _norm(x, float(p), normalize_dims(dim, backend.xp.ndim(x), "norm"), keepdim)
