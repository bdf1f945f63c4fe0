"""Elementwise primitives: arithmetic, transcendental functions and activations.

Each block: the forward on arrays, its vjp right below, and the metadata (torch name for parity,
formula for ``explain``, samples for the gradient sweep). Gradients here are returned at the
broadcast shape; the engine sums them back to each input's shape.
"""

from __future__ import annotations

import math
from typing import Any

from chainrule import backend
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.ops import arrays as A
from chainrule.ops import samples as S
from chainrule.ops.registry import primitive, public

# --- arithmetic ---------------------------------------------------------------------------------


@primitive("add", nin=2, torch="add", saves="", formula="d(a+b)/da = 1;  d(a+b)/db = 1",
           samples=S.binary(), method=("__add__", "__radd__"))
def add(xp, a, b):
    """a + b (broadcasting)."""
    return a + b


@add.defvjp
def _(c, g):
    return g, g


@primitive("sub", nin=2, torch="sub", saves="", formula="d(a-b)/da = 1;  d(a-b)/db = -1",
           samples=S.binary(), method="__sub__")
def sub(xp, a, b):
    """a - b (broadcasting)."""
    return a - b


@sub.defvjp
def _(c, g):
    return g, (-g if c.need[1] else None)


@primitive("mul", nin=2, torch="mul", formula="d(a*b)/da = b;  d(a*b)/db = a",
           samples=S.binary(), method=("mul", "__mul__", "__rmul__"))
def mul(xp, a, b):
    """a * b (broadcasting)."""
    return a * b


@mul.defvjp
def _(c, g):
    a, b = c.x
    need = c.need
    return (g * b if need[0] else None), (g * a if need[1] else None)


@primitive("div", nin=2, torch="div", formula="d(a/b)/da = 1/b;  d(a/b)/db = -a/b^2",
           samples=S.binary(S.real, S.away_from_zero), method=("div", "__truediv__"))
def div(xp, a, b):
    """a / b (true division, broadcasting)."""
    return a / b


@div.defvjp
def _(c, g):
    a, b = c.x
    ga = g / b if c.need[0] else None
    gb = -g * a / (b * b) if c.need[1] else None
    return ga, gb


@primitive("neg", torch="neg", saves="", formula="d(-x)/dx = -1", samples=S.unary(),
           method=("neg", "__neg__"))
def neg(xp, x):
    """-x."""
    return -x


@neg.defvjp
def _(c, g):
    return (-g,)


@primitive("pow", nin=2, torch="pow", saves="x,out",
           formula="d(a^b)/da = b*a^(b-1);  d(a^b)/db = a^b * log(a)",
           samples=S.binary(S.positive, S.real), method=("pow", "__pow__"))
def pow(xp, a, b):
    """a ** b (broadcasting); the gradient in b is defined where a > 0 (0 elsewhere)."""
    return xp.power(a, b)


@pow.defvjp
def _(c, g):
    xp = c.xp
    a, b = c.x
    ga = gb = None
    if c.need[0]:
        ga = g * b * a ** (b - 1)
    if c.need[1]:
        pos = a > 0
        gb = xp.where(pos, g * c.out * xp.log(xp.where(pos, a, 1.0)), 0.0)
    return ga, gb


# --- unary math -------------------------------------------------------------------------------


@primitive("abs", torch="abs", kinks=True, formula="d|x|/dx = sign(x)",
           samples=S.unary(S.away_from_zero), method=("abs", "__abs__"))
def abs(xp, x):
    """|x|; the gradient at 0 is 0, as in PyTorch."""
    return xp.abs(x)


@abs.defvjp
def _(c, g):
    return (g * c.xp.sign(c.x[0]),)


@primitive("sqrt", torch="sqrt", saves="out", formula="d sqrt(x)/dx = 1 / (2 sqrt(x))",
           samples=S.unary(S.positive), method=True)
def sqrt(xp, x):
    """Square root."""
    return xp.sqrt(x)


@sqrt.defvjp
def _(c, g):
    return (g / (c.out + c.out),)


@primitive("exp", torch="exp", saves="out", formula="d exp(x)/dx = exp(x)",
           samples=S.unary(), method=True)
def exp(xp, x):
    """e ** x."""
    return xp.exp(x)


@exp.defvjp
def _(c, g):
    return (g * c.out,)


@primitive("log", torch="log", formula="d log(x)/dx = 1/x", samples=S.unary(S.positive),
           method=True)
