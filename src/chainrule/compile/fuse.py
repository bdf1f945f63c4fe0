"""Fusion (``cr.compile(step, fuse=True)``): runs of elementwise replay statements become one
numba kernel each, one loop over the elements.

The unfused replay calls one NumPy ufunc per statement; each call costs a few thousand
instructions of dispatch whatever the array size, and a temporary per result. Here the replay's
maximal runs of consecutive elementwise statements (the inlined ufunc calls of ``lower.py``:
add, subtract, multiply, divide, negative, square, tanh, exp, log, sqrt, maximum, greater, ...,
name aliases and ``del``) are written out as one scalar loop over the run's shape, compiled
with ``numba.njit``:

- types, shapes and aliasing come from a *probe*: the first replay after recording runs the
  unfused code with a snapshot of its locals after every statement, so every value is known
  by identity (``id``), dtype, shape and layout; dtypes follow NumPy's own resolution
  (``ufunc.resolve_dtypes``, Python scalars weak as in NEP 50), constants are cast to the
  loop's dtype inside the kernel as NumPy casts them;
- each value a run makes is kept in a register, stored to a fresh array when code outside
  fused kernels reads it later (a matmul, a vjp, a store into ``.grad``, the return value), to
  a workspace owned by the program when only later kernels read it, or nowhere; arrays made
  before the run that it writes in place (``out=``: parameters, ``add(v3, c2, v3)``) are
  written in place;
- a run is not fused when an array it writes may share memory with another of its operands,
  or when it has fewer than two ufunc calls (nothing to gain over one NumPy call); a statement
  stays NumPy's where NumPy's SIMD loops win (``_worth_a_loop``).

Arithmetic (+, -, *, /, sqrt, comparisons) is IEEE in both, so those bits are NumPy's; tanh
(float32: ``tanh32`` here, correctly rounded), exp and log (libm's) are not NumPy's SIMD
functions and differ in the last bit: a fused replay is close to eager, not bit for bit
(``docs/compile.md``). Floating-point warnings (overflow in exp, division by zero) are not
raised inside kernels.
"""

from __future__ import annotations

import ast
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EXTRA = "pip install chainrule[jit]"


def require() -> Any:
    """numba, or an ImportError naming the extra that installs it."""
    try:
        import numba
    except ImportError as e:
        raise ImportError(f"cr.compile(fuse=True) compiles fused kernels with numba, which is "
                          f"not installed: {EXTRA} (or pip install numba)") from e
    return numba


_NAN_MAX = "({a} if ({a} >= {b} or {a} != {a}) else {b})"
_NAN_MIN = "({a} if ({a} <= {b} or {a} != {a}) else {b})"
#: ufunc -> scalar expression over its (already cast) operands ``{a}``, ``{b}``.
_OPS: dict[Any, str] = {
    np.add: "({a} + {b})", np.subtract: "({a} - {b})", np.multiply: "({a} * {b})",
    np.divide: "({a} / {b})", np.negative: "(-{a})", np.square: "({a} * {a})",
    np.tanh: "np.tanh({a})", np.exp: "np.exp({a})", np.log: "np.log({a})",
    np.sqrt: "np.sqrt({a})", np.maximum: _NAN_MAX, np.minimum: _NAN_MIN,
    np.greater: "({a} > {b})", np.greater_equal: "({a} >= {b})", np.less: "({a} < {b})",
    np.less_equal: "({a} <= {b})", np.equal: "({a} == {b})", np.not_equal: "({a} != {b})",
}
_COMPARE = {np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal}
_FLOAT = (np.dtype("float32"), np.dtype("float64"))
_LEAF_KINDS = "biuf"


def _ok_dtype(dt: np.dtype) -> bool:
    return dt.kind in _LEAF_KINDS and dt.itemsize <= 8 and dt != np.float16


_TANH32: list[Any] = []


