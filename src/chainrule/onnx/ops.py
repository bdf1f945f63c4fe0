"""ONNX converters for recorded ops: one entry per op name in ``OP_EXPORTERS``.

A converter gets the graph, the ONNX names of the op's tensor inputs (``""`` for an absent
optional input), the input arrays as the forward saw them (shapes, dtypes, Python scalars), the
op's parameters and the output's floating dtype; it emits nodes and returns the output's name.
Ops that are not listed raise ``UnsupportedOperatorError`` naming the op.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.onnx.graph import INT64_MAX, INT64_MIN, ONNX_DTYPES, Graph, UnsupportedOperatorError

Converter = Callable[[Graph, list, tuple, tuple, np.dtype], str]
OP_EXPORTERS: dict[str, Converter] = {}

NOT_EXPORTED = {
    "losses are not exported (export the model, compute the loss outside)": (
        "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
        "cross_entropy_probs", "huber_loss", "mse_loss", "nll_loss"),
    "it writes into a tensor in place, which an ONNX graph of values cannot express": (
        "index_put", "scatter_add"),
    "it is a backward (of indexing, of a convolution's weight), not part of a forward pass": (
        "getitem_backward", "conv_weight"),
}


def op(*names: str) -> Callable[[Converter], Converter]:
    """Register a converter under one or more op names."""
    def wrap(fn: Converter) -> Converter:
        for n in names:
            OP_EXPORTERS[n] = fn
        return fn
    return wrap


def _ndim(x: Any) -> int:
    return int(np.ndim(x))


def _dims(dim: Any, nd: int) -> list[int]:
    ds = dim if isinstance(dim, (list, tuple)) else [dim]
    return [int(d) % nd if nd else 0 for d in ds]


# --- elementwise -------------------------------------------------------------------------------

_SIMPLE = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "neg": "Neg",
           "abs": "Abs", "sqrt": "Sqrt", "exp": "Exp", "log": "Log", "sin": "Sin", "cos": "Cos",
           "tan": "Tan", "tanh": "Tanh", "erf": "Erf", "sigmoid": "Sigmoid", "relu": "Relu",
           "reciprocal": "Reciprocal", "maximum": "Max", "minimum": "Min", "clone": "Identity",
           "matmul": "MatMul", "asin": "Asin", "acos": "Acos", "atan": "Atan", "asinh": "Asinh",
           "acosh": "Acosh", "atanh": "Atanh", "det": "Det"}


def _simple(op_type: str) -> Converter:
    def conv(g: Graph, ins: list, xs: tuple, p: tuple, dt: np.dtype) -> str:
        return g.add(op_type, ins)
    return conv


for _name, _type in _SIMPLE.items():
    OP_EXPORTERS[_name] = _simple(_type)


@op("square")
def _square(g, ins, xs, p, dt):
    return g.add("Mul", [ins[0], ins[0]])


@op("rsqrt")
def _rsqrt(g, ins, xs, p, dt):
    return g.add("Reciprocal", [g.add("Sqrt", ins)])


@op("log1p")
def _log1p(g, ins, xs, p, dt):
    return g.add("Log", [g.add("Add", [ins[0], g.const(1.0, dt)])])


@op("expm1")
def _expm1(g, ins, xs, p, dt):
    return g.add("Sub", [g.add("Exp", ins), g.const(1.0, dt)])


@op("log2", "log10")
def _logb(g, ins, xs, p, dt):
    base = 2.0 if g.where.startswith("log2") else 10.0
    return g.add("Div", [g.add("Log", ins), g.const(math.log(base), dt)])


@op("leaky_relu")
def _leaky_relu(g, ins, xs, p, dt):
    return g.add("LeakyRelu", ins, alpha=float(p[0]))


@op("prelu_slopes")
def _prelu_slopes(g, ins, xs, p, dt):
    return g.add("PRelu", ins)


@op("hardshrink")
def _hardshrink(g, ins, xs, p, dt):
    return g.add("Shrink", ins, lambd=float(p[0]), bias=0.0)


@op("threshold")
def _threshold(g, ins, xs, p, dt):
    above = g.add("Greater", [ins[0], g.const(p[0], dt)])
    return g.add("Where", [above, ins[0], g.const(p[1], dt)])


@op("elu")
def _elu(g, ins, xs, p, dt):
    return g.add("Elu", ins, alpha=float(p[0]))


@op("gelu")
def _gelu(g, ins, xs, p, dt):
    x = ins[0]
    if p[0] == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        x3 = g.add("Mul", [g.add("Mul", [x, x]), x])
        inner = g.add("Add", [x, g.add("Mul", [x3, g.const(0.044715, dt)])])
        t = g.add("Tanh", [g.add("Mul", [inner, g.const(math.sqrt(2.0 / math.pi), dt)])])
    else:  # 0.5 x (1 + erf(x / sqrt 2)); ONNX's Gelu op needs opset 20
        t = g.add("Erf", [g.add("Mul", [x, g.const(1.0 / math.sqrt(2.0), dt)])])
    half_x = g.add("Mul", [x, g.const(0.5, dt)])
    return g.add("Mul", [half_x, g.add("Add", [t, g.const(1.0, dt)])])


@op("silu")
def _silu(g, ins, xs, p, dt):
    return g.add("Mul", [ins[0], g.add("Sigmoid", ins)])


@op("softplus")
def _softplus(g, ins, xs, p, dt):
    beta, threshold = float(p[0]), float(p[1])
    bx = g.add("Mul", [ins[0], g.const(beta, dt)])
    soft = g.add("Div", [g.add("Softplus", [bx]), g.const(beta, dt)])
    return g.add("Where", [g.add("Greater", [bx, g.const(threshold, dt)]), ins[0], soft])


@op("clamp")
def _clamp(g, ins, xs, p, dt):
    lo = "" if p[0] is None else g.const(p[0], dt)
    hi = "" if p[1] is None else g.const(p[1], dt)
    return g.add("Clip", [ins[0], lo, hi])


@op("where")
def _where(g, ins, xs, p, dt):
    cond = ins[0]
    if np.asarray(xs[0]).dtype != np.bool_:
        cond = g.add("Cast", [cond], to=ONNX_DTYPES[np.dtype(np.bool_)])
    return g.add("Where", [cond, ins[1], ins[2]])


@op("cast")
def _cast(g, ins, xs, p, dt):
    return g.add("Cast", ins, to=ONNX_DTYPES[np.dtype(p[0])])


# --- linear algebra ----------------------------------------------------------------------------

@op("linear")
def _linear(g, ins, xs, p, dt):
    x, w, b = ins
    if _ndim(xs[0]) == 2:
        return g.add("Gemm", [x, w, b] if b else [x, w], transB=1)
    y = g.add("MatMul", [x, g.add("Transpose", [w], perm=[1, 0])])
    return g.add("Add", [y, b]) if b else y


@op("einsum")
def _einsum(g, ins, xs, p, dt):
    return g.add("Einsum", ins, equation=str(p[0]).replace(" ", ""))


@op("scaled_dot_product_attention")
def _sdpa(g, ins, xs, p, dt):
    q, k, v, mask = ins
    scale, causal, keep = p[0], p[1], p[2]
    if keep not in (None, 1, 1.0):
        raise UnsupportedOperatorError("scaled_dot_product_attention: dropout_p > 0 (training "
                                       "mode) cannot be exported; call model.eval() first")
    d = np.shape(xs[0])[-1]
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    nk = _ndim(xs[1])
    kt = g.add("Transpose", [k], perm=[*range(nk - 2), nk - 1, nk - 2])
    s = g.add("MatMul", [g.add("Mul", [q, g.const(scale, dt)]), kt])
    if causal:
        L, S = np.shape(xs[0])[-2], np.shape(xs[1])[-2]
        bias = np.triu(np.full((L, S), -np.inf, dtype=dt), 1)
        s = g.add("Add", [s, g.const(bias)])
    if mask:
        s = g.add("Add", [s, mask])
    return g.add("MatMul", [g.add("Softmax", [s], axis=-1), v])


# --- reductions and normalisation --------------------------------------------------------------

@op("softmax", "log_softmax")
def _softmax(g, ins, xs, p, dt):
    kind = "LogSoftmax" if g.where.startswith("log_softmax") else "Softmax"
    return g.add(kind, ins, axis=int(p[0]))


_REDUCE = {"sum": "ReduceSum", "mean": "ReduceMean", "amax": "ReduceMax", "amin": "ReduceMin",
           "prod": "ReduceProd", "logsumexp": "ReduceLogSumExp"}


def _reduce(op_type: str) -> Converter:
    def conv(g: Graph, ins: list, xs: tuple, p: tuple, dt: np.dtype) -> str:
        nd = _ndim(xs[0])
        axes = None if p[0] is None else _dims(p[0], nd)
        return g.reduce(op_type, ins[0], axes, bool(p[1]))
    return conv


for _name, _type in _REDUCE.items():
    OP_EXPORTERS[_name] = _reduce(_type)


@op("var", "std")
def _var(g, ins, xs, p, dt):
    dim, correction, keepdim = p
    shape, nd = np.shape(xs[0]), _ndim(xs[0])
    axes = list(range(nd)) if dim is None else _dims(dim, nd)
    n = math.prod(shape[a] for a in axes)
    centred = g.add("Sub", [ins[0], g.reduce("ReduceMean", ins[0], axes, True)])
    ss = g.reduce("ReduceSum", g.add("Mul", [centred, centred]), axes, bool(keepdim))
    var = g.add("Div", [ss, g.const(max(n - float(correction), 0.0), dt)])
    return g.add("Sqrt", [var]) if g.where.startswith("std") else var


@op("norm")
def _norm(g, ins, xs, p, dt):
    order, dim, keepdim = p
    kind = {1: "ReduceL1", 2: "ReduceL2"}.get(order if order is not None else 2)
    if kind is None:
        raise UnsupportedOperatorError(f"norm: p={order!r} has no ONNX reduction (p = 1 or 2)")
    nd = _ndim(xs[0])
    return g.reduce(kind, ins[0], None if dim is None else _dims(dim, nd), bool(keepdim))


@op("layer_norm")
def _layer_norm(g, ins, xs, p, dt):
    k, eps = int(p[0]), float(p[1])
    shape = np.shape(xs[0])[-k:]
    w = ins[1] or g.const(np.ones(shape, dt))
    b = ins[2] or g.const(np.zeros(shape, dt))
    return g.add("LayerNormalization", [ins[0], w, b], axis=-k, epsilon=eps)


# --- shapes and indexing -----------------------------------------------------------------------

def reshape_target(in_shape: tuple, target: tuple) -> list[int]:
    """``target`` for ONNX Reshape, each leading dimension equal to the input's written as 0
    ("copy the input's"), so a batch dimension stays dynamic."""
    out, copying = [], True
    for i, t in enumerate(target):
        copying = copying and i < len(in_shape) and int(t) == in_shape[i] and t != 0
        out.append(0 if copying else int(t))
    return out


@op("reshape")
def _reshape(g, ins, xs, p, dt):
    target = reshape_target(np.shape(xs[0]), tuple(p[0]))
    return g.add("Reshape", [ins[0], g.ints(target)])


@op("broadcast_to")
def _broadcast_to(g, ins, xs, p, dt):
    shape, target = np.shape(xs[0]), [int(s) for s in p[0]]
    off = len(target) - len(shape)
    dims = [1 if i >= off and shape[i - off] == t else t for i, t in enumerate(target)]
    return g.add("Expand", [ins[0], g.ints(dims)])


@op("sum_to")
def _sum_to(g, ins, xs, p, dt):
    shape, target = np.shape(xs[0]), tuple(p[0])
    lead = len(shape) - len(target)
    axes = [*range(lead), *(lead + i for i, t in enumerate(target)
                            if t == 1 and shape[lead + i] != 1)]
    y = g.reduce("ReduceSum", ins[0], axes, True) if axes else ins[0]
    return g.add("Reshape", [y, g.ints(target)]) if lead else y


@op("permute")
def _permute(g, ins, xs, p, dt):
    nd = _ndim(xs[0])
    return g.add("Transpose", ins, perm=[int(d) % nd for d in p[0]])


@op("cat")
def _cat(g, ins, xs, p, dt):
    return g.add("Concat", ins, axis=int(p[0]))


@op("stack")
def _stack(g, ins, xs, p, dt):
    nd = _ndim(xs[0]) + 1
    axis = int(p[0]) % nd
    return g.add("Concat", [g.add("Unsqueeze", [i, g.ints([axis])]) for i in ins], axis=axis)


@op("tril", "triu")
def _tri(g, ins, xs, p, dt):
    upper = int(g.where.startswith("triu"))
    return g.add("Trilu", [ins[0], g.const(np.int64(int(p[0])))], upper=upper)


@op("cumsum")
def _cumsum(g, ins, xs, p, dt):
    return g.add("CumSum", [ins[0], g.const(np.int64(int(p[0])))])


@op("flip")
def _flip(g, ins, xs, p, dt):
    nd = _ndim(xs[0])
    axes = _dims(p[0], nd)
    n = len(axes)
    return g.add("Slice", [ins[0], g.ints([-1] * n), g.ints([INT64_MIN] * n), g.ints(axes),
                           g.ints([-1] * n)])


@op("pad")
def _pad(g, ins, xs, p, dt):
    pad, value = list(p[0]), p[1]
    nd = _ndim(xs[0])
    begins, ends = [0] * nd, [0] * nd
    for i in range(len(pad) // 2):  # PyTorch: (last_lo, last_hi, prev_lo, prev_hi, ...)
        begins[nd - 1 - i], ends[nd - 1 - i] = int(pad[2 * i]), int(pad[2 * i + 1])
    return g.add("Pad", [ins[0], g.ints(begins + ends), g.const(value or 0.0, dt)],
                 mode="constant")


@op("repeat")
def _repeat(g, ins, xs, p, dt):
    sizes, nd = [int(s) for s in p[0]], _ndim(xs[0])
    x = ins[0]
    if len(sizes) > nd:
        x = g.add("Reshape", [x, g.ints([1] * (len(sizes) - nd) + list(np.shape(xs[0])))])
    return g.add("Tile", [x, g.ints(sizes)])


@op("gather")
def _gather(g, ins, xs, p, dt):
    idx = g.const(np.asarray(p[1], dtype=np.int64))
    return g.add("GatherElements", [ins[0], idx], axis=int(p[0]))


def _index_error(index: Any) -> UnsupportedOperatorError:
    return UnsupportedOperatorError(
        f"getitem: the index {index!r} cannot be exported; ONNX export supports integers, "
        "slices, None, ... and one integer array")


@op("unbind", "split")
def _pieces(g, ins, xs, p, dt):  # the op's node passes its input on; each output slices it
    return ins[0]


@op("unbind_output", "split_output")
def _piece(g, ins, xs, p, dt):  # params: (output number, the getitem index of the piece)
    return _getitem(g, ins, xs, (p[1],), dt)


@op("getitem", "index")
def _getitem(g, ins, xs, p, dt):
    index = p[0]
    items = list(index) if isinstance(index, tuple) else [index]
    nd = _ndim(xs[0])
    if sum(1 for it in items if it is Ellipsis) > 1:
        raise _index_error(index)
    n_real = sum(1 for it in items if it is not None and it is not Ellipsis)
    if any(it is Ellipsis for it in items):  # not ``in``: it compares arrays with ==
        k = next(i for i, it in enumerate(items) if it is Ellipsis)
        items[k:k + 1] = [slice(None)] * (nd - n_real)
    items += [slice(None)] * (nd - n_real - sum(1 for it in items if it is Ellipsis))
    x, axis = ins[0], 0
    starts, ends, axes, steps, squeeze, gathers, unsq = [], [], [], [], [], [], []
    out_axis = 0
    for it in items:
        if it is None:
            unsq.append(out_axis)
            out_axis += 1
            continue
        if isinstance(it, slice):
            if it != slice(None):
                step = 1 if it.step is None else int(it.step)
                lo, hi = (0, INT64_MAX) if step > 0 else (INT64_MAX, INT64_MIN)
                starts.append(lo if it.start is None else int(it.start))
                ends.append(hi if it.stop is None else int(it.stop))
                axes.append(axis)
                steps.append(step)
            out_axis += 1
        elif isinstance(it, (int, np.integer)):
            i = int(it)
            starts.append(i)
            ends.append(i + 1 if i != -1 else INT64_MAX)
            axes.append(axis)
            steps.append(1)
            squeeze.append(axis)
        else:
            arr = np.asarray(it)
            if arr.dtype.kind not in "iu" or gathers:
                raise _index_error(index)
            gathers.append((axis, arr))
            out_axis += arr.ndim
        axis += 1
    if starts:
        x = g.add("Slice", [x, g.ints(starts), g.ints(ends), g.ints(axes), g.ints(steps)])
    if gathers:
        if squeeze or unsq:
            raise _index_error(index)
        ax, arr = gathers[0]
        x = g.add("Gather", [x, g.const(arr.astype(np.int64))], axis=ax)
    if squeeze:
        x = g.add("Squeeze", [x, g.ints(squeeze)])
    if unsq:
        x = g.add("Unsqueeze", [x, g.ints(unsq)])
    if x == ins[0]:
        x = g.add("Identity", [x])
    return x


@op("batch_norm")
def _batch_norm(g, ins, xs, p, dt):
    mean, var, training, _momentum, eps = p
    nd = _ndim(xs[0])
    c = np.shape(xs[0])[1] if nd > 1 else np.shape(xs[0])[0]
    w = ins[1] or g.const(np.ones(c, dt))
    b = ins[2] or g.const(np.zeros(c, dt))
    x = ins[0]
    if training or mean is None or var is None:
        # Batch statistics (track_running_stats=False, or instance_norm's (1, N*C, ...) view):
        # what the forward computes in eval mode, as torch.onnx exports it.
        if nd < 2:
            raise UnsupportedOperatorError("batch_norm: batch statistics of an unbatched (C,) "
                                           "input; give it a batch dimension")
        axes = [0, *range(2, nd)]
        centred = g.add("Sub", [x, g.reduce("ReduceMean", x, axes, True)])
        var_b = g.reduce("ReduceMean", g.add("Mul", [centred, centred]), axes, True)
        std = g.add("Sqrt", [g.add("Add", [var_b, g.const(float(eps), dt)])])
        shape = g.ints([c] + [1] * (nd - 2))
        y = g.add("Div", [centred, std])
        y = g.add("Mul", [y, g.add("Reshape", [w, shape])])
        return g.add("Add", [y, g.add("Reshape", [b, shape])])
    m, v = g.resolve_array(mean), g.resolve_array(var)
    if nd == 1:  # (C,) unbatched
        x = g.add("Unsqueeze", [x, g.ints([0])])
        y = g.add("BatchNormalization", [x, w, b, m, v], epsilon=float(eps))
        return g.add("Squeeze", [y, g.ints([0])])
    return g.add("BatchNormalization", [x, w, b, m, v], epsilon=float(eps))


# --- convolution and pooling: the primitives of chainrule.ops.conv / pooling -------------------
# Their params already hold the geometry PyTorch's arguments resolve to (tuples per spatial dim,
# 'same' as explicit (lo, hi) pads), so each is one ONNX node. ONNX pads: all begins, all ends.

def _onnx_pads(pads: Any) -> list[int]:
    return [int(lo) for lo, _ in pads] + [int(hi) for _, hi in pads]


@op("conv")
def _conv(g, ins, xs, p, dt):
    stride, pads, dil, groups = p
    k = list(np.shape(xs[1])[2:])
    return g.add("Conv", [i for i in ins if i], kernel_shape=k, strides=list(stride),
                 pads=_onnx_pads(pads), dilations=list(dil), group=int(groups))


@op("conv_transpose")
def _conv_transpose(g, ins, xs, p, dt):
    stride, pads, dil, groups, size = p
    k = list(np.shape(xs[1])[2:])
    natural = [(n - 1) * s - lo - hi + d * (kk - 1) + 1
               for n, s, (lo, hi), d, kk in zip(np.shape(xs[0])[2:], stride, pads, dil, k)]
    return g.add("ConvTranspose", [i for i in ins if i], kernel_shape=k, strides=list(stride),
                 pads=_onnx_pads(pads), dilations=list(dil), group=int(groups),
                 output_padding=[int(a) - b for a, b in zip(size, natural)])


def _global(k: Any, spatial: Any, pads: Any) -> bool:
    """A window covering the whole (unpadded) input: ONNX's Global*Pool."""
    return tuple(k) == tuple(spatial) and not any(lo or hi for lo, hi in pads)


