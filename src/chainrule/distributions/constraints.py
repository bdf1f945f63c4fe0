"""Constraints: the sets that parameters and values of distributions live in, with PyTorch's
names and reprs (``torch.distributions.constraints``). ``constraint.check(value)`` returns a
bool Tensor over the batch (the ``event_dim`` rightmost dimensions are reduced); it is what
``validate_args`` runs on parameters (``arg_constraints``) and on values (``support``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule import backend
from chainrule.autograd.tensor import Tensor, _leaf

__all__ = [
    "Constraint", "boolean", "dependent", "dependent_property", "greater_than",
    "greater_than_eq", "half_open_interval", "independent", "integer_interval", "interval",
    "is_dependent", "less_than", "lower_cholesky", "lower_triangular", "nonnegative",
    "nonnegative_integer", "one_hot", "positive", "positive_definite", "positive_integer",
    "real", "real_vector", "simplex", "square", "symmetric", "unit_interval",
]


def _arr(v: Any) -> Any:
    """The raw array (or number) behind a value or a bound."""
    return v._data if isinstance(v, Tensor) else v


def _xp(*vs: Any) -> Any:
    return backend.get_array_module(*(a for a in map(_arr, vs) if hasattr(a, "shape")))


def _fmt_bound(b: Any) -> str:
    return repr(b) if not isinstance(b, Tensor) else str(b)


class Constraint:
    """A set of values: ``check(value)`` says, per batch element, whether ``value`` is in it."""

    is_discrete = False
    event_dim = 0

    def check(self, value: Any) -> Tensor:
        """A bool Tensor of shape ``value.shape[:value.ndim - event_dim]``."""
        xp = _xp(value)
        with xp.errstate(invalid="ignore"):  # NaN and inf fail the check, silently
            return _leaf(xp.asarray(self._check(xp, xp.asarray(_arr(value)))))

    def _check(self, xp: Any, a: Any) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return type(self).__name__[1:] + "()"


class _Dependent(Constraint):
    """A placeholder for a constraint that depends on other parameters (cannot be checked)."""

    def __init__(self, *, is_discrete: Any = NotImplemented, event_dim: Any = NotImplemented):
        self._is_discrete = is_discrete
        self._event_dim = event_dim

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        if self._is_discrete is NotImplemented:
            raise NotImplementedError(".is_discrete cannot be determined statically")
        return self._is_discrete

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        if self._event_dim is NotImplemented:
            raise NotImplementedError(".event_dim cannot be determined statically")
        return self._event_dim

    def __call__(self, *, is_discrete: Any = NotImplemented,
                 event_dim: Any = NotImplemented) -> _Dependent:
        return _Dependent(
            is_discrete=self._is_discrete if is_discrete is NotImplemented else is_discrete,
            event_dim=self._event_dim if event_dim is NotImplemented else event_dim)

    def check(self, value: Any) -> Tensor:
        raise ValueError("Cannot determine validity of dependent constraint")


def is_dependent(constraint: Any) -> bool:
    return isinstance(constraint, _Dependent)


class _DependentProperty(property, _Dependent):
    """``@constraints.dependent_property(is_discrete=..., event_dim=...)``: a property (e.g. a
    ``support`` that depends on the parameters) that reads as a dependent constraint on the
    class."""

    def __init__(self, fn: Callable[..., Any] | None = None, *, is_discrete: Any = NotImplemented,
                 event_dim: Any = NotImplemented) -> None:
        property.__init__(self, fn)
        self._is_discrete = is_discrete
        self._event_dim = event_dim

    def __call__(self, fn: Callable[..., Any]) -> _DependentProperty:  # type: ignore[override]
        return _DependentProperty(fn, is_discrete=self._is_discrete, event_dim=self._event_dim)


class _IndependentConstraint(Constraint):
    """``base_constraint`` with ``reinterpreted_batch_ndims`` more dimensions in its event."""

    def __init__(self, base_constraint: Constraint, reinterpreted_batch_ndims: int) -> None:
        if not isinstance(base_constraint, Constraint) or reinterpreted_batch_ndims < 0:
            raise ValueError("independent(base_constraint, n): a Constraint and an int n >= 0, "
                             f"got {base_constraint!r}, {reinterpreted_batch_ndims!r}")
        self.base_constraint = base_constraint
        self.reinterpreted_batch_ndims = int(reinterpreted_batch_ndims)

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return self.base_constraint.is_discrete

    @property
    def event_dim(self) -> int:  # type: ignore[override]
        return self.base_constraint.event_dim + self.reinterpreted_batch_ndims

    def _check(self, xp: Any, a: Any) -> Any:
        res = xp.asarray(self.base_constraint._check(xp, a))
        n = self.reinterpreted_batch_ndims
        if res.ndim < n:
            raise ValueError(f"Expected value.dim() >= {self.event_dim} but got {a.ndim}")
        return res.reshape((*res.shape[:res.ndim - n], -1)).all(-1) if n else res

    def __repr__(self) -> str:
        return (f"{type(self).__name__[1:]}({self.base_constraint!r}, "
                f"{self.reinterpreted_batch_ndims})")


class _Boolean(Constraint):
    is_discrete = True

    def _check(self, xp: Any, a: Any) -> Any:
        return (a == 0) | (a == 1)


class _OneHot(Constraint):
    is_discrete = True
    event_dim = 1

    def _check(self, xp: Any, a: Any) -> Any:
        return ((a == 0) | (a == 1)).all(-1) & (a.sum(-1) == 1)


class _Lower(Constraint):
    """A constraint with a lower bound (a number or a Tensor that broadcasts with the value)."""

    def __init__(self, lower_bound: Any) -> None:
        self.lower_bound = lower_bound

    def __repr__(self) -> str:
        return f"{type(self).__name__[1:]}(lower_bound={_fmt_bound(self.lower_bound)})"


class _Upper(Constraint):
    def __init__(self, upper_bound: Any) -> None:
        self.upper_bound = upper_bound

    def __repr__(self) -> str:
        return f"{type(self).__name__[1:]}(upper_bound={_fmt_bound(self.upper_bound)})"


class _Both(Constraint):
    def __init__(self, lower_bound: Any, upper_bound: Any) -> None:
        self.lower_bound, self.upper_bound = lower_bound, upper_bound

    def __repr__(self) -> str:
        return (f"{type(self).__name__[1:]}(lower_bound={_fmt_bound(self.lower_bound)}, "
                f"upper_bound={_fmt_bound(self.upper_bound)})")


class _IntegerInterval(_Both):
    is_discrete = True

    def _check(self, xp: Any, a: Any) -> Any:
        return (a % 1 == 0) & (_arr(self.lower_bound) <= a) & (a <= _arr(self.upper_bound))


class _IntegerGreaterThan(_Lower):
    is_discrete = True

    def _check(self, xp: Any, a: Any) -> Any:
        return (a % 1 == 0) & (a >= _arr(self.lower_bound))


class _Real(Constraint):
    def _check(self, xp: Any, a: Any) -> Any:
        return ~xp.isnan(a)


class _GreaterThan(_Lower):
    def _check(self, xp: Any, a: Any) -> Any:
        return _arr(self.lower_bound) < a


class _GreaterThanEq(_Lower):
    def _check(self, xp: Any, a: Any) -> Any:
        return _arr(self.lower_bound) <= a


class _LessThan(_Upper):
    def _check(self, xp: Any, a: Any) -> Any:
        return a < _arr(self.upper_bound)


class _Interval(_Both):
    def _check(self, xp: Any, a: Any) -> Any:
        return (_arr(self.lower_bound) <= a) & (a <= _arr(self.upper_bound))


class _HalfOpenInterval(_Both):
    def _check(self, xp: Any, a: Any) -> Any:
        return (_arr(self.lower_bound) <= a) & (a < _arr(self.upper_bound))


class _Simplex(Constraint):
    event_dim = 1

    def _check(self, xp: Any, a: Any) -> Any:
        return (a >= 0).all(-1) & (xp.abs(a.sum(-1) - 1) < 1e-6)


class _LowerTriangular(Constraint):
    event_dim = 2

    def _check(self, xp: Any, a: Any) -> Any:
        return (xp.tril(a) == a).reshape((*a.shape[:-2], -1)).all(-1)


class _LowerCholesky(_LowerTriangular):
    def _check(self, xp: Any, a: Any) -> Any:
        return super()._check(xp, a) & (xp.diagonal(a, 0, -2, -1) > 0).all(-1)


class _Square(Constraint):
    event_dim = 2

    def _check(self, xp: Any, a: Any) -> Any:
        return xp.full(a.shape[:-2], a.shape[-2] == a.shape[-1], dtype=bool)


class _Symmetric(_Square):
    def _check(self, xp: Any, a: Any) -> Any:
        square = super()._check(xp, a)
        if not square.all():
            return square
        return xp.isclose(a, xp.swapaxes(a, -1, -2), atol=1e-6).all((-2, -1))


class _PositiveDefinite(_Symmetric):
    def _check(self, xp: Any, a: Any) -> Any:
        sym = super()._check(xp, a)
        if not sym.all():
            return sym
        return (xp.linalg.eigvalsh(a) > 0).all(-1)


dependent = _Dependent()
dependent_property = _DependentProperty
independent = _IndependentConstraint
boolean = _Boolean()
one_hot = _OneHot()
nonnegative_integer = _IntegerGreaterThan(0)
positive_integer = _IntegerGreaterThan(1)
integer_interval = _IntegerInterval
real = _Real()
real_vector = independent(real, 1)
positive = _GreaterThan(0.0)
nonnegative = _GreaterThanEq(0.0)
greater_than = _GreaterThan
greater_than_eq = _GreaterThanEq
less_than = _LessThan
unit_interval = _Interval(0.0, 1.0)
interval = _Interval
half_open_interval = _HalfOpenInterval
simplex = _Simplex()
lower_triangular = _LowerTriangular()
lower_cholesky = _LowerCholesky()
square = _Square()
symmetric = _Symmetric()
positive_definite = _PositiveDefinite()
