"""``cr.testing``, as ``torch.testing``: ``assert_close`` with PyTorch's default tolerances per
dtype and its messages, and ``make_tensor``.

Default tolerances (rtol, atol), the loosest of the two inputs' dtypes: float16 (1e-3, 1e-5),
float32 (1.3e-6, 1e-5), float64 (1e-7, 1e-7), integers and bool (0, 0): exact. Python floats
compare as float64, ints exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from chainrule.autograd.dtypes import get_default_dtype, to_dtype
from chainrule.autograd.tensor import Tensor

__all__ = ["assert_close", "make_tensor"]

_PRECISION = {np.dtype("float16"): (1e-3, 1e-5), np.dtype("float32"): (1.3e-6, 1e-5),
              np.dtype("float64"): (1e-7, 1e-7)}


class _Mismatch(Exception):
    """A failed comparison: the exception type to raise and its message."""

    def __init__(self, kind: type, msg: str) -> None:
        super().__init__(msg)
        self.kind, self.msg = kind, msg


def _dtype_name(d: np.dtype) -> str:
    return f"cr.{d.name}" if d.kind != "b" else "cr.bool"


def _tolerances(dtypes: Sequence[np.dtype], rtol: float | None,
                atol: float | None) -> tuple[float, float]:
    if (rtol is None) ^ (atol is None):
        raise _Mismatch(ValueError, "Both 'rtol' and 'atol' must be either specified or "
                        f"omitted, but got no {'rtol' if rtol is None else 'atol'}.")
    if rtol is not None and atol is not None:
        return rtol, atol
    rtols, atols = zip(*[_PRECISION.get(d, (0.0, 0.0)) for d in dtypes])
    return max(rtols), max(atols)


def _mismatch_msg(identifier: str, extra: str, abs_diff: Any, abs_idx: Any, atol: float,
                  rel_diff: Any, rel_idx: Any, rtol: float) -> str:
    equality = rtol == 0 and atol == 0

    def diff(kind: str, value: Any, idx: Any, tol: float) -> str:
        msg = (f"{kind.title()} difference: {value}" if idx is None
               else f"Greatest {kind} difference: {value} at index {idx}")
        return msg + ("" if equality else f" (up to {tol} allowed)") + "\n"

    msg = f"{identifier} are not {'equal' if equality else 'close'}!\n\n{extra.strip()}\n"
    msg += diff("absolute", abs_diff, abs_idx, atol) + diff("relative", rel_diff, rel_idx, rtol)
    return msg.strip()


def _scalar_msg(actual: Any, expected: Any, rtol: float, atol: float) -> str:
    abs_diff = abs(actual - expected)
    rel_diff = float("inf") if expected == 0 else abs_diff / abs(expected)
    return _mismatch_msg("Scalars", f"Expected {expected} but got {actual}.", abs_diff, None,
                         atol, rel_diff, None, rtol)


def _compare_numbers(actual: Any, expected: Any, rtol: float | None, atol: float | None,
                     equal_nan: bool, check_dtype: bool) -> None:
    if check_dtype and type(actual) is not type(expected):
        raise _Mismatch(AssertionError, f"The (d)types do not match: {type(actual)} != "
                        f"{type(expected)}.")
    kinds = [np.dtype("float64") if isinstance(v, float) else np.dtype("int64")
             for v in (actual, expected)]
    rtol, atol = _tolerances(kinds, rtol, atol)
    if actual == expected:
        return
    if equal_nan and math.isnan(actual) and math.isnan(expected):
        return
    abs_diff = abs(actual - expected)
    if math.isfinite(abs_diff) and abs_diff <= atol + rtol * abs(expected):
        return
    raise _Mismatch(AssertionError, _scalar_msg(actual, expected, rtol, atol))


def _compare_arrays(a: np.ndarray, e: np.ndarray, rtol: float | None, atol: float | None,
                    equal_nan: bool, check_dtype: bool) -> None:
    if a.shape != e.shape:
        raise _Mismatch(AssertionError, f"The values for attribute 'shape' do not match: "
                        f"cr.Size({list(a.shape)}) != cr.Size({list(e.shape)}).")
    if check_dtype and a.dtype != e.dtype:
        raise _Mismatch(AssertionError, f"The values for attribute 'dtype' do not match: "
                        f"{_dtype_name(a.dtype)} != {_dtype_name(e.dtype)}.")
    rtol, atol = _tolerances([a.dtype, e.dtype], rtol, atol)
    if a.dtype != e.dtype:
        common = np.promote_types(a.dtype, e.dtype)
        a, e = a.astype(common), e.astype(common)
    if a.dtype.kind in "biu":
        a, e = a.astype(np.int64), e.astype(np.int64)
    with np.errstate(invalid="ignore", over="ignore"):
        matches = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=equal_nan)
    if matches.all():
        return
    if a.shape == ():
        raise _Mismatch(AssertionError, _scalar_msg(a.item(), e.item(), rtol, atol))
    af, ef, mf = a.ravel(), e.ravel(), matches.ravel()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        abs_diff = np.abs(af - ef)
        abs_diff[mf] = 0
        fl = af.dtype if af.dtype.kind == "f" else get_default_dtype()
        rel_diff = abs_diff.astype(fl) / np.abs(ef).astype(fl)
    rel_diff[mf] = 0
    i, j = _argmax_nan(abs_diff), _argmax_nan(rel_diff)
    total, bad = matches.size, int(matches.size - matches.sum())
    raise _Mismatch(AssertionError, _mismatch_msg(
        "Tensor-likes", f"Mismatched elements: {bad} / {total} ({bad / total:.1%})",
        abs_diff[i].item(), _index(i, a.shape), atol, rel_diff[j].item(), _index(j, a.shape),
        rtol))


def _argmax_nan(v: np.ndarray) -> int:
    """The index of the largest value, a NaN counting as largest (as ``torch.max``)."""
    nan = np.flatnonzero(np.isnan(v)) if v.dtype.kind == "f" else ()
    return int(nan[0]) if len(nan) else int(np.argmax(v))


def _index(i: int, shape: tuple) -> tuple:
    return tuple(int(k) for k in np.unravel_index(i, shape))


def _compare_leaf_or_tree(actual: Any, expected: Any, *, rtol: float | None,
                          atol: float | None, equal_nan: bool, check_dtype: bool,
                          path: str = "") -> None:
    kw = {"rtol": rtol, "atol": atol, "equal_nan": equal_nan, "check_dtype": check_dtype}
    if isinstance(actual, Tensor) and isinstance(expected, Tensor):
        return _at(path, _compare_arrays, np.asarray(actual.detach()._data),
                   np.asarray(expected.detach()._data), **kw)
    if isinstance(actual, np.ndarray) and isinstance(expected, np.ndarray):
        return _at(path, _compare_arrays, actual, expected, **kw)
    numbers = (bool, int, float)
    if isinstance(actual, numbers) and isinstance(expected, numbers):
        return _at(path, _compare_numbers, actual, expected, **kw)
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        if set(actual) != set(expected):
            missing = sorted(set(expected) - set(actual), key=repr)
            extra = sorted(set(actual) - set(expected), key=repr)
            raise _Mismatch(AssertionError, _with_path(
                f"The keys of the mappings do not match:\nMissing keys in the actual mapping: "
                f"{missing}\nAdditional keys in the actual mapping: {extra}", path))
        for k in expected:
            _compare_leaf_or_tree(actual[k], expected[k], path=f"{path}[{k!r}]", **kw)
        return None
    seq = (list, tuple)
    if isinstance(actual, seq) and isinstance(expected, seq):
        if len(actual) != len(expected):
            raise _Mismatch(AssertionError, _with_path(
                f"The length of the sequences mismatch: {len(actual)} != {len(expected)}",
                path))
        for i, (x, y) in enumerate(zip(actual, expected)):
            _compare_leaf_or_tree(x, y, path=f"{path}[{i}]", **kw)
        return None
    raise _Mismatch(TypeError, _with_path(
        f"No comparison pair was able to handle inputs of type {type(actual)} and "
        f"{type(expected)}.", path))


def _with_path(msg: str, path: str) -> str:
    return f"{msg}\n\nThe failure occurred for item {path}" if path else msg


def _at(path: str, fn: Callable[..., None], *args: Any, **kw: Any) -> None:
    try:
        fn(*args, **kw)
    except _Mismatch as m:
        raise _Mismatch(m.kind, _with_path(m.msg, path)) from None


def assert_close(actual: Any, expected: Any, *, allow_subclasses: bool = True,
                 rtol: float | None = None, atol: float | None = None, equal_nan: bool = False,
                 check_device: bool = True, check_dtype: bool = True, check_layout: bool = True,
                 check_stride: bool = False, msg: str | Callable[[str], str] | None = None
                 ) -> None:
    """Raise an AssertionError unless ``actual`` and ``expected`` are close, as
    ``torch.testing.assert_close``: tensors (or NumPy arrays) of the same shape and, with
    ``check_dtype``, dtype, with ``|actual - expected| <= atol + rtol * |expected|``
    elementwise; numbers; and sequences and mappings of them, compared item by item.

    ``rtol`` and ``atol`` go together (both or neither; neither: the dtype's defaults, see the
    module docstring). ``equal_nan``: NaN equals NaN. ``msg``: a string that replaces the
    message, or a callable that gets the message and returns the one to raise. The message is
    PyTorch's: how many elements differ and where the greatest differences are.
    ``allow_subclasses``, ``check_device``, ``check_layout`` and ``check_stride`` are accepted
    (one device, one layout here).
    """
    try:
        _compare_leaf_or_tree(actual, expected, rtol=rtol, atol=atol, equal_nan=equal_nan,
                              check_dtype=check_dtype)
    except _Mismatch as m:
        text = m.msg
        if m.kind is AssertionError and msg is not None:
            text = msg(text) if callable(msg) else msg
        raise m.kind(text) from None


def make_tensor(*shape: Any, dtype: Any, device: Any = None, low: float | None = None,
                high: float | None = None, requires_grad: bool = False,
                noncontiguous: bool = False, exclude_zero: bool = False,
                memory_format: Any = None) -> Tensor:
    """A tensor of ``shape`` and ``dtype`` with random values in ``[low, high)`` (as
    ``torch.testing.make_tensor``: floats default to [-9, 9), integers to [-9, 10), bool to
    {False, True}); drawn from ``cr.manual_seed``'s generator."""
    from chainrule.autograd.factories import tensor as make
    from chainrule.random import generator_of

    if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
        shape = tuple(shape[0])
    d = to_dtype(dtype)
    rng = generator_of(None)
    if d.kind == "b":
        arr = rng.integers(0, 2, shape).astype(bool)
    elif d.kind in "iu":
        lo = -9 if low is None else math.ceil(low)
        hi = 10 if high is None else math.ceil(high)
        lo = max(lo, 0) if d.kind == "u" else lo
        arr = rng.integers(lo, hi, shape).astype(d)
        if exclude_zero:
            arr[arr == 0] = 1
    else:
        lo, hi = (-9.0 if low is None else low), (9.0 if high is None else high)
        arr = rng.uniform(lo, hi, shape).astype(d)
        if exclude_zero:
            arr[arr == 0] = np.finfo(d).tiny
    return make(arr, requires_grad=requires_grad)
