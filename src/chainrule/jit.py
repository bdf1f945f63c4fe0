"""``cr.jit``, as scripts use ``torch.jit``: there is no TorchScript compiler here, so
``script`` and ``trace`` return what they are given (it runs eagerly, as Python), with a warning
the first time; the decorators (``ignore``, ``unused``, ``export``) change nothing; ``save`` and
``load`` refuse, pointing to ``cr.save`` of a state_dict or to ONNX export.

``cr.compile`` is chainrule's own speed-up for a training step (record and replay)."""

from __future__ import annotations

import warnings
from typing import Any, Final, TypeVar

__all__ = ["Final", "annotate", "export", "ignore", "is_scripting", "is_tracing", "load",
           "save", "script", "trace", "trace_module", "unused"]

T = TypeVar("T")
_WARNED: set[str] = set()


def _warn_once(what: str) -> None:
    if what in _WARNED:
        return
    _WARNED.add(what)
    warnings.warn(f"cr.jit.{what}: chainrule has no TorchScript compiler; the function or "
                  "module is returned unchanged and runs eagerly (as Python). (This warning is "
                  "shown once.)", UserWarning, stacklevel=3)


def script(obj: T, optimize: Any = None, _frames_up: int = 0, _rcb: Any = None,
           example_inputs: Any = None) -> T:
    """``obj`` unchanged (``torch.jit.script`` compiles it to TorchScript; here it runs
    eagerly)."""
    _warn_once("script")
    return obj


def trace(func: T, example_inputs: Any = None, optimize: Any = None, check_trace: bool = True,
          check_inputs: Any = None, check_tolerance: float = 1e-5, strict: bool = True,
          **kwargs: Any) -> T:
    """``func`` unchanged (``torch.jit.trace`` records it on ``example_inputs``; here it runs
    eagerly, so data-dependent control flow keeps working)."""
    _warn_once("trace")
    return func


def trace_module(mod: T, inputs: Any = None, **kwargs: Any) -> T:
    """``mod`` unchanged (see ``trace``)."""
    _warn_once("trace_module")
    return mod


def _decorator(fn: Any = None, **kwargs: Any) -> Any:
    """A TorchScript decorator with nothing to do here: ``@cr.jit.ignore`` and
    ``@cr.jit.ignore(drop=True)`` both return the function unchanged."""
    if fn is None or not callable(fn):
        return lambda f: f
    return fn


ignore = unused = export = _decorator


def is_scripting() -> bool:
    """False: nothing is ever compiled to TorchScript here."""
    return False


def is_tracing() -> bool:
    """False: nothing is ever traced to TorchScript here."""
    return False


def annotate(the_type: Any, the_value: T) -> T:
    """``the_value`` (a type hint for the TorchScript compiler)."""
    return the_value


def _no_torchscript(what: str) -> RuntimeError:
    return RuntimeError(
        f"cr.jit.{what}: chainrule has no TorchScript format. Save the weights with "
        "cr.save(model.state_dict(), 'model.pt') and load them into the model class with "
        "model.load_state_dict(cr.load('model.pt')); to run the model outside Python, export "
        "it with cr.onnx.export(model, example_input, 'model.onnx')")


def save(m: Any, f: Any, _extra_files: Any = None) -> None:
    """Refuses: there is no TorchScript here (see the error for what to do instead)."""
    raise _no_torchscript("save")


def load(f: Any, map_location: Any = None, _extra_files: Any = None) -> Any:
    """Refuses: there is no TorchScript here (see the error for what to do instead)."""
    raise _no_torchscript("load")



class ScriptModule:
    """Never instantiated here (``isinstance(m, cr.jit.ScriptModule)`` is False)."""


class ScriptFunction:
    """Never instantiated here (``isinstance(f, cr.jit.ScriptFunction)`` is False)."""
