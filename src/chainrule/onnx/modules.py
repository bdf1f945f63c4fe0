"""ONNX converters for layers exported whole, one entry per class in ``MODULE_EXPORTERS``.

Most layers need no entry: their forward is traced op by op (``chainrule.onnx.ops``). A layer
has an entry when ONNX has one operator for what its forward computes step by step (RNN, LSTM,
GRU: one ONNX node instead of an unrolled loop over a fixed number of time steps), when its
input is integer (Embedding), or when its forward leaves the recorded ops (PReLU's mask, Step,
Perceptron). A converter gets the context (``ctx.g`` the graph, ``ctx.name(tensor)`` an input's
ONNX name, ``ctx.param(module, "weight")`` a parameter's initializer), the layer, its call's
``args`` and ``kwargs``; it returns the ONNX names of the layer's output tensors, flattened in
order (as ``(output, (h_n, c_n))`` flattens to three names).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule import nn
from chainrule.onnx.graph import ONNX_DTYPES, UnsupportedOperatorError

ModuleConverter = Callable[[Any, Any, tuple, dict], list]
MODULE_EXPORTERS: dict[type, ModuleConverter] = {}

PENDING = ("Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm2d")
"""Layer classes that ONNX has operators for but this exporter has no entry for yet (they are
not in ``chainrule.nn`` at the time of writing); their forwards are still traced op by op."""


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
