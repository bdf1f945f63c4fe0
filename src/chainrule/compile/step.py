"""``cr.compile(step)``: the wrapper that warms up, records, guards and replays a step."""

from __future__ import annotations

import builtins
import functools
import itertools
import linecache
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chainrule import backend
from chainrule.autograd.engine import observe
from chainrule.autograd.grad_mode import STATE, refresh_slow
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.compile.errors import CompileError, CompileWarning

if TYPE_CHECKING:
    from chainrule.compile.recorder import Recorder

_nd = backend.ndarray
_SCALARS = (bool, int, float, str, type(None))


class _Program:
    """One recording: the generated replay function, where inputs go, and the guards
    (modules' train/eval flags, optimised tensors still holding the same arrays). With
    ``fuse``, the first replay is a probe and later ones run the fused replay."""

    def __init__(self, rec: Recorder, in_slots: list[int], result: Any, title: str,
                 fuse: Compiled | None = None) -> None:
        body, ret = _body(rec, in_slots, result)
        env = dict(rec.env, ndarray=_nd, _leaf=_leaf)
        self.code, self.run = _generate(body, env, in_slots, ret, title)
        self.modules = tuple(rec.modules.values())
        self.params = tuple(rec.params)
        self.lowered, self.generic = rec.lowered, rec.generic
        self.kernels: list[tuple[str, str]] = []  # (closure name, numba kernel source)
        self._fusion = None
        if fuse is not None:
            self._fusion = (body, env, ret, in_slots, title, fuse)
            self._unfused, self.run = self.run, self._probe

    def guards_hold(self) -> bool:
        for m, training in self.modules:
            if m.training is not training:
                return False
        return all(p._data is a for p, a in self.params)

    def _probe(self, *arrays: Any) -> Any:
        """Replay unfused, with a snapshot of the locals after each statement; then build the
        fused replay from what they show (``compile/fuse.py``)."""
        from chainrule.compile import fuse

        body, env, ret, in_slots, title, owner = self._fusion
        snaps: list[dict] = []
        probe = ["_P(dict(locals()))"]
        for line in body:
            probe += [line, "_P(dict(locals()))"]
        _, fn = _generate(probe, dict(env, _P=snaps.append), in_slots, ret, title + " probe")
        out = fn(*arrays)
        self._fusion = None
        self.run = self._unfused
        try:
            plan = fuse.plan(body, snaps, ret, env, fuse.require(), owner._fusion_warning)
            self.code, self.run = _generate(plan.body, dict(env, **plan.env), in_slots, ret,
                                            title + " fused")
            self.kernels = plan.kernels
        except Exception as e:  # not expected: the unfused replay stays, with a warning
            self.run = self._unfused
            owner._fusion_warning(f"replaying unfused ({type(e).__name__}: {e})")
        return out


def _body(rec: Recorder, in_slots: list[int], result: Any) -> tuple[list[str], str]:
    """The replay's statements (each recorded call a line or a few, each value deleted after
    its last use) and its return expression."""
    keep = set(_result_slots(result)) | set(in_slots)
    last: dict[int, int] = {}
    for i, (_, reads) in enumerate(rec.code):
        for k in reads:
            last[k] = i
    dels: dict[int, list[int]] = {}
    for k, i in last.items():
        if k not in keep:
            dels.setdefault(i, []).append(k)
    body = []
    for i, (lines, _) in enumerate(rec.code):
        body += lines
        if i in dels:
            body.append("del " + ", ".join(f"v{k}" for k in sorted(dels[i])))
    return body, _result_source(result, rec)


def _generate(body: list[str], env: dict, in_slots: list[int], ret: str,
              title: str) -> tuple[str, Any]:
    """The replay as Python source: one function over local variables; compiled once, its
    closure names bound to ``env``."""
    src = (f"def _make({', '.join(env)}):\n"
           f"    def replay({''.join(f'v{k}, ' for k in in_slots)}):\n"
           + "".join(f"        {line}\n" for line in body)
           + f"        return {ret}\n"
           "    return replay\n")
    filename = f"<cr.compile {title} #{next(_SERIAL)}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    ns: dict[str, Any] = {}
    exec(builtins.compile(src, filename, "exec"), ns)
    return src, ns["_make"](**env)


_SERIAL = itertools.count(1)


def _result_slots(tpl: Any) -> list[int]:
    kind = tpl[0]
    if kind == "t":
        return [tpl[1]]
    if kind == "v":
        return []
    items = tpl[2] if kind == "seq" else [v for _, v in tpl[1]]
    return [k for x in items for k in _result_slots(x)]


