"""``export``: a model's forward, traced, written as an ONNX file.

How it traces, and why. The forward runs once, in eval mode, on inputs that require grad, so
every op it applies is recorded as a graph node (``Tensor.grad_fn``, read through the public
Node API: ``name``, ``next_functions``, ``saved_inputs``, ``params``). Walking that graph from
the outputs follows whatever the user's ``forward`` does (residual sums, functional calls,
indexing, reshapes, loops over layers), which a module-by-module walk cannot: a module walk
sees the children, not how ``forward`` combines them. Layers that ONNX has one operator for
(RNN/LSTM/GRU, the adaptive pools, the instance norms, Upsample, Flatten) or whose forward leaves
the recorded ops (Embedding's integer input, PReLU, Step, Perceptron) are exported whole: a
forward hook replaces their output with a fresh leaf that stands for "this layer's output",
and a per-class converter emits their nodes.

What a trace cannot see is whatever the forward computed outside the recorded ops: a
comparison, ``.detach()``, ``.detach().numpy()``, ``.item()``, a Python ``if`` on values, a tensor
created from ``x.shape``. Such a value would be frozen into the file. So the forward is traced
a second time, on other values and (for dynamic axes) other sizes, and both traces must give
the same ONNX graph and constants; where they differ, the error names the op.
"""

from __future__ import annotations

import io
import os
import sys
from contextlib import contextmanager
from typing import Any

import numpy as np

from chainrule.autograd.factories import as_tensor
from chainrule.autograd.function import tensors_in as _flatten
from chainrule.autograd.grad_mode import enable_grad
from chainrule.autograd.tensor import Tensor
from chainrule.onnx.graph import Graph, UnsupportedOperatorError, to_model
from chainrule.onnx.modules import MODULE_EXPORTERS, PENDING
from chainrule.onnx.ops import NOT_EXPORTED, OP_EXPORTERS

DEFAULT_OPSET = 17
MIN_OPSET = 17  # LayerNormalization


def _rebuild(obj: Any, it: Any) -> Any:
    """``obj`` with each tensor replaced by the next item of ``it``."""
    if isinstance(obj, Tensor):
        return next(it)
    if isinstance(obj, (tuple, list)):
        return type(obj)(_rebuild(o, it) for o in obj)
    if isinstance(obj, dict):
        return {k: _rebuild(o, it) for k, o in obj.items()}
    return obj


class _Call:
    """One call of a layer that is exported whole."""

    def __init__(self, module: Any, args: tuple, kwargs: dict, n: int) -> None:
        self.module, self.args, self.kwargs = module, args, kwargs
        self.names: list[str] | None = None
        self.n = n


