"""Inverse trigonometric and hyperbolic functions, special functions (erfc, erfinv, lgamma,
digamma, polygamma, sinc), and PyTorch's smaller elementwise ops (atan2, logaddexp, exp2,
copysign, float_power, deg2rad, heaviside, ...), with NumPy's ``arc*`` names as aliases.

The special functions come from the array library's own (SciPy's for NumPy, found through
``backend.special``); SciPy is optional: without it erfc falls back to ``1 - erf`` and lgamma to
``math.lgamma`` per element, and erfinv, digamma and polygamma raise an error that names the op.
"""

from __future__ import annotations

import math
from typing import Any

from chainrule import backend
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.ops import arrays as A
from chainrule.ops import elementwise as E
from chainrule.ops import nondiff as N
from chainrule.ops import samples as S
from chainrule.ops.registry import primitive, public

_LN2 = math.log(2.0)


def _alias(name: str, fn: Any) -> Any:
    """Register ``name`` as another public name of ``fn`` (``arcsin`` for ``asin``)."""
    def alias(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)
    alias.__name__ = alias.__qualname__ = name
    alias.__doc__ = f"``{fn.__name__}`` under NumPy's name (as PyTorch has it)."
    return public(alias)


def _special(xp: Any, name: str, op: str) -> Any:
    """The array library's special function ``name``, or a clear error naming ``op``."""
    fn = backend.special(xp, name)
    if fn is None:
        raise RuntimeError(f"{op}: needs scipy.special.{name}, and SciPy is not installed "
                           "(it is optional for chainrule); pip install scipy")
    return fn


def _keep_dtype(xp: Any, x: Any, out: Any) -> Any:
    """``out`` in ``x``'s floating dtype (SciPy answers some float16/float32 inputs wider)."""
    dt = xp.result_type(x)
    return out.astype(dt, copy=False) if dt.kind == "f" and out.dtype != dt else out


def digamma_array(xp: Any, x: Any) -> Any:
    """digamma(x) = d log Gamma(x)/dx on arrays."""
    return _keep_dtype(xp, x, _special(xp, "digamma", "digamma")(x))


def polygamma_array(xp: Any, n: int, x: Any) -> Any:
    """The n-th derivative of digamma on arrays."""
    return _keep_dtype(xp, x, xp.asarray(_special(xp, "polygamma", "polygamma")(n, x)))


# --- inverse trigonometric and hyperbolic functions ----------------------------------------------


@primitive("asin", torch="asin", formula="d asin(x)/dx = 1 / sqrt(1 - x^2)",
           samples=S.unary(S.unit), method=("asin", "arcsin"))
def asin(xp, x):
    """The inverse sine, in [-pi/2, pi/2] (NaN outside [-1, 1])."""
    return xp.arcsin(x)


@asin.defvjp
def _(c, g):
    x = c.x[0]
    return (g / c.xp.sqrt(1.0 - x * x),)


@primitive("acos", torch="acos", formula="d acos(x)/dx = -1 / sqrt(1 - x^2)",
           samples=S.unary(S.unit), method=("acos", "arccos"))
def acos(xp, x):
    """The inverse cosine, in [0, pi] (NaN outside [-1, 1])."""
    return xp.arccos(x)


@acos.defvjp
def _(c, g):
    x = c.x[0]
    return (-g / c.xp.sqrt(1.0 - x * x),)


@primitive("atan", torch="atan", formula="d atan(x)/dx = 1 / (1 + x^2)", samples=S.unary(),
           method=("atan", "arctan"))
def atan(xp, x):
    """The inverse tangent, in (-pi/2, pi/2)."""
    return xp.arctan(x)


@atan.defvjp
def _(c, g):
    x = c.x[0]
    return (g / (1.0 + x * x),)


@primitive("atan2", nin=2, torch="atan2",
           formula="d atan2(a, b)/da = b / (a^2 + b^2);  d/db = -a / (a^2 + b^2)",
           samples=S.binary(S.away_from_zero, S.real), method=("atan2", "arctan2"))
def atan2(xp, input, other):
    """The angle of the point (other, input), in (-pi, pi] (broadcasting); the branch cut is
    on the negative ``other`` axis."""
    return xp.arctan2(input, other)


@atan2.defvjp
def _(c, g):
    a, b = c.x
    r = g / (a * a + b * b)
    return (r * b if c.need[0] else None), (-r * a if c.need[1] else None)


@primitive("asinh", torch="asinh", formula="d asinh(x)/dx = 1 / sqrt(x^2 + 1)",
           samples=S.unary(), method=("asinh", "arcsinh"))
def asinh(xp, x):
    """The inverse hyperbolic sine."""
    return xp.arcsinh(x)


@asinh.defvjp
def _(c, g):
    x = c.x[0]
    return (g / c.xp.sqrt(x * x + 1.0),)


