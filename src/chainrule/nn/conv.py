"""Convolution layers: ``Conv1d``, ``Conv2d``, ``Conv3d``, ``ConvTranspose1d``,
``ConvTranspose2d``, on the fused ``conv``/``conv_transpose`` ops, with PyTorch's weight
layouts and initialisation."""

from __future__ import annotations

import math
from typing import Any

from chainrule import creation
from chainrule.autograd.tensor import Tensor
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.samples import Generator, ModuleSample


def _ntuple(v: Any, n: int) -> tuple:
    if isinstance(v, str):
        return v  # type: ignore[return-value]
    t = tuple(v) if isinstance(v, (tuple, list)) else (v,) * n
    return t * n if len(t) == 1 else t


class _ConvNd(Module):
    """Shared by the convolution layers: parameters, PyTorch's initialisation, repr."""

    _nd = 2
    _transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None,
                 output_padding: Any = 0) -> None:
        super().__init__()
        name = type(self).__name__
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must both be divisible by groups ({groups})")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"{name}: padding_mode must be 'zeros', 'reflect', 'replicate' or "
                             f"'circular', got {padding_mode!r}")
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(f"{name}: invalid padding string {padding!r}; expected 'same' or "
                             "'valid'")
        nd = self._nd
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _ntuple(kernel_size, nd)
        self.stride = _ntuple(stride, nd)
        self.padding = _ntuple(padding, nd)
        self.dilation = _ntuple(dilation, nd)
        self.transposed = self._transposed
        self.output_padding = _ntuple(output_padding, nd)
        self.groups = groups
        self.padding_mode = padding_mode
        if padding == "same" and any(s != 1 for s in self.stride):
            raise ValueError(f"{name}: padding='same' is not supported for strided "
                             "convolutions")
        shape = (in_channels, out_channels // groups) if self._transposed else \
            (out_channels, in_channels // groups)
        self.weight = Parameter(creation.empty(*shape, *self.kernel_size, dtype=dtype,
                                               device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = "{in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}"
        if self.padding != (0,) * len(self.padding):
            s += ", padding={padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += ", dilation={dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += ", output_padding={output_padding}"
        if self.groups != 1:
            s += ", groups={groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += ", padding_mode={padding_mode}"
        return s.format(**self.__dict__)

    def _padded(self, input: Any) -> tuple[Any, Any]:
        """The input padded by ``padding_mode`` (non-zero modes), and the conv's padding."""
        if self.padding_mode == "zeros":
            return input, self.padding
        if isinstance(self.padding, str):
            if self.padding == "valid":
                return input, 0
            tot = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            pads = [(t // 2, t - t // 2) for t in tot]
        else:
            pads = [(p, p) for p in self.padding]
        flat = [a for lo_hi in reversed(pads) for a in lo_hi]
        return F.pad(input, flat, mode=self.padding_mode), 0

    def forward(self, input: Any) -> Tensor:
        """The convolution (``F.conv1d/2d/3d`` by ``_nd``); the transposed layers override it."""
        x, pad = self._padded(input)
        conv = (F.conv1d, F.conv2d, F.conv3d)[self._nd - 1]
        return conv(x, self.weight, self.bias, self.stride, pad, self.dilation, self.groups)


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, L), as ``torch.nn.Conv1d``: weight (C_out, C_in / groups,
    k), bias (C_out,), both U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""

    _nd = 1

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(2, 4, 3), kwargs={"padding": 1, "groups": 2},
                            inputs=(rng.standard_normal((2, 2, 5)),))

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W), as ``torch.nn.Conv2d``: weight (C_out,
    C_in / groups, kh, kw), bias (C_out,); ``padding`` an int, a pair, 'same' or 'valid';
    ``padding_mode`` 'zeros', 'reflect', 'replicate' or 'circular'. Initialised as PyTorch
    (kaiming_uniform_ with a = sqrt(5); bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))).

    The forward is the fused ``conv`` op (im2col + one GEMM; see ``chainrule.ops.conv``)."""

    _nd = 2

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(2, 3, (3, 2)), kwargs={"stride": (2, 1), "padding": 1},
                            inputs=(rng.standard_normal((2, 2, 5, 4)),))

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)


class Conv3d(_ConvNd):
    """3-D convolution over (N, C_in, D, H, W), as ``torch.nn.Conv3d``: weight (C_out,
    C_in / groups, kd, kh, kw), bias (C_out,); options and initialisation as ``Conv2d`` (the
    same N-d ``conv`` op)."""

    _nd = 3

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(2, 4, (2, 3, 2)), kwargs={"stride": (1, 2, 1), "padding": 1,
                                                            "groups": 2},
                            inputs=(rng.standard_normal((2, 2, 3, 4, 3)),))

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype)


class ConvTranspose1d(_ConvNd):
    """1-D transposed convolution, as ``torch.nn.ConvTranspose1d``: weight (C_in,
    C_out / groups, k)."""

    _nd = 1
    _transposed = True

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(2, 3, 3), kwargs={"stride": 2, "output_padding": 1},
                            inputs=(rng.standard_normal((2, 2, 3)),))

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for '
                             f"{type(self).__name__}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype, output_padding)

    def forward(self, input: Any, output_size: Any = None) -> Tensor:
        return F.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation) \
            if output_size is None else _transpose_to(self, input, output_size)


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution (a learnable upsampling; the gradient of Conv2d with respect
    to its input), as ``torch.nn.ConvTranspose2d``: weight (C_in, C_out / groups, kh, kw), bias
    (C_out,); ``forward(input, output_size=None)``."""

    _nd = 2
    _transposed = True

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(2, 3, (3, 2)), kwargs={"stride": 2, "padding": 1,
                                                         "output_padding": 1},
                            inputs=(rng.standard_normal((2, 2, 3, 3)),))

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for '
                             f"{type(self).__name__}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype, output_padding)

    def forward(self, input: Any, output_size: Any = None) -> Tensor:
        if output_size is not None:
            return _transpose_to(self, input, output_size)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)


def _transpose_to(m: _ConvNd, input: Any, output_size: Any) -> Tensor:
    from chainrule.ops.conv import _conv_transpose_nd
    return _conv_transpose_nd(type(m).__name__, m._nd, input, m.weight, m.bias, m.stride,
                              m.padding, 0, m.groups, m.dilation, output_size)