def max_pool_node(g: Graph, x: str, spatial: Any, k: Any, stride: Any, padding: Any, dil: Any,
                  ceil_mode: bool, n_out: int = 1) -> Any:
    """ONNX MaxPool of ``x`` (batched) as chainrule's ``max_pool``; ``n_out=2`` adds ONNX's
    indices (flat over the whole tensor, ignoring padding)."""
    from chainrule.ops.pooling import _geometry

    # ceil_mode as the explicit extra right padding chainrule computes (PyTorch's rule that the
    # last window starts inside the input), which ONNX's shape inference does not apply to
    # ceil_mode=1; MaxPool ignores padded positions.
    _, pads = _geometry("max_pool", spatial, k, stride, padding, dil, ceil_mode)
    if n_out == 1 and _global(k, spatial, pads) and all(d == 1 for d in dil):
        return g.add("GlobalMaxPool", [x])
    return g.add("MaxPool", [x], n_out=n_out, kernel_shape=list(k), strides=list(stride),
                 pads=_onnx_pads(pads), dilations=list(dil))


@op("max_pool")
def _max_pool(g, ins, xs, p, dt):
    return max_pool_node(g, ins[0], np.shape(xs[0])[2:], *p)


def avg_pool_node(g: Graph, x: str, spatial: Any, k: Any, stride: Any, padding: Any,
                  ceil_mode: bool, include_pad: bool, divisor: Any, dt: np.dtype) -> str:
    """ONNX AveragePool of ``x`` (batched) as chainrule's ``avg_pool``."""
    from chainrule.ops.pooling import _geometry

    _, pads = _geometry("avg_pool", spatial, k, stride, padding, (1,) * len(k), ceil_mode)
    attrs = {"kernel_shape": list(k), "strides": list(stride)}
    if _global(k, spatial, pads) and not divisor:
        return g.add("GlobalAveragePool", [x])
    extra = [hi - lo for (_, hi), lo in zip(pads, padding)]
    if not divisor and not (include_pad and any(extra)):
        return g.add("AveragePool", [x], pads=_onnx_pads(pads),
                     count_include_pad=int(bool(include_pad)), **attrs)
    # PyTorch counts the padding but not ceil_mode's extra positions (or divides by
    # divisor_override): pad with zeros explicitly, then average without counting the extra.
    if any(padding):
        x = g.add("Pad", [x, g.ints([0, 0, *padding, 0, 0, *padding]), g.const(0.0, dt)],
                  mode="constant")
    pads2 = [0] * len(k) + extra
    if divisor:  # sum / divisor = mean over the full window * prod(k) / divisor
        y = g.add("AveragePool", [x], pads=pads2, count_include_pad=1, **attrs)
        return g.add("Mul", [y, g.const(math.prod(k) / float(divisor), dt)])
    return g.add("AveragePool", [x], pads=pads2, count_include_pad=0, **attrs)


