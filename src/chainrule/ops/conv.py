"""Convolution: ``conv1d``/``conv2d``/``conv3d`` (stride, padding incl. 'same'/'valid', dilation,
groups), ``conv_transpose1d``/``conv_transpose2d``/``conv_transpose3d``, ``unfold``/``fold``;
NCHW, PyTorch's weight layouts.

Three primitives close under differentiation, so every one is differentiable again (order 2):

- ``conv(x, w, b)``: y = A_w x + b, computed as im2col + one GEMM;
- ``conv_transpose(y, w, b)``: A_w^T y + b (the input gradient of ``conv``: col2im of W^T g);
- ``conv_weight(x, g)``: the weight gradient of ``conv`` (g @ im2col(x)^T).

``conv``'s vjp is ``(conv_transpose(g, w), conv_weight(x, g), sum(g))``; ``conv_transpose``'s is
``(conv(g, w), conv_weight(g, y))``; ``conv_weight``'s is ``(conv_transpose(g, h), conv(x, h))``.

The algorithm, measured (forward + backward, float32, 1 thread, medians of interleaved rounds,
``OMP_NUM_THREADS=1 python -m bench.conv_layer``; table in docs/cnn.md): im2col as one
strided-view copy, then GEMMs: per sample (columns (N, C*kh*kw, OH*OW), batched matmul, output
and gradients stay NCHW with no transposes) when a sample has >= 256 output positions, else one
batch-innermost (C*kh*kw, OH*OW*N) matrix and a single GEMM (see ``_batched``; the batch
innermost makes im2col/col2im copy runs of OW*N values, not OW); grouped: a batched matmul over
groups. The backward reuses the saved columns for the weight gradient, computed as
``cols @ g^T`` (the long positions axis inner to both operands: 1.4x faster than ``g @ cols^T``
at 3x3 with 64 channels, 1.6x at LeNet's second layer, ~6x at its first). The input gradient
takes one of three routes (``conv_input_grad_arrays``): a stride-1 convolution whose gradient
needs no more columns than the forward (O * |input| <= 2 C * |output|, e.g. 64 -> 64 channels)
is itself a convolution of g with the flipped kernel, the offsets summed inside one GEMM
(16x64x32x32: 104 -> 76 ms against GEMM + col2im); batch-innermost layouts run one small GEMM
per kernel offset and add it while in cache (LeNet's second layer 4.0 -> 3.0 ms); the rest
scatters ``W^T @ g`` back with one strided add per kernel offset (col2im).
Against ``sliding_window_view`` + ``einsum`` (forward and both gradients), im2col + GEMM measured
2.4x faster at LeNet's first layer (64x1x28x28, 6x5x5: 16.9 vs 40.8 ms), 2.9x at a CIFAR-like
layer (32x3x32x32, 32x3x3: 27.7 vs 79.8 ms) and 1.2x at 3x3 with 64 channels (16x64x32x32:
276 vs 337 ms). 1x1 convolutions with stride 1 skip the im2col copy (a batched matmul on the
input itself; not separately measured). Measured and not taken, at 16x64x32x32: Winograd
F(2x2, 3x3) in NumPy (its 16 GEMMs 26-29 ms against the im2col GEMM's 41-48, but the tile
transforms, strided NumPy passes, cost ~60 ms: forward 92-132 ms against 64-73), NHWC columns
(one (N*H*W, 9C) GEMM: 99 vs 93 ms forward; its im2col copy is slower), and 9 per-offset
(N*H*W, C) x (C, O) GEMMs accumulated (input gradient 70-73 ms against 48 for the flipped
convolution).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from chainrule import backend
from chainrule.errors import DTypeError, fmt_shape, op_error
from chainrule.ops import samples as S
from chainrule.ops.registry import primitive, public

Pads = tuple[tuple[int, int], ...]


# --- geometry helpers (plain Python on shapes) --------------------------------------------------


def _tuple(name: str, what: str, v: Any, nd: int) -> tuple[int, ...]:
    if isinstance(v, (int, backend.integer)):
        return (int(v),) * nd
    t = tuple(int(a) for a in v)
    if len(t) == 1:
        return t * nd
    if len(t) != nd:
        raise op_error(name, f"{what}={tuple(v)} has {len(t)} values", f"an int or {nd} ints",
                       kind=ValueError)
    return t


def out_size(n: int, k: int, s: int, lo: int, hi: int, d: int) -> int:
    """Output length along one dim of a window of size k, stride s, dilation d, padding lo/hi."""
    return (n + lo + hi - d * (k - 1) - 1) // s + 1


def _pad_array(xp: Any, x: Any, pad: Pads, value: float = 0.0, last: bool = False) -> Any:
    """x (N, C, *S) padded by ``pad`` with ``value``; with ``last``, as (C, *padded, N) (the
    batch innermost) in the same copy. An allocation and one slice assignment: ``xp.pad``
    costs ~0.1 ms of Python per call, as much as a LeNet layer's whole padding copy."""
    nd = x.ndim - 2
    if last:
        x = x.transpose(1, *range(2, 2 + nd), 0)
        if not any(lo or hi for lo, hi in pad):
            return xp.ascontiguousarray(x)
        inner = (slice(None), *(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[1:], pad)),
                 slice(None))
        shape = (x.shape[0], *(n + lo + hi for n, (lo, hi) in zip(x.shape[1:], pad)),
                 x.shape[-1])
    else:
        if not any(lo or hi for lo, hi in pad):
            return x
        inner = (slice(None), slice(None),
                 *(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[2:], pad)))
        shape = (*x.shape[:2], *(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pad)))
    out = xp.zeros(shape, dtype=x.dtype) if value == 0 else xp.full(shape, value, dtype=x.dtype)
    out[inner] = x
    return out


