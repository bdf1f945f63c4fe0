"""Whether operations record a graph: ``no_grad`` / ``enable_grad`` / ``set_grad_enabled``.

The state is one mutable object read on every op call; keep it a plain attribute.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _GradState:
    __slots__ = ("anomaly", "autocast", "enabled", "in_backward", "observers", "recorder", "slow")

    def __init__(self) -> None:
        self.enabled = True
        self.anomaly = False
        self.recorder: Any = None  # cr.compile's recorder while it records a step, else None
        self.autocast: Any = None  # autocast's hook while an autocast block is on, else None
        self.slow = False  # any of the above: the one flag the apply point checks per op
        self.observers: tuple = ()  # backward observers (engine.observe); () on the fast path
        self.in_backward = False  # True while the general backward loop runs vjps and hooks


STATE = _GradState()


def refresh_slow() -> None:  # after anomaly, recorder, autocast or inference mode changed
    STATE.slow = (bool(STATE.anomaly) or STATE.recorder is not None or _INFERENCE[0] > 0
                  or STATE.autocast is not None)


def is_grad_enabled() -> bool:
    """True when new operations are recorded for backward."""
    return STATE.enabled


class _GradModeContext:
    """Base for context managers that also work as decorators."""

    _mode: bool = True

    def __enter__(self) -> None:
        self._prev = STATE.enabled
        STATE.enabled = self._mode

    def __exit__(self, *exc: object) -> None:
        STATE.enabled = self._prev

    def __call__(self, fn: F) -> F:
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = STATE.enabled
            STATE.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                STATE.enabled = prev

        return wrapper  # type: ignore[return-value]


class no_grad(_GradModeContext):
    """Context manager and decorator: operations inside record no graph."""

    _mode = False


class enable_grad(_GradModeContext):
    """Context manager and decorator: operations inside record a graph (undoes ``no_grad``)."""

    _mode = True


class set_grad_enabled(_GradModeContext):
    """Context manager (or plain call) that sets graph recording on or off."""

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)
        self._prev = STATE.enabled
        STATE.enabled = self._mode

    def __enter__(self) -> None:
        pass



_INFERENCE = [0]  # how many inference_mode(True) blocks are active
