"""The categorical distribution over ``0 .. K-1``, and its one-hot form."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.distributions import constraints
from chainrule.distributions.bernoulli import ProbsOrLogits
from chainrule.distributions.distribution import Distribution
from chainrule.distributions.utils import as_param
from chainrule.random import generator_of

__all__ = ["Categorical", "CategoricalParams", "OneHotCategorical"]


class Categorical(ProbsOrLogits):
    """``Categorical(probs=None, logits=None)`` (exactly one; the last dimension indexes the K
    categories), as ``torch.distributions.Categorical``. ``probs`` are normalised to sum to 1,
    ``logits`` to ``logits - logsumexp(logits)``. ``sample()`` gives int64 indices of shape
    ``sample_shape + batch_shape``; ``log_prob(k) = logits[..., k]``;
    ``entropy() = -sum(p log p)``. No ``rsample``: the samples are discrete."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    has_enumerate_support = True
    _binary = False

    def __init__(self, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError(f"{type(self).__name__}: either `probs` or `logits` must be "
                             "specified, but not both")
        kind = "probs" if probs is not None else "logits"
        param = as_param(probs if probs is not None else logits)
        if param.ndim < 1:
            raise ValueError(f"{type(self).__name__}: `{kind}` parameter must be at least "
                             "one-dimensional (the last dimension indexes the categories)")
        with backend.xp.errstate(divide="ignore", invalid="ignore"):  # validation reports
            if kind == "probs":
                self.probs = param / param.sum(-1, keepdim=True)
            else:
                self.logits = param - param.logsumexp(-1, keepdim=True)
        self._num_events = param.shape[-1]
        super().__init__(tuple(param.shape[:-1]), (), validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self) -> constraints.Constraint:
        return constraints.integer_interval(0, self._num_events - 1)

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


class CategoricalParams(Distribution):
    """A distribution over K-vectors parametrised by a ``Categorical`` (``self._categorical``):
    the one-hot and the relaxed categoricals. Event shape ``(K,)``."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    _batched = ("_categorical",)

    def _init_categorical(self, probs: Any, logits: Any, validate_args: bool | None) -> None:
        self._categorical = Categorical(probs, logits, validate_args=validate_args)
        Distribution.__init__(self, self._categorical.batch_shape,
                              self._categorical.param_shape[-1:], validate_args)

    @property
    def probs(self) -> Tensor:
        return self._categorical.probs

    @property
    def logits(self) -> Tensor:
        return self._categorical.logits

    @property
    def _param(self) -> Tensor:
        return self._categorical._param

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._categorical.param_shape


class OneHotCategorical(CategoricalParams):
    """``OneHotCategorical(probs=None, logits=None)``, as ``torch.distributions.OneHotCategorical``:
    a categorical whose samples are one-hot vectors (event shape ``(K,)``, the probs' dtype);
    ``log_prob(v)`` reads the category at ``v``'s argmax. No ``rsample`` (see
    ``RelaxedOneHotCategorical`` for a differentiable relaxation)."""

    support = constraints.one_hot
    has_enumerate_support = True

    def __init__(self, probs: Any = None, logits: Any = None,
                 validate_args: bool | None = None) -> None:
        self._init_categorical(probs, logits, validate_args)

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        return self._one_hot(self._categorical.mode)

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def _one_hot(self, idx: Tensor) -> Tensor:
        xp = backend.get_array_module(idx._data)
        return _leaf(xp.eye(self._event_shape[0], dtype=self._param.dtype)[idx._data])

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        return self._one_hot(self._categorical.sample(sample_shape))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return self._categorical.log_prob(value.argmax(-1))

    def entropy(self) -> Tensor:
        return self._categorical.entropy()

    def enumerate_support(self, expand: bool = True) -> Tensor:
        n = self._event_shape[0]
        xp = backend.xp
        vals = xp.eye(n, dtype=self._param.dtype).reshape((n,) + (1,) * len(self._batch_shape)
                                                          + (n,))
        if expand:
            vals = xp.broadcast_to(vals, (n, *self._batch_shape, n)).copy()
        return _leaf(vals)