def _tanh32(numba: Any) -> list:
    """float32 tanh, correctly rounded (checked on 2 million points in [-12, 12] and the
    special values), with no libm call, so that loops over it pipeline and vectorise: libm's
    scalar tanhf is ~7x slower than this, and NumPy's SIMD tanh rounds 32% of results one
    ulp off. In float64: t = tanh|x| = -u / (2 + u) with u = expm1(-2|x|), from
    expm1(-2|x|/32) by its Taylor series to degree 12 (relative error < 3e-13) and five
    doublings expm1(2y) = expm1(y) (expm1(y) + 2), each of which at most doubles the relative
    error: ~1e-11 before the rounding to float32. |x| is clamped at 9.1, beyond which tanh
    rounds to 1 in float32; the sign is copied back (-0.0 stays -0.0); NaN passes through."""
    if not _TANH32:
        def tanh32(x: Any) -> Any:
            d = np.float64(x)
            s = min(abs(d), 9.1) * -0.0625
            u = s * (1.0 + s * (1 / 2 + s * (1 / 6 + s * (1 / 24 + s * (1 / 120 + s * (
                1 / 720 + s * (1 / 5040 + s * (1 / 40320 + s * (1 / 362880 + s * (
                    1 / 3628800 + s * (1 / 39916800 + s * (1 / 479001600))))))))))))
            u = u * (u + 2.0)
            u = u * (u + 2.0)
            u = u * (u + 2.0)
            u = u * (u + 2.0)
            u = u * (u + 2.0)
            r = np.float32(np.copysign(-u / (2.0 + u), d))
            return r if x == x else x
        # inlined (numba IR), LLVM vectorises the loop around it; called, compiling a long
        # chain of them (W5: 33 in one loop) takes less time
        _TANH32.append(numba.njit(error_model="numpy", inline="always")(tanh32))
        _TANH32.append(numba.njit(error_model="numpy")(tanh32))
    return _TANH32


#: a kernel with more tanh calls than this calls ``tanh32`` rather than inlining it
TANH_INLINE_MAX = 4


# -- the elementwise statements --------------------------------------------------------------
@dataclass
class _Call:
    ufunc: Any
    args: list  # _Call | ("n", name, obj) | ("k", python number)
    loop: tuple  # operand dtypes of the ufunc loop, then its output dtype
    shape: tuple


@dataclass
class _Stmt:
    kind: str  # "call" (a ufunc call), "alias" (a = b), "del", "other"
    target: str | None = None
    call: _Call | None = None
    out: Any = None  # the array written in place (out=), or None
    outname: str | None = None  # the name ``out`` is passed by
    src: str | None = None  # alias source name
    result: Any = None  # the object the statement binds (from the probe)
    ncalls: int = 0
    loads: frozenset = frozenset()
    stores: frozenset = frozenset()
    dels: tuple = ()


def _weak(v: Any) -> bool:
    return type(v) in (int, float)


def _leaf(name: str, env: dict) -> Any:
    if name not in env:
        return None
    v = env[name]
    if _weak(v):
        return ("n", name, v)
    if (type(v) is np.ndarray or isinstance(v, np.generic)) and _ok_dtype(v.dtype):
        return ("n", name, v)
    return None