def log(xp, x):
    """Natural logarithm."""
    return xp.log(x)


@log.defvjp
def _(c, g):
    return (g / c.x[0],)


@primitive("log1p", torch="log1p", formula="d log(1+x)/dx = 1/(1+x)",
           samples=S.unary(S.positive), method=True)
def log1p(xp, x):
    """log(1 + x), accurate for small x."""
    return xp.log1p(x)


@log1p.defvjp
def _(c, g):
    return (g / (1.0 + c.x[0]),)


@primitive("expm1", torch="expm1", saves="out", formula="d (exp(x)-1)/dx = exp(x)",
           samples=S.unary(), method=True)
def expm1(xp, x):
    """exp(x) - 1, accurate for small x."""
    return xp.expm1(x)


@expm1.defvjp
def _(c, g):
    return (g * c.out + g,)


@primitive("log2", torch="log2", formula="d log2(x)/dx = 1/(x ln 2)",
           samples=S.unary(S.positive), method=True)
def log2(xp, x):
    """Base-2 logarithm."""
    return xp.log2(x)


@log2.defvjp
def _(c, g):
    return (g / (c.x[0] * math.log(2.0)),)


@primitive("log10", torch="log10", formula="d log10(x)/dx = 1/(x ln 10)",
           samples=S.unary(S.positive), method=True)
def log10(xp, x):
    """Base-10 logarithm."""
    return xp.log10(x)


@log10.defvjp
def _(c, g):
    return (g / (c.x[0] * math.log(10.0)),)


@primitive("square", torch="square", formula="d x^2/dx = 2x", samples=S.unary(), method=True)
def square(xp, x):
    """x * x."""
    return xp.square(x)


@square.defvjp
def _(c, g):
    x = c.x[0]
    return (g * (x + x),)


@primitive("reciprocal", torch="reciprocal", saves="out", formula="d (1/x)/dx = -1/x^2",
           samples=S.unary(S.away_from_zero), method=True)
def reciprocal(xp, x):
    """1 / x."""
    return xp.reciprocal(x) if x.dtype.kind == "f" else 1.0 / x


@reciprocal.defvjp
def _(c, g):
    return (-g * c.out * c.out,)


@primitive("rsqrt", torch="rsqrt", saves="out", formula="d x^(-1/2)/dx = -x^(-3/2) / 2",
           samples=S.unary(S.positive), method=True)
def rsqrt(xp, x):
    """1 / sqrt(x)."""
    return 1.0 / xp.sqrt(x)


@rsqrt.defvjp
def _(c, g):
    o = c.out
    return (g * o * o * o * -0.5,)


@primitive("tan", torch="tan", saves="out", formula="d tan(x)/dx = 1 + tan(x)^2",
           samples=S.unary(S.unit), method=True)
def tan(xp, x):
    """Tangent."""
    return xp.tan(x)


@tan.defvjp
def _(c, g):
    o = c.out
    return (g * (o * o + 1.0),)


@primitive("sin", torch="sin", formula="d sin(x)/dx = cos(x)", samples=S.unary(), method=True)
def sin(xp, x):
    """Sine."""
    return xp.sin(x)


@sin.defvjp
def _(c, g):
    return (g * c.xp.cos(c.x[0]),)


@primitive("cos", torch="cos", formula="d cos(x)/dx = -sin(x)", samples=S.unary(), method=True)
def cos(xp, x):
    """Cosine."""
    return xp.cos(x)


@cos.defvjp
def _(c, g):
    return (-g * c.xp.sin(c.x[0]),)


@primitive("tanh", torch="tanh", saves="out", formula="d tanh(x)/dx = 1 - tanh(x)^2",
           samples=S.unary(), method=True, functional=True)
def tanh(xp, x):
    """Hyperbolic tangent."""
    return xp.tanh(x)


@tanh.defvjp
def _(c, g):
    go = g * c.out  # g - g*out*out: no Python-float operand (each costs ~0.5 us on small arrays)
    return (g - go * c.out,)


@primitive("erf", torch="erf", formula="d erf(x)/dx = 2/sqrt(pi) * exp(-x^2)",
           samples=S.unary(), method=True)
def erf(xp, x):
    """The Gauss error function."""
    return A.erf(xp, x)


@erf.defvjp
def _(c, g):
    x = c.x[0]
    return (g * A.TWO_OVER_SQRT_PI * c.xp.exp(-x * x),)


# --- activations --------------------------------------------------------------------------------


