"""The op registry: the one list of differentiable primitives, and the one point that applies them.

An op is declared once, in one block of ``ops/*.py``::

    @primitive("exp", torch="exp", saves="out", formula="d exp(x)/dx = exp(x)")
    def exp(xp, x):                  # forward on raw arrays of the array module xp
        return xp.exp(x)

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

from chainrule import backend
from chainrule.autograd.dtypes import get_default_dtype
from chainrule.autograd.factories import as_tensor
from chainrule.autograd.grad_mode import _INFERENCE, STATE
from chainrule.autograd.inference import INFERENCE_VC
from chainrule.autograd.node import Node, meta_of, new_node, next_seq
from chainrule.autograd.tensor import Tensor
from chainrule.backend import get_array_module
from chainrule.ops.public import public

REGISTRY: dict[str, Op] = {}
"""Every registered primitive by name."""


_new = object.__new__
_numpy = backend.host  # the fast path: a host array's module is known without asking the seam
_ndarray = backend.ndarray
_F64 = backend.float64
_NEED1 = (True,)  # the one input of a recorded unary op needs its gradient
_NEED11, _NEED10, _NEED01 = (True, True), (True, False), (False, True)
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
    promotes: bool = True, method: bool | str | tuple[str, ...] = False, sizes: bool = False,
    export: bool | None = None, functional: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a differentiable primitive (decorator on its array-level forward).

    ``nin``: number of tensor inputs (``-1``: first argument is a sequence of tensors);
    the forward's first argument is the array module (``xp``), then the tensor inputs, then
    parameters. ``saves``: what the vjp reads, any of
    ``"x"``, ``"out"``, ``"x,out"`` or ``""``, used to catch in-place changes to saved values.
    ``res=True``: the forward returns ``(out, residuals)``. ``view=True``: the output shares
    memory with input 0 (and its version counter). ``order``: 2 when the vjp is written only
    with differentiable operations, 1 when it is not. ``promotes=False``: the op chooses its
    output dtype itself (``cast``), so integer inputs are not promoted to the default float.
    ``method``, ``sizes``, ``export``, ``functional``: what is generated from the entry point
    (see ``public``); ``export`` defaults to True unless the forward's name starts with ``_``
    (a primitive behind a public wrapper that parses PyTorch's arguments).
    """
    flags = {s.strip() for s in saves.split(",") if s.strip()}
    if not flags <= {"x", "out"}:
        raise ValueError(f"primitive {name!r}: saves must name 'x' and/or 'out', got {saves!r}")

    def wrap(fwd: Callable[..., Any]) -> Callable[..., Any]:
        if name in REGISTRY:
            raise ValueError(f"primitive {name!r} is registered twice")
        sig = list(inspect.signature(fwd).parameters.values())[1:]  # after the array module
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
        call.__code__ = call.__code__.replace(co_name=name, co_qualname=name)  # own inline caches
        call.__doc__ = op.doc
        call.op = op  # type: ignore[attr-defined]
        call.defvjp = op.defvjp  # type: ignore[attr-defined]
        op.call = call
        REGISTRY[name] = op
        public_name = fwd.__name__
        exported = not public_name.startswith("_") if export is None else export
        if exported or method or functional:
            public(call, method=method, sizes=sizes, export=exported, functional=functional)
        return call

    return wrap


# ---------------------------------------------------------------------------------------------
# The apply point: one closure per op, built at registration. Each runs the same steps: read
# the input arrays, ask the seam for their array module, run the forward, wrap the output, and
# (only when some input requires grad and grad mode is on) record a Node. Plain ops (no
# parameters, residuals or view: add, mul, tanh, linear, ...) get a closure per arity that skips
# those checks; unary ops with parameters get ``_unary``; the rest the general ``_apply``.
# ---------------------------------------------------------------------------------------------

def _operand(v: Any, op: Op) -> Any:
    """A non-tensor operand as the forward sees it: Python scalars stay scalars (weak dtype)."""
    if v is None or isinstance(v, (bool, int, float)):
        return v
    if isinstance(v, (backend.ndarray, backend.generic)):
        return v
    if isinstance(v, (list, tuple)):
        return as_tensor(v)._data
    raise TypeError(f"{op.name}: expected a Tensor, array or number, got {type(v).__name__}")


def _int_promoted(*xs: Any) -> bool:
    """True when a float64 result came from integer inputs, not float64 ones: NumPy promotes
    ``int_array * 0.5`` and ``float32 * int64`` to float64; PyTorch keeps the float operand's
    dtype (the default float dtype when all are integers)."""
    ints = False
    for x in xs:
        dt = getattr(x, "dtype", None)
        if dt is not None:
            if dt == _F64:
                return False
            ints = ints or dt.kind in "biu"
    return ints


