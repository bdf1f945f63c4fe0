"""The dtype policy: the default float dtype and the normalisation of ``dtype=`` arguments.

Python floats become the default dtype (float32, as in PyTorch); ``float``, ``int`` and ``bool``
as dtypes mean float64, int64 and bool.
"""

from __future__ import annotations

from typing import Any

from chainrule import backend

_DEFAULT_DTYPE = [backend.float32]

_DTYPE_ALIASES = {float: backend.float64, int: backend.int64, bool: backend.bool_}


def get_default_dtype() -> backend.dtype:
    """The dtype of tensors made from Python floats (float32, as in PyTorch)."""
    return _DEFAULT_DTYPE[0]


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype of tensors made from Python floats (float16, float32 or float64)."""
    d = to_dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {d}")
    _DEFAULT_DTYPE[0] = d


def to_dtype(dtype: Any) -> backend.dtype:
    """Normalise a ``dtype=`` argument (``cr.float32``, ``"float32"``, ``np.float32``, or a
    legacy typed class: ``x.type(cr.FloatTensor)``)."""
    dtype = getattr(dtype, "_dtype", dtype)
    if isinstance(dtype, backend.dtype):
        return dtype
    if dtype in _DTYPE_ALIASES:
        return _DTYPE_ALIASES[dtype]
    try:
        return backend.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: {dtype!r} is not a dtype; expected e.g. cr.float32") from None