def _result_source(tpl: Any, rec: Recorder) -> str:
    """The replay's return expression: tensors as ``_leaf(v{k})``, other values by name."""
    kind = tpl[0]
    if kind == "t":
        return f"_leaf({rec.name(tpl[1])})"
    if kind == "v":
        return rec.lit(tpl[1])
    if kind == "seq":
        items = "".join(_result_source(x, rec) + ", " for x in tpl[2])
        if tpl[1] is tuple:
            return f"({items})"
        return f"[{items}]" if tpl[1] is list else f"{rec.fn(tpl[1])}([{items}])"
    return "{" + ", ".join(f"{rec.lit(k)}: {_result_source(v, rec)}" for k, v in tpl[1]) + "}"


class Compiled:
    """A compiled step: call it as the step itself (see :func:`compile`)."""

    def __init__(self, fn: Callable[..., Any], strict: bool = False, cache_limit: int = 8,
                 warmup: int = 1, fuse: bool = False) -> None:
        if fuse:
            from chainrule.compile.fuse import require
            require()  # ImportError naming the extra, now rather than at the first replay
        self.fn = fn
        self.strict = strict
        self.fuse = fuse
        self.cache_limit = cache_limit
        self.warmup = warmup
        self.programs: dict[Any, list[_Program]] = {}  # signature -> recordings (guards differ)
        self.seen: dict[Any, int] = {}  # signature -> eager calls so far (the warm-up)
        self.eager: dict[Any, str] = {}  # signature -> why it runs eagerly
        self.recordings = 0
        self.replays = 0
        self._warned_limit = False
        functools.update_wrapper(self, fn)

    # -- the signature -----------------------------------------------------------------------
    def _flatten(self, args: tuple, kwargs: dict) -> tuple[Any, list, list] | None:
        """The cache key (shapes, dtypes, scalar values), the input arrays and their tensors;
        None for arguments a recording cannot key on."""
        key: list[Any] = []
        arrays: list[Any] = []
        tensors: list[Any] = []

        def visit(v: Any) -> bool:
            if isinstance(v, Tensor):
                a = v._data
                key.append(("T", a.shape, a.dtype.str, v.requires_grad))
                arrays.append(a)
                tensors.append(v)
            elif isinstance(v, _nd):
                key.append(("A", v.shape, v.dtype.str))
                arrays.append(v)
                tensors.append(None)
            elif isinstance(v, _SCALARS):
                key.append(("S", type(v).__name__, v))
            elif isinstance(v, (tuple, list)):
                key.append(("(", len(v)))
                return all(visit(x) for x in v)
            else:
                return False
            return True

        if not all(visit(a) for a in args):
            return None
        for k in sorted(kwargs):
            key.append(("K", k))
            if not visit(kwargs[k]):
                return None
        return tuple(key), arrays, tensors

    # -- the call ------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if STATE.recorder is not None or STATE.anomaly or STATE.observers:
            return self.fn(*args, **kwargs)  # nested, anomaly mode or an observer: eager
        flat = self._flatten(args, kwargs)
        if flat is None:
            return self._fallback(None, "an argument is neither a tensor, an array, a number, "
                                        "a string nor a tuple/list of them", args, kwargs)
        key, arrays, tensors = flat
        why = self.eager.get(key)
        if why is not None:
            return self.fn(*args, **kwargs)
        for prog in self.programs.get(key, ()):
            if prog.guards_hold():
                self.replays += 1
                return prog.run(*arrays)
        n = self.seen.get(key, 0)
        if n < self.warmup:
            self.seen[key] = n + 1
            return self.fn(*args, **kwargs)
        if self.recordings >= self.cache_limit:
            if not self._warned_limit:
                self._warned_limit = True
                warnings.warn(CompileWarning(
                    f"cr.compile({self._name()}): recorded {self.recordings} times (input "
                    f"shapes/dtypes or train/eval changing); cache_limit={self.cache_limit} "
                    "reached, new ones run eagerly"), stacklevel=2)
            return self.fn(*args, **kwargs)
        return self._record(key, arrays, tensors, args, kwargs)

    def _name(self) -> str:
        return getattr(self.fn, "__qualname__", None) or type(self.fn).__name__

    def _fallback(self, key: Any, why: str, args: tuple, kwargs: dict,
                  ran: Any = None, done: bool = False) -> Any:
        msg = f"cr.compile({self._name()}): running eagerly: {why}"
        if self.strict:
            raise CompileError(msg)
        if key is None or key not in self.eager:
            warnings.warn(CompileWarning(msg), stacklevel=3)
        if key is not None:
            self.eager[key] = why
        return ran if done else self.fn(*args, **kwargs)

    def _record(self, key: Any, arrays: list, tensors: list, args: tuple, kwargs: dict) -> Any:
        from chainrule.compile.recorder import Recorder  # imported on the first recording

        rec = Recorder()
        in_slots = []
        for a in arrays:
            in_slots.append(rec.new(a))
        for t in tensors:
            if t is not None and t.requires_grad:
                rec.unsafe("an input tensor requires grad (its .grad would go to this call's "
                           "tensor)")
        STATE.recorder = rec
        refresh_slow()
        try:
            with observe(rec.event):
                out = self.fn(*args, **kwargs)
        finally:
            STATE.recorder = None
            refresh_slow()
        if rec.draws > 0:
            rec.unsafe("a random draw outside dropout (the replay would repeat the same values)")
        if rec.nodes:
            rec.unsafe("a graph built in the step was not backpropagated through completely")
        result = self._template(out, rec)
        if rec.reasons:
            return self._fallback(key, "; ".join(rec.reasons), args, kwargs, out, done=True)
        self.recordings += 1
        self.programs.setdefault(key, []).append(
            _Program(rec, in_slots, result, self._name(), self if self.fuse else None))
        return out

    def _fusion_warning(self, why: str) -> None:
        msg = f"cr.compile({self._name()}, fuse=True): {why}"
        if self.strict:
            raise CompileError(msg)
        warnings.warn(CompileWarning(msg), stacklevel=4)

    def _template(self, out: Any, rec: Recorder) -> Any:
        if isinstance(out, Tensor):
            return ("t", rec.slot(out._data))
        if isinstance(out, _SCALARS):
            return ("v", out)
        if isinstance(out, (tuple, list)):
            return ("seq", type(out), tuple(self._template(x, rec) for x in out))
        if isinstance(out, dict):
            return ("dict", tuple((k, self._template(v, rec)) for k, v in out.items()))
        rec.unsafe(f"the step returns a {type(out).__name__}")
        return ("v", None)

    @property
    def code(self) -> str:
        """The Python source of the latest recording's replay function ('' before one); each
        line is one recorded call (or part of one): see ``docs/compile.md``."""
        progs = [p for ps in self.programs.values() for p in ps]
        return progs[-1].code if progs else ""

    @property
    def kernel_code(self) -> str:
        """With ``fuse=True``: the source of the latest recording's fused numba kernels, each
        headed by the name the replay calls it by ('' before the first replay)."""
        progs = [p for ps in self.programs.values() for p in ps]
        return "".join(f"# {name}\n{src}\n" for name, src in progs[-1].kernels) if progs else ""

    def print_code(self) -> None:
        """Print :attr:`code` (as ``torch.fx.GraphModule.print_readable``), then
        :attr:`kernel_code`."""
        print(self.code)
        if self.kernel_code:
            print(self.kernel_code)

    def __repr__(self) -> str:
        fused = ", fuse=True" if self.fuse else ""
        return (f"cr.compile({self._name()}, strict={self.strict}{fused}): {self.recordings} "
                f"recording(s), {self.replays} replay(s)")


