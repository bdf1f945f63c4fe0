"""The graph behind a tensor as plain records: what ``explain`` prints and tests compare.

    t = cr.viz.trace(loss, params=model)    # nodes in topological order, inputs first
    for s in t.steps:
        print(s.name, s.op, s.formula, s.grad)

The forward side is read from the graph's public API (``Tensor.grad_fn``, ``Node.next_functions``,
``Node.saved_inputs``, ...). The backward side comes from one real backward pass of the engine,
watched with :func:`chainrule.autograd.observe`: each step records the gradient that came in and
what its vjp sent to each input, and each value that feeds several steps records the
contributions that are summed into its gradient. The graph must still hold its saved values
(trace before ``backward()``, or after ``backward(retain_graph=True)``). The local derivative
of a small step (the Jacobian of its output with respect to an input) is the engine's
``jacobian`` of the op alone, applied to the inputs the step saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.autograd.engine import NodeEvent, grad, observe
from chainrule.autograd.factories import as_tensor
from chainrule.autograd.functional import jacobian
from chainrule.autograd.node import Node
from chainrule.autograd.tensor import Tensor
from chainrule.ops.registry import REGISTRY

MAX_JACOBIAN = 256
"""Local derivatives are recorded only when output size * input size is at most this."""


@dataclass
class Leaf:
    """A graph input: a parameter (or any tensor that requires grad) or a constant."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    value: np.ndarray
    requires_grad: bool
    grad: np.ndarray | None = None  # d(root)/d(leaf), summed over every use
    uses: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (step, contribution)


@dataclass
class Input:
    """One input of a step: where it comes from and what backward sends to it."""

    source: str  # a leaf's or an earlier step's name
    shape: tuple[int, ...]
    dtype: str
    value: np.ndarray | None  # None: an optional input that was not given
    local: np.ndarray | None = None  # d out / d input: elementwise (input shape) or a Jacobian
    local_kind: str = ""  # "elementwise", "gradient" (scalar output) or "jacobian"
    product: np.ndarray | None = None  # incoming gradient times local derivative (the vjp)


@dataclass
class Step:
    """One recorded op (a node of the graph), with its forward and backward numbers."""

    index: int
    name: str  # "v1", "v2", ... (the root is the last)
    op: str
    formula: str
    params: tuple
    inputs: list[Input]
    shape: tuple[int, ...]
    dtype: str
    value: np.ndarray
    # incoming gradient d(root)/d(this output); for a split/unbind, its outputs' gradients
    # filed by index (``.grads()``), and so are its uses' contributions
    grad: np.ndarray | None = None
    uses: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (consumer, contribution)


@dataclass
class Trace:
    """Every leaf and step of the graph behind ``root`` (steps in topological order)."""

    leaves: list[Leaf]
    steps: list[Step]
    root: str
    backward: bool

    def leaf(self, name: str) -> Leaf:
        for lf in self.leaves:
            if lf.name == name:
                return lf
        raise KeyError(f"trace: no leaf named {name!r}; leaves: {[x.name for x in self.leaves]}")

    def grads(self) -> dict[str, np.ndarray]:
        """Gradient of the root with respect to each leaf that requires grad, by name."""
        return {lf.name: lf.grad for lf in self.leaves if lf.grad is not None}

    def accumulations(self) -> list[tuple[str, list[tuple[str, np.ndarray]]]]:
        """The values that feed several steps: (name, [(consumer, contribution), ...])."""
        out = [(s.name, s.uses) for s in self.steps if len(s.uses) > 1]
        return out + [(lf.name, lf.uses) for lf in self.leaves if len(lf.uses) > 1]


def _names(params: Any) -> dict[int, str]:
    """id(tensor) and id(its array) -> name, from a Module or a dict name -> tensor."""
    if params is None:
        return {}
    items = params.named_parameters() if hasattr(params, "named_parameters") else params.items()
    out: dict[int, str] = {}
    for name, t in items:
        out[id(t)] = name
        if isinstance(t, Tensor):
            out[id(t.detach().numpy())] = name
    return out


def _edges(n: Node) -> list[Any]:
    return [e for e, _ in n.next_functions]


def _nodes(root: Node) -> list[Node]:
    """Every node behind ``root``, in creation order (a topological order, inputs first)."""
    seen: dict[int, Node] = {}
    stack = [root]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen[id(n)] = n
        stack.extend(e for e in _edges(n) if isinstance(e, Node))
    return sorted(seen.values(), key=lambda n: n.sequence_nr)


def _local(n: Node, i: int, out: np.ndarray, xi: np.ndarray) -> tuple[np.ndarray | None, str]:
    """The Jacobian d out / d x_i of the step alone (the engine's ``jacobian`` of the op at the
    inputs it saw), simplified when it can be. Only for registered ops and small tensors."""
    if out.size * max(xi.size, 1) > MAX_JACOBIAN or REGISTRY.get(n.name) is not n.op:
        return None, ""
    op, xs, params = n.op, list(n.saved_inputs or ()), n.params

    def step(t: Tensor) -> Tensor:
        args = [*xs[:i], t, *xs[i + 1:]]
        return op.call(args, *params) if op.nin == -1 else op.call(*args, *params)

    jac = np.asarray(jacobian(step, as_tensor(xi)).detach().numpy()).reshape(out.size, xi.size)
    if out.size == 1:
        return jac.reshape(xi.shape), "gradient"
    if out.shape == xi.shape and np.count_nonzero(jac - np.diag(np.diag(jac))) == 0:
        return np.diag(jac).reshape(xi.shape), "elementwise"
    return jac, "jacobian"