class _Tracer:
    def __init__(self, model: Any, opset: int) -> None:
        self.model = model
        self.g = Graph(opset=opset)
        self.inputs: dict[int, str] = {}  # id(tensor) -> input name
        self.input_arrays: dict[int, str] = {}  # id(array) -> input name (integer inputs)
        self.boundary: dict[int, tuple[_Call, int]] = {}
        self.keep: list = []  # leaves and calls, alive while the ids above are in use
        self.memo: dict[int, str] = {}
        self.prefixes = {id(m): (n + "." if n else "") for n, m in model.named_modules()}
        self.param_names: dict[int, str] = {}
        for n, t in (*model.named_parameters(), *model.named_buffers()):
            if t is not None:
                self.param_names[id(t)] = n
                self.g.array_names[id(t.detach().numpy())] = n

    # --- running the forward ---------------------------------------------------------------
    def _hook(self, module: Any, args: tuple, kwargs: dict, output: Any) -> Any:
        call = _Call(module, args, kwargs, len(_flatten(output)))
        leaves = []
        for i, t in enumerate(_flatten(output)):
            leaf = t.detach()
            if leaf.detach().numpy().dtype.kind == "f":
                leaf.requires_grad_(True)
            self.boundary[id(leaf)] = (call, i)
            leaves.append(leaf)
        self.keep += [call, *leaves]
        return _rebuild(output, iter(leaves))

    def run(self, arrays: list[np.ndarray], names: list[str], kwargs: dict) -> Any:
        inputs = []
        for a, n in zip(arrays, names):
            t = as_tensor(a)
            if a.dtype.kind == "f":
                t = t.detach().requires_grad_(True)
            self.inputs[id(t)] = n
            self.input_arrays[id(t.detach().numpy())] = n
            inputs.append(t)
        self.keep += inputs
        handles, whole = [], []
        for name, m in self.model.named_modules():
            if type(m) in MODULE_EXPORTERS and not any(name.startswith(w) for w in whole):
                handles.append(m.register_forward_hook(self._hook, with_kwargs=True))
                whole.append(name + "." if name else "")
        try:
            with enable_grad():
                return self.model(*inputs, **kwargs)
        finally:
            for h in handles:
                h.remove()

    # --- walking the recorded graph --------------------------------------------------------
    def prefix(self, module: Any) -> str:
        return self.prefixes.get(id(module), "")

    def param(self, module: Any, name: str) -> str:
        t = getattr(module, name)
        return self.g.param(self.prefix(module) + name, t.detach().numpy())

    def name(self, t: Any) -> str:
        """The ONNX name of a tensor the forward used (emitting what produces it)."""
        if t is None:
            return ""
        if not isinstance(t, Tensor):
            return self.array(np.asarray(t))
        if id(t) in self.inputs:
            return self.inputs[id(t)]
        if id(t) in self.boundary:
            call, i = self.boundary[id(t)]
            return self.emit_call(call)[i]
        if t.grad_fn is not None:
            return self.node(t.grad_fn)
        if id(t) in self.param_names:
            return self.g.param(self.param_names[id(t)], t.detach().numpy())
        return self.array(t.detach().numpy())

    def array(self, x: Any) -> str:
        if x is None:
            return ""
        if id(x) in self.input_arrays:
            return self.input_arrays[id(x)]
        return self.g.resolve_array(x)

    def emit_call(self, call: _Call) -> list[str]:
        if call.names is None:
            m = call.module
            where, self.g.where = self.g.where, self.g.fresh(type(m).__name__)
            names = MODULE_EXPORTERS[type(m)](self, m, call.args, call.kwargs)
            self.g.where = where
            if len(names) != call.n:
                raise UnsupportedOperatorError(f"{type(m).__name__}: its converter gave "
                                               f"{len(names)} outputs for {call.n} tensors")
            call.names = names
        return call.names

    def node(self, n: Any) -> str:
        key = id(n)
        if key in self.memo:
            return self.memo[key]
        conv = OP_EXPORTERS.get(n.name)
        if conv is None:
            raise _unsupported(n.name)
        xs = n.saved_inputs
        if xs is None:
            raise UnsupportedOperatorError(f"{n.name}: its saved inputs were freed by a backward "
                                           "pass; export traces a fresh forward, do not call "
                                           "backward on its outputs")
        edges = [e for e, _ in n.next_functions]
        dt = next((np.asarray(x).dtype for x in xs if isinstance(x, np.ndarray)
                   and x.dtype.kind == "f"), np.dtype(np.float32))
        ins = []
        for e, x in zip(edges, xs):
            if e is None:
                ins.append(self.scalar(x, dt) if isinstance(x, (int, float)) else self.array(x))
            elif isinstance(e, Tensor):
                ins.append(self.name(e))
            else:
                ins.append(self.node(e))
        where, self.g.where = self.g.where, self.g.fresh(n.name)
        out = conv(self.g, ins, tuple(xs), tuple(n.params), dt)
        self.g.where = where
        self.memo[key] = out
        self.keep.append(n)
        return out

    def scalar(self, v: Any, dt: np.dtype) -> str:
        return self.g.const(v, dt if not isinstance(v, bool) else np.bool_)


def _unsupported(name: str) -> UnsupportedOperatorError:
    for why, names in NOT_EXPORTED.items():
        if name in names:
            return UnsupportedOperatorError(f"{name}: cannot be exported to ONNX: {why}")
    pending = (f"; layers awaiting an exporter entry: {', '.join(PENDING)}"
               if PENDING and ("conv" in name or "pool" in name) else "")
    return UnsupportedOperatorError(
        f"{name}: this op has no ONNX converter yet (chainrule.onnx.ops.OP_EXPORTERS){pending}; "
        f"exportable ops: {', '.join(sorted(OP_EXPORTERS))}")


