"""Anomaly detection: stop at the first op whose output or gradient holds a NaN or an infinity.

Inside ``detect_anomaly()`` every recorded op remembers where in your code it was called, and

- the forward pass raises as soon as an op produces a NaN/inf (``check_forward``, called by the
  registry's apply point after each recorded op);
- the backward pass raises as soon as an op's vjp produces a NaN/inf gradient for one of its
  inputs (``check_event``, a backward observer the engine adds in this mode), naming the op,
  the input, how many elements are bad, and the line of *your* forward code that called the op.

It costs a stack capture per op and a scan of every array: use it to find a bug, not to train.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from chainrule import backend
from chainrule.autograd.grad_mode import STATE, refresh_slow

F = TypeVar("F", bound=Callable[..., Any])

_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_FRAME = re.compile(r'  File "(?P<file>[^"]*)", line \d+, in [^\n]*\n(?:    [^\n]*\n)*')


def is_anomaly_enabled() -> bool:
    """True inside ``detect_anomaly``."""
    return STATE.anomaly


class detect_anomaly:
    """Context manager (and decorator) that turns anomaly detection on (see the module)."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = bool(check_nan)

    def __enter__(self) -> None:
        self._prev = STATE.anomaly
        STATE.anomaly = self.check_nan
        refresh_slow()

    def __exit__(self, *exc: object) -> None:
        STATE.anomaly = self._prev
        refresh_slow()

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)
        return wrapper  # type: ignore[return-value]


class set_detect_anomaly(detect_anomaly):
    """``set_detect_anomaly(True)`` turns detection on now (and back off when used as a context
    manager)."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.check_nan = bool(mode) and bool(check_nan)
        self._prev = STATE.anomaly
        STATE.anomaly = self.check_nan
        refresh_slow()

    def __enter__(self) -> None:
        pass


def _ours(filename: str) -> bool:
    """True for chainrule's own frames (its files, and the op entry points it generates)."""
    return filename.startswith("<chainrule") or os.path.abspath(filename).startswith(_PKG)


def _user_frames(trace: str) -> list[str]:
    """The frames of a formatted stack that are not chainrule's own (innermost last)."""
    frames = [m.group(0) for m in _FRAME.finditer(trace)]
    user = [f for f in frames if not _ours(_FRAME.match(f).group("file"))]  # type: ignore
    return user or frames[-1:]


def forward_trace(limit: int = 8) -> str:
    """Where the current op was called: the innermost ``limit`` frames of the caller's stack
    outside chainrule, formatted (innermost last)."""
    stack = traceback.extract_stack(sys._getframe(1), limit=48)
    user = [fr for fr in stack if not _ours(fr.filename)]
    return "".join(traceback.format_list(user[-limit:]))


def _where(trace: str | None) -> str:
    if not trace:
        return ("was recorded outside detect_anomaly, so where it was called is unknown; run "
                "the forward pass inside detect_anomaly too")
    frames = _user_frames(trace)
    if not frames:
        return "was called at an unknown place"
    out = "was called at:\n" + frames[-1].rstrip("\n")
    if len(frames) > 1:
        out += "\ncalled from (innermost last):\n" + "".join(frames[-5:-1]).rstrip("\n")
    return out


def _bad(a: Any) -> tuple[int, int, int] | None:
    """(NaN count, inf count, size) of a floating array with any, else None."""
    xp = backend.get_array_module(a)
    a = xp.asarray(a)
    if a.dtype.kind not in "fc" or xp.isfinite(a).all():
        return None
    nan = int(xp.isnan(a).sum())
    return nan, int(a.size - nan - xp.isfinite(a).sum()), int(a.size)


def _count(bad: tuple[int, int, int], shape: tuple) -> str:
    nan, inf, size = bad
    parts = [f"{nan} NaN"] if nan else []
    if inf:
        parts.append(f"{inf} infinite")
    return f"{' and '.join(parts)} value(s) of {size} (shape {tuple(shape)})"


def check_forward(op: Any, out: Any, trace: str | None = None) -> None:
    """Raise if ``out`` (the output of ``op``) holds a NaN or an infinity."""
    bad = _bad(out)
    if bad is None or STATE.in_backward:  # a vjp's own ops: check_event reports them
        return
    trace = forward_trace()  # taken here, while the caller's frames are live
    shape = backend.xp.shape(out)
    raise RuntimeError(f"detect_anomaly: '{op.name}' produced {_count(bad, shape)} in "
                       f"its output in the forward pass; it {_where(trace)}")


def check_backward(node: Any, i: int, gi: Any) -> None:
    """Raise if ``gi`` (the gradient ``node``'s vjp computed for its input ``i``) holds a NaN
    or an infinity. ``gi`` is an array, or a Tensor under ``create_graph``."""
    arr = getattr(gi, "_data", gi)
    if getattr(arr, "ndim", None) is None:  # not an array (a Python number)
        return
    bad = _bad(arr)
    if bad is None:
        return
    name = node.op.name
    trace = node.meta.trace if node.meta is not None else None
    raise RuntimeError(
        f"detect_anomaly: the backward of '{name}' returned {_count(bad, arr.shape)} in the "
        f"gradient for its input {i}; in the forward pass, '{name}' {_where(trace)}")


def check_event(event: Any) -> None:
    """The backward observer of anomaly mode: raise if a gradient in ``event`` (a
    ``NodeEvent``) holds a NaN or an infinity."""
    for i, gi in enumerate(event.grad_inputs):
        if gi is not None:
            check_backward(event.node, i, gi)
