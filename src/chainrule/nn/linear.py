"""``Linear``, ``Bilinear``, ``LazyLinear`` and the shape layers ``Identity``, ``Flatten``,
``Unflatten``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule import creation, ops
from chainrule.autograd.autocast import is_autocast_enabled
from chainrule.autograd.tensor import Tensor
from chainrule.errors import size_arg
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.lazy import UninitializedParameter, _LazySized, is_lazy, loaded_shape
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.samples import Generator, ModuleSample, lazy_sample


class Identity(Module):
    """Returns its input unchanged (accepts and ignores any constructor arguments)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(7,), kwargs={"unused": 1}, inputs=(rng.standard_normal((3, 4)),))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


def _linear_input_error(input: Any, w: Tensor) -> None:
    """PyTorch's refusals for a Linear input: not a tensor, or a dtype other than the weight's
    (NumPy would quietly compute in the wider dtype), unless autocast is on."""
    if not isinstance(input, Tensor):
        raise TypeError(f"linear(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(input).__name__}; wrap it, e.g. cr.tensor(x)")
    if is_autocast_enabled("cpu"):
        return  # autocast casts both to its dtype (as PyTorch's autocast does before the check)
    raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got {input._data.dtype} and "
                       f"{w._data.dtype} (Linear: the input is {input._data.dtype}, the weight "
                       f"{w._data.dtype}); convert one, e.g. x.to(layer.weight.dtype) or "
                       "layer.to(x.dtype)")


class Linear(Module):
    """y = x @ W.T + b, with ``weight`` of shape (out_features, in_features) and ``bias`` of
    shape (out_features,), as ``torch.nn.Linear``.

    Initialised as PyTorch does: W ~ U(-1/sqrt(in), 1/sqrt(in)) (``kaiming_uniform_`` with
    a = sqrt(5)) and b ~ U(-1/sqrt(in), 1/sqrt(in)). The forward is the fused ``linear`` op.
    """

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(3, 2), inputs=(rng.standard_normal((4, 3)),))

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        in_features = size_arg("Linear", "in_features", in_features)
        out_features = size_arg("Linear", "out_features", out_features)
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(creation.empty(out_features, in_features, dtype=dtype,
                                               device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Any) -> Tensor:
        p = self._parameters  # one dict read instead of two __getattr__ calls (hot path)
        try:
            w, b = p["weight"], p["bias"]
        except KeyError:  # reparametrised (nn.utils.weight_norm, parametrize): computed
            w, b = self.weight, self.bias
        if not isinstance(input, Tensor) or input._data.dtype != w._data.dtype:
            _linear_input_error(input, w)
        return ops.linear(input, w, b)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Merge dimensions ``start_dim..end_dim`` into one: (N, 1, 28, 28) -> (N, 784)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=(rng.standard_normal((2, 3, 2)),))

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Any) -> Tensor:
        return ops.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size``: (N, 784) -> (N, 1, 28, 28)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(1, (2, 3)), inputs=(rng.standard_normal((2, 6)),))

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size) if isinstance(
            unflattened_size, list) else unflattened_size

    def forward(self, input: Any) -> Tensor:
        return ops.unflatten(input, self.dim, self.unflattened_size)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Bilinear(Module):
    """``y = x1^T W x2 + b`` per output feature, as ``torch.nn.Bilinear``: ``weight`` (out,
    in1, in2), ``bias`` (out,), both U(-1/sqrt(in1), 1/sqrt(in1)); inputs (..., in1) and
    (..., in2)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(3, 2, 4), inputs=(rng.standard_normal((5, 3)),
                                                    rng.standard_normal((5, 2))))

    def __init__(self, in1_features: int, in2_features: int, out_features: int,
                 bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.in1_features = size_arg("Bilinear", "in1_features", in1_features)
        self.in2_features = size_arg("Bilinear", "in2_features", in2_features)
        self.out_features = size_arg("Bilinear", "out_features", out_features)
        self.weight = Parameter(creation.empty(out_features, in1_features, in2_features,
                                               dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[1]) if self.weight.shape[1] else 0.0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Any, input2: Any) -> Tensor:
        p = self._parameters
        return F.bilinear(input1, input2, p["weight"], p["bias"])

    def extra_repr(self) -> str:
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class LazyLinear(_LazySized, Linear):
    """A ``Linear`` whose ``in_features`` is inferred from its first input, as
    ``torch.nn.LazyLinear``: until then ``weight`` and ``bias`` are ``UninitializedParameter``s;
    the first call sizes them (out_features, in_features) and (out_features,), initialises them
    as ``Linear`` does, and the module becomes a ``Linear`` (PyTorch's ``cls_to_become``; see
    ``chainrule.nn.lazy``). Create the optimiser after that first call (or a dry run), as in
    PyTorch. Loading a state_dict sizes it too."""

    cls_to_become = Linear
    _size_attr = "in_features"

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return lazy_sample(cls, rng, (2,), {}, (4, 3))

    def __init__(self, out_features: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(0, 0, False, device, dtype)
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        self.out_features = size_arg("LazyLinear", "out_features", out_features)
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def _size_of(self, input: Any) -> int:
        return int(input.shape[-1])

    def _size_in(self, state_dict: dict, prefix: str) -> int | None:
        shape = loaded_shape(state_dict, prefix + "weight", 2)
        return None if shape is None else shape[1]

    def _materialize(self, n: int) -> None:
        self.in_features = n
        if is_lazy(self.weight):
            self.weight.materialize((self.out_features, n))
        if is_lazy(self.bias):
            self.bias.materialize((self.out_features,))