def window_view(xp: Any, xpad: Any, k: Sequence[int], s: Sequence[int], d: Sequence[int],
                out: Sequence[int]) -> Any:
    """A read-only strided view (N, C, *out, *k) of the windows of a padded (N, C, *S) array."""
    st = xpad.strides
    strides = (st[0], st[1], *(a * b for a, b in zip(st[2:], s)),
               *(a * b for a, b in zip(st[2:], d)))
    return xp.lib.stride_tricks.as_strided(xpad, (*xpad.shape[:2], *out, *k), strides,
                                           writeable=False)


def _offset_slices(k: Sequence[int], s: Sequence[int], d: Sequence[int], out: Sequence[int]):
    """For each kernel offset (in C order), the strided slices of the padded input it reads."""
    for idx in itertools.product(*(range(a) for a in k)):
        yield idx, tuple(slice(i * di, i * di + si * (o - 1) + 1, si)
                         for i, di, si, o in zip(idx, d, s, out))


def _batched(out: Sequence[int]) -> bool:
    """Layout choice: per-sample columns (N, C*K, L) and batched GEMMs when each sample has many
    output positions (no transposes of the output or its gradient); else one batch-innermost
    (C*K, L*N) matrix and single GEMMs (small per-sample GEMMs cost more than the transposes).
    Measured interleaved on forward + backward: the per-sample layout 1.3-1.4x faster at 28x28
    and 32x32 outputs, 0.85x at LeNet's second layer (10x10 outputs)."""
    return math.prod(out) >= 256


def _im2col(xp: Any, x: Any, k: Sequence[int], stride: Sequence[int], pad: Pads,
            dil: Sequence[int]) -> tuple[Any, tuple[int, ...]]:
    """Columns (N, C * prod(k), prod(out)) if ``_batched(out)``, else (C * prod(k),
    N * prod(out)) (one strided copy either way), and the output's spatial shape."""
    nd = len(k)
    out = tuple(out_size(n, kk, s, lo, hi, d)
                for n, kk, s, (lo, hi), d in zip(x.shape[2:], k, stride, pad, dil))
    ck = x.shape[1] * math.prod(k)
    if _batched(out):
        v = window_view(xp, _pad_array(xp, x, pad), k, stride, dil, out)
        v = v.transpose(0, 1, *range(2 + nd, 2 + 2 * nd), *range(2, 2 + nd))
        return xp.ascontiguousarray(v).reshape(x.shape[0], ck, -1), out
    # batch innermost: (C, *padded, N), so each window row copies OW * N contiguous values
    xt = _pad_array(xp, x, pad, last=True)
    st = xt.strides
    v = xp.lib.stride_tricks.as_strided(
        xt, (xt.shape[0], *k, *out, xt.shape[-1]),
        (st[0], *(a * b for a, b in zip(st[1:-1], dil)),
         *(a * b for a, b in zip(st[1:-1], stride)), st[-1]), writeable=False)
    return xp.ascontiguousarray(v).reshape(ck, -1), out


def _grads_rows(g: Any) -> Any:
    """g (N, O, *out) as (O, prod(out) * N): the batch innermost, as ``_im2col``'s columns."""
    xp = backend.get_array_module(g)
    return xp.ascontiguousarray(g.transpose(1, *range(2, g.ndim), 0)).reshape(g.shape[1], -1)


def _pointwise(k: Sequence[int], stride: Sequence[int], pad: Pads, groups: int) -> bool:
    return groups == 1 and all(a == 1 for a in k) and all(a == 1 for a in stride) and \
        not any(lo or hi for lo, hi in pad)


