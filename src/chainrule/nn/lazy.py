"""Lazy modules: layers whose input size is inferred from their first input, as PyTorch's
``torch.nn.modules.lazy``.

Until its first call a lazy layer holds ``UninitializedParameter``/``UninitializedBuffer``
placeholders (empty, of shape (0,), where PyTorch's refuse to give a shape; they keep a dtype,
so ``.double()`` before the first call works). The
first call sizes them (``initialize_parameters``), initialises them as the concrete layer
does, and the module becomes that layer (``cls_to_become``: a ``LazyConv2d`` is then a
``Conv2d``; the Parameter objects stay the same). Create the optimiser after that first call (or
a dry run), as in PyTorch. Loading a state_dict into a lazy layer sizes it from the
checkpoint's tensors; it becomes the concrete class at its first call.

The built-in lazy layers (``LazyLinear``, ``LazyConv*``, ``LazyConvTranspose*``,
``LazyBatchNorm*``, ``LazyInstanceNorm*``) infer one size (``in_features``, ``in_channels``,
``num_features``) and build every tensor from it (``_LazySized``); so a checkpoint whose
tensors disagree with the layer's other arguments (a 5x5 kernel for ``kernel_size=3``) is
reported as a size mismatch rather than taken as is.
"""

from __future__ import annotations

import itertools
from typing import Any

from chainrule import backend
from chainrule.autograd.dtypes import get_default_dtype, to_dtype
from chainrule.autograd.tensor import Tensor
from chainrule.nn.parameter import Parameter


class _Uninitialized:
    """Shared by the placeholders: an empty array of the right dtype until ``materialize``."""

    __slots__ = ()
    cls_to_become: type = Tensor

    def materialize(self, shape: Any, device: Any = None, dtype: Any = None) -> None:
        """Give the tensor ``shape`` (values uninitialised) and make it a plain
        ``Parameter``/``Tensor``, in place (the same object)."""
        t: Any = self
        if device is not None:
            backend.check_device(device, "materialize")
        xp = backend.get_array_module(t._data)
        shape = (int(shape),) if isinstance(shape, (int, backend.integer)) else \
            tuple(int(s) for s in shape)
        t._data = xp.empty(shape, dtype=t._data.dtype if dtype is None else to_dtype(dtype))
        t._vc[0] += 1
        t.__class__ = self.cls_to_become

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def __reduce_ex__(self, protocol: Any) -> Any:
        t: Any = self
        return (type(self), (t.requires_grad, None, t._data.dtype))


def _empty(dtype: Any) -> Any:
    return backend.xp.empty((0,), dtype=get_default_dtype() if dtype is None else to_dtype(dtype))


