"""Reverse-mode automatic differentiation: the tensor, the graph and the backward pass."""

from chainrule.autograd.tensor import Tensor  # noqa: I001  (first: the ops bind to it)
from chainrule.autograd.engine import backward, grad
from chainrule.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from chainrule.autograd.gradcheck import (
    GradcheckError, finite_difference, gradcheck, gradgradcheck, numerical_jacobian,
)

__all__ = ["GradcheckError", "Tensor", "backward", "enable_grad", "finite_difference", "grad",
           "gradcheck", "gradgradcheck", "is_grad_enabled", "no_grad", "numerical_jacobian",
           "set_grad_enabled"]
