"""``Module``: PyTorch's contract for a layer or a model.

A module holds parameters, buffers and submodules, registered by assignment::

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(784, 10)      # a submodule (its parameters become ours)
            self.scale = nn.Parameter(cr.ones(1))
            self.register_buffer("count", cr.zeros(()))

        def forward(self, x):
            return self.fc(x) * self.scale

``net(x)`` runs the forward pre-hooks, ``forward`` and the forward hooks. Parameters are
enumerated in registration order, own ones first, then each submodule's under its name
(``fc.weight``), exactly as PyTorch does, so state dicts line up key for key.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from chainrule import backend
from chainrule.autograd.dtypes import to_dtype
from chainrule.autograd.factories import as_tensor
from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.tensor import Tensor
from chainrule.autograd.to_args import parse_to_args
from chainrule.nn import backward_hooks
from chainrule.nn.parameter import Parameter

if TYPE_CHECKING:
    from chainrule.nn.samples import Generator, ModuleSample

T = TypeVar("T", bound="Module")

_hook_ids = itertools.count()


class RemovableHandle:
    """Returned by ``register_*_hook``: ``handle.remove()`` takes the hook off (also a context
    manager that removes it on exit)."""

    def __init__(self, *hook_dicts: dict) -> None:
        self.id = next(_hook_ids)
        self._dicts = hook_dicts

    def remove(self) -> None:
        for d in self._dicts:
            d.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class _IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(..., strict=False)`` could not match."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return (f"_IncompatibleKeys(missing_keys={self.missing_keys}, "
                f"unexpected_keys={self.unexpected_keys})")

    __str__ = __repr__


def _addindent(s: str, num_spaces: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    pad = " " * num_spaces
    return lines[0] + "\n" + "\n".join(pad + line for line in lines[1:])


def _typename(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"chainrule.{value.dtype} tensor"
    return type(value).__name__


def _check_name(kind: str, name: Any) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
    if name == "":
        raise KeyError(f'{kind} name can\'t be empty string ""')
    if "." in name:
        raise KeyError(f'{kind} name can\'t contain ".", got: {name}')


def _forward_unimplemented(self: Module, *input: Any) -> Any:
    raise NotImplementedError(
        f'Module [{type(self).__name__}] is missing the required "forward" function')


class Module:
    """Base class of every layer and model (PyTorch's ``torch.nn.Module``)."""

    training: bool
    _version: int = 1
    forward: Callable[..., Any] = _forward_unimplemented

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments "
                            f"{args or ''}{kwargs or ''}")
        setattr_ = object.__setattr__
        setattr_(self, "training", True)
        setattr_(self, "_parameters", {})
        setattr_(self, "_buffers", {})
        setattr_(self, "_non_persistent_buffers_set", set())
        setattr_(self, "_modules", {})
        setattr_(self, "_forward_hooks", {})
        setattr_(self, "_forward_hooks_with_kwargs", set())
        setattr_(self, "_forward_hooks_always_called", set())
        setattr_(self, "_forward_pre_hooks", {})
        setattr_(self, "_forward_pre_hooks_with_kwargs", set())
        setattr_(self, "_backward_hooks", {})
        setattr_(self, "_backward_pre_hooks", {})

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        """A small instance and one call of it, for the module sweep (``nn/samples.py``).
        Every public layer in ``chainrule.nn`` declares its own."""
        raise NotImplementedError(f"{cls.__name__} declares no _sample(cls, rng) -> ModuleSample "
                                  "(see chainrule/nn/samples.py)")

    # -- calling -------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if (self._forward_pre_hooks or self._forward_hooks or self._backward_hooks
                or self._backward_pre_hooks):
            return self._call_with_hooks(args, kwargs)
        if STATE.recorder is not None:  # cr.compile: its train/eval flag guards the recording
            STATE.recorder.module(self)
        return self.forward(*args, **kwargs)

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        if STATE.recorder is not None:
            STATE.recorder.unsafe(f"{type(self).__name__} has forward hooks (Python code the "
                                  "replay would skip)")
        for hid, hook in list(self._forward_pre_hooks.items()):
            if hid in self._forward_pre_hooks_with_kwargs:
                r = hook(self, args, kwargs)
                if r is not None:
                    if not (isinstance(r, tuple) and len(r) == 2):
                        raise RuntimeError("forward pre-hook registered with with_kwargs=True "
                                           f"must return None or (args, kwargs), got {r!r}")
                    args, kwargs = r
            else:
                r = hook(self, args)
                if r is not None:
                    args = r if isinstance(r, tuple) else (r,)
        bw_state = None
        if self._backward_hooks or self._backward_pre_hooks:
            bw_state, args = backward_hooks.wrap_inputs(self, args)
        try:
            result = self.forward(*args, **kwargs)
        except Exception:
            for hid, hook in list(self._forward_hooks.items()):
                if hid in self._forward_hooks_always_called:
                    if hid in self._forward_hooks_with_kwargs:
                        hook(self, args, kwargs, None)
                    else:
                        hook(self, args, None)
            raise
        for hid, hook in list(self._forward_hooks.items()):
            if hid in self._forward_hooks_with_kwargs:
                r = hook(self, args, kwargs, result)
            else:
                r = hook(self, args, result)
            if r is not None:
                result = r
        if bw_state is not None:
            result = backward_hooks.wrap_outputs(bw_state, result)
        return result

    def register_full_backward_pre_hook(self, hook: Callable[..., Any], *,
                                        prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_output)`` when the gradients with respect to the module's
        outputs are computed, before its inputs' gradients; a returned tuple replaces
        ``grad_output`` (see ``nn/backward_hooks.py``)."""
        handle = RemovableHandle(self._backward_pre_hooks)
        self._add_hook(self._backward_pre_hooks, handle.id, hook, prepend)
        return handle

    def register_full_backward_hook(self, hook: Callable[..., Any], *,
                                    prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` when the gradients with respect to the
        module's positional inputs are computed; a returned tuple replaces ``grad_input``."""
        handle = RemovableHandle(self._backward_hooks)
        self._add_hook(self._backward_hooks, handle.id, hook, prepend)
        return handle

    def register_backward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """PyTorch's deprecated hook, whose ``grad_input`` is the last op's; use
        ``register_full_backward_hook``."""
        raise RuntimeError(f"{type(self).__name__}.register_backward_hook: the non-full backward "
                           "hook is deprecated in PyTorch (its grad_input is that of the last "
                           "operation, not of the module) and not provided here; use "
                           "register_full_backward_hook(hook), which has the same signature")

    def register_forward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before ``forward``; a returned value replaces the
        positional arguments (``with_kwargs=True``: ``hook(module, args, kwargs)`` returning
        None or ``(args, kwargs)``)."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._add_hook(self._forward_pre_hooks, handle.id, hook, prepend)
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs.add(handle.id)
        return handle

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                              with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after ``forward``; a returned value replaces the
        output (``with_kwargs=True``: ``hook(module, args, kwargs, output)``). With
        ``always_call=True`` it also runs (with output None) when ``forward`` raises."""
        handle = RemovableHandle(self._forward_hooks)
        self._add_hook(self._forward_hooks, handle.id, hook, prepend)
        if with_kwargs:
            self._forward_hooks_with_kwargs.add(handle.id)
        if always_call:
            self._forward_hooks_always_called.add(handle.id)
        return handle

    @staticmethod
    def _add_hook(hooks: dict, hid: int, hook: Callable[..., Any], prepend: bool) -> None:
        if prepend:
            items = list(hooks.items())
            hooks.clear()
            hooks[hid] = hook
            hooks.update(items)
        else:
            hooks[hid] = hook

    # -- attribute registration ----------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        if "_parameters" in d:
            p = d["_parameters"]
            if name in p:
                return p[name]
            b = d["_buffers"]
            if name in b:
                return b[name]
            m = d["_modules"]
            if name in m:
                return m[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._remove_from(name, d, "_buffers", "_modules")
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as parameter '{name}' "
                                "(nn.Parameter or None expected)")
            self.register_parameter(name, value)
        else:
            modules = d.get("_modules")
            if isinstance(value, Module):
                if modules is None:
                    raise AttributeError("cannot assign module before Module.__init__() call")
                self._remove_from(name, d, "_parameters", "_buffers")
                modules[name] = value
            elif modules is not None and name in modules:
                if value is not None:
                    raise TypeError(f"cannot assign '{_typename(value)}' as child module "
                                    f"'{name}' (nn.Module or None expected)")
                modules[name] = value
            else:
                buffers = d.get("_buffers")
                if buffers is not None and name in buffers:
                    if value is not None and not isinstance(value, Tensor):
                        raise TypeError(f"cannot assign '{_typename(value)}' as buffer "
                                        f"'{name}' (Tensor or None expected)")
                    buffers[name] = value
                else:
                    object.__setattr__(self, name, value)

    def _remove_from(self, name: str, d: dict, *dicts: str) -> None:
        d.pop(name, None)
        for key in dicts:
            d[key].pop(name, None)
        if "_buffers" in dicts:
            d["_non_persistent_buffers_set"].discard(name)

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        if name in d.get("_parameters", ()):
            del d["_parameters"][name]
        elif name in d.get("_buffers", ()):
            del d["_buffers"][name]
            d["_non_persistent_buffers_set"].discard(name)
        elif name in d.get("_modules", ()):
            del d["_modules"][name]
        else:
            object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        keys = (list(dir(type(self))) + list(self.__dict__) + list(self._parameters)
                + list(self._modules) + list(self._buffers))
        return sorted(k for k in set(keys) if not k[:1].isdigit())

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (a ``Parameter``, or None for an absent optional one) as
        ``self.<name>``."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_name("parameter", name)
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is None:
            self._parameters[name] = None
            return
        if not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                            "(nn.Parameter or None required)")
        if param.grad_fn is not None:
            raise ValueError(
                f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must be "
                f"created explicitly. To express '{name}' as a function of another Tensor, "
                "compute the value in the forward() method.")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register ``tensor`` as state that is not a parameter (running statistics):
        moved by ``to()``, saved in ``state_dict()`` unless ``persistent=False``."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name("buffer", name)
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{_typename(tensor)}' object to buffer '{name}' "
                            "(Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` as the child ``self.<name>``."""
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        _check_name("module", name)
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        """The submodule at the dotted path ``target`` (``""``: this module)."""
        if target == "":
            return self
        mod: Module = self
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def _get_leaf(self, target: str, kind: str, store: str) -> Any:
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
        if name not in getattr(mod, store):
            raise AttributeError(f"`{name}` is not a {kind}")
        return getattr(mod, name)

    def set_submodule(self, target: str, module: Module) -> None:
        """Replace (or add) the submodule at the dotted path ``target``."""
        if target == "":
            raise ValueError("set_submodule: cannot set the module itself (target is empty)")
        parent_path, _, name = target.rpartition(".")
        if not isinstance(module, Module):
            raise TypeError(f"`{module}` is not an nn.Module")
        setattr(self.get_submodule(parent_path), name, module)

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at the dotted path ``target`` (e.g. ``"0.weight"``)."""
        return self._get_leaf(target, "nn.Parameter", "_parameters")

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at the dotted path ``target``."""
        return self._get_leaf(target, "buffer", "_buffers")

    # -- enumeration ---------------------------------------------------------------------------
    def _named_members(self, get_members: Callable[[Module], Any], prefix: str = "",
                       recurse: bool = True, remove_duplicate: bool = True) -> Iterator:
        memo: set[int] = set()
        modules = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                   if recurse else [(prefix, self)])
        for module_prefix, module in modules:
            for k, v in get_members(module):
                if v is None:
                    continue
                if remove_duplicate:
                    if id(v) in memo:
                        continue
                    memo.add(id(v))
                yield (module_prefix + ("." if module_prefix else "") + k, v)

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs: own parameters first, then each child's; a
        parameter shared between modules is listed once."""
        return self._named_members(lambda m: m._parameters.items(), prefix, recurse,
                                   remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The parameters, in ``named_parameters`` order (what an optimiser takes)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members(lambda m: m._buffers.items(), prefix, recurse,
                                   remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_children(self) -> Iterator[tuple[str, Module]]:
        memo: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in memo:
                memo.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module (name ``prefix``) and every descendant."""
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def num_parameters(self, only_trainable: bool = False) -> int:
        """How many numbers the parameters hold (shared parameters counted once)."""
        return sum(p.numel() for p in self.parameters()
                   if p.requires_grad or not only_trainable)

    # -- modes and gradients -------------------------------------------------------------------
    def train(self: T, mode: bool = True) -> T:
        """Set training mode (dropout active, batch statistics) on this module and its
        descendants; ``train(False)`` is ``eval()``."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self: T) -> T:
        """Evaluation mode: dropout off, normalisation layers use their running statistics."""
        return self.train(False)

    def requires_grad_(self: T, requires_grad: bool = True) -> T:
        """Switch gradient recording for every parameter (``False`` freezes the module)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the parameters' gradients: to None (default) or to zeros in place."""
        if STATE.recorder is not None:  # cr.compile: replayed as a call
            STATE.recorder.opaque(Module._zero_grad, self, set_to_none)
            return
        self._zero_grad(set_to_none)

    def _zero_grad(self, set_to_none: bool) -> None:
        for p in self.parameters():
            g = p.grad
            if g is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                if g.grad_fn is not None:
                    g.detach_()
                else:
                    g.requires_grad = False
                g._data[...] = 0
                g._vc[0] += 1

    # -- state dict ------------------------------------------------------------------------------
    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        skip = self._non_persistent_buffers_set
        for name, b in self._buffers.items():
            if b is not None and name not in skip:
                destination[prefix + name] = b if keep_vars else b.detach()

    def state_dict(self, *args: Any, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> dict[str, Tensor]:
        """An ordered dict from dotted names to parameters and persistent buffers (detached:
        they share memory with the module but record nothing), keys in ``named_parameters``
        order per module."""
        if args:  # PyTorch's deprecated positional form: (destination, prefix, keep_vars)
            destination = args[0] if len(args) > 0 else destination
            prefix = args[1] if len(args) > 1 else prefix
            keep_vars = args[2] if len(args) > 2 else keep_vars
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".",
                                  keep_vars=keep_vars)
        return destination

    def _load_from_state_dict(self, state_dict: dict, prefix: str, local_metadata: dict,
                              strict: bool, missing_keys: list, unexpected_keys: list,
                              error_msgs: list) -> None:
        """Load this module's own entries (PyTorch's signature; override to adapt old
        checkpoints). Problems are appended to the lists, never raised."""
        assign = local_metadata.get("assign_to_params_buffers", False)
        persistent = {k: v for k, v in self._buffers.items()
                      if k not in self._non_persistent_buffers_set}
        local = {k: v for k, v in itertools.chain(self._parameters.items(), persistent.items())
                 if v is not None}
        for name, param in local.items():
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            value = state_dict[key]
            arr = value._data if isinstance(value, Tensor) else (
                value if isinstance(value, backend.ndarray) else None)
            if arr is None:
                error_msgs.append(f'While copying the parameter named "{key}", expected a '
                                  f"Tensor or array from checkpoint but received {type(value)}")
                continue
            if arr.shape != param.shape:
                error_msgs.append(f"size mismatch for {key}: copying a param with shape "
                                  f"{tuple(arr.shape)} from checkpoint, the shape in current "
                                  f"model is {tuple(param.shape)}.")
                continue
            if assign:
                if isinstance(param, Parameter):
                    new = value if isinstance(value, Parameter) else Parameter(
                        as_tensor(arr), requires_grad=param.requires_grad)
                    setattr(self, name, new)
                else:
                    setattr(self, name, as_tensor(arr))
            else:
                try:
                    backend.get_array_module(param._data).copyto(
                        param._data, arr, casting="unsafe")
                except (ValueError, TypeError) as e:
                    error_msgs.append(f'While copying the parameter named "{key}", whose '
                                      f"dimensions in the model are {tuple(param.shape)} and "
                                      f"whose dimensions in the checkpoint are "
                                      f"{tuple(arr.shape)}, an exception occurred: {e}.")
                    continue
                param._vc[0] += 1
        for key in state_dict:
            if key.startswith(prefix):
                head, dot, _ = key[len(prefix):].partition(".")
                if dot:
                    if head not in self._modules:
                        unexpected_keys.append(key)
                elif head not in local:
                    unexpected_keys.append(key)

    def load_state_dict(self, state_dict: dict, strict: bool = True,
                        assign: bool = False) -> _IncompatibleKeys:
        """Copy values from ``state_dict`` into the parameters and buffers, in place (each keeps
        its dtype). Every problem is reported at once: missing keys, unexpected keys and
        shape mismatches (with both shapes). With ``strict=False`` missing and unexpected keys
        are returned as ``(missing_keys, unexpected_keys)`` instead of raised; shape mismatches
        still raise. ``assign=True`` puts the given tensors in place of the current ones."""
        if not isinstance(state_dict, dict):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        state_dict = OrderedDict(state_dict)  # hooks below may add keys: not the caller's dict
        missing: list[str] = []
        unexpected: list[str] = []
        errors: list[str] = []
        prev = STATE.enabled
        STATE.enabled = False
        try:
            for prefix, module in self.named_modules(remove_duplicate=False):
                module._load_from_state_dict(state_dict, prefix + "." if prefix else "",
                                             {"assign_to_params_buffers": assign}, True,
                                             missing, unexpected, errors)
        finally:
            STATE.enabled = prev
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in unexpected)))
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in missing)))
        if errors:
            raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
                type(self).__name__, "\n\t".join(errors)))
        return _IncompatibleKeys(missing, unexpected)

    # -- conversions ---------------------------------------------------------------------------
    def _apply(self: T, fn: Callable[[backend.ndarray], backend.ndarray]) -> T:
        """Apply ``fn`` to the array of every parameter, gradient and buffer, in place of the
        same tensor objects (an optimiser holding the parameters keeps working)."""
        for module in self.children():
            module._apply(fn)
        for t in itertools.chain(self._parameters.values(), self._buffers.values()):
            if t is None:
                continue
            new = fn(t._data)
            if new is not t._data:
                t._data = new
                t._vc[0] += 1
            g = t.grad
            if g is not None:
                new = fn(g._data)
                if new is not g._data:
                    g._data = new
        return self

    def apply(self: T, fn: Callable[[Module], Any]) -> T:
        """Call ``fn(m)`` on every submodule (children first) and on this module, e.g. for
        custom initialisation: ``model.apply(init_weights)``."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def _cast_floating(self: T, dtype: Any) -> T:
        dt = to_dtype(dtype)
        return self._apply(lambda a: a.astype(dt) if a.dtype.kind == "f" and a.dtype != dt
                           else a)

    def to(self: T, *args: Any, **kwargs: Any) -> T:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or ``to(tensor)``: converts the
        floating-point parameters and buffers in place (the Parameter objects stay the same)."""
        dtype = parse_to_args(args, kwargs, "Module.to")
        if dtype is not None:
            dt = to_dtype(dtype)
            if dt.kind not in "fc":
                raise TypeError("nn.Module.to only accepts floating point dtypes, but got "
                                f"desired dtype={dt}")
            self._cast_floating(dt)
        return self

    def cpu(self: T) -> T:
        return self

    def share_memory(self: T) -> T:
        """A no-op on NumPy arrays (PyTorch moves storage to shared memory)."""
        return self

    def cuda(self: T, device: Any = None) -> T:
        backend.check_device("cuda" if device is None or isinstance(device, int) else device,
                             "Module.cuda")
        return self

    def float(self: T) -> T:
        """Floating-point parameters and buffers to float32."""
        return self._cast_floating(backend.float32)

    def double(self: T) -> T:
        """Floating-point parameters and buffers to float64."""
        return self._cast_floating(backend.float64)

    def half(self: T) -> T:
        """Floating-point parameters and buffers to float16."""
        return self._cast_floating(backend.float16)

    def bfloat16(self: T) -> T:
        """Refuses: NumPy has no bfloat16 (``cr.bfloat16``); use ``half()`` or ``float()``."""
        return self._cast_floating(backend.bfloat16)

    def type(self: T, dst_type: Any) -> T:
        return self._apply(lambda a: a.astype(to_dtype(dst_type)))

    # -- printing ------------------------------------------------------------------------------
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The text between the parentheses of this module's repr (override in layers)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = ["(" + key + "): " + _addindent(repr(module), 2)
                       for key, module in self._modules.items()]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for key, default in (("_forward_hooks_with_kwargs", set),
                             ("_backward_hooks", dict), ("_backward_pre_hooks", dict),
                             ("_forward_pre_hooks_with_kwargs", set),
                             ("_forward_hooks_always_called", set),
                             ("_non_persistent_buffers_set", set)):
            if key not in self.__dict__:
                object.__setattr__(self, key, default())