@contextmanager
def _eval_mode(model: Any, training: bool) -> Any:
    modes = [(m, m.training) for m in model.modules()]
    model.train(training)
    try:
        yield
    finally:
        for m, t in modes:
            m.training = t


@contextmanager
def _deep_recursion() -> Any:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20000))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _axes_spec(spec: Any, name: str) -> dict[int, str]:
    if isinstance(spec, dict):
        return {int(k): str(v) for k, v in spec.items()}
    return {int(a): f"{name}_dynamic_axes_{i + 1}" for i, a in enumerate(spec)}


def _other_sizes(a: np.ndarray, axes: dict[int, str]) -> np.ndarray:
    """A second input for the check trace: other values, and one more along dynamic axes."""
    b = a
    for ax in axes:
        n = b.shape[ax]
        b = np.take(b, np.arange(n + 1) % max(n, 1), axis=ax)
    if b.dtype.kind == "f" and b.size and np.isfinite(b).all():  # signs flipped, values moved
        noise = np.random.default_rng(0).standard_normal(b.shape)
        b = (-1.37 * b + (0.1 * float(np.std(b)) + 0.01) * noise).astype(a.dtype)
    return np.ascontiguousarray(b)


def _trace(model: Any, arrays: list, names: list[str], kwargs: dict,
           opset: int) -> tuple[_Tracer, list]:
    tr = _Tracer(model, opset)
    outs = _flatten(tr.run(arrays, names, kwargs))
    if not outs:
        raise UnsupportedOperatorError("export: the model returned no tensor")
    with _deep_recursion():
        out_names = [tr.name(t) for t in outs]
    return tr, list(zip(out_names, outs))


def _compare(g1: Graph, g2: Graph, what: str) -> None:
    """Both traces must give the same graph: say which op differs when they do not."""
    for a, b in zip(g1.nodes, g2.nodes):
        if (a.op_type, a.inputs, a.name, repr(a.attrs)) != (b.op_type, b.inputs, b.name,
                                                            repr(b.attrs)):
            raise UnsupportedOperatorError(
                f"{a.name.split('/')[0]}: exported differently when the input changed ({what}): "
                f"{a.op_type}{a.attrs or ''} vs {b.op_type}{b.attrs or ''}. The forward depends "
                "on input values or sizes in a way ONNX export cannot trace (a Python branch on "
                "values, or a shape read from the input and used as a number); drop the dynamic "
                "axis or compute it with tensor ops")
    if len(g1.nodes) != len(g2.nodes):
        raise UnsupportedOperatorError(
            f"export: the forward recorded {len(g1.nodes)} vs {len(g2.nodes)} ONNX nodes when the "
            f"input changed ({what}): it takes a different path for different inputs (a Python "
            "branch or loop on values or sizes), which a traced ONNX graph cannot express")
    for name, v in g1.consts.items():
        w = g2.consts.get(name)
        if w is None or v.shape != w.shape or not np.array_equal(v, w, equal_nan=True):
            user = next((n.name.split("/")[0] for n in g1.nodes if name in n.inputs), "export")
            raise UnsupportedOperatorError(
                f"{user}: uses a value of shape {v.shape} that changed when the input changed "
                f"({what}): it was computed from the input outside the recorded ops (a "
                "comparison, .detach(), .numpy(), .item(), or a tensor created from x.shape), "
                "so ONNX would freeze it to the traced value. Compute it with tensor ops, or "
                "pass it as an input")


