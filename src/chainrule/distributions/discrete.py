"""Counts: ``Poisson``, ``Binomial`` and ``Geometric`` (sampled from chainrule's generator;
no ``rsample``: the samples are discrete)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.distributions import constraints
from chainrule.distributions.bernoulli import ProbsOrLogits
from chainrule.distributions.distribution import Distribution
from chainrule.distributions.utils import broadcast_all, finfo
from chainrule.nn.functional import binary_cross_entropy_with_logits
from chainrule.ops import lgamma, minimum, where, xlogy
from chainrule.random import generator_of

__all__ = ["Binomial", "Geometric", "Poisson"]


def _draw(fn: str, *params: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``generator.<fn>(*params)`` of ``shape`` (parameters broadcast to it), as floats of the
    first parameter's dtype."""
    with no_grad():
        arrays = [backend.xp.broadcast_to(p._data, shape) for p in params]
    out = getattr(generator_of(None), fn)(*arrays, size=shape)
    return _leaf(backend.xp.asarray(out, dtype=params[-1].dtype))


class Poisson(Distribution):
    """``Poisson(rate)``: ``P(k) = rate^k e^-rate / k!``, as ``torch.distributions.Poisson``
    (samples are floats; no entropy, as in PyTorch)."""

    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer

    def __init__(self, rate: Any, validate_args: bool | None = None) -> None:
        self._set_params(validate_args, rate=rate)

    @property
    def mean(self) -> Tensor:
        return self.rate

    @property
    def mode(self) -> Tensor:
        return self.rate.floor()

    @property
    def variance(self) -> Tensor:
        return self.rate

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        return _draw("poisson", self.rate, shape=self._extended_shape(sample_shape))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        rate, value = broadcast_all(self.rate, value)
        return xlogy(value, rate) - rate - lgamma(value + 1)


class Binomial(ProbsOrLogits):
    """``Binomial(total_count=1, probs=None, logits=None)``: successes in ``total_count``
    trials, as ``torch.distributions.Binomial``; ``log_prob`` is written with the logits
    (stable at probs near 0 and 1); ``entropy`` sums over the support (one total_count)."""

    arg_constraints = {"total_count": constraints.nonnegative_integer,
                       "probs": constraints.unit_interval, "logits": constraints.real}
    has_enumerate_support = True

    def __init__(self, total_count: Any = 1, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        param = self._init_param(probs, logits)
        self.total_count, param = broadcast_all(total_count, param)
        self.__dict__["probs" if probs is not None else "logits"] = param
        self.total_count = self.total_count.to(param.dtype)
        super().__init__(tuple(param.shape), (), validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self) -> constraints.Constraint:
        return constraints.integer_interval(0, self.total_count)

    @property
    def mean(self) -> Tensor:
        return self.total_count * self.probs

    @property
    def mode(self) -> Tensor:
        return minimum(((self.total_count + 1) * self.probs).floor(), self.total_count)

    @property
    def variance(self) -> Tensor:
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        n = self.total_count.detach().to(backend.int64)
        return _draw("binomial", n, self.probs, shape=self._extended_shape(sample_shape))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        n, logits = self.total_count, self.logits
        relu = (logits.clamp(min=0) + logits - logits.clamp(max=0)) / 2  # gradient 1/2 at 0
        log_norm = (n * relu + n * (-logits.abs()).exp().log1p()
                    - lgamma(n + 1))
        return value * logits - lgamma(value + 1) - lgamma(n - value + 1) - log_norm

    def entropy(self) -> Tensor:
        lp = self.log_prob(self.enumerate_support(False))
        return -(lp.exp() * lp).sum(0)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        n = self.total_count._data
        top = int(n.max()) if n.size else 0
        if n.size and int(n.min()) != top:
            raise NotImplementedError("Inhomogeneous total count not supported by "
                                      "`enumerate_support`.")
        xp = backend.get_array_module(n)
        vals = xp.arange(1 + top, dtype=self._param.dtype).reshape(
            (-1,) + (1,) * len(self._batch_shape))
        if expand:
            vals = xp.broadcast_to(vals, (1 + top, *self._batch_shape)).copy()
        return _leaf(vals)


class Geometric(ProbsOrLogits):
    """``Geometric(probs=None, logits=None)``: failures before the first success,
    ``P(k) = (1 - p)^k p``, as ``torch.distributions.Geometric``."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        param = self._init_param(probs, logits)
        super().__init__(tuple(param.shape), (), validate_args)
        if self._validate_args and probs is not None:
            bad = ~(self.probs > 0)._data
            if bad.any():
                raise ValueError(f"Expected parameter probs ({type(self.probs).__name__} of "
                                 f"shape {tuple(self.probs.shape)}) of distribution {self!r} to "
                                 f"be positive but found invalid values:\n"
                                 f"{_leaf(self.probs._data[bad])}")

    @property
    def mean(self) -> Tensor:
        return 1.0 / self.probs - 1.0

    @property
    def mode(self) -> Tensor:
        return (self.probs * 0.0).detach()

    @property
    def variance(self) -> Tensor:
        return (1.0 / self.probs - 1.0) / self.probs

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with no_grad():
            p = self.probs._data
        xp = backend.get_array_module(p)
        tiny = float(finfo(self.probs).tiny)
        u = (generator_of(None).random(shape) * (1 - tiny) + tiny).astype(p.dtype, copy=False)
        with xp.errstate(divide="ignore"):  # p = 1: log1p(-1) = -inf, and the draw is 0
            return _leaf(xp.floor(xp.log(u) / xp.log1p(-p)))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        value, probs = broadcast_all(value, self.probs)
        certain = ((probs == 1) & (value == 0)).detach()
        probs = where(certain, 0.0, probs)
        return value * (-probs).log1p() + self.probs.log()

    def entropy(self) -> Tensor:
        bce = binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")
        return bce / self.probs

