"""Inference mode: ``no_grad`` whose tensors stay out of autograd for good (PyTorch's
``inference_mode``): ``is_inference()`` tensors that refuse, outside the mode, to be saved for
backward, modified in place or made to require grad."""

from __future__ import annotations

import functools
from typing import Any

from chainrule.autograd.grad_mode import _INFERENCE, STATE, F, _GradModeContext, refresh_slow


class InferenceTensorError(RuntimeError):
    """An inference tensor saved for backward outside ``inference_mode``."""


# The version counter of every inference tensor: it counts nothing (as PyTorch's), and outside
# inference mode reading it (what recording an op that saves the tensor does) raises. So the
# check costs the normal path nothing: only these tensors carry it.
class _InferenceVersion:
    __slots__ = ()

    def __getitem__(self, i: int) -> int:
        if _INFERENCE[0]:
            return 0
        raise InferenceTensorError(
            "Inference tensors cannot be saved for backward. Please do not use Tensors created "
            "in inference mode in computation tracked by autograd. To work around this, you can "
            "make a clone to get a normal tensor and use it in autograd.")

    def __setitem__(self, i: int, v: int) -> None:
        pass


INFERENCE_VC: Any = _InferenceVersion()


class inference_mode(_GradModeContext):
    """Context manager and decorator (``@cr.inference_mode()`` or bare ``@cr.inference_mode``):
    like ``no_grad``, and the tensors made inside are inference tensors (``is_inference()``):
    outside inference mode they cannot be saved for backward, modified in place or made to
    require grad (as PyTorch's). ``inference_mode(False)`` changes nothing."""

    def __new__(cls, mode: Any = True) -> Any:
        if callable(mode) and not isinstance(mode, bool):  # bare decorator: @inference_mode
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True) -> None:
        self._inference = bool(mode)

    def __enter__(self) -> None:
        self._prev = STATE.enabled
        if self._inference:
            STATE.enabled = False
            _INFERENCE[0] += 1
            refresh_slow()

    def __exit__(self, *exc: object) -> None:
        if self._inference:
            _INFERENCE[0] -= 1
            refresh_slow()
        STATE.enabled = self._prev

    def __call__(self, fn: F) -> F:
        if not self._inference:
            return fn
        ctx = type(self)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with ctx(True):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def is_inference_mode_enabled() -> bool:
    """True inside ``inference_mode()``."""
    return _INFERENCE[0] > 0
