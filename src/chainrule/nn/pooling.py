"""Pooling and resampling layers: ``MaxPool1d/2d/3d``, ``MaxUnpool1d/2d/3d``,
``AvgPool1d/2d/3d``, ``LPPool1d/2d/3d``, ``AdaptiveAvgPool1d/2d/3d``, ``AdaptiveMaxPool1d/2d/3d``,
``Upsample`` and its aliases ``UpsamplingNearest2d``/``UpsamplingBilinear2d``, as ``torch.nn``'s,
on ``chainrule.ops.pooling``."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.factories import as_tensor
from chainrule.autograd.tensor import Tensor
from chainrule.nn import functional as F
from chainrule.nn.module import Module
from chainrule.nn.samples import Generator, ModuleSample


def _distinct(rng: Generator, shape: tuple[int, ...]) -> Any:
    """Values without ties (no arg-max kinks for finite differences)."""
    n = 1
    for s in shape:
        n *= s
    return ((rng.permutation(n) - n / 2) * 0.25).reshape(shape)


class _MaxPoolNd(Module):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """Max over sliding windows of (N, C, L), as ``torch.nn.MaxPool1d``."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(3,), kwargs={"stride": 2, "padding": 1},
                            inputs=(_distinct(rng, (2, 2, 6)),))

    def forward(self, input: Any) -> Any:
        return F.max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)


class MaxPool2d(_MaxPoolNd):
    """Max over sliding windows of (N, C, H, W), as ``torch.nn.MaxPool2d`` (``stride`` defaults
    to ``kernel_size``); the gradient goes to each window's arg-max."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(2,), inputs=(_distinct(rng, (2, 2, 4, 5)),))

    def forward(self, input: Any) -> Any:
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)


class MaxPool3d(_MaxPoolNd):
    """Max over sliding windows of (N, C, D, H, W), as ``torch.nn.MaxPool3d``."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(2,), kwargs={"stride": (1, 2, 2)},
                            inputs=(_distinct(rng, (1, 2, 3, 4, 4)),))

    def forward(self, input: Any) -> Any:
        return F.max_pool3d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)


class _MaxUnpoolNd(Module):
    """What ``MaxUnpool1d/2d/3d`` share: kernel, stride (default: the kernel) and padding as
    ``nd``-tuples, as PyTorch stores them."""

    nd = 0

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size = _ntuple(kernel_size, self.nd)
        self.stride = _ntuple(stride if stride is not None else kernel_size, self.nd)
        self.padding = _ntuple(padding, self.nd)

    def forward(self, input: Any, indices: Any, output_size: Any = None) -> Tensor:
        unpool = (F.max_unpool1d, F.max_unpool2d, F.max_unpool3d)[self.nd - 1]
        return unpool(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _unpool_sample(rng: Generator, nd: int, shape: tuple[int, ...], kernel: Any,
                   output_size: Any = None) -> ModuleSample:
    """Values and the indices ``MaxPool{nd}d(kernel, return_indices=True)`` gives on an input of
    ``shape`` (windows that do not overlap: one value per output position)."""
    pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[nd - 1]
    _, idx = pool(as_tensor(_distinct(rng, shape)), kernel, return_indices=True)
    call = None if output_size is None else \
        (lambda m, x, i: m(x, i, output_size=output_size))
    return ModuleSample(args=(kernel,), inputs=(rng.standard_normal(idx.shape), idx.numpy()),
                        call=call)


class MaxUnpool1d(_MaxUnpoolNd):
    """Partial inverse of ``MaxPool1d``: each value of (N, C, L) written at its index (from
    ``MaxPool1d(return_indices=True)``) into zeros, as ``torch.nn.MaxUnpool1d``;
    ``forward(input, indices, output_size=None)``."""

    nd = 1

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return _unpool_sample(rng, 1, (2, 2, 7), 2, output_size=[7])


class MaxUnpool2d(_MaxUnpoolNd):
    """Partial inverse of ``MaxPool2d`` over (N, C, H, W), as ``torch.nn.MaxUnpool2d``: the
    indices are flat per (H, W) plane, as ``MaxPool2d(return_indices=True)`` gives them."""

    nd = 2

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return _unpool_sample(rng, 2, (2, 2, 4, 6), 2)


class MaxUnpool3d(_MaxUnpoolNd):
    """Partial inverse of ``MaxPool3d`` over (N, C, D, H, W), as ``torch.nn.MaxUnpool3d``."""

    nd = 3

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return _unpool_sample(rng, 3, (1, 2, 2, 4, 2), 2)


class AvgPool1d(Module):
    """Mean over sliding windows of (N, C, L), as ``torch.nn.AvgPool1d``."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(3,), kwargs={"stride": 2, "padding": 1},
                            inputs=(rng.standard_normal((2, 2, 6)),))

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size = _ntuple(kernel_size, 1)
        self.stride = _ntuple(stride if stride is not None else kernel_size, 1)
        self.padding = _ntuple(padding, 1)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Any) -> Tensor:
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}")


def _ntuple(v: Any, n: int) -> tuple:
    """PyTorch's ``_single``/``_pair``/``_triple``: a sequence as a tuple, a number repeated."""
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


class AvgPool2d(Module):
    """Mean over sliding windows of (N, C, H, W), as ``torch.nn.AvgPool2d``."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(2,), kwargs={"stride": 1, "padding": 1,
                                               "count_include_pad": False},
                            inputs=(rng.standard_normal((2, 2, 3, 4)),))

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Any) -> Tensor:
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}")


class AvgPool3d(AvgPool2d):
    """Mean over sliding windows of (N, C, D, H, W), as ``torch.nn.AvgPool3d``."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(2,), kwargs={"stride": 1, "padding": 1,
                                               "count_include_pad": False},
                            inputs=(rng.standard_normal((1, 2, 2, 3, 2)),))

    def forward(self, input: Any) -> Tensor:
        return F.avg_pool3d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)


