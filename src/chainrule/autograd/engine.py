"""The backward pass: reverse topological order over the recorded graph, chain rule at each node.

One loop, in two steps:

1. Keep the nodes that have received a gradient in a heap ordered by creation number, latest
   first. An op's inputs are always created before the op, so when a node comes off the heap
   every consumer that could still send it a gradient has already run: its gradient is complete
   (the ``+=`` of the multivariable chain rule has happened). No recursion, no discovery pass, so
   a 10,000-deep chain is as easy as a short one.
2. *Run* the node: call its vjp, sum each input gradient back to the input's shape (undoing
   broadcasting in this one place) and pass it on: to the producing node (pushing it on the
   heap the first time), or into a leaf's ``.grad``.

First order runs on raw arrays (``Node.xp`` is NumPy). With ``create_graph=True`` each vjp runs on
Tensors with grad mode on, so the gradients it returns are differentiable again.

Tools watch the pass through one hook, :func:`observe`: each node run is reported as a
:class:`NodeEvent` (the node, the gradient that came in, the gradients it produced, the seconds
its vjp took). Observed passes take the general loop, as create_graph and anomaly mode do; the
fast loop never looks for observers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from heapq import heappop, heappush
from time import perf_counter
from typing import Any

from chainrule import backend
from chainrule.autograd.anomaly import check_event
from chainrule.autograd.factories import as_tensor
from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.node import Node
from chainrule.autograd.tensor import Tensor, _leaf

_xp_of = backend.get_array_module  # the seam: the array module that owns an array


@dataclass(frozen=True)
class NodeEvent:
    """One node run by backward, as an observer sees it.

    ``grad_output``: the gradient that came into the node (after its tensor hooks);
    ``grad_inputs``: one gradient per input, summed back to the input's shape, None where the
    input needs none; both are arrays, or Tensors under ``create_graph=True``. ``seconds``: the
    time spent in the node's vjp. Observers must not modify the arrays (they flow on).
    """

    node: Node
    grad_output: Any
    grad_inputs: tuple[Any, ...]
    seconds: float


Observer = Callable[[NodeEvent], None]
_ACTIVE: list[observe] = []  # the registered observers, oldest first


class observe:
    """Call ``callback(event)`` for every node run by every backward pass (``backward()``,
    ``cr.grad``, ...) until removed: a context manager, or ``h = observe(cb)`` then
    ``h.remove()``. Several observers may be active; they are called in registration order,
    nodes in reverse topological order (latest-created first). An exception raised by an
    observer stops that backward pass and propagates.

        with cr.autograd.observe(lambda ev: print(ev.node.name, ev.seconds)):
            loss.backward()
    """

    def __init__(self, callback: Observer) -> None:
        if not callable(callback):
            raise TypeError(f"observe: expected a callable taking a NodeEvent, got "
                            f"{type(callback).__name__}")
        self.callback = callback
        _ACTIVE.append(self)
        STATE.observers = tuple(h.callback for h in _ACTIVE)

    def remove(self) -> None:
        """Stop observing (idempotent)."""
        if self in _ACTIVE:
            _ACTIVE.remove(self)
            STATE.observers = tuple(h.callback for h in _ACTIVE)

    def __enter__(self) -> observe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class TensorCtx:
    """The vjp context under ``create_graph``: inputs and output as differentiable Tensors."""

    __slots__ = ("need", "op", "out", "p", "res", "x")
    xp: Any = None  # chainrule's own op namespace; set by chainrule.ops.namespace


def _alias(x: Any, edge: Any) -> Any:
    """The input of a node as a Tensor wired to the same graph edge (for create_graph)."""
    if edge is None:
        return x if x is None or isinstance(x, (int, float, bool)) else _leaf(_xp_of(x).asarray(x))
    if type(edge) is not Node:  # a leaf tensor
        return edge
    t = _leaf(x)
    t._node = edge
    t.requires_grad = True
    return t


def _tensor_ctx(n: Node) -> TensorCtx:
    c = TensorCtx()
    c.op, c.p, c.res, c.need = n.op, n.p, n.res, n.need
    c.x = tuple(_alias(x, e) for x, e in zip(n.x, n.next))
    c.out = None
    if n.op.saves_out:
        ins = c.x if n.op.nin != -1 else (list(c.x),)
        c.out = n.op.call(*ins, *n.p)  # recomputed so that it is differentiable again
    return c


def sum_to_shape(g: Any, shape: tuple[int, ...]) -> Any:
    """Sum a broadcast gradient back to ``shape`` (the inverse of broadcasting)."""
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape) if g.shape != shape else g


def _check_saved(n: Node) -> None:
    if sum(v[0] for v in n.vcs) != n.ver:
        raise RuntimeError(
            f"backward: a tensor saved by '{n.op.name}' for its gradient was modified in place "
            "after the forward pass (its version counter changed), so its gradient would be "
            "wrong; clone() the tensor before modifying it, or modify it out of place")


def _freed(n: Node) -> RuntimeError:
    return RuntimeError(
        f"backward: trying to backward through the graph a second time (the saved values of "
        f"'{n.op.name}' were freed after the first backward); pass retain_graph=True to the "
        "first backward() if you need to run it twice")


def _root_grad(t: Tensor, g: Any, i: int, create_graph: bool) -> Any:
    if g is None:
        if t._data.size != 1:
            raise RuntimeError(
                f"backward: grad can be implicitly created only for scalar outputs, but output "
                f"{i} has shape {t.shape}; pass gradient= (a tensor of that shape), or reduce "
                "the output first (e.g. .sum() or .mean())")
        arr = _xp_of(t._data).ones(t.shape, dtype=t.dtype)
        return _leaf(arr) if create_graph else arr
    gt = g if isinstance(g, Tensor) else as_tensor(g)
    if gt.shape != t.shape:
        raise RuntimeError(f"backward: gradient {i} has shape {gt.shape} but output {i} has shape "
                           f"{t.shape}; they must match")
    if create_graph:
        return gt if gt.dtype == t.dtype else gt.to(t.dtype)
    xp = _xp_of(gt._data)
    return xp.array(gt._data, dtype=t.dtype)  # a private copy: accumulation may reuse it


def _call_hooks(hooks: list, g: Any, create_graph: bool) -> Any:
    for h in list(hooks):
        gt = g if create_graph else _leaf(g)
        r = h(gt)
        if r is not None:
            g = r if create_graph else (r._data if isinstance(r, Tensor)
                                        else _xp_of(g).asarray(r))
    return g


def _owned_layout(flags: Any) -> bool:
    return flags.writeable and flags.c_contiguous


class _Accumulator:
    """Where gradients that reach leaves (or captured tensors) end up."""

    def __init__(self, create_graph: bool, capture: dict | None) -> None:
        self.create_graph = create_graph
        self.capture = capture  # edge -> gradient (cr.grad / backward(inputs=...)), else None
        self.given: dict[int, Any] = {}  # arrays handed to a .grad in this pass
        self.hooked: dict[Tensor, Any] = {}  # leaves with hooks: summed, hooked once in flush()

    def leaf(self, t: Tensor, g: Any) -> None:
        if t._meta:
            prev = self.hooked.get(t)
            self.hooked[t] = g if prev is None else prev + g
            return
        self.deliver(t, g)

    def flush(self) -> None:
        """Call each hooked leaf's hooks once, with its total gradient, then deliver it."""
        for t, g in self.hooked.items():
            self.deliver(t, _call_hooks(t._meta, g, self.create_graph))

    def deliver(self, t: Tensor, g: Any) -> None:
        if self.capture is not None:
            if t in self.capture:
                prev = self.capture[t]
                self.capture[t] = g if prev is None else prev + g
            return
        self.store(t, g)

    def store(self, t: Tensor, g: Any) -> None:
        """Add ``g`` into ``t.grad``: out of place, never sharing memory with another ``.grad``."""
        if self.create_graph:
            if not isinstance(g, Tensor):
                g = _leaf(g)
            t.grad = g.clone() if t.grad is None else t.grad + g  # clone: never alias a .grad
            return
        if g.dtype != t._data.dtype:
            g = g.astype(t._data.dtype)
        prev = t._grad  # the slot behind .grad: the engine's gradients fit by construction
        if prev is None:
            if g.base is not None or id(g) in self.given or not _owned_layout(g.flags):
                g = _xp_of(g).array(g, order="C")
            self.given[id(g)] = g
            t._grad = _leaf(g)
        else:
            s = prev._data + g
            prev._data = s if s.ndim else _xp_of(s).asarray(s)  # 0-d + 0-d gives a scalar


