"""A model's architecture as plain data (never code, never pickle), and the model rebuilt from it.

::

    desc = describe(model)        # {"format": "chainrule.nn", "version": 1, "module": {...}}
    twin = build(desc)            # the same layers, freshly initialised
    twin.load_state_dict(model.state_dict())

A node is ``{"class": "Linear", "args": {"in_features": 4, "out_features": 8, "bias": True}}`` or,
for ``Sequential`` / ``ModuleList`` / ``ModuleDict``, ``{"class": ..., "children": [[name, node],
...]}``. Since version 2 an argument may itself be a node, for a layer that takes a module
(``TransformerEncoder(encoder_layer, num_layers, norm)``, ``MixtureOfExperts(experts, ...)``);
a record that needs no such argument is written as version 1, which older readers load.
Arguments that PyTorch does not keep under their own name are read where it keeps them
(``_READERS``: a TransformerEncoder's ``encoder_layer`` is its identical ``layers``, a
layer's ``dropout`` is its Dropout's ``p``).

``describe`` returns None for a model it cannot describe faithfully: a class that
``chainrule.nn`` does not export (your own subclass with its own ``forward``), or constructor
arguments it cannot read back. It checks its answer by rebuilding the model and comparing the
printed structure and every state_dict entry's name, shape and dtype.

``build`` instantiates only classes exported by ``chainrule.nn``, with argument names from the
class's signature and values of plain types (None, bool, int, float, str, lists of them): a
hostile description can ask for nothing else (argument nodes included, within the same
limits on size and depth).
"""

from __future__ import annotations

import difflib
import inspect
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from chainrule.random import get_rng_state, set_rng_state

FORMAT = "chainrule.nn"
VERSION = 2  # 2: an argument may be a module node; records without one are written as 1
_READS = (1, 2)
CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")
_NOT_BUILT = ("Module", "ParameterList", "ParameterDict")
_DTYPES = ("float16", "float32", "float64")
_MAX_NODES = 100_000
_MAX_DEPTH = 64
_MAX_STR = 200
_cache: weakref.WeakKeyDictionary[Any, tuple[Any, Any]] = weakref.WeakKeyDictionary()


class ArchitectureError(ValueError):
    """A description that ``build`` refuses (unknown class, bad argument, malformed node)."""