class _LPPoolNd(Module):
    """What ``LPPool1d/2d/3d`` share (as PyTorch's ``_LPPoolNd``): the arguments, as given."""

    nd = 0

    def __init__(self, norm_type: float, kernel_size: Any, stride: Any = None,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def forward(self, input: Any) -> Tensor:
        pool = (F.lp_pool1d, F.lp_pool2d, F.lp_pool3d)[self.nd - 1]
        return pool(input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """Power-average pooling over (N, C, L): ``(sum of x^p over each window)^(1/p)``, as
    ``torch.nn.LPPool1d`` (p = 1 a sum pool, p = inf a max pool of |x|)."""

    nd = 1

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:  # an odd p: positive inputs
        return ModuleSample(args=(3, 3), kwargs={"stride": 2, "ceil_mode": True},
                            inputs=(rng.uniform(0.5, 2.0, (2, 2, 6)),))


class LPPool2d(_LPPoolNd):
    """Power-average pooling over (N, C, H, W), as ``torch.nn.LPPool2d``; ``LPPool2d(2, k)`` is
    the L2 norm of each window."""

    nd = 2

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(2, (2, 3)), kwargs={"stride": 1},
                            inputs=(rng.standard_normal((2, 2, 3, 4)),))


class LPPool3d(_LPPoolNd):
    """Power-average pooling over (N, C, D, H, W), as ``torch.nn.LPPool3d``."""

    nd = 3

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(1.5, 2), inputs=(rng.uniform(0.5, 2.0, (1, 2, 2, 4, 2)),))


class _Adaptive(Module):
    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_Adaptive):
    """Average pooling of (N, C, L) to length ``output_size``, as
    ``torch.nn.AdaptiveAvgPool1d``."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(3,), inputs=(rng.standard_normal((2, 2, 7)),))

    def forward(self, input: Any) -> Tensor:
        return F.adaptive_avg_pool1d(input, self.output_size)


class AdaptiveAvgPool2d(_Adaptive):
    """Average pooling of (N, C, H, W) to ``output_size`` (OH, OW), as
    ``torch.nn.AdaptiveAvgPool2d``; ``AdaptiveAvgPool2d(1)`` is global average pooling."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=((2, 3),), inputs=(rng.standard_normal((2, 2, 5, 4)),))

    def forward(self, input: Any) -> Tensor:
        return F.adaptive_avg_pool2d(input, self.output_size)


class AdaptiveAvgPool3d(_Adaptive):
    """Average pooling of (N, C, D, H, W) to ``output_size`` (OD, OH, OW), as
    ``torch.nn.AdaptiveAvgPool3d``."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=((2, None, 3),), inputs=(rng.standard_normal((2, 2, 3, 2, 4)),))

    def forward(self, input: Any) -> Tensor:
        return F.adaptive_avg_pool3d(input, self.output_size)


class _AdaptiveMaxPoolNd(_Adaptive):
    """What ``AdaptiveMaxPool1d/2d/3d`` share: ``output_size`` and ``return_indices``."""

    nd = 0

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input: Any) -> Any:
        pool = (F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d)[self.nd - 1]
        return pool(input, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max pooling of (N, C, L) to length ``output_size``, as ``torch.nn.AdaptiveMaxPool1d``."""

    nd = 1

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(3,), inputs=(_distinct(rng, (2, 2, 7)),))


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Max pooling of (N, C, H, W) to ``output_size``, as ``torch.nn.AdaptiveMaxPool2d``."""

    nd = 2

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=((2, 3),), inputs=(_distinct(rng, (2, 2, 5, 4)),))


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """Max pooling of (N, C, D, H, W) to ``output_size`` (OD, OH, OW), as
    ``torch.nn.AdaptiveMaxPool3d``."""

    nd = 3

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=((2, None, 3),), inputs=(_distinct(rng, (1, 2, 3, 2, 5)),))


class Upsample(Module):
    """Resample (N, C, L) or (N, C, H, W) to ``size`` or by ``scale_factor``, as
    ``torch.nn.Upsample``: ``mode`` 'nearest', 'linear' or 'bilinear'."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(kwargs={"scale_factor": 2, "mode": "bilinear"},
                            inputs=(rng.standard_normal((2, 2, 3, 2)),))

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor: Any = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Any) -> Tensor:
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor)

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return f"{info}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour upsampling of (N, C, H, W) to ``size`` or by ``scale_factor``, as
    ``torch.nn.UpsamplingNearest2d`` (deprecated there in favour of ``F.interpolate``):
    ``Upsample(size, scale_factor, mode="nearest")``."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(kwargs={"scale_factor": 2}, inputs=(rng.standard_normal((2, 2, 3, 2)),))

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling of (N, C, H, W) with ``align_corners=True``, as
    ``torch.nn.UpsamplingBilinear2d`` (deprecated there in favour of ``F.interpolate``):
    ``Upsample(size, scale_factor, mode="bilinear", align_corners=True)``."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(kwargs={"size": (4, 5)}, inputs=(rng.standard_normal((2, 2, 3, 2)),))

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
