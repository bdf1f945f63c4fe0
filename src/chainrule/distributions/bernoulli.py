"""The Bernoulli distribution: 1 with probability ``probs``, else 0."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.distributions import constraints
from chainrule.distributions.distribution import Distribution
from chainrule.distributions.utils import (
    broadcast_all,
    lazy_property,
    logits_to_probs,
    probs_to_logits,
)
from chainrule.nn.functional import binary_cross_entropy_with_logits
from chainrule.random import generator_of

__all__ = ["Bernoulli", "ProbsOrLogits", "logits_to_probs", "probs_to_logits"]


class ProbsOrLogits(Distribution):
    """A distribution given by ``probs`` or ``logits`` (exactly one): the other is computed on
    first use (``lazy_property``). ``_binary``: sigmoid/logit (Bernoulli, Geometric, ...)
    rather than softmax/log over the last dimension."""

    _binary = True

    def _init_param(self, probs: Any, logits: Any) -> Tensor:
        if (probs is None) == (logits is None):
            raise ValueError(f"{type(self).__name__}: either `probs` or `logits` must be "
                             "specified, but not both")
        if probs is not None:
            (self.probs,) = broadcast_all(probs)
            return self.probs
        (self.logits,) = broadcast_all(logits)
        return self.logits

    @lazy_property
    def logits(self) -> Tensor:
        return probs_to_logits(self.probs, is_binary=self._binary)

    @lazy_property
    def probs(self) -> Tensor:
        return logits_to_probs(self.logits, is_binary=self._binary)

    @property
    def _param(self) -> Tensor:
        return self.__dict__["probs"] if "probs" in self.__dict__ else self.__dict__["logits"]

    @property
    def param_shape(self) -> tuple[int, ...]:
        return tuple(self._param.shape)


class Bernoulli(ProbsOrLogits):
    """``Bernoulli(probs=None, logits=None)`` (exactly one), as ``torch.distributions.Bernoulli``.
    ``sample()`` gives floats 0. and 1.; ``log_prob(v) = v log p + (1 - v) log(1 - p)``
    (computed from the logits, stably). No ``rsample``: the samples are discrete."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        param = self._init_param(probs, logits)
        super().__init__(tuple(param.shape), (), validate_args)

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        mode = (self.probs >= 0.5).to(self.probs.dtype)
        return mode.masked_fill((self.probs == 0.5).detach()._data, float("nan"))

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with no_grad():
            p = self.probs._data
        u = generator_of(None).random(shape)
        return _leaf((u < p).astype(p.dtype))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        return -binary_cross_entropy_with_logits(logits, value, reduction="none")

    def entropy(self) -> Tensor:
        return binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")

    def enumerate_support(self, expand: bool = True) -> Tensor:
        vals = backend.xp.arange(2, dtype=self._param.dtype).reshape(
            (-1,) + (1,) * len(self._batch_shape))
        if expand:
            vals = backend.xp.broadcast_to(vals, (2, *self._batch_shape)).copy()
        return _leaf(vals)
