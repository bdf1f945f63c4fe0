"""The ONNX graph under construction, as plain Python (nodes, initializers): no ``onnx`` import
until ``to_model``, so two traces can be built and compared cheaply."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min

# ONNX TensorProto element types by NumPy dtype (the values of onnx.TensorProto.DataType).
ONNX_DTYPES = {np.dtype(np.float32): 1, np.dtype(np.uint8): 2, np.dtype(np.int8): 3,
               np.dtype(np.int16): 5, np.dtype(np.int32): 6, np.dtype(np.int64): 7,
               np.dtype(np.bool_): 9, np.dtype(np.float16): 10, np.dtype(np.float64): 11}


class UnsupportedOperatorError(RuntimeError):
    """An op or layer that ONNX export cannot express (the message names it and says why)."""


@dataclass
class OnnxNode:
    op_type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any]
    name: str


@dataclass
class Graph:
    """Nodes in emission order (a topological order), parameters (named by ``state_dict`` keys)
    and constants (named ``const_N``)."""

    opset: int
    nodes: list[OnnxNode] = field(default_factory=list)
    params: dict[str, np.ndarray] = field(default_factory=dict)
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    where: str = ""  # the chainrule op or layer being converted (for node names and errors)
    array_names: dict[int, str] = field(default_factory=dict)  # id(array) -> state_dict key
    _n: int = 0

    def fresh(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def add(self, op_type: str, inputs: list[str], n_out: int = 1, **attrs: Any) -> Any:
        """Append a node; returns its output name (a list when ``n_out > 1``)."""
        outs = [self.fresh(op_type) for _ in range(n_out)]
        name = f"{self.where or op_type}/{op_type}_{self._n}"
        self.nodes.append(OnnxNode(op_type, list(inputs), outs, attrs, name))
        return outs[0] if n_out == 1 else outs

    def const(self, value: Any, dtype: Any = None) -> str:
        """A constant initializer (scalars keep ``dtype``)."""
        arr = np.asarray(value, dtype=dtype)
        name = self.fresh("const")
        self.consts[name] = arr
        return name

    def ints(self, values: Any) -> str:
        """A 1-D int64 constant (shapes, axes, slice bounds)."""
        return self.const(np.asarray(list(values), dtype=np.int64).reshape(-1))

    def resolve_array(self, array: Any) -> str:
        """The initializer for an array: its ``state_dict`` name when it is a parameter or
        buffer of the model, else a new constant."""
        name = self.array_names.get(id(array))
        return self.param(name, array) if name else self.const(array)

    def param(self, name: str, array: np.ndarray) -> str:
        self.params.setdefault(name, np.asarray(array))
        return name

    # Reductions take axes as an attribute before opset 18 (ReduceSum: 13) and as an input after.
    def reduce(self, op_type: str, x: str, axes: Any, keepdims: bool) -> str:
        kd = int(bool(keepdims))
        if axes is None:
            return self.add(op_type, [x], keepdims=kd)
        axes = [int(a) for a in (axes if isinstance(axes, (list, tuple)) else [axes])]
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.add(op_type, [x, self.ints(axes)], keepdims=kd)
        return self.add(op_type, [x], axes=axes, keepdims=kd)

    def signature(self) -> tuple:
        """What two traces must agree on: every node and every constant's value."""
        nodes = tuple((n.op_type, tuple(n.inputs), tuple(n.outputs), n.name,
                       tuple(sorted((k, repr(v)) for k, v in n.attrs.items())))
                      for n in self.nodes)
        return nodes, tuple(sorted(self.consts))


def to_model(g: Graph, inputs: list[tuple[str, np.dtype, list]], outputs: list[tuple[str,
             np.dtype, list]], producer: str) -> Any:
    """The ``onnx.ModelProto`` (``inputs``/``outputs``: name, dtype, shape with str for dynamic
    dimensions and None for unknown ones)."""
    import onnx
    from onnx import helper, numpy_helper

    def vi(name: str, dtype: np.dtype, shape: list) -> Any:
        return helper.make_tensor_value_info(name, ONNX_DTYPES[np.dtype(dtype)], shape)

    nodes = [helper.make_node(n.op_type, n.inputs, n.outputs, name=n.name, **n.attrs)
             for n in g.nodes]
    # np.require, not np.ascontiguousarray: that makes a 0-D constant 1-D (Range needs scalars)
    inits = [numpy_helper.from_array(np.require(a, requirements="C"), name)
             for name, a in (*g.params.items(), *g.consts.items())]
    graph = helper.make_graph(nodes, "chainrule", [vi(*i) for i in inputs],
                              [vi(*o) for o in outputs], initializer=inits)
    model = helper.make_model(graph, producer_name=producer,
                              opset_imports=[helper.make_opsetid("", g.opset)])
    model.ir_version = min(onnx.IR_VERSION, 10)
    return model