@primitive("acosh", torch="acosh", formula="d acosh(x)/dx = 1 / sqrt(x^2 - 1)",
           samples=S.unary(S.above_one), method=("acosh", "arccosh"))
def acosh(xp, x):
    """The inverse hyperbolic cosine (NaN below 1)."""
    return xp.arccosh(x)


@acosh.defvjp
def _(c, g):
    x = c.x[0]
    return (g / c.xp.sqrt(x * x - 1.0),)


@primitive("atanh", torch="atanh", formula="d atanh(x)/dx = 1 / (1 - x^2)",
           samples=S.unary(S.unit), method=("atanh", "arctanh"))
def atanh(xp, x):
    """The inverse hyperbolic tangent (NaN outside [-1, 1], inf at the ends)."""
    return xp.arctanh(x)


@atanh.defvjp
def _(c, g):
    x = c.x[0]
    return (g / (1.0 - x * x),)


arcsin = _alias("arcsin", asin)
arccos = _alias("arccos", acos)
arctan = _alias("arctan", atan)
arctan2 = _alias("arctan2", atan2)
arcsinh = _alias("arcsinh", asinh)
arccosh = _alias("arccosh", acosh)
arctanh = _alias("arctanh", atanh)


# --- special functions -------------------------------------------------------------------------


@primitive("erfc", torch="erfc", formula="d erfc(x)/dx = -2/sqrt(pi) * exp(-x^2)",
           samples=S.unary(), method=True)
def erfc(xp, x):
    """The complementary error function 1 - erf(x) (accurate for large x with SciPy)."""
    fn = backend.special(xp, "erfc")
    return 1.0 - A.erf(xp, x) if fn is None else _keep_dtype(xp, x, fn(x))


@erfc.defvjp
def _(c, g):
    x = c.x[0]
    return (g * -A.TWO_OVER_SQRT_PI * c.xp.exp(-x * x),)


@primitive("erfinv", torch="erfinv", saves="out",
           formula="d erfinv(x)/dx = sqrt(pi)/2 * exp(erfinv(x)^2)", samples=S.unary(S.unit),
           method=True)
def erfinv(xp, x):
    """The inverse error function on (-1, 1) (needs SciPy)."""
    return _keep_dtype(xp, x, _special(xp, "erfinv", "erfinv")(x))


@erfinv.defvjp
def _(c, g):
    y = c.out
    return (g * (0.5 * math.sqrt(math.pi)) * c.xp.exp(y * y),)


def _lgamma_math(xp: Any, x: Any) -> Any:
    return xp.vectorize(math.lgamma, otypes=[x.dtype if x.dtype.kind == "f" else "f8"])(x)


@primitive("lgamma", torch="lgamma", formula="d lgamma(x)/dx = digamma(x)",
           samples=S.unary(S.positive), method=True)
def lgamma(xp, x):
    """log |Gamma(x)| (SciPy's gammaln; ``math.lgamma`` per element without SciPy)."""
    fn = backend.special(xp, "gammaln")
    return _lgamma_math(xp, x) if fn is None else _keep_dtype(xp, x, fn(x))


@lgamma.defvjp
def _(c, g):
    return (g * c.xp.digamma(c.x[0]),)


@primitive("digamma", torch="digamma", formula="d digamma(x)/dx = polygamma(1, x)",
           samples=S.unary(S.positive), method=("digamma", "psi"))
def digamma(xp, x):
    """The logarithmic derivative of Gamma, d lgamma(x)/dx (needs SciPy)."""
    return digamma_array(xp, x)


@digamma.defvjp
def _(c, g):
    return (g * c.xp.polygamma(1, c.x[0]),)


@primitive("polygamma", torch=lambda torch, x, n: torch.polygamma(n, x),
           formula="d polygamma(n, x)/dx = polygamma(n + 1, x)",
           samples=S.unary(S.positive, params=((0,), (2,), (3,))))
def _polygamma(xp, x, n):
    """The n-th derivative of digamma (needs SciPy). No n = 1 sample: PyTorch's trigamma is a
    truncated series, off by ~5e-10 relative (SciPy's agrees with mpmath); digamma's gradient
    checks n = 1 against finite differences, tests/test_special_ops.py against pi^2 / 6."""
    if int(n) != n or n < 0:
        raise ValueError(f"polygamma: n must be a non-negative integer, got {n!r}")
    return polygamma_array(xp, int(n), x)


@_polygamma.defvjp
def _(c, g):
    return (g * c.xp.polygamma(c.p[0] + 1, c.x[0]),)


@public
def polygamma(n: int, input: Any) -> Any:
    """The ``n``-th derivative of digamma at ``input`` (``torch.polygamma(n, input)``)."""
    return _polygamma(input, n)


def _polygamma_method(x: Any, n: int) -> Any:
    return _polygamma(x, n)


_polygamma_method.__name__ = "polygamma_"  # the method's registry key; the method is polygamma
public(_polygamma_method, method="polygamma", export=False)