def _float_of(xs: tuple) -> Any:
    """The widest float dtype among ``xs``, else the default float dtype."""
    fs = [x.dtype for x in xs if getattr(x, "dtype", None) is not None and x.dtype.kind == "f"]
    return max(fs, key=lambda d: d.itemsize) if fs else get_default_dtype()


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
    """Re-raise an array library's error with the op's name and the operand shapes."""
    if str(err).startswith(op.name + ":"):
        return err
    shapes = ", ".join(str(tuple(getattr(x, "shape", ()))) for x in xs)
    return type(err)(f"{op.name}: {err} (operand shapes {shapes})")


def _slow(op: Op, node: Node | None, xp: Any, xs: Any, p: tuple, t: Tensor, res: Any) -> None:
    """The one slow path (``STATE.slow``): autocast, anomaly mode, compile's recorder, inference
    mode. Autocast's hook may re-run the op on cast inputs into ``t`` (through this path again)."""
    if STATE.autocast is not None and STATE.autocast(op, node, xs, p, t):
        return
    out = t._data
    if _INFERENCE[0] and not op.is_view:
        t._vc = INFERENCE_VC
    if STATE.anomaly and node is not None:
        from chainrule.autograd.anomaly import check_forward, forward_trace
        trace = forward_trace()
        meta_of(node).trace = trace
        check_forward(op, out, trace)
    if STATE.recorder is not None:
        STATE.recorder.op(op, xp, xs, p, out, res)


def _output(op: Op, xp: Any, out: Any, xs: tuple) -> Any:
    """The forward's result as an array of the right dtype (slow cases only)."""
    if type(out) is not xp.ndarray:  # NumPy returns scalars for 0-d results
        out = xp.asarray(out)
    if op.promotes and out.dtype == _F64 and _int_promoted(*xs):
        out = out.astype(_float_of(xs))
    return out


def _saved_vcs(op: Op, in_vcs: tuple, out_vc: list) -> tuple:
    """The version counters a node watches: its inputs' (if the vjp reads them), its output's."""
    if op.saves_x:
        return (*in_vcs, out_vc) if op.saves_out else in_vcs
    return (out_vc,) if op.saves_out else ()


def _make_call(op: Op) -> Callable[..., Any]:
    plain = not (op.nparams or op.has_res or op.is_view)  # the common op: no per-call checks
    if op.nin == 1:
        call = _unary_plain(op) if plain else _unary(op)
    elif op.nin == 2 and plain:
        call = _binary(op)
    elif op.nin == 3 and plain:
        call = _ternary(op)
    else:
        call = _variadic(op) if op.nin == -1 else _nary(op)
    return _keywords(op, call) if op.nparams else call


def _keywords(op: Op, call: Callable[..., Any]) -> Callable[..., Any]:
    """Accept the parameters by keyword too (``cr.clamp(x, max=1.0)``): binds them to
    positions, so the closure below stays positional. Ops without parameters skip this layer."""
    sig = inspect.signature(op.forward)
    names = list(sig.parameters)[1:]  # after xp
    first = 1 if op.nin == -1 else op.nin

    def call_kw(*args: Any, **kw: Any) -> Tensor:
        if not kw:
            return call(*args)
        try:
            bound = sig.bind(None, *args, **kw)
        except TypeError as e:
            raise TypeError(f"{op.name}: {e}; its arguments are {', '.join(names)}") from None
        bound.apply_defaults()
        values = list(bound.arguments.values())[1:]
        return call(*values[:first], *values[first:])

    return call_kw


def _unary_plain(op: Op) -> Callable[..., Any]:
    """No parameters, no residuals, not a view (exp, tanh, relu, ...): the common op, so its
    closure skips those steps and builds its node inline (``new_node``'s fields, no call)."""
    fwd, promotes, saves_x, saves_out = op.forward, op.promotes, op.saves_x, op.saves_out

    def call(i0: Any) -> Tensor:
        if not isinstance(i0, Tensor):
            i0 = as_tensor(i0)
        x0 = i0._data
        xp = _numpy if type(x0) is _ndarray else get_array_module(x0)
        try:
            out = fwd(xp, x0)
        except (ValueError, TypeError, IndexError) as e:
            raise _wrap_error(op, e, (x0,)) from None
        if type(out) is not _ndarray or (promotes and out.dtype is _F64 and x0.dtype is not _F64):
            out = _output(op, xp, out, (x0,))
        t = _new(Tensor)
        t._data, t._grad, t._meta = out, None, None
        t._vc = [0]
        if i0.requires_grad and STATE.enabled:
            t._node = n = Node()
            n.op, n.next, n.need = op, (i0._node or i0,), _NEED1
            n.x, n.p, n.res = (x0,), (), None
            n.meta = None
            n.seq, n.out = next_seq(), (out if saves_out else None)
            if saves_x:
                v = i0._vc
                n.vcs, n.ver = ((v, t._vc) if saves_out else (v,)), v[0]
            else:
                n.vcs, n.ver = ((t._vc,) if saves_out else ()), 0
            t.requires_grad = True
            if STATE.slow:
                _slow(op, n, xp, (x0,), (), t, None)
        else:
            t._node, t.requires_grad = None, False
            if STATE.slow:
                _slow(op, None, xp, (x0,), (), t, None)
        return t

    return call