def export(model: Any, args: Any = (), f: Any = None, *, kwargs: dict | None = None,
           export_params: bool = True, verbose: bool = False, training: bool = False,
           input_names: list[str] | None = None, output_names: list[str] | None = None,
           opset_version: int | None = None, dynamic_axes: dict | None = None,
           check: bool = True) -> Any:
    """Export ``model`` (traced on ``args``) to ONNX at ``f`` (a path or a binary file; None:
    only return it), as ``torch.onnx.export``; returns the ``onnx.ModelProto``.

    ``args``: a tensor, or a tuple of them (a trailing dict is keyword arguments);
    ``input_names``/``output_names`` name the graph's inputs and flattened outputs;
    ``dynamic_axes``: ``{name: {axis: "batch"}}`` or ``{name: [axis, ...]}``;
    ``opset_version`` defaults to 17. Parameters and buffers are initializers named by their
    ``state_dict`` keys. ``onnx.checker.check_model`` runs on the result unless ``check=False``.
    An op or layer without an ONNX form raises ``UnsupportedOperatorError`` naming it.
    """
    try:
        import onnx
    except ImportError:
        raise ImportError("chainrule.onnx.export needs the onnx package: "
                          "pip install 'chainrule[onnx]'") from None
    if not export_params:
        raise ValueError("export: export_params=False is not supported; the weights are "
                         "always written as initializers")
    if training:
        raise ValueError("export: training=True is not supported; dropout and batch statistics "
                         "have no deterministic ONNX form, so the model is exported in eval mode")
    opset = DEFAULT_OPSET if opset_version is None else int(opset_version)
    if not MIN_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise ValueError(f"export: opset_version={opset}; supported: {MIN_OPSET} to "
                         f"{onnx.defs.onnx_opset_version()}")
    if not isinstance(args, tuple):
        args = (args,)
    if args and isinstance(args[-1], dict):
        args, kwargs = args[:-1], {**args[-1], **(kwargs or {})}
    arrays = [np.asarray(a.detach().numpy() if isinstance(a, Tensor) else a) for a in args]
    if input_names is not None and len(input_names) > len(arrays):
        raise ValueError(f"export: {len(input_names)} input_names for {len(arrays)} inputs")
    names = list(input_names or []) + [f"input_{i}" if len(arrays) > 1 else "input"
                                       for i in range(len(input_names or []), len(arrays))]
    dyn = {k: _axes_spec(v, k) for k, v in (dynamic_axes or {}).items()}
    for k in dyn:
        if k not in names and k not in (output_names or []):
            raise ValueError(f"export: dynamic_axes names {k!r}, which is neither an input "
                             f"({names}) nor an output name ({output_names or []})")
    kwargs = dict(kwargs or {})
    with _eval_mode(model, False):
        tr, outs = _trace(model, arrays, names, kwargs, opset)
        arrays2 = [_other_sizes(a, dyn.get(n, {})) for a, n in zip(arrays, names)]
        with np.errstate(all="ignore"):  # the check trace's values may leave a log's domain
            tr2, outs2 = _trace(model, arrays2, names, kwargs, opset)
    changed = [n for n in names if dyn.get(n)]
    what = f"other values, and sizes along the dynamic axes of {', '.join(changed)}" \
        if changed else "other values"
    _compare(tr.g, tr2.g, what)
    onames = list(output_names or [])
    onames += [f"output_{i}" if len(outs) > 1 else "output" for i in range(len(onames),
                                                                           len(outs))]
    g = tr.g
    graph_outputs = []
    for oname, (vname, t), (_, t2) in zip(onames, outs, outs2):
        # An output must be a node output of its own name: rename through Identity.
        g.add("Identity", [vname])
        g.nodes[-1].outputs = [oname]
        spec = dyn.get(oname, {})
        shape: list[Any] = list(t.shape)
        for i, (a, b) in enumerate(zip(t.shape, t2.shape)):
            if i in spec:
                shape[i] = spec[i]
            elif a != b:
                shape[i] = f"{oname}_dim{i}"
        graph_outputs.append((oname, np.dtype(t.detach().numpy().dtype), shape))
    graph_inputs = []
    for a, n in zip(arrays, names):
        spec = dyn.get(n, {})
        graph_inputs.append((n, a.dtype, [spec.get(i, s) for i, s in enumerate(a.shape)]))
    used = {i for node in g.nodes for i in node.inputs}
    g.params = {k: v for k, v in g.params.items() if k in used}
    from chainrule import __version__
    model_proto = to_model(g, graph_inputs, graph_outputs, f"chainrule {__version__}")
    if check:
        onnx.checker.check_model(model_proto, full_check=True)
    if verbose:
        print(onnx.helper.printable_graph(model_proto.graph))
    if f is not None:
        if isinstance(f, (str, os.PathLike)):
            onnx.save(model_proto, os.fspath(f))
        elif isinstance(f, io.IOBase) or hasattr(f, "write"):
            f.write(model_proto.SerializeToString())
        else:
            raise TypeError(f"export: f must be a path or a binary file, got {type(f).__name__}")
    return model_proto
