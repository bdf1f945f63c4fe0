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
from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.errors import fmt_shape, op_error
from chainrule.ops.activations import prelu_slopes
from chainrule.random import Generator, generator_of

__all__ = [
    "celu", "elu", "gelu", "glu", "hardshrink", "hardsigmoid", "hardswish", "hardtanh",
    "leaky_relu", "log_softmax", "logsigmoid", "mish", "prelu", "relu", "relu6", "rrelu", "selu",
    "sigmoid", "silu", "softmax", "softmin", "softplus", "softshrink", "softsign", "step", "tanh",
    "tanhshrink", "threshold",
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

    Differentiable in the input and in the slope (the ``prelu_slopes`` primitive, so that
    ``cr.compile`` recomputes the sign mask); the engine sums the slope's gradient over the
    broadcast dimensions.
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
    return prelu_slopes(x, w)


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


# --- compositions of registered ops (PyTorch's values and gradients, no new vjp) ---------------


def _t(input: Any) -> Tensor:
    return input if isinstance(input, Tensor) else as_tensor(input)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Any, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants (Klambauer et al. 2017):
    alpha = 1.6733, scale = 1.0507."""
    if inplace:
        return _inplace(input, "selu_", selu)
    return ops.elu(input, _SELU_ALPHA) * _SELU_SCALE


def celu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha * (exp(x / alpha) - 1), i.e. alpha * elu(x / alpha)."""
    if alpha == 0:
        raise op_error("celu", "alpha=0", "a non-zero alpha (it divides x)", kind=ValueError)
    if inplace:
        return _inplace(input, "celu_", celu, alpha)
    return ops.elu(_t(input) * (1.0 / alpha), 1.0) * float(alpha)


def mish(input: Any, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x)) (Misra 2019)."""
    if inplace:
        return _inplace(input, "mish_", mish)
    x = _t(input)
    return x * ops.tanh(ops.softplus(x, 1.0, 20.0))


def hardsigmoid(input: Any, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6: 0 below -3, 1 above 3, linear between."""
    if inplace:
        return _inplace(input, "hardsigmoid_", hardsigmoid)
    return ops.clamp(_t(input) + 3.0, 0.0, 6.0) / 6.0


def hardswish(input: Any, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6 (MobileNetV3)."""
    if inplace:
        return _inplace(input, "hardswish_", hardswish)
    x = _t(input)
    return x * ops.clamp(x + 3.0, 0.0, 6.0) / 6.0


def _check_lambd(name: str, lambd: float) -> None:
    if lambd < 0:
        raise op_error(name, f"lambd={lambd}", "lambd >= 0 (the half-width of the zero band)",
                       kind=ValueError)


def softshrink(input: Any, lambd: float = 0.5) -> Tensor:
    """x - lambd above lambd, x + lambd below -lambd, 0 between: x - clamp(x, -lambd, lambd)."""
    _check_lambd("softshrink", lambd)
    x = _t(input)
    return x - ops.clamp(x, -lambd, lambd)


def hardshrink(input: Any, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0."""
    _check_lambd("hardshrink", lambd)
    return ops.hardshrink(input, float(lambd))


def tanhshrink(input: Any) -> Tensor:
    """x - tanh(x)."""
    x = _t(input)
    return x - ops.tanh(x)


def threshold(input: Any, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else ``value``."""
    if inplace:
        return _inplace(input, "threshold_", ops.threshold, threshold, value)
    return ops.threshold(input, threshold, value)


def glu(input: Any, dim: int = -1) -> Tensor:
    """Gated linear unit: a * sigmoid(b), where a and b are the two halves of ``input`` along
    ``dim`` (which must have even size)."""
    x = _t(input)
    if x.ndim == 0:
        raise op_error("glu", "a 0-d input", "at least one dimension to halve", kind=ValueError)
    n = x.shape[dim]
    if n % 2:
        raise op_error("glu", f"dimension {dim} of the input {fmt_shape(x.shape)} has odd size "
                       f"{n}", "an even size along dim (it is split in two halves)",
                       kind=ValueError)
    a, b = ops.chunk(x, 2, dim)
    return a * ops.sigmoid(b)


def _rrelu_slopes(generator: Generator | None, shape: tuple, dtype: Any, lower: float,
                  upper: float) -> Any:
    u = generator_of(generator).random(shape,
                                       dtype=dtype if dtype.itemsize >= 4 else backend.float32)
    return (u * (upper - lower) + lower).astype(dtype, copy=False)


def rrelu(input: Any, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU (Xu et al. 2015): x if x >= 0 else a * x. In training each entry
    draws its slope a ~ U(lower, upper) (from chainrule's default generator); otherwise a is the
    mean slope (lower + upper) / 2."""
    if inplace:
        return _inplace(input, "rrelu_", rrelu, lower, upper, training)
    if not training:
        return ops.leaky_relu(input, (lower + upper) / 2)
    x = _t(input)
    arr = x._data
    if arr.dtype.kind != "f":
        raise op_error("rrelu", f"input has dtype {arr.dtype}", "a floating-point tensor",
                       kind=TypeError)
    a = _rrelu_slopes(None, arr.shape, arr.dtype, float(lower), float(upper))
    if STATE.recorder is not None:  # cr.compile: fresh slopes at each replay
        STATE.recorder.source(_rrelu_slopes, (None, arr.shape, arr.dtype, float(lower),
                                              float(upper)), a)
    return prelu_slopes(x, a)  # x <= 0: x * a, gradient a (PyTorch's rule at 0)


def step(input: Any, threshold: float = 0.0) -> Tensor:
    """The Heaviside step: 1 where x > threshold, else 0 (in the input's dtype).

    Not differentiable (its derivative is 0 almost everywhere): the result is a constant, which
    is why Rosenblatt's perceptron learns by its own rule instead of by gradients.
    """
    x = input._data if isinstance(input, Tensor) else backend.xp.asarray(input)
    dtype = x.dtype if x.dtype.kind == "f" else backend.float32
    return _leaf((x > threshold).astype(dtype))