def compile(fn: Callable[..., Any] | None = None, *, strict: bool = False,
            cache_limit: int = 8, warmup: int = 1, fuse: bool = False) -> Any:
    """Record a training step once and replay it as array operations (a decorator too).

    ``step(*inputs)`` may run a forward, a loss, ``backward()`` and optimiser updates; the
    compiled step returns what the step returns (tensors as values of this call, without a
    graph). The first ``warmup`` calls with a new input signature (shapes, dtypes, Python
    scalar values) run eagerly, the next is recorded (and runs for real), later ones replay the
    recording with no Tensors, graph or backward loop: parameters, buffers and optimiser state
    are updated in place, the optimiser's ``step()`` runs again at each replay (so learning
    rate schedulers work), dropout draws fresh masks from the same generator sequence.

    A step that reads tensor values into Python (``.item()``, ``bool(t)``, ``float(t)``,
    ``.tolist()``, ``.numpy()``, printing), draws random numbers outside dropout, uses hooks,
    ``cr.grad`` or ``create_graph`` runs eagerly, with one :class:`CompileWarning`; with
    ``strict=True`` it raises :class:`CompileError` instead. A change of a module's
    ``train()``/``eval()`` mode records again (up to ``cache_limit`` recordings, then a
    warning and eager calls for new signatures). Python side effects the step has beyond
    chainrule's tensors (appending to a list, counters) are not replayed.

    ``fuse=True`` (needs numba: ``pip install chainrule[jit]``, else ``ImportError`` here)
    compiles each run of consecutive elementwise operations of the replay into one loop
    (``compile/fuse.py``; the first replay probes types and compiles, ~1-2 s). Results then
    differ from eager in the last bits of tanh/exp/log (a few ulps; the default is bit for
    bit); ``kernel_code`` shows the kernels.

        @cr.compile
        def step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
    """
    kw = dict(strict=strict, cache_limit=cache_limit, warmup=warmup, fuse=fuse)
    if fn is None:
        if fuse:
            from chainrule.compile.fuse import require
            require()
        return lambda f: Compiled(f, **kw)
    return Compiled(fn, **kw)
