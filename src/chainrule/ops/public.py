"""What is generated from the op record: the public functions of ``chainrule.ops`` and, from
flags on each, the export (``cr.NAME``), the Tensor methods and operators, and the
``nn.functional`` form. ``primitive(..., method=..., functional=...)`` registers an op's entry
point here; ``@public(...)`` registers a wrapper that parses PyTorch's arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PUBLIC: dict[str, Entry] = {}
"""Every public function of ``chainrule.ops`` by name, with what is generated from it."""


@dataclass(eq=False)
class Entry:
    """A public function of ``chainrule.ops`` and the forms generated from it: the export
    (``cr.NAME``), Tensor methods, and the ``nn.functional`` form."""

    name: str
    fn: Callable[..., Any]
    methods: tuple[str, ...] = ()
    sizes: bool = False  # the methods take PyTorch's varargs sizes: x.reshape(2, 3)
    export: bool = True
    functional: bool = False


def _method_names(method: bool | str | tuple[str, ...], name: str) -> tuple[str, ...]:
    if method is True:
        return (name,)
    if not method:
        return ()
    return (method,) if isinstance(method, str) else tuple(method)


def public(fn: Callable[..., Any] | None = None, *, method: bool | str | tuple[str, ...] = False,
           sizes: bool = False, export: bool = True, functional: bool = False) -> Any:
    """Register a public function of ``chainrule.ops`` (decorator; the function is returned
    unchanged). ``method``: also a Tensor method (True: same name; a name or names otherwise);
    ``sizes``: the method packs varargs sizes into the second argument (``x.view(2, 3)``);
    ``export``: ``cr.NAME``; ``functional``: ``cr.nn.functional.NAME``."""
    def register(f: Callable[..., Any]) -> Callable[..., Any]:
        name = f.__name__
        if name in PUBLIC:
            raise ValueError(f"public function {name!r} is registered twice")
        PUBLIC[name] = Entry(name, f, _method_names(method, name), sizes, export, functional)
        return f
    return register(fn) if fn is not None else register


def _sized(fn: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: Any, *sizes: Any) -> Any:
        return fn(self, sizes[0] if len(sizes) == 1 and not isinstance(sizes[0], int) else sizes)
    method.__name__ = fn.__name__
    method.__doc__ = fn.__doc__
    return method


def bind_methods(cls: type) -> None:
    """Add every registered Tensor method to ``cls`` (called once, when the ops are loaded).

    A method already written on the class (or a base, e.g. the in-place mixin) by hand is an
    error: one place per method."""
    inherited = {m for k in cls.__mro__[1:] if k is not object for m in k.__dict__}
    for e in PUBLIC.values():
        for m in e.methods:
            if m in cls.__dict__ or m in inherited:
                raise RuntimeError(f"Tensor.{m} is written by hand and registered by "
                                   f"chainrule.ops.{e.name}; keep one of them")
            setattr(cls, m, _sized(e.fn) if e.sizes else e.fn)


def exports() -> dict[str, Callable[..., Any]]:
    """The public functions that ``chainrule.ops`` (and so ``chainrule``) exports."""
    return {n: e.fn for n, e in PUBLIC.items() if e.export}


def functionals() -> dict[str, Callable[..., Any]]:
    """The public functions that ``chainrule.nn.functional`` exports as they are."""
    return {n: e.fn for n, e in PUBLIC.items() if e.functional}
