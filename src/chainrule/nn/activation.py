"""Activation modules: each calls its function in ``nn.functional`` (PyTorch's names and
reprs). ``Step`` is the Heaviside step of Rosenblatt's perceptron."""

from __future__ import annotations

from typing import Any

from chainrule import backend, creation
from chainrule.autograd.tensor import Tensor
from chainrule.nn import functional as F
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.samples import Generator, ModuleSample, away_from


class ReLU(Module):
    """max(x, 0)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=(away_from(rng, (3, 4)),))

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Any) -> Tensor:
        return F.relu(input, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(0.2,), inputs=(away_from(rng, (3, 4)),))

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Any) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace
                                                          else "")


class PReLU(Module):
    """x if x > 0 else a * x with a learnable slope ``a``: one shared (``num_parameters=1``)
    or one per channel (dimension 1 of the input), initialised to ``init``."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(4,), kwargs={"init": 0.1}, inputs=(away_from(rng, (2, 4, 3)),))

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(creation.full((num_parameters,), float(init), dtype=dtype,
                                              device=device))

    def reset_parameters(self) -> None:
        self.weight._data[...] = self.init
        self.weight._vc[0] += 1

    def forward(self, input: Any) -> Tensor:
        return F.prelu(input, self._parameters["weight"])

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class ELU(Module):
    """x if x > 0 else alpha * (exp(x) - 1)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(0.7,), inputs=(away_from(rng, (3, 4)),))

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Any) -> Tensor:
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """x * Phi(x) (``approximate='tanh'``: the tanh approximation)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=(rng.standard_normal((3, 4)) * 2,))

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Any) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x) (swish)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=(rng.standard_normal((3, 4)) * 2,))

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Any) -> Tensor:
        return F.silu(input, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=(rng.standard_normal((3, 4)) * 2,))

    def forward(self, input: Any) -> Tensor:
        return F.sigmoid(input)


class Tanh(Module):
    """The hyperbolic tangent."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=(rng.standard_normal((3, 4)) * 2,))

    def forward(self, input: Any) -> Tensor:
        return F.tanh(input)


class Softplus(Module):
    """log(1 + exp(beta * x)) / beta (linear above ``threshold``)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(2.0, 1.0), inputs=(away_from(rng, (3, 4), (0.5,)),))

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Any) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class _AlongDim(Module):
    """An activation applied along one ``dim``: ``F.<_functional>(input, dim)``."""

    _functional = ""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Any) -> Tensor:
        return getattr(F, self._functional)(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    """exp(x) / sum(exp(x)) along ``dim``."""

    _functional = "softmax"

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(kwargs={"dim": 1}, inputs=(rng.standard_normal((3, 4)),))


class LogSoftmax(_AlongDim):
    """log(softmax(x)) along ``dim``."""

    _functional = "log_softmax"

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(kwargs={"dim": 0}, inputs=(rng.standard_normal((3, 4)),))


class Hardtanh(Module):
    """x clamped to [min_val, max_val]."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(-0.5, 0.5), inputs=(away_from(rng, (3, 4), (-0.5, 0.5), 1.0),))

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0,
                 inplace: bool = False) -> None:
        super().__init__()
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace

    def forward(self, input: Any) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (
            ", inplace=True" if self.inplace else "")


class ReLU6(Hardtanh):
    """min(max(x, 0), 6)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=(away_from(rng, (3, 4), (0.0, 6.0), 4.0),))

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Step(Module):
    """The Heaviside step: 1 where x > threshold, else 0 (no gradient flows through it)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(0.5,), inputs=(away_from(rng, (3, 4), (0.5,)),))

    def __init__(self, threshold: float = 0.0) -> None:
        super().__init__()
        self.threshold = threshold

    def forward(self, input: Any) -> Tensor:
        return F.step(input, self.threshold)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}" if self.threshold != 0.0 else ""


Heaviside = Step


# --- torch.nn's other activations ---------------------------------------------------------------


class _Inplace(Module):
    """An activation with only PyTorch's ``inplace`` flag (repr: ``inplace=True`` when set)."""

    _fn: Any = None

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Any) -> Tensor:
        return type(self)._fn(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class _Plain(Module):
    """An activation without arguments."""

    _fn: Any = None

    def forward(self, input: Any) -> Tensor:
        return type(self)._fn(input)


class SELU(_Inplace):
    """scale * elu(x, alpha) with alpha = 1.6733, scale = 1.0507 (self-normalising)."""

    _fn = staticmethod(F.selu)

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=(away_from(rng, (3, 4)),))


