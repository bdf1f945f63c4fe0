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
from chainrule.ops.fused import cross_entropy, linear, log_softmax, mse_loss, softmax
from chainrule.ops.indexing import (
    ValuesIndices,
    chunk,
    gather,
    getitem,
    index_put,
    index_select,
    masked_fill,
    narrow,
    normalize_index,
    scatter_add,
    sort,
    split,
    topk,
)
from chainrule.ops.linalg import bmm, dot, einsum, matmul, mm, mv, outer
from chainrule.ops.nondiff import argmax, argmin, argsort, ceil, floor, round, sign, trunc
from chainrule.ops.normalization import batch_norm, layer_norm
from chainrule.ops.reduce import (
    amax,
    amin,
    logsumexp,
    max,
    mean,
    min,
    norm,
    prod,
    std,
    sum,
    sum_to,
    var,
)
from chainrule.ops.registry import REGISTRY, Op, primitive
from chainrule.ops.shape import (
    broadcast_to,
    cat,
    concat,
    concatenate,
    expand,
    flatten,
    flip,
    pad,
    permute,
    repeat,
    reshape,
    squeeze,
    stack,
    t,
    transpose,
    unflatten,
    unsqueeze,
)

_namespace.bind_tensor_namespace(__import__("sys").modules[__name__])

# What ``from chainrule.ops import *`` (and so ``chainrule``) exports: the public functions,
# not the submodules or the registry machinery.
__all__ = sorted(
    name for name, value in dict(globals()).items()
    if not name.startswith("_") and callable(value) and not isinstance(value, type(_namespace))
    and name not in {"Op", "primitive"}
)
