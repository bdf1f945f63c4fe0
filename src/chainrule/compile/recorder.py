"""The recorder: what ``cr.compile`` logs while it records a step, and the program it builds.

While a step is recorded, ``STATE.recorder`` is a :class:`Recorder` and ``STATE.slow`` is True,
so the core reports to it (each a single check of an already-read flag on the eager path):

- the apply point (``ops/registry.py``): every op call, with or without a graph node:
  ``op(op, xp, xs, p, out, res)``;
- backward (``autograd/engine.py`` and the observer hook): ``backward(...)`` once per pass, then
  one ``NodeEvent`` per node (the node, its complete output gradient, its input gradients);
- the in-place rules (``autograd/inplace.py``): ``ufunc_into``, ``copyto``, ``scale``,
  ``setitem``;
- ``Optimizer.step`` / ``zero_grad`` and ``Module.zero_grad``: ``opaque(fn, *args)``, replayed
  as the same call (so hyperparameters are read at replay time);
- ``Module.__call__``: ``module(m)`` (its ``training`` flag becomes a guard);
- dropout's mask: ``source(fn, args, out)``, drawn again at each replay; any other random draw
  (``random.generator_of``) makes the step unsafe;
- a tensor's values reaching Python (``item()``, ``bool()``, ``float()``, ``tolist()``,
  ``numpy()``, ``repr``): ``data_read(what)``: the step may branch on them, so it is unsafe.

Arrays are tracked by identity (the recorder keeps every array it saw alive until recording
ends, so an ``id`` is never reused): an array produced by a logged call gets a slot that the
replay fills; one never produced (a parameter, a buffer, a constant) is bound by reference.
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.autograd.engine import sum_to_shape
from chainrule.autograd.grad_mode import STATE, refresh_slow
from chainrule.autograd.node import Node
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.ops.registry import REGISTRY

_nd = backend.ndarray
_new = object.__new__


class CompileWarning(UserWarning):
    """``cr.compile`` could not replay a step and runs it eagerly instead (the reason is given)."""


class CompileError(RuntimeError):
    """``cr.compile(step, strict=True)`` could not replay the step (the reason is given)."""


class _Unsafe(Exception):
    pass


def _owned(a: Any) -> bool:
    f = a.flags
    return f.writeable and f.c_contiguous


class Recorder:
    """Collects one step's array-level calls as a replay program over slots ``S``."""

    def __init__(self) -> None:
        self.S: list[Any] = []  # the replay's values: constants bound now, the rest filled later
        self.keep: list[Any] = []  # every array seen while recording (ids stay unique)
        self.ids: dict[int, int] = {}  # id(array at record time) -> slot
        self.prog: list[Any] = []  # the replay: closures over S, run in order
        self.reasons: list[str] = []
        self.leaves: list[Tensor] = []  # tensors whose .grad the program stores
        self.modules: dict[int, Any] = {}  # id -> (module, training) seen while recording
        self.params: list[tuple[Tensor, Any]] = []  # (optimised tensor, its array): guards
        self.draws = 0  # random draws not registered as a source
        self.nodes: dict[Node, list[int]] = {}  # gradient contributions waiting for a node
        self.given: dict[int, Any] = {}  # per replayed backward: arrays handed to a .grad

    # -- slots ---------------------------------------------------------------------------------
    def unsafe(self, why: str) -> None:
        if why not in self.reasons:
            self.reasons.append(why)

    def new(self, a: Any) -> int:
        k = len(self.S)
        self.S.append(None)
        self.keep.append(a)
        self.ids[id(a)] = k
        return k

    def const(self, a: Any) -> int:
        k = self.new(a)
        self.S[k] = a
        return k

    def slot(self, a: Any) -> int:
        """The slot of an array that a logged call reads (bound by reference when unknown)."""
        k = self.ids.get(id(a))
        if k is not None:
            return k
        for t in self.leaves:  # a gradient the program stored: read it live from the leaf
            if t.grad is not None and t.grad._data is a:
                k = self.new(a)
                S = self.S

                def read(S: list = S, k: int = k, t: Tensor = t) -> None:
                    S[k] = t.grad._data
                self.prog.append(read)
                return k
        return self.const(a)

    def operands(self, xs: Any) -> tuple[list, list]:
        """Slots of the array operands; Python scalars and None stay constants."""
        ks, vs = [], []
        for x in xs:
            if isinstance(x, _nd):
                ks.append(self.slot(x))
                vs.append(None)
            else:
                if isinstance(x, (list, tuple)) and any(isinstance(e, _nd) for e in x):
                    self.unsafe("an operand is a sequence of arrays")
                ks.append(-1)
                vs.append(x)
        return ks, vs

    # -- forward -------------------------------------------------------------------------------
    def op(self, op: Any, xp: Any, xs: Any, p: tuple, out: Any, res: Any) -> None:
        for v in p:  # a parameter that is an array produced in the step would be stale
            if isinstance(v, _nd) and id(v) in self.ids and self.S[self.ids[id(v)]] is None:
                self.unsafe(f"{op.name}: a parameter is an array computed in the step")
        variadic = op.nin == -1
        ks, vs = self.operands(xs)
        self.keep.append(out)
        if res is not None:
            self.keep.append(res)
        o = self.new(out)
        r = self.new(res) if res is not None else -1
        S, fwd, has_res, dt = self.S, op.forward, op.has_res, out.dtype
        if (not variadic and not has_res and not p and all(k >= 0 for k in ks)
                and type(out) is _nd):
            if len(ks) == 1:
                a, = ks

                def f(S: list = S, fwd: Any = fwd, xp: Any = xp, a: int = a, o: int = o,
                      dt: Any = dt) -> None:
                    y = fwd(xp, S[a])
                    if type(y) is not _nd or y.dtype is not dt:
                        y = _fix(xp, y, dt)
                    S[o] = y
            elif len(ks) == 2:
                a, b = ks

                def f(S: list = S, fwd: Any = fwd, xp: Any = xp, a: int = a, b: int = b,
                      o: int = o, dt: Any = dt) -> None:
                    y = fwd(xp, S[a], S[b])
                    if type(y) is not _nd or y.dtype is not dt:
                        y = _fix(xp, y, dt)
                    S[o] = y
            else:
                f = self._general(fwd, xp, ks, vs, p, o, r, has_res, dt, variadic)
        else:
            f = self._general(fwd, xp, ks, vs, p, o, r, has_res, dt, variadic)
        self.prog.append(f)

    def _general(self, fwd: Any, xp: Any, ks: list, vs: list, p: tuple, o: int, r: int,
                 has_res: bool, dt: Any, variadic: bool) -> Any:
        S = self.S
        pairs = tuple(zip(ks, vs))

        def f() -> None:
            args = [S[k] if k >= 0 else v for k, v in pairs]
            y = fwd(xp, args, *p) if variadic else fwd(xp, *args, *p)
            if has_res:
                y, S[r] = y
            if type(y) is not _nd or y.dtype is not dt:
                y = _fix(xp, y, dt)
            S[o] = y
        return f

    def source(self, fn: Any, args: tuple, out: Any) -> None:
        """``out = fn(*args)`` is drawn again at each replay (dropout's mask)."""
        self.draws -= 1
        k = self.new(out)
        S = self.S

        def f() -> None:
            S[k] = fn(*args)
        self.prog.append(f)

    def rng_draw(self) -> None:
        self.draws += 1

    def call(self, fn: Any, args: tuple, out: Any = None) -> None:
        """``fn(*args)`` (array operands read from their slots), its result into ``out``'s."""
        ks, vs = self.operands(args)
        pairs = tuple(zip(ks, vs))
        o = self.new(out) if out is not None else -1
        S = self.S

        def f() -> None:
            y = fn(*[S[k] if k >= 0 else v for k, v in pairs])
            if o >= 0:
                S[o] = y
        self.prog.append(f)

    def ufunc_into(self, ufunc: str, d: Any, o: Any) -> None:
        self.call(_ufunc_into, (ufunc, d, o))

    def copyto(self, d: Any, r: Any) -> None:
        self.call(_copyto, (d, r))

    def scale(self, o: Any, alpha: Any, r: Any) -> None:
        self.call(_scale, (o, alpha), r)

    def setitem(self, d: Any, index: Any, v: Any) -> None:
        if isinstance(v, Tensor):
            v = v._data
        self.call(_setitem, (d, index, v))

    def opaque(self, fn: Any, obj: Any, arg: Any) -> Any:
        """Run ``fn(obj, arg)`` now without logging what it does inside; replay the same call."""
        if fn.__name__ == "step":
            if arg is not None:
                self.unsafe(f"{type(obj).__name__}.step(closure): the closure re-runs the model")
            for group in getattr(obj, "param_groups", ()):
                self.params += [(p, p._data) for p in group["params"]]
        STATE.recorder = None
        refresh_slow()
        try:
            r = fn(obj, arg)
        finally:
            STATE.recorder = self
            refresh_slow()

        def f() -> None:
            fn(obj, arg)
        self.prog.append(f)
        return r

    def module(self, m: Any) -> None:
        self.modules.setdefault(id(m), (m, m.training))

    def data_read(self, what: str) -> None:
        self.unsafe(f"the step reads a tensor's value with {what} while it is recorded "
                    "(Python control flow may depend on it)")

    # -- backward ------------------------------------------------------------------------------
    def backward(self, roots: Any, root_grads: Any, create_graph: bool, capture: Any) -> None:
        if create_graph:
            self.unsafe("backward(create_graph=True)")
        if capture is not None:
            self.unsafe("cr.grad / backward(inputs=...) (gradients captured, not stored)")
        if root_grads is not None and any(g is not None for g in root_grads):
            self.unsafe("backward(gradient=...)")
        if any(t._node is None for t in roots):
            self.unsafe("backward() of a leaf tensor")
        given = self.given
        self.prog.append(given.clear)

    def event(self, ev: Any) -> None:
        n = ev.node
        op = n.op
        if REGISTRY.get(getattr(op, "name", None)) is not op:
            self.unsafe(f"a custom autograd.Function ({getattr(op, 'name', op)}) in backward")
            return
        if n.meta is not None:
            self.unsafe("a tensor hook or retain_grad() in backward")
        S = self.S
        contrib = self.nodes.pop(n, None)
        if contrib:  # the sum the engine formed, in the same order
            k = contrib[0]
            for j in contrib[1:]:
                s = self.new(object())

                def add(S: list = S, s: int = s, k: int = k, j: int = j) -> None:
                    S[s] = S[k] + S[j]
                self.prog.append(add)
                k = s
            self.keep.append(ev.grad_output)
            self.ids[id(ev.grad_output)] = k
            g = k
        else:
            g = self.slot(ev.grad_output)
        xs, _ = self.operands(n.x)
        xconst = tuple(None if k >= 0 else x for k, x in zip(xs, n.x))
        shapes = tuple(getattr(x, "shape", None) for x in n.x)
        out = self.slot(n.out) if n.out is not None else -1
        res = self.ids.get(id(n.res), -1) if n.res is not None else -1
        if n.res is not None and res < 0:
            self.unsafe(f"{op.name}: residuals not produced by a recorded forward")
        outs = []
        for i, (e, gi) in enumerate(zip(n.next, ev.grad_inputs)):
            if e is None or gi is None:
                continue
            self.keep.append(gi)
            k = self.new(gi)
            outs.append((i, k, shapes[i]))
        ctx = _new(Node)
        ctx.op, ctx.p, ctx.need, ctx.next, ctx.meta = op, n.p, n.need, n.next, None
        vjp, outs_t = op.vjp, tuple(outs)
        xk = tuple(zip(xs, xconst))

        def run(S: list = S, ctx: Node = ctx, vjp: Any = vjp, g: int = g) -> None:
            ctx.x = tuple([S[k] if k >= 0 else c for k, c in xk])
            ctx.out = S[out] if out >= 0 else None
            ctx.res = S[res] if res >= 0 else None
            gs = vjp(ctx, S[g])
            for i, k, shape in outs_t:
                gi = gs[i]
                if gi.shape != shape:
                    gi = sum_to_shape(gi, shape)
                S[k] = gi
        if len(xk) == 1 and xk[0][0] >= 0 and len(outs_t) == 1:
            (a, _), = xk
            (_i0, k0, shape0), = outs_t

            def run(S: list = S, ctx: Node = ctx, vjp: Any = vjp, g: int = g, a: int = a,
                    k0: int = k0, shape0: Any = shape0) -> None:
                ctx.x = (S[a],)
                ctx.out = S[out] if out >= 0 else None
                ctx.res = S[res] if res >= 0 else None
                gi = vjp(ctx, S[g])[0]
                if gi.shape != shape0:
                    gi = sum_to_shape(gi, shape0)
                S[k0] = gi
        self.prog.append(run)
        for i, k, _ in outs:
            e = n.next[i]
            if type(e) is Node:
                self.nodes.setdefault(e, []).append(k)
            else:
                self._store(e, k)

    def _store(self, t: Tensor, k: int) -> None:
        """The engine's leaf store (``.grad`` set, or summed out of place), replayed."""
        if t._meta:
            self.unsafe("a hook on a leaf tensor")
        if not any(t is u for u in self.leaves):
            self.leaves.append(t)
            if t.grad is None:  # cleared in the step (or before it): clear it at replay too
                def clear(t: Tensor = t) -> None:
                    t.grad = None
                self.prog.append(clear)
        S, given, dt = self.S, self.given, t._data.dtype

        def store(S: list = S, k: int = k, t: Tensor = t) -> None:
            g = S[k]
            if g.dtype != dt:
                g = g.astype(dt)
            if t.grad is None:
                if g.base is not None or id(g) in given or not _owned(g):
                    g = backend.xp.array(g, order="C")
                given[id(g)] = g
                t.grad = _leaf(g)
            else:
                t.grad._data = t.grad._data + g
        self.prog.append(store)


def _fix(xp: Any, y: Any, dt: Any) -> Any:
    """The apply point's output fix-up (0-d results, integer promotion) for a replayed call."""
    if type(y) is not xp.ndarray:
        y = xp.asarray(y)
    return y if y.dtype == dt else y.astype(dt)


def _ufunc_into(ufunc: str, d: Any, o: Any) -> None:
    getattr(backend.get_array_module(d), ufunc)(d, o, out=d, casting="same_kind")


def _copyto(d: Any, r: Any) -> None:
    backend.get_array_module(d).copyto(d, r, casting="unsafe")


def _scale(o: Any, alpha: Any) -> Any:
    return backend.get_array_module(o).asarray(o) * alpha


def _setitem(d: Any, index: Any, v: Any) -> None:
    d[index] = v
