"""ONNX converters for layers exported whole, one entry per class in ``MODULE_EXPORTERS``.

Most layers need no entry: their forward is traced op by op (``chainrule.onnx.ops``; Conv*,
ConvTranspose*, AvgPool*, BatchNorm*, GroupNorm, Dropout are). A layer has an entry when ONNX
has one operator for what its forward computes in several steps (RNN, LSTM, GRU: one ONNX node
instead of an unrolled loop over a fixed number of time steps; the adaptive pools, LPPool,
InstanceNorm1d/2d/3d, Upsample, Flatten: one pooling, LpPool, InstanceNormalization, Resize or
Flatten node instead of constant matrices, gathers, a composition, or a reshape that folds the
batch into the channels), when its input is integer (Embedding, MaxUnpool's indices), or when
its forward computes something outside the recorded ops (PReLU's mask, Step, Perceptron,
AdaptiveMaxPool's arg-max, MaxPool's indices).
A converter gets the context (``ctx.g`` the graph, ``ctx.name(tensor)`` an input's ONNX name,
``ctx.param(module, "weight")`` a parameter's initializer), the layer, its call's ``args`` and
``kwargs``; it returns the ONNX names of the layer's output tensors, flattened in
order (as ``(output, (h_n, c_n))`` flattens to three names).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import nn
from chainrule.onnx.graph import ONNX_DTYPES, UnsupportedOperatorError

ModuleConverter = Callable[[Any, Any, tuple, dict], list]
MODULE_EXPORTERS: dict[type, ModuleConverter] = {}

PENDING: tuple[str, ...] = ()
"""Layer classes that ONNX has operators for but this exporter cannot export yet: none at
present (convolution, pooling and batch normalisation are converted op by op, the adaptive
pools, MaxPool/MaxUnpool, LPPool, InstanceNorm1d/2d/3d, Upsample and Flatten whole, below). A layer
named here would still be traced op by op, and the error for an op without a converter lists
these names."""


def module(*classes: type) -> Callable[[ModuleConverter], ModuleConverter]:
    """Register a converter for one or more layer classes (exact class match)."""
    def wrap(fn: ModuleConverter) -> ModuleConverter:
        for c in classes:
            MODULE_EXPORTERS[c] = fn
        return fn
    return wrap


def _arg(args: tuple, kwargs: dict, i: int, name: str) -> Any:
    return args[i] if len(args) > i else kwargs.get(name)


@module(nn.Embedding)
def _embedding(ctx: Any, m: Any, args: tuple, kwargs: dict) -> list:
    if m.max_norm is not None:
        raise UnsupportedOperatorError(
            "Embedding(max_norm=...): it renormalises the rows it looks up at call time, which "
            "ONNX has no operator for; renormalise the weight once and export without max_norm")
    idx = ctx.name(_arg(args, kwargs, 0, "input"))
    idx = ctx.g.add("Cast", [idx], to=ONNX_DTYPES[np.dtype(np.int64)])
    return [ctx.g.add("Gather", [ctx.param(m, "weight"), idx], axis=0)]


@module(nn.PReLU)
def _prelu(ctx: Any, m: Any, args: tuple, kwargs: dict) -> list:
    x = _arg(args, kwargs, 0, "input")
    nd = x.ndim
    w = ctx.param(m, "weight")
    c = m.weight.shape[0]
    if nd >= 2 and c > 1:  # slope per channel, dimension 1: shape (C, 1, ..., 1)
        w = ctx.g.add("Reshape", [w, ctx.g.ints([c] + [1] * (nd - 2))])
    return [ctx.g.add("PRelu", [ctx.name(x), w])]


@module(nn.Step)
def _step(ctx: Any, m: Any, args: tuple, kwargs: dict) -> list:
    x = _arg(args, kwargs, 0, "input")
    dt = np.dtype(x.detach().numpy().dtype)
    gt = ctx.g.add("Greater", [ctx.name(x), ctx.g.const(m.threshold, dt)])
    return [ctx.g.add("Cast", [gt], to=ONNX_DTYPES[dt])]


@module(nn.Perceptron)
def _perceptron(ctx: Any, m: Any, args: tuple, kwargs: dict) -> list:
    x = _arg(args, kwargs, 0, "x")
    dt = np.dtype(m.weight.detach().numpy().dtype)
    xn = ctx.name(x)
    if np.dtype(x.detach().numpy().dtype) != dt:
        xn = ctx.g.add("Cast", [xn], to=ONNX_DTYPES[dt])
    z = ctx.g.add("Add", [ctx.g.add("MatMul", [xn, ctx.param(m, "weight")]),
                          ctx.param(m, "bias")])
    gt = ctx.g.add("Greater", [z, ctx.g.const(0.0, dt)])
    return [ctx.g.add("Cast", [gt], to=ONNX_DTYPES[dt])]


# --- recurrent layers: one ONNX RNN / LSTM / GRU node per layer ---------------------------------

# Gate blocks of PyTorch's layout, in ONNX's order: LSTM ifgo -> iofc, GRU rzn -> zrh.
_GATE_ORDER = {"RNN_TANH": [0], "RNN_RELU": [0], "LSTM": [0, 3, 1, 2], "GRU": [1, 0, 2]}
_ONNX_OP = {"RNN_TANH": "RNN", "RNN_RELU": "RNN", "LSTM": "LSTM", "GRU": "GRU"}


def _gates(w: np.ndarray, mode: str, H: int) -> np.ndarray:
    order = _GATE_ORDER[mode]
    blocks = w.reshape(len(order), H, *w.shape[1:])
    return blocks[order].reshape(w.shape)


@module(nn.RNN, nn.LSTM, nn.GRU)
def _rnn(ctx: Any, m: Any, args: tuple, kwargs: dict) -> list:
    g, mode, H = ctx.g, m.mode, m.hidden_size
    name = type(m).__name__
    if getattr(m, "proj_size", 0):
        raise UnsupportedOperatorError(f"{name}(proj_size={m.proj_size}): ONNX's LSTM operator "
                                       "has no output projection")
    x = _arg(args, kwargs, 0, "input")
    if not hasattr(x, "ndim"):
        raise UnsupportedOperatorError(f"{name}: a PackedSequence input cannot be exported; pass "
                                       "a padded tensor")
    hx = _arg(args, kwargs, 1, "hx")
    D = 2 if m.bidirectional else 1
    batched = x.ndim == 3
    xn = ctx.name(x)
    if not batched:
        xn = g.add("Unsqueeze", [xn, g.ints([1])])
    elif m.batch_first:
        xn = g.add("Transpose", [xn], perm=[1, 0, 2])
    states = [] if hx is None else ([hx[0], hx[1]] if mode == "LSTM" else [hx])
    state_names = []
    for s in states:
        sn = ctx.name(s)
        state_names.append(sn if batched else g.add("Unsqueeze", [sn, g.ints([1])]))
    p = m._parameters
    dt = np.dtype(p["weight_ih_l0"].detach().numpy().dtype)
    hs, cs = [], []
    for layer in range(m.num_layers):
        sfx = [f"_l{layer}", f"_l{layer}_reverse"][:D]
        W = np.stack([_gates(p["weight_ih" + s].detach().numpy(), mode, H) for s in sfx])
        R = np.stack([_gates(p["weight_hh" + s].detach().numpy(), mode, H) for s in sfx])
        G = W.shape[1]
        if m.bias:
            B = np.stack([np.concatenate([_gates(p["bias_ih" + s].detach().numpy(), mode, H),
                                          _gates(p["bias_hh" + s].detach().numpy(), mode, H)])
                          for s in sfx])
        else:
            B = np.zeros((D, 2 * G), dt)
        pre = f"{ctx.prefix(m)}onnx_l{layer}_"
        ins = [xn, g.param(pre + "W", W), g.param(pre + "R", R), g.param(pre + "B", B), ""]
        for sn in state_names:
            ins.append(g.add("Slice", [sn, g.ints([layer * D]), g.ints([(layer + 1) * D]),
                                       g.ints([0])]))
        attrs: dict[str, Any] = {"hidden_size": H,
                                 "direction": "bidirectional" if D == 2 else "forward"}
        if mode == "RNN_RELU":
            attrs["activations"] = ["Relu"] * D
        if mode == "GRU":
            attrs["linear_before_reset"] = 1  # PyTorch: n = tanh(W_in x + r * (W_hn h + b_hn))
        outs = g.add(_ONNX_OP[mode], ins, n_out=3 if mode == "LSTM" else 2, **attrs)
        y = g.add("Transpose", [outs[0]], perm=[0, 2, 1, 3])  # (T, D, B, H) -> (T, B, D, H)
        xn = g.add("Reshape", [y, g.ints([0, 0, -1])])
        hs.append(outs[1])
        if mode == "LSTM":
            cs.append(outs[2])
    out = xn
    if not batched:
        out = g.add("Squeeze", [out, g.ints([1])])
    elif m.batch_first:
        out = g.add("Transpose", [out], perm=[1, 0, 2])
    finals = []
    for parts in (hs, cs) if mode == "LSTM" else (hs,):
        s = g.add("Concat", parts, axis=0) if len(parts) > 1 else g.add("Identity", parts)
        finals.append(s if batched else g.add("Squeeze", [s, g.ints([1])]))
    return [out, *finals]


# --- pooling, normalisation and resampling layers composed of other ops -------------------------

def _batched(ctx: Any, x: Any, nd: int) -> tuple[str, bool]:
    """``x``'s name with a batch dimension (an unbatched (C, *spatial) input gets one)."""
    if x.ndim == nd + 1:
        return ctx.g.add("Unsqueeze", [ctx.name(x), ctx.g.ints([0])]), True
    return ctx.name(x), False