def _call(node: ast.AST, env: dict, fns: dict) -> tuple[_Call, list] | None:
    """An elementwise ufunc call (no out), its operands typed from ``env``; the trailing
    positional arguments beyond the ufunc's inputs are returned as names (``out``)."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords):
        return None
    f = fns.get(node.func.id)
    if f is None:
        return None
    nin = f.nin
    if len(node.args) not in (nin, nin + 1):
        return None
    args, dts, shapes = [], [], []
    for a in node.args[:nin]:
        if isinstance(a, ast.Constant) and type(a.value) in (int, float):
            args.append(("k", a.value))
            dts.append(type(a.value))
            continue
        if isinstance(a, ast.Name):
            leaf = _leaf(a.id, env)
            if leaf is None:
                return None
            args.append(leaf)
            v = leaf[2]
            dts.append(type(v) if _weak(v) else v.dtype)
            shapes.append(() if _weak(v) else v.shape)
            continue
        sub = _call(a, env, fns)
        if sub is None or sub[1]:
            return None
        args.append(sub[0])
        dts.append(sub[0].loop[-1])
        shapes.append(sub[0].shape)
    try:
        loop = f.resolve_dtypes((*dts, None))
        shape = np.broadcast_shapes(*shapes) if shapes else ()
    except Exception:
        return None
    if not all(dt in _FLOAT for dt in loop[:nin]):
        return None
    if not (loop[-1] in _FLOAT or (f in _COMPARE and loop[-1] == np.bool_)):
        return None
    return _Call(f, args, tuple(loop), shape), node.args[nin:]


#: Above these sizes NumPy's own calls win (measured on AVX2, per element): tanh, exp and log
#: are SIMD in NumPy (~0.5 ns) and not in a kernel (float32 tanh ~2.5 ns vectorised by LLVM
#: over float64, exp/log libm's scalar ones); a loop over an array that is neither C- nor
#: F-contiguous (an LSTM gate's slice, a broadcast view) is not vectorised (~15 ns for tanh).
TRANSCENDENTAL_MAX = 512
STRIDED_MAX = 64
_TRANSCENDENTAL = {np.tanh, np.exp, np.log}


def _worth_a_loop(c: _Call) -> bool:
    """Whether a kernel computes this statement about as fast as NumPy, or faster."""
    size = int(np.prod(c.shape))
    todo = [c]
    while todo:
        x = todo.pop()
        if x.ufunc in _TRANSCENDENTAL and size > TRANSCENDENTAL_MAX:
            return False
        for a in x.args:
            if isinstance(a, _Call):
                todo.append(a)
            elif a[0] == "n" and type(a[2]) is np.ndarray and size > STRIDED_MAX and \
                    a[2].size > 1 and not (a[2].flags.c_contiguous or a[2].flags.f_contiguous):
                return False
    return True


def _ncalls(c: _Call) -> int:
    return 1 + sum(_ncalls(a) for a in c.args if isinstance(a, _Call))


def _names(node: ast.AST) -> tuple[frozenset, frozenset]:
    loads, stores = set(), set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            (loads if isinstance(n.ctx, ast.Load) else stores if isinstance(n.ctx, ast.Store)
             else set()).add(n.id)
    return frozenset(loads), frozenset(stores)


def _classify(line: str, before: dict, after: dict, fns: dict) -> _Stmt:
    tree = ast.parse(line)
    loads, stores = _names(tree)
    other = _Stmt("other", loads=loads, stores=stores)
    if len(tree.body) != 1:
        return other
    node = tree.body[0]
    if isinstance(node, ast.Delete) and all(isinstance(t, ast.Name) for t in node.targets):
        return _Stmt("del", dels=tuple(t.id for t in node.targets))
    target = None
    if isinstance(node, ast.Assign):
        if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            return other
        target, value = node.targets[0].id, node.value
        if isinstance(value, ast.Name):
            v = before.get(value.id)
            if type(v) is np.ndarray or isinstance(v, np.generic):
                return _Stmt("alias", target=target, src=value.id, result=v, loads=loads,
                             stores=stores)
            return other
    elif isinstance(node, ast.Expr):
        value = node.value
    else:
        return other
    got = _call(value, before, fns)
    if got is None:
        return other
    c, rest = got
    if not _worth_a_loop(c):
        return other
    out = outname = None
    if rest:
        if not isinstance(rest[0], ast.Name):
            return other
        outname = rest[0].id
        out = before.get(outname)
        if not (type(out) is np.ndarray and out.dtype == c.loop[-1] and out.shape == c.shape):
            return other
        result = out
    else:
        if target is None:
            return other
        result = after.get(target)
        ok = type(result) is np.ndarray and (result.flags.c_contiguous or result.flags.f_contiguous)
        if not ((ok or isinstance(result, np.generic)) and result.dtype == c.loop[-1]
                and result.shape == c.shape):
            return other  # a result NumPy made otherwise than inferred: left to NumPy
    if target is not None and after.get(target) is not result:
        return other
    return _Stmt("call", target=target, call=c, out=out, outname=outname, result=result,
                 ncalls=_ncalls(c), loads=loads, stores=stores)


# -- runs ----------------------------------------------------------------------------------------
def _runs(stmts: list[_Stmt]) -> list[tuple[int, int]]:
    """Maximal runs ``[s, e)`` of call/alias/del statements whose calls broadcast to one shape
    (a call of smaller shape may not write in place into an array made before the run)."""
    runs: list[tuple[int, int]] = []
    s, shape, calls = None, None, []
    for i, st in enumerate([*stmts, _Stmt("other")]):
        if st.kind in ("alias", "del") and s is not None:
            continue
        if st.kind == "call" and s is not None:
            t = st.call.shape
            try:
                big = np.broadcast_shapes(shape, t)
            except ValueError:
                big = None
            made = {id(c.result) for c in calls if c.out is None}
            if big == shape and (t == shape or st.out is None or id(st.out) in made):
                calls.append(st)
                continue
            if big == t and all(c.call.shape == t or c.out is None or id(c.out) in made
                                for c in calls):
                shape = t
                calls.append(st)
                continue
        if s is not None:
            runs.append((s, i))
            s = None
        if st.kind == "call":
            s, shape, calls = i, st.call.shape, [st]
    return [(s, e) for s, e in runs if sum(stmts[i].ncalls for i in range(s, e)) >= 2]


# -- the plan ------------------------------------------------------------------------------------
class Plan:
    """The fused replay body and what its closure needs besides the unfused one's (kernels,
    workspaces, ``_empty``); ``kernels`` holds (closure name, kernel source) pairs."""

    def __init__(self, body: list[str], env: dict, kernels: list[tuple[str, str]]) -> None:
        self.body, self.env, self.kernels = body, env, kernels


class _RunFailed(Exception):
    """Run ``run`` cannot be fused (``quiet``: a property of the step, not worth a warning)."""

    def __init__(self, run: tuple[int, int], why: str, quiet: bool = False) -> None:
        super().__init__(why)
        self.run, self.why, self.quiet = run, why, quiet


_KERNELS: dict[str, Any] = {}  # kernel source -> numba dispatcher (compiled once per process)


def plan(lines: list[str], snaps: list[dict], ret: str, env: dict, numba: Any,
         warn: Any) -> Plan:
    """The fused body for the replay ``lines`` (one statement each), from the probe's
    ``snaps`` (the locals before each statement, then at the return). A run numba cannot
    compile is replayed unfused, with ``warn(why)``."""
    fns = {k: v for k, v in env.items() if isinstance(v, np.ufunc) and v in _OPS}
    stmts = [_classify(line, snaps[i], snaps[i + 1], fns) for i, line in enumerate(lines)]
    ret_loads = _names(ast.parse(ret, mode="eval"))[0]
    skip: set[tuple[int, int]] = set()
    while True:
        runs = [r for r in _runs(stmts) if r not in skip]
        try:
            return _Planner(lines, stmts, runs, snaps, ret_loads, env, numba).build()
        except _RunFailed as e:
            if not e.quiet:
                warn(f"statements {e.run[0]}-{e.run[1] - 1} of the replay not fused: {e.why}")
            skip.add(e.run)


class _Planner:
    """One pass over the replay: runs become kernel calls, the rest is kept."""

    def __init__(self, lines: list[str], stmts: list[_Stmt], runs: list[tuple[int, int]],
                 snaps: list[dict], ret_loads: frozenset, env: dict, numba: Any) -> None:
        self.lines, self.stmts, self.runs, self.snaps = lines, stmts, runs, snaps
        self.env, self.numba = env, numba
        n = len(stmts)
        in_run = {i for s, e in runs for i in range(s, e)}
        # the objects (by identity) read after each point by unfused code / by kernels
        self.escapes = [set() for _ in range(n + 1)]
        self.kreads = [set() for _ in range(n + 1)]
        self.escapes[n] = {id(snaps[n][x]) for x in ret_loads if x in snaps[n]}
        self.live = [frozenset(ret_loads)] * (n + 1)  # names read later before a new binding
        for i in range(n - 1, -1, -1):
            st = stmts[i]
            ids = {id(snaps[i][x]) for x in st.loads if x in snaps[i]}
            self.escapes[i] = self.escapes[i + 1] | (set() if i in in_run else ids)
            self.kreads[i] = self.kreads[i + 1] | (ids if i in in_run else set())
            self.live[i] = (self.live[i + 1] - st.stores) | st.loads
        self.ws: dict[int, tuple[Any, int]] = {}  # id -> (object, offset in its workspace)
        self.ws_size: dict[np.dtype, int] = {}
        self.extra: dict[str, Any] = {"_empty": np.empty}
        self.fresh = (f"_e{k}" for k in itertools.count())

    def build(self) -> Plan:
        parts: list[Any] = []  # unfused lines, or (run, kernel)
        starts = dict(self.runs)
        i = 0
        while i < len(self.lines):
            if i not in starts:
                parts.append(self.lines[i])
                i += 1
                continue
            r = (i, starts[i])
            parts.append((r, _KernelWriter(self, r).write()))
            i = r[1]
        uses: dict[str, int] = {}
        for part in parts:
            if type(part) is tuple:
                uses[part[1].source] = uses.get(part[1].source, 0) + 1
        body: list[str] = []
        kernels: list[tuple[str, str]] = []
        for part in parts:
            if type(part) is str:
                body.append(part)
                continue
            r, k = part
            if uses[k.source] == 1:  # used once: workspace offsets as constants (fewer args)
                k = k.specialised()
            name = f"_fused{len(kernels) + 1}"
            self.extra[name] = self._compile(r, k)
            kernels.append((name, k.source))
            body += [*k.pre, f"{name}({', '.join(k.args)})", *k.post]
        for dt, size in self.ws_size.items():
            self.extra[f"_ws_{dt.name}"] = np.empty(size, dt)
        return Plan(_fix_dels(body, set(self.snaps[0])), self.extra, kernels)

    def _compile(self, r: tuple[int, int], k: _Kernel) -> Any:
        disp = _KERNELS.get(k.source)
        if disp is None:
            inline, call = _tanh32(self.numba)
            ns: dict[str, Any] = {"np": np, "tanh32": inline, "tanh32_call": call}
            exec(compile(k.source, "<cr.compile fused kernel>", "exec"), ns)
            disp = self.numba.njit(error_model="numpy", nogil=True)(ns["kernel"])
        try:
            disp.compile(tuple(self.numba.typeof(t) for t in k.types))
        except Exception as e:  # a kernel numba cannot type: that run replays unfused
            raise _RunFailed(r, f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200]}"
                             ) from e
        _KERNELS[k.source] = disp
        return disp

    def workspace(self, obj: Any) -> None:
        dt = obj.dtype
        off = self.ws_size.get(dt, 0)
        self.ws[id(obj)] = (obj, off)
        self.ws_size[dt] = off + max(obj.size, 1)


def _fix_dels(body: list[str], bound: set[str]) -> list[str]:
    """Drop from ``del`` statements the names the fused replay does not bind there."""
    out = []
    for line in body:
        node = ast.parse(line).body[0]
        if isinstance(node, ast.Delete):
            keep = [t.id for t in node.targets if t.id in bound]
            bound.difference_update(keep)
            if keep:
                out.append("del " + ", ".join(keep))
            continue
        bound |= _names(node)[1]
        out.append(line)
    return out


@dataclass
class _Kernel:
    source: str
    params: list[str]  # the kernel's parameter names
    args: list[str]  # the replay's argument expressions, in order
    types: list[Any]  # an object of each argument's type (numba's signature)
    pre: list[str] = field(default_factory=list)  # replay lines before the call
    post: list[str] = field(default_factory=list)  # and after it
    offsets: dict[str, int] = field(default_factory=dict)  # params that are workspace offsets

    def specialised(self) -> _Kernel:
        """The kernel with its workspace offsets written in as constants."""
        body = self.source.split("\n", 1)[1]
        for p, off in self.offsets.items():
            body = re.sub(rf"\b{p}\b", str(off), body)
        src = "def kernel(" + ", ".join(p for p in self.params if p not in self.offsets) + \
            "):\n" + body
        keep = [j for j, p in enumerate(self.params) if p not in self.offsets]
        return _Kernel(src, [self.params[j] for j in keep], [self.args[j] for j in keep],
                       [self.types[j] for j in keep], self.pre, self.post)


def _index(shape: tuple, run: tuple) -> str:
    """The subscript of an operand of ``shape`` broadcast to the run's shape."""
    d = len(run)
    idx = [f"i{d - len(shape) + j}" if s == run[d - len(shape) + j] else "0"
           for j, s in enumerate(shape)]
    return ", ".join(idx) if idx else "()"