def _run_backward(roots: Sequence[Tensor], root_grads: Sequence[Any] | None,
                 retain_graph: bool, create_graph: bool, capture: dict | None) -> None:
    """Propagate from ``roots`` (see the module docstring). With ``capture``, gradients of the
    edges it names are collected there instead of being stored into ``.grad``."""
    acc = _Accumulator(create_graph, capture)
    grads: dict[Node, Any] = {}
    heap: list[tuple[int, Node]] = []
    for i, t in enumerate(roots):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(
                f"backward: output {i} does not require grad and has no grad_fn; nothing that "
                "produced it requires grad (set requires_grad=True on the inputs, and do not "
                "compute it under no_grad)")
        g = _root_grad(t, None if root_grads is None else root_grads[i], i, create_graph)
        n = t._node
        if n is None:
            acc.leaf(t, g)
        elif n in grads:
            grads[n] = grads[n] + g
        else:
            grads[n] = g
            heappush(heap, (-n.seq, n))

    prev_mode = STATE.enabled
    STATE.enabled = create_graph
    try:
        if create_graph or STATE.anomaly or capture is not None or STATE.observers:
            if STATE.recorder is not None:  # cr.compile: observes this pass (or refuses it)
                STATE.recorder.backward(roots, root_grads, create_graph, capture)
            _propagate_general(heap, grads, acc, retain_graph, create_graph)
        else:
            _propagate_fast(heap, grads, acc, retain_graph)
        acc.flush()
    finally:
        STATE.enabled = prev_mode


