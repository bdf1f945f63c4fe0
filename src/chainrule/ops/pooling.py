"""Pooling and resampling over (N, C, *spatial): max/avg pooling (1-d, 2-d, 3-d), adaptive pooling,
``interpolate`` (nearest, (bi)linear).

``max_pool`` and ``avg_pool`` are primitives (hot in every CNN): the forward is one strided
pass per kernel offset (``k * k`` vectorised ``maximum``/add over (N, C, OH, OW) slices, no
window copy, no arg-max stored), and the vjp adds the output gradient back through the same
slices. ``max_pool``'s vjp recomputes, per offset, which windows have their first maximum there
(``x == out`` and no earlier offset took it: PyTorch's tie rule) and routes the gradient there;
written with ``gather_backward`` under ``create_graph`` it is differentiable again. ``avg_pool``'s
vjp is a depthwise transposed convolution with a constant kernel (order 2 through ``conv``).
Measured at (64, 6, 28, 28), k = s = 2, forward + backward, float32: 4.2 ms, against 26 ms for
``sliding_window_view`` + ``argmax`` + ``put_along_axis`` and 10 ms for an earlier version that
stored the arg-max with masked writes (``copyto(where=)``); a loaded 2-core machine, so rough
figures (``python /tmp`` scripts, not kept: the end-to-end figure is W4 in bench/).

The adaptive and resampling ops are cold and composed: adaptive average pooling and bilinear
interpolation are linear maps along each spatial dim (``P_h @ x @ P_w^T`` with constant
matrices: ``matmul``'s gradient), nearest interpolation and adaptive max pooling are
``index_select``/``gather`` with indices computed from the shapes or the values.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.factories import as_tensor
from chainrule.autograd.tensor import Tensor
from chainrule.errors import DTypeError, fmt_shape, op_error
from chainrule.ops import samples as S
from chainrule.ops.conv import _offset_slices, _pad_array, _tuple
from chainrule.ops.registry import primitive, public

Pads = tuple[tuple[int, int], ...]


def _pool_out(name: str, n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    span = n + 2 * p - d * (k - 1) - 1
    if span < 0:
        raise op_error(name, f"input size {n} with padding {p} is smaller than the window "
                       f"{d * (k - 1) + 1}", "an input at least as large as the window",
                       kind=ValueError)
    o = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (o - 1) * s >= n + p:  # the last window must start inside input + left pad
        o -= 1
    return o


def _geometry(name: str, shape: tuple, k: Sequence[int], s: Sequence[int], p: Sequence[int],
              d: Sequence[int], ceil_mode: bool) -> tuple[tuple[int, ...], Pads]:
    """Output spatial shape, and the (lo, hi) padding that makes every window fit."""
    for kk, pp in zip(k, p):
        if pp > kk // 2:
            raise op_error(name, f"padding {tuple(p)} for kernel {tuple(k)}",
                           "padding at most half the kernel size", kind=ValueError)
    out = tuple(_pool_out(name, n, a, b, c, e, ceil_mode)
                for n, a, b, c, e in zip(shape, k, s, p, d))
    pads = tuple((c, max(c, (o - 1) * b + e * (a - 1) + 1 - n - c))
                 for n, a, b, c, e, o in zip(shape, k, s, p, d, out))
    return out, pads


def _need_float(name: str, x: Any) -> None:
    if x.dtype.kind != "f":
        raise op_error(name, f"input has dtype {x.dtype}", "a floating-point tensor",
                       "convert it first, e.g. x.float()", kind=DTypeError)


# --- max pooling --------------------------------------------------------------------------------


def _flat_index(xp: Any, arg: Any, k: Sequence[int], s: Sequence[int], d: Sequence[int],
                pads: Pads, size: Sequence[int]) -> Any:
    """Local arg-max (offset number in the window) -> index into the flattened input plane."""
    nd = len(k)
    offs = xp.unravel_index(arg, tuple(k)) if nd > 1 else (arg,)
    flat = None
    for j in range(nd):
        o = arg.shape[2 + j]
        base = xp.arange(o).reshape((o,) + (1,) * (nd - 1 - j)) * s[j] - pads[j][0]
        pos = base + offs[j].astype(base.dtype) * d[j]
        flat = pos if flat is None else flat * size[j] + pos
    return flat


def _max_pool_samples(rng: Any):
    def x(shape):
        return S.distinct(rng, shape)
    yield S.Sample([x((2, 2, 5))], ((2,), (2,), (0,), (1,), False), label="1-d")
    yield S.Sample([x((1, 2, 4, 4))], ((2, 2), (2, 2), (0, 0), (1, 1), False), label="2x2")
    yield S.Sample([x((2, 1, 5, 5))], ((3, 3), (2, 2), (1, 1), (1, 1), False),
                   label="3x3 stride 2 pad 1 (overlapping)")
    yield S.Sample([x((1, 2, 5, 6))], ((2, 2), (2, 1), (0, 1), (2, 1), True),
                   label="dilation, ceil_mode")
    yield S.Sample([x((1, 2, 3, 4, 4))], ((2, 2, 2), (1, 2, 2), (0, 1, 0), (1, 1, 1), False),
                   label="3-d")


def _torch_max_pool(torch: Any, x: Any, k: Any, s: Any, p: Any, d: Any, ceil: bool) -> Any:
    f = getattr(torch.nn.functional, f"max_pool{len(k)}d")
    return f(x, k, s, p, d, ceil)


def _argmax_masks(xp: Any, xpad: Any, out: Any, k: Sequence[int], stride: Sequence[int],
                  dil: Sequence[int]):
    """For each kernel offset, its slices and the mask of the windows whose (first) maximum it
    holds: ``x == out`` and no earlier offset took the window (PyTorch's tie rule)."""
    taken = None
    for _, sl in _offset_slices(k, stride, dil, out.shape[2:]):
        hit = xpad[(slice(None), slice(None), *sl)] == out
        if taken is None:
            taken = hit.copy()
        else:
            hit &= ~taken
            taken |= hit
        yield sl, hit


@primitive("max_pool", res=True, saves="x,out", torch=_torch_max_pool, samples=_max_pool_samples,
           kinks=True, formula="y = max over each window;  dx: g routed to each window's arg-max")
def _max_pool(xp, x, k, stride, padding, dilation, ceil_mode):
    """Max pooling over the trailing len(k) dims: one ``maximum`` per kernel offset."""
    _need_float("max_pool", x)
    out, pads = _geometry("max_pool", x.shape[2:], k, stride, padding, dilation, ceil_mode)
    xpad = _pad_array(xp, x, pads, -math.inf)
    best = None
    for _, sl in _offset_slices(k, stride, dilation, out):
        v = xpad[(slice(None), slice(None), *sl)]
        best = v.copy() if best is None else xp.maximum(best, v, out=best)
    return best, pads


def _max_pool_arg(xp: Any, x: Any, out: Any, k: Sequence[int], stride: Sequence[int],
                  dil: Sequence[int], pads: Pads) -> Any:
    """The arg-max of each window as an offset number (int64), from the input and output."""
    arg = xp.zeros(out.shape, dtype=backend.int64)
    xpad = _pad_array(xp, x, pads, -math.inf)
    for n, (_, hit) in enumerate(_argmax_masks(xp, xpad, out, k, stride, dil)):
        if n:
            arg += hit * n
    return arg


@_max_pool.defvjp
def _(c, g):
    x = c.x[0]
    k, stride, _, dil, _ = c.p
    pads = c.res
    if type(g) is backend.ndarray:
        xp = backend.get_array_module(g)
        psize = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads))
        disjoint = all(a * d <= s for a, s, d in zip(k, stride, dil))
        alloc = xp.empty if disjoint and all(
            a * s == n for a, s, n in zip(g.shape[2:], stride, psize)) else xp.zeros
        dx = alloc((*x.shape[:2], *psize), dtype=g.dtype)
        xpad = _pad_array(xp, x, pads, -math.inf)
        for sl, hit in _argmax_masks(xp, xpad, c.out, k, stride, dil):
            view = dx[(slice(None), slice(None), *sl)]
            if disjoint:  # windows do not overlap: each input position is written once
                xp.multiply(g, hit, out=view)
            else:
                view += g * hit
        crop = tuple(slice(lo, lo + a) for a, (lo, _) in zip(x.shape[2:], pads))
        return (dx[(slice(None), slice(None), *crop)],)
    xp = c.xp
    xa, oa = x._data, c.out._data
    arg = _max_pool_arg(backend.get_array_module(xa), xa, oa, k, stride, dil, pads)
    idx = _flat_index(backend.get_array_module(arg), arg, k, stride, dil, pads, x.shape[2:])
    n, ch = x.shape[:2]
    plane = math.prod(x.shape[2:])
    gx = xp.gather_backward(xp.reshape(g, (n, ch, -1)), (n, ch, plane), 2,
                            idx.reshape(n, ch, -1))
    return (xp.reshape(gx, x.shape),)