@op("avg_pool")
def _avg_pool(g, ins, xs, p, dt):
    return avg_pool_node(g, ins[0], np.shape(xs[0])[2:], *p, dt)


@op("lp_pool_root")
def _lp_pool_root(g, ins, xs, p, dt):  # (k s)^(1/p): NaN for a negative sum and odd p, as torch
    norm_type, k = p
    return lp_root_node(g, ins[0], norm_type, k, dt)


def lp_root_node(g: Graph, s: str, norm_type: float, k: int, dt: np.dtype) -> str:
    """``(k * s)^(1/p)``, LP pooling's root of its window means ``s``."""
    return g.add("Pow", [g.add("Mul", [s, g.const(float(k), dt)]),
                         g.const(1.0 / float(norm_type), dt)])


@op("max_unpool")
def _max_unpool(g, ins, xs, p, dt):
    """``F.max_unpool*d`` with constant indices (per plane, PyTorch's) made flat over the whole
    (N, C, *size) output, as ONNX's MaxUnpool reads them."""
    idx, size = p
    n, c, nd = idx.shape[0], idx.shape[1], len(size)
    offset = np.arange(n * c, dtype=np.int64).reshape(n, c, *(1,) * nd) * math.prod(size)
    return g.add("MaxUnpool", [ins[0], g.const(idx.astype(np.int64) + offset),
                               g.ints([n, c, *size])], kernel_shape=[1] * nd, strides=[1] * nd)