def _prepare(n: Node) -> None:
    """Refuse to run a node whose saved values are gone or were changed in place."""
    if n.x is None:
        raise _freed(n)
    vcs = n.vcs
    if vcs:
        s = 0
        for v in vcs:
            s += v[0]
        if s != n.ver:
            _check_saved(n)
    if n.op.vjp is None:
        raise RuntimeError(f"backward: op '{n.op.name}' has no gradient rule")


def _propagate_fast(heap: list, grads: dict, acc: _Accumulator, retain_graph: bool) -> None:
    """First-order backward on arrays: the hot loop (keep it short; measure any change).

    ``heap`` holds the nodes that have received a gradient, latest-created first; when a node
    is popped, every node that could still send it a gradient was created later and has run.
    A node whose first gradient arrives from the node just run, and that is newer than anything
    on the heap, runs next directly (a chain never touches the heap).
    """
    grads_pop, grads_get, sum_to = grads.pop, grads.get, sum_to_shape
    store, leaf = acc.store, acc.leaf  # store: a leaf without hooks (no capture on this path)
    n = g = None
    while True:
        if n is None:
            if not heap:
                return
            n = heappop(heap)[1]
            g = grads_pop(n)
        if n.meta is not None:
            g = _node_extras(n, g, acc)
        x, vcs = n.x, n.vcs
        if x is None:
            raise _freed(n)
        if vcs:
            s = 0
            for v in vcs:
                s += v[0]
            if s != n.ver:
                _check_saved(n)
        gs, nxt = n.op.vjp(n, g), n.next
        follow = fg = None
        i, k = 0, len(nxt)
        while i < k:  # the edges (indexing: a zip costs more than a node's one or two edges)
            e, gi = nxt[i], gs[i]
            i += 1
            if e is None or gi is None:
                continue
            xi = x[i - 1]
            if gi.shape != xi.shape:
                gi = sum_to(gi, xi.shape)
            if type(e) is Node:
                if e is follow:
                    fg = fg + gi
                    continue
                prev = grads_get(e) if grads else None
                if prev is not None:
                    grads[e] = prev + gi
                elif follow is None:
                    follow, fg = e, gi
                else:
                    grads[e] = gi
                    heappush(heap, (-e.seq, e))
            elif e._meta:
                leaf(e, gi)
            else:
                store(e, gi)
        if not retain_graph:
            n.x = n.res = n.out = None
        if follow is not None and heap and heap[0][0] < -follow.seq:
            grads[follow] = fg  # an older node must wait its turn on the heap
            heappush(heap, (-follow.seq, follow))
            follow = None
        n, g = follow, fg


def _propagate_general(heap: list, grads: dict, acc: _Accumulator, retain_graph: bool,
                       create_graph: bool) -> None:
    """The same walk with create_graph, observers (anomaly mode adds one) and captured inputs.
    ``STATE.in_backward`` tells anomaly mode's forward check that ops run inside a vjp."""
    observers = STATE.observers + ((check_event,) if STATE.anomaly else ())
    prev, STATE.in_backward = STATE.in_backward, True
    try:
        _walk(heap, grads, acc, retain_graph, create_graph, observers)
    finally:
        STATE.in_backward = prev


