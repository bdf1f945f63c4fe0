"""A recorded operation: one node of the graph that backward walks from the output to the leaves.

A node holds exactly what its op's vjp needs and nothing more (see ``Node.__slots__``):

- ``op``: the registry record (forward, vjp, formula);
- ``next``: one edge per input: the input's own node, the input tensor itself when it is a leaf
  that requires grad (gradients accumulate into its ``.grad``), or None (no gradient wanted);
- ``need``: one bool per input, ``next[i] is not None``, so a vjp computes only what is needed;
- ``x``: the raw input arrays (or Python scalars) as they were at forward time;
- ``p``: the op's non-tensor parameters (dim, shape, ...);
- ``res``: extra residuals the forward chose to keep (masks, indices);
- ``out``: the output array, kept only for ops whose vjp reads it (exp, tanh, sigmoid, ...);
- ``vcs`` / ``ver``: the version counters of what the vjp reads and their sum at forward time,
  so an in-place change to a saved tensor raises instead of giving a wrong gradient;
- ``meta``: rarely used extras (hooks, retain_grad, anomaly trace), None on the hot path;
- ``seq``: the creation number. An op's inputs always exist before the op, so running nodes in
  decreasing ``seq`` is a topological order by construction: backward needs no discovery pass.

The node never references its output tensor (no reference cycle: graphs free by refcount).
After backward, ``x``, ``res`` and ``out`` are dropped (``x is None`` marks a freed node)
unless ``retain_graph=True``.
"""

from __future__ import annotations

import itertools
from typing import Any

next_seq = itertools.count(1).__next__
"""The creation counter every new node draws its ``seq`` from."""


class Node:
    __slots__ = ("meta", "need", "next", "op", "out", "p", "res", "seq", "vcs", "ver", "x")

    xp: Any = None  # the array namespace vjps use on the fast path; set by chainrule.ops.namespace

    # The public read API that tools (viz.trace, draw) use instead of the slots above.
    @property
    def name(self) -> str:
        return self.op.name

    @property
    def formula(self) -> str:
        """The op's one-line derivative, e.g. ``d(a*b)/da = b``."""
        return self.op.formula

    @property
    def next_functions(self) -> tuple:
        """PyTorch-style view of the edges: ``((node_or_leaf, 0), ...)``."""
        return tuple((e, 0) for e in self.next)

    @property
    def sequence_nr(self) -> int:
        """The creation number: every input node has a smaller one."""
        return self.seq

    @property
    def saved_inputs(self) -> tuple | None:
        """The inputs as recorded in the forward pass, one per edge (arrays, or Python numbers
        for scalar operands); None once backward has freed them."""
        return self.x

    @property
    def saved_output(self) -> Any:
        """The output array when the op keeps it for its vjp (exp, tanh, ...), else None."""
        return self.out

    @property
    def params(self) -> tuple:
        """The op's non-tensor parameters (dim, shape, ...)."""
        return self.p

    def __repr__(self) -> str:
        return "<" + "".join(w[:1].upper() + w[1:] for w in self.op.name.split("_")) + "Backward>"


class NodeMeta:
    """Per-node extras that only some graphs use."""

    __slots__ = ("hooks", "retain", "trace")

    def __init__(self) -> None:
        self.hooks: list = []
        self.retain: Any = None  # weakref to the tensor whose .grad should be kept
        self.trace: str | None = None  # where in the forward the op was called (anomaly mode)


_new = object.__new__


def new_node(op: Any, edges: tuple, need: tuple, xs: tuple, p: tuple, res: Any, out: Any,
             vcs: tuple) -> Node:
    """The one way a node is built (ops, variadic ops and ``autograd.Function`` alike).

    ``edges`` has one entry per input (its node, the leaf itself, or None) and ``need`` says
    which are not None; ``vcs`` are the version counters of what the vjp reads, whose sum is
    remembered to catch in-place changes. (Called once per recorded op: keep it flat.)
    """
    n = _new(Node)
    n.op = op
    n.next = edges
    n.need = need
    n.x = xs
    n.p = p
    n.res = res
    n.out = out
    n.meta = None
    n.seq = next_seq()
    n.vcs = vcs
    k = len(vcs)
    if k == 2:
        n.ver = vcs[0][0] + vcs[1][0]
    elif k == 1:
        n.ver = vcs[0][0]
    else:
        s = 0
        for v in vcs:
            s += v[0]
        n.ver = s
    return n


def meta_of(node: Node) -> NodeMeta:
    """The node's extras, created on first use."""
    m = node.meta
    if m is None:
        m = node.meta = NodeMeta()
    return m
