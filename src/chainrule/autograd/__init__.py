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

__all__ = ["Function", "FunctionCtx", "GradcheckError", "NodeEvent", "Tensor", "backward",
           "detect_anomaly", "enable_grad", "finite_difference", "function", "functional",
           "grad", "gradcheck", "gradgradcheck", "is_anomaly_enabled", "is_grad_enabled",
           "no_grad", "numerical_jacobian", "observe", "once_differentiable",
           "set_detect_anomaly", "set_grad_enabled"]