def _max_pool_nd(name: str, nd: int, input: Any, kernel_size: Any, stride: Any, padding: Any,
                 dilation: Any, ceil_mode: bool, return_indices: bool) -> Any:
    k = _tuple(name, "kernel_size", kernel_size, nd)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else \
        _tuple(name, "stride", stride, nd)
    p = _tuple(name, "padding", padding, nd)
    d = _tuple(name, "dilation", dilation, nd)
    x = input if isinstance(input, Tensor) else as_tensor(input)
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x.unsqueeze(0)
    if x.ndim != nd + 2:
        raise op_error(name, f"input has shape {fmt_shape(x.shape)}",
                       f"a {nd + 1}-D or {nd + 2}-D input (N, C, *spatial)")
    y = _max_pool(x, k, s, p, d, bool(ceil_mode))
    if not return_indices:
        return y.squeeze(0) if unbatched else y
    xp = backend.get_array_module(x._data)
    _, pads = _geometry(name, x.shape[2:], k, s, p, d, bool(ceil_mode))
    arg = _max_pool_arg(xp, x._data, y._data, k, s, d, pads)
    idx = as_tensor(_flat_index(xp, arg, k, s, d, pads, x.shape[2:]).astype(backend.int64))
    if unbatched:
        return y.squeeze(0), idx.squeeze(0)
    return y, idx


