"""Location-scale families beside ``Normal``: ``Laplace``, ``Cauchy`` and ``StudentT``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.distributions import constraints
from chainrule.distributions.distribution import Distribution
from chainrule.distributions.gamma import Chi2
from chainrule.distributions.utils import broadcast_all, finfo, standard_normal, uniform
from chainrule.ops import lgamma, where
from chainrule.random import generator_of

__all__ = ["Cauchy", "Laplace", "StudentT"]


class LocScale(Distribution):
    """A distribution with a real ``loc`` and a positive ``scale``."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc: Any, scale: Any, validate_args: bool | None = None) -> None:
        self._set_params(validate_args, loc=loc, scale=scale)

    @property
    def mode(self) -> Tensor:
        return self.loc

    def _full(self, value: float) -> Tensor:
        return _leaf(backend.xp.full(self._extended_shape(), value, self.loc.dtype))


class Laplace(LocScale):
    """``Laplace(loc, scale)``: density ``exp(-|x - loc| / scale) / (2 scale)``, as
    ``torch.distributions.Laplace``; ``rsample`` by the inverse CDF of a uniform draw."""

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return 2 * self.scale ** 2

    @property
    def stddev(self) -> Tensor:
        return 2 ** 0.5 * self.scale

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        u = uniform(self._extended_shape(sample_shape), self.loc, float(finfo(self.loc).eps) - 1)
        return self.loc - self.scale * u.sign() * (-u.abs()).log1p()

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return -(2 * self.scale).log() - (value - self.loc).abs() / self.scale

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        d = value - self.loc
        return 0.5 - 0.5 * d.sign() * (-d.abs() / self.scale).expm1()

    def icdf(self, value: Tensor) -> Tensor:
        term = value - 0.5
        return self.loc - self.scale * term.sign() * (-2 * term.abs()).log1p()

    def entropy(self) -> Tensor:
        return 1 + (2 * self.scale).log()


class Cauchy(LocScale):
    """``Cauchy(loc, scale)``: density ``1 / (pi scale (1 + ((x - loc) / scale)^2))``, as
    ``torch.distributions.Cauchy`` (mean NaN, variance inf)."""

    @property
    def mean(self) -> Tensor:
        return self._full(math.nan)

    @property
    def variance(self) -> Tensor:
        return self._full(math.inf)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        eps = generator_of(None).standard_cauchy(shape).astype(self.loc.dtype, copy=False)
        return self.loc + _leaf(eps) * self.scale

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return (-math.log(math.pi) - self.scale.log()
                - (((value - self.loc) / self.scale) ** 2).log1p())

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return ((value - self.loc) / self.scale).atan() / math.pi + 0.5

    def icdf(self, value: Tensor) -> Tensor:
        return (math.pi * (value - 0.5)).tan() * self.scale + self.loc

    def entropy(self) -> Tensor:
        return math.log(4 * math.pi) + self.scale.log()


class StudentT(LocScale):
    """``StudentT(df, loc=0., scale=1.)``, as ``torch.distributions.StudentT``; ``rsample`` is
    ``loc + scale X / sqrt(Z / df)`` with X ~ N(0, 1) and Z ~ Chi2(df) reparameterised, so it
    is differentiable in ``df`` too."""

    arg_constraints = {"df": constraints.positive, "loc": constraints.real,
                       "scale": constraints.positive}
    _batched = ("_chi2",)

    def __init__(self, df: Any, loc: Any = 0.0, scale: Any = 1.0,
                 validate_args: bool | None = None) -> None:
        self.df, self.loc, self.scale = broadcast_all(df, loc, scale)
        self._chi2 = Chi2(self.df)
        Distribution.__init__(self, tuple(self.df.shape), (), validate_args)

    @property
    def mean(self) -> Tensor:
        return where((self.df <= 1).detach(), math.nan, self.loc)

    @property
    def variance(self) -> Tensor:
        df = self.df
        big = (df > 2).detach()
        safe = where(big, df, 3.0)
        var = where(big, self.scale ** 2 * safe / (safe - 2), math.inf)
        return where((df <= 1).detach(), math.nan, var)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        x = standard_normal(self._extended_shape(sample_shape), self.df)
        z = self._chi2.rsample(sample_shape)
        return self.loc + self.scale * x * (z / self.df).rsqrt()

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        df = self.df
        y = (value - self.loc) / self.scale
        z = (self.scale.log() + 0.5 * df.log() + 0.5 * math.log(math.pi)
             + lgamma(0.5 * df) - lgamma(0.5 * (df + 1.0)))
        return -0.5 * (df + 1.0) * (y ** 2 / df).log1p() - z

    def entropy(self) -> Tensor:
        df = self.df
        lbeta = lgamma(0.5 * df) + math.lgamma(0.5) - lgamma(0.5 * (df + 1))
        return (self.scale.log() + 0.5 * (df + 1) * ((0.5 * (df + 1)).digamma()
                                                    - (0.5 * df).digamma())
                + 0.5 * df.log() + lbeta)