class UninitializedParameter(_Uninitialized, Parameter):
    """A parameter whose shape is not known yet (a lazy layer's, until its first input), as
    ``torch.nn.UninitializedParameter``; ``materialize(shape)`` turns it into a ``Parameter``."""

    cls_to_become = Parameter

    def __new__(cls, requires_grad: bool = True, device: Any = None,
                dtype: Any = None) -> UninitializedParameter:
        backend.check_device(device, "UninitializedParameter")
        return super().__new__(cls, _empty(dtype), requires_grad)  # type: ignore[return-value]

    def __init__(self, requires_grad: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        pass


class UninitializedBuffer(_Uninitialized, Tensor):
    """A buffer whose shape is not known yet (a lazy batch norm's running statistics), as
    ``torch.nn.UninitializedBuffer``; ``materialize(shape)`` turns it into a ``Tensor``."""

    __slots__ = ()

    def __init__(self, requires_grad: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        backend.check_device(device, "UninitializedBuffer")
        super().__init__(0, requires_grad=requires_grad)
        self._data = _empty(dtype)


def is_lazy(t: Any) -> bool:
    """Whether ``t`` is an uninitialised placeholder (PyTorch's ``torch.nn.parameter.is_lazy``)."""
    return isinstance(t, _Uninitialized)


class LazyModuleMixin:
    """Mixed into a layer before its concrete class (``class LazyConv2d(LazyModuleMixin,
    Conv2d)``), as ``torch.nn.modules.lazy.LazyModuleMixin``: the first call runs
    ``initialize_parameters(*args, **kwargs)``, checks nothing is left uninitialised, turns the
    module into ``cls_to_become`` and runs its forward. A subclass implements
    ``initialize_parameters`` (``materialize`` each placeholder, then initialise it). PyTorch
    sizes the layer in a forward pre-hook registered at construction; here it happens at the
    start of ``forward``, so forward pre-hooks of the user's run before it."""

    cls_to_become: type | None = None

    def has_uninitialized_params(self) -> bool:
        """True while a parameter or buffer is still an uninitialised placeholder."""
        m: Any = self
        return any(is_lazy(t) for t in itertools.chain(m._parameters.values(),
                                                       m._buffers.values()))

    def initialize_parameters(self, *args: Any, **kwargs: Any) -> None:
        """Size and initialise the placeholders from the first call's arguments."""
        raise NotImplementedError(
            f"initialize_parameters is not implemented for {type(self).__name__}")

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        concrete = super().forward  # type: ignore[misc]  # the layer's forward, bound
        self.initialize_parameters(*args, **kwargs)
        if self.has_uninitialized_params():
            raise RuntimeError(f"module {type(self).__name__} has not been fully initialized")
        if self.cls_to_become is not None:
            self.__class__ = self.cls_to_become
        return concrete(*args, **kwargs)

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        m: Any = self
        for name, p in m._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars or is_lazy(p) else p.detach()
        for name, b in m._buffers.items():
            if b is not None and name not in m._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars or is_lazy(b) else b.detach()

    def _materialize_from(self, state_dict: dict, prefix: str) -> None:
        """Give each placeholder the shape of its (initialised) tensor in ``state_dict``."""
        m: Any = self
        for name, t in itertools.chain(m._parameters.items(), m._buffers.items()):
            value = state_dict.get(prefix + name)
            if is_lazy(t) and value is not None and not is_lazy(value) and \
                    hasattr(value, "shape"):
                t.materialize(tuple(value.shape))

    def _load_from_state_dict(self, state_dict: dict, prefix: str, local_metadata: dict,
                              strict: bool, missing_keys: list, unexpected_keys: list,
                              error_msgs: list) -> None:
        if self.has_uninitialized_params():
            self._materialize_from(state_dict, prefix)
        super()._load_from_state_dict(  # type: ignore[misc]
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
            error_msgs)


class _LazySized(LazyModuleMixin):
    """A built-in lazy layer: one size, the attribute ``_size_attr`` (``in_features``,
    ``in_channels``, ``num_features``; 0 until known), read from the first input (``_size_of``)
    or from a checkpoint (``_size_in``), sizes every placeholder (``_materialize``)."""

    _size_attr = ""

    def _size_of(self, input: Any) -> int:
        raise NotImplementedError

    def _size_in(self, state_dict: dict, prefix: str) -> int | None:
        raise NotImplementedError

    def _materialize(self, n: int) -> None:
        raise NotImplementedError

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and getattr(self, self._size_attr) != 0:
            super().reset_parameters()  # type: ignore[misc]

    def initialize_parameters(self, input: Any, *args: Any, **kwargs: Any) -> None:
        """Size the placeholders for ``input`` and initialise them as the concrete layer does
        (once; a no-op when they are sized)."""
        if self.has_uninitialized_params():
            self._materialize(self._size_of(input))
            self.reset_parameters()

    def _materialize_from(self, state_dict: dict, prefix: str) -> None:
        n = self._size_in(state_dict, prefix)
        if n is not None:
            self._materialize(n)
            self.reset_parameters()  # what the checkpoint lacks (strict=False) is initialised


def loaded_shape(state_dict: dict, key: str, ndim: int) -> tuple[int, ...] | None:
    """The shape of ``state_dict[key]`` when it is an initialised tensor of ``ndim`` dims."""
    v = state_dict.get(key)
    if v is None or is_lazy(v) or not hasattr(v, "shape") or len(v.shape) != ndim:
        return None
    return tuple(int(s) for s in v.shape)
