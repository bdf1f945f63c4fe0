"""Fused primitives: hot compositions (linear, softmax, log_softmax) as single ops.

In eager NumPy every composed sub-op is another pass over memory plus Python overhead, and every
node is another gradient to allocate; each op here does the whole computation in one forward and
one vjp. Each docstring gives the speed-up measured against the composition it replaces: forward
plus backward (a non-scalar output reduced to a scalar first), one thread
(OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=1), timeit, the best of 25 rounds taken in
turns with the composition.
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.errors import DTypeError, fmt_shape, op_error
from chainrule.ops import samples as S
from chainrule.ops.arrays import ones_vector as _ones
from chainrule.ops.registry import primitive, public
from chainrule.ops.shape import dim_axis


def _axis(name: str, dim: int, ndim: int) -> int | None:
    """``dim`` as a NumPy axis (None for a 0-d tensor, where dim may be 0 or -1)."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise op_error(name, f"dim {dim} is out of range for a tensor with {ndim} dimension(s)",
                       f"-{n} <= dim < {n}", kind=IndexError)
    return dim if ndim else None


def _need_float(name: str, x: backend.ndarray) -> None:
    if x.dtype.kind not in "fc":
        raise op_error(name, f"input has dtype {x.dtype}", "a floating-point tensor",
                       "convert it first, e.g. x.float()", kind=DTypeError)


def _keep_shape(shape: tuple[int, ...], dim: int) -> tuple[int, ...]:
    """``shape`` with dimension ``dim`` set to 1 (a keepdim reduction's shape)."""
    if not shape:
        return ()
    d = dim % len(shape)
    return (*shape[:d], 1, *shape[d + 1:])


# --- linear -------------------------------------------------------------------------------------


def _linear_error(x: backend.ndarray, w: backend.ndarray, b: Any) -> Exception:
    sx, sw = x.shape, w.shape
    if w.ndim != 2:
        return op_error("linear", f"weight has shape {fmt_shape(sw)}",
                        "a 2-D weight of shape (out_features, in_features)")
    if x.ndim == 0 or sx[-1] != sw[1]:
        got = sx[-1] if x.ndim else "no"
        hint = "did you mean weight.T? (weight is stored (out_features, in_features))" \
            if x.ndim and sw[0] == sx[-1] else ""
        return op_error("linear", f"input {fmt_shape(sx)} has {got} features but weight "
                        f"{fmt_shape(sw)} takes in_features={sw[1]}",
                        f"input of shape (..., {sw[1]})", hint)
    sb = getattr(b, "shape", ())
    return op_error("linear", f"bias of shape {fmt_shape(sb)} does not fit the output "
                    f"(..., {sw[0]})", f"a bias of shape ({sw[0]},)")


def _linear_samples(rng: S.Rng):
    r = rng.standard_normal
    yield S.Sample([r((2, 3)), r((4, 3)), r((4,))], label="x (N, in), weight, bias")
    yield S.Sample([r((2, 3)), r((4, 3)), None], label="no bias")
    yield S.Sample([r((2, 2, 3)), r((2, 3)), r((2,))], label="3-D input")
    yield S.Sample([r((3,)), r((2, 3)), r((2,))], label="1-D input")
    yield S.Sample([r((1, 3)), r((1, 3)), r((1,))], label="size-1 dims")


@primitive("linear", nin=3, formula="y = x @ W^T + b;  dx = g @ W;  dW = g^T @ x;  db = sum(g)",
           torch=lambda torch, x, w, b: torch.nn.functional.linear(x, w, b),
           samples=_linear_samples)
def _linear(xp, x, w, b):
    if getattr(w, "ndim", 0) != 2:
        raise _linear_error(xp.asarray(x), xp.asarray(w), b)
    try:
        if x.ndim <= 2:
            y = xp.matmul(x, w.T)
        else:  # fold batch dims into one GEMM
            y = xp.matmul(x.reshape(-1, x.shape[-1]), w.T).reshape(*x.shape[:-1], w.shape[0])
        if b is not None:
            if type(b) is xp.ndarray and b.dtype == y.dtype and b.ndim <= 1:
                y += b  # y is a fresh array: add in place
            else:
                y = y + b
    except ValueError:
        raise _linear_error(x, w, b) from None
    return y


@_linear.defvjp
def _(c, g):
    xp = c.xp
    x, w, b = c.x
    need = c.need
    out_f, in_f = w.shape
    g2 = g if g.ndim == 2 else xp.reshape(g, (-1, out_f))
    gx = gw = gb = None
    if need[0]:
        gx = xp.matmul(g2, w)
        if x.ndim != 2:
            gx = xp.reshape(gx, x.shape)
    if need[1]:  # (out, in), C-contiguous: stored into weight.grad without a copy
        gw = g2.T @ (x if x.ndim == 2 else xp.reshape(x, (-1, in_f)))
    if need[2]:  # column sums as ones @ g: one BLAS call, 2x faster than g.sum(0)
        gb = xp.ones_vector(g2.shape[0], g.dtype) @ g2 if b.ndim == 1 else g
    return gx, gw, gb


