"""The gamma family: ``Gamma``, ``Chi2``, and the distributions drawn from gammas, ``Dirichlet``
and ``Beta``.

Reparameterised gamma samples come from the quantile function: x = ``gamma_quantile(a, u)``
(the op in ``chainrule/ops/gamma.py``) with u uniform, so d sample / d concentration is the
implicit reparameterisation gradient that PyTorch's ``_standard_gamma_grad`` approximates (here
to ~1e-9 relative). Dirichlet samples are normalised gammas and Beta samples the first coordinate
of a two-category Dirichlet, so their gradients are the pathwise gradients of those
constructions: unbiased, as PyTorch's, though not the same per sample (PyTorch differentiates
the Beta marginal's quantile, ``_dirichlet_grad``), so the two agree in expectation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.distributions import constraints
from chainrule.distributions.distribution import Distribution
from chainrule.distributions.utils import as_param, broadcast_all, uniform
from chainrule.ops import igamma, lgamma, stack, where, xlogy
from chainrule.ops.gamma import _gamma_quantile

__all__ = ["Beta", "Chi2", "Dirichlet", "Gamma", "standard_gamma"]


def standard_gamma(concentration: Tensor, shape: Sequence[int]) -> Tensor:
    """Gamma(concentration, 1) draws of ``shape`` (``concentration`` broadcast to it),
    differentiable in the concentration."""
    a = concentration.expand(tuple(shape))
    return _gamma_quantile(a, uniform(tuple(shape), a))


class Gamma(Distribution):
    """``Gamma(concentration, rate)``: density ``rate^a x^(a-1) e^(-rate x) / Gamma(a)``, as
    ``torch.distributions.Gamma``; ``rsample`` is differentiable in both parameters."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True
    _batched = ("concentration", "rate")

    def __init__(self, concentration: Any, rate: Any, validate_args: bool | None = None) -> None:
        self._set_params(validate_args, concentration=concentration, rate=rate)

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.rate

    @property
    def mode(self) -> Tensor:
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self) -> Tensor:
        return self.concentration / self.rate ** 2

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        return standard_gamma(self.concentration, shape) / self.rate.expand(shape)

    def log_prob(self, value: Tensor) -> Tensor:
        value = as_param(value, self.rate.dtype)
        if self._validate_args:
            self._validate_sample(value)
        a = self.concentration
        return (xlogy(a, self.rate) + xlogy(a - 1, value) - self.rate * value - lgamma(a))

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        a, x = broadcast_all(self.concentration, self.rate * value)
        return igamma(a, x)

    def entropy(self) -> Tensor:
        a = self.concentration
        return a - self.rate.log() + lgamma(a) + (1.0 - a) * a.digamma()


class Chi2(Gamma):
    """``Chi2(df)``: the chi-squared distribution, ``Gamma(df / 2, 1 / 2)``."""

    arg_constraints = {"df": constraints.positive}

    def __init__(self, df: Any, validate_args: bool | None = None) -> None:
        (df,) = broadcast_all(df)
        super().__init__(0.5 * df, 0.5, validate_args)

    @property
    def df(self) -> Tensor:
        return self.concentration * 2


class Dirichlet(Distribution):
    """``Dirichlet(concentration)`` on the simplex (event shape ``concentration.shape[-1:]``),
    as ``torch.distributions.Dirichlet``; ``rsample`` normalises reparameterised gammas."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration: Any, validate_args: bool | None = None) -> None:
        concentration = as_param(concentration)
        if concentration.ndim < 1:
            raise ValueError("Dirichlet: `concentration` parameter must be at least "
                             "one-dimensional (the last dimension indexes the categories)")
        self.concentration = concentration
        super().__init__(tuple(concentration.shape[:-1]), tuple(concentration.shape[-1:]),
                         validate_args)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        g = standard_gamma(self.concentration, self._extended_shape(sample_shape))
        return g / g.sum(-1, keepdim=True)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        a = self.concentration
        return xlogy(a - 1.0, value).sum(-1) + lgamma(a.sum(-1)) - lgamma(a).sum(-1)

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self) -> Tensor:
        am1 = (self.concentration - 1).clamp(min=0.0)
        all_below = (self.concentration < 1).all(-1, keepdim=True)._data
        xp = backend.get_array_module(all_below)
        with xp.errstate(invalid="ignore"):  # 0 / 0 where every a < 1: PyTorch's one-hot at 0
            mode = am1 / am1.sum(-1, keepdim=True)
        k = self._event_shape[0]
        first = _leaf(xp.eye(k, dtype=mode.dtype)[0])
        return where(_leaf(all_below), first, mode)

    @property
    def variance(self) -> Tensor:
        a = self.concentration
        a0 = a.sum(-1, keepdim=True)
        return a * (a0 - a) / (a0 ** 2 * (a0 + 1))

    def entropy(self) -> Tensor:
        a = self.concentration
        k = a.shape[-1]
        a0 = a.sum(-1)
        return (lgamma(a).sum(-1) - lgamma(a0) - (k - a0) * a0.digamma()
                - ((a - 1.0) * a.digamma()).sum(-1))


class Beta(Distribution):
    """``Beta(concentration1, concentration0)`` on [0, 1]: density proportional to
    ``x^(c1 - 1) (1 - x)^(c0 - 1)``, as ``torch.distributions.Beta`` (a two-category
    Dirichlet: ``rsample`` is its first coordinate)."""

    arg_constraints = {"concentration1": constraints.positive,
                       "concentration0": constraints.positive}
    support = constraints.unit_interval
    has_rsample = True
    _batched = ("_dirichlet",)

    def __init__(self, concentration1: Any, concentration0: Any,
                 validate_args: bool | None = None) -> None:
        c1, c0 = broadcast_all(concentration1, concentration0)
        self._dirichlet = Dirichlet(stack([c1, c0], -1), validate_args=validate_args)
        super().__init__(self._dirichlet.batch_shape, (), validate_args)

    @property
    def concentration1(self) -> Tensor:
        return self._dirichlet.concentration[..., 0]

    @property
    def concentration0(self) -> Tensor:
        return self._dirichlet.concentration[..., 1]

    @property
    def mean(self) -> Tensor:
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self) -> Tensor:
        return self._dirichlet.mode[..., 0]

    @property
    def variance(self) -> Tensor:
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total ** 2 * (total + 1))

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        return self._dirichlet.rsample(sample_shape)[..., 0]

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return self._dirichlet.log_prob(stack([value, 1.0 - value], -1))

    def entropy(self) -> Tensor:
        return self._dirichlet.entropy()
