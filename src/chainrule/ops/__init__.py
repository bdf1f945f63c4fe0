"""chainrule's differentiable ops: every primitive is registered in ``REGISTRY``.

Public functions take PyTorch's argument names (``dim``, ``keepdim``); they call the registered
primitives' entry points. The non-differentiable helpers (argmax, sign, ...) return constants.
"""

from chainrule.ops import namespace as _namespace
from chainrule.ops.elementwise import (
    abs,
    add,
    cast,
    clamp,
    clone,
    cos,
    div,
    elu,
    erf,
    exp,
    expm1,
    gelu,
    leaky_relu,
    log,
    log1p,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    silu,
    sin,
    softplus,
    sqrt,
    sub,
    tanh,
    where,
)
from chainrule.ops.reduce import mean, sum, sum_to
from chainrule.ops.registry import REGISTRY, Op, primitive
from chainrule.ops.shape import broadcast_to, expand, reshape

_namespace.bind_tensor_namespace(__import__("sys").modules[__name__])