@public(functional=True)
def linear(input: Any, weight: Any, bias: Any = None) -> Any:
    """``input @ weight.T + bias`` with ``weight`` of shape (out_features, in_features), as
    ``torch.nn.functional.linear``; ``input`` may have any leading batch dimensions.

    Fused: one GEMM per product, the bias added in place, and the weight gradient computed
    as ``g.T @ x`` in the weight's own (out, in) layout (composed, it is a transposed view the
    engine must copy). Measured vs ``x @ w.T + b``: 1.2x faster at 64x784->128, 1.4x at
    64x128->10, 1.7x at 10x784->30 (forward + backward, float32).
    """
    return _linear(input, weight, bias)


# --- softmax, log_softmax -------------------------------------------------------------------------


def _sum_along(xp: Any, e: backend.ndarray, axis: int | None,
               keepdims: bool = False) -> backend.ndarray:
    """``e.sum(axis)``; along the last axis of a float array as ``e @ ones``: one BLAS call,
    2-3x faster than NumPy's reduction over short rows ((64, 10): 1.0 us vs 2.3 us)."""
    if axis is None or e.dtype.kind != "f" or axis not in (-1, e.ndim - 1):
        return e.sum(axis=axis, keepdims=keepdims)
    s = e @ _ones(xp, e.shape[-1], e.dtype)
    return s[..., None] if keepdims else s


def softmax_arrays(xp: Any, x: backend.ndarray, axis: int) -> backend.ndarray:
    """Softmax of an array along ``axis``, computed stably (the array-level softmax)."""
    if x.ndim == 0:
        return xp.asarray(xp.exp(x - x))
    e = x - x.max(axis=axis, keepdims=True)
    xp.exp(e, out=e)
    e /= _sum_along(xp, e, axis, keepdims=True)
    return e


def _softmax_samples(rng: S.Rng):
    r = rng.standard_normal
    yield S.Sample([r((2, 3))], (-1,))
    yield S.Sample([r(())], (0,))
    yield S.Sample([r((4,))], (0,))
    yield S.Sample([r((2, 3))], (0,))
    yield S.Sample([r((2, 1, 3))], (1,))
    yield S.Sample([r((2, 3, 2))], (-2,))
    yield S.Sample([r((1, 3))], (1,))


@primitive("softmax", saves="out", torch=lambda torch, x, dim: torch.softmax(x, dim),
           formula="d softmax(x)/dx: g -> out * (g - sum(g * out, dim))",
           samples=_softmax_samples)
def _softmax(xp, x, dim):
    if x.dtype.kind not in "fc":
        _need_float("softmax", x)
    return softmax_arrays(xp, x, _axis("softmax", dim, x.ndim))


@_softmax.defvjp
def _(c, g):
    out = c.out
    return (out * (g - c.xp.sum_to(g * out, _keep_shape(out.shape, c.p[0]))),)


@public(method=True, functional=True)
def softmax(input: Any, dim: int = -1, *, axis: Any = None) -> Any:
    """exp(x) / sum(exp(x)) along ``dim``, computed stably (the max is subtracted first).

    Fused: measured 2.0x faster than ``e = exp(x - amax(x)); e / sum(e)`` (forward + backward,
    (64, 10) float32).
    """
    if axis is not None:
        dim = dim_axis("softmax", dim, axis, -1)
    return _softmax(input, dim)


def log_softmax_arrays(xp: Any, x: backend.ndarray, axis: int) -> backend.ndarray:
    """Log-softmax of an array along ``axis``: x - max - log(sum(exp(x - max)))."""
    if x.ndim == 0:
        return xp.asarray(x - x)
    z = x - x.max(axis=axis, keepdims=True)
    s = _sum_along(xp, xp.exp(z), axis, keepdims=True)
    z -= xp.log(s, out=s)
    return z


@primitive("log_softmax", saves="out", torch=lambda torch, x, dim: torch.log_softmax(x, dim),
           formula="d log_softmax(x)/dx: g -> g - exp(out) * sum(g, dim)",
           samples=_softmax_samples)
def _log_softmax(xp, x, dim):
    if x.dtype.kind not in "fc":
        _need_float("log_softmax", x)
    return log_softmax_arrays(xp, x, _axis("log_softmax", dim, x.ndim))


@_log_softmax.defvjp
def _(c, g):
    out = c.out
    return (g - c.xp.exp(out) * c.xp.sum_to(g, _keep_shape(out.shape, c.p[0])),)


@public(method=True, functional=True)
def log_softmax(input: Any, dim: int = -1, *, axis: Any = None) -> Any:
    """log(softmax(x)) along ``dim``, computed stably as x - max - log(sum(exp(x - max))).

    Fused: measured 1.9x faster than ``z = x - amax(x); z - log(sum(exp(z)))`` (forward +
    backward, (64, 10) float32).
    """
    if axis is not None:
        dim = dim_axis("log_softmax", dim, axis, -1)
    return _log_softmax(input, dim)
