"""``Optimizer``: the base class every optimiser derives from (PyTorch's contract).

An optimiser holds ``param_groups`` (a list of dicts: ``"params"`` plus that group's
hyperparameters, defaults filled from ``defaults``) and ``state`` (a dict keyed by the parameter
tensor: momentum buffers, moment estimates, step counts). ``step()`` reads each parameter's
``.grad`` and updates the parameter in place; parameters whose ``.grad`` is None are skipped.

Updates work on the raw arrays (``p._data``) with the array module of the parameter (from
``backend.get_array_module``), its ufuncs writing into preallocated buffers. Every optimiser writes
parameter values through one function, ``apply_update``, which also bumps the parameter's version
counter, so a graph that saved the old value refuses to run backward instead of giving a wrong
gradient.

``state_dict()`` has PyTorch's layout: ``{"state": {index: {...}}, "param_groups": [{..., "params":
[indices]}]}``, with parameters numbered in the order they appear across the groups.
"""

from __future__ import annotations

import functools
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from copy import deepcopy
from itertools import chain
from typing import Any

from chainrule import backend
from chainrule.autograd.grad_mode import STATE, enable_grad
from chainrule.autograd.tensor import Tensor, _leaf

__all__ = ["Optimizer", "apply_update", "implementation_flags", "required"]


class _RequiredParameter:
    """Marks a hyperparameter that every parameter group must set itself."""

    def __repr__(self) -> str:
        return "<required parameter>"


required: Any = _RequiredParameter()


def lerp_(xp: Any, m: Any, g: Any, weight: float, tmp: Any) -> None:
    """``m = m + weight * (g - m)`` in place (torch's lerp: a first-moment average), with
    ``tmp`` as scratch; for ``weight >= 0.5`` computed as ``g - (g - m) * (1 - weight)``, as
    PyTorch does (exact at ``weight = 1``)."""
    xp.subtract(g, m, out=tmp)
    if abs(weight) < 0.5:
        tmp *= weight
        m += tmp
    else:
        tmp *= 1.0 - weight
        xp.subtract(g, tmp, out=m)


def square_average_(xp: Any, v: Any, g: Any, decay: float, tmp: Any) -> None:
    """``v = decay * v + (1 - decay) * g * g`` in place (a second-moment average), with
    ``tmp`` as scratch."""
    v *= decay
    xp.multiply(g, g, out=tmp)
    tmp *= 1.0 - decay
    v += tmp


def implementation_flags(name: str, foreach: bool | None = None, differentiable: bool = False,
                         capturable: bool = False, fused: bool | None = None, *,
                         has_capturable: bool = True, has_fused: bool = False) -> dict[str, Any]:
    """PyTorch's implementation switches, accepted so that its scripts run unchanged: ``foreach``,
    ``capturable`` and ``fused`` choose among kernels that compute the same update (chainrule has
    one); ``differentiable=True`` (autograd through ``step``) is refused, as updates write the
    parameters' arrays in place, outside the graph. The dict goes into the defaults with the
    keys the PyTorch optimiser has (``has_capturable``, ``has_fused``)."""
    if differentiable:
        raise RuntimeError(f"{name}: differentiable=True is not supported: chainrule updates the "
                           "parameters in place outside the autograd graph; for gradients "
                           "through an update, write it with tensor ops (cr.func)")
    flags: dict[str, Any] = {"foreach": foreach, "differentiable": False}
    if has_capturable:
        flags["capturable"] = capturable
    if has_fused or fused is not None:
        flags["fused"] = fused
    return flags


def apply_update(p: Tensor, delta: Any = None, *, scale: float | None = None,
                 value: Any = None) -> None:
    """Write a parameter's new values in place: the one place optimisers change parameters.

    ``p = p * scale - delta`` (either part may be left out), or ``p[...] = value`` when ``value``
    is given; each in one pass over memory, with the array's own in-place operators (so any
    array module works). Bumps ``p``'s version counter once, as an in-place op does.
    """
    a = p._data
    if value is not None:
        a[...] = value
    else:
        if scale is not None:
            a *= scale
        if delta is not None:
            a -= delta
    p._vc[0] += 1