def _walk(heap: list, grads: dict, acc: _Accumulator, retain_graph: bool, create_graph: bool,
          observers: tuple) -> None:
    capture = acc.capture
    while heap:
        n = heappop(heap)[1]
        g = grads.pop(n)
        if n.meta is not None or capture is not None:
            g = _node_extras(n, g, acc)
        _prepare(n)
        t0 = perf_counter()
        if create_graph:
            if n.op.order < 2:
                raise RuntimeError(
                    f"backward: op '{n.op.name}' supports first-order gradients only; "
                    "create_graph=True (higher-order gradients) cannot pass through it")
            gs = n.op.vjp(_tensor_ctx(n), g)
            sum_to = TensorCtx.xp.sum_to
        else:
            gs = n.op.vjp(n, g)
            sum_to = sum_to_shape
        seconds = perf_counter() - t0
        out: list[Any] = [None] * len(n.next)
        for i, (e, gi, xi) in enumerate(zip(n.next, gs, n.x)):
            if e is None or gi is None:
                continue
            out[i] = gi if gi.shape == xi.shape else sum_to(gi, xi.shape)
        if observers:
            event = NodeEvent(n, g, tuple(out), seconds)
            for ob in observers:
                ob(event)
        for e, gi in zip(n.next, out):
            if gi is None:
                continue
            if type(e) is Node:
                prev = grads.get(e)
                if prev is None:
                    grads[e] = gi
                    heappush(heap, (-e.seq, e))
                else:
                    grads[e] = prev + gi
            else:
                acc.leaf(e, gi)
        if not retain_graph:
            n.x = n.res = n.out = None


def _node_extras(n: Node, g: Any, acc: _Accumulator) -> Any:
    """Hooks, retain_grad and capture for a non-leaf tensor whose gradient is complete."""
    m = n.meta
    if m is None:
        if n in acc.capture:
            acc.capture[n] = g
        return g
    if m.hooks:
        g = _call_hooks(m.hooks, g, acc.create_graph)
    if m.retain is not None:
        t = m.retain()
        if t is not None and acc.capture is None:
            acc.store(t, g)
    if acc.capture is not None and n in acc.capture:
        acc.capture[n] = g
    return g


def backward(tensors: Sequence[Tensor], grad_tensors: Sequence[Any] | None = None,
             retain_graph: bool | None = None, create_graph: bool = False,
             inputs: Sequence[Tensor] | None = None) -> None:
    """Accumulate the gradients of ``tensors`` into the ``.grad`` of the leaves (or of
    ``inputs`` only, when given). ``retain_graph`` defaults to ``create_graph``."""
    if isinstance(tensors, Tensor):
        tensors = (tensors,)
    if isinstance(grad_tensors, Tensor):
        grad_tensors = (grad_tensors,)
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is None:
        _run_backward(tuple(tensors), grad_tensors, retain_graph, create_graph, None)
        return
    ins = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    capture = {_edge(t, "backward"): None for t in ins}
    _run_backward(tuple(tensors), grad_tensors, retain_graph, create_graph, capture)
    acc = _Accumulator(create_graph, None)
    for t in ins:
        g = capture[_edge(t, "backward")]
        if g is not None:
            acc.store(t, g)


def _edge(t: Tensor, where: str) -> Any:
    if not isinstance(t, Tensor) or not t.requires_grad:
        raise RuntimeError(f"{where}: every input must be a tensor that requires grad")
    return t._node if t._node is not None else t


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool | None = None,
         only_inputs: bool = True, materialize_grads: bool = False) -> tuple[Tensor | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, returned (``.grad`` untouched).

    As ``torch.autograd.grad``: ``grad_outputs`` weights non-scalar outputs; with
    ``create_graph=True`` the results are differentiable (grad of grad, Hessian-vector products).
    ``only_inputs`` is accepted and ignored, as PyTorch does (deprecated there).
    """
    outs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    ins = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    if grad_outputs is not None:
        grad_outputs = (grad_outputs,) if isinstance(grad_outputs, Tensor) or not isinstance(
            grad_outputs, (list, tuple)) else tuple(grad_outputs)
        if len(grad_outputs) != len(outs):
            raise RuntimeError(f"grad: got {len(grad_outputs)} grad_outputs for {len(outs)} "
                               "outputs; give one per output")
    if retain_graph is None:
        retain_graph = create_graph
    edges = [_edge(t, "grad") for t in ins]
    capture: dict[Any, Any] = dict.fromkeys(edges)
    _run_backward(outs, grad_outputs, retain_graph, create_graph, capture)
    result: list[Tensor | None] = []
    for i, (t, e) in enumerate(zip(ins, edges)):
        g = capture[e]
        if g is None:
            if materialize_grads:
                result.append(_leaf(_xp_of(t._data).zeros_like(t._data)))
                continue
            if not allow_unused:
                raise RuntimeError(
                    f"grad: input {i} (shape {t.shape}) was not used to compute the outputs; "
                    "pass allow_unused=True to get None for it")
            result.append(None)
        else:
            result.append(g if isinstance(g, Tensor) else _leaf(_xp_of(g).array(g)))
    return tuple(result)
