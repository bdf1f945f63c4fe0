"""The op registry: the one list of differentiable primitives, and the one point that applies them.

An op is declared once, in one block of ``ops/*.py``::

    @primitive("exp", torch="exp", saves="out", formula="d exp(x)/dx = exp(x)")
    def exp(x):                      # forward on raw arrays
        return np.exp(x)

    @exp.defvjp
    def _(c, g):                     # vector-Jacobian product, right below it
        return (g * c.out,)

The vjp reads its context ``c``: ``c.x`` (inputs), ``c.out`` (output, if saved), ``c.res``
(residuals), ``c.p`` (parameters), ``c.need`` (which inputs want a gradient) and ``c.xp`` (the
array namespace). It returns one gradient (or None) per input, *before* broadcasting is undone:
the engine sums each gradient back to its input's shape. On the fast first-order path ``c.x`` are
arrays and ``c.xp`` is NumPy; under ``create_graph=True`` they are Tensors and ``c.xp`` is
chainrule's own op namespace, so the same formula is differentiable again (any order for free).

``primitive`` returns the op's generated entry point (a plain function: no kwargs, no registry
look-up on the hot path); ``fn.op`` is the record, which tests, docs and ``explain`` enumerate.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.node import Node, meta_of
from chainrule.autograd.node import next_seq as _next_seq
from chainrule.autograd.tensor import Tensor, as_tensor, get_default_dtype

REGISTRY: dict[str, Op] = {}
"""Every registered primitive by name."""

_new = object.__new__
_ndarray = np.ndarray
_NO_VC = [0]  # version counter stand-in for constant operands (never bumped)


@dataclass(eq=False)
class Op:
    """The record of one primitive: forward, vjp and the metadata every check reads."""

    name: str
    forward: Callable[..., Any]
    nin: int  # tensor inputs; -1: the first argument is a sequence of tensors
    nparams: int
    defaults: tuple
    vjp: Callable[..., Any] | None = None
    has_res: bool = False
    saves_x: bool = True
    saves_out: bool = False
    order: int = 2  # highest derivative order the vjp supports (1: its vjp is not differentiable)
    torch: str | Callable[..., Any] | None = None
    formula: str = ""
    samples: Callable[..., Iterable] | None = None
    is_view: bool = False
    kinks: bool = False  # nondifferentiable points exist (abs at 0, max ties): tests avoid them
    promotes: bool = True  # integer inputs give the default float dtype, not float64 (PyTorch)
    doc: str = ""
    call: Callable[..., Any] = field(default=None, repr=False)  # type: ignore[assignment]

    def defvjp(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Attach the vector-Jacobian product (decorator)."""
        self.vjp = fn
        return fn

    def __repr__(self) -> str:
        return f"Op({self.name!r})"


