"""User-defined differentiable operations, written as PyTorch scripts write them::

    class MyExp(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad_output):
            y, = ctx.saved_tensors
            return grad_output * y

    y = MyExp.apply(x)

``forward`` runs on Tensors with grad mode off; its output is wired into the graph as one
``Node`` whose op is a per-class record (``MyExp._op``, named after the class), so the engine
runs a user-defined op exactly as it runs a registered one. The node's ``res`` is the ``ctx``.

Gradients of higher order: under ``create_graph=True`` ``backward`` receives differentiable
Tensors (saved inputs are the graph's own inputs; saved outputs are recomputed by applying the
Function again to them, as the engine recomputes a registered op's saved output), so a
``backward`` written with chainrule ops is differentiable again. Decorate a ``backward`` that is
not (NumPy inside) with ``once_differentiable``: ``create_graph`` then refuses cleanly.

Several outputs: the engine gives every node one output and one incoming gradient. A Function
with k > 1 differentiable outputs records one node ``F`` for the call (its edges go to the
inputs) and one small node per output (``MyFn.output``, edge to ``F``). An output node turns its
gradient into an ``_OutputGrads`` (a slot per output, the others None); the engine sums what
reaches ``F`` with ``+``, which merges slots, and ``F`` calls ``backward`` once with every
output's gradient. Each output keeps its own node, so hooks, ``retain_grad`` and
``cr.grad(..., inputs=output)`` work per output with no change to the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule import backend
from chainrule.autograd.engine import TensorCtx
from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.node import Node, meta_of, new_node
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.errors import fmt_shape
from chainrule.ops.registry import Op

_new = object.__new__
_MARK = backend.xp.zeros(())  # the input "array" of an output node: shape (), as _OutputGrads
_MARK.flags.writeable = False
_IN, _OUT, _OTHER = 0, 1, 2  # what a saved tensor is


class _OutputGrads:
    """The gradients of a multi-output Function's outputs, one slot each (None: none arrived).

    ``shape`` is ``()`` to match ``_MARK``, so the engine never tries to unbroadcast it."""

    __slots__ = ("g",)
    shape = ()

    def __init__(self, g: list) -> None:
        self.g = g

    def __add__(self, other: _OutputGrads) -> _OutputGrads:
        return _OutputGrads([b if a is None else a if b is None else a + b
                             for a, b in zip(self.g, other.g)])


class FunctionCtx:
    """The ``ctx`` that ``forward`` fills and ``backward`` reads (PyTorch's names).

    Any other attribute may be set on it to pass non-tensor values to ``backward``.
    """

    needs_input_grad: tuple[bool, ...]
    materialize_grads: bool = True

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        """Keep tensors (inputs, outputs or others; None allowed) for ``backward``."""
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward: argument {i} is a "
                                f"{type(t).__name__}; only tensors (or None) can be saved; set "
                                "other values as attributes of ctx (ctx.name = value)")
        self._to_save = tensors

    @property
    def saved_tensors(self) -> tuple[Tensor | None, ...]:
        """The tensors given to ``save_for_backward`` (read them in ``backward``)."""
        now = self.__dict__.get("_now")
        if now is not None:
            return now
        if "_saved" in self.__dict__:
            return tuple(None if kind is None else _leaf(arr) for kind, _, arr in self._saved)
        return self.__dict__.get("_to_save", ())

    def mark_non_differentiable(self, *outputs: Tensor) -> None:
        """Declare outputs with no gradient (indices, masks); they do not require grad, and
        ``backward`` receives zeros (or None) for them."""
        self._non_diff = {id(t) for t in outputs}

    def set_materialize_grads(self, value: bool) -> None:
        """With False, ``backward`` receives None instead of zeros for outputs that got no
        gradient."""
        self.materialize_grads = bool(value)

    def mark_dirty(self, *tensors: Tensor) -> None:
        raise NotImplementedError(
            "mark_dirty: in-place custom Functions are not supported; return a new tensor from "
            "forward instead of modifying an input")


def once_differentiable(backward: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a ``backward`` that is not itself differentiable (it uses NumPy, say): the Function
    then supports first-order gradients only, and ``create_graph=True`` refuses with a clear
    error instead of returning a wrong second derivative."""
    backward._once_differentiable = True  # type: ignore[attr-defined]
    return backward


class Function:
    """Base class of user-defined ops: define static ``forward(ctx, *args)`` and
    ``backward(ctx, *grad_outputs)``, then call ``MyFn.apply(*args)``.

    ``backward`` returns one gradient per ``forward`` argument (None for non-tensor arguments
    and for inputs that need no gradient; ``ctx.needs_input_grad`` says which do), each with its
    input's shape.
    """

    _op: Op
    _out_op: Op

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "vjp" in cls.__dict__ and "backward" not in cls.__dict__:
            cls.backward = cls.vjp  # type: ignore[method-assign]
        order = 1 if getattr(cls.backward, "_once_differentiable", False) else 2
        name = cls.__name__
        doc = (cls.__doc__ or "").strip()
        cls._op = Op(name=name, forward=cls.forward, nin=0, nparams=0, defaults=(),
                     vjp=_function_vjp, has_res=True, order=order,
                     formula=f"user-defined: {cls.__qualname__}.backward", doc=doc,
                     call=cls.apply)
        cls._out_op = Op(name=f"{name}.output", forward=cls.forward, nin=1, nparams=0,
                         defaults=(), vjp=_output_vjp, saves_x=False, order=2,
                         formula=f"selects one output of {name} (its gradient goes to {name})",
                         doc=doc, call=cls.apply)

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any) -> Any:
        raise NotImplementedError("Function.forward: define a static forward(ctx, *args)")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:
        raise NotImplementedError("Function.backward: define a static backward(ctx, *grads)")

    @staticmethod
    def setup_context(ctx: FunctionCtx, inputs: tuple, output: Any) -> None:
        """Optional (PyTorch 2 style): with it, ``forward(*args)`` takes no ctx and this fills
        ctx from the inputs and the output."""
        raise NotImplementedError

    def __call__(self, *args: Any) -> Any:
        raise RuntimeError(f"{type(self).__name__}: call the class's apply, "
                           f"{type(self).__name__}.apply(...), not an instance")

    @classmethod
    def apply(cls, *args: Any) -> Any:
        """Run ``forward`` on ``args`` and, when some tensor argument requires grad, record it."""
        enabled = STATE.enabled
        record = enabled and any(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(record and isinstance(a, Tensor) and a.requires_grad
                                     for a in args)
        STATE.enabled = False
        try:
            if cls.setup_context is not Function.setup_context:
                outs = cls.forward(*args)
                cls.setup_context(ctx, args, outs)
            else:
                outs = cls.forward(ctx, *args)
        finally:
            STATE.enabled = enabled
        if not record:
            return outs
        return _record(cls, ctx, args, outs)


def _record(cls: type[Function], ctx: FunctionCtx, args: tuple, outs: Any) -> Any:
    """Wire the outputs of ``forward`` into the graph (see the module docstring)."""
    single = not isinstance(outs, tuple)
    olist = (outs,) if single else outs
    non_diff = ctx.__dict__.pop("_non_diff", ())
    diff = [k for k, o in enumerate(olist) if isinstance(o, Tensor) and o.dtype.kind == "f"
            and id(o) not in non_diff]
    tpos = [j for j, a in enumerate(args) if isinstance(a, Tensor)]
    in_pos = {id(args[j]): p for p, j in enumerate(tpos)}
    out_pos = {id(o): k for k, o in enumerate(olist) if isinstance(o, Tensor)}

    saved, vcs, keep = [], [], set()
    for t in ctx.__dict__.pop("_to_save", ()):
        if t is None:
            saved.append((None, 0, None))
            continue
        vcs.append(t._vc)
        if id(t) in in_pos:
            keep.add(in_pos[id(t)])
            saved.append((_IN, in_pos[id(t)], t._data))
        elif id(t) in out_pos:
            saved.append((_OUT, out_pos[id(t)], t._data))
        else:
            saved.append((_OTHER, 0, t._data))
    keep_all = any(kind == _OUT for kind, _, _ in saved)  # recomputing them needs every input
    ctx._saved = saved
    ctx._cls = cls
    ctx._args = tuple(None if isinstance(a, Tensor) else a for a in args)
    ctx._tpos = tpos
    ctx._inputs = [(args[j].shape, args[j].dtype) for j in tpos]
    ctx._outs = [(o.shape, o.dtype) if isinstance(o, Tensor) else None for o in olist]
    ctx._single = single
    ctx._only = diff[0] if len(diff) == 1 else None

    xs, edges = [], []
    for p, j in enumerate(tpos):
        a = args[j]
        edges.append((a._node or a) if a.requires_grad else None)
        xs.append(a._data if keep_all or p in keep
                  else _zeros_view(a._data))
    node = _node(cls._op, tuple(edges), tuple(xs), (), ctx, tuple(vcs))
    if STATE.anomaly:
        _anomaly(cls, node, olist)

    results = []
    for k, o in enumerate(olist):
        if not isinstance(o, Tensor):
            results.append(o)
            continue
        t = _leaf(o._data)
        t._vc = o._vc
        if k in diff:
            t._node = node if len(diff) == 1 else _node(cls._out_op, (node,), (_MARK,),
                                                        (k, len(olist)), None)
            t.requires_grad = True
        results.append(t)
    return results[0] if single else tuple(results)


def _node(op: Op, edges: tuple, xs: tuple, p: tuple, res: Any, vcs: tuple = ()) -> Node:
    return new_node(op, edges, tuple(e is not None for e in edges), xs, p, res, None, vcs)


def _anomaly(cls: type[Function], node: Node, outs: tuple) -> None:
    from chainrule.autograd.anomaly import check_forward, forward_trace
    trace = forward_trace()
    meta_of(node).trace = trace
    for o in outs:
        if isinstance(o, Tensor):
            check_forward(cls._op, o._data, trace)


def _output_vjp(c: Any, g: Any) -> tuple:
    """An output node of a multi-output Function: pass its gradient on, in its slot."""
    k, n = c.p
    slots = [None] * n
    slots[k] = g
    return (_OutputGrads(slots),)


def _function_vjp(c: Any, g: Any) -> tuple:
    """Call the user's ``backward`` once, with Tensors, and check what it returns.

    ``c`` is the node itself on the first-order path (arrays in, arrays out) and a
    ``TensorCtx`` under ``create_graph`` (differentiable Tensors in and out)."""
    ctx = c.res
    graph = isinstance(c, TensorCtx)
    if type(g) is _OutputGrads:
        gl = g.g
    else:
        gl = [None] * len(ctx._outs)
        gl[ctx._only] = g
    grads: list[Any] = []
    for gk, spec in zip(gl, ctx._outs):
        if spec is None or (gk is None and not ctx.materialize_grads):
            grads.append(None)
        elif gk is None:
            grads.append(_leaf(backend.xp.zeros(spec[0], spec[1])))
        else:
            grads.append(gk if graph else _leaf(gk))
    prev = ctx.__dict__.get("_now")
    ctx._now = _saved_for_graph(ctx, c) if graph else tuple(
        None if kind is None else _leaf(arr) for kind, _, arr in ctx._saved)
    try:
        result = ctx._cls.backward(ctx, *grads)
    finally:
        ctx._now = prev
    return _check_result(ctx, c, result, graph)


def _saved_for_graph(ctx: FunctionCtx, c: Any) -> tuple:
    """Saved tensors as differentiable Tensors: inputs are the graph's own inputs (``c.x``),
    outputs are recomputed from them by applying the Function again, others are constants."""
    outs = None
    saved: list[Tensor | None] = []
    for kind, i, arr in ctx._saved:
        if kind is None:
            saved.append(None)
        elif kind == _IN:
            saved.append(c.x[i])
        elif kind == _OUT:
            if outs is None:
                args = list(ctx._args)
                for p, j in enumerate(ctx._tpos):
                    args[j] = c.x[p]
                outs = ctx._cls.apply(*args)
                outs = (outs,) if ctx._single else outs
            saved.append(outs[i])
        else:
            saved.append(_leaf(arr))
    return tuple(saved)


def _check_result(ctx: FunctionCtx, c: Any, result: Any, graph: bool) -> tuple:
    """One gradient per node input, checked against the input's shape and cast to its dtype."""
    name = ctx._cls.__name__
    res = result if isinstance(result, tuple) else (result,)
    nargs = len(ctx._args)
    if len(res) < nargs or any(r is not None for r in res[nargs:]):
        raise RuntimeError(
            f"{name}.backward returned {len(res)} gradient(s), but forward took {nargs} "
            f"argument(s); return one gradient (or None) per forward argument")
    for j, r in enumerate(res[:nargs]):
        if r is not None and j not in ctx._tpos:
            raise RuntimeError(
                f"{name}.backward returned a gradient for argument {j}, which is not a tensor "
                f"({type(ctx._args[j]).__name__}); return None for it")
    out: list[Any] = []
    for p, j in enumerate(ctx._tpos):
        r = res[j]
        if r is None or not c.need[p]:
            out.append(None)
            continue
        shape, dtype = ctx._inputs[p]
        if graph:
            r = r if isinstance(r, Tensor) else _leaf(backend.get_array_module(r).asarray(r))
            if r.dtype != dtype:
                r = r.to(dtype)
            arr = r._data
        else:
            arr = r._data if isinstance(r, Tensor) else backend.get_array_module(r).asarray(r)
            if arr.dtype != dtype:
                arr = arr.astype(dtype)
            elif any(arr is s for _, _, s in ctx._saved) or arr is c.x[p]:
                arr = arr.copy()  # a .grad must never share memory with a saved tensor
            r = arr
        if arr.shape != shape and not _sums_to(arr.shape, shape):
            raise RuntimeError(
                f"{name}.backward returned a gradient of shape {fmt_shape(arr.shape)} for input "
                f"{j}, which has shape {fmt_shape(shape)}; return one gradient per forward "
                "argument, with that argument's shape (or None)")
        out.append(r)
    return tuple(out)


def tensors_in(value: Any) -> list[Tensor]:
    """The tensors of a nested output (tuples, lists, dict values), in order; others skipped."""
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in tensors_in(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors_in(v)]
    return []


def _zeros_view(a: Any) -> Any:
    """A zero-strided stand-in of ``a``'s shape and dtype for an input the backward never reads
    (no memory kept), in ``a``'s array module."""
    xp = backend.get_array_module(a)
    return xp.broadcast_to(xp.zeros((), a.dtype), a.shape)


def _sums_to(gshape: tuple, shape: tuple) -> bool:
    """True when a gradient of ``gshape`` can be summed back to ``shape`` (broadcasting)."""
    try:
        return backend.broadcast_shapes(gshape, shape) == gshape
    except ValueError:
        return False
