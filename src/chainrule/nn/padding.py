"""Padding layers, as ``torch.nn``'s: ``ZeroPad1d/2d``, ``ConstantPad1d/2d``,
``ReflectionPad1d/2d``, ``ReplicationPad1d/2d``, ``CircularPad1d/2d``, each ``F.pad`` with its
mode. ``padding`` is an int (every side) or PyTorch's tuple: (left, right) for 1-d,
(left, right, top, bottom) for 2-d."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor
from chainrule.nn import functional as F
from chainrule.nn.module import Module
from chainrule.nn.samples import Generator, ModuleSample


class _PadNd(Module):
    """``F.pad(input, padding, mode)``; ``padding`` normalised to 2 * nd ints."""

    _nd = 1
    _mode = "constant"

    def __init__(self, padding: Any) -> None:
        super().__init__()
        n = 2 * self._nd
        pad = (int(padding),) * n if isinstance(padding, int) else tuple(int(p) for p in padding)
        if len(pad) != n:
            raise ValueError(f"{type(self).__name__}: padding {padding!r} has {len(pad)} "
                             f"values; expected an int or {n} ints")
        self.padding = pad

    def forward(self, input: Any) -> Tensor:
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding: Any, value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, input: Any) -> Tensor:
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with ``value``."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=((1, 2), 3.5), inputs=(rng.standard_normal((2, 3, 4)),))


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dims with ``value``."""

    _nd = 2

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=((1, 0, 2, 1), -1.0), inputs=(rng.standard_normal((2, 2, 3)),))


class ZeroPad1d(_ConstantPadNd):
    """Pad the last dim with zeros."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(2,), inputs=(rng.standard_normal((2, 3, 4)),))

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(_ConstantPadNd):
    """Pad the last two dims with zeros."""

    _nd = 2

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=((1, 1, 2, 0),), inputs=(rng.standard_normal((1, 2, 3, 3)),))

    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_PadNd):
    """Pad the last dim with its reflection about the edge (the edge itself not repeated)."""

    _mode = "reflect"

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=((2, 1),), inputs=(rng.standard_normal((2, 3, 4)),))


class ReflectionPad2d(_PadNd):
    """Pad the last two dims with their reflection about the edges."""

    _nd = 2
    _mode = "reflect"

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=((1, 2, 2, 0),), inputs=(rng.standard_normal((1, 2, 3, 4)),))


class ReplicationPad1d(_PadNd):
    """Pad the last dim by repeating its edge values."""

    _mode = "replicate"

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=((3, 1),), inputs=(rng.standard_normal((2, 3, 4)),))


class ReplicationPad2d(_PadNd):
    """Pad the last two dims by repeating their edge values."""

    _nd = 2
    _mode = "replicate"

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(1,), inputs=(rng.standard_normal((1, 2, 3, 2)),))


class CircularPad1d(_PadNd):
    """Pad the last dim by wrapping around (periodic boundary)."""

    _mode = "circular"

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=((2, 3),), inputs=(rng.standard_normal((2, 3, 4)),))


class CircularPad2d(_PadNd):
    """Pad the last two dims by wrapping around."""

    _nd = 2
    _mode = "circular"

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=((1, 2, 0, 2),), inputs=(rng.standard_normal((1, 2, 3, 4)),))