def primitive(
    name: str, *, nin: int = 1, torch: str | Callable[..., Any] | None = None,
    formula: str = "", saves: str = "x", order: int = 2, res: bool = False,
    view: bool = False, samples: Callable[..., Iterable] | None = None, kinks: bool = False,
    promotes: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a differentiable primitive (decorator on its array-level forward).

    ``nin``: number of tensor inputs (``-1``: first argument is a sequence of tensors);
    the forward's remaining arguments are parameters. ``saves``: what the vjp reads, any of
    ``"x"``, ``"out"``, ``"x,out"`` or ``""``, used to catch in-place changes to saved values.
    ``res=True``: the forward returns ``(out, residuals)``. ``view=True``: the output shares
    memory with input 0 (and its version counter). ``order``: 2 when the vjp is written only
    with differentiable operations, 1 when it is not. ``promotes=False``: the op chooses its
    output dtype itself (``cast``), so integer inputs are not promoted to the default float.
    """
    flags = {s.strip() for s in saves.split(",") if s.strip()}
    if not flags <= {"x", "out"}:
        raise ValueError(f"primitive {name!r}: saves must name 'x' and/or 'out', got {saves!r}")

    def wrap(fwd: Callable[..., Any]) -> Callable[..., Any]:
        if name in REGISTRY:
            raise ValueError(f"primitive {name!r} is registered twice")
        sig = list(inspect.signature(fwd).parameters.values())
        n_tensor = 1 if nin == -1 else nin
        params = sig[n_tensor:]
        defaults = tuple(p.default for p in params)
        op = Op(name=name, forward=fwd, nin=nin, nparams=len(params), defaults=defaults,
                has_res=res, saves_x="x" in flags, saves_out="out" in flags, order=order,
                torch=torch, formula=formula, samples=samples, is_view=view, kinks=kinks,
                promotes=promotes,
                doc=inspect.getdoc(fwd) or "")
        call = _make_call(op)
        call.__name__ = call.__qualname__ = name
        call.__doc__ = op.doc
        call.op = op  # type: ignore[attr-defined]
        call.defvjp = op.defvjp  # type: ignore[attr-defined]
        op.call = call
        REGISTRY[name] = op
        return call

    return wrap


# ---------------------------------------------------------------------------------------------
# The apply point. Three shapes of the same steps, specialised by arity because this is the
# per-op hot path: read the input arrays, run the forward, wrap the output, and (only when some
# input requires grad and grad mode is on) record a Node.
# ---------------------------------------------------------------------------------------------

def _operand(v: Any, op: Op) -> Any:
    """A non-tensor operand as the forward sees it: Python scalars stay scalars (weak dtype)."""
    if v is None or isinstance(v, (bool, int, float)):
        return v
    if isinstance(v, (np.ndarray, np.generic)):
        return v
    if isinstance(v, (list, tuple)):
        return as_tensor(v)._data
    raise TypeError(f"{op.name}: expected a Tensor, array or number, got {type(v).__name__}")


_F64 = np.dtype(np.float64)


def _int_promoted(*xs: Any) -> bool:
    """True when a float64 result came from integer inputs rather than float64 ones: NumPy
    promotes ``int_array * 0.5`` to float64, PyTorch to the default float dtype."""
    ints = False
    for x in xs:
        dt = getattr(x, "dtype", None)
        if dt is not None:
            if dt.kind == "f":
                return False
            ints = ints or dt.kind in "biu"
    return ints


def _params(op: Op, p: tuple) -> tuple:
    """Fill omitted trailing parameters with their defaults (slow path only)."""
    n = len(p)
    if n == op.nparams:
        return p
    if n > op.nparams:
        raise TypeError(f"{op.name}: takes {op.nparams} parameter(s) after the tensor input(s), "
                        f"got {n}")
    tail = op.defaults[n:]
    if any(d is inspect.Parameter.empty for d in tail):
        raise TypeError(f"{op.name}: missing required parameter(s)")
    return p + tail


def _wrap_error(op: Op, err: Exception, xs: tuple) -> Exception:
    """Re-raise a NumPy error with the op's name and the operand shapes."""
    if str(err).startswith(op.name + ":"):
        return err
    shapes = ", ".join(str(tuple(np.shape(x))) for x in xs)
    return type(err)(f"{op.name}: {err} (operand shapes {shapes})")


def _anomaly(op: Op, node: Node | None, out: Any) -> None:
    """In ``detect_anomaly`` mode: remember where the op was called and stop at a NaN/inf."""
    from chainrule.autograd.anomaly import check_forward, forward_trace
    trace = forward_trace()
    if node is not None:
        meta_of(node).trace = trace
    check_forward(op, out, trace)


def _finish(op: Op, out: Any, node: Node | None, vc: list) -> Tensor:
    t = _new(Tensor)
    t._data = out
    t.grad = None
    t._meta = None
    t._node = node
    t.requires_grad = node is not None
    t._vc = vc if op.is_view else [0]
    if node is not None and op.saves_out:
        node.vcs = (*node.vcs, t._vc)
    if STATE.anomaly:
        _anomaly(op, node, out)
    return t


def _make_call(op: Op) -> Callable[..., Any]:
    return _make_variadic(op) if op.nin == -1 else _generate(op)


# The per-op hot path, written once as a template and specialised per op at registration:
# static facts (the number of inputs, parameters or not, residuals, what is saved, views) are
# resolved here instead of being tested on every call. ``_make_variadic`` below is the same
# sequence written as ordinary code, for ops on a sequence of tensors (cat, stack, einsum).
_TEMPLATE = """
def call({sig}):
{params}{inputs}
    try:
        out = fwd({args})
    except (ValueError, TypeError, IndexError) as e:
        raise _wrap_error(op, e, ({xs},)) from None
{res}    if type(out) is not _ndarray:  # NumPy returns scalars for 0-d results
        out = _asarray(out)
{promote}    t = _new(Tensor)
    t._data = out
    t.grad = None
    t._meta = None
    t._vc = {out_vc}
    if ({any_edge}) and STATE.enabled:
        n = _new(Node)
        n.op = op
        n.next = ({edges},)
        n.need = {needs}
        n.x = ({xs},)
        n.p = {p}
        n.res = {res_value}
        n.out = {out_value}
        n.meta = None
        n.seq = _next_seq()
        n.vcs = ({vcs})
{ver}        t._node = n
        t.requires_grad = True
        if STATE.anomaly:
            _anomaly(op, n, out)
    else:
        t._node = None
        t.requires_grad = False
    return t
"""

_INPUT = """    if isinstance(i{k}, Tensor):
        x{k} = i{k}._data
        e{k} = i{k}._node or i{k} if i{k}.requires_grad else None
        v{k} = i{k}._vc
    else:
        {coerce}
"""


def _generate(op: Op) -> Callable[..., Any]:
    """Build the entry point of an op with a fixed number of inputs from ``_TEMPLATE``."""
    ks = range(op.nin)
    params = op.nparams > 0

    def names(prefix: str) -> str:
        return ", ".join(f"{prefix}{k}" for k in ks)

    coerce_tensor = "i0 = as_tensor(i0)\n        x0, e0, v0 = i0._data, None, i0._vc"
    coerce_operand = "x{k}, e{k}, v{k} = _operand(i{k}, op), None, _NO_VC"
    vcs = [f"v{k}" for k in ks] if op.saves_x else []
    if op.saves_out:
        vcs.append("t._vc")
    src = _TEMPLATE.format(
        sig=names("i") + (", *p" if params else ""),
        params="    if len(p) != nparams:\n        p = _params(op, p)\n" if params else "",
        inputs="".join(_INPUT.format(k=k, coerce=coerce_tensor if op.nin == 1 else
                                     coerce_operand.format(k=k)) for k in ks),
        args=names("x") + (", *p" if params else ""),
        xs=names("x"),
        res="    out, res = out\n" if op.has_res else "",
        promote=(f"    if out.dtype is _F64 and _int_promoted({names('x')}):\n"
                 "        out = out.astype(_default_dtype())\n") if op.promotes else "",
        out_vc="v0" if op.is_view else "[0]",
        any_edge=" or ".join(f"e{k} is not None" for k in ks),
        edges=names("e"),
        needs="_NEED1" if op.nin == 1 else  # the one input of a recorded unary op needs it
        "(" + ", ".join(f"e{k} is not None" for k in ks) + ",)",
        p="p" if params else "()",
        res_value="res" if op.has_res else "None",
        out_value="out" if op.saves_out else "None",
        vcs=", ".join(vcs) + ("," if len(vcs) == 1 else ""),
        ver=("        n.ver = " + " + ".join(f"v{k}[0]" for k in ks) + "\n") if op.saves_x else
        "        n.ver = 0\n" if op.saves_out else "",  # read only when vcs is non-empty
    )
    scope = {
        "op": op, "fwd": op.forward, "nparams": op.nparams, "_params": _params,
        "Tensor": Tensor, "Node": Node, "STATE": STATE, "_new": _new, "_ndarray": _ndarray,
        "_asarray": np.asarray, "_operand": _operand, "_NO_VC": _NO_VC, "as_tensor": as_tensor,
        "_wrap_error": _wrap_error, "_next_seq": _next_seq, "_anomaly": _anomaly,
        "_F64": _F64, "_NEED1": (True,), "_int_promoted": _int_promoted,
        "_default_dtype": get_default_dtype,
    }
    exec(compile(src, f"<chainrule op {op.name}>", "exec"), scope)
    call = scope["call"]
    call.__source__ = src  # type: ignore[attr-defined]  (to read what runs: print(fn.__source__))
    return call


def _make_variadic(op: Op) -> Callable[..., Any]:
    fwd, has_res = op.forward, op.has_res

    def call(tensors: Any, *p: Any) -> Tensor:
        ins = list(tensors)
        if not ins:
            raise ValueError(f"{op.name}: expected a non-empty sequence of tensors")
        if len(p) != op.nparams:
            p = _params(op, p)
        enabled = STATE.enabled
        xs, edges, vcs = [], [], []
        for v in ins:
            if isinstance(v, Tensor):
                xs.append(v._data)
                edges.append(v._node or v if enabled and v.requires_grad else None)
                vcs.append(v._vc)
            else:
                xs.append(_operand(v, op))
                edges.append(None)
        try:
            out = fwd(xs, *p)
        except (ValueError, TypeError, IndexError) as e:
            raise _wrap_error(op, e, tuple(xs)) from None
        res = None
        if has_res:
            out, res = out
        if type(out) is not _ndarray:  # NumPy returns scalars for 0-d results
            out = np.asarray(out)
        if op.promotes and out.dtype is _F64 and _int_promoted(*xs):
            out = out.astype(get_default_dtype())
        node = None
        if any(e is not None for e in edges):
            node = _new(Node)
            node.op = op
            node.next = tuple(edges)
            node.need = tuple(e is not None for e in edges)
            node.x = tuple(xs)
            node.p = p
            node.res = res
            node.out = out if op.saves_out else None
            node.meta = None
            node.seq = _next_seq()
            node.vcs = tuple(vcs) if op.saves_x else ()
            node.ver = sum(v[0] for v in node.vcs)
        first = ins[0]
        vc = first._vc if isinstance(first, Tensor) else [0]
        return _finish(op, out, node, vc)

    return call
