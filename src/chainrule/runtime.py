"""Process-wide names PyTorch scripts reach for: dtype limits (``finfo``, ``iinfo``), ``Size``,
the CPU thread count and the determinism switch.

``cr.set_num_threads(n)`` limits the BLAS/OpenMP thread pools that NumPy computes with (through
threadpoolctl, a dependency of chainrule) for the rest of the process, as ``torch.set_num_threads``
limits PyTorch's intra-op pool; ``cr.get_num_threads()`` reads them back. Where threadpoolctl is
missing the count is only recorded.

chainrule on the CPU is deterministic: the same program with the same seed and thread count gives
the same bits (no atomics, no nondeterministic kernels). ``use_deterministic_algorithms(True)``
is therefore accepted and only recorded, and ``are_deterministic_algorithms_enabled()`` returns what
was set, as in PyTorch.
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.backend import Size

__all__ = ["Size", "are_deterministic_algorithms_enabled", "finfo",
           "get_float32_matmul_precision", "get_num_threads", "iinfo",
           "is_deterministic_algorithms_warn_only_enabled", "set_float32_matmul_precision",
           "set_num_threads", "use_deterministic_algorithms"]


def _dtype_of(dtype: Any, who: str, kinds: str, other: str) -> Any:
    from chainrule.autograd.dtypes import get_default_dtype, to_dtype

    d = get_default_dtype() if dtype is None else to_dtype(dtype)
    if d.kind not in kinds:
        what = "a floating point" if kinds == "f" else "an integer"
        raise TypeError(f"cr.{who}() requires {what} input type, got {d}. Use cr.{other} to "
                        f"handle '{d}'")
    return d


class finfo:
    """The limits of a floating dtype, as ``torch.finfo``: ``bits``, ``eps`` (the gap between 1
    and the next number), ``max``, ``min`` (the most negative), ``tiny`` and ``smallest_normal``
    (the smallest positive normal number), ``resolution`` (10 ** -decimal digits) and ``dtype``
    (its name). ``cr.finfo()`` describes the default dtype."""

    def __init__(self, type: Any = None) -> None:
        d = _dtype_of(type, "finfo", "f", "iinfo")
        info = backend.xp.finfo(d)
        self.bits: int = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = self.smallest_normal = float(info.smallest_normal)
        self.resolution = 10.0 ** -int(info.precision)
        self.dtype: str = d.name

    def __repr__(self) -> str:
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
                f"eps={self.eps:g}, smallest_normal={self.smallest_normal:g}, "
                f"tiny={self.tiny:g}, dtype={self.dtype})")


class iinfo:
    """The limits of an integer (or bool) dtype, as ``torch.iinfo``: ``bits``, ``max``, ``min``
    (Python ints) and ``dtype`` (its name)."""

    def __init__(self, type: Any) -> None:
        d = _dtype_of(type, "iinfo", "iub", "finfo")
        if d.kind == "b":
            self.bits, self.min, self.max = 8, 0, 1
        else:
            info = backend.xp.iinfo(d)
            self.bits, self.min, self.max = int(info.bits), int(info.min), int(info.max)
        self.dtype: str = d.name

    def __repr__(self) -> str:
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"


_THREADS: list[Any] = [None, None]  # the threadpoolctl limiter and count of set_num_threads


def set_num_threads(n: int) -> None:
    """Compute with at most ``n`` BLAS/OpenMP threads from now on (``torch.set_num_threads``)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {n!r}")
    _THREADS[1] = n
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a dependency of chainrule; without it the value is only recorded
        return
    _THREADS[0] = threadpool_limits(limits=n)


def get_num_threads() -> int:
    """The number of threads the array library computes with (its BLAS pool; without one, the
    last ``set_num_threads`` or the usable cores), as ``torch.get_num_threads``."""
    try:
        from threadpoolctl import threadpool_info
        counts = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    except ImportError:
        counts = []
    if counts:
        return int(max(counts))
    if _THREADS[1] is not None:
        return int(_THREADS[1])
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_DETERMINISTIC = {"mode": False, "warn_only": False}


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Record the setting, as ``torch.use_deterministic_algorithms``: chainrule's CPU kernels
    are deterministic already, so nothing else changes."""
    if not isinstance(mode, bool):
        raise TypeError(f"use_deterministic_algorithms: expected a bool, got "
                        f"{type(mode).__name__}")
    _DETERMINISTIC.update(mode=mode, warn_only=bool(warn_only))


def are_deterministic_algorithms_enabled() -> bool:
    """What ``use_deterministic_algorithms`` last set (False at start, as in PyTorch)."""
    return _DETERMINISTIC["mode"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    """The ``warn_only`` flag last given to ``use_deterministic_algorithms``."""
    return _DETERMINISTIC["mode"] and _DETERMINISTIC["warn_only"]


_MATMUL_PRECISION = ["highest"]


def set_float32_matmul_precision(precision: str) -> None:
    """Record the float32 matmul precision, as ``torch.set_float32_matmul_precision``
    ("highest", "high" or "medium"; anything else warns and changes nothing, as in PyTorch).

    It has no effect here: NumPy's float32 matmul (its BLAS sgemm) always computes in full
    float32 (there are no TensorFloat-32 or bfloat16 kernels on this path to allow)."""
    if precision not in ("highest", "high", "medium"):
        import warnings

        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                      "set_float32_matmul_precision call has no effect.", UserWarning,
                      stacklevel=2)
        return
    _MATMUL_PRECISION[0] = precision


def get_float32_matmul_precision() -> str:
    """What ``set_float32_matmul_precision`` last set ("highest" at start, as in PyTorch)."""
    return _MATMUL_PRECISION[0]
