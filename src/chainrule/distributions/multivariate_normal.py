"""The multivariate normal distribution, parametrised by a covariance matrix, a precision
matrix or the lower Cholesky factor of the covariance (``scale_tril``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.tensor import Tensor
from chainrule.distributions import constraints
from chainrule.distributions.distribution import Distribution
from chainrule.distributions.utils import as_param, lazy_property, standard_normal
from chainrule.linalg import cholesky, inv
from chainrule.ops import matmul

__all__ = ["MultivariateNormal"]


def batch_mv(mat: Tensor, vec: Tensor) -> Tensor:
    """``mat @ vec`` over broadcast batch dimensions (vec: (..., n))."""
    return matmul(mat, vec.unsqueeze(-1)).squeeze(-1)


def mahalanobis(scale_tril: Tensor, x: Tensor) -> Tensor:
    """``x^T (L L^T)^-1 x = |L^-1 x|^2`` over broadcast batch dimensions (L's lower triangle
    only, as PyTorch's triangular solve reads it)."""
    return (batch_mv(inv(scale_tril.tril()), x) ** 2).sum(-1)


def half_log_det(scale_tril: Tensor) -> Tensor:
    """``log det(L L^T) / 2 = sum(log diag(L))``."""
    return scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)


def _precision_to_scale_tril(p: Tensor) -> Tensor:
    """The lower Cholesky factor of ``p^-1`` without inverting ``p`` first (PyTorch's way:
    the flipped Cholesky factor of the flipped matrix is the inverse's upper factor)."""
    lf = cholesky(p.flip((-2, -1)))
    return inv(lf.flip((-2, -1)).mT)


class MultivariateNormal(Distribution):
    """``MultivariateNormal(loc, covariance_matrix=None, precision_matrix=None,
    scale_tril=None)`` (exactly one matrix), as ``torch.distributions.MultivariateNormal``:
    event shape ``(n,)``, batch shape the broadcast of ``loc``'s and the matrix's leading
    dimensions. ``rsample = loc + L eps`` (L the Cholesky factor), differentiable in ``loc`` and
    the matrix; the other two matrices are computed on first use."""

    arg_constraints = {"loc": constraints.real_vector,
                       "covariance_matrix": constraints.positive_definite,
                       "precision_matrix": constraints.positive_definite,
                       "scale_tril": constraints.lower_cholesky}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc: Any, covariance_matrix: Any = None, precision_matrix: Any = None,
                 scale_tril: Any = None, validate_args: bool | None = None) -> None:
        loc = as_param(loc)
        if loc.ndim < 1:
            raise ValueError("MultivariateNormal: loc must be at least one-dimensional.")
        given = [(k, m) for k, m in (("covariance_matrix", covariance_matrix),
                                     ("precision_matrix", precision_matrix),
                                     ("scale_tril", scale_tril)) if m is not None]
        if len(given) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or "
                             "scale_tril may be specified.")
        name, m = given[0]
        m = as_param(m, loc.dtype)
        n = loc.shape[-1]
        if m.ndim < 2:
            raise ValueError(f"MultivariateNormal: {name} must be at least two-dimensional, "
                             "with optional leading batch dimensions")
        if tuple(m.shape[-2:]) != (n, n):
            raise ValueError(f"MultivariateNormal: {name} of shape {tuple(m.shape)} must end "
                             f"with ({n}, {n}), the size of loc {tuple(loc.shape)}")
        batch_shape = backend.broadcast_shapes(tuple(m.shape[:-2]), tuple(loc.shape[:-1]))
        self.__dict__[name] = m.expand((*batch_shape, n, n))
        self.loc = loc.expand((*batch_shape, n))
        super().__init__(batch_shape, (n,), validate_args)
        if name == "scale_tril":
            self._unbroadcasted_scale_tril = m
        elif name == "covariance_matrix":
            self._unbroadcasted_scale_tril = cholesky(m)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(m)

    def _full(self, m: Tensor) -> Tensor:
        return m.expand((*self._batch_shape, *self._event_shape, *self._event_shape))

    @lazy_property
    def scale_tril(self) -> Tensor:
        return self._full(self._unbroadcasted_scale_tril)

    @lazy_property
    def covariance_matrix(self) -> Tensor:
        lo = self._unbroadcasted_scale_tril
        return self._full(matmul(lo, lo.mT))

    @lazy_property
    def precision_matrix(self) -> Tensor:
        li = inv(self._unbroadcasted_scale_tril)
        return self._full(matmul(li.mT, li))

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        var = (self._unbroadcasted_scale_tril ** 2).sum(-1)
        return var.expand((*self._batch_shape, *self._event_shape))

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        eps = standard_normal(self._extended_shape(sample_shape), self.loc)
        return self.loc + batch_mv(self._unbroadcasted_scale_tril, eps)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        lo = self._unbroadcasted_scale_tril
        m = mahalanobis(lo, value - self.loc)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + m) - half_log_det(lo)

    def entropy(self) -> Tensor:
        h = (0.5 * self._event_shape[0] * (1.0 + math.log(2 * math.pi))
             + half_log_det(self._unbroadcasted_scale_tril))
        return h.expand(self._batch_shape)