@primitive("sigmoid", torch="sigmoid", saves="out",
           formula="d sigmoid(x)/dx = sigmoid(x) * (1 - sigmoid(x))", samples=S.unary(),
           method=True, functional=True)
def sigmoid(xp, x):
    """The logistic function 1 / (1 + exp(-x)), stable for any x."""
    return A.sigmoid(xp, x)


@sigmoid.defvjp
def _(c, g):
    go = g * c.out
    return (go - go * c.out,)


@primitive("relu", torch="relu", saves="out", kinks=True,
           formula="d relu(x)/dx = 1 if x > 0 else 0", samples=S.unary(S.away_from_zero),
           method=True, functional=True)
def relu(xp, x):
    """max(x, 0); the gradient at 0 is 0."""
    return xp.maximum(x, 0)


@relu.defvjp
def _(c, g):
    return (g * (c.out > 0),)


@primitive("leaky_relu", torch=lambda torch, x, slope: torch.nn.functional.leaky_relu(x, slope),
           kinks=True, formula="d leaky_relu(x)/dx = 1 if x > 0 else slope",
           samples=S.unary(S.away_from_zero, params=((0.01,), (0.2,))),
           method=True, functional=True)
def leaky_relu(xp, x, negative_slope=0.01):
    """x if x > 0 else negative_slope * x."""
    return xp.where(x > 0, x, x * negative_slope)


@leaky_relu.defvjp
def _(c, g):
    return (c.xp.where(c.x[0] > 0, g, g * c.p[0]),)


@primitive("elu", torch=lambda torch, x, alpha: torch.nn.functional.elu(x, alpha), kinks=True,
           saves="x,out", formula="d elu(x)/dx = 1 if x > 0 else elu(x) + alpha",
           samples=S.unary(S.away_from_zero, params=((1.0,), (0.5,))), method=True, functional=True)
def elu(xp, x, alpha=1.0):
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0)))


@elu.defvjp
def _(c, g):
    return (c.xp.where(c.x[0] > 0, g, g * (c.out + c.p[0])),)


@primitive("gelu", torch=lambda torch, x, approx: torch.nn.functional.gelu(x, approximate=approx),
           formula="gelu(x) = x * Phi(x);  d/dx = Phi(x) + x * phi(x)",
           samples=S.unary(params=(("none",), ("tanh",))), method=True, functional=True)
def gelu(xp, x, approximate="none"):
    """Gaussian error linear unit: x * Phi(x) (``approximate="tanh"``: the tanh form)."""
    if approximate == "tanh":
        inner = A.SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1.0 + xp.tanh(inner))
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return 0.5 * x * (1.0 + A.erf(xp, x / A.SQRT_2))


@gelu.defvjp
def _(c, g):
    xp, x = c.xp, c.x[0]
    if c.p[0] == "tanh":
        t = xp.tanh(A.SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
        d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * A.SQRT_2_OVER_PI * (
            1.0 + 3 * 0.044715 * x * x)
    else:
        d = 0.5 * (1.0 + xp.erf(x / A.SQRT_2)) + x * A.INV_SQRT_2PI * xp.exp(-0.5 * x * x)
    return (g * d,)


@primitive("silu", torch=lambda torch, x: torch.nn.functional.silu(x),
           formula="silu(x) = x * sigmoid(x);  d/dx = s + x * s * (1 - s)", samples=S.unary(),
           method=True, functional=True)
def silu(xp, x):
    """x * sigmoid(x) (also called swish)."""
    return x * A.sigmoid(xp, x)


@silu.defvjp
def _(c, g):
    x = c.x[0]
    s = c.xp.sigmoid(x)
    return (g * s * (1.0 + x * (1.0 - s)),)


@primitive("softplus",
           torch=lambda torch, x, beta, th: torch.nn.functional.softplus(x, beta, th),
           formula="softplus(x) = log(1 + exp(beta x)) / beta;  d/dx = sigmoid(beta x)",
           samples=S.unary(params=((1.0, 20.0), (2.0, 1.0))), method=True, functional=True)
def softplus(xp, x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * x)) / beta, linear where beta * x > threshold (as PyTorch)."""
    bx = x * beta
    return xp.where(bx > threshold, x, A.softplus(xp, bx) / beta)


@softplus.defvjp
def _(c, g):
    x = c.x[0]
    beta, threshold = c.p
    bx = x * beta
    return (c.xp.where(bx > threshold, g, g * c.xp.sigmoid(bx)),)


@primitive("clamp", torch=lambda torch, x, lo, hi: torch.clamp(x, lo, hi), kinks=True,
           formula="d clamp(x, lo, hi)/dx = 1 if lo <= x <= hi else 0",
           samples=S.unary(params=((-0.5, 0.5), (None, 0.3), (-0.3, None))),
           method=('clamp', 'clip'))
def clamp(xp, x, min=None, max=None):
    """Limit x to [min, max] (either may be None)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return xp.clip(x, min, max)


