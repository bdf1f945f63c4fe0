"""The regularized incomplete gamma functions ``igamma`` (P(a, x), ``torch.igamma``) and
``igammac`` (Q(a, x) = 1 - P), and the quantile of the standard gamma distribution
(``gamma_quantile``: x with P(a, x) = u), each differentiable in the shape ``a`` as well as in
``x`` (PyTorch's igamma has no gradient for ``a``).

The quantile is how ``Gamma.rsample`` (and so Beta, Dirichlet, Chi2, StudentT) draws: x =
quantile(a, u) with u uniform, so a sample is a deterministic, differentiable function of the
concentration. Its gradient is the implicit reparameterisation gradient that PyTorch's
``_standard_gamma_grad`` approximates, dx/da = -(dP(a, x)/da) / p(x; a), computed here to about
1e-9 relative: by the power series of the lower incomplete gamma function for x < 1 (in the
form that does not underflow: dx/da = -x ((log x - digamma(a)) S - S')), else by a Richardson
extrapolated central difference in ``a`` of P (x < a) or Q (x >= a), whichever is the smaller
tail and so known to full relative precision. Needs SciPy (``gammainc``, ``gammaincc``,
``gammaincinv``). The vjps run on arrays: first order only (as PyTorch's).
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.ops import samples as S
from chainrule.ops.registry import primitive
from chainrule.ops.special import _keep_dtype, _special, digamma_array

_SERIES_TERMS = 30  # x < 1: term n is below x^n / n!, so 30 terms leave < 1e-32 behind


def _f64(xp: Any, *arrays: Any) -> list:
    return [xp.asarray(a, dtype=xp.float64) for a in arrays]


def _log_pdf(xp: Any, a: Any, x: Any) -> Any:
    """log p(x; a) of the standard gamma density x^(a-1) e^-x / Gamma(a)."""
    with xp.errstate(divide="ignore", invalid="ignore"):
        return (a - 1.0) * xp.log(x) - x - _special(xp, "gammaln", "gamma_quantile")(a)


def quantile_shape_grad(xp: Any, a: Any, x: Any) -> Any:
    """dx/da at a fixed quantile level: -(dP(a, x)/da) / p(x; a), float64 arrays (0 where
    undefined: x = 0 or inf, as PyTorch's ``_standard_gamma_grad``)."""
    a, x = xp.broadcast_arrays(*_f64(xp, a, x))
    out = xp.zeros(a.shape)
    small = x < 1.0
    if small.any():
        out[small] = _series_grad(xp, a[small], x[small])
    big = ~small & xp.isfinite(x)
    if big.any():
        out[big] = _difference_grad(xp, a[big], x[big])
    return xp.where(xp.isfinite(out), out, 0.0)


def _series_grad(xp: Any, a: Any, x: Any) -> Any:
    """gamma(a, x) = x^a e^-x S with S = sum_n x^n / (a (a+1) ... (a+n)); dS/da = -S' with
    S' = sum_n T_n H_n, H_n = sum_{k<=n} 1 / (a+k). All terms positive: no cancellation."""
    term = 1.0 / a
    harm = 1.0 / a
    s, s1 = term.copy(), term * harm
    for n in range(1, _SERIES_TERMS):
        term = term * x / (a + n)
        harm = harm + 1.0 / (a + n)
        s = s + term
        s1 = s1 + term * harm
    with xp.errstate(divide="ignore", invalid="ignore"):
        return -x * ((xp.log(x) - digamma_array(xp, a)) * s - s1)


def _difference_grad(xp: Any, a: Any, x: Any) -> Any:
    """dP/da by central differences at steps h and h/2, Richardson-extrapolated (error h^4);
    h is 1e-3 of the scale on which P varies in a (a for a < 1, sqrt(a) above)."""
    lower = x < a
    fn_p = _special(xp, "gammainc", "gamma_quantile")
    fn_q = _special(xp, "gammaincc", "gamma_quantile")

    def tail(b: Any) -> Any:  # the smaller tail, signed so that it is P up to a constant
        out = xp.empty(b.shape)
        out[lower] = fn_p(b[lower], x[lower])
        out[~lower] = -fn_q(b[~lower], x[~lower])
        return out

    h = 1e-3 * xp.minimum(a, xp.sqrt(a))
    d1 = (tail(a + h) - tail(a - h)) / (2.0 * h)
    d2 = (tail(a + 0.5 * h) - tail(a - 0.5 * h)) / h
    dp_da = (4.0 * d2 - d1) / 3.0
    with xp.errstate(over="ignore"):
        return -dp_da * xp.exp(-_log_pdf(xp, a, x))


def _pdf(xp: Any, a: Any, x: Any) -> Any:
    with xp.errstate(under="ignore"):
        return xp.exp(_log_pdf(xp, a, x))


def _positive(rng: S.Rng, shape: tuple[int, ...]) -> Any:
    return rng.uniform(0.3, 5.0, shape)


def _xs(rng: S.Rng, shape: tuple[int, ...]) -> Any:
    """Both regimes of the shape gradient: x < 1 (series) and x >= 1 (differences)."""
    return rng.uniform(0.2, 6.0, shape)


def _levels(rng: S.Rng, shape: tuple[int, ...]) -> Any:
    return rng.uniform(0.05, 0.95, shape)


# --- igamma, igammac -----------------------------------------------------------------------------


@primitive("igamma", nin=2, formula="d P(a, x)/dx = x^(a-1) e^-x / Gamma(a);  "
           "d/da = -p(x; a) dx/da|P (implicit: series for x < 1, else differences)", order=1,
           samples=S.binary(_positive, _xs, scalars=False), method=True)
def igamma(xp, input, other):
    """The regularized lower incomplete gamma function P(a, x) (``torch.igamma``,
    ``torch.special.gammainc``), a = ``input`` > 0, x = ``other`` >= 0; differentiable in both
    (needs SciPy)."""
    return _keep_dtype(xp, input, _special(xp, "gammainc", "igamma")(input, other))


@igamma.defvjp
def _(c, g):
    return _igamma_vjp(c, g, 1.0)


def _igamma_vjp(c: Any, g: Any, sign: float) -> tuple[Any, Any]:
    xp = backend.get_array_module(g)
    a, x = c.x
    dt = xp.result_type(g)
    pdf = _pdf(xp, *_f64(xp, a, x))
    ga = gx = None
    if c.need[0]:  # -p(x) dx/da; 0 at x = 0, where P(a, 0) = 0 for every a
        with xp.errstate(invalid="ignore"):
            dp_da = xp.where(xp.asarray(x) > 0, -sign * pdf * quantile_shape_grad(xp, a, x), 0.0)
        ga = (g * dp_da).astype(dt, copy=False)
    if c.need[1]:
        gx = (g * (sign * pdf)).astype(dt, copy=False)
    return ga, gx


@primitive("igammac", nin=2, formula="Q(a, x) = 1 - P(a, x): the gradients of igamma, negated",
           order=1, samples=S.binary(_positive, _xs, scalars=False), method=True)
def igammac(xp, input, other):
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x)
    (``torch.igammac``, ``torch.special.gammaincc``), accurate in the upper tail."""
    return _keep_dtype(xp, input, _special(xp, "gammaincc", "igammac")(input, other))


@igammac.defvjp
def _(c, g):
    return _igamma_vjp(c, g, -1.0)


# --- the standard gamma quantile (Gamma.rsample) -------------------------------------------------


@primitive("gamma_quantile", nin=2, saves="x,out", order=1,
           formula="x = Pinv(a, u);  dx/du = 1 / p(x; a);  dx/da = -(dP/da) / p(x; a)",
           samples=S.binary(_positive, _levels, scalars=False))
def _gamma_quantile(xp, concentration, u):
    """x with P(a, x) = u for the standard gamma distribution Gamma(a, 1) (SciPy's
    ``gammaincinv``), floored at the dtype's smallest normal number as PyTorch floors its
    gamma samples. With u uniform on (0, 1): a reparameterised gamma sample."""
    a = concentration
    fn = _special(xp, "gammaincinv", "gamma_quantile")
    out = _keep_dtype(xp, a, fn(a, u))
    return xp.maximum(out, xp.finfo(out.dtype).tiny)


@_gamma_quantile.defvjp
def _(c, g):
    xp = backend.get_array_module(g)
    a = c.x[0]
    dt = xp.result_type(g)
    ga = gu = None
    if c.need[0]:
        ga = (g * quantile_shape_grad(xp, a, c.out)).astype(dt, copy=False)
    if c.need[1]:
        with xp.errstate(over="ignore"):
            gu = (g / _pdf(xp, *_f64(xp, a, c.out))).astype(dt, copy=False)
    return ga, gu
