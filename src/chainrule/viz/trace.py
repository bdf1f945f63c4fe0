"""The graph behind a tensor as plain records: what ``explain`` prints and tests compare.

    t = cr.viz.trace(loss, params=model)    # nodes in topological order, inputs first
    for s in t.steps:
        print(s.name, s.op, s.formula, s.grad)

The backward pass is replayed here node by node with the ops' own vjps (the graph must still
hold its saved values: trace before ``backward()``, or after ``backward(retain_graph=True)``),
so each step records the incoming gradient, the local derivative (the Jacobian of the step's
output with respect to each input, for small tensors) and their product, and each value that
feeds several steps records the contributions that are summed into its gradient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.autograd.engine import sum_to_shape
from chainrule.autograd.node import Node
from chainrule.autograd.tensor import Tensor

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
    value: np.ndarray
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
    grad: np.ndarray | None = None  # incoming gradient d(root)/d(this output)
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
            out[id(t._data)] = name
    return out


def _nodes(root: Node) -> list[Node]:
    seen: dict[int, Node] = {}
    stack = [root]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen[id(n)] = n
        stack.extend(e for e in n.next if type(e) is Node)
    return sorted(seen.values(), key=lambda n: n.seq)


def _forward_value(n: Node) -> np.ndarray:
    if n.out is not None:
        return np.asarray(n.out)
    ins = n.x if n.op.nin != -1 else (list(n.x),)
    out = n.op.forward(np, *ins, *n.p)
    return np.asarray(out[0] if n.op.has_res else out)


def _local(n: Node, i: int, out: np.ndarray, xi: np.ndarray) -> tuple[np.ndarray | None, str]:
    """The Jacobian d out / d x_i (one vjp per output element), simplified when it can be."""
    if out.size * max(xi.size, 1) > MAX_JACOBIAN:
        return None, ""
    rows = []
    for k in range(out.size):
        e = np.zeros(out.shape, dtype=out.dtype)
        e.flat[k] = 1
        gi = n.op.vjp(n, e)[i]
        if gi is None:
            return None, ""
        gi = np.asarray(gi)
        rows.append(sum_to_shape(gi, xi.shape).ravel() if gi.shape != xi.shape else gi.ravel())
    jac = np.stack(rows)
    if out.size == 1:
        return jac.reshape(xi.shape), "gradient"
    if out.shape == xi.shape and np.count_nonzero(jac - np.diag(np.diag(jac))) == 0:
        return np.diag(jac).reshape(xi.shape), "elementwise"
    return jac, "jacobian"


def trace(tensor: Tensor, params: Any = None, backward: bool = False) -> Trace:
    """Walk the graph that produced ``tensor`` and return its :class:`Trace`.

    ``params``: a Module (its ``named_parameters`` name the leaves) or a dict name -> tensor
    (may also name inputs that do not require grad); other leaves are ``leaf0``, ``leaf1``...
    The backward numbers are computed for a scalar ``tensor`` (seed gradient 1) without touching
    any ``.grad``; ``backward=True`` also runs ``tensor.backward(retain_graph=True)`` afterwards.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"trace: expected a Tensor, got {type(tensor).__name__}")
    root = tensor._node
    if root is None:
        raise ValueError("trace: the tensor has no graph (it is a leaf, or was computed under "
                         "no_grad); compute it from tensors that require grad")
    nodes = _nodes(root)
    freed = [n.op.name for n in nodes if n.x is None]
    if freed:
        raise RuntimeError(f"trace: the graph's saved values were freed by backward() (at "
                           f"'{freed[0]}'); trace before backward, or call "
                           "backward(retain_graph=True)")
    names = _names(params)
    leaves: dict[int, Leaf] = {}
    step_of: dict[int, Step] = {}
    steps: list[Step] = []

    def leaf_for(edge: Any, x: Any) -> Leaf:
        key = id(edge) if edge is not None else id(x)
        lf = leaves.get(key)
        if lf is None:
            arr = np.asarray(edge._data if edge is not None else x)
            name = names.get(id(edge)) if edge is not None else names.get(id(x))
            if not name:
                k = sum(1 for v in leaves.values() if v.requires_grad == (edge is not None))
                name = f"leaf{k}" if edge is not None else f"const{k}"
            lf = Leaf(name=name, shape=arr.shape, dtype=str(arr.dtype),
                      value=arr, requires_grad=edge is not None)
            leaves[key] = lf
        return lf

    for idx, n in enumerate(nodes):
        value = _forward_value(n)
        ins = []
        for e, x in zip(n.next, n.x):
            if isinstance(x, (int, float, bool)) and not isinstance(x, np.ndarray):
                x = np.asarray(x)
            src = step_of[id(e)].name if type(e) is Node else leaf_for(e, x).name
            arr = np.asarray(x)
            ins.append(Input(source=src, shape=arr.shape, dtype=str(arr.dtype), value=arr))
        s = Step(index=idx, name=f"v{idx + 1}", op=n.op.name, formula=n.op.formula,
                 params=tuple(n.p), inputs=ins, shape=value.shape, dtype=str(value.dtype),
                 value=value)
        steps.append(s)
        step_of[id(n)] = s

    if tensor._data.size == 1:
        _replay(nodes, steps, step_of, leaves)
    if backward:
        tensor.backward(retain_graph=True)
    return Trace(leaves=list(leaves.values()), steps=steps, root=steps[-1].name,
                 backward=tensor._data.size == 1)


def _replay(nodes: list[Node], steps: list[Step], step_of: dict[int, Step],
            leaves: dict[int, Leaf]) -> None:
    """The backward pass, latest step first, recording every number on the way."""
    grads: dict[int, np.ndarray] = {id(nodes[-1]): np.ones(steps[-1].shape, steps[-1].dtype)}
    for n, s in zip(reversed(nodes), reversed(steps)):
        g = grads.get(id(n))
        if g is None:
            continue
        s.grad = g
        gs = n.op.vjp(n, g)
        for i, (e, gi, inp) in enumerate(zip(n.next, gs, s.inputs)):
            if e is None or gi is None:
                continue
            gi = np.asarray(gi)
            if gi.shape != inp.shape:
                gi = sum_to_shape(gi, inp.shape)
            inp.product = gi
            inp.local, inp.local_kind = _local(n, i, s.value, inp.value)
            if type(e) is Node:
                step_of[id(e)].uses.append((s.name, gi))
                prev = grads.get(id(e))
                grads[id(e)] = gi if prev is None else prev + gi
            else:
                lf = leaves[id(e)]
                lf.uses.append((s.name, gi))
                lf.grad = gi if lf.grad is None else lf.grad + gi