@clamp.defvjp
def _(c, g):
    x = c.x[0]
    lo, hi = c.p
    xp = c.xp
    if lo is not None:
        g = xp.where(x >= lo, g, 0.0)
    if hi is not None:
        g = xp.where(x <= hi, g, 0.0)
    return (g,)


@primitive("maximum", nin=2, torch="maximum", kinks=True,
           formula="d max(a,b)/da = 1 if a > b (1/2 on ties)",
           samples=S.binary(S.distinct, S.distinct), method=True)
def maximum(xp, a, b):
    """Elementwise maximum; on ties the gradient is split equally, as in PyTorch."""
    return xp.maximum(a, b)


@maximum.defvjp
def _(c, g):
    return _minmax_vjp(c, g, c.x[0] > c.x[1])


@primitive("minimum", nin=2, torch="minimum", kinks=True,
           formula="d min(a,b)/da = 1 if a < b (1/2 on ties)",
           samples=S.binary(S.distinct, S.distinct), method=True)
def minimum(xp, a, b):
    """Elementwise minimum; on ties the gradient is split equally."""
    return xp.minimum(a, b)


@minimum.defvjp
def _(c, g):
    return _minmax_vjp(c, g, c.x[0] < c.x[1])


def _minmax_vjp(c, g, a_wins):
    xp = c.xp
    a, b = c.x
    tie = a == b
    half = g * 0.5
    ga = xp.where(a_wins, g, xp.where(tie, half, 0.0)) if c.need[0] else None
    gb = None
    if c.need[1]:
        gb = xp.where(a_wins, 0.0, xp.where(tie, half, g))
    return ga, gb


def _where_samples(rng):
    for sc, sa, sb in (((2, 3), (2, 3), (2, 3)), ((2, 3), (3,), ()), ((2, 1), (1, 3), (2, 3)),
                       ((), (4,), (4,))):
        yield S.Sample([rng.random(sc) > 0.5, rng.standard_normal(sa), rng.standard_normal(sb)])


@primitive("where", nin=3, torch="where", saves="x",
           formula="d where(c, a, b)/da = c;  d/db = not c", samples=_where_samples)
def _where(xp, condition, a, b):
    """a where condition holds, else b (broadcasting all three)."""
    return xp.where(condition, a, b)


@public
def where(condition: Any, input: Any = None, other: Any = None) -> Any:
    """``input`` where ``condition`` holds, else ``other`` (broadcasting all three).
    ``where(condition)`` alone: the indices where it holds, one int64 tensor per dim (as
    ``torch.where``, i.e. ``nonzero(condition, as_tuple=True)``)."""
    if input is None and other is None:
        c = condition._data if isinstance(condition, Tensor) else condition
        xp = backend.get_array_module(c)
        return tuple(_leaf(i.astype(backend.int64)) for i in xp.nonzero(xp.atleast_1d(c)))
    if input is None or other is None:
        raise TypeError("where: give both input and other, or neither (for the indices)")
    return _where(condition, input, other)


@_where.defvjp
def _(c, g):
    xp = c.xp
    cond = c.x[0]
    return (None, xp.where(cond, g, 0.0) if c.need[1] else None,
            xp.where(cond, 0.0, g) if c.need[2] else None)


# --- copies and casts ----------------------------------------------------------------------


@primitive("clone", torch="clone", saves="", formula="d clone(x)/dx = 1", samples=S.unary(),
           method=True)
def clone(xp, x):
    """A C-contiguous copy with its own memory (gradient passes straight through)."""
    return xp.array(x, copy=True, order="C")


@clone.defvjp
def _(c, g):
    return (g,)


@primitive("cast", saves="", order=2, promotes=False,
           formula="d cast(x)/dx = 1 (gradient cast back)",
           samples=S.unary(params=((backend.float64,),)))
def cast(xp, x, dtype):
    """x converted to ``dtype`` (differentiable between floating dtypes)."""
    return x.astype(dtype)


@cast.defvjp
def _(c, g):
    return (c.xp.cast(g, c.x[0].dtype),)
