"""``Distribution``: the base class (PyTorch's ``torch.distributions.Distribution`` contract).

Parameters are Tensors (numbers become tensors of the default dtype) broadcast to one
``batch_shape``; ``sample(sample_shape)`` returns ``sample_shape + batch_shape + event_shape``
without a graph, ``rsample`` (where ``has_rsample``) a reparameterised sample, differentiable
in the parameters. Arguments are validated as PyTorch validates them, with its messages
(``validate_args``, default True, or ``Distribution.set_default_validate_args(False)``):
parameters against ``arg_constraints`` when made, values against ``support`` in ``log_prob``,
``cdf``. ``expand(batch_shape)`` broadcasts the parameters (no copy) for every distribution
whose tensors are its ``arg_constraints``; the others override it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.distributions import constraints
from chainrule.distributions.utils import broadcast_all, lazy_property

__all__ = ["Distribution"]


class Distribution:
    """Base class of the probability distributions in ``cr.distributions``."""

    has_rsample = False
    has_enumerate_support = False
    _validate_default = True
    arg_constraints: dict[str, constraints.Constraint] = {}
    support: Any = constraints.real
    _batched: tuple[str, ...] = ()  # batched attributes ``expand`` broadcasts beside the
    #                                 parameters: tensors, or inner distributions

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        """Turn argument validation on or off for distributions made afterwards."""
        if value not in (True, False):
            raise ValueError(f"set_default_validate_args: expected True or False, got {value!r}")
        Distribution._validate_default = bool(value)

    def __init__(self, batch_shape: Sequence[int] = (), event_shape: Sequence[int] = (),
                 validate_args: bool | None = None) -> None:
        self._batch_shape = tuple(batch_shape)
        self._event_shape = tuple(event_shape)
        self._validate_args = (Distribution._validate_default if validate_args is None
                               else bool(validate_args))
        if self._validate_args:
            for name, constraint in self.arg_constraints.items():
                if constraints.is_dependent(constraint):
                    continue
                if name not in self.__dict__ and isinstance(getattr(type(self), name, None),
                                                            lazy_property):
                    continue  # the parametrisation not given, computed from the other
                value = getattr(self, name)
                if not bool(constraint.check(value).all()):
                    raise ValueError(
                        f"Expected parameter {name} ({type(value).__name__} of shape "
                        f"{tuple(value.shape)}) of distribution {self!r} to satisfy the "
                        f"constraint {constraint!r}, but found invalid values:\n{value}")

    def _set_params(self, validate_args: bool | None, **params: Any) -> None:
        """Store the parameters broadcast to one shape (numbers become tensors) and initialise
        the batch shape to it, validating them."""
        values = broadcast_all(*params.values())
        self.__dict__.update(zip(params, values))
        Distribution.__init__(self, tuple(values[0].shape), (), validate_args)

    # -- shapes -----------------------------------------------------------------------------
    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self._batch_shape

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self._event_shape

    def _extended_shape(self, sample_shape: Sequence[int] = ()) -> tuple[int, ...]:
        if isinstance(sample_shape, int):
            raise TypeError(f"{type(self).__name__}.sample: sample_shape must be a tuple such as "
                            f"({sample_shape},), got the int {sample_shape}")
        return tuple(sample_shape) + self._batch_shape + self._event_shape

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Distribution:
        """The same distribution with its batch broadcast to ``batch_shape`` (the parameters
        are expanded, not copied; no validation is repeated)."""
        batch_shape = tuple(batch_shape)
        new = object.__new__(type(self)) if _instance is None else _instance
        nb = len(self._batch_shape)
        batched = {*self.arg_constraints, *self._batched}
        computed = self.__dict__.get("_computed", ())
        for k, v in self.__dict__.items():
            if k in computed or k == "_computed":
                continue  # lazily computed: recomputed from the expanded parameters
            if k in batched:
                if isinstance(v, Tensor):
                    v = v.expand((*batch_shape, *v.shape[nb:]))
                elif isinstance(v, Distribution):
                    v = v.expand(batch_shape)
            new.__dict__[k] = v
        new._batch_shape = batch_shape
        return new

    # -- validation -------------------------------------------------------------------------
    def _validate_sample(self, value: Any) -> None:
        if not isinstance(value, Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        shape = tuple(value.shape)
        ev = self._event_shape
        if shape[len(shape) - len(ev):] != ev:
            raise ValueError(f"The right-most size of value must match event_shape: {shape} vs "
                             f"{ev}.")
        expected = self._batch_shape + ev
        for i, j in zip(reversed(shape), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(f"Value is not broadcastable with batch_shape+event_shape: "
                                 f"{shape} vs {expected}.")
        support = self.support
        if not bool(support.check(value).all()):
            raise ValueError(
                f"Expected value argument ({type(value).__name__} of shape {shape}) to be "
                f"within the support ({support!r}) of the distribution {self!r}, but found "
                f"invalid values:\n{value}")

    # -- the interface ----------------------------------------------------------------------
    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """A sample (no graph): shape ``sample_shape + batch_shape + event_shape``."""
        from chainrule.autograd.grad_mode import no_grad

        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no reparameterised sample "
                                  "(rsample): no gradient flows through its samples; use "
                                  "sample() and a score-function estimator "
                                  "(log_prob(sample) * reward)")

    def sample_n(self, n: int) -> Tensor:
        return self.sample((n,))

    def log_prob(self, value: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.log_prob is not implemented")

    def cdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.cdf is not implemented (as in "
                                  "PyTorch)")

    def icdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.icdf is not implemented (as in "
                                  "PyTorch)")

    def enumerate_support(self, expand: bool = True) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.enumerate_support is not "
                                  "implemented: its support is not finite")

    def entropy(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.entropy is not implemented")

    def perplexity(self) -> Tensor:
        return self.entropy().exp()

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.mean is not implemented")

    @property
    def mode(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement mode")

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.variance is not implemented")

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def __repr__(self) -> str:
        vals = [(k, self.__dict__[k]) for k in self.arg_constraints if k in self.__dict__]
        args = ", ".join(f"{k}: {_short(v)}" for k, v in vals)
        return f"{type(self).__name__}({args})"


def _short(v: Tensor) -> Any:
    """PyTorch's repr of a parameter: the number (0-d), the tensor (one element), else the
    shape."""
    return v.item() if v.ndim == 0 else v if v.numel() == 1 else tuple(v.shape)


LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))
