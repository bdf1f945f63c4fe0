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
ends, so an ``id`` is never reused): an array produced by a logged call gets a slot (a local
variable of the generated replay); one never produced (a parameter, a buffer, a constant) is
bound by reference. Each logged call becomes source lines (``Recorder.code``); ``step.py``
turns them into the replay function.
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.autograd.engine import sum_to_shape
from chainrule.autograd.grad_mode import STATE, refresh_slow
from chainrule.autograd.node import Node
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.compile import lower
from chainrule.compile.errors import CompileError, CompileWarning  # noqa: F401  (re-exported)
from chainrule.ops.registry import REGISTRY

_nd = backend.ndarray
_new = object.__new__


class _Unsafe(Exception):
    pass


def _owned(a: Any) -> bool:
    f = a.flags
    return f.writeable and f.c_contiguous


class Recorder:
    """Collects one step's array-level calls as the source lines of a replay function.

    Slot ``k`` is the local variable ``v{k}`` when the replay computes it, or the closure
    constant ``c{k}`` (an array bound by reference); other objects the code calls or reads (a
    forward, a vjp's context, a ufunc, a tensor) are closure names too (``env``)."""

    def __init__(self) -> None:
        self.vals: list[Any] = []  # per slot: the array it held while recording
        self.keep: list[Any] = []  # every array seen while recording (ids stay unique)
        self.ids: dict[int, int] = {}  # id(array at record time) -> slot
        self.filled: set[int] = set()  # slots the replay assigns (the rest are constants)
        self.code: list[tuple[list[str], frozenset]] = []  # (lines, filled slots they read)
        self.env: dict[str, Any] = {}  # closure names of the generated code -> objects
        self.named: dict[int, str] = {}  # id(object) -> its name in env
        self._reads: set[int] = set()
        self.lowered = self.generic = 0  # ops/vjps inlined vs called (``Compiled.stats``)
        self.reasons: list[str] = []
        self.leaves: list[Tensor] = []  # tensors whose .grad the program stores
        self.modules: dict[int, Any] = {}  # id -> (module, training) seen while recording
        self.params: list[tuple[Tensor, Any]] = []  # (optimised tensor, its array): guards
        self.draws = 0  # random draws not registered as a source
        self.nodes: dict[Node, list[int]] = {}  # gradient contributions waiting for a node
        self.given: dict[int, Any] = {}  # per replayed backward: arrays handed to a .grad
        self.stores: dict[int, str] = {}  # id(leaf tensor) -> name of its store function
        self.aux: dict[str, Any] = {}  # record-time values of lowered forwards' extra locals

    # -- names and slots -------------------------------------------------------------------------
    def unsafe(self, why: str) -> None:
        if why not in self.reasons:
            self.reasons.append(why)

    def fn(self, obj: Any, hint: str | None = None) -> str:
        """The closure name of ``obj`` (a function, a ufunc, a constant) in the generated code."""
        name = self.named.get(id(obj))
        if name is not None:
            return name
        base = hint or getattr(obj, "__name__", None) or type(obj).__name__.lower()
        base = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in base).strip("_")
        base = base if base and not base[0].isdigit() and base[0] != "v" else "k_" + base
        name, n = base, 1
        while name in self.env or name in _RESERVED:
            n += 1
            name = f"{base}_{n}"
        self.env[name] = obj
        self.named[id(obj)] = name
        return name

    def lit(self, v: Any) -> str:
        """Source text for a Python constant operand or parameter."""
        if v is None or type(v) in (bool, int, str) or (type(v) is float and v == v
                                                          and v not in (float("inf"),
                                                                        float("-inf"))):
            return repr(v)
        if type(v) is tuple and all(e is None or type(e) in (bool, int, str) for e in v):
            return repr(v)
        return self.fn(v, "p")

    def name(self, k: int) -> str:
        if k in self.filled:
            self._reads.add(k)
            return f"v{k}"
        return f"c{k}"

    def transposed(self, w: Any, name: str) -> str:
        """``w.T``: hoisted out of the replay when ``w`` is a constant (a parameter)."""
        return self.fn(w.T, name + "_T") if name.startswith("c") else name + ".T"

    def new(self, a: Any) -> int:
        """A slot the replay assigns."""
        k = len(self.vals)
        self.vals.append(a)
        self.keep.append(a)
        self.ids[id(a)] = k
        self.filled.add(k)
        return k

    def const(self, a: Any) -> int:
        k = self.new(a)
        self.filled.discard(k)
        self.env[f"c{k}"] = a
        return k

    def emit(self, *lines: str) -> None:
        self.code.append((list(lines), frozenset(self._reads)))
        self._reads = set()

    def slot(self, a: Any) -> int:
        """The slot of an array that a logged call reads (bound by reference when unknown)."""
        k = self.ids.get(id(a))
        if k is not None:
            return k
        for t in self.leaves:  # a gradient the program stored: read it live from the leaf
            if t.grad is not None and t.grad._data is a:
                k = self.new(a)
                reads, self._reads = self._reads, set()
                self.emit(f"v{k} = {self.fn(t, 'leaf')}.grad._data")
                self._reads = reads
                return k
        return self.const(a)

    def operands(self, xs: Any) -> list[str]:
        """Source text of the operands: slot names for arrays, literals or closure names else."""
        out = []
        for x in xs:
            if isinstance(x, _nd):
                out.append(self.name(self.slot(x)))
            else:
                if isinstance(x, (list, tuple)) and any(isinstance(e, _nd) for e in x):
                    self.unsafe("an operand is a sequence of arrays")
                out.append(self.lit(x))
        return out

    def _verify(self, lines: list[str], fmt: dict, expect: list[tuple[str, Any, Any]],
                keep: str | None = None) -> dict | None:
        """Run ``lines`` now on the recorded arrays. When each ``(name, array, shape)`` of
        ``expect`` comes out with the eager result's dtype, shape and bytes (after the engine's
        sum back to ``shape`` when given), the shapes the lines produced; else None."""
        ns = dict(self.env, **self.aux)
        ns.update((f"v{k}", self.vals[k]) for k in self._reads)
        shapes: dict[str, Any] = {}
        try:
            exec("\n".join(line.format(**fmt) for line in lines), ns)
            for nm, want, shape in expect:
                got = ns[nm]
                shapes[nm] = got.shape
                if shape is not None and got.shape != shape:
                    got = sum_to_shape(got, shape)
                if not (type(got) is type(want) and got.dtype == want.dtype
                        and got.shape == want.shape and got.tobytes() == want.tobytes()):
                    return None
        except Exception:  # a lowering that does not fit this case: the generic call replays
            return None
        if keep is not None:
            shapes[keep] = {k: v for k, v in ns.items() if k.startswith(keep)}
        return shapes

    # -- forward -------------------------------------------------------------------------------
    def op(self, op: Any, xp: Any, xs: Any, p: tuple, out: Any, res: Any) -> None:
        for v in p:  # a parameter that is an array produced in the step would be stale
            if isinstance(v, _nd) and self.ids.get(id(v), -1) in self.filled:
                self.unsafe(f"{op.name}: a parameter is an array computed in the step")
        variadic = op.nin == -1
        args = self.operands(xs)
        self.keep.append(out)
        if res is not None:
            self.keep.append(res)
        lines, shapes = None, None
        if not variadic and type(out) is _nd:
            lines = lower.forward(self, op.name, xp, tuple(xs), args, p, out)
            if lines is not None:
                fmt = {"o": "_o", "r": "_r"}
                shapes = self._verify(lines, fmt, [("_o", out, None)], keep="_r")
        o = self.new(out)
        if shapes is not None:
            self.lowered += 1
            r = self.new(res) if res is not None else -1
            self.emit(*[line.format(o=f"v{o}", r=f"v{r}") for line in lines])
            for nm, v in shapes.pop("_r", {}).items():  # residual locals, for the vjp's check
                self.aux["v" + str(r) + nm[2:]] = v
            return
        self.generic += 1
        ps = "".join(", " + self.lit(v) for v in p)
        xpn, call = self.fn(xp, "xp"), self.fn(op.forward, "fwd_" + op.name)
        call += f"({xpn}, [{', '.join(args)}]{ps})" if variadic else \
            f"({xpn}, {''.join(a + ', ' for a in args)}{ps[2:]})"
        target = f"v{o}"
        if res is not None:
            r = self.new(res)
            target = f"v{o}, v{r}"
        dt = self.fn(out.dtype, "dt_" + out.dtype.name)
        self.emit(f"{target} = {call}",
                  f"if type(v{o}) is not ndarray or v{o}.dtype is not {dt}: "
                  f"v{o} = {self.fn(_fix)}({xpn}, v{o}, {dt})")

    def source(self, fn: Any, args: tuple, out: Any) -> None:
        """``out = fn(*args)`` is drawn again at each replay (dropout's mask)."""
        self.draws -= 1
        k = self.new(out)
        self.emit(f"v{k} = {self.fn(fn)}(*{self.fn(args, 'args')})")

    def rng_draw(self) -> None:
        self.draws += 1

    def call(self, fn: Any, args: tuple, out: Any = None, hint: str | None = None) -> None:
        """``fn(*args)`` (array operands read from their slots), its result into ``out``'s."""
        text = f"{self.fn(fn, hint)}({', '.join(self.operands(args))})"
        if out is not None:
            text = f"v{self.new(out)} = " + text
        self.emit(text)

    def ufunc_into(self, ufunc: str, d: Any, o: Any) -> None:
        f = getattr(backend.get_array_module(d), ufunc)  # casting="same_kind": the default
        dn, on = self.operands((d, o))
        self.emit(f"{self.fn(f)}({dn}, {on}, {dn})")

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
        self.emit(f"{self.fn(fn, type(obj).__name__ + '_' + fn.__name__.strip('_'))}"
                  f"({self.fn(obj, type(obj).__name__.lower())}, {self.lit(arg)})")
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
        self.emit(f"{self.fn(self.given, 'given')}.clear()")

    def event(self, ev: Any) -> None:
        n = ev.node
        op = n.op
        if REGISTRY.get(getattr(op, "name", None)) is not op:
            self.unsafe(f"a custom autograd.Function ({getattr(op, 'name', op)}) in backward")
            return
        if n.meta is not None:
            self.unsafe("a tensor hook or retain_grad() in backward")
        contrib = self.nodes.pop(n, None)
        if contrib:  # the sum the engine formed, in the same order
            k = contrib[0]
            for j in contrib[1:]:
                s = self.new(object())
                self.emit(f"v{s} = {self.name(k)} + {self.name(j)}")
                k = s
            self.keep.append(ev.grad_output)
            self.ids[id(ev.grad_output)] = k
            self.vals[k] = ev.grad_output
            g = k
        else:
            g = self.slot(ev.grad_output)
        args = self.operands(n.x)
        gname = self.name(g)
        oname = self.name(self.slot(n.out)) if n.out is not None else None
        res = self.ids.get(id(n.res), -1) if n.res is not None else -1
        if n.res is not None and res < 0:
            self.unsafe(f"{op.name}: residuals not produced by a recorded forward")
        outs = []
        for i, (e, gi) in enumerate(zip(n.next, ev.grad_inputs)):
            if e is None or gi is None:
                continue
            self.keep.append(gi)
            outs.append((i, gi, getattr(n.x[i], "shape", None)))
        lines = None
        rname = f"v{res}" if res >= 0 else None
        if n.res is None or (rname is not None and rname + "e" in self.aux):
            xp = backend.get_array_module(ev.grad_output)
            lines = lower.vjp(self, op.name, xp, Node.xp, n.x, args, gname, oname, rname,
                              n.need, n.p)
        fmt = {f"g{i}": f"_g{i}" for i, _, _ in outs}
        shapes = None if lines is None else self._verify(
            lines, fmt, [(f"_g{i}", gi, shape) for i, gi, shape in outs])
        ks = [self.new(gi) for _, gi, _ in outs]
        if shapes is not None:
            self.lowered += 1
            body = [line.format(**{f"g{i}": f"v{k}" for (i, _, _), k in zip(outs, ks)})
                    for line in lines]
            sts = self.fn(sum_to_shape)
            body += [f"v{k} = {sts}(v{k}, {shape!r})"
                     for (i, _, shape), k in zip(outs, ks) if shapes[f"_g{i}"] != shape]
            self.emit(*body)
        else:
            self.generic += 1
            ctx = _new(Node)
            ctx.op, ctx.p, ctx.need, ctx.next, ctx.meta = op, n.p, n.need, n.next, None
            c = self.fn(ctx, "ctx_" + op.name)
            rn = self.name(res) if res >= 0 else "None"
            body = [f"{c}.x = ({''.join(a + ', ' for a in args)})",
                    f"{c}.out = {oname}", f"{c}.res = {rn}",
                    f"_gs = {self.fn(op.vjp, 'vjp_' + op.name)}({c}, {gname})"]
            sts = self.fn(sum_to_shape)
            for (i, _, shape), k in zip(outs, ks):
                body += [f"v{k} = _gs[{i}]",
                         f"if v{k}.shape != {shape!r}: v{k} = {sts}(v{k}, {shape!r})"]
            self.emit(*body)
        for (i, _, _), k in zip(outs, ks):
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
                self.emit(f"{self.fn(t, 'leaf')}.grad = None")
        name = self.stores.get(id(t))
        if name is None:
            name = self.stores[id(t)] = self.fn(_store_into(t, self.given), "store")
        self.emit(f"{name}({self.name(k)})")


_RESERVED = {"ndarray", "replay", "_t", "_u", "_gs", "_o"}


def _store_into(t: Tensor, given: dict) -> Any:
    dt = t._data.dtype
    array = backend.xp.array

    def store(g: Any) -> None:
        if g.dtype != dt:
            g = g.astype(dt)
        if t.grad is None:
            if g.base is not None or id(g) in given or not _owned(g):
                g = array(g, order="C")
            given[id(g)] = g
            t.grad = _leaf(g)
        else:
            t.grad._data = t.grad._data + g
    return store


def _fix(xp: Any, y: Any, dt: Any) -> Any:
    """The apply point's output fix-up (0-d results, integer promotion) for a replayed call."""
    if type(y) is not xp.ndarray:
        y = xp.asarray(y)
    return y if y.dtype == dt else y.astype(dt)


def _copyto(d: Any, r: Any) -> None:
    backend.get_array_module(d).copyto(d, r, casting="unsafe")


def _scale(o: Any, alpha: Any) -> Any:
    return backend.get_array_module(o).asarray(o) * alpha


def _setitem(d: Any, index: Any, v: Any) -> None:
    d[index] = v
