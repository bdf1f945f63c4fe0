"""``torch.nn.utils.parametrizations.weight_norm``: weight normalisation as a parametrization
(``parametrizations.weight.original0`` = g, ``original1`` = v, PyTorch's state-dict keys)."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.nn.module import Module
from chainrule.nn.utils.parametrize import register_parametrization
from chainrule.nn.utils.weight_norm import _weight_norm, norm_except_dim

__all__ = ["weight_norm"]


class _WeightNorm(Module):
    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        return norm_except_dim(weight, self.dim), weight


def weight_norm(module: Any, name: str = "weight", dim: int | None = 0) -> Any:
    """Reparametrise ``module.<name>`` as ``g * v / ||v||`` (the norm over every dim but
    ``dim``; ``None``: the whole tensor), with ``g`` and ``v`` learnt."""
    return register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