@primitive("sinc", torch="sinc", saves="x,out",
           formula="d sinc(x)/dx = (cos(pi x) - sinc(x)) / x  (0 at x = 0)",
           samples=S.unary(), method=True)
def sinc(xp, x):
    """The normalized sinc, sin(pi x) / (pi x), 1 at x = 0."""
    return xp.sinc(x)


@sinc.defvjp
def _(c, g):
    xp, x = c.xp, c.x[0]
    nz = x != 0
    safe = xp.where(nz, x, 1.0)
    return (xp.where(nz, g * (xp.cos(safe * math.pi) - c.out) / safe, 0.0),)


# --- exponentials and logarithms of sums -------------------------------------------------------


@primitive("logaddexp", nin=2, torch="logaddexp", saves="x,out",
           formula="d log(e^a + e^b)/da = e^(a - out);  d/db = e^(b - out)",
           samples=S.binary(), method=True)
def logaddexp(xp, input, other):
    """log(exp(input) + exp(other)) without overflow (broadcasting)."""
    return xp.logaddexp(input, other)


@logaddexp.defvjp
def _(c, g):
    return _logaddexp_vjp(c, g, 1.0)


def _logaddexp_vjp(c: Any, g: Any, ln_base: float) -> tuple[Any, Any]:
    """base^(a - out) and base^(b - out), written as exp((a - out) * ln(base))."""
    a, b = c.x
    xp = c.xp
    return (g * xp.exp((a - c.out) * ln_base) if c.need[0] else None,
            g * xp.exp((b - c.out) * ln_base) if c.need[1] else None)


@primitive("logaddexp2", nin=2, torch="logaddexp2", saves="x,out",
           formula="d log2(2^a + 2^b)/da = 2^(a - out);  d/db = 2^(b - out)",
           samples=S.binary(), method=True)
def logaddexp2(xp, input, other):
    """log2(2**input + 2**other) without overflow (broadcasting)."""
    return xp.logaddexp2(input, other)


@logaddexp2.defvjp
def _(c, g):
    return _logaddexp_vjp(c, g, _LN2)


@primitive("exp2", torch="exp2", saves="out", formula="d 2^x/dx = 2^x * ln 2",
           samples=S.unary(), method=True)
def exp2(xp, x):
    """2 ** x."""
    return xp.exp2(x)


@exp2.defvjp
def _(c, g):
    return (g * c.out * _LN2,)


@public(method=True)
def float_power(input: Any, exponent: Any) -> Any:
    """``input ** exponent`` computed in float64 (the result is float64, as PyTorch)."""
    def f64(v: Any) -> Any:
        if isinstance(v, Tensor):
            return E.cast(v, backend.float64)
        return v if isinstance(v, (int, float)) else E.cast(_leaf(backend.xp.asarray(v)),
                                                            backend.float64)
    if not isinstance(input, Tensor) and not isinstance(exponent, Tensor):
        raise TypeError("float_power: input or exponent must be a Tensor")
    base = f64(input)
    if not isinstance(base, Tensor):
        base = _leaf(backend.xp.asarray(float(base)))
    return E.pow(base, f64(exponent))


@public(method=True)
def deg2rad(input: Any) -> Any:
    """Degrees to radians: ``input * pi / 180``."""
    return E.mul(input, math.pi / 180.0)


@public(method=True)
def rad2deg(input: Any) -> Any:
    """Radians to degrees: ``input * 180 / pi``."""
    return E.mul(input, 180.0 / math.pi)


# --- signs ---------------------------------------------------------------------------------------


@primitive("copysign", nin=2, torch="copysign", saves="x,out", kinks=True,
           formula="d copysign(a, b)/da = sign(a) * sign(out) (0 at a = 0);  d/db = 0",
           samples=S.binary(S.away_from_zero, S.away_from_zero), method=True)
def copysign(xp, input, other):
    """``|input|`` with the sign of ``other`` (broadcasting; -0.0 counts as negative). The
    gradient in ``other`` is zero, as PyTorch's."""
    return xp.copysign(input, other)


@copysign.defvjp
def _(c, g):
    xp = c.xp
    ga = g * xp.sign(c.x[0]) * xp.sign(c.out) if c.need[0] else None
    return ga, (xp.zeros_like(g) if c.need[1] else None)


@public(method=True)
def sgn(input: Any) -> Tensor:
    """The sign of each entry, -1, 0 or 1 (``sign`` for real tensors; a constant)."""
    return N.sign(input)


@public(method=True)
def heaviside(input: Any, values: Any) -> Tensor:
    """The Heaviside step: 0 where ``input < 0``, 1 where ``input > 0``, ``values`` where it is 0
    (broadcasting; a constant: PyTorch defines no gradient for it)."""
    xp, a, b = N._pair("heaviside", input, values)
    return _leaf(xp.asarray(xp.heaviside(a, b)))