def _unbatched(ctx: Any, y: str, unbatched: bool) -> list:
    return [ctx.g.add("Squeeze", [y, ctx.g.ints([0])]) if unbatched else y]


def _pool_geometry(m: Any, nd: int) -> tuple[tuple[int, ...], ...]:
    """A pooling layer's kernel, stride (default: the kernel) and padding as ``nd``-tuples."""
    from chainrule.ops.conv import _tuple

    name = type(m).__name__
    k = _tuple(name, "kernel_size", m.kernel_size, nd)
    s = k if m.stride is None else _tuple(name, "stride", m.stride, nd)
    return k, s, _tuple(name, "padding", getattr(m, "padding", 0), nd)


_ND = {nn.MaxPool1d: 1, nn.MaxPool2d: 2, nn.MaxPool3d: 3}


@module(nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
def _max_pool(ctx: Any, m: Any, args: tuple, kwargs: dict) -> list:
    """Exported whole for ``return_indices``: PyTorch's indices are computed outside the
    recorded ops; ONNX's MaxPool gives them flat over (N, C, *spatial), so modulo the plane."""
    from chainrule.onnx.ops import max_pool_node
    from chainrule.ops.conv import _tuple

    nd = _ND[type(m)]
    k, s, p = _pool_geometry(m, nd)
    x = _arg(args, kwargs, 0, "input")
    spatial = tuple(x.shape[-nd:])
    xn, unbatched = _batched(ctx, x, nd)
    outs = max_pool_node(ctx.g, xn, spatial, k, s, p,
                         _tuple(type(m).__name__, "dilation", m.dilation, nd),
                         bool(m.ceil_mode), n_out=2 if m.return_indices else 1)
    if not m.return_indices:
        return _unbatched(ctx, outs, unbatched)
    idx = ctx.g.add("Mod", [outs[1], ctx.g.const(np.int64(math.prod(spatial)))])
    return _unbatched(ctx, outs[0], unbatched) + _unbatched(ctx, idx, unbatched)


@module(nn.MaxUnpool1d, nn.MaxUnpool2d, nn.MaxUnpool3d)
def _max_unpool(ctx: Any, m: Any, args: tuple, kwargs: dict) -> list:
    """``MaxUnpool``. PyTorch's indices count per (N, C) plane of the output, ONNX's over the
    whole tensor: ``(n C + c) * plane`` is added (a ``Range`` over N * C, so the batch stays
    dynamic); the output shape is explicit (``output_size`` or PyTorch's default)."""
    from chainrule.ops.pooling import _unpool_size

    g, nd = ctx.g, m.nd
    x, idx = _arg(args, kwargs, 0, "input"), _arg(args, kwargs, 1, "indices")
    size = _unpool_size(type(m).__name__, tuple(x.shape[-nd:]), m.kernel_size, m.stride,
                        m.padding, _arg(args, kwargs, 2, "output_size"))
    xn, unbatched = _batched(ctx, x, nd)
    iname, _ = _batched(ctx, idx, nd)
    nc = g.add("Slice", [g.add("Shape", [iname]), g.ints([0]), g.ints([2]), g.ints([0])])
    planes = g.add("Range", [g.const(np.int64(0)), g.reduce("ReduceProd", nc, None, False),
                             g.const(np.int64(1))])
    planes = g.add("Reshape", [planes, g.add("Concat", [nc, g.ints([1] * nd)], axis=0)])
    flat = g.add("Add", [iname, g.add("Mul", [planes, g.const(np.int64(math.prod(size)))])])
    y = g.add("MaxUnpool", [xn, flat, g.add("Concat", [nc, g.ints(size)], axis=0)],
              kernel_shape=list(m.kernel_size), strides=list(m.stride),
              pads=list(m.padding) * 2)
    return _unbatched(ctx, y, unbatched)


@module(nn.LPPool1d, nn.LPPool2d, nn.LPPool3d)
def _lp_pool(ctx: Any, m: Any, args: tuple, kwargs: dict) -> list:
    """``LpPool`` for an even integer p (ONNX's sums |x|^p; PyTorch sums x^p), unless
    ``ceil_mode`` adds windows that PyTorch rescales by the kernel size over their clipped
    size; otherwise PyTorch's composition, ``Pow``, ``AveragePool`` and the 1/p power; p = inf
    (-inf) the ``MaxPool`` of |x| (minus that of -|x|)."""
    from chainrule.onnx.ops import avg_pool_node, lp_root_node, max_pool_node
    from chainrule.ops.pooling import _geometry

    g, nd, p = ctx.g, m.nd, float(m.norm_type)
    k, s, _ = _pool_geometry(m, nd)
    x = _arg(args, kwargs, 0, "input")
    dt = np.dtype(x.detach().numpy().dtype)
    spatial, zero, one = tuple(x.shape[-nd:]), (0,) * nd, (1,) * nd
    xn, unbatched = _batched(ctx, x, nd)
    _, pads = _geometry(type(m).__name__, spatial, k, s, zero, one, bool(m.ceil_mode))
    if math.isinf(p):
        a = g.add("Abs", [xn])
        y = max_pool_node(g, a if p > 0 else g.add("Neg", [a]), spatial, k, s, zero, one,
                          bool(m.ceil_mode))
        y = y if p > 0 else g.add("Neg", [y])
    elif p > 0 and p.is_integer() and int(p) % 2 == 0 and not any(hi for _, hi in pads):
        y = g.add("LpPool", [xn], kernel_shape=list(k), strides=list(s), p=int(p))
    else:
        xp = g.add("Pow", [xn, g.const(p, dt)])
        y = avg_pool_node(g, xp, spatial, k, s, zero, bool(m.ceil_mode), True, None, dt)
        y = lp_root_node(g, y, p, math.prod(k), dt)
    return _unbatched(ctx, y, unbatched)


_ADAPTIVE = {nn.AdaptiveAvgPool1d: (1, False), nn.AdaptiveAvgPool2d: (2, False),
             nn.AdaptiveMaxPool1d: (1, True), nn.AdaptiveMaxPool2d: (2, True),
             nn.AdaptiveMaxPool3d: (3, True)}


@module(*_ADAPTIVE)
def _adaptive_pool(ctx: Any, m: Any, args: tuple, kwargs: dict) -> list:
    from chainrule.ops.pooling import _out_sizes, adaptive_avg_matrix

    name, g = type(m).__name__, ctx.g
    nd, is_max = _ADAPTIVE[type(m)]
    if is_max and m.return_indices:
        raise UnsupportedOperatorError(
            f"{name}(return_indices=True): the indices are computed from the values outside the "
            "recorded ops, and ONNX's MaxPool indices count over the whole tensor, not per plane "
            "as PyTorch's; export without return_indices")
    x = _arg(args, kwargs, 0, "input")
    spatial = tuple(x.shape[-nd:])
    out = _out_sizes(name, m.output_size, spatial)
    xn, unbatched = _batched(ctx, x, nd)
    if all(o == 1 for o in out):
        y = g.add("GlobalMaxPool" if is_max else "GlobalAveragePool", [xn])
    elif all(n % o == 0 for n, o in zip(spatial, out)):  # equal windows: a plain pooling
        k = [n // o for n, o in zip(spatial, out)]
        y = g.add("MaxPool" if is_max else "AveragePool", [xn], kernel_shape=k, strides=k)
    elif is_max:
        raise UnsupportedOperatorError(
            f"{name}(output_size={m.output_size}): on a {'x'.join(map(str, spatial))} input "
            f"the windows have unequal sizes ({spatial} is not a multiple of {out}), which no "
            "ONNX operator computes; use an input whose size is a multiple of output_size")
    else:  # unequal windows: the constant averaging matrices the forward applies (exact)
        dt = np.dtype(x.detach().numpy().dtype)
        mats = [adaptive_avg_matrix(np, n, o, dt) for n, o in zip(spatial, out)]
        y = xn if nd == 1 else g.add("MatMul", [g.const(mats[0]), xn])
        y = g.add("MatMul", [y, g.const(np.ascontiguousarray(mats[-1].T))])
    return _unbatched(ctx, y, unbatched)


@module(nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LazyInstanceNorm1d,
        nn.LazyInstanceNorm2d, nn.LazyInstanceNorm3d)
def _instance_norm(ctx: Any, m: Any, args: tuple, kwargs: dict) -> list:
    g, c = ctx.g, m.num_features
    x = _arg(args, kwargs, 0, "input")
    dt = np.dtype(x.detach().numpy().dtype)
    xn, unbatched = _batched(ctx, x, m._nd)
    w = ctx.param(m, "weight") if m.weight is not None else g.const(np.ones(c, dt))
    b = ctx.param(m, "bias") if m.bias is not None else g.const(np.zeros(c, dt))
    if m.track_running_stats:  # eval mode: the running statistics, as the forward uses them
        y = g.add("BatchNormalization", [xn, w, b, ctx.param(m, "running_mean"),
                                         ctx.param(m, "running_var")], epsilon=float(m.eps))
    else:
        y = g.add("InstanceNormalization", [xn, w, b], epsilon=float(m.eps))
    return _unbatched(ctx, y, unbatched)


@module(nn.Upsample, nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d)
def _upsample(ctx: Any, m: Any, args: tuple, kwargs: dict) -> list:
    g = ctx.g
    x = _arg(args, kwargs, 0, "input")
    nd = x.ndim - 2
    xn = ctx.name(x)
    if nd == 1:  # (N, C, L) as (N, C, 1, L): runtimes resize 4-D inputs in every mode
        xn = g.add("Unsqueeze", [xn, g.ints([2])])
    pre = [1] * (4 - nd)
    if m.size is not None or m.recompute_scale_factor:
        if m.size is not None:
            size = list(m.size) if isinstance(m.size, (tuple, list)) else [m.size] * nd
        else:
            sf = m.scale_factor if isinstance(m.scale_factor, (tuple, list)) else \
                [m.scale_factor] * nd
            size = [math.floor(n * float(f)) for n, f in zip(x.shape[2:], sf)]
        lead = g.add("Slice", [g.add("Shape", [xn]), g.ints([0]), g.ints([2]), g.ints([0])])
        sizes = g.add("Concat", [lead, g.ints([*pre[2:], *map(int, size)])], axis=0)
        ins = [xn, "", "", sizes]
    else:
        sf = m.scale_factor if isinstance(m.scale_factor, (tuple, list)) else \
            [m.scale_factor] * nd
        ins = [xn, "", g.const(np.asarray([*pre, *sf], dtype=np.float32))]
    if m.mode == "nearest":  # PyTorch: source index floor(i / scale)
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                 "nearest_mode": "floor"}
    else:
        attrs = {"mode": "linear", "coordinate_transformation_mode":
                 "align_corners" if m.align_corners else "half_pixel"}
    y = g.add("Resize", ins, **attrs)
    return [g.add("Squeeze", [y, g.ints([2])]) if nd == 1 else y]


@module(nn.Flatten)
def _flatten(ctx: Any, m: Any, args: tuple, kwargs: dict) -> list:
    from chainrule.onnx.ops import reshape_target

    x = _arg(args, kwargs, 0, "input")
    shape, nd = tuple(x.shape), x.ndim
    if nd and m.start_dim % nd == 1 and m.end_dim % nd == nd - 1:
        return [ctx.g.add("Flatten", [ctx.name(x)], axis=1)]
    if not nd:
        return [ctx.g.add("Reshape", [ctx.name(x), ctx.g.ints([1])])]
    s, e = m.start_dim % nd, m.end_dim % nd
    target = reshape_target(shape, (*shape[:s], -1, *shape[e + 1:]))
    return [ctx.g.add("Reshape", [ctx.name(x), ctx.g.ints(target)])]