def conv_arrays(x: Any, w: Any, geom: tuple, want_cols: bool = False) -> Any:
    """The convolution of arrays (no bias); with ``want_cols``, also the im2col columns."""
    xp = backend.get_array_module(x)
    stride, pad, dil, groups = geom
    n, o, k = x.shape[0], w.shape[0], w.shape[2:]
    if _pointwise(k, stride, pad, groups):
        y = xp.matmul(w.reshape(o, -1), x.reshape(n, x.shape[1], -1))
        y = y.reshape(n, o, *x.shape[2:])
        return (y, None) if want_cols else y
    cols, out = _im2col(xp, x, k, stride, pad, dil)
    if cols.ndim == 3:
        if groups == 1:
            y = xp.matmul(w.reshape(o, -1), cols)
        else:
            y = xp.matmul(w.reshape(groups, o // groups, -1),
                          cols.reshape(n, groups, -1, cols.shape[2]))
        y = y.reshape(n, o, *out)
    else:
        if groups == 1:
            y = w.reshape(o, -1) @ cols
        else:
            y = xp.matmul(w.reshape(groups, o // groups, -1),
                          cols.reshape(groups, -1, cols.shape[1])).reshape(o, -1)
        nd = len(out)
        y = xp.ascontiguousarray(y.reshape(o, *out, n).transpose(nd + 1, 0, *range(1, nd + 1)))
    return (y, cols) if want_cols else y


def _col2im(xp: Any, dcols: Any, n: int, c: int, size: Sequence[int], k: Sequence[int],
            stride: Sequence[int], pad: Pads, dil: Sequence[int], out: Sequence[int]) -> Any:
    """The transpose of im2col: columns summed back to (N, C, *size). Columns come per sample
    (N, C*K, L) when ``_batched(out)``, else batch-innermost (C*K, *out, N): then every strided
    add runs over OW * N contiguous values instead of OW (LeNet's second layer: col2im 3.9 ->
    1.0 ms, its input gradient 5.1 -> 2.2 ms; docs/cnn.md)."""
    batched = _batched(out)
    psize = tuple(a + lo + hi for a, (lo, hi) in zip(size, pad))
    if batched:
        dcols = dcols.reshape(n, c, *k, *out)
        dx = xp.zeros((n, c, *psize), dtype=dcols.dtype)
        for idx, sl in _offset_slices(k, stride, dil, out):
            dx[(slice(None), slice(None), *sl)] += dcols[(slice(None), slice(None), *idx)]
        if any(lo or hi for lo, hi in pad):
            dx = dx[(slice(None), slice(None),
                     *(slice(lo, lo + a) for a, (lo, _) in zip(size, pad)))]
        return xp.ascontiguousarray(dx)
    dcols = dcols.reshape(c, *k, *out, n)
    dx = xp.zeros((c, *psize, n), dtype=dcols.dtype)
    for idx, sl in _offset_slices(k, stride, dil, out):
        dx[(slice(None), *sl)] += dcols[(slice(None), *idx)]
    dx = dx[(slice(None), *(slice(lo, lo + a) for a, (lo, _) in zip(size, pad)))]
    nd = len(k)
    return xp.ascontiguousarray(dx.transpose(nd + 1, 0, *range(1, nd + 1)))


def _flipped_pads(k: Sequence[int], stride: Sequence[int], pad: Pads, dil: Sequence[int],
                  groups: int, size: Sequence[int], out: Sequence[int]) -> Pads | None:
    """The padding under which the input gradient of a stride-1 convolution is itself a
    convolution of g (with the flipped kernel), or None where it is not (strides, groups,
    padding wider than the dilated kernel)."""
    if groups != 1 or any(s != 1 for s in stride):
        return None
    pads = []
    for kk, (lo, _), d, a, o in zip(k, pad, dil, size, out):
        lo2 = d * (kk - 1) - lo
        hi2 = a - o + d * (kk - 1) - lo2
        if lo2 < 0 or hi2 < 0:
            return None
        pads.append((lo2, hi2))
    return tuple(pads)


def _offset_accumulate(xp: Any, w: Any, rows: Any, n: int, c: int, size: Sequence[int],
                       k: Sequence[int], stride: Sequence[int], pad: Pads, dil: Sequence[int],
                       out: Sequence[int]) -> Any:
    """The input gradient from g as batch-innermost rows (O, prod(out) * N): per kernel offset
    one (C, O) @ rows GEMM, added into its strided slice of the (C, *padded, N) gradient while
    the product is still in cache (no (C * K, L * N) intermediate; LeNet's second layer 4.0 ->
    3.0 ms)."""
    nd = len(k)
    psize = tuple(a + lo + hi for a, (lo, hi) in zip(size, pad))
    dx = xp.zeros((c, *psize, n), dtype=rows.dtype)
    wk = xp.ascontiguousarray(w.transpose(*range(2, 2 + nd), 1, 0))  # (*k, C, O)
    tmp = xp.empty((c, rows.shape[1]), dtype=rows.dtype)
    for idx, sl in _offset_slices(k, stride, dil, out):
        xp.matmul(wk[idx], rows, out=tmp)
        dx[(slice(None), *sl)] += tmp.reshape(c, *out, n)
    dx = dx[(slice(None), *(slice(lo, lo + a) for a, (lo, _) in zip(size, pad)))]
    return xp.ascontiguousarray(dx.transpose(nd + 1, 0, *range(1, nd + 1)))


def conv_input_grad_arrays(g: Any, w: Any, geom: tuple, size: Sequence[int],
                           rows: Any = None) -> Any:
    """The transposed convolution of arrays: the gradient of ``conv`` with respect to its input
    of spatial shape ``size``."""
    xp = backend.get_array_module(g)
    stride, pad, dil, groups = geom
    n, o, out, k = g.shape[0], g.shape[1], g.shape[2:], w.shape[2:]
    c = w.shape[1] * groups
    if _pointwise(k, stride, pad, groups):
        return xp.matmul(w.reshape(o, c).T, g.reshape(n, o, -1)).reshape(n, c, *out)
    flip = _flipped_pads(k, stride, pad, dil, groups, size, out)
    if flip is not None and o * math.prod(size) <= 2 * c * math.prod(out):
        # a stride-1 convolution of g with the flipped, transposed kernel: the sum over the
        # kernel offsets happens inside one GEMM (K = O * prod(k)) instead of a col2im
        wf = w[(slice(None), slice(None), *(slice(None, None, -1),) * len(k))].swapaxes(0, 1)
        return conv_arrays(g, xp.ascontiguousarray(wf), (stride, flip, dil, 1))
    wt = w.reshape(o, -1).T if groups == 1 else \
        w.reshape(groups, o // groups, -1).swapaxes(1, 2)
    if groups == 1 and not _batched(out):  # per-offset GEMMs, each added while in cache
        rows = _grads_rows(g) if rows is None else rows
        return _offset_accumulate(xp, w, rows, n, c, size, k, stride, pad, dil, out)
    if _batched(out):
        dcols = xp.matmul(wt, g.reshape(n, o, -1) if groups == 1 else
                          g.reshape(n, groups, o // groups, -1))
    else:  # g as (O, *out, N): the batch innermost, for col2im's long runs
        rows = _grads_rows(g) if rows is None else rows
        dcols = wt @ rows if groups == 1 else xp.matmul(wt, rows.reshape(groups, o // groups, -1))
    return _col2im(xp, dcols, n, c, size, k, stride, pad, dil, out)


def conv_weight_grad_arrays(x: Any, g: Any, geom: tuple, k: Sequence[int],
                            cols: Any = None, rows: Any = None) -> Any:
    """The gradient of ``conv`` with respect to its weight (kernel spatial shape ``k``): per
    sample ``g_n @ cols_n^T`` (batched GEMMs), summed over the batch."""
    xp = backend.get_array_module(x)
    stride, pad, dil, groups = geom
    n, c, o = x.shape[0], x.shape[1], g.shape[1]
    if _pointwise(k, stride, pad, groups):
        gw = xp.matmul(g.reshape(n, o, -1), x.reshape(n, c, -1).swapaxes(1, 2)).sum(0)
        return gw.reshape(o, c, *k)
    if cols is None:
        cols, _ = _im2col(xp, x, k, stride, pad, dil)
    if cols.ndim == 3:
        if groups == 1:  # cols_n @ g_n^T, not g_n @ cols_n^T: 1.4-6x faster (module docstring)
            gw = xp.matmul(cols, g.reshape(n, o, -1).swapaxes(1, 2)).sum(0).T
        else:
            gw = xp.matmul(g.reshape(n, groups, o // groups, -1),
                           cols.reshape(n, groups, -1, cols.shape[2]).swapaxes(2, 3)).sum(0)
    else:
        rows = _grads_rows(g) if rows is None else rows
        if groups == 1:
            gw = (cols @ rows.T).T
        else:
            gw = xp.matmul(rows.reshape(groups, o // groups, -1),
                           cols.reshape(groups, -1, cols.shape[1]).swapaxes(1, 2))
    return gw.reshape(o, c // groups, *k)


def _bias_shape(b: Any, nd: int) -> Any:
    return b.reshape(1, -1, *(1,) * nd)


# --- checks -------------------------------------------------------------------------------------


def _check(name: str, x: Any, w: Any, b: Any, groups: int, transposed: bool = False) -> None:
    if x.dtype.kind != "f" or w.dtype.kind != "f":
        raise op_error(name, f"input has dtype {x.dtype} and weight {w.dtype}",
                       "floating-point tensors", "convert them first, e.g. x.float()",
                       kind=DTypeError)
    nd = w.ndim - 2
    if x.ndim != nd + 2:
        raise op_error(name, f"input has shape {fmt_shape(x.shape)} for a weight of shape "
                       f"{fmt_shape(w.shape)}", f"a {nd + 2}-D input (N, C, "
                       f"{', '.join('HW'[-nd:] if nd <= 2 else 'DHW')})",
                       "add a batch dimension with x.unsqueeze(0)" if x.ndim == nd + 1 else "")
    c = x.shape[1]
    if transposed:
        if c != w.shape[0]:
            raise op_error(name, f"input {fmt_shape(x.shape)} has {c} channels but weight "
                           f"{fmt_shape(w.shape)} takes in_channels={w.shape[0]}",
                           "weight of shape (in_channels, out_channels / groups, *kernel)")
        out_c = w.shape[1] * groups
    else:
        if c != w.shape[1] * groups:
            raise op_error(name, f"input {fmt_shape(x.shape)} has {c} channels but weight "
                           f"{fmt_shape(w.shape)} with groups={groups} takes "
                           f"{w.shape[1] * groups}",
                           "weight of shape (out_channels, in_channels / groups, *kernel)")
        if w.shape[0] % groups:
            raise op_error(name, f"out_channels {w.shape[0]} is not divisible by groups "
                           f"{groups}", "out_channels a multiple of groups", kind=ValueError)
        out_c = w.shape[0]
    if b is not None and b.shape != (out_c,):
        raise op_error(name, f"bias has shape {fmt_shape(b.shape)}", f"a bias of shape ({out_c},)")


# --- the three primitives -----------------------------------------------------------------------


def _torch_pad(torch: Any, x: Any, pad: Pads) -> Any:
    flat = [a for lo_hi in reversed(pad) for a in lo_hi]
    return torch.nn.functional.pad(x, flat)


def _torch_conv(torch: Any, x: Any, w: Any, b: Any, stride: Any, pad: Pads, dil: Any,
                groups: int) -> Any:
    f = getattr(torch.nn.functional, f"conv{w.ndim - 2}d")
    return f(_torch_pad(torch, x, pad), w, b, stride, 0, dil, groups)


def _conv_samples(rng: Any):
    r = rng.standard_normal
    one, two = ((1, 1),), ((1, 1), (1, 1))
    yield S.Sample([r((2, 2, 5)), r((3, 2, 3)), r((3,))], ((1,), ((0, 0),), (1,), 1),
                   label="conv1d")
    yield S.Sample([r((1, 2, 7)), r((2, 1, 2)), None], ((2,), one, (2,), 2),
                   label="conv1d stride 2, pad 1, dilation 2, groups 2, no bias")
    yield S.Sample([r((2, 2, 4, 5)), r((3, 2, 3, 2)), r((3,))], ((1, 1), two, (1, 1), 1),
                   label="conv2d pad 1")
    yield S.Sample([r((1, 4, 5, 5)), r((4, 2, 2, 3)), r((4,))], ((2, 1), ((0, 1), (1, 1)),
                                                                   (1, 2), 2),
                   label="conv2d stride (2, 1), asymmetric pad ('same'), dilation, groups")
    yield S.Sample([r((2, 3, 2, 2)), r((2, 3, 1, 1)), r((2,))], ((1, 1), ((0, 0),) * 2,
                                                                   (1, 1), 1), label="1x1")
    yield S.Sample([r((1, 1, 1, 1)), r((1, 1, 1, 1)), r((1,))], ((1, 1), ((0, 0),) * 2,
                                                                   (1, 1), 1), label="size 1")
    yield S.Sample([r((1, 2, 3, 3, 2)), r((2, 1, 2, 2, 2)), r((2,))],
                   ((1, 2, 1), ((1, 0), (0, 1), (1, 1)), (1, 1, 1), 2),
                   label="conv3d stride, asymmetric pad, groups")


@primitive("conv", nin=3, res=True, torch=_torch_conv, samples=_conv_samples,
           formula="y = W * x + b (cross-correlation);  dx = conv_transpose(g, W);  "
                   "dW = sum over positions of g x input patch;  db = sum(g)")
def _conv(xp, x, w, b, stride, padding, dilation, groups):
    """N-d convolution (cross-correlation), im2col + one GEMM."""
    _check("conv", x, w, b, groups)
    y, cols = conv_arrays(x, w, (stride, padding, dilation, groups), want_cols=True)
    if b is not None:
        y += _bias_shape(b, w.ndim - 2)
    return y, cols


@_conv.defvjp
def _(c, g):
    x, w, _ = c.x
    geom = c.p
    need = c.need
    if type(g) is backend.ndarray:  # first order on arrays: reuse the forward's columns
        rows = _grads_rows(g) if c.res is not None and c.res.ndim == 2 and all(need[:2]) \
            else None
        gx = conv_input_grad_arrays(g, w, geom, x.shape[2:], rows) if need[0] else None
        gw = conv_weight_grad_arrays(x, g, geom, w.shape[2:], c.res, rows) if need[1] else None
        gb = g.sum(axis=(0, *range(2, g.ndim))) if need[2] else None
        return gx, gw, gb
    xp = c.xp
    gx = xp.conv_input_grad(g, w, geom, x.shape[2:]) if need[0] else None
    gw = xp.conv_weight_grad(x, g, geom, w.shape[2:]) if need[1] else None
    gb = xp.sum(g, (0, *range(2, g.ndim))) if need[2] else None
    return gx, gw, gb


def _torch_conv_t(torch: Any, x: Any, w: Any, b: Any, stride: Any, pad: Pads, dil: Any,
                  groups: int, size: Any) -> Any:
    f = getattr(torch.nn.functional, f"conv_transpose{w.ndim - 2}d")
    p = tuple(lo for lo, _ in pad)
    natural = [(n - 1) * s - 2 * pp + d * (k - 1) + 1
               for n, s, pp, d, k in zip(x.shape[2:], stride, p, dil, w.shape[2:])]
    op = tuple(a - b for a, b in zip(size, natural))
    return f(x, w, b, stride, p, op, groups, dil)


def _conv_t_samples(rng: Any):
    r = rng.standard_normal
    z1, z2 = ((0, 0),), ((0, 0), (0, 0))
    yield S.Sample([r((2, 3, 4)), r((3, 2, 3)), r((2,))], ((1,), z1, (1,), 1, (6,)),
                   label="conv_transpose1d")
    yield S.Sample([r((1, 2, 3, 3)), r((2, 3, 3, 3)), r((3,))], ((2, 2), ((1, 1), (1, 1)),
                                                                   (1, 1), 1, (6, 5)),
                   label="conv_transpose2d stride 2, pad 1, output_padding (1, 0)")
    yield S.Sample([r((1, 4, 3, 2)), r((4, 1, 2, 2)), None], ((1, 1), z2, (2, 1), 2, (5, 3)),
                   label="dilation, groups, no bias")
    yield S.Sample([r((1, 2, 4, 3)), r((2, 3, 3, 3)), r((3,))], ((1, 1), z2, (2, 2), 1, (9, 8)),
                   label="stride 1, dilation 2, output_padding 1 (past the last window)")
    yield S.Sample([r((1, 4, 2, 3, 2)), r((4, 1, 2, 2, 3)), r((2,))],
                   ((2, 1, 2), ((1, 1), (0, 0), (1, 1)), (1, 2, 1), 2, (3, 6, 4)),
                   label="conv_transpose3d stride, pad, dilation, groups, output_padding")


@primitive("conv_transpose", nin=3, torch=_torch_conv_t, samples=_conv_t_samples,
           formula="y = W^T * x + b (the input gradient of conv);  dx = conv(g, W);  "
                   "dW = conv_weight(g, x);  db = sum(g)")
def _conv_transpose(xp, x, w, b, stride, padding, dilation, groups, size):
    """N-d transposed convolution to spatial shape ``size`` (the adjoint of ``conv``)."""
    _check("conv_transpose", x, w, b, groups, transposed=True)
    y = conv_input_grad_arrays(x, w, (stride, padding, dilation, groups), size)
    if b is not None:
        y += _bias_shape(b, w.ndim - 2)
    return y


@_conv_transpose.defvjp
def _(c, g):
    x, w, _ = c.x
    geom, xp, need = c.p[:4], c.xp, c.need
    gb = xp.sum(g, (0, *range(2, g.ndim))) if need[2] else None
    stride, pad, dil, groups = geom
    # with output_padding, g may extend past the last window (in the high padding, or past it:
    # positions only the bias reaches): the high padding that makes the windows end exactly
    # there, cropping g where negative (else a stride-1 dilated conv finds extra windows)
    his = [(a - 1) * s + d * (kk - 1) + 1 - lo - n for a, s, d, kk, (lo, _), n
           in zip(x.shape[2:], stride, dil, w.shape[2:], pad, g.shape[2:])]
    if any(h < 0 for h in his):
        g = g[(slice(None), slice(None), *(slice(0, n + min(h, 0))
                                           for n, h in zip(g.shape[2:], his)))]
    if any(h != hi for h, (_, hi) in zip(his, pad)):
        geom = (stride, tuple((lo, max(h, 0)) for h, (lo, _) in zip(his, pad)), dil, groups)
    gx = xp.conv(g, w, geom) if need[0] else None
    gw = xp.conv_weight_grad(g, x, geom, w.shape[2:]) if need[1] else None
    return gx, gw, gb


def _torch_conv_w(torch: Any, x: Any, g: Any, stride: Any, pad: Pads, dil: Any, groups: int,
                  k: Any) -> Any:
    nd = len(k)
    f = getattr(torch.nn.grad, f"conv{nd}d_weight")
    wshape = (g.shape[1], x.shape[1] // groups, *k)
    return f(_torch_pad(torch, x, pad), wshape, g, stride, 0, dil, groups)


def _conv_w_samples(rng: Any):
    r = rng.standard_normal
    yield S.Sample([r((2, 2, 5)), r((2, 3, 3))], ((1,), ((0, 0),), (1,), 1, (3,)),
                   label="1-d")
    yield S.Sample([r((1, 2, 5, 4)), r((1, 2, 3, 4))], ((2, 1), ((1, 0), (0, 0)), (1, 2), 2,
                                                       (2, 1)),
                   label="2-d stride, pad, dilation, groups")


@primitive("conv_weight", nin=2, torch=_torch_conv_w, samples=_conv_w_samples,
           formula="dW = sum over positions of g x input patch;  d/dx = conv_transpose(g, h);  "
                   "d/dg = conv(x, h)")
def _conv_weight(xp, x, g, stride, padding, dilation, groups, k):
    """The weight gradient of ``conv`` as a function of its input and output gradient."""
    return conv_weight_grad_arrays(x, g, (stride, padding, dilation, groups), k)


@_conv_weight.defvjp
def _(c, h):
    x, g = c.x
    geom, xp, need = c.p[:4], c.xp, c.need
    gx = xp.conv_input_grad(g, h, geom, x.shape[2:]) if need[0] else None
    gg = xp.conv(x, h, geom) if need[1] else None
    return gx, gg


# --- public functions ---------------------------------------------------------------------------


def _shape(v: Any) -> tuple[int, ...]:
    return tuple(v.shape) if hasattr(v, "shape") else ()


def _conv_pads(name: str, padding: Any, k: Sequence[int], stride: Sequence[int],
               dil: Sequence[int]) -> Pads:
    nd = len(k)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding == "same":
            if any(s != 1 for s in stride):
                raise op_error(name, f"padding='same' with stride {tuple(stride)}",
                               "stride 1 (PyTorch does not support 'same' for strided "
                               "convolutions)", kind=ValueError)
            tot = [d * (kk - 1) for d, kk in zip(dil, k)]
            return tuple((t // 2, t - t // 2) for t in tot)
        raise op_error(name, f"padding={padding!r}", "an int, a tuple, 'same' or 'valid'",
                       kind=ValueError)
    return tuple((p, p) for p in _tuple(name, "padding", padding, nd))


def _convnd(name: str, nd: int, input: Any, weight: Any, bias: Any, stride: Any, padding: Any,
            dilation: Any, groups: int) -> Any:
    ws = _shape(weight)
    if len(ws) != nd + 2:
        raise op_error(name, f"weight has shape {fmt_shape(ws)}",
                       f"a {nd + 2}-D weight (out_channels, in_channels / groups, *kernel)")
    st = _tuple(name, "stride", stride, nd)
    dil = _tuple(name, "dilation", dilation, nd)
    pads = _conv_pads(name, padding, ws[2:], st, dil)
    xs = _shape(input)
    if len(xs) == nd + 1:  # unbatched input, as PyTorch accepts
        return _conv(input.unsqueeze(0), weight, bias, st, pads, dil, int(groups)).squeeze(0)
    if len(xs) == nd + 2:
        small = [i for i, (n, (lo, hi), d, k) in enumerate(zip(xs[2:], pads, dil, ws[2:]))
                 if n + lo + hi < d * (k - 1) + 1]
        if small:
            raise op_error(name, f"input {fmt_shape(xs)} padded by {pads} is smaller than the "
                           f"kernel {fmt_shape(ws[2:])} (dilation {dil})",
                           "an input at least as large as the (dilated) kernel",
                           kind=ValueError)
    return _conv(input, weight, bias, st, pads, dil, int(groups))


@public(functional=True)
def conv1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Any:
    """1-D convolution over (N, C, L) with weight (out, in / groups, k), as
    ``torch.nn.functional.conv1d``; ``padding`` may be 'same' or 'valid'."""
    return _convnd("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


@public(functional=True)
def conv2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Any:
    """2-D convolution (cross-correlation) over (N, C, H, W) with weight (out, in / groups, kh,
    kw), as ``torch.nn.functional.conv2d``; ``padding`` may be an int, a pair, 'same' or 'valid'.

    Fused im2col + one GEMM (see ``chainrule.ops.conv``); forward + backward vs PyTorch at one
    thread in docs/cnn.md (``python -m bench.conv_layer``).
    """
    return _convnd("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


@public(functional=True)
def conv3d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Any:
    """3-D convolution over (N, C, D, H, W) with weight (out, in / groups, kd, kh, kw), as
    ``torch.nn.functional.conv3d`` (the same N-d im2col + GEMM as ``conv2d``)."""
    return _convnd("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose_nd(name: str, nd: int, input: Any, weight: Any, bias: Any, stride: Any,
                       padding: Any, output_padding: Any, groups: int, dilation: Any) -> Any:
    ws = _shape(weight)
    if len(ws) != nd + 2:
        raise op_error(name, f"weight has shape {fmt_shape(ws)}",
                       f"a {nd + 2}-D weight (in_channels, out_channels / groups, *kernel)")
    st = _tuple(name, "stride", stride, nd)
    dil = _tuple(name, "dilation", dilation, nd)
    p = _tuple(name, "padding", padding, nd)
    op = _tuple(name, "output_padding", output_padding, nd)
    unbatched = len(_shape(input)) == nd + 1
    x = input.unsqueeze(0) if unbatched else input
    xs = _shape(x)
    natural = [(n - 1) * s - 2 * pp + d * (k - 1) + 1
               for n, s, pp, d, k in zip(xs[2:], st, p, dil, ws[2:])]
    for o, s, d in zip(op, st, dil):
        if not 0 <= o < max(s, d):
            raise op_error(name, f"output_padding {o}", f"0 <= output_padding < max(stride, "
                           f"dilation) = {max(s, d)}", kind=ValueError)
    size = tuple(a + b for a, b in zip(natural, op))
    y = _conv_transpose(x, weight, bias, st, tuple((a, a) for a in p), dil, int(groups), size)
    return y.squeeze(0) if unbatched else y


@public(functional=True)
def conv_transpose1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Any:
    """1-D transposed convolution, as ``torch.nn.functional.conv_transpose1d``; weight
    (in, out / groups, k)."""
    return _conv_transpose_nd("conv_transpose1d", 1, input, weight, bias, stride, padding,
                              output_padding, groups, dilation)


@public(functional=True)
def conv_transpose2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Any:
    """2-D transposed convolution (the gradient of conv2d with respect to its input), as
    ``torch.nn.functional.conv_transpose2d``; weight (in, out / groups, kh, kw). Output size
    ``(H - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1``."""
    return _conv_transpose_nd("conv_transpose2d", 2, input, weight, bias, stride, padding,
                              output_padding, groups, dilation)


@public(functional=True)
def conv_transpose3d(input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Any:
    """3-D transposed convolution over (N, C, D, H, W), as
    ``torch.nn.functional.conv_transpose3d``; weight (in, out / groups, kd, kh, kw) (the same
    N-d ``conv_transpose`` op as ``conv_transpose2d``)."""
    return _conv_transpose_nd("conv_transpose3d", 3, input, weight, bias, stride, padding,
                              output_padding, groups, dilation)


def _onehot_kernel(xp: Any, c: int, k: Sequence[int], dtype: Any) -> Any:
    kk = math.prod(k)
    eye = xp.eye(kk, dtype=dtype).reshape(kk, 1, *k)
    return xp.ascontiguousarray(xp.broadcast_to(eye[None], (c, kk, 1, *k))).reshape(
        c * kk, 1, *k)


@public(functional=True)
def unfold(input: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
           stride: Any = 1) -> Any:
    """im2col, as ``torch.nn.functional.unfold``: (N, C, H, W) -> (N, C * kh * kw, L), one
    column per sliding-window position. A convolution with a one-hot kernel per offset
    (so its gradient is ``fold`` and it is differentiable twice)."""
    xs = _shape(input)
    if len(xs) != 4:
        raise op_error("unfold", f"input has shape {fmt_shape(xs)}", "a 4-D input (N, C, H, W)")
    k = _tuple("unfold", "kernel_size", kernel_size, 2)
    w = _onehot_kernel(backend.xp, xs[1], k, input.dtype)
    y = _conv(input, w, None, _tuple("unfold", "stride", stride, 2),
              tuple((p, p) for p in _tuple("unfold", "padding", padding, 2)),
              _tuple("unfold", "dilation", dilation, 2), xs[1])
    return y.reshape(xs[0], y.shape[1], -1)


@public(functional=True)
def fold(input: Any, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0,
         stride: Any = 1) -> Any:
    """col2im, as ``torch.nn.functional.fold``: (N, C * kh * kw, L) -> (N, C, H, W), summing
    overlapping values (the adjoint of ``unfold``)."""
    xs = _shape(input)
    k = _tuple("fold", "kernel_size", kernel_size, 2)
    size = _tuple("fold", "output_size", output_size, 2)
    st = _tuple("fold", "stride", stride, 2)
    dil = _tuple("fold", "dilation", dilation, 2)
    p = _tuple("fold", "padding", padding, 2)
    kk = math.prod(k)
    out = [out_size(n, a, s, pp, pp, d) for n, a, s, pp, d in zip(size, k, st, p, dil)]
    if len(xs) != 3 or xs[1] % kk or xs[2] != math.prod(out):
        raise op_error("fold", f"input has shape {fmt_shape(xs)}",
                       f"(N, C * {kk}, {math.prod(out)}) for kernel {k} and output {size}",
                       kind=ValueError)
    c = xs[1] // kk
    w = _onehot_kernel(backend.xp, c, k, input.dtype)
    return _conv_transpose(input.reshape(xs[0], xs[1], *out), w, None, st,
                           tuple((a, a) for a in p), dil, c, size)
