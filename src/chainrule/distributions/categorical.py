"""The categorical distribution over ``0 .. K-1``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.distributions.bernoulli import logits_to_probs, probs_to_logits
from chainrule.distributions.distribution import Distribution, as_param
from chainrule.random import generator_of

__all__ = ["Categorical"]


class Categorical(Distribution):
    """``Categorical(probs=None, logits=None)`` (exactly one; the last dimension indexes the K
    categories), as ``torch.distributions.Categorical``. ``probs`` are normalised to sum to 1,
    ``logits`` to ``logits - logsumexp(logits)``. ``sample()`` gives int64 indices of shape
    ``sample_shape + batch_shape``; ``log_prob(k) = logits[..., k]``;
    ``entropy() = -sum(p log p)``. No ``rsample``: the samples are discrete."""

    arg_constraints = {"probs": "simplex", "logits": "real"}
    support = "integer_interval"

    def __init__(self, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Categorical: either `probs` or `logits` must be specified, but "
                             "not both")
        if probs is not None:
            probs = as_param(probs)
            if probs.ndim < 1:
                raise ValueError("Categorical: `probs` parameter must be at least "
                                 "one-dimensional (the last dimension indexes the categories)")
            self.probs = probs / probs.sum(-1, keepdim=True)
            param = self.probs
        else:
            logits = as_param(logits)
            if logits.ndim < 1:
                raise ValueError("Categorical: `logits` parameter must be at least "
                                 "one-dimensional (the last dimension indexes the categories)")
            self.logits = logits - logits.logsumexp(-1, keepdim=True)
            param = self.logits
        self._num_events = param.shape[-1]
        super().__init__(tuple(param.shape[:-1]), (), validate_args)

    def __getattr__(self, name: str) -> Any:  # the parametrisation not given, computed once
        if name == "probs":
            self.probs = logits_to_probs(self.__dict__["logits"])
            return self.probs
        if name == "logits":
            self.logits = probs_to_logits(self.__dict__["probs"])
            return self.logits
        raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}")

    @property
    def param_shape(self) -> tuple[int, ...]:
        return (*self._batch_shape, self._num_events)

    @property
    def mean(self) -> Tensor:
        return _leaf(backend.xp.full(self._batch_shape, float("nan"), self.probs.dtype))

    @property
    def variance(self) -> Tensor:
        return self.mean

    @property
    def mode(self) -> Tensor:
        return self.probs.argmax(-1)

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        p = self.probs._data
        xp = backend.get_array_module(p)
        cdf = xp.cumsum(p, axis=-1)
        cdf = cdf / cdf[..., -1:]
        u = generator_of(None).random((*shape, 1))
        idx = (xp.broadcast_to(cdf, (*shape, self._num_events)) <= u).sum(-1)
        return _leaf(xp.minimum(idx, self._num_events - 1).astype(backend.int64))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        v = value._data if isinstance(value, Tensor) else backend.xp.asarray(value)
        xp = backend.get_array_module(v)
        shape = backend.broadcast_shapes(v.shape, self._batch_shape)
        idx = xp.broadcast_to(v.astype(backend.int64), shape)[..., None]
        logits = self.logits.expand((*shape, self._num_events))
        return logits.gather(-1, _leaf(xp.ascontiguousarray(idx))).squeeze(-1)

    def entropy(self) -> Tensor:
        lo = float(backend.xp.finfo(self.logits.dtype).min)
        return -(self.logits.clamp(min=lo) * self.probs).sum(-1)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        xp = backend.xp
        vals = xp.arange(self._num_events, dtype=backend.int64).reshape(
            (-1,) + (1,) * len(self._batch_shape))
        if expand:
            vals = xp.broadcast_to(vals, (self._num_events, *self._batch_shape)).copy()
        return _leaf(vals)