def trace(tensor: Tensor, params: Any = None, backward: bool = False) -> Trace:
    """Walk the graph that produced ``tensor`` and return its :class:`Trace`.

    ``params``: a Module (its ``named_parameters`` name the leaves) or a dict name -> tensor
    (may also name inputs that do not require grad); other leaves are ``leaf0``, ``leaf1``...
    The backward numbers are recorded for a scalar ``tensor`` (seed gradient 1) from one
    ``cr.autograd.grad`` call, without touching any ``.grad``; ``backward=True`` records them
    from ``tensor.backward(retain_graph=True)`` instead (which fills the leaves' ``.grad``).
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"trace: expected a Tensor, got {type(tensor).__name__}")
    root = tensor.grad_fn
    if root is None:
        raise ValueError("trace: the tensor has no graph (it is a leaf, or was computed under "
                         "no_grad); compute it from tensors that require grad")
    nodes = _nodes(root)
    freed = [n.name for n in nodes if n.saved_inputs is None]
    if freed:
        raise RuntimeError(f"trace: the graph's saved values were freed by backward() (at "
                           f"'{freed[0]}'); trace before backward, or call "
                           "backward(retain_graph=True)")
    names = _names(params)
    leaves: dict[int, Leaf] = {}
    leaf_tensors: dict[int, Tensor] = {}
    step_of: dict[int, Step] = {}
    steps: list[Step] = []
    values: dict[int, np.ndarray] = {id(root): np.asarray(tensor.detach().numpy())}
    for n in nodes:  # a node's output is what its consumers saved as their input
        for e, x in zip(_edges(n), n.saved_inputs or ()):
            if isinstance(e, Node):
                values.setdefault(id(e), np.asarray(x))

    def leaf_for(edge: Any, x: Any) -> Leaf:
        key = id(edge) if edge is not None else id(x)
        lf = leaves.get(key)
        if lf is None:
            arr = np.asarray(edge.detach().numpy() if edge is not None else x)
            name = names.get(id(edge)) if edge is not None else names.get(id(x))
            if not name:
                k = sum(1 for v in leaves.values() if v.requires_grad == (edge is not None))
                name = f"leaf{k}" if edge is not None else f"const{k}"
            lf = Leaf(name=name, shape=arr.shape, dtype=str(arr.dtype),
                      value=arr, requires_grad=edge is not None)
            leaves[key] = lf
            if edge is not None:
                leaf_tensors[key] = edge
        return lf

    for idx, n in enumerate(nodes):
        value = values[id(n)]
        ins = []
        for e, x in zip(_edges(n), n.saved_inputs or ()):
            if e is None and x is None:  # an optional input left out (no mask, no bias)
                ins.append(Input(source="None", shape=(), dtype="none", value=None))
                continue
            src = step_of[id(e)].name if isinstance(e, Node) else leaf_for(e, x).name
            arr = np.asarray(x)
            ins.append(Input(source=src, shape=arr.shape, dtype=str(arr.dtype), value=arr))
        s = Step(index=idx, name=f"v{idx + 1}", op=n.name, formula=n.formula,
                 params=tuple(n.params), inputs=ins, shape=value.shape, dtype=str(value.dtype),
                 value=value)
        steps.append(s)
        step_of[id(n)] = s

    scalar = tensor.detach().numpy().size == 1
    if scalar or backward:
        events: list[NodeEvent] = []
        with observe(events.append):
            if backward:
                tensor.backward(retain_graph=True)
            else:
                grad(tensor, list(leaf_tensors.values()), retain_graph=True, allow_unused=True)
        _record(events, step_of, leaves)
    return Trace(leaves=list(leaves.values()), steps=steps, root=steps[-1].name, backward=scalar)


def _grad_record(g: Any) -> Any:
    """A gradient as the trace keeps it: an array, or as it is when it is what a split/unbind
    output sends to its split (its gradient filed by output index, with ``.grads()``; an array
    of objects would hide that, and arrays and pieces must never be added)."""
    return g if hasattr(g, "grads") else np.asarray(g)


def _record(events: list[NodeEvent], step_of: dict[int, Step], leaves: dict[int, Leaf]) -> None:
    """The numbers of the backward pass, from the engine's events (latest step first)."""
    for ev in events:
        s = step_of.get(id(ev.node))
        if s is None:
            continue
        s.grad = _grad_record(ev.grad_output)
        for i, (e, gi, inp) in enumerate(zip(_edges(ev.node), ev.grad_inputs, s.inputs)):
            if e is None or gi is None:
                continue
            gi = _grad_record(gi)
            inp.product = gi
            inp.local, inp.local_kind = _local(ev.node, i, s.value, inp.value)
            if isinstance(e, Node):
                step_of[id(e)].uses.append((s.name, gi))
            else:
                lf = leaves[id(e)]
                lf.uses.append((s.name, gi))
                lf.grad = gi if lf.grad is None else lf.grad + gi
