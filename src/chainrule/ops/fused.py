"""Fused primitives: hot compositions (linear, softmax, losses) as single ops.

In eager NumPy every composed sub-op is another pass over memory plus Python overhead, and every
node is another gradient to allocate; each op here does the whole computation in one forward and
one vjp. Each docstring gives the speed-up measured against the composition it replaces: forward
plus backward (a non-scalar output reduced to a scalar first), one thread
(OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=1), timeit, the best of 25 rounds taken in
turns with the composition.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.errors import DTypeError, fmt_shape, op_error
from chainrule.ops import samples as S
from chainrule.ops.registry import primitive

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise op_error(name, f"reduction {reduction!r} is not supported",
                       "'mean', 'sum' or 'none'", kind=ValueError)


def _axis(name: str, dim: int, ndim: int) -> int | None:
    """``dim`` as a NumPy axis (None for a 0-d tensor, where dim may be 0 or -1)."""
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise op_error(name, f"dim {dim} is out of range for a tensor with {ndim} dimension(s)",
                       f"-{n} <= dim < {n}", kind=IndexError)
    return dim if ndim else None


def _need_float(name: str, x: np.ndarray) -> None:
    if x.dtype.kind not in "fc":
        raise op_error(name, f"input has dtype {x.dtype}", "a floating-point tensor",
                       "convert it first, e.g. x.float()", kind=DTypeError)


def _keep_shape(shape: tuple[int, ...], dim: int) -> tuple[int, ...]:
    """``shape`` with dimension ``dim`` set to 1 (a keepdim reduction's shape)."""
    if not shape:
        return ()
    d = dim % len(shape)
    return (*shape[:d], 1, *shape[d + 1:])


_ONES: dict[tuple[int, Any], np.ndarray] = {}


def _ones(n: int, dtype: Any) -> np.ndarray:
    """A read-only vector of n ones (cached): sums as BLAS matrix-vector products."""
    key = (n, dtype)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 64:
            _ONES.clear()
        ones = _ONES[key] = np.ones(n, dtype=dtype)
        ones.flags.writeable = False
    return ones


# --- linear -------------------------------------------------------------------------------------


def _linear_error(x: np.ndarray, w: np.ndarray, b: Any) -> Exception:
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
    return op_error("linear", f"bias of shape {fmt_shape(np.shape(b))} does not fit the output "
                    f"(..., {sw[0]})", f"a bias of shape ({sw[0]},)")


def _linear_samples(rng: np.random.Generator):
    r = rng.standard_normal
    yield S.Sample([r((2, 3)), r((4, 3)), r((4,))], label="x (N, in), weight, bias")
    yield S.Sample([r((2, 3)), r((4, 3)), None], label="no bias")
    yield S.Sample([r((2, 2, 3)), r((2, 3)), r((2,))], label="3-D input")
    yield S.Sample([r((3,)), r((2, 3)), r((2,))], label="1-D input")
    yield S.Sample([r((1, 3)), r((1, 3)), r((1,))], label="size-1 dims")


@primitive("linear", nin=3, formula="y = x @ W^T + b;  dx = g @ W;  dW = g^T @ x;  db = sum(g)",
           torch=lambda torch, x, w, b: torch.nn.functional.linear(x, w, b),
           samples=_linear_samples)
def _linear(x, w, b):
    x = np.asarray(x)
    if np.ndim(w) != 2:
        raise _linear_error(x, np.asarray(w), b)
    try:
        if x.ndim <= 2:
            y = np.matmul(x, w.T)
        else:  # fold batch dims into one GEMM
            y = np.matmul(x.reshape(-1, x.shape[-1]), w.T).reshape(*x.shape[:-1], w.shape[0])
        if b is not None:
            if type(b) is np.ndarray and b.dtype == y.dtype and b.ndim <= 1:
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
        gw = xp.matmul(xp.swapaxes(g2, 0, 1), x if x.ndim == 2 else xp.reshape(x, (-1, in_f)))
    if need[2]:  # column sums as ones @ g: one BLAS call, 2x faster than g.sum(0)
        gb = xp.matmul(_ones(g2.shape[0], g.dtype), g2) if np.ndim(b) == 1 else g
    return gx, gw, gb


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


def _sum_along(e: np.ndarray, axis: int | None, keepdims: bool = False) -> np.ndarray:
    """``e.sum(axis)``; along the last axis of a float array as ``e @ ones``: one BLAS call,
    2-3x faster than NumPy's reduction over short rows ((64, 10): 1.0 us vs 2.3 us)."""
    if axis is None or e.dtype.kind != "f" or axis not in (-1, e.ndim - 1):
        return e.sum(axis=axis, keepdims=keepdims)
    s = e @ _ones(e.shape[-1], e.dtype)
    return s[..., None] if keepdims else s


def softmax_arrays(x: np.ndarray, axis: int) -> np.ndarray:
    """Softmax of an array along ``axis``, computed stably (the array-level softmax)."""
    if x.ndim == 0:
        return np.asarray(np.exp(x - x))
    e = x - x.max(axis=axis, keepdims=True)
    np.exp(e, out=e)
    e /= _sum_along(e, axis, keepdims=True)
    return e


def _softmax_samples(rng: np.random.Generator):
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
def _softmax(x, dim):
    if x.dtype.kind not in "fc":
        _need_float("softmax", x)
    return softmax_arrays(x, _axis("softmax", dim, x.ndim))


@_softmax.defvjp
def _(c, g):
    out = c.out
    return (out * (g - c.xp.sum_to(g * out, _keep_shape(out.shape, c.p[0]))),)


def softmax(input: Any, dim: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along ``dim``, computed stably (the max is subtracted first).

    Fused: measured 2.0x faster than ``e = exp(x - amax(x)); e / sum(e)`` (forward + backward,
    (64, 10) float32).
    """
    return _softmax(input, dim)


@primitive("log_softmax", saves="out", torch=lambda torch, x, dim: torch.log_softmax(x, dim),
           formula="d log_softmax(x)/dx: g -> g - exp(out) * sum(g, dim)",
           samples=_softmax_samples)
def _log_softmax(x, dim):
    if x.dtype.kind not in "fc":
        _need_float("log_softmax", x)
    ax = _axis("log_softmax", dim, x.ndim)
    if ax is None:
        return np.asarray(x - x)
    z = x - x.max(axis=ax, keepdims=True)
    s = _sum_along(np.exp(z), ax, keepdims=True)
    z -= np.log(s, out=s)
    return z


@_log_softmax.defvjp
def _(c, g):
    out = c.out
    return (g - c.xp.exp(out) * c.xp.sum_to(g, _keep_shape(out.shape, c.p[0])),)


def log_softmax(input: Any, dim: int = -1) -> Any:
    """log(softmax(x)) along ``dim``, computed stably as x - max - log(sum(exp(x - max))).

    Fused: measured 1.9x faster than ``z = x - amax(x); z - log(sum(exp(z)))`` (forward +
    backward, (64, 10) float32).
    """
    return _log_softmax(input, dim)


# --- losses ---------------------------------------------------------------------------------------


_ROWS: dict[int, np.ndarray] = {}


def _rows(n: int) -> np.ndarray:
    """np.arange(n), cached (the row index of every class-index gather)."""
    r = _ROWS.get(n)
    if r is None:
        if len(_ROWS) > 64:
            _ROWS.clear()
        r = _ROWS[n] = np.arange(n)
        r.flags.writeable = False
    return r


def _check_target(x: np.ndarray, t: np.ndarray) -> int:
    """Validate class-index targets; return the class axis of ``x``."""
    if x.ndim == 0:
        raise op_error("cross_entropy", "input is 0-d",
                       "logits of shape (N, C), (C,) or (N, C, d1, ...)")
    if t.dtype.kind not in "iu":
        what = " (class probabilities as targets are not supported yet)" \
            if t.dtype.kind == "f" and t.shape == x.shape else ""
        raise op_error("cross_entropy", f"target has dtype {t.dtype}{what}",
                       "integer class indices (int64)", kind=DTypeError)
    _need_float("cross_entropy", x)
    cax = 1 if x.ndim > 1 else 0
    want = x.shape[:cax] + x.shape[cax + 1:]
    if t.shape != want:
        raise op_error("cross_entropy", f"input {fmt_shape(x.shape)} and target "
                       f"{fmt_shape(t.shape)} do not fit",
                       f"a target of shape {fmt_shape(want)} (one class index per sample)")
    n_cls = x.shape[cax]
    if t.size and (t.min() < 0 or t.max() >= n_cls):
        bad = int(t[(t < 0) | (t >= n_cls)].flat[0])
        hint = "ignore_index is not supported yet: drop those samples" if bad == -100 else ""
        raise op_error("cross_entropy", f"target contains class index {bad} but the input "
                       f"has {n_cls} classes", f"indices in [0, {n_cls - 1}]", hint,
                       kind=IndexError)
    return cax


def _ce_samples(rng: np.random.Generator):
    r = rng.standard_normal
    for red in _REDUCTIONS:
        yield S.Sample([r((3, 4)), rng.integers(0, 4, (3,))], (red,), label=f"(N, C) {red}")
    yield S.Sample([r((4,)), np.array(2)], ("mean",), label="unbatched (C,)")
    yield S.Sample([r((2, 3, 2)), rng.integers(0, 3, (2, 2))], ("mean",), label="(N, C, d)")
    yield S.Sample([r((2, 3, 2)), rng.integers(0, 3, (2, 2))], ("none",), label="(N, C, d)")
    yield S.Sample([r((1, 1)), np.array([0])], ("sum",), label="one class")


@primitive("cross_entropy", nin=2, res=True,
           torch=lambda torch, x, t, red: torch.nn.functional.cross_entropy(x, t, reduction=red),
           formula="loss_i = logsumexp(x_i) - x_i[t_i];  dx = (softmax(x) - onehot(t)) * g / N",
           samples=_ce_samples)
def _cross_entropy(x, target, reduction):
    t = target if type(target) is np.ndarray else np.asarray(target)
    if reduction not in _REDUCTIONS:
        _check_reduction("cross_entropy", reduction)
    if (x.ndim == 2 and t.ndim == 1 and t.shape[0] == x.shape[0] and t.dtype.kind in "iu"
            and x.dtype.kind == "f"):
        cax = 1  # the common case, validated in one reduction: negatives wrap to huge unsigned
        if t.size and t.view(t.dtype.str.replace("i", "u")).max() >= x.shape[1]:
            _check_target(x, t)
    else:
        cax = _check_target(x, t)
    z = x - x.max(axis=cax, keepdims=True)
    if x.ndim == 2:
        picked = z[_rows(x.shape[0]), t]
    else:
        picked = np.take_along_axis(z, np.expand_dims(t, cax), axis=cax).squeeze(cax)
    lse = _sum_along(np.exp(z, out=z), cax)
    loss = np.log(lse) - picked
    if reduction == "mean":
        loss = loss.sum() / loss.size if loss.size else np.full((), np.nan, dtype=loss.dtype)
    elif reduction == "sum":
        loss = loss.sum()
    return loss, t


@_cross_entropy.defvjp
def _(c, g):
    if not c.need[0]:
        return None, None
    x, t = c.x[0], c.res
    xp = c.xp
    cax = 1 if x.ndim > 1 else 0
    onehot = np.zeros(x.shape, dtype=x.dtype)
    if x.ndim == 2:
        onehot[_rows(x.shape[0]), t] = 1.0
    else:
        np.put_along_axis(onehot, np.expand_dims(t, cax), 1.0, axis=cax)
    d = xp.softmax(x, cax) - onehot
    reduction = c.p[0]
    if reduction == "mean":
        scale = g * (1.0 / max(t.size, 1))
    elif reduction == "sum":
        scale = g
    else:
        scale = xp.reshape(g, _keep_shape(x.shape, cax))
    return d * scale, None


def cross_entropy(input: Any, target: Any, reduction: str = "mean") -> Any:
    """Cross-entropy between logits ``input`` (N, C) (or (C,), or (N, C, d1, ...)) and integer
    class indices ``target`` (N,) (or (), or (N, d1, ...)), as
    ``torch.nn.functional.cross_entropy``; ``reduction`` is 'mean', 'sum' or 'none'.

    Fused log-softmax + negative log-likelihood: the gradient is (softmax(x) - onehot(t)) / N.
    Measured vs ``-log_softmax(x)[arange(N), t].mean()``: 1.6x faster with the fused
    log_softmax, 2.7x with log_softmax composed too (forward + backward, (64, 10) float32).
    """
    return _cross_entropy(input, target, reduction)


def _mse_samples(rng: np.random.Generator):
    r = rng.standard_normal
    for red in _REDUCTIONS:
        yield S.Sample([r((2, 3)), r((2, 3))], (red,), label=f"same shape {red}")
    yield S.Sample([r(()), r(())], ("mean",), label="0-d")
    yield S.Sample([r((2, 3)), r((3,))], ("sum",), label="broadcast target")
    yield S.Sample([r((2, 1)), r((1, 3))], ("none",), label="broadcast both")
    yield S.Sample([r((4,)), 0.5], ("mean",), label="python float target")


@primitive("mse_loss", nin=2,
           torch=lambda torch, x, y, red: torch.nn.functional.mse_loss(
               *torch.broadcast_tensors(x, y), reduction=red),
           formula="loss = mean((x - y)^2);  dx = 2 (x - y) g / n;  dy = -dx",
           samples=_mse_samples)
def _mse_loss(input, target, reduction):
    if reduction not in _REDUCTIONS:
        _check_reduction("mse_loss", reduction)
    d = np.subtract(input, target)
    d *= d
    if reduction == "mean":
        return d.sum() / d.size if d.size else np.full((), np.nan, dtype=d.dtype)
    if reduction == "sum":
        return d.sum()
    return d


@_mse_loss.defvjp
def _(c, g):
    a, b = c.x
    reduction = c.p[0]
    if reduction == "mean":
        sa, sb = np.shape(a), np.shape(b)
        n = math.prod(sa if sa == sb else np.broadcast_shapes(sa, sb))
        g = g * (2.0 / max(n, 1))
    else:
        g = g + g
    ga = (a - b) * g
    return (ga if c.need[0] else None), (-ga if c.need[1] else None)


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Any:
    """Mean squared error ``(input - target)^2`` reduced by 'mean', 'sum' or 'none', as
    ``torch.nn.functional.mse_loss`` (shapes broadcast).

    Fused: measured 2.9x faster than ``((x - y) ** 2).mean()`` (forward + backward, (64, 10)
    float32).
    """
    return _mse_loss(input, target, reduction)
