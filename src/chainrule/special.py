"""``cr.special``, as ``torch.special``: the special functions chainrule has (differentiable,
composed from its ops), under PyTorch's names.

``expit`` is ``sigmoid``, ``psi`` is ``digamma``, ``gammaln`` is ``lgamma``; ``ndtr``,
``ndtri``, ``log_ndtr``, ``entr``, ``xlog1py`` and ``multigammaln`` are one-liners over the
registered ops. The Bessel functions, the orthogonal polynomials, ``zeta``, ``erfcx`` and the
incomplete gamma functions are names only: calling one raises ``NotImplementedError`` that says
so and where to compute it (``scipy.special``, on arrays, without a gradient).
"""

from __future__ import annotations

import math
from typing import Any

from chainrule import ops as E
from chainrule.autograd.tensor import Tensor
from chainrule.ops import digamma, erf, erfc, erfinv, exp2, lgamma, logit, polygamma, sinc, xlogy

__all__ = ["digamma", "entr", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammaln",
           "log1p", "log_ndtr", "log_softmax", "logit", "logsumexp", "multigammaln", "ndtr",
           "ndtri", "polygamma", "psi", "round", "sinc", "softmax", "xlog1py", "xlogy"]

_SQRT2 = math.sqrt(2.0)


def _t(x: Any) -> Tensor:
    from chainrule.autograd.factories import as_tensor

    return x if isinstance(x, Tensor) else as_tensor(x)


def expit(input: Any) -> Tensor:
    """The logistic sigmoid ``1 / (1 + exp(-x))`` (``torch.special.expit``)."""
    return E.sigmoid(input)


def psi(input: Any) -> Tensor:
    """``digamma`` under its other name."""
    return digamma(input)


def gammaln(input: Any) -> Tensor:
    """``log |Gamma(x)|``: ``lgamma`` under SciPy's name."""
    return lgamma(input)


def expm1(input: Any) -> Tensor:
    """``exp(x) - 1``, accurate near 0."""
    return E.expm1(input)


def log1p(input: Any) -> Tensor:
    """``log(1 + x)``, accurate near 0."""
    return E.log1p(input)


def round(input: Any, *, decimals: int = 0) -> Tensor:
    """Round half to even, to ``decimals`` places (``torch.special.round``)."""
    return E.round(input, decimals)


def logsumexp(input: Any, dim: Any, keepdim: bool = False) -> Tensor:
    """``log(sum(exp(x)))`` over ``dim``, computed stably."""
    return E.logsumexp(input, dim, keepdim)


def softmax(input: Any, dim: int, *, dtype: Any = None) -> Tensor:
    """Softmax over ``dim`` (``input`` cast to ``dtype`` first when given)."""
    return E.softmax(_t(input) if dtype is None else _t(input).to(dtype), dim)


def log_softmax(input: Any, dim: int, *, dtype: Any = None) -> Tensor:
    """Log-softmax over ``dim`` (``input`` cast to ``dtype`` first when given)."""
    return E.log_softmax(_t(input) if dtype is None else _t(input).to(dtype), dim)


def ndtr(input: Any) -> Tensor:
    """The standard normal CDF, ``(1 + erf(x / sqrt(2))) / 2``."""
    return E.mul(E.add(erf(E.div(_t(input), _SQRT2)), 1.0), 0.5)


def ndtri(input: Any) -> Tensor:
    """The inverse of ``ndtr``, ``sqrt(2) erfinv(2p - 1)``."""
    return E.mul(erfinv(E.sub(E.mul(_t(input), 2.0), 1.0)), _SQRT2)


def log_ndtr(input: Any) -> Tensor:
    """``log(ndtr(x))``, as ``log(erfc(-x / sqrt(2)) / 2)`` (accurate for negative x down to
    about -37 in float64, where erfc underflows)."""
    return E.log(E.mul(erfc(E.div(_t(input), -_SQRT2)), 0.5))


def entr(input: Any) -> Tensor:
    """Elementwise entropy: ``-x log(x)`` for x > 0, 0 at 0, ``-inf`` for x < 0."""
    x = _t(input)
    pos = x > 0
    safe = E.where(pos, x, 1.0)
    return E.where(pos, E.neg(E.mul(x, E.log(safe))), E.where(x == 0, 0.0, -math.inf))


def xlog1py(input: Any, other: Any) -> Tensor:
    """``x * log1p(y)``, 0 where ``x`` is 0 and ``y`` is not NaN (as SciPy's)."""
    x, y = _t(input), _t(other)
    undefined = (x == 0) & (y <= -1)  # log1p(y) is -inf or NaN there; the product is 0
    return E.mul(x, E.log1p(E.where(undefined, 0.0, y)))


def multigammaln(input: Any, p: int) -> Tensor:
    """The log of the multivariate gamma function of dimension ``p``:
    ``p (p - 1) / 4 log(pi) + sum_{j<p} lgamma(x - j / 2)``."""
    x = _t(input)
    if bool((x <= (p - 1) / 2).any()):
        raise RuntimeError(f"All elements must be greater than (p-1)/2 = {(p - 1) / 2}")
    out = E.add(lgamma(x), p * (p - 1) / 4 * math.log(math.pi))
    for j in range(1, p):
        out = E.add(out, lgamma(E.sub(x, j / 2)))
    return out


_NOT_HERE = ("airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1",
             "chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v",
             "chebyshev_polynomial_w", "erfcx", "gammainc", "gammaincc", "hermite_polynomial_h",
             "hermite_polynomial_he", "i0", "i0e", "i1", "i1e", "laguerre_polynomial_l",
             "legendre_polynomial_p", "modified_bessel_i0", "modified_bessel_i1",
             "modified_bessel_k0", "modified_bessel_k1", "scaled_modified_bessel_k0",
             "scaled_modified_bessel_k1", "shifted_chebyshev_polynomial_t",
             "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
             "shifted_chebyshev_polynomial_w", "spherical_bessel_j0", "zeta")


def _not_here(name: str) -> Any:
    scipy_name = {"bessel_j0": "j0", "bessel_j1": "j1", "bessel_y0": "y0", "bessel_y1": "y1",
                  "modified_bessel_i0": "i0", "modified_bessel_i1": "i1",
                  "modified_bessel_k0": "k0", "modified_bessel_k1": "k1",
                  "scaled_modified_bessel_k0": "k0e", "scaled_modified_bessel_k1": "k1e",
                  "spherical_bessel_j0": "spherical_jn(0, x)", "airy_ai": "airy(x)[0]",
                  "hermite_polynomial_h": "eval_hermite", "hermite_polynomial_he":
                  "eval_hermitenorm", "laguerre_polynomial_l": "eval_laguerre",
                  "legendre_polynomial_p": "eval_legendre"}.get(name, name)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"cr.special.{name} is not implemented in chainrule (there is no op for it); "
            f"compute it on arrays with scipy.special.{scipy_name} (no gradient), e.g. "
            "cr.tensor(scipy.special...(x.detach().numpy()))")

    refuse.__name__ = refuse.__qualname__ = name
    refuse.__doc__ = "Not implemented in chainrule: raises (see ``scipy.special``)."
    return refuse


for _name in _NOT_HERE:
    globals()[_name] = _not_here(_name)
