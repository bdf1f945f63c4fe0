"""The dropout layers, as ``torch.nn``'s: ``Dropout``, ``Dropout1d/2d/3d`` (whole channels),
``AlphaDropout`` and ``FeatureAlphaDropout``; active only in training mode."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.nn import functional as F
from chainrule.nn.module import Module
from chainrule.nn.samples import Generator, ModuleSample


class _DropoutNd(Module):
    """What every dropout layer shares (as PyTorch's ``_DropoutNd``): ``p`` and ``inplace``."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """In training, zero each entry with probability ``p`` and scale the rest by 1 / (1 - p);
    in eval mode (``model.eval()``) the identity. Masks come from chainrule's default
    generator, so ``cr.manual_seed`` makes them reproducible."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(0.25,), inputs=(rng.standard_normal((3, 4)),), random=True,
                            mode_dependent=True)

    def forward(self, input: Any) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """In training, zero whole channels of (N, C, L) or (C, L) with probability ``p`` and scale
    the rest by 1 / (1 - p), as ``torch.nn.Dropout1d``; the identity in eval mode."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(0.5,), inputs=(rng.standard_normal((3, 4, 2)),),
                            random=True, mode_dependent=True)

    def forward(self, input: Any) -> Tensor:
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """In training, zero whole channels of (N, C, H, W) with probability ``p`` and scale the
    rest by 1 / (1 - p), as ``torch.nn.Dropout2d``; the identity in eval mode."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(0.5,), inputs=(rng.standard_normal((3, 4, 2, 2)),),
                            random=True, mode_dependent=True)

    def forward(self, input: Any) -> Tensor:
        return F.dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """In training, zero whole channels of (N, C, D, H, W) or (C, D, H, W) with probability
    ``p`` and scale the rest by 1 / (1 - p), as ``torch.nn.Dropout3d``; the identity in eval."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(0.5,), inputs=(rng.standard_normal((2, 4, 2, 1, 2)),),
                            random=True, mode_dependent=True)

    def forward(self, input: Any) -> Tensor:
        return F.dropout3d(input, self.p, self.training, self.inplace)


class AlphaDropout(_DropoutNd):
    """Dropout that keeps a SELU network's mean 0 and variance 1, as ``torch.nn.AlphaDropout``:
    in training, entries are set with probability ``p`` to SELU's negative saturation, then
    the whole output is scaled and shifted (``F.alpha_dropout``); the identity in eval mode."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(0.3,), inputs=(rng.standard_normal((3, 4)),), random=True,
                            mode_dependent=True)

    def forward(self, input: Any) -> Tensor:
        return F.alpha_dropout(input, self.p, self.training, self.inplace)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels of (N, C, *), as ``torch.nn.FeatureAlphaDropout``: in
    training, each channel is set with probability ``p`` to SELU's negative saturation, then the
    output is scaled and shifted as ``AlphaDropout`` (``F.feature_alpha_dropout``); the identity
    in eval mode."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(0.3,), inputs=(rng.standard_normal((3, 4, 2)),), random=True,
                            mode_dependent=True)

    def forward(self, input: Any) -> Tensor:
        return F.feature_alpha_dropout(input, self.p, self.training)
