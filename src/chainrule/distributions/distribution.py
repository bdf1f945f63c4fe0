"""``Distribution``: the base class (PyTorch's ``torch.distributions.Distribution`` contract).

Parameters are Tensors (numbers become tensors of the default dtype) broadcast to one
``batch_shape``; ``sample(sample_shape)`` returns ``sample_shape + batch_shape + event_shape``
without a graph, ``rsample`` (where a distribution has one) returns a reparameterised,
differentiable sample. Arguments are validated as PyTorch validates them (``validate_args``,
default True, or ``Distribution.set_default_validate_args(False)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.dtypes import get_default_dtype
from chainrule.autograd.tensor import Tensor, _leaf

__all__ = ["Distribution"]


def as_param(v: Any, dtype: Any = None) -> Tensor:
    """``v`` as a floating Tensor (a Tensor is kept, graph and all)."""
    if isinstance(v, Tensor):
        return v if v.dtype.kind == "f" else v.to(get_default_dtype())
    return _leaf(backend.xp.asarray(v, dtype=dtype or get_default_dtype()))


def broadcast_all(*values: Any) -> list[Tensor]:
    """The parameters as tensors of one shape (their broadcast), keeping their graphs."""
    ts = [v for v in values if isinstance(v, Tensor)]
    dtype = ts[0].dtype if ts else None
    params = [as_param(v, dtype) for v in values]
    shape = backend.broadcast_shapes(*(p.shape for p in params))
    return [p if tuple(p.shape) == shape else p.expand(shape) for p in params]


def _fmt(v: Any) -> str:
    return f"Tensor of shape {tuple(v.shape)}" if isinstance(v, Tensor) else repr(v)


class Distribution:
    """Base class of the probability distributions in ``cr.distributions``."""

    has_rsample = False
    _validate_default = True
    arg_constraints: dict[str, str] = {}
    support = "real"

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        """Turn argument validation on or off for distributions made afterwards."""
        Distribution._validate_default = bool(value)

    def __init__(self, batch_shape: Sequence[int] = (), event_shape: Sequence[int] = (),
                 validate_args: bool | None = None) -> None:
        self._batch_shape = tuple(batch_shape)
        self._event_shape = tuple(event_shape)
        self._validate_args = (Distribution._validate_default if validate_args is None
                               else bool(validate_args))
        if self._validate_args:
            for name, constraint in self.arg_constraints.items():
                if name in self.__dict__:  # not the parametrisation computed from the other
                    self._check(name, self.__dict__[name], constraint, "parameter")

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

    # -- validation -------------------------------------------------------------------------
    def _check(self, name: str, value: Any, constraint: str, kind: str) -> None:
        a = value._data if isinstance(value, Tensor) else backend.xp.asarray(value)
        xp = backend.get_array_module(a)
        ok = {
            "real": lambda: xp.isfinite(a) | xp.isinf(a),
            "positive": lambda: a > 0,
            "unit_interval": lambda: (a >= 0) & (a <= 1),
            "boolean": lambda: (a == 0) | (a == 1),
            "simplex": lambda: xp.broadcast_to(
                xp.all(a >= 0, axis=-1, keepdims=True)
                & (xp.abs(a.sum(-1, keepdims=True) - 1) < 1e-6), a.shape),
            "nonnegative": lambda: a >= 0,
            "integer_interval": lambda: (a >= 0) & (a < self._num_events) & (a == xp.floor(a)),
        }[constraint]()
        if not bool(xp.all(ok)):
            what = {"real": "Real()", "positive": "GreaterThan(lower_bound=0.0)",
                    "unit_interval": "Interval(lower_bound=0.0, upper_bound=1.0)",
                    "boolean": "Boolean()", "simplex": "Simplex()",
                    "nonnegative": "GreaterThanEq(lower_bound=0.0)",
                    "integer_interval": f"IntegerInterval(lower_bound=0, upper_bound="
                                        f"{getattr(self, '_num_events', 0) - 1})"}[constraint]
            bad = a[~ok] if a.ndim else a
            if kind == "parameter":
                raise ValueError(f"Expected parameter {name} ({_fmt(value)}) of distribution "
                                 f"{self!r} to satisfy the constraint {what}, but found invalid "
                                 f"values: {bad}")
            raise ValueError(f"Expected value argument ({_fmt(value)}) to be within the support "
                             f"({what}) of the distribution {self!r}, but found invalid "
                             f"values: {bad}")

    def _validate_sample(self, value: Any) -> None:
        if not isinstance(value, Tensor):
            raise ValueError(f"{type(self).__name__}.log_prob: the value must be a Tensor, got "
                             f"{type(value).__name__}")
        shape = tuple(value.shape)
        ev = self._event_shape
        if len(shape) < len(ev) or (ev and shape[-len(ev):] != ev):
            raise ValueError(f"{type(self).__name__}.log_prob: the value's shape {shape} must end "
                             f"with the event shape {ev}")
        try:
            backend.broadcast_shapes(shape, self._batch_shape + ev)
        except ValueError:
            raise ValueError(f"{type(self).__name__}.log_prob: the value's shape {shape} is not "
                             f"broadcastable with the batch shape {self._batch_shape}") from None
        self._check("value", value, self.support, "value")

    # -- the interface ----------------------------------------------------------------------
    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """A sample (no graph): shape ``sample_shape + batch_shape + event_shape``."""
        from chainrule.autograd.grad_mode import no_grad

        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no reparameterised sample "
                                  "(rsample): its samples are discrete, so no gradient flows "
                                  "through them; use sample() and a score-function estimator "
                                  "(log_prob(sample) * reward)")

    def sample_n(self, n: int) -> Tensor:
        return self.sample((n,))

    def log_prob(self, value: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.log_prob is not implemented")

    def entropy(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.entropy is not implemented")

    def perplexity(self) -> Tensor:
        return self.entropy().exp()

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.mean is not implemented")

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__}.variance is not implemented")

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def __repr__(self) -> str:
        vals = [(k, self.__dict__[k]) for k in self.arg_constraints if k in self.__dict__]
        args = ", ".join(f"{k}: {v.item() if v.ndim == 0 else tuple(v.shape)}" for k, v in vals)
        return f"{type(self).__name__}({args})"


LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))
