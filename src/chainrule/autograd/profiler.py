"""A CPU profiler with PyTorch's interface: ``cr.profiler.profile`` (and the older
``cr.autograd.profiler.profile``), ``record_function``, ``key_averages().table(...)``.

What it records, and how:

* **forward ops**: every registered op (``linear``, ``relu``, ...), every public function that
  composes them (``mm``, ``layer_norm``, ...) and every ``cr.autograd.Function`` subclass, with
  its wall time. The profiler installs a profile function (``sys.setprofile``) that watches for
  the code objects of those entry points (each op's entry point has a code object of its own,
  named after the op: ``ops/registry.py``), so nothing on the op path changes and nothing is
  checked when no profiler is running; while one runs, every Python call pays for the
  callback (a few tenths of a microsecond), which inflates small ops' times as PyTorch's
  profiler does.
* **backward**: each node that backward runs, through the engine's observer hook
  (``cr.autograd.observe``), named after its ``grad_fn`` (``LinearBackward``) with the time of
  its vjp; and ``backward()`` / ``cr.grad`` themselves (``autograd::backward``), whose self
  time is the engine's own bookkeeping.
* **record_function(name)** ranges, which contain the ops called inside them.

Times nest: an event's total time includes the events inside it, its self time does not.
``profile_memory=True`` counts the bytes of the tensors each op returns (Self CPU Mem), and
of those of the ops inside (CPU Mem); frees are not tracked. Only the thread that entered the
profiler is recorded.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any

from chainrule.autograd import engine as _engine
from chainrule.autograd.tensor import Tensor

__all__ = ["EventList", "FunctionEvent", "FunctionEventAvg", "profile", "record_function"]

_ACTIVE: list[_Session] = []  # the running sessions (innermost last); record_function reads it
_CO_VARARGS = 0x04


def _now_us() -> float:
    return time.perf_counter_ns() / 1000.0


# -- events -----------------------------------------------------------------------------------

def _format_time(time_us: float) -> str:
    if time_us >= 1e6:
        return f"{time_us / 1e6:.3f}s"
    if time_us >= 1e3:
        return f"{time_us / 1e3:.3f}ms"
    return f"{time_us:.3f}us"


def _format_memory(nbytes: int) -> str:
    kb, mb, gb = 1024, 1024**2, 1024**3
    if abs(nbytes) >= gb:
        return f"{nbytes / gb:.2f} GB"
    if abs(nbytes) >= mb:
        return f"{nbytes / mb:.2f} MB"
    if abs(nbytes) >= kb:
        return f"{nbytes / kb:.2f} KB"
    return f"{nbytes} B"


def _format_share(time_us: float, total_us: float) -> str:
    return "NaN" if total_us == 0 else f"{time_us * 100.0 / total_us:.2f}%"


class FunctionEvent:
    """One recorded range: an op call, a backward node, a ``record_function`` block. Times in
    microseconds (PyTorch's attribute names)."""

    def __init__(self, name: str, start: float, end: float, input_shapes: list | None = None,
                 memory: int = 0, stack: list[str] | None = None,
                 is_user_annotation: bool = False) -> None:
        self.name = self.key = name
        self.start_us, self.end_us = start, end
        self.input_shapes = input_shapes if input_shapes is not None else []
        self.self_cpu_memory_usage = memory
        self.stack = stack or []
        self.is_user_annotation = is_user_annotation
        self.cpu_parent: FunctionEvent | None = None
        self.cpu_children: list[FunctionEvent] = []
        self.count = 1
        self.thread = threading.get_ident()

    @property
    def cpu_time_total(self) -> float:
        return self.end_us - self.start_us

    @property
    def self_cpu_time_total(self) -> float:
        return self.cpu_time_total - sum(c.cpu_time_total for c in self.cpu_children)

    @property
    def cpu_memory_usage(self) -> int:
        return self.self_cpu_memory_usage + sum(c.cpu_memory_usage for c in self.cpu_children)

    def __repr__(self) -> str:
        return (f"<FunctionEvent name={self.name} cpu_time={_format_time(self.cpu_time_total)} "
                f"self_cpu_time={_format_time(self.self_cpu_time_total)} "
                f"input_shapes={self.input_shapes}>")


class FunctionEventAvg:
    """The events of one name (and input shapes, when grouped by them) summed: ``count``,
    ``cpu_time_total``, ``self_cpu_time_total``, ``cpu_time`` (the average), memory."""

    def __init__(self, key: str, input_shapes: list | None = None) -> None:
        self.key = key
        self.input_shapes = input_shapes
        self.count = 0
        self.cpu_time_total = self.self_cpu_time_total = 0.0
        self.cpu_memory_usage = self.self_cpu_memory_usage = 0
        self.device_time_total = self.self_device_time_total = self.device_time = 0.0
        self.cuda_time_total = self.self_cuda_time_total = self.cuda_time = 0.0
        self.device_memory_usage = self.self_device_memory_usage = 0
        self.cpu_parent = None
        self.stack: list[str] = []
        self.is_user_annotation = False

    def add(self, e: Any) -> FunctionEventAvg:
        self.count += e.count
        self.cpu_time_total += e.cpu_time_total
        self.self_cpu_time_total += e.self_cpu_time_total
        self.cpu_memory_usage += e.cpu_memory_usage
        self.self_cpu_memory_usage += e.self_cpu_memory_usage
        self.is_user_annotation = e.is_user_annotation
        if not self.stack:
            self.stack = list(e.stack)
        return self

    @property
    def cpu_time(self) -> float:
        return self.cpu_time_total / self.count if self.count else 0.0

    def __repr__(self) -> str:
        return (f"<FunctionEventAvg key={self.key} self_cpu_time="
                f"{_format_time(self.self_cpu_time_total)} cpu_time="
                f"{_format_time(self.cpu_time)} input_shapes={self.input_shapes}>")


_SORT_KEYS = {"cpu_time", "cpu_time_total", "self_cpu_time_total", "count",
              "cpu_memory_usage", "self_cpu_memory_usage", "device_time", "device_time_total",
              "self_device_time_total", "device_memory_usage", "self_device_memory_usage"}


class EventList(list):
    """A list of events with PyTorch's summary methods: ``table``, ``key_averages``,
    ``total_average``, ``export_chrome_trace``."""

    def __init__(self, *args: Any, profile_memory: bool = False) -> None:
        super().__init__(*args)
        self._profile_memory = profile_memory

    @property
    def self_cpu_time_total(self) -> float:
        return sum(e.self_cpu_time_total for e in self)

    def key_averages(self, group_by_input_shape: bool = False,
                     group_by_stack_n: int = 0) -> EventList:
        """One ``FunctionEventAvg`` per name (per name and input shapes, per name and the
        first ``group_by_stack_n`` stack entries), in order of first appearance."""
        groups: dict[Any, FunctionEventAvg] = {}
        for e in self:
            key: tuple = (e.key,)
            if group_by_input_shape:
                key += (str(e.input_shapes),)
            if group_by_stack_n:
                key += tuple(e.stack[:group_by_stack_n])
            if key not in groups:
                groups[key] = FunctionEventAvg(e.key, e.input_shapes if group_by_input_shape
                                               else None)
            groups[key].add(e)
        return EventList(groups.values(), profile_memory=self._profile_memory)

    def total_average(self) -> FunctionEventAvg:
        total = FunctionEventAvg("Total")
        for e in self:
            total.add(e)
        return total

    def table(self, sort_by: str | None = None, row_limit: int = 100,
              max_src_column_width: int = 75, max_name_column_width: int = 55,
              max_shapes_column_width: int = 80, header: str | None = None,
              top_level_events_only: bool = False, time_unit: str | None = None) -> str:
        """PyTorch's summary table: Self CPU %, Self CPU, CPU total %, CPU total, CPU time
        avg, (CPU Mem, Self CPU Mem with ``profile_memory``), # of Calls, (Input Shapes when
        recorded), sorted by ``sort_by`` (an attribute: ``"cpu_time_total"``,
        ``"self_cpu_time_total"``, ``"count"``, ...; the device ones read 0 here)."""
        return _build_table(self, sort_by, row_limit, max_name_column_width,
                            max_shapes_column_width, header, top_level_events_only,
                            time_unit, self._profile_memory)

    def export_chrome_trace(self, path: str) -> None:
        """Write the events as a Chrome trace (open it in chrome://tracing or Perfetto)."""
        t0 = min((e.start_us for e in self), default=0.0)
        trace = [{"name": e.name, "ph": "X", "ts": e.start_us - t0, "dur": e.cpu_time_total,
                  "pid": os.getpid(), "tid": e.thread,
                  "cat": "user_annotation" if e.is_user_annotation else "cpu_op",
                  "args": {"Input Dims": e.input_shapes} if e.input_shapes else {}}
                 for e in self]
        with open(path, "w") as f:
            json.dump({"traceEvents": trace, "displayTimeUnit": "ms"}, f)

    def __str__(self) -> str:
        return self.table()


def _unit(time_us: float, time_unit: str | None) -> str:
    if time_unit == "s":
        return f"{time_us / 1e6:.3f}s"
    if time_unit == "ms":
        return f"{time_us / 1e3:.3f}ms"
    if time_unit == "us":
        return f"{time_us:.3f}us"
    return _format_time(time_us)


def _build_table(events: list, sort_by: str | None, row_limit: int, name_width: int,
                 shapes_width: int, header: str | None, top_level_only: bool,
                 time_unit: str | None, profile_memory: bool) -> str:
    if not events:
        return ""
    if sort_by is not None:
        attr = sort_by.replace("cuda", "device").replace("xpu", "device")
        if attr not in _SORT_KEYS:
            raise AttributeError(f"table: sort_by={sort_by!r} is not one of "
                                 f"{', '.join(sorted(_SORT_KEYS))}")
        events = sorted(events, key=lambda e: getattr(e, attr, 0.0), reverse=True)
    has_shapes = any(e.input_shapes for e in events)
    name_w = min(max(len(e.key) for e in events) + 4, name_width)
    shapes_w = min(max(len(str(e.input_shapes)) for e in events) + 4, shapes_width)
    headers = ["Name", "Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg"]
    if profile_memory:
        headers += ["CPU Mem", "Self CPU Mem"]
    headers.append("# of Calls")
    widths = [name_w] + [12] * (len(headers) - 1)
    if has_shapes:
        headers.append("Input Shapes")
        widths.append(shapes_w)
    row = "".join("{:>" + str(w) + "}  " for w in widths)
    sep = "".join("-" * w + "  " for w in widths)
    total = sum(e.self_cpu_time_total for e in events)
    lines = []
    if header is not None:
        lines += ["=" * (len(sep) - 2), header]
    lines += [sep, row.format(*headers), sep]
    shown = 0
    for e in events:
        if shown == row_limit:
            break
        if top_level_only and e.cpu_parent is not None:
            continue
        shown += 1
        name = e.key if len(e.key) < name_width - 3 else e.key[:name_width - 3] + "..."
        values = [name, _format_share(e.self_cpu_time_total, total),
                  _unit(e.self_cpu_time_total, time_unit),
                  _format_share(e.cpu_time_total, total), _unit(e.cpu_time_total, time_unit),
                  _unit(e.cpu_time_total / max(e.count, 1), time_unit)]
        if profile_memory:
            values += [_format_memory(e.cpu_memory_usage),
                       _format_memory(e.self_cpu_memory_usage)]
        values.append(e.count)
        if has_shapes:
            values.append(str(e.input_shapes)[:shapes_w])
        lines.append(row.format(*values))
    lines += [sep, f"Self CPU time total: {_unit(total, time_unit)}", ""]
    return "\n".join(lines)


# -- recording ----------------------------------------------------------------------------------

def _code_names() -> tuple[dict[Any, str], Any]:
    """The code objects of the entry points to time, by the name to show: each registered op's,
    each public function's that is not an op's own, the backward entry points."""
    from chainrule.ops.public import PUBLIC
    from chainrule.ops.registry import REGISTRY

    names: dict[Any, str] = {}
    clash: set = set()
    entries = [(op.name, op.call) for op in REGISTRY.values()]
    entries += [(name, e.fn) for name, e in PUBLIC.items() if name not in REGISTRY]
    for name, fn in entries:
        code = getattr(fn, "__code__", None)
        if code is None:
            continue
        if code in names and names[code] != name:  # one wrapper shared by several names
            clash.add(code)
        names[code] = name
    for code in clash:
        del names[code]
    names[_engine.backward.__code__] = "autograd::backward"
    names[_engine.grad.__code__] = "autograd::grad"
    from chainrule.autograd.function import Function

    return names, Function.apply.__func__.__code__


def _shapes(frame: Any) -> list:
    """The shapes of the arguments of the call in ``frame`` ([] for non-tensors)."""
    code, loc = frame.f_code, frame.f_locals
    n = code.co_argcount
    values = [loc.get(v) for v in code.co_varnames[:n]]
    if code.co_flags & _CO_VARARGS:
        values += list(loc.get(code.co_varnames[n + code.co_kwonlyargcount], ()))
    out: list = []
    for v in values:
        if isinstance(v, Tensor):
            out.append(list(v.shape))
        elif isinstance(v, (list, tuple)) and v and all(isinstance(t, Tensor) for t in v):
            out.append([list(t.shape) for t in v])
        else:
            out.append([])
    return out


def _stack(frame: Any, depth: int = 5) -> list[str]:
    out = []
    f = frame.f_back
    while f is not None and len(out) < depth:
        out.append(f"{f.f_code.co_filename}({f.f_lineno}): {f.f_code.co_name}")
        f = f.f_back
    return out


def _nbytes(value: Any) -> int:
    if isinstance(value, Tensor):
        return int(value._data.nbytes)
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    return 0


class _Session:
    """One recording: the profile function, the backward observer, the events."""

    def __init__(self, record_shapes: bool, profile_memory: bool, with_stack: bool) -> None:
        self.record_shapes, self.profile_memory = record_shapes, profile_memory
        self.with_stack = with_stack
        self.codes, self.apply_code = _code_names()
        self.open: list[tuple[Any, str, float, list | None, list | None]] = []
        self.events: list[FunctionEvent] = []
        self.thread = threading.get_ident()

    def start(self) -> None:
        self.previous = sys.getprofile()
        self.observer = _engine.observe(self.node_event)
        _ACTIVE.append(self)
        sys.setprofile(self.callback)

    def stop(self) -> None:
        sys.setprofile(self.previous)
        self.observer.remove()
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        end = _now_us()
        while self.open:  # ranges still open (stopped inside one): close them now
            _, name, start, shapes, stack = self.open.pop()
            self.events.append(FunctionEvent(name, start, end, shapes, 0, stack))

    def callback(self, frame: Any, what: str, arg: Any) -> None:
        if what == "call":
            code = frame.f_code
            name = self.codes.get(code)
            if name is None:
                if code is not self.apply_code:
                    return
                name = frame.f_locals["cls"].__name__
            self.open.append((frame, name, _now_us(),
                              _shapes(frame) if self.record_shapes else None,
                              _stack(frame) if self.with_stack else None))
        elif what == "return" and self.open and self.open[-1][0] is frame:
            _, name, start, shapes, stack = self.open.pop()
            mem = _nbytes(arg) if self.profile_memory else 0
            self.events.append(FunctionEvent(name, start, _now_us(), shapes, mem, stack))

    def node_event(self, ev: Any) -> None:
        end = _now_us()
        self.events.append(FunctionEvent(repr(ev.node)[1:-1], end - ev.seconds * 1e6, end,
                                         [] if self.record_shapes else None))

    def annotate(self, name: str, start: float, end: float) -> None:
        self.events.append(FunctionEvent(name, start, end, [] if self.record_shapes else None,
                                         is_user_annotation=True))

    def finished(self) -> EventList:
        """The events in start order, with their parents and children set by nesting."""
        events = sorted(self.events, key=lambda e: (e.start_us, -e.end_us))
        stack: list[FunctionEvent] = []
        for e in events:
            e.cpu_parent, e.cpu_children = None, []
            while stack and stack[-1].end_us < e.end_us:
                stack.pop()
            if stack:
                e.cpu_parent = stack[-1]
                stack[-1].cpu_children.append(e)
            stack.append(e)
        return EventList(events, profile_memory=self.profile_memory)


class record_function:
    """A named range in the profile (context manager and decorator), as
    ``torch.profiler.record_function``; it costs nothing when no profiler runs."""

    def __init__(self, name: str, args: str | None = None) -> None:
        self.name = name
        self.args = args
        self._start: float | None = None

    def __enter__(self) -> record_function:
        self._start = _now_us()
        return self

    def __exit__(self, *exc: object) -> None:
        if _ACTIVE and self._start is not None:
            _ACTIVE[-1].annotate(self.name, self._start, _now_us())

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with record_function(self.name):
                return fn(*args, **kwargs)
        return wrapper


class _Profile:
    """What both profilers share: start/stop, the events, the summaries."""

    def __init__(self, record_shapes: bool, profile_memory: bool, with_stack: bool) -> None:
        self.record_shapes, self.profile_memory = record_shapes, profile_memory
        self.with_stack = with_stack
        self._session: _Session | None = None
        self._events = EventList(profile_memory=profile_memory)

    def start(self) -> None:
        """Start recording (``__enter__`` calls it)."""
        if self._session is None:
            self._session = _Session(self.record_shapes, self.profile_memory, self.with_stack)
            self._session.start()

    def stop(self) -> None:
        """Stop recording (``__exit__`` calls it)."""
        if self._session is not None:
            self._session.stop()
            self._events = self._session.finished()
            self._session = None

    def __enter__(self) -> _Profile:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def events(self) -> EventList:
        """Every recorded event (``FunctionEvent``), in start order."""
        return self._events

    def key_averages(self, group_by_input_shape: bool = False,
                     group_by_stack_n: int = 0) -> EventList:
        """The events summed per name (see ``EventList.key_averages``); print its
        ``table(sort_by="cpu_time_total", row_limit=10)``."""
        if group_by_input_shape and not self.record_shapes:
            raise RuntimeError("key_averages: group_by_input_shape=True needs the profiler to "
                               "record shapes; pass record_shapes=True to profile()")
        return self._events.key_averages(group_by_input_shape, group_by_stack_n)

    def export_chrome_trace(self, path: str) -> None:
        """Write a Chrome trace of the events (chrome://tracing, Perfetto)."""
        self._events.export_chrome_trace(path)

    @property
    def self_cpu_time_total(self) -> float:
        return self._events.self_cpu_time_total


class profile(_Profile):
    """The older ``torch.autograd.profiler.profile(enabled=True, *, use_cuda=False,
    record_shapes=False, with_flops=False, profile_memory=False, with_stack=False, ...)``:
    records on the CPU (``use_cuda=True`` has nothing to time here); ``print(prof)`` prints
    the table of every event, ``prof.key_averages().table(...)`` the summary."""

    def __init__(self, enabled: bool = True, *, use_cuda: bool = False,
                 use_device: str | None = None, record_shapes: bool = False,
                 with_flops: bool = False, profile_memory: bool = False,
                 with_stack: bool = False, with_modules: bool = False,
                 use_kineto: bool = False, use_cpu: bool = True, **_ignored: Any) -> None:
        super().__init__(record_shapes, profile_memory, with_stack)
        self.enabled = enabled

    def __enter__(self) -> profile:
        if self.enabled:
            self.start()
        return self

    def table(self, sort_by: str | None = None, row_limit: int = 100, **kwargs: Any) -> str:
        return self._events.table(sort_by, row_limit, **kwargs)

    def total_average(self) -> FunctionEventAvg:
        return self._events.total_average()

    def __str__(self) -> str:
        return self._events.table()


# -- torch.profiler's scheduling ----------------------------------------------------------------

class ProfilerActivity(Enum):
    """What to record: ``CPU`` (the only activity here; ``CUDA`` has nothing to record)."""

    CPU = 0
    CUDA = 1
    XPU = 2
    MTIA = 3
    PrivateUse1 = 4


class ProfilerAction(Enum):
    """What a ``schedule`` says for a step."""

    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def schedule(*, wait: int, warmup: int, active: int, repeat: int = 0, skip_first: int = 0,
             skip_first_wait: int = 0) -> Callable[[int], ProfilerAction]:
    """PyTorch's profiling schedule: skip ``skip_first`` steps, then cycles of ``wait`` idle,
    ``warmup`` and ``active`` recorded steps (``repeat`` cycles, 0: until the end);
    ``skip_first_wait`` skips the first cycle's wait."""
    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise AssertionError(
            f"Invalid profiler schedule arguments. Got wait={wait} (need >= 0), warmup={warmup} "
            f"(need >= 0), active={active} (need > 0), repeat={repeat} (need >= 0), "
            f"skip_first={skip_first} (need >= 0).")
    if warmup == 0:
        import warnings

        warnings.warn("Profiler won't be using warmup, this can skew profiler results",
                      stacklevel=2)

    def schedule_fn(step: int) -> ProfilerAction:
        if step < 0:
            raise AssertionError(f"Step must be non-negative. Got {step}.")
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if skip_first_wait != 0:
            step += wait
        num_steps = wait + warmup + active
        if repeat > 0 and step / num_steps >= repeat:
            return ProfilerAction.NONE
        mod_step = step % num_steps
        if mod_step < wait:
            return ProfilerAction.NONE
        if mod_step < wait + warmup:
            return ProfilerAction.WARMUP
        return (ProfilerAction.RECORD if mod_step < num_steps - 1
                else ProfilerAction.RECORD_AND_SAVE)

    return schedule_fn


_RECORDING = (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE)


def tensorboard_trace_handler(dir_name: str, worker_name: str | None = None,
                              use_gzip: bool = False) -> Callable[[Any], None]:
    """An ``on_trace_ready`` that writes each trace as ``{worker}.{time}.pt.trace.json`` in
    ``dir_name`` (a Chrome trace; TensorBoard's profiler plugin and Perfetto read it)."""
    def handler(prof: Any) -> None:
        os.makedirs(dir_name, exist_ok=True)
        name = worker_name or f"{os.uname().nodename}_{os.getpid()}"
        path = os.path.join(dir_name, f"{name}.{time.time_ns() // 1_000_000}.pt.trace.json")
        prof.export_chrome_trace(path)
        if use_gzip:
            import gzip

            with open(path, "rb") as f, gzip.open(path + ".gz", "wb") as g:
                g.write(f.read())
            os.remove(path)
    return handler


class kineto_profile(_Profile):
    """``cr.profiler.profile``, as ``torch.profiler.profile(activities=None, schedule=None,
    on_trace_ready=None, record_shapes=False, profile_memory=False, with_stack=False, ...)``.

    With a ``schedule``, call ``prof.step()`` once per training step: only the steps the
    schedule marks active are recorded, and ``on_trace_ready(prof)`` runs at the end of each
    active span. Device activities (``ProfilerActivity.CUDA``) have nothing to record here."""

    def __init__(self, *, activities: Iterable[ProfilerActivity] | None = None,
                 schedule: Callable[[int], ProfilerAction] | None = None,
                 on_trace_ready: Callable[[Any], None] | None = None,
                 record_shapes: bool = False, profile_memory: bool = False,
                 with_stack: bool = False, with_flops: bool = False, with_modules: bool = False,
                 **_ignored: Any) -> None:
        super().__init__(record_shapes, profile_memory, with_stack)
        self.activities = set(activities) if activities is not None else {ProfilerActivity.CPU}
        self.schedule = schedule
        self.on_trace_ready = on_trace_ready
        self.step_num = 0
        self.current_action = ProfilerAction.RECORD

    def _action(self) -> ProfilerAction:
        return self.schedule(self.step_num) if self.schedule else ProfilerAction.RECORD

    def _open_step(self) -> None:
        if self.schedule is not None and self._session is not None:
            self._step_range = record_function(f"ProfilerStep#{self.step_num}")
            self._step_range.__enter__()

    def _close_step(self) -> None:
        rf = getattr(self, "_step_range", None)
        if rf is not None:
            self._step_range = None
            rf.__exit__(None, None, None)

    def start(self) -> None:
        self.current_action = self._action()
        if self.current_action in _RECORDING:
            super().start()
            self._open_step()

    def stop(self) -> None:
        self._close_step()
        was = self._session is not None
        super().stop()
        if was and self.on_trace_ready is not None:
            self.on_trace_ready(self)

    def step(self) -> None:
        """Mark the end of a training step: move along the schedule (record the steps it marks
        active, each as a ``ProfilerStep#N`` range; hand each finished span to
        ``on_trace_ready``)."""
        self._close_step()
        prev = self.current_action
        self.step_num += 1
        self.current_action = self._action()
        if prev == ProfilerAction.RECORD_AND_SAVE or (
                prev in _RECORDING and self.current_action not in _RECORDING):
            self.stop()
        if self.current_action in _RECORDING and self._session is None:
            super().start()
        self._open_step()

    def __enter__(self) -> kineto_profile:
        self.start()
        return self
