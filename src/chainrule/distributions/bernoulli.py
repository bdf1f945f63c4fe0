"""The Bernoulli distribution: 1 with probability ``probs``, else 0."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.distributions.distribution import Distribution, broadcast_all
from chainrule.nn.functional import binary_cross_entropy_with_logits
from chainrule.random import generator_of

__all__ = ["Bernoulli", "logits_to_probs", "probs_to_logits"]


def _eps(t: Tensor) -> float:
    return 1.1920928955078125e-07 if t.dtype.itemsize == 4 else 2.220446049250313e-16


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """``log(p) - log(1 - p)`` (binary) or ``log(p)``, with ``p`` clamped away from 0 and 1."""
    e = _eps(probs)
    p = probs.clamp(e, 1 - e)
    return (p.log() - (-p).log1p()) if is_binary else p.log()


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """``sigmoid(logits)`` (binary) or ``softmax(logits, -1)``."""
    return logits.sigmoid() if is_binary else logits.softmax(-1)


class Bernoulli(Distribution):
    """``Bernoulli(probs=None, logits=None)`` (exactly one), as ``torch.distributions.Bernoulli``.
    ``sample()`` gives floats 0. and 1.; ``log_prob(v) = v log p + (1 - v) log(1 - p)``
    (computed from the logits, stably). No ``rsample``: the samples are discrete."""

    arg_constraints = {"probs": "unit_interval", "logits": "real"}
    support = "boolean"

    def __init__(self, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Bernoulli: either `probs` or `logits` must be specified, but not "
                             "both")
        if probs is not None:
            (self.probs,) = broadcast_all(probs)
            shape = self.probs.shape
        else:
            (self.logits,) = broadcast_all(logits)
            shape = self.logits.shape
        super().__init__(tuple(shape), (), validate_args)

    def __getattr__(self, name: str) -> Any:  # the parametrisation not given, computed once
        if name == "probs":
            self.probs = logits_to_probs(self.__dict__["logits"], is_binary=True)
            return self.probs
        if name == "logits":
            self.logits = probs_to_logits(self.__dict__["probs"], is_binary=True)
            return self.logits
        raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}")

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._batch_shape

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        return (self.probs >= 0.5).to(self.probs.dtype)

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
