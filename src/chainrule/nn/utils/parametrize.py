"""``register_parametrization`` (``torch.nn.utils.parametrize``), basic form: ``module.<name>``
becomes ``parametrization(original)``, recomputed at each access, with the unconstrained tensor
stored as ``module.parametrizations.<name>.original`` (``original0``, ``original1``, ... when the
parametrization's ``right_inverse`` returns a tuple), PyTorch's state-dict keys. Assigning to
``module.<name>`` stores ``right_inverse(value)``. No caching (``cached()`` is accepted and does
nothing)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.nn.containers import ModuleDict
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter

__all__ = ["ParametrizationList", "cached", "is_parametrized", "register_parametrization",
           "remove_parametrizations"]


class ParametrizationList(Module):
    """The parametrizations of one tensor (children ``0``, ``1``, ...) and its original(s)."""

    def __init__(self, modules: list[Module], original: Tensor, unsafe: bool = False) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            self.add_module(str(i), m)
        self.unsafe = unsafe
        first = modules[0]
        value = first.right_inverse(original) if hasattr(first, "right_inverse") else original
        self.is_tensor = isinstance(value, Tensor)
        values = [value] if self.is_tensor else list(value)
        self.ntensors = len(values)
        for i, v in enumerate(values):
            name = "original" if self.is_tensor else f"original{i}"
            v = v.detach()
            if self.is_tensor and v.shape == original.shape and v.dtype == original.dtype:
                with no_grad():  # the same Parameter object, as PyTorch keeps it
                    original.copy_(v)
                v = original
            self.register_parameter(name, v if isinstance(v, Parameter) else Parameter(
                v, requires_grad=original.requires_grad))

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def right_inverse(self, value: Tensor) -> None:
        """Store ``value``: through each parametrization's ``right_inverse``, last first."""
        with no_grad():
            for m in reversed(list(self._modules.values())):
                if hasattr(m, "right_inverse"):
                    value = m.right_inverse(value)
            values = [value] if self.is_tensor else list(value)
            for i, v in enumerate(values):
                getattr(self, "original" if self.is_tensor else f"original{i}").copy_(v)

    def forward(self) -> Tensor:
        mods = list(self._modules.values())
        if self.is_tensor:
            x = mods[0](self.original)
        else:
            x = mods[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for m in mods[1:]:
            x = m(x)
        return x


def _parametrized_class(module: Module) -> type:
    cls = type(module)
    if getattr(cls, "_is_parametrized_class", False):
        return cls
    return type(f"Parametrized{cls.__name__}", (cls,), {"_is_parametrized_class": True})


def register_parametrization(module: Module, tensor_name: str, parametrization: Module, *,
                             unsafe: bool = False) -> Module:
    """Make ``module.<tensor_name>`` be ``parametrization(original)`` (or append to the
    parametrizations already there), as ``torch.nn.utils.parametrize.register_parametrization``.
    """
    if is_parametrized(module, tensor_name):
        plist = module.parametrizations[tensor_name]
        plist.add_module(str(len(plist)), parametrization)
        return module
    original = module._parameters.get(tensor_name)
    if original is None:
        original = module._buffers.get(tensor_name)
    if original is None:
        raise ValueError(f"register_parametrization: module {type(module).__name__} has no "
                         f"parameter or buffer with name '{tensor_name}'")
    plist = ParametrizationList([parametrization], original, unsafe)
    if not unsafe:
        with no_grad():
            out = plist()
        if not isinstance(out, Tensor) or out.shape != original.shape \
                or out.dtype != original.dtype:
            raise ValueError(f"register_parametrization: the parametrization of "
                             f"'{tensor_name}' changes its shape or dtype: "
                             f"{tuple(original.shape)} {original.dtype} -> "
                             f"{tuple(getattr(out, 'shape', ()))} {getattr(out, 'dtype', None)}")
    module._parameters.pop(tensor_name, None)
    module._buffers.pop(tensor_name, None)
    if "parametrizations" not in module._modules:
        module.parametrizations = ModuleDict()
    module.parametrizations[tensor_name] = plist
    cls = _parametrized_class(module)

    def get(self: Module) -> Tensor:
        return self.parametrizations[tensor_name]()

    def set_(self: Module, value: Tensor) -> None:
        self.parametrizations[tensor_name].right_inverse(value)

    setattr(cls, tensor_name, property(get, set_))
    object.__setattr__(module, "__class__", cls)
    return module


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Whether ``module`` (or its ``tensor_name``) has a parametrization."""
    plists = module._modules.get("parametrizations")
    if plists is None or not isinstance(plists, ModuleDict):
        return False
    return len(plists) > 0 if tensor_name is None else tensor_name in plists


def remove_parametrizations(module: Module, tensor_name: str,
                            leave_parametrized: bool = True) -> Module:
    """Remove the parametrizations of ``tensor_name``: it becomes a parameter holding the
    parametrized value (``leave_parametrized=True``) or the original."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {type(module).__name__} does not have a parametrization on "
                         f"{tensor_name}")
    plist = module.parametrizations[tensor_name]
    if leave_parametrized:
        with no_grad():
            value = plist()
    elif plist.is_tensor:
        value = plist.original
    else:
        raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor "
                         "that is parametrized in terms of a sequence of tensors")
    del module.parametrizations[tensor_name]
    cls = type(module)
    if tensor_name in cls.__dict__:
        delattr(cls, tensor_name)
    module.register_parameter(tensor_name, value if isinstance(value, Parameter)
                              else Parameter(value.detach()))
    if not is_parametrized(module):
        del module.parametrizations
        object.__setattr__(module, "__class__", cls.__bases__[0])
    return module


@contextmanager
def cached() -> Iterator[None]:
    """Accepted for PyTorch compatibility: parametrized tensors are recomputed at each access."""
    yield