def _flat(shape: tuple, run: tuple, off: str | int) -> str:
    """The flat (C-order) index of a workspace value of ``shape`` broadcast to the run, at
    offset ``off`` (a name, or 0)."""
    d = len(run)
    terms = [str(off)] if off else []
    stride = 1
    for j in range(len(shape) - 1, -1, -1):
        if shape[j] == run[d - len(shape) + j] and shape[j] != 1:
            i = f"i{d - len(shape) + j}"
            terms.append(f"{i} * {stride}" if stride != 1 else i)
        stride *= shape[j]
    return " + ".join(terms) or "0"


class _KernelWriter:
    """The numba kernel of one run and the replay lines around its call."""

    def __init__(self, planner: _Planner, r: tuple[int, int]) -> None:
        self.p, self.r = planner, r
        s, e = r
        stmts = planner.stmts
        self.shape: tuple = ()
        for i in range(s, e):
            if stmts[i].kind == "call":
                self.shape = np.broadcast_shapes(self.shape, stmts[i].call.shape)
        self.made = {id(st.result): st.result for st in stmts[s:e]
                     if st.kind == "call" and st.out is None}
        self.params: list[str] = []
        self.args: list[str] = []
        self.types: list[Any] = []
        self.argof: dict[Any, str] = {}
        self.top: list[str] = []  # kernel lines before the loop
        self.loop: list[str] = []  # the loop body
        self.cur: dict[int, str] = {}  # object id -> the local holding its value
        self.consts: dict[tuple, str] = {}
        self.count = itertools.count()
        self.origin: dict[str, str | None] = {}  # name bound in the run -> the name before it
        self.read: dict[int, Any] = {}  # arrays read from memory (not workspaces)
        self.offsets: dict[str, int] = {}  # parameters that are workspace offsets

    # -- arguments -------------------------------------------------------------------------------
    def param(self, key: Any, src: str, obj: Any, check: bool = True) -> str:
        p = self.argof.get(key)
        if p is None:
            p = self.argof[key] = f"a{len(self.params)}"
            self.params.append(p)
            self.args.append(src)
            self.types.append(obj)
            if check and type(obj) is np.ndarray and obj.ndim:
                self.top.append(f"if {p}.shape != {obj.shape!r}: raise ValueError('a fused "
                                "kernel operand changed shape since cr.compile compiled it')")
        return p

    def ws_ref(self, obj: Any) -> str:
        """A value in the workspace: its offset is an argument (not a constant), so that
        runs alike but for where their values live (an RNN's time steps) share a kernel."""
        o, off = self.p.ws[id(obj)]
        p = self.param(("ws", o.dtype), f"_ws_{o.dtype.name}", np.empty(1, o.dtype), False)
        at = 0
        if off:
            at = self.param(("off", id(obj)), str(off), off)
            self.offsets[at] = off
        return f"{p}[{_flat(o.shape, self.shape, at)}]"

    def before(self, name: str) -> str:
        """The replay name holding, at the run's start, what ``name`` holds."""
        src = self.origin.get(name, name)
        assert src is not None, name
        return src

    # -- values ----------------------------------------------------------------------------------
    def load(self, leaf: Any) -> tuple[str, Any]:
        """An operand: its expression and dtype (``int``/``float`` for Python scalars)."""
        if leaf[0] == "k":
            return repr(leaf[1]), type(leaf[1])
        _, name, obj = leaf
        if _weak(obj):
            return self.param(("w", name), name, obj), type(obj)
        got = self.cur.get(id(obj))
        if got is not None:
            return got, obj.dtype
        v = f"x{next(self.count)}"
        if id(obj) in self.p.ws:
            self.loop.append(f"{v} = {self.ws_ref(obj)}")
        elif isinstance(obj, np.generic):
            self.loop.append(f"{v} = {self.param(id(obj), self.before(name), obj)}")
        else:
            self.read[id(obj)] = obj
            p = self.param(id(obj), self.before(name), obj)
            self.loop.append(f"{v} = {p}[{_index(obj.shape, self.shape)}]")
        self.cur[id(obj)] = v
        return v, obj.dtype

    def cast(self, v: str, dt: Any, to: np.dtype) -> str:
        if dt is int or dt is float:  # a Python scalar: converted to the loop's dtype, as NumPy
            c = self.consts.get((v, to))
            if c is None:
                c = self.consts[v, to] = f"k{len(self.consts)}"
                self.top.append(f"{c} = np.{to.name}({v})")
            return c
        return v if dt == to else f"np.{to.name}({v})"

    def gen(self, c: _Call) -> str:
        ops = []
        for a, dt in zip(c.args, c.loop):
            if isinstance(a, _Call):
                ops.append(self.cast(self.gen(a), a.loop[-1], dt))
            else:
                ops.append(self.cast(*self.load(a), dt))
        t = f"t{next(self.count)}"
        op = "tanh32({a})" if c.ufunc is np.tanh and c.loop[0] == np.float32 else _OPS[c.ufunc]
        self.loop.append(f"{t} = " + op.format(a=ops[0], b=ops[-1]))
        return t

    # -- the run -------------------------------------------------------------------------------
    def write(self) -> _Kernel:
        s, e = self.r
        p, stmts = self.p, self.p.stmts
        dels: list[str] = []
        bound: dict[str, Any] = {}  # names bound in the run -> object
        written: dict[int, tuple[Any, str]] = {}  # arrays from before the run written here
        for i in range(s, e):
            st = stmts[i]
            if st.kind == "del":
                dels += st.dels
                continue
            if st.kind == "alias":
                src = st.src if st.src not in bound else self.origin.get(st.src)
                self.origin[st.target] = src if id(st.result) not in self.made else None
                bound[st.target] = st.result
                continue
            t = self.gen(st.call)
            ext = id(st.result) not in self.made  # written in place into an earlier array
            if ext and id(st.out) not in written:
                written[id(st.out)] = (st.out, self.before(st.outname))
            self.cur[id(st.result)] = t
            if st.target is not None:
                bound[st.target] = st.result
                self.origin[st.target] = self.before(st.outname) if ext else None
        others = {**self.read, **{k: w for k, (w, _) in written.items()}}
        for wid, (w, _) in written.items():  # a written array must not overlap another one
            if wid in p.ws:
                continue
            for rid, x in others.items():
                if rid != wid and rid not in p.ws and np.may_share_memory(w, x):
                    raise _RunFailed(self.r, "an array it writes shares memory with another "
                                     "operand", quiet=True)
        pre: list[str] = []
        fresh: dict[int, str] = {}
        escapes, kreads = p.escapes[e], p.kreads[e]
        for oid, obj in self.made.items():
            if oid in escapes:  # read by unfused code later: a fresh array per replay
                tmp = next(p.fresh)
                order = "F" if type(obj) is np.ndarray and not obj.flags.c_contiguous else "C"
                dt = f"_dt_{obj.dtype.name}"
                p.extra[dt] = obj.dtype
                pre.append(f"{tmp} = _empty({obj.shape!r}, {dt}"
                           + (", order='F')" if order == "F" else ")"))
                fresh[oid] = tmp
                a = self.param(("o", oid), tmp, np.empty(obj.shape, obj.dtype, order=order),
                               False)
                self.loop.append(f"{a}[{_index(obj.shape, self.shape)}] = {self.cur[oid]}")
            elif oid in kreads:  # read by later kernels only: the program's workspace
                p.workspace(obj)
                self.loop.append(f"{self.ws_ref(obj)} = {self.cur[oid]}")
        for wid, (w, name) in written.items():
            if wid in p.ws:
                self.loop.append(f"{self.ws_ref(w)} = {self.cur[wid]}")
            else:
                a = self.param(wid, name, w)
                self.loop.append(f"{a}[{_index(w.shape, self.shape)}] = {self.cur[wid]}")
        rebind: dict[str, str] = {}
        for name, obj in bound.items():
            if name not in p.live[e]:
                continue
            oid = id(obj)
            if oid in fresh:
                rebind[name] = fresh[oid] + ("[()]" if isinstance(obj, np.generic) else "")
            elif oid not in self.made and oid not in p.ws and self.origin[name] != name:
                rebind[name] = self.origin[name]
        post = []
        if rebind:
            post.append(f"{', '.join(rebind)} = {', '.join(rebind.values())}")
        gone = [d for d in dict.fromkeys(dels) if d not in rebind] + list(fresh.values())
        if gone:
            post.append("del " + ", ".join(gone))
        ind = "    "
        src = [f"def kernel({', '.join(self.params)}):", *(ind + x for x in self.top)]
        for j, n in enumerate(self.shape):
            src.append(ind * (j + 1) + f"for i{j} in range({n}):")
        if sum(x.count("tanh32(") for x in self.loop) > TANH_INLINE_MAX:
            self.loop = [x.replace("tanh32(", "tanh32_call(") for x in self.loop]
        src += [ind * (len(self.shape) + 1) + x for x in self.loop]
        return _Kernel("\n".join(src) + "\n", self.params, self.args, self.types, pre, post,
                       self.offsets)
