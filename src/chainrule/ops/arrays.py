"""Array-level helpers that NumPy lacks, shared by forwards and by the vjp fast path.

Constants are Python floats on purpose: a NumPy float64 scalar would promote float32 arrays to
float64 (NumPy 2 treats it as strongly typed), and chainrule keeps float32 end to end.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from chainrule.autograd.engine import sum_to_shape as sum_to

__all__ = ["erf", "ones_vector", "sigmoid", "softplus", "sum_to"]

SQRT_2 = math.sqrt(2.0)
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), computed as 0.5 * tanh(x / 2) + 0.5: no overflow for any x."""
    out = np.tanh(x * 0.5)
    out *= 0.5
    out += 0.5
    return out


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)) without overflow."""
    return np.logaddexp(x, 0.0)


_scipy_erf: Any = None  # resolved on first use: importing SciPy costs ~0.15 s


def _load_scipy_erf() -> Any:
    global _scipy_erf
    try:
        from scipy.special import erf as found
    except ImportError:  # SciPy is optional: our own series below is exact, if slower
        found = False
    _scipy_erf = found
    return found


def _erf_numpy(x: np.ndarray) -> np.ndarray:
    """erf(x) to float64 precision: Maclaurin series near 0, continued-fraction erfc beyond."""
    x = np.asarray(x)
    dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    xd = x.astype(np.float64)
    a = np.abs(xd)
    out = np.empty_like(xd)
    small = a < 2.0
    # series: erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
    xs = xd[small]
    term = xs.copy()
    total = xs.copy()
    x2 = xs * xs
    for n in range(1, 60):
        term = term * (-x2) / n
        total += term / (2 * n + 1)
    out[small] = TWO_OVER_SQRT_PI * total
    # erfc(a) by Lentz's continued fraction for a >= 2 (converges fast there)
    xb = a[~small]
    if xb.size:
        # erfc(z) = exp(-z^2)/sqrt(pi) * 1/(z + 1/2/(z + 1/(z + 3/2/(z + 2/(z + ...)))))
        f = xb.copy()
        for k in range(60, 0, -1):
            f = xb + (k / 2.0) / f
        erfc = np.exp(-xb * xb) / math.sqrt(math.pi) / f
        out[~small] = np.sign(xd[~small]) * (1.0 - erfc)
    return out.astype(dt, copy=False)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, elementwise, keeping the input's floating dtype."""
    fast = _scipy_erf if _scipy_erf is not None else _load_scipy_erf()
    if not fast:
        return _erf_numpy(x)
    out = fast(x)  # SciPy has no float16 loop: it answers in a wider dtype
    dt = np.result_type(x)
    return out.astype(dt, copy=False) if dt.kind == "f" and out.dtype != dt else out


_ONES: dict[tuple[int, Any], np.ndarray] = {}


def ones_vector(n: int, dtype: Any) -> np.ndarray:
    """A read-only vector of ``n`` ones, cached: row and column sums as BLAS matrix-vector
    products (``ones @ g``), 2-3x faster than NumPy's reduction over short rows."""
    key = (n, dtype)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 64:
            _ONES.clear()
        ones = _ONES[key] = np.ones(n, dtype=dtype)
        ones.flags.writeable = False
    return ones
