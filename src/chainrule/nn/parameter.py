"""``Parameter``: a tensor that a ``Module`` registers as learnable when assigned to it."""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.autograd.dtypes import get_default_dtype
from chainrule.autograd.tensor import Tensor

_new = object.__new__


class Parameter(Tensor):
    """A leaf tensor that is a module parameter: ``requires_grad=True`` by default.

    ``Parameter(t)`` shares memory (and the version counter) with the tensor ``t``, as in
    PyTorch; assigning it as a module attribute registers it, so it appears in
    ``module.parameters()`` and ``module.state_dict()``.

    >>> import chainrule as cr
    >>> p = Parameter(cr.zeros(2))
    >>> p.requires_grad, p.is_leaf
    (True, True)
    """

    def __new__(cls, data: Any = None, requires_grad: bool = True) -> Parameter:
        t = _new(cls)
        if data is None:
            arr, vc = backend.xp.zeros((0,), dtype=get_default_dtype()), [0]
        elif isinstance(data, Tensor):
            arr, vc = data._data, data._vc
        else:
            arr, vc = backend.xp.asarray(data), [0]
        t._data = arr
        t._vc = vc
        t._grad = None
        t._node = None
        t._meta = None
        t.requires_grad = False
        if requires_grad:
            t.requires_grad_(True)
        return t

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        pass  # everything happens in __new__ (Tensor.__init__ takes other arguments)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_rebuild_parameter, (self._data, self.requires_grad))


def _rebuild_parameter(data: backend.ndarray, requires_grad: bool) -> Parameter:
    return Parameter(data, requires_grad)


def is_parameter(value: Any) -> bool:
    return isinstance(value, Parameter)