@public(functional=True)
def max_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """1-D max pooling over (N, C, L), as ``torch.nn.functional.max_pool1d``."""
    return _max_pool_nd("max_pool1d", 1, input, kernel_size, stride, padding, dilation,
                        ceil_mode, return_indices)


@public(functional=True)
def max_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """2-D max pooling over (N, C, H, W), as ``torch.nn.functional.max_pool2d``; ``stride``
    defaults to ``kernel_size``. The gradient goes to each window's arg-max; with
    ``return_indices`` also the arg-max as flat indices into each (H, W) plane."""
    return _max_pool_nd("max_pool2d", 2, input, kernel_size, stride, padding, dilation,
                        ceil_mode, return_indices)


@public(functional=True)
def max_pool3d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """3-D max pooling over (N, C, D, H, W), as ``torch.nn.functional.max_pool3d``; with
    ``return_indices`` also the arg-max as flat indices into each (D, H, W) volume."""
    return _max_pool_nd("max_pool3d", 3, input, kernel_size, stride, padding, dilation,
                        ceil_mode, return_indices)


# --- max unpooling: max pooling's partial inverse --------------------------------------------


def _max_unpool_samples(rng: Any):
    def case(shape: tuple, size: tuple, label: str) -> S.Sample:
        n, ch, plane = shape[0], shape[1], math.prod(size)
        idx = S.array([[rng.permutation(plane)[:math.prod(shape[2:])] for _ in range(ch)]
                       for _ in range(n)]).reshape(shape)  # distinct per plane
        return S.Sample([rng.standard_normal(shape)], (idx, size), label=label)
    yield case((2, 2, 3), (7,), "1-d")
    yield case((1, 2, 2, 3), (4, 5), "2-d")
    yield case((2, 1, 2, 1, 2), (3, 2, 4), "3-d")


def _torch_max_unpool(torch: Any, x: Any, idx: Any, size: tuple) -> Any:
    idx = torch.as_tensor(idx)
    if len(size) == 1:
        return torch.ops.aten.max_unpool2d(x[..., None], idx[..., None], [*size, 1])[..., 0]
    if len(size) == 2:
        return torch.ops.aten.max_unpool2d(x, idx, list(size))
    return torch.ops.aten.max_unpool3d(x, idx, list(size), [1, 1, 1], [0, 0, 0])


@primitive("max_unpool", torch=_torch_max_unpool, samples=_max_unpool_samples, saves="",
           formula="y = zeros of size, y[n, c, indices] = x;  dx = g gathered at indices")
def _max_unpool(xp, x, indices, size):
    """Each value of x written at its flat index into a zero (N, C, *size) output."""
    from chainrule.ops.indexing import _along
    n, ch = x.shape[:2]
    out = xp.zeros((n, ch, math.prod(size)), dtype=x.dtype)
    out[_along(xp, indices.reshape(n, ch, -1), 2)] = x.reshape(n, ch, -1)
    return out.reshape(n, ch, *size)


@_max_unpool.defvjp
def _(c, g):
    xp = c.xp
    x = c.x[0]
    n, ch = x.shape[:2]
    gx = xp.gather(xp.reshape(g, (n, ch, -1)), 2, c.p[0].reshape(n, ch, -1))
    return (xp.reshape(gx, x.shape),)


def _unpool_size(name: str, shape: Sequence[int], k: Sequence[int], s: Sequence[int],
                 p: Sequence[int], output_size: Any) -> tuple[int, ...]:
    """The output's spatial size: ``(n - 1) * s + k - 2 p`` per dim, or ``output_size`` (its
    spatial part) when it lies strictly within a stride of that, as PyTorch checks it."""
    nd = len(k)
    default = tuple((n - 1) * b + a - 2 * c for n, a, b, c in zip(shape, k, s, p))
    if output_size is None:
        out = default
    else:
        o = (int(output_size),) * nd if isinstance(output_size, int) else \
            tuple(int(v) for v in output_size)
        o = o[2:] if len(o) == nd + 2 else o
        if len(o) != nd:
            raise op_error(name, f"output_size={tuple(output_size)} has {len(o)} elements",
                           f"{nd} spatial sizes, or {nd + 2} (N, C, *spatial)", kind=ValueError)
        for d, (v, dflt, b) in enumerate(zip(o, default, s)):
            if not dflt - b < v < dflt + b:
                raise op_error(
                    name, f"output_size {o}: dim {d} is {v}",
                    f"a size strictly between {dflt - b} and {dflt + b} (an input of "
                    f"{fmt_shape(shape)} with kernel_size={tuple(k)}, stride={tuple(s)}, "
                    f"padding={tuple(p)} unpools to {fmt_shape(default)})", kind=ValueError)
        out = o
    if any(v < 0 for v in out):
        raise op_error(name, f"output size {fmt_shape(out)} has a negative dimension",
                       "non-negative spatial sizes (is the padding too large?)", kind=ValueError)
    return out


