"""One formatter for errors that teach: the op, the shapes or values at fault, what was expected."""

from __future__ import annotations

from typing import Any


class ShapeError(ValueError):
    """Operands whose shapes do not fit the op."""


class DTypeError(TypeError):
    """Operands whose dtypes do not fit the op."""


class LinAlgError(RuntimeError):
    """A linear-algebra routine could not finish: a singular matrix (``linalg.inv``,
    ``linalg.solve``), one that is not positive-definite (``linalg.cholesky``), no convergence
    (``linalg.svd``). ``chainrule.linalg.LinAlgError``, as ``torch.linalg.LinAlgError``."""


def fmt_shape(shape: Any) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def op_error(op: str, problem: str, expected: str = "", hint: str = "",
             kind: type[Exception] = ShapeError) -> Exception:
    """Build an error whose message reads ``op: problem; expected ...; hint``."""
    msg = f"{op}: {problem}"
    if expected:
        msg += f"; expected {expected}"
    if hint:
        msg += f"; {hint}"
    return kind(msg)


def broadcast_error(op: str, *shapes: Any) -> ShapeError:
    """The message for operands that do not broadcast together."""
    listed = " and ".join(fmt_shape(s) for s in shapes)
    return op_error(  # type: ignore[return-value]
        op, f"shapes {listed} do not broadcast",
        "each trailing dimension pair to be equal or 1 (NumPy/PyTorch broadcasting)")


def size_arg(who: str, name: str, value: Any) -> int:
    """A layer's size argument checked as PyTorch does: an int (not a float, not a bool), >= 0.

    ``size_arg("Linear", "in_features", 2.5)`` raises ``TypeError: Linear: argument
    'in_features' must be an int, got float 2.5``."""
    import operator

    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise TypeError(f"{who}: argument {name!r} must be an int, got "
                        f"{type(value).__name__} {value!r}")
    n = operator.index(value)
    if n < 0:
        raise RuntimeError(f"{who}: argument {name!r} is {n}; Trying to create tensor with "
                           "negative dimension (expected a size >= 0)")
    return n