def _unary(op: Op) -> Callable[..., Any]:
    fwd, nparams, has_res, saves_out = op.forward, op.nparams, op.has_res, op.saves_out
    is_view, promotes, saves_x = op.is_view, op.promotes, op.saves_x

    def call(i0: Any, *p: Any) -> Tensor:
        if len(p) != nparams:
            p = _params(op, p)
        if not isinstance(i0, Tensor):
            i0 = as_tensor(i0)
        x0 = i0._data
        xp = _numpy if type(x0) is _ndarray else get_array_module(x0)
        try:
            out = fwd(xp, x0, *p) if p else fwd(xp, x0)
        except (ValueError, TypeError, IndexError) as e:
            raise _wrap_error(op, e, (x0,)) from None
        res = None
        if has_res:
            out, res = out
        if type(out) is not _ndarray or (promotes and out.dtype is _F64 and x0.dtype is not _F64):
            out = _output(op, xp, out, (x0,))
        t = _new(Tensor)
        t._data, t._grad, t._meta = out, None, None
        if is_view:
            t._vc = i0._vc
        else:
            t._vc = [0]
        if i0.requires_grad and STATE.enabled:
            if saves_out:
                t._node = n = new_node(op, (i0._node or i0,), _NEED1, (x0,), p, res, out,
                                       (i0._vc, t._vc) if saves_x else (t._vc,))
            else:
                t._node = n = new_node(op, (i0._node or i0,), _NEED1, (x0,), p, res, None,
                                       (i0._vc,) if saves_x else ())
            t.requires_grad = True
            if STATE.slow:
                _slow(op, n, xp, (x0,), p, t, res)
        else:
            t._node, t.requires_grad = None, False
            if STATE.slow:
                _slow(op, None, xp, (x0,), p, t, res)
        return t

    return call


def _binary(op: Op) -> Callable[..., Any]:
    """Two inputs, plain (add, mul, matmul, ...); two-input ops with parameters (losses) take
    the general ``_apply``."""
    fwd, promotes, saves_x, saves_out = op.forward, op.promotes, op.saves_x, op.saves_out

    def call(i0: Any, i1: Any) -> Tensor:
        if isinstance(i0, Tensor):
            x0, v0 = i0._data, i0._vc
            e0 = (i0._node or i0) if i0.requires_grad else None
        else:
            x0, v0, e0 = _operand(i0, op), _NO_VC, None
        if isinstance(i1, Tensor):
            x1, v1 = i1._data, i1._vc
            e1 = (i1._node or i1) if i1.requires_grad else None
        else:
            x1, v1, e1 = _operand(i1, op), _NO_VC, None
        xp = _numpy if type(x0) is _ndarray or type(x1) is _ndarray else get_array_module(x0, x1)
        try:
            out = fwd(xp, x0, x1)
        except (ValueError, TypeError, IndexError) as e:
            raise _wrap_error(op, e, (x0, x1)) from None
        if type(out) is not _ndarray or (promotes and out.dtype is _F64 and _int_promoted(x0, x1)):
            out = _output(op, xp, out, (x0, x1))
        t = _new(Tensor)
        t._data, t._grad, t._meta = out, None, None
        t._vc = [0]
        if (e0 is not None or e1 is not None) and STATE.enabled:
            t._node = n = Node()
            n.op, n.next, n.x = op, (e0, e1), (x0, x1)
            n.p, n.res, n.meta = (), None, None
            n.need = (_NEED11 if e1 is not None else _NEED10) if e0 is not None else _NEED01
            n.seq, n.out = next_seq(), (out if saves_out else None)
            if saves_x:
                n.vcs, n.ver = ((v0, v1, t._vc) if saves_out else (v0, v1)), v0[0] + v1[0]
            else:
                n.vcs, n.ver = ((t._vc,) if saves_out else ()), 0
            t.requires_grad = True
            if STATE.slow:
                _slow(op, n, xp, (x0, x1), (), t, None)
        else:
            t._node, t.requires_grad = None, False
            if STATE.slow:
                _slow(op, None, xp, (x0, x1), (), t, None)
        return t

    return call


