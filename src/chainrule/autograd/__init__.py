"""Reverse-mode automatic differentiation: the tensor, the graph and the backward pass."""

from chainrule.autograd.tensor import Tensor  # noqa: I001  first: the ops bind to it
from chainrule.autograd.engine import NodeEvent, backward, grad, observe
from chainrule.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from chainrule.autograd.inference import inference_mode, is_inference_mode_enabled
from chainrule.autograd.gradcheck import (
    GradcheckError, finite_difference, gradcheck, gradgradcheck, numerical_jacobian,
)
from chainrule.autograd import function, functional
from chainrule.autograd.anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from chainrule.autograd.function import Function, FunctionCtx, once_differentiable

__all__ = ["Function", "FunctionCtx", "GradcheckError", "NodeEvent", "Tensor", "Variable",
           "backward",
           "detect_anomaly", "enable_grad", "finite_difference", "function", "functional",
           "grad", "gradcheck", "gradgradcheck", "is_anomaly_enabled", "is_grad_enabled",
           "no_grad", "numerical_jacobian", "observe", "once_differentiable",
           "set_detect_anomaly", "set_grad_enabled"]


class _VariableMeta(type):
    def __instancecheck__(cls, other: object) -> bool:
        return isinstance(other, Tensor)


class Variable(metaclass=_VariableMeta):
    """Deprecated, as in PyTorch: ``Variable(t, requires_grad=False)`` returns a Tensor that
    shares ``t``'s memory, detached from its graph, with ``requires_grad`` as given (tensors
    carry autograd themselves); ``isinstance(t, Variable)`` is True for every tensor."""

    def __new__(cls, data: object = None, requires_grad: bool = False,  # type: ignore[misc]
                volatile: bool = False) -> Tensor:
        from chainrule.autograd.factories import tensor

        if volatile:
            import warnings

            warnings.warn("volatile was removed and now has no effect. Use `with cr.no_grad():` "
                          "instead.", UserWarning, stacklevel=2)
        if data is None:
            return tensor([], requires_grad=requires_grad)
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        t = data.detach()
        if requires_grad:
            t.requires_grad_(True)
        return t


def __getattr__(name: str) -> object:
    """``cr.autograd.profiler`` and ``cr.autograd.checkpoint``, imported on first use."""
    if name in ("profiler", "checkpoint"):
        import importlib

        return importlib.import_module(f"chainrule.autograd.{name}")
    raise AttributeError(f"module 'chainrule.autograd' has no attribute {name!r}")
