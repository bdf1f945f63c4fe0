"""Convolution layers: ``Conv1d``, ``Conv2d``, ``Conv3d``, ``ConvTranspose1d``,
``ConvTranspose2d``, ``ConvTranspose3d`` and their lazy forms (``LazyConv1d`` ...
``LazyConvTranspose3d``: ``in_channels`` from the first input), on the fused
``conv``/``conv_transpose`` ops, with PyTorch's weight layouts and initialisation."""

from __future__ import annotations

import math
from typing import Any

from chainrule import creation
from chainrule.autograd.tensor import Tensor
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.lazy import UninitializedParameter, _LazySized, is_lazy, loaded_shape
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.samples import Generator, ModuleSample, lazy_sample


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
        """The convolution (``F.conv1d/2d/3d`` by ``_nd``); ``_ConvTransposeNd`` overrides it."""
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


class _ConvTransposeNd(_ConvNd):
    """Shared by the transposed convolutions: PyTorch's signature (``output_padding``, then
    ``groups``, ``bias``, ``dilation``), ``output_size`` in ``forward``, one forward for 1-3 d."""

    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None) -> None:
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for '
                             f"{type(self).__name__}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, device, dtype, output_padding)

    def _output_padding(self, input: Any, output_size: Any) -> tuple[int, ...]:
        """``output_padding``, or the one that gives ``output_size`` (the spatial sizes, or the
        whole shape), refused as PyTorch refuses it outside [natural, natural + stride - 1]."""
        if output_size is None:
            return self.output_padding
        nd = self._nd
        shape = tuple(input.shape)
        lead = 2 if len(shape) == nd + 2 else 1
        if len(output_size) == lead + nd:
            output_size = output_size[lead:]
        if len(output_size) != nd:
            raise ValueError(f"ConvTranspose{nd}D: for {len(shape)}D input, output_size must "
                             f"have {nd} or {lead + nd} elements (got {len(output_size)})")
        size = [int(a) for a in output_size]
        lo = [(n - 1) * s - 2 * p + d * (k - 1) + 1 for n, s, p, d, k in
              zip(shape[lead:], self.stride, self.padding, self.dilation, self.kernel_size)]
        hi = [a + s - 1 for a, s in zip(lo, self.stride)]
        if any(not a <= b <= c for a, b, c in zip(lo, size, hi)):
            raise ValueError(f"requested an output size of {output_size}, but valid sizes range "
                             f"from {lo} to {hi} (for an input of {list(shape[lead:])})")
        return tuple(b - a for a, b in zip(lo, size))

    def forward(self, input: Any, output_size: Any = None) -> Tensor:
        """The transposed convolution (``F.conv_transpose1d/2d/3d`` by ``_nd``); ``output_size``
        picks among the sizes a strided convolution maps to the input's."""
        f = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[self._nd - 1]
        return f(input, self.weight, self.bias, self.stride, self.padding,
                 self._output_padding(input, output_size), self.groups, self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution, as ``torch.nn.ConvTranspose1d``: weight (C_in,
    C_out / groups, k); ``forward(input, output_size=None)``."""

    _nd = 1

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(2, 3, 3), kwargs={"stride": 2, "output_padding": 1},
                            inputs=(rng.standard_normal((2, 2, 3)),))


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution (a learnable upsampling; the gradient of Conv2d with respect
    to its input), as ``torch.nn.ConvTranspose2d``: weight (C_in, C_out / groups, kh, kw), bias
    (C_out,); ``forward(input, output_size=None)``."""

    _nd = 2

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(2, 3, (3, 2)), kwargs={"stride": 2, "padding": 1,
                                                         "output_padding": 1},
                            inputs=(rng.standard_normal((2, 2, 3, 3)),))


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution over (N, C_in, D, H, W), as ``torch.nn.ConvTranspose3d``:
    weight (C_in, C_out / groups, kd, kh, kw), bias (C_out,); options as ``ConvTranspose2d``
    (the same N-d ``conv_transpose`` op)."""

    _nd = 3

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(4, 2, (2, 3, 2)), kwargs={"stride": (2, 1, 2), "padding": 1,
                                                            "output_padding": (1, 0, 0),
                                                            "groups": 2, "dilation": (1, 2, 1)},
                            inputs=(rng.standard_normal((2, 4, 2, 2, 3)),))


# --- lazy forms: in_channels from the first input ---------------------------------------------


class _LazyConvNd(_LazySized):
    """Shared by the lazy convolutions, as PyTorch's ``_LazyConvXdMixin``: built as the concrete
    layer with ``in_channels=0``, then ``weight`` and ``bias`` become placeholders sized by the
    first input's channels (dimension 1, or 0 unbatched) or by a checkpoint's weight."""

    _size_attr = "in_channels"

    def _lazy_parameters(self, bias: bool, device: Any, dtype: Any) -> None:
        """``weight`` and (with ``bias``) ``bias`` as placeholders, after the concrete layer's
        ``__init__`` with ``in_channels=0`` and ``bias=False``."""
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def _size_of(self, input: Any) -> int:
        nd, shape = self._nd, tuple(input.shape)
        if len(shape) not in (nd + 1, nd + 2):
            raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to "
                               f"{type(self).__name__}, but got input of size: {shape}")
        return int(shape[1] if len(shape) == nd + 2 else shape[0])

    def _size_in(self, state_dict: dict, prefix: str) -> int | None:
        shape = loaded_shape(state_dict, prefix + "weight", self._nd + 2)
        if shape is None:
            return None
        return shape[0] if self.transposed else shape[1] * self.groups

    def _materialize(self, n: int) -> None:
        if n % self.groups:
            raise ValueError(f"{type(self).__name__}: in_channels ({n}, inferred) must be "
                             f"divisible by groups ({self.groups})")
        self.in_channels = n
        g, out = self.groups, self.out_channels
        shape = (n, out // g) if self.transposed else (out, n // g)
        if is_lazy(self.weight):
            self.weight.materialize((*shape, *self.kernel_size))
        if is_lazy(self.bias):
            self.bias.materialize((out,))


class _LazyConv(_LazyConvNd):
    """The lazy convolutions' constructor: ``Conv*d``'s without ``in_channels``."""

    def __init__(self, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(0, out_channels, kernel_size, stride, padding, dilation, groups, False,
                         padding_mode, device, dtype)
        self._lazy_parameters(bias, device, dtype)


class _LazyConvTranspose(_LazyConvNd):
    """The lazy transposed convolutions' constructor: ``ConvTranspose*d``'s without
    ``in_channels``."""

    def __init__(self, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(0, out_channels, kernel_size, stride, padding, output_padding, groups,
                         False, dilation, padding_mode, device, dtype)
        self._lazy_parameters(bias, device, dtype)


class LazyConv1d(_LazyConv, Conv1d):
    """A ``Conv1d`` whose ``in_channels`` is inferred from its first input, as
    ``torch.nn.LazyConv1d``; it then becomes a ``Conv1d`` (see ``chainrule.nn.lazy``)."""

    cls_to_become = Conv1d

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return lazy_sample(cls, rng, (4, 3), {"padding": 1, "groups": 2}, (2, 2, 5))


class LazyConv2d(_LazyConv, Conv2d):
    """A ``Conv2d`` whose ``in_channels`` is inferred from its first input, as
    ``torch.nn.LazyConv2d``; it then becomes a ``Conv2d`` (see ``chainrule.nn.lazy``)."""

    cls_to_become = Conv2d

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return lazy_sample(cls, rng, (3, (3, 2)), {"stride": (2, 1), "padding": 1}, (2, 2, 5, 4))


class LazyConv3d(_LazyConv, Conv3d):
    """A ``Conv3d`` whose ``in_channels`` is inferred from its first input, as
    ``torch.nn.LazyConv3d``; it then becomes a ``Conv3d`` (see ``chainrule.nn.lazy``)."""

    cls_to_become = Conv3d

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return lazy_sample(cls, rng, (2, 2), {"padding_mode": "circular", "padding": 1,
                                              "bias": False}, (1, 2, 2, 3, 2))


class LazyConvTranspose1d(_LazyConvTranspose, ConvTranspose1d):
    """A ``ConvTranspose1d`` whose ``in_channels`` is inferred from its first input, as
    ``torch.nn.LazyConvTranspose1d``; it then becomes a ``ConvTranspose1d``."""

    cls_to_become = ConvTranspose1d

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return lazy_sample(cls, rng, (4, 3), {"stride": 2, "groups": 2, "output_padding": 1},
                           (2, 2, 3))


class LazyConvTranspose2d(_LazyConvTranspose, ConvTranspose2d):
    """A ``ConvTranspose2d`` whose ``in_channels`` is inferred from its first input, as
    ``torch.nn.LazyConvTranspose2d``; it then becomes a ``ConvTranspose2d``."""

    cls_to_become = ConvTranspose2d

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return lazy_sample(cls, rng, (3, (3, 2)), {"stride": 2, "padding": 1,
                                                   "output_padding": 1}, (2, 2, 3, 3))


class LazyConvTranspose3d(_LazyConvTranspose, ConvTranspose3d):
    """A ``ConvTranspose3d`` whose ``in_channels`` is inferred from its first input, as
    ``torch.nn.LazyConvTranspose3d``; it then becomes a ``ConvTranspose3d``."""

    cls_to_become = ConvTranspose3d

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return lazy_sample(cls, rng, (2, 2), {"stride": (1, 2, 1), "dilation": (2, 1, 1)},
                           (2, 3, 2, 2, 2))
