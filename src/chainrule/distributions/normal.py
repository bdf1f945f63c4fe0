"""The normal (Gaussian) distribution."""

from __future__ import annotations

import math
from collections.abc import Sequence

from chainrule.autograd.tensor import Tensor
from chainrule.distributions.distribution import LOG_SQRT_2PI
from chainrule.distributions.location_scale import LocScale
from chainrule.distributions.utils import standard_normal

__all__ = ["Normal"]


class Normal(LocScale):
    """``Normal(loc, scale)``, as ``torch.distributions.Normal``: density
    ``exp(-(x - loc)^2 / (2 scale^2)) / (scale sqrt(2 pi))``. ``rsample`` is
    ``loc + scale * eps`` with ``eps ~ N(0, 1)``: differentiable in ``loc`` and ``scale``."""

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        return self.scale ** 2

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """``loc + scale * eps``, ``eps ~ N(0, 1)``: gradients flow to loc and scale."""
        shape = self._extended_shape(sample_shape)
        return self.loc + standard_normal(shape, self.loc) * self.scale

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        var = self.scale ** 2
        return -((value - self.loc) ** 2) / (2 * var) - self.scale.log() - LOG_SQRT_2PI

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 * (1 + ((value - self.loc) * (1 / (self.scale * math.sqrt(2)))).erf())

    def icdf(self, value: Tensor) -> Tensor:
        return self.loc + self.scale * (2 * value - 1).erfinv() * math.sqrt(2)

    def entropy(self) -> Tensor:
        return 0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()