class CELU(Module):
    """x if x > 0 else alpha * (exp(x / alpha) - 1)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        # torch's float64 backward uses 1 / alpha rounded to float32 (relative error ~1e-8)
        return ModuleSample(args=(0.7,), inputs=(away_from(rng, (3, 4)),), rtol=1e-7)

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input: Any) -> Tensor:
        return F.celu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Mish(_Inplace):
    """x * tanh(softplus(x))."""

    _fn = staticmethod(F.mish)

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=(rng.standard_normal((3, 4)) * 2,))


class Hardswish(_Inplace):
    """x * relu6(x + 3) / 6."""

    _fn = staticmethod(F.hardswish)

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=(away_from(rng, (3, 4), (-3.0, 3.0), 3.0),))


class Hardsigmoid(_Inplace):
    """relu6(x + 3) / 6."""

    _fn = staticmethod(F.hardsigmoid)

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        # torch's float64 backward multiplies by 1/6 rounded to float32 (relative error ~3e-8)
        return ModuleSample(inputs=(away_from(rng, (3, 4), (-3.0, 3.0), 3.0),), rtol=1e-7)


class _Shrink(Module):
    """Shrinkage with PyTorch's ``lambd`` (repr: the value alone)."""

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Softshrink(_Shrink):
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(0.3,), inputs=(away_from(rng, (3, 4), (-0.3, 0.3)),))

    def forward(self, input: Any) -> Tensor:
        return F.softshrink(input, self.lambd)


class Hardshrink(_Shrink):
    """x where |x| > lambd, else 0."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(0.4,), inputs=(away_from(rng, (3, 4), (-0.4, 0.4)),))

    def forward(self, input: Any) -> Tensor:
        return F.hardshrink(input, self.lambd)


class Tanhshrink(_Plain):
    """x - tanh(x)."""

    _fn = staticmethod(F.tanhshrink)

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=(rng.standard_normal((3, 4)),))


class LogSigmoid(_Plain):
    """log(sigmoid(x)), stable for any x."""

    _fn = staticmethod(F.logsigmoid)

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=(rng.standard_normal((3, 4)) * 3,))


class Softsign(_Plain):
    """x / (1 + |x|)."""

    _fn = staticmethod(F.softsign)

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=(away_from(rng, (3, 4)),))


class Threshold(Module):
    """x where x > threshold, else ``value``."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(0.1, -2.0), inputs=(away_from(rng, (3, 4), (0.1,)),))

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, input: Any) -> Tensor:
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + (
            ", inplace=True" if self.inplace else "")


class RReLU(Module):
    """Randomized leaky ReLU: in training, each negative entry is scaled by a slope drawn from
    U(lower, upper); in eval mode by the mean slope (lower + upper) / 2."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(0.1, 0.3), inputs=(away_from(rng, (3, 4)),), random=True,
                            mode_dependent=True)

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
                 inplace: bool = False) -> None:
        super().__init__()
        self.lower = lower
        self.upper = upper
        self.inplace = inplace

    def forward(self, input: Any) -> Tensor:
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace
                                                            else "")


class GLU(_AlongDim):
    """Gated linear unit: a * sigmoid(b) for the two halves a, b of the input along ``dim``."""

    _functional = "glu"

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(kwargs={"dim": 1}, inputs=(rng.standard_normal((3, 4)),))

    def __init__(self, dim: int = -1) -> None:
        super().__init__(dim)


class Softmin(_AlongDim):
    """softmax(-x) along ``dim``."""

    _functional = "softmin"

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(kwargs={"dim": 1}, inputs=(rng.standard_normal((3, 4)),))


class Softmax2d(Module):
    """Softmax over the channels of (N, C, H, W) or (C, H, W): at every spatial position."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(inputs=(rng.standard_normal((2, 3, 2, 2)),))

    def forward(self, input: Any) -> Tensor:
        nd = input.ndim if isinstance(input, Tensor) else backend.xp.ndim(input)
        if nd not in (3, 4):
            raise ValueError(f"Softmax2d: expected a 3D or 4D input (C, H, W) or (N, C, H, W), "
                             f"got {nd}D")
        return F.softmax(input, -3)
