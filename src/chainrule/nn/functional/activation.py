"""Activation functions with ``torch.nn.functional``'s names and arguments.

Most are chainrule's registered primitives (one fused forward and vjp each); ``inplace=True``
overwrites the input tensor as PyTorch does (outside a recorded graph in place, inside it the
tensor is rebound to the result). ``step`` is the perceptron's Heaviside activation.
"""

from __future__ import annotations

import warnings
from typing import Any

from chainrule import backend, ops
from chainrule.autograd.factories import as_tensor
from chainrule.autograd.tensor import Tensor, _leaf

__all__ = [
    "elu", "gelu", "hardtanh", "leaky_relu", "log_softmax", "logsigmoid", "prelu", "relu",
    "relu6", "sigmoid", "silu", "softmax", "softmin", "softplus", "softsign", "step", "tanh",
]


def _inplace(input: Any, name: str, fn: Any, *args: Any) -> Tensor:
    t = input if isinstance(input, Tensor) else as_tensor(input)
    return t._inplace(name, fn, *args)


def relu(input: Any, inplace: bool = False) -> Tensor:
    """max(x, 0)."""
    return _inplace(input, "relu_", ops.relu) if inplace else ops.relu(input)


def leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x if x > 0 else negative_slope * x."""
    if inplace:
        return _inplace(input, "leaky_relu_", ops.leaky_relu, negative_slope)
    return ops.leaky_relu(input, negative_slope)


def elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return _inplace(input, "elu_", ops.elu, alpha) if inplace else ops.elu(input, alpha)


def gelu(input: Any, approximate: str = "none") -> Tensor:
    """x * Phi(x), Phi the standard normal CDF (``approximate="tanh"``: the tanh form)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return ops.gelu(input, approximate)


def silu(input: Any, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (swish)."""
    return _inplace(input, "silu_", ops.silu) if inplace else ops.silu(input)


def sigmoid(input: Any) -> Tensor:
    """1 / (1 + exp(-x))."""
    return ops.sigmoid(input)


def tanh(input: Any) -> Tensor:
    """The hyperbolic tangent."""
    return ops.tanh(input)


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, linear where beta * x > threshold."""
    return ops.softplus(input, float(beta), float(threshold))


def _softmax_dim(name: str, ndim: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def _cast_for(input: Any, dtype: Any) -> Any:
    return input if dtype is None else as_tensor(input).to(dtype)


def softmax(input: Any, dim: int | None = None, _stacklevel: int = 3,
            dtype: Any = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (stable)."""
    if dim is None:
        dim = _softmax_dim("softmax", backend.xp.ndim(input))
    return ops.softmax(_cast_for(input, dtype), dim)


def softmin(input: Any, dim: int | None = None, _stacklevel: int = 3,
            dtype: Any = None) -> Tensor:
    """softmax(-x) along ``dim``."""
    if dim is None:
        dim = _softmax_dim("softmin", backend.xp.ndim(input))
    return ops.softmax(-as_tensor(_cast_for(input, dtype)), dim)


def log_softmax(input: Any, dim: int | None = None, _stacklevel: int = 3,
                dtype: Any = None) -> Tensor:
    """log(softmax(x)) along ``dim``, computed stably."""
    if dim is None:
        dim = _softmax_dim("log_softmax", backend.xp.ndim(input))
    return ops.log_softmax(_cast_for(input, dtype), dim)


def prelu(input: Any, weight: Any) -> Tensor:
    """x if x > 0 else weight * x, with a learnable ``weight`` of 1 or C entries (C: the
    channels, dimension 1 of the input; a 0-d or 1-d input has one channel).

    Differentiable in the input and in the slope: ``where(x > 0, x, w * x)``; the engine sums
    the slope's gradient over the broadcast dimensions.
    """
    x = input if isinstance(input, Tensor) else as_tensor(input)
    w = weight if isinstance(weight, Tensor) else as_tensor(weight)
    if w.ndim != 1:
        raise ValueError(f"prelu: weight has shape {tuple(w.shape)}; expected a 1-D weight "
                         "(num_parameters,)")
    n = w.shape[0]
    if n != 1:
        channels = x.shape[1] if x.ndim >= 2 else 1
        if n != channels:
            raise ValueError(f"prelu: weight has {n} entries but the input of shape "
                             f"{tuple(x.shape)} has {channels} channel(s) (dimension 1); "
                             "expected 1 or as many as the channels")
        w = ops.reshape(w, (n,) + (1,) * (x.ndim - 2))
    elif x.ndim == 0:
        w = ops.reshape(w, ())
    return ops.where(x._data > 0, x, w * x)


def hardtanh(input: Any, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """x clamped to [min_val, max_val]."""
    if inplace:
        return _inplace(input, "hardtanh_", ops.clamp, min_val, max_val)
    return ops.clamp(input, min_val, max_val)


def relu6(input: Any, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def logsigmoid(input: Any) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), stable for any x."""
    return -ops.softplus(-as_tensor(input), 1.0, 20.0)


def softsign(input: Any) -> Tensor:
    """x / (1 + |x|)."""
    x = as_tensor(input)
    return x / (ops.abs(x) + 1.0)


def step(input: Any, threshold: float = 0.0) -> Tensor:
    """The Heaviside step: 1 where x > threshold, else 0 (in the input's dtype).

    Not differentiable (its derivative is 0 almost everywhere): the result is a constant, which
    is why Rosenblatt's perceptron learns by its own rule instead of by gradients.
    """
    x = input._data if isinstance(input, Tensor) else backend.xp.asarray(input)
    dtype = x.dtype if x.dtype.kind == "f" else backend.float32
    return _leaf((x > threshold).astype(dtype))