def _max_unpool_nd(name: str, nd: int, input: Any, indices: Any, kernel_size: Any, stride: Any,
                   padding: Any, output_size: Any) -> Tensor:
    k = _tuple(name, "kernel_size", kernel_size, nd)
    s = k if stride is None else _tuple(name, "stride", stride, nd)
    p = _tuple(name, "padding", padding, nd)
    x = input if isinstance(input, Tensor) else as_tensor(input)
    idx = indices._data if isinstance(indices, Tensor) else \
        backend.get_array_module(x._data).asarray(indices)
    if x.ndim not in (nd + 1, nd + 2):
        raise op_error(name, f"input has shape {fmt_shape(x.shape)}",
                       f"a {nd + 1}-D or {nd + 2}-D input (N, C, *spatial)")
    if idx.dtype != backend.int64:
        raise op_error(name, f"indices have dtype {idx.dtype}", "int64 indices, as "
                       f"max_pool{nd}d(..., return_indices=True) returns them", kind=DTypeError)
    if tuple(idx.shape) != tuple(x.shape):
        raise op_error(name, f"indices of shape {fmt_shape(idx.shape)} for an input of shape "
                       f"{fmt_shape(x.shape)}", "indices of the input's shape (one per value)")
    size = _unpool_size(name, x.shape[-nd:], k, s, p, output_size)
    plane = math.prod(size)
    bad = (idx < 0) | (idx >= plane)
    if bad.any():
        raise op_error(name, f"index {int(idx[bad].ravel()[0])} is outside the output plane "
                       f"{'x'.join(map(str, size))} ({plane} positions)",
                       f"flat indices in [0, {plane}) per (N, C) plane, as max_pool{nd}d's "
                       "return_indices gives them; pass output_size if the pooled input was "
                       "larger", kind=IndexError)
    unbatched = x.ndim == nd + 1
    if unbatched:
        x, idx = x.unsqueeze(0), idx[None]
    y = _max_unpool(x, idx, size)
    return y.squeeze(0) if unbatched else y


@public(functional=True, export=False)
def max_unpool1d(input: Any, indices: Any, kernel_size: Any, stride: Any = None,
                 padding: Any = 0, output_size: Any = None) -> Tensor:
    """Partial inverse of ``max_pool1d``: each value of (N, C, L) written at its index (from
    ``max_pool1d(..., return_indices=True)``) into zeros of length ``(L - 1) * stride +
    kernel_size - 2 * padding`` (or ``output_size``), as ``torch.nn.functional.max_unpool1d``.
    The gradient is the output gradient gathered at the indices."""
    return _max_unpool_nd("max_unpool1d", 1, input, indices, kernel_size, stride, padding,
                          output_size)


@public(functional=True, export=False)
def max_unpool2d(input: Any, indices: Any, kernel_size: Any, stride: Any = None,
                 padding: Any = 0, output_size: Any = None) -> Tensor:
    """Partial inverse of ``max_pool2d`` over (N, C, H, W), as
    ``torch.nn.functional.max_unpool2d``: indices flat per (H, W) plane of the output."""
    return _max_unpool_nd("max_unpool2d", 2, input, indices, kernel_size, stride, padding,
                          output_size)


@public(functional=True, export=False)
def max_unpool3d(input: Any, indices: Any, kernel_size: Any, stride: Any = None,
                 padding: Any = 0, output_size: Any = None) -> Tensor:
    """Partial inverse of ``max_pool3d`` over (N, C, D, H, W), as
    ``torch.nn.functional.max_unpool3d``: indices flat per (D, H, W) volume."""
    return _max_unpool_nd("max_unpool3d", 3, input, indices, kernel_size, stride, padding,
                          output_size)


# --- average pooling ----------------------------------------------------------------------------


def _divisor(xp: Any, shape: Sequence[int], out: Sequence[int], k: Sequence[int],
             s: Sequence[int], p: Sequence[int], include_pad: bool, dtype: Any) -> Any:
    """1 / (number of elements averaged) per output position, shape (1, 1, *out)."""
    inv = None
    nd = len(k)
    for j, (n, o, a, b, c) in enumerate(zip(shape, out, k, s, p)):
        start = xp.arange(o) * b - c
        end = xp.minimum(start + a, n + c)
        if not include_pad:
            start, end = xp.maximum(start, 0), xp.minimum(end, n)
        cnt = (end - start).astype(dtype).reshape((o,) + (1,) * (nd - 1 - j))
        inv = cnt if inv is None else inv * cnt
    return (1.0 / inv)[None, None]