def _ternary(op: Op) -> Callable[..., Any]:
    """Three inputs, plain (linear: x, weight, optional bias; where): the hot layer op."""
    fwd, saves_x, saves_out = op.forward, op.saves_x, op.saves_out

    def call(i0: Any, i1: Any, i2: Any) -> Tensor:
        if isinstance(i0, Tensor):
            x0, v0 = i0._data, i0._vc
            e0 = (i0._node or i0) if i0.requires_grad else None
        else:
            x0, v0, e0 = _operand(i0, op), _NO_VC, None
        if isinstance(i1, Tensor):
            x1, v1 = i1._data, i1._vc
            e1 = (i1._node or i1) if i1.requires_grad else None
        else:
            x1, v1, e1 = _operand(i1, op), _NO_VC, None
        if isinstance(i2, Tensor):
            x2, v2 = i2._data, i2._vc
            e2 = (i2._node or i2) if i2.requires_grad else None
        else:
            x2, v2, e2 = _operand(i2, op), _NO_VC, None
        xp = (_numpy if type(x0) is _ndarray and type(x1) is _ndarray
              else get_array_module(x0, x1, x2))
        try:
            out = fwd(xp, x0, x1, x2)
        except (ValueError, TypeError, IndexError) as e:
            raise _wrap_error(op, e, (x0, x1, x2)) from None
        if type(out) is not _ndarray or out.dtype is _F64:
            out = _output(op, xp, out, (x0, x1, x2))
        t = _new(Tensor)
        t._data, t._grad, t._meta = out, None, None
        t._vc = [0]
        if (e0 is not None or e1 is not None or e2 is not None) and STATE.enabled:
            vcs = (v0, v1, v2) if saves_x else ()
            t._node = n = new_node(op, (e0, e1, e2),
                                   (e0 is not None, e1 is not None, e2 is not None), (x0, x1, x2),
                                   (), None, out if saves_out else None,
                                   (*vcs, t._vc) if saves_out else vcs)
            t.requires_grad = True
            if STATE.slow:
                _slow(op, n, xp, (x0, x1, x2), (), t, None)
        else:
            t._node, t.requires_grad = None, False
            if STATE.slow:
                _slow(op, None, xp, (x0, x1, x2), (), t, None)
        return t

    return call


def _nary(op: Op) -> Callable[..., Any]:
    """Four or more tensor inputs."""
    nin = op.nin

    def call(*args: Any) -> Tensor:
        return _apply(op, args[:nin], args[nin:])

    return call


def _variadic(op: Op) -> Callable[..., Any]:
    """A sequence of tensors as the first argument (cat, stack, einsum)."""

    def call(tensors: Any, *p: Any) -> Tensor:
        ins = list(tensors)
        if not ins:
            raise ValueError(f"{op.name}: expected a non-empty sequence of tensors")
        return _apply(op, ins, p)

    return call


def _apply(op: Op, ins: Any, p: tuple) -> Tensor:
    """The general form of the apply steps, for any number of inputs."""
    if len(p) != op.nparams:
        p = _params(op, p)
    xs, edges, vcs = [], [], []
    for v in ins:
        if isinstance(v, Tensor):
            xs.append(v._data)
            edges.append((v._node or v) if v.requires_grad else None)
            vcs.append(v._vc)
        else:
            xs.append(_operand(v, op))
            edges.append(None)
            vcs.append(_NO_VC)
    xp = get_array_module(*xs)
    try:
        out = op.forward(xp, xs if op.nin == -1 else xs[0], *([] if op.nin == -1 else xs[1:]),
                         *p)
    except (ValueError, TypeError, IndexError) as e:
        raise _wrap_error(op, e, tuple(xs)) from None
    res = None
    if op.has_res:
        out, res = out
    out = _output(op, xp, out, tuple(xs))
    first = ins[0]
    t = _new(Tensor)
    t._data, t._grad, t._meta = out, None, None
    t._vc = first._vc if op.is_view and isinstance(first, Tensor) else [0]
    if any(e is not None for e in edges) and STATE.enabled:
        t._node = n = new_node(op, tuple(edges), tuple(e is not None for e in edges),
                               tuple(xs), p, res,
                               out if op.saves_out else None,
                               _saved_vcs(op, tuple(vcs), t._vc))
        t.requires_grad = True
    else:
        t._node = n = None
        t.requires_grad = False
    if STATE.slow:
        _slow(op, n, xp, xs, p, t, res)
    return t
