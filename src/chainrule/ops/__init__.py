"""chainrule's differentiable ops: every primitive is registered in ``REGISTRY``, every public
function in ``PUBLIC``; this module exports the latter and binds their Tensor methods.

Public functions take PyTorch's argument names (``dim``, ``keepdim``); they call the registered
primitives' entry points. The non-differentiable helpers (argmax, sign, ...) return constants.
Nothing here lists ops by hand: importing an op module registers what it declares.
"""

from chainrule.autograd.tensor import Tensor as _Tensor
from chainrule.ops import (  # importing each op family registers its ops
    activations,
    attention,
    conv,
    ctc,
    cumulative,
    decomp,
    elementwise,
    fused,
    gamma,
    groupnorm,
    indexing,
    linalg,
    losses,
    matrix,
    nondiff,
    normalization,
    pooling,
    reduce,
    shape,
    special,
    torch_names,
)
from chainrule.ops import namespace as _namespace
from chainrule.ops.indexing import ValuesIndices, normalize_index
from chainrule.ops.public import PUBLIC, bind_methods, exports, public
from chainrule.ops.registry import REGISTRY, Op, primitive

globals().update(exports())
concat = concatenate = shape.cat  # NumPy's and PyTorch's other names for cat

bind_methods(_Tensor)
_namespace.bind_tensor_namespace(__import__("sys").modules[__name__])

# What ``from chainrule.ops import *`` (and so ``chainrule``) exports: the public functions,
# not the submodules or the registry machinery.
__all__ = sorted([*exports(), "concat", "concatenate"])