def _avg_pool_samples(rng: Any):
    r = rng.standard_normal
    yield S.Sample([r((2, 2, 5))], ((2,), (2,), (0,), False, True, None), label="1-d")
    yield S.Sample([r((1, 2, 4, 4))], ((2, 2), (2, 2), (0, 0), False, True, None), label="2x2")
    yield S.Sample([r((2, 1, 5, 5))], ((3, 3), (2, 2), (1, 1), False, False, None),
                   label="3x3 stride 2 pad 1, count_include_pad=False")
    yield S.Sample([r((1, 2, 5, 6))], ((2, 3), (2, 1), (1, 1), True, True, None),
                   label="ceil_mode")
    yield S.Sample([r((1, 1, 4, 4))], ((2, 2), (1, 1), (0, 0), False, True, 3),
                   label="divisor_override")
    yield S.Sample([r((1, 2, 3, 4, 3))], ((2, 2, 2), (1, 2, 1), (1, 0, 1), False, False, None),
                   label="3-d, count_include_pad=False")


def _torch_avg_pool(torch: Any, x: Any, k: Any, s: Any, p: Any, ceil: bool, inc: bool,
                    div: Any) -> Any:
    if len(k) == 1:
        return torch.nn.functional.avg_pool1d(x, k, s, p, ceil, inc)
    f = getattr(torch.nn.functional, f"avg_pool{len(k)}d")
    return f(x, k, s, p, ceil, inc, div)


@primitive("avg_pool", torch=_torch_avg_pool, samples=_avg_pool_samples, saves="",
           formula="y = mean over each window;  dx: g / window size spread over each window")
def _avg_pool(xp, x, k, stride, padding, ceil_mode, count_include_pad, divisor_override):
    """Average pooling over the trailing len(k) dims."""
    _need_float("avg_pool", x)
    one = (1,) * len(k)
    out, pads = _geometry("avg_pool", x.shape[2:], k, stride, padding, one, ceil_mode)
    xpad = _pad_array(xp, x, pads)
    acc = None
    for _, sl in _offset_slices(k, stride, one, out):
        v = xpad[(slice(None), slice(None), *sl)]
        acc = v.copy() if acc is None else xp.add(acc, v, out=acc)
    if divisor_override:
        acc *= 1.0 / divisor_override
    else:
        acc *= _divisor(xp, x.shape[2:], out, k, stride, padding, count_include_pad, x.dtype)
    return acc


@_avg_pool.defvjp
def _(c, g):
    k, stride, padding, ceil_mode, inc, div = c.p
    x = c.x[0]
    one = (1,) * len(k)
    out, pads = _geometry("avg_pool", x.shape[2:], k, stride, padding, one, ceil_mode)
    xpa = backend.get_array_module(g) if type(g) is backend.ndarray else backend.xp
    scale = 1.0 / div if div else _divisor(xpa, x.shape[2:], out, k, stride, padding, inc,
                                           g.dtype)
    if type(g) is backend.ndarray:
        gs = g * scale
        psize = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads))
        dx = xpa.zeros((*x.shape[:2], *psize), dtype=g.dtype)
        for _, sl in _offset_slices(k, stride, one, out):
            dx[(slice(None), slice(None), *sl)] += gs
        crop = tuple(slice(lo, lo + a) for a, (lo, _) in zip(x.shape[2:], pads))
        return (dx[(slice(None), slice(None), *crop)],)
    ch = x.shape[1]
    w = xpa.ones((ch, 1, *k), dtype=g.dtype)
    return (c.xp.conv_input_grad(g * scale, w, (stride, pads, one, ch), x.shape[2:]),)


def _avg_pool_nd(name: str, nd: int, input: Any, kernel_size: Any, stride: Any, padding: Any,
                 ceil_mode: bool, count_include_pad: bool, divisor_override: Any) -> Any:
    k = _tuple(name, "kernel_size", kernel_size, nd)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else \
        _tuple(name, "stride", stride, nd)
    p = _tuple(name, "padding", padding, nd)
    x = input if isinstance(input, Tensor) else as_tensor(input)
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = x.unsqueeze(0)
    if x.ndim != nd + 2:
        raise op_error(name, f"input has shape {fmt_shape(x.shape)}",
                       f"a {nd + 1}-D or {nd + 2}-D input (N, C, *spatial)")
    y = _avg_pool(x, k, s, p, bool(ceil_mode), bool(count_include_pad),
                  int(divisor_override) if divisor_override else None)
    return y.squeeze(0) if unbatched else y