def _exports() -> dict[str, type]:
    from chainrule import nn
    from chainrule.nn.module import Module

    out = {}
    for name in dir(nn):
        obj = getattr(nn, name)
        if isinstance(obj, type) and issubclass(obj, Module) and name not in _NOT_BUILT:
            out[name] = obj
    return out


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is a plain JSON-able argument value."""
    if value is None or type(value) in (bool, int, float):
        return True
    if type(value) is str:
        return len(value) <= _MAX_STR
    if type(value) in (list, tuple) and depth < 4 and len(value) <= 10_000:
        return all(_plain(v, depth + 1) for v in value)
    return False


def _jsonable(value: Any) -> Any:
    return [_jsonable(v) for v in value] if isinstance(value, (list, tuple)) else value


_UNREADABLE = object()


def _activation(module: Any, exports: dict[str, type]) -> Any:
    from chainrule.nn import functional as F
    from chainrule.nn.module import Module

    act = module.activation
    if isinstance(act, Module):
        return act
    return {id(F.relu): "relu", id(F.gelu): "gelu"}.get(id(act), _UNREADABLE)


def _stacked(attr: str) -> Callable[[Any, dict[str, type]], Any]:
    """The layer a stack was built from (``num_layers`` deep copies kept as ``attr``): the
    first, when every one has the same description."""
    def read(module: Any, exports: dict[str, type]) -> Any:
        layers = list(getattr(module, attr))
        nodes = [_node(layer, exports) for layer in layers]
        if not layers or nodes[0] is None or any(n != nodes[0] for n in nodes):
            return _UNREADABLE
        return layers[0]
    return read


_LAYER_READERS: dict[str, Callable[[Any, dict[str, type]], Any]] = {
    "dropout": lambda m, ex: m.dropout.p,
    "activation": _activation,
    "bias": lambda m, ex: m.linear1.bias is not None,
}
# Constructor arguments PyTorch keeps elsewhere than under their own name: (class, argument)
# -> reader(module, exports), returning the value or _UNREADABLE.
_READERS: dict[tuple[str, str], Callable[[Any, dict[str, type]], Any]] = {
    **{(layer, arg): read for layer in ("TransformerEncoderLayer", "TransformerDecoderLayer")
       for arg, read in _LAYER_READERS.items()},
    ("TransformerEncoder", "encoder_layer"): _stacked("layers"),
    ("TransformerDecoder", "decoder_layer"): _stacked("layers"),
    ("Transformer", "custom_encoder"): lambda m, ex: m.encoder,
    ("Transformer", "custom_decoder"): lambda m, ex: m.decoder,
}


def _own_dtype(module: Any) -> str | None:
    """The dtype of the module's own parameters, or of all of them when it has none of its own
    (a TransformerEncoderLayer's live in its submodules); None when they differ."""
    dtypes = {str(p.dtype) for p in module.parameters(recurse=False)} \
        or {str(p.dtype) for p in module.parameters()}
    return dtypes.pop() if len(dtypes) == 1 else None


def _args(module: Any, exports: dict[str, type]) -> dict[str, Any] | None:
    """Constructor arguments read back from same-named attributes (or ``_READERS``); a module
    argument becomes its node. None when one is missing or not describable."""
    from chainrule.autograd.tensor import Tensor
    from chainrule.nn.module import Module

    args: dict[str, Any] = {}
    params = list(inspect.signature(type(module).__init__).parameters.values())[1:]
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name == "device" \
                or p.name.startswith("_"):
            continue
        if p.name == "dtype":
            dtype = _own_dtype(module)
            if dtype is not None and dtype in _DTYPES:
                args["dtype"] = dtype
            continue
        reader = _READERS.get((type(module).__name__, p.name))
        if reader is not None:
            value = reader(module, exports)
            if value is _UNREADABLE:
                return None
        elif not hasattr(module, p.name):
            if p.default is p.empty:
                return None
            continue  # the check in describe() catches a non-default value we could not read
        else:
            value = getattr(module, p.name)
        if isinstance(value, Module):
            node = _node(value, exports)
            if node is None:
                return None
            args[p.name] = node
            continue
        if isinstance(p.default, bool) and (value is None or isinstance(value, Tensor)):
            value = value is not None  # bias=True stored as the bias parameter itself
        if not _plain(value):
            return None
        args[p.name] = _jsonable(value)
    return args


def _node(module: Any, exports: dict[str, type]) -> dict[str, Any] | None:
    name = type(module).__name__
    if exports.get(name) is not type(module):
        return None
    if name in CONTAINERS:
        children = []
        for key, child in module._modules.items():
            node = None if child is None else _node(child, exports)
            if node is None:
                return None
            children.append([key, node])
        return {"class": name, "children": children}
    args = _args(module, exports)
    return None if args is None else {"class": name, "args": args}


def _fingerprint(module: Any) -> tuple[str, tuple[tuple[str, tuple[int, ...], str], ...]]:
    body = repr(module).split("(", 1)[-1]  # the class name of the top may differ (MLP)
    state = tuple((k, tuple(v.shape), str(v.dtype)) for k, v in module.state_dict().items())
    return body, state


def describe(module: Any) -> dict[str, Any] | None:
    """The architecture of ``module`` as plain data, or None when it cannot be described
    faithfully (see the module docstring). Checked by rebuilding; cached per module."""
    from chainrule.nn.containers import Sequential
    from chainrule.nn.module import Module

    if not isinstance(module, Module):
        return None
    fingerprint = _fingerprint(module)
    hit = _cache.get(module)
    if hit is not None and hit[0] == fingerprint:
        return hit[1]
    exports = _exports()
    candidates = [_node(module, exports)]
    if isinstance(module, Sequential) and type(module).forward is Sequential.forward \
            and type(module) is exports.get(type(module).__name__):
        # an exported Sequential subclass (MLP) whose arguments are not all readable: its
        # layers, in a plain Sequential, compute the same function
        candidates.append(_node(Sequential(OrderedDict(module._modules)), exports))
    desc = None
    rng = get_rng_state()  # the check builds a twin: it must not move the caller's random stream
    try:
        desc = _first_faithful(candidates, fingerprint)
    finally:
        set_rng_state(rng)
    _cache[module] = (fingerprint, desc)
    return desc


def _first_faithful(candidates: list[dict[str, Any] | None], fingerprint: Any
                    ) -> dict[str, Any] | None:
    for node in candidates:
        if node is None:
            continue
        candidate = {"format": FORMAT, "version": VERSION if _nests(node) else 1,
                     "module": node}
        try:
            same = _fingerprint(build(candidate)) == fingerprint
        except (ArchitectureError, TypeError, ValueError):
            same = False
        if same:
            return candidate
    return None


def _nests(node: dict[str, Any]) -> bool:
    """Whether a node (or one below it) has an argument that is a node (needs version 2)."""
    if any(isinstance(v, dict) for v in node.get("args", {}).values()):
        return True
    return any(_nests(child) for _, child in node.get("children", []))


def build(desc: Any) -> Any:
    """The module a ``describe`` record describes (fresh parameters), instantiating only
    classes exported by ``chainrule.nn``. Raises ``ArchitectureError`` naming the problem."""
    if not isinstance(desc, dict) or desc.get("format") != FORMAT:
        raise ArchitectureError(f"not a chainrule architecture record (expected format "
                                f"{FORMAT!r}): {str(desc)[:200]}")
    version = desc.get("version")
    if type(version) is not int or version not in _READS:
        raise ArchitectureError(f"architecture record version {version!r}; this chainrule "
                                f"reads versions {', '.join(map(str, _READS))}")
    count = [0]
    return _build(desc.get("module"), _exports(), 0, count, "architecture record: module",
                  version)


def build_layer(node: Any, where: str) -> Any:
    """One module from a node (``{"class": "Conv2d", "args": {...}}``) by the rules of ``build``;
    an ``ArchitectureError`` starts with ``where`` (e.g. ``"net.toml: layer 3"``)."""
    return _build(node, _exports(), 0, [0], where, VERSION)


def _build(node: Any, exports: dict[str, type], depth: int, count: list[int],
           where: str, version: int = VERSION) -> Any:
    count[0] += 1
    if count[0] > _MAX_NODES or depth > _MAX_DEPTH:
        raise ArchitectureError(f"architecture record: more than {_MAX_NODES} modules or "
                                f"nested deeper than {_MAX_DEPTH}")
    if not isinstance(node, dict) or set(node) - {"class", "args", "children"}:
        raise ArchitectureError(f"{where} is not a module node "
                                "({'class', 'args'} or {'class', 'children'})")
    name = node.get("class")
    cls = exports.get(name) if isinstance(name, str) else None
    if cls is None:
        close = difflib.get_close_matches(str(name), list(exports), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ArchitectureError(f"{where} asks for class {name!r}, which chainrule.nn does not "
                                f"export{hint}; only its own layers are built")
    if name in CONTAINERS:
        children = node.get("children")
        if not isinstance(children, list) or "args" in node:
            raise ArchitectureError(f"{where} ({name}) needs a 'children' "
                                    "list of [name, node] pairs and no 'args'")
        items = OrderedDict()
        for item in children:
            if not (isinstance(item, (list, tuple)) and len(item) == 2
                    and isinstance(item[0], str) and len(item[0]) <= _MAX_STR):
                raise ArchitectureError(f"{where} has a child that is not "
                                        "a [name, node] pair")
            items[item[0]] = _build(item[1], exports, depth + 1, count, f"{where}.{item[0]}",
                                    version)
        if name == "ModuleList":
            return cls(list(items.values()))
        return cls(items)
    args = node.get("args", {})
    if not isinstance(args, dict) or "children" in node:
        raise ArchitectureError(f"{where} ({name}) needs an 'args' dict")
    allowed = {p.name for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
               if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               and p.name != "device" and not p.name.startswith("_")}
    kwargs: dict[str, Any] = {}
    for key, value in args.items():
        if key not in allowed:
            raise ArchitectureError(f"{where} ({name}) has argument "
                                    f"{key!r}; {name} takes {', '.join(sorted(allowed)) or 'none'}")
        if key == "dtype":
            if value not in _DTYPES:
                raise ArchitectureError(f"{where} ({name}) dtype {value!r}; "
                                        f"expected one of {', '.join(_DTYPES)}")
            value = _dtype(value)
        elif isinstance(value, dict) and version >= 2 and "class" in value:
            value = _build(value, exports, depth + 1, count, f"{where}.{key}", version)
        elif not _plain(value):
            raise ArchitectureError(f"{where} ({name}) argument {key!r} "
                                    f"is a {type(value).__name__}; arguments are None, bool, "
                                    "int, float, str, lists of them or (version 2) module "
                                    "nodes")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, RuntimeError) as e:  # the layer's own argument checks
        raise ArchitectureError(f"{where}: {name}(**{kwargs}) failed: "
                                f"{e}") from None


def _dtype(name: str) -> Any:
    import chainrule

    return getattr(chainrule, name)
