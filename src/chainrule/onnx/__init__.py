"""ONNX export with PyTorch's names: ``chainrule.onnx.export(model, args, "model.onnx")``.

Needs the optional ``onnx`` package (``pip install 'chainrule[onnx]'``); importing this module
does not. See docs/onnx.md.
"""

from chainrule.onnx.export import DEFAULT_OPSET, export
from chainrule.onnx.graph import UnsupportedOperatorError
from chainrule.onnx.modules import MODULE_EXPORTERS, PENDING
from chainrule.onnx.ops import OP_EXPORTERS

__all__ = ["DEFAULT_OPSET", "MODULE_EXPORTERS", "OP_EXPORTERS", "PENDING",
           "UnsupportedOperatorError", "export"]