@public(functional=True)
def avg_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Any:
    """1-D average pooling over (N, C, L), as ``torch.nn.functional.avg_pool1d``."""
    return _avg_pool_nd("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                        count_include_pad, None)


@public(functional=True)
def avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Any:
    """2-D average pooling over (N, C, H, W), as ``torch.nn.functional.avg_pool2d``."""
    return _avg_pool_nd("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                        count_include_pad, divisor_override)


@public(functional=True)
def avg_pool3d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Any:
    """3-D average pooling over (N, C, D, H, W), as ``torch.nn.functional.avg_pool3d``."""
    return _avg_pool_nd("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode,
                        count_include_pad, divisor_override)


# --- power-average (LP) pooling (composed) -------------------------------------------------------


def _lp_root_samples(rng: Any):
    yield S.Sample([S.positive(rng, (2, 3))], (2.0, 4), label="p=2")
    yield S.Sample([S.positive(rng, (2, 1, 3))], (3.0, 2), label="p=3")
    yield S.Sample([S.positive(rng, (4,))], (1.5, 9), label="p=1.5")
    yield S.Sample([S.away_from_zero(rng, (3, 2))], (1.0, 3), label="p=1: signed sums")
    yield S.Sample([S.away_from_zero(rng, (3,))], (0.5, 2), label="p=0.5: a square, signed")


def _torch_lp_root(torch: Any, s: Any, norm_type: float, k: int) -> Any:
    return (torch.sign(s) * torch.relu(torch.abs(s))).mul(k).pow(1.0 / norm_type)


@primitive("lp_pool_root", torch=_torch_lp_root, samples=_lp_root_samples, saves="x,out",
           kinks=True, formula="y = (k s)^(1/p);  ds = g y / (p s), 0 where s = 0")
def _lp_pool_root(xp, s, norm_type, k):
    """LP pooling's last step, ``(k * mean of x^p)^(1/p)`` from the window means ``s``, as
    PyTorch computes it: NaN where a fractional root meets a negative sum (odd p), and a zero
    gradient where the sum is 0 (PyTorch's ``sign(s) * relu(|s|)``)."""
    t = s * float(k)
    e = 1.0 / norm_type
    if e.is_integer():
        return xp.power(t, e)
    return xp.where(t >= 0, xp.power(xp.maximum(t, 0.0), e), math.nan)


@_lp_pool_root.defvjp
def _(c, g):
    xp = c.xp
    norm_type, k = c.p
    t = c.x[0] * float(k)
    nz = t != 0
    return (xp.where(nz, g * c.out / xp.where(nz, t, 1.0) * (float(k) / norm_type), 0.0),)


def _lp_pool_nd(name: str, nd: int, input: Any, norm_type: float, kernel_size: Any,
                stride: Any, ceil_mode: bool) -> Tensor:
    """``(sum over each window of x^p)^(1/p)`` as PyTorch's ``lp_pool{nd}d``: ``avg_pool`` of
    ``x^p`` (no padding) times the kernel size, then the p-th root; p = inf is the max of
    ``|x|``, p = -inf its min."""
    from chainrule.ops import abs as _abs
    x = input if isinstance(input, Tensor) else as_tensor(input)
    _need_float(name, x._data)
    p = float(norm_type)
    if math.isinf(p):
        y = _max_pool_nd(name, nd, _abs(x) if p > 0 else -_abs(x), kernel_size, stride, 0, 1,
                         ceil_mode, False)
        return y if p > 0 else -y
    if p == 0:
        raise op_error(name, "norm_type=0", "a nonzero p (the root 1/p)", kind=ValueError)
    k = _tuple(name, "kernel_size", kernel_size, nd)
    y = _avg_pool_nd(name, nd, x ** p, k, stride, 0, ceil_mode, True, None)
    return _lp_pool_root(y, p, math.prod(k))


@public(functional=True, export=False)
def lp_pool1d(input: Any, norm_type: float, kernel_size: Any, stride: Any = None,
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling over (N, C, L): ``(sum of x^p over each window)^(1/p)``, as
    ``torch.nn.functional.lp_pool1d`` (p = 1 a sum, p = inf a max of |x|)."""
    return _lp_pool_nd("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)


@public(functional=True, export=False)
def lp_pool2d(input: Any, norm_type: float, kernel_size: Any, stride: Any = None,
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling over (N, C, H, W), as ``torch.nn.functional.lp_pool2d``."""
    return _lp_pool_nd("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


@public(functional=True, export=False)
def lp_pool3d(input: Any, norm_type: float, kernel_size: Any, stride: Any = None,
              ceil_mode: bool = False) -> Tensor:
    """Power-average pooling over (N, C, D, H, W), as ``torch.nn.functional.lp_pool3d``."""
    return _lp_pool_nd("lp_pool3d", 3, input, norm_type, kernel_size, stride, ceil_mode)


# --- adaptive pooling (composed) ----------------------------------------------------------------


def _adaptive_bounds(n: int, o: int) -> list[tuple[int, int]]:
    return [((i * n) // o, -(-((i + 1) * n) // o)) for i in range(o)]


def _out_sizes(name: str, output_size: Any, shape: Sequence[int]) -> tuple[int, ...]:
    nd = len(shape)
    o = (output_size,) * nd if isinstance(output_size, int) or output_size is None else \
        tuple(output_size)
    if len(o) != nd:
        raise op_error(name, f"output_size={output_size}", f"an int or {nd} sizes",
                       kind=ValueError)
    return tuple(n if a is None else int(a) for a, n in zip(o, shape))


def _spatial(name: str, input: Any, nd: int) -> Tensor:
    x = input if isinstance(input, Tensor) else as_tensor(input)
    if x.ndim not in (nd + 1, nd + 2):
        raise op_error(name, f"input has shape {fmt_shape(x.shape)}",
                       f"a {nd + 1}-D or {nd + 2}-D input (N, C, *spatial)")
    _need_float(name, x._data)
    return x


def _apply_matrices(x: Tensor, mats: Sequence[Any]) -> Tensor:
    """Apply one (out, in) matrix along each trailing dim: x @ A^T on the last, A @ x on the
    one before; a third from the end (3-d) on the (D, OH * OW) view."""
    from chainrule.ops import matmul
    nd = len(mats)
    if nd == 1:
        return matmul(x, as_tensor(mats[0].T.copy()))
    y = matmul(matmul(as_tensor(mats[-2]), x), as_tensor(mats[-1].T.copy()))
    if nd == 3:
        lead, (oh, ow) = y.shape[:-2], y.shape[-2:]
        y = matmul(as_tensor(mats[0]), y.reshape(*lead, oh * ow))
        y = y.reshape(*lead[:-1], y.shape[-2], oh, ow)
    return y


def adaptive_avg_matrix(xp: Any, n: int, o: int, dtype: Any) -> Any:
    """The (o, n) matrix that averages length ``n`` to ``o`` windows, as adaptive pooling."""
    a = xp.zeros((o, n), dtype=dtype)
    for i, (lo, hi) in enumerate(_adaptive_bounds(n, o)):
        a[i, lo:hi] = 1.0 / (hi - lo)
    return a


def _adaptive_avg(name: str, input: Any, output_size: Any, nd: int) -> Tensor:
    x = _spatial(name, input, nd)
    xp = backend.get_array_module(x._data)
    mats = [adaptive_avg_matrix(xp, n, o, x.dtype)
            for n, o in zip(x.shape[-nd:], _out_sizes(name, output_size, x.shape[-nd:]))]
    return _apply_matrices(x, mats)


@public(functional=True)
def adaptive_avg_pool1d(input: Any, output_size: Any) -> Tensor:
    """Average over windows chosen so the output has length ``output_size``, as
    ``torch.nn.functional.adaptive_avg_pool1d`` (a constant matrix along the last dim)."""
    return _adaptive_avg("adaptive_avg_pool1d", input, output_size, 1)


@public(functional=True)
def adaptive_avg_pool2d(input: Any, output_size: Any) -> Tensor:
    """Average pooling to a fixed (OH, OW) (``None`` keeps a size), as
    ``torch.nn.functional.adaptive_avg_pool2d``: ``P_h @ x @ P_w^T`` with constant matrices."""
    return _adaptive_avg("adaptive_avg_pool2d", input, output_size, 2)


@public(functional=True)
def adaptive_avg_pool3d(input: Any, output_size: Any) -> Tensor:
    """Average pooling of (N, C, D, H, W) to a fixed (OD, OH, OW) (``None`` keeps a size), as
    ``torch.nn.functional.adaptive_avg_pool3d``: one constant matrix along each dim."""
    return _adaptive_avg("adaptive_avg_pool3d", input, output_size, 3)


def _adaptive_max(name: str, input: Any, output_size: Any, nd: int,
                  return_indices: bool) -> Any:
    """Adaptive max pooling over the last ``nd`` dims: the arg-max of each window (computed
    from the values, flat per (N, C) plane as PyTorch's indices), then ``gather`` (its
    gradient). The first maximum wins a tie, as in PyTorch."""
    from chainrule.ops import gather
    x = _spatial(name, input, nd)
    xp = backend.get_array_module(x._data)
    shape, lead = x.shape[-nd:], x.shape[:-nd]
    out = _out_sizes(name, output_size, shape)
    a = x._data
    idx = xp.empty((*lead, *out), dtype=backend.int64)
    for cell in itertools.product(*(list(enumerate(_adaptive_bounds(n, o)))
                                    for n, o in zip(shape, out))):
        win = a[(Ellipsis, *(slice(lo, hi) for _, (lo, hi) in cell))]
        loc = win.reshape(*lead, -1).argmax(-1)
        offs = xp.unravel_index(loc, win.shape[-nd:]) if nd > 1 else (loc,)
        flat = 0
        for (_, (lo, _)), off, n in zip(cell, offs, shape):
            flat = flat * n + lo + off
        idx[(Ellipsis, *(i for i, _ in cell))] = flat
    plane = math.prod(out)
    y = gather(x.reshape(*lead, math.prod(shape)), -1, as_tensor(idx.reshape(*lead, plane)))
    y = y.reshape(*lead, *out)
    return (y, as_tensor(idx)) if return_indices else y


@public(functional=True, export=False)
def adaptive_max_pool1d(input: Any, output_size: Any, return_indices: bool = False) -> Any:
    """Max pooling of (N, C, L) to length ``output_size``, as
    ``torch.nn.functional.adaptive_max_pool1d``; ``return_indices`` adds the arg-max."""
    return _adaptive_max("adaptive_max_pool1d", input, output_size, 1, return_indices)


@public(functional=True)
def adaptive_max_pool2d(input: Any, output_size: Any, return_indices: bool = False) -> Any:
    """Max pooling to a fixed (OH, OW) (``None`` keeps a size), as
    ``torch.nn.functional.adaptive_max_pool2d``: the arg-max of each window (computed from the
    values), then ``gather`` (its gradient)."""
    return _adaptive_max("adaptive_max_pool2d", input, output_size, 2, return_indices)


@public(functional=True, export=False)
def adaptive_max_pool3d(input: Any, output_size: Any, return_indices: bool = False) -> Any:
    """Max pooling of (N, C, D, H, W) to a fixed (OD, OH, OW), as
    ``torch.nn.functional.adaptive_max_pool3d``; indices flat per (D, H, W) volume."""
    return _adaptive_max("adaptive_max_pool3d", input, output_size, 3, return_indices)


# --- interpolate (composed) ---------------------------------------------------------------------


def _linear_matrix(xp: Any, n: int, o: int, align: bool, scale: float | None, dtype: Any) -> Any:
    a = xp.zeros((o, n), dtype=dtype)
    for i in range(o):
        if align:
            src = i * (n - 1) / (o - 1) if o > 1 else 0.0
        else:
            r = (1.0 / scale) if scale else n / o
            src = max((i + 0.5) * r - 0.5, 0.0)
        i0 = min(math.floor(src), n - 1)
        i1 = min(i0 + 1, n - 1)
        lam = src - i0
        a[i, i0] += 1.0 - lam
        a[i, i1] += lam
    return a


@public(functional=True)
def interpolate(input: Any, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resample the spatial dims of (N, C, L) or (N, C, H, W), as
    ``torch.nn.functional.interpolate``: ``mode`` 'nearest', 'linear' (3-D) or 'bilinear' (4-D),
    to ``size`` or by ``scale_factor``. Linear modes are a constant matrix per dim
    (``align_corners`` as PyTorch); nearest picks ``floor(i * in / out)``."""
    from chainrule.ops import index_select
    x = input if isinstance(input, Tensor) else as_tensor(input)
    nd = x.ndim - 2
    if nd not in (1, 2):
        raise op_error("interpolate", f"input has shape {fmt_shape(x.shape)}",
                       "a 3-D (N, C, L) or 4-D (N, C, H, W) input")
    if antialias:
        raise op_error("interpolate", "antialias=True", "antialias=False (not implemented)",
                       kind=NotImplementedError)
    shape = x.shape[2:]
    if (size is None) == (scale_factor is None):
        raise op_error("interpolate", f"size={size}, scale_factor={scale_factor}",
                       "exactly one of size and scale_factor", kind=ValueError)
    if size is not None:
        out = _tuple("interpolate", "size", size, nd)
        scales: tuple = (None,) * nd
    else:
        sf = (float(scale_factor),) * nd if isinstance(scale_factor, (int, float)) else \
            tuple(float(v) for v in scale_factor)
        out = tuple(math.floor(n * f) for n, f in zip(shape, sf))
        scales = (None,) * nd if recompute_scale_factor else sf
    xp = backend.get_array_module(x._data)
    if mode == "nearest":
        if align_corners is not None:
            raise op_error("interpolate", f"align_corners={align_corners} with mode 'nearest'",
                           "align_corners only with the linear modes", kind=ValueError)
        for j, (n, o, f) in enumerate(zip(shape, out, scales)):
            r = (1.0 / f) if f else n / o
            idx = xp.minimum(xp.floor(xp.arange(o) * r).astype(backend.int64), n - 1)
            x = index_select(x, 2 + j, as_tensor(idx))
        return x
    if mode not in ("linear", "bilinear") or (mode == "linear") != (nd == 1):
        raise op_error("interpolate", f"mode {mode!r} for a {x.ndim}-D input",
                       "'nearest', 'linear' (3-D input) or 'bilinear' (4-D input)",
                       kind=NotImplementedError if mode in ("bicubic", "trilinear", "area",
                                                            "nearest-exact") else ValueError)
    _need_float("interpolate", x._data)
    mats = [_linear_matrix(xp, n, o, bool(align_corners), f, x.dtype)
            for n, o, f in zip(shape, out, scales)]
    return _apply_matrices(x, mats)