def _recordable_step(step: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(step)
    def recordable(self: Optimizer, closure: Callable[[], Any] | None = None) -> Any:
        if STATE.recorder is None:
            return step(self, closure)
        return STATE.recorder.opaque(step, self, closure)
    return recordable


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


class Optimizer:
    """Base class of the optimisers: ``param_groups``, ``state``, ``step``, ``zero_grad`` and
    ``state_dict`` / ``load_state_dict`` with PyTorch's semantics.

    Args:
        params: an iterable of tensors, of ``(name, tensor)`` pairs, or of dicts (parameter
            groups: ``{"params": [...], "lr": 0.1, ...}``; keys not given take ``defaults``).
        defaults: the default hyperparameters of every group.
    """

    #: state entries that have the parameter's shape (checked by ``load_state_dict``)
    _param_state_keys: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Each subclass's ``step`` is logged whole by ``cr.compile`` while it records a training
        step, and called again at each replay (so hyperparameters are read at replay time)."""
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _recordable_step(cls.__dict__["step"])  # type: ignore[method-assign]

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        self.defaults = defaults
        self._check_hyperparameters(defaults)
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params should be an iterable of tensors or dicts, got a "
                            "single tensor; wrap it in a list: [w]")
        if isinstance(params, dict):
            raise TypeError(f"{name}: params should be an iterable of tensors or of dicts "
                            "(parameter groups), got one dict; wrap it in a list: [group]")
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: parameters must be given in an ordered collection (the "
                            "order of a set changes between runs); use a list instead")
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._scratch: dict[Tensor, tuple[Any, ...]] = {}
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list; pass model.parameters() or "
                             "a list of tensors created with requires_grad=True")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- hyperparameters ---------------------------------------------------------------------------
    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        """Raise a clear error for an invalid hyperparameter (subclasses extend this)."""
        if "lr" in group and group["lr"] is not required:
            lr = group["lr"]
            if isinstance(lr, Tensor):
                if lr.numel() != 1:
                    raise ValueError(f"{type(self).__name__}: a tensor lr must have one element, "
                                     f"got shape {_fmt_shape(lr.shape)}")
                group["lr"] = lr = float(lr.item())
            self._check_nonneg(group, "lr", "learning rate")

    def _check_nonneg(self, group: dict[str, Any], key: str, what: str) -> None:
        v = group.get(key)
        if v is None:
            return
        if not isinstance(v, (int, float, backend.integer, backend.floating)) \
                or isinstance(v, bool):
            raise TypeError(f"{type(self).__name__}: {key} ({what}) must be a number, "
                            f"got {type(v).__name__} {v!r}")
        if not v >= 0.0:
            raise ValueError(f"{type(self).__name__}: invalid {what}: {key}={v}; "
                             "it must be >= 0")

    def _check_betas(self, group: dict[str, Any]) -> None:
        betas = group.get("betas")
        if betas is None:
            return
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{type(self).__name__}: betas must be a pair (beta1, beta2), "
                             f"got {betas!r}")
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"{type(self).__name__}: invalid beta parameter at index {i}: "
                                 f"betas[{i}]={b}; each beta must be in [0, 1)")

    # -- parameter groups --------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (with its own hyperparameters) to ``param_groups``."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group: a parameter group must be a dict, got "
                            f"{type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}.add_param_group: the group has no 'params' entry; "
                             "expected {'params': [tensors], ...}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: parameters must be given in an ordered collection (the "
                            "order of a set changes between runs); use a list instead")
        else:
            params = list(params)
        tensors, names = [], []
        for p in params:
            if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str):
                names.append(p[0])
                p = p[1]
            tensors.append(p)
        if names and len(names) != len(tensors):
            raise ValueError(f"{name}: all parameters should be given with names or all "
                             "without; some names are missing")
        for i, p in enumerate(tensors):
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize tensors, but parameter {i} is "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf tensor (parameter {i} was "
                                 f"computed by {type(p.grad_fn).__name__}); optimise the leaf "
                                 "it was computed from, or use .detach().requires_grad_()")
            if p.dtype.kind != "f":
                raise TypeError(f"{name}: parameter {i} has dtype {p.dtype}; optimisers "
                                "update floating-point tensors only")
        group = dict(param_group)
        group["params"] = tensors
        if names:
            group["param_names"] = names
        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(f"{name}: parameter group didn't specify a value of required "
                                 f"optimization parameter {key}")
            group.setdefault(key, default)
        self._check_hyperparameters(group)
        if len({id(p) for p in tensors}) != len(tensors):
            warnings.warn(f"{name}: a parameter group contains the same parameter more than "
                          "once; it will be updated more than once per step", stacklevel=3)
        seen = {id(p): gi for gi, g in enumerate(self.param_groups) for p in g["params"]}
        clashes = [(i, seen[id(p)]) for i, p in enumerate(tensors) if id(p) in seen]
        if clashes:
            listed = ", ".join(f"parameter {i} (already in group {g})" for i, g in clashes)
            raise ValueError(f"{name}: some parameters appear in more than one parameter "
                             f"group: {listed}")
        for g in self.param_groups:
            if ("param_names" in g) != bool(names):
                raise ValueError(f"{name}: all parameter groups should be given with names or "
                                 "all without")
        self.param_groups.append(group)

    # -- the step ------------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: set ``.grad`` to None (default), or fill it with zeros."""
        if STATE.recorder is not None:  # cr.compile: replayed as a call
            STATE.recorder.opaque(Optimizer._zero_grad, self, set_to_none)
            return
        self._zero_grad(set_to_none)

    def _zero_grad(self, set_to_none: bool) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                    continue
                if g._node is not None:
                    g.detach_()
                g.requires_grad = False
                if g._data.flags.writeable:
                    g._data.fill(0)
                else:
                    g._data = backend.get_array_module(g._data).zeros_like(g._data)
                g._vc[0] += 1

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update the parameters from their ``.grad``; ``closure`` re-evaluates the loss."""
        raise NotImplementedError(f"{type(self).__name__}.step is not implemented")

    @staticmethod
    def _evaluate(closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _with_grads(self, group: dict[str, Any]) -> Iterator[tuple[Tensor, Any, Any, Any, dict]]:
        """``(p, grad array, p's array, its array module, p's state)`` for every parameter of
        ``group`` that has a gradient: the loop every optimiser's step runs."""
        for p in group["params"]:
            g = self._grad_of(p)
            if g is None:
                continue
            a = p._data
            yield p, g, a, backend.get_array_module(a), self.state[p]

    def _buffers(self, p: Tensor, a: Any, n: int) -> tuple[Any, ...]:
        """``n`` scratch arrays with ``a``'s shape, dtype and layout, kept between steps."""
        bufs = self._scratch.get(p)
        if bufs is None or len(bufs) < n or bufs[0].shape != a.shape or bufs[0].dtype != a.dtype:
            xp = backend.get_array_module(a)
            bufs = tuple(xp.empty_like(a) for _ in range(n))
            self._scratch[p] = bufs
        return bufs

    @staticmethod
    def _effective_grad(xp: Any, g: Any, a: Any, weight_decay: float, maximize: bool,
                        tmp: Any) -> Any:
        """The gradient an update uses: negated for ``maximize``, plus ``weight_decay * a``
        (L2), written into the scratch ``tmp`` when it differs from ``g`` (never into .grad)."""
        if weight_decay != 0.0:
            xp.multiply(a, weight_decay, out=tmp)
            (xp.subtract if maximize else xp.add)(tmp, g, out=tmp)
            return tmp
        if maximize:
            xp.negative(g, out=tmp)
            return tmp
        return g

    def _grad_of(self, p: Tensor) -> Any:
        """The raw gradient of ``p``, or None; checks that it fits the parameter."""
        g = p.grad
        if g is None:
            return None
        g = g._data
        if g.shape != p._data.shape:
            raise ValueError(f"{type(self).__name__}.step: a parameter of shape "
                             f"{_fmt_shape(p._data.shape)} has a .grad of shape "
                             f"{_fmt_shape(g.shape)}; a gradient must have its parameter's shape")
        return g

    @staticmethod
    def _zeros_like(a: Any, value: float = 0.0) -> Tensor:
        buf = backend.get_array_module(a).empty_like(a)
        buf.fill(value)
        return _leaf(buf)

    # -- saving and loading --------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [...]}`` with parameters as indices.

        The state's tensors are the optimiser's own (not copies), as in PyTorch.
        """
        mapping: dict[int, int] = {}
        start = 0
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {(mapping[id(k)] if isinstance(k, Tensor) else k): v
                 for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a ``state_dict()``: hyperparameters and per-parameter state.

        State tensors are copied and cast to their parameter's dtype (``step`` counts are kept as
        numbers). Group counts and sizes must match this optimiser's; every mismatch is reported.
        """
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or "state" not in state_dict \
                or "param_groups" not in state_dict:
            raise ValueError(f"{name}: expected a dict with 'state' and 'param_groups' entries "
                             "(what optimizer.state_dict() returns)")
        groups = self.param_groups
        saved = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved):
            raise ValueError(f"{name}: the state dict has {len(saved)} parameter group(s) but "
                             f"this optimizer has {len(groups)}")
        bad = [f"group {i} has {len(s['params'])} saved parameters, this optimizer's has "
               f"{len(g['params'])}" for i, (g, s) in enumerate(zip(groups, saved))
               if len(g["params"]) != len(s["params"])]
        if bad:
            raise ValueError(f"{name}: loaded state dict contains a parameter group that doesn't "
                             f"match the size of optimizer's group: {'; '.join(bad)}")
        id_map = dict(zip(chain.from_iterable(s["params"] for s in saved),
                          chain.from_iterable(g["params"] for g in groups)))
        errors: list[str] = []
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            p = id_map.get(k)
            if p is None:
                state[k] = v
            else:
                state[p] = self._cast_state(p, v, k, None, errors)
        if errors:
            raise ValueError(f"{name}: the saved state does not fit the parameters: "
                             + "; ".join(errors))
        for g, s in zip(groups, saved):
            s["params"] = g["params"]
            if "param_names" in g and "param_names" not in s:
                s["param_names"] = g["param_names"]
            for key, default in self.defaults.items():
                s.setdefault(key, default)
        self.state = state
        self.param_groups = saved
        self._after_load()

    def _after_load(self) -> None:
        """Hook for subclasses to adjust groups or state after ``load_state_dict``."""

    def _cast_state(self, p: Tensor, value: Any, index: Any, key: Any, errors: list) -> Any:
        """A deep copy of ``value`` with tensors cast to ``p``'s dtype (``step`` kept)."""
        if isinstance(value, (Tensor, backend.ndarray)):
            arr = value._data if isinstance(value, Tensor) else value
            if key == "step":
                x = arr.item()
                return int(x) if float(x).is_integer() else float(x)
            if key in self._param_state_keys and arr.shape != p._data.shape:
                errors.append(f"state[{index}][{key!r}] has shape {_fmt_shape(arr.shape)} but "
                              f"parameter {index} has shape {_fmt_shape(p._data.shape)}")
                return value
            dtype = p._data.dtype if arr.dtype.kind == "f" else arr.dtype
            xp = backend.get_array_module(p._data)
            if arr.shape == p._data.shape:
                out = xp.empty_like(p._data, dtype=dtype)
                xp.copyto(out, arr, casting="unsafe")
            else:
                out = xp.array(arr, dtype=dtype)
            return _leaf(out) if isinstance(value, Tensor) else out
        if isinstance(value, dict):
            return {k: self._cast_state(p, v, index, k, errors) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self._cast_state(p, v, index, None, errors) for v in value)
        return value

    # -- display ---------------------------------------------------------------------------------
    def __repr__(self) -> str:
        s = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    s += f"    {key}: {group[key]}\n"
        return s + ")"

    def __getstate__(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["_scratch"] = {}  # scratch buffers are not state
        d.pop("step", None)  # a scheduler's wrapper around step belongs to the original
        return d
