"""Normalisation layers (BatchNorm1d/2d/3d, SyncBatchNorm, LayerNorm, RMSNorm,
InstanceNorm1d/2d/3d, GroupNorm, LocalResponseNorm, CrossMapLRN2d, and the lazy
LazyBatchNorm1d/2d/3d, LazyInstanceNorm1d/2d/3d) on the fused ``batch_norm`` / ``layer_norm`` ops
and compositions."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from chainrule import backend, creation
from chainrule.autograd.factories import tensor
from chainrule.autograd.tensor import Tensor
from chainrule.distributed import process_group as dist
from chainrule.distributed.sync_batch_norm import sync_batch_norm
from chainrule.errors import size_arg
from chainrule.nn import functional as F
from chainrule.nn import init
from chainrule.nn.functional.spatial import channel_window_mean
from chainrule.nn.lazy import (
    UninitializedBuffer,
    UninitializedParameter,
    _LazySized,
    is_lazy,
    loaded_shape,
)
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.samples import Generator, ModuleSample, lazy_sample


def _affine_parameters(m: Module, shape: tuple, affine: bool, bias: bool, dtype: Any,
                       device: Any) -> None:
    """Register a normalisation layer's ``weight`` and ``bias`` of ``shape`` (or None for each
    left out), as PyTorch's LayerNorm and GroupNorm do."""
    if affine:
        m.weight = Parameter(creation.empty(shape, dtype=dtype, device=device))
        if bias:
            m.bias = Parameter(creation.empty(shape, dtype=dtype, device=device))
            return
    else:
        m.register_parameter("weight", None)
    m.register_parameter("bias", None)


def _reset_affine(m: Module) -> None:
    """Weight 1, bias 0 (where they exist)."""
    if m.weight is not None:
        init.ones_(m.weight)
    if m.bias is not None:
        init.zeros_(m.bias)


class _NormBase(Module):
    """Shared by the batch and instance norms, as PyTorch's ``_NormBase``: ``weight``/``bias``
    (``affine``), the running statistics (``track_running_stats``), their reset, the repr."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        num_features = size_arg(type(self).__name__, "num_features", num_features)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _affine_parameters(self, (num_features,), affine, bias, dtype, device)
        if track_running_stats:
            self.register_buffer("running_mean", creation.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", creation.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=backend.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        _reset_affine(self)

    _ranks: tuple[int, ...] = ()  # the input ranks a subclass accepts; () = any of at least 2
    _layout = "(N, C, ...)"  # the layout its error message asks for

    def _check_rank(self, shape: tuple) -> None:
        ok = len(shape) in self._ranks if self._ranks else len(shape) >= 2
        if not ok:
            want = " or ".join(f"{r}D" for r in self._ranks) if self._ranks else "at least 2D"
            raise ValueError(f"{type(self).__name__}: expected {want} input (got {len(shape)}D "
                             f"input of shape {shape}); use {self._layout}")

    def _feature_dim(self, shape: tuple) -> int:
        """The channel dimension of an input of ``shape``."""
        return 1

    def _load_from_state_dict(self, state_dict: dict, prefix: str, local_metadata: dict,
                              strict: bool, missing_keys: list, unexpected_keys: list,
                              error_msgs: list) -> None:
        # checkpoints without num_batches_tracked (PyTorch before 0.4.1) load, as in PyTorch
        key = prefix + "num_batches_tracked"
        if self.track_running_stats and key not in state_dict:
            state_dict[key] = self.num_batches_tracked if self.num_batches_tracked is not None \
                else tensor(0, dtype=backend.int64)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    """Shared by the batch-norm layers: the train/eval logic (batch or running statistics,
    their momentum or cumulative update)."""

    def _check_input_dim(self, input: Any) -> None:
        shape = tuple(backend.xp.shape(input))
        self._check_rank(shape)
        # without weight or running statistics nothing has num_features entries (PyTorch then
        # takes any channel count)
        if shape[1] != self.num_features and (self.affine or self.track_running_stats):
            raise ValueError(f"{type(self).__name__}: input of shape {shape} has {shape[1]} "
                             f"channels (dimension 1) but the layer has "
                             f"num_features={self.num_features}")

    def forward(self, input: Any) -> Tensor:
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        b = self._buffers
        if self.training and self.track_running_stats and b["num_batches_tracked"] is not None:
            nbt = b["num_batches_tracked"]
            nbt.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(nbt)
        use_batch = self.training or (b["running_mean"] is None and b["running_var"] is None)
        track = not self.training or self.track_running_stats
        p = self._parameters
        return self._normalize(input, b["running_mean"] if track else None,
                               b["running_var"] if track else None, p["weight"], p["bias"],
                               use_batch, factor)

    def _normalize(self, input: Any, running_mean: Any, running_var: Any, weight: Any,
                   bias: Any, use_batch: bool, factor: float) -> Tensor:
        return F.batch_norm(input, running_mean, running_var, weight, bias, use_batch, factor,
                            self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs per channel C, as
    ``torch.nn.BatchNorm1d``: in training, normalise with the batch's mean and (biased)
    variance and update ``running_mean``/``running_var`` (unbiased) with ``momentum`` (None:
    a cumulative average); in eval mode, normalise with the running statistics. Then scale
    by ``weight`` and shift by ``bias`` (when ``affine``)."""

    _ranks = (2, 3)
    _layout = "(N, C) or (N, C, L)"

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(3,), inputs=(rng.standard_normal((4, 3, 2)),),
                            mode_dependent=True)


class LayerNorm(Module):
    """Normalise over the last dimensions ``normalized_shape`` of each sample (mean 0,
    variance 1), then scale and shift elementwise, as ``torch.nn.LayerNorm``. The same in
    training and eval."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=((3, 2),), inputs=(rng.standard_normal((2, 3, 2)),))

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if isinstance(normalized_shape, (int, backend.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _affine_parameters(self, self.normalized_shape, elementwise_affine, bias, dtype, device)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input: Any) -> Tensor:
        p = self._parameters
        return F.layer_norm(input, self.normalized_shape, p["weight"], p["bias"], self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) inputs per channel C, as ``torch.nn.BatchNorm2d``:
    statistics over (N, H, W); running statistics, momentum and train/eval as ``BatchNorm1d``.
    The forward is the fused ``batch_norm`` op."""

    _ranks = (4,)
    _layout = "(N, C, H, W)"

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(3,), inputs=(rng.standard_normal((2, 3, 2, 2)),),
                            mode_dependent=True)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) inputs per channel C, as
    ``torch.nn.BatchNorm3d``: statistics over (N, D, H, W); otherwise as ``BatchNorm2d``."""

    _ranks = (5,)
    _layout = "(N, C, D, H, W)"

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(2,), inputs=(rng.standard_normal((2, 2, 2, 1, 2)),),
                            mode_dependent=True)


class RMSNorm(Module):
    """Root-mean-square normalisation over the last dims ``normalized_shape``, then an
    elementwise ``weight`` (initialised to 1), as ``torch.nn.RMSNorm``: ``x / sqrt(mean(x^2) +
    eps) * weight``; ``eps=None`` is the machine epsilon of the input's computation."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=((3, 2),), inputs=(rng.standard_normal((2, 3, 2)),))

    def __init__(self, normalized_shape: int | Sequence[int], eps: float | None = None,
                 elementwise_affine: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if isinstance(normalized_shape, (int, backend.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(creation.empty(self.normalized_shape, dtype=dtype,
                                                   device=device))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input: Any) -> Tensor:
        return F.rms_norm(input, self.normalized_shape, self._parameters["weight"], self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class LocalResponseNorm(Module):
    """AlexNet's normalisation across neighbouring channels, as ``torch.nn.LocalResponseNorm``:
    ``x / (k + alpha / size * sum of x^2 over size channels)^beta``."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(3,), kwargs={"alpha": 0.1, "k": 2.0},
                            inputs=(rng.standard_normal((2, 4, 3)),))

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75,
                 k: float = 1.0) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Any) -> Tensor:
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class CrossMapLRN2d(Module):
    """PyTorch's legacy (Lua Torch) response normalisation across the channels of an
    (N, C, H, W) input, as ``torch.nn.CrossMapLRN2d``: ``y = x * (k + alpha / size * S)^-beta``
    with S the sum of x^2 over channels ``c - p + 1 .. c + p - 1``, p = (size - 1) // 2 + 1
    (``LocalResponseNorm(size)``'s window for odd sizes, one channel narrower for even ones)
    plus, for c >= p, channel 0: PyTorch's running sum never takes channel 0 out of the
    window, and these are PyTorch's values. The gradient is the exact one of those values;
    PyTorch's hand-written backward agrees with it only for C <= size // 2 (beyond, its own
    gradcheck fails; ``tests/test_nn_layers.py`` pins both)."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        # C <= size // 2: where PyTorch's backward is the gradient of its forward (see above)
        return ModuleSample(args=(4,), kwargs={"alpha": 0.1, "k": 2.0},
                            inputs=(rng.standard_normal((2, 2, 3, 2)),))

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Any) -> Tensor:
        x = input if isinstance(input, Tensor) else tensor(input)
        if x.ndim != 4:
            raise ValueError(f"CrossMapLRN2d: Expected input to be 4D, got {x.ndim}D instead "
                             f"(shape {tuple(x.shape)}); use (N, C, H, W)")
        size = size_arg("CrossMapLRN2d", "size", self.size)
        if size == 0:
            raise ValueError("CrossMapLRN2d: size=0; expected a positive window size")
        p, c = (size - 1) // 2 + 1, x.shape[1]
        sq = x * x
        s = channel_window_mean(sq, p - 1, p - 1) * (2 * p - 1)
        if c > p:  # channel 0 stays in PyTorch's running window
            xp = backend.get_array_module(x._data)
            later = tensor((xp.arange(c) >= p).astype(x.dtype).reshape(1, c, 1, 1))
            s = s + sq[:, :1] * later
        return x * (s * (self.alpha / size) + self.k) ** -self.beta

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation whose training statistics cover the global batch of every rank, as
    ``torch.nn.SyncBatchNorm``: inside a process group of more than one rank, in training, the
    per-channel count, mean and variance are combined over all ranks in forward and the
    backward all-reduces ``sum(g)`` and ``sum(g * xhat)``, so the gradients (after
    DistributedDataParallel's averaging) and running statistics are those of ``BatchNorm`` on the
    concatenated batch (chainrule.distributed.sync_batch_norm). In eval mode, or without a
    process group, it is ``BatchNorm`` on the local batch. Input (N, C, ...), at least 2-D.

    ``process_group`` is accepted for PyTorch code; chainrule has one group, every rank."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        # single process (no process group): the BatchNorm path, compared with torch's
        return ModuleSample(args=(3,), inputs=(rng.standard_normal((3, 3, 2)),),
                            mode_dependent=True)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 process_group: Any = None, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)
        self.process_group = process_group

    def _normalize(self, input: Any, running_mean: Any, running_var: Any, weight: Any,
                   bias: Any, use_batch: bool, factor: float) -> Tensor:
        if self.training and use_batch and dist.get_world_size() > 1:
            x = input if isinstance(input, Tensor) else tensor(input)
            return sync_batch_norm(x, running_mean, running_var, weight, bias, factor, self.eps)
        return super()._normalize(input, running_mean, running_var, weight, bias, use_batch,
                                  factor)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group: Any = None) -> Module:
        """``module`` with every ``BatchNorm1d``/``BatchNorm2d`` inside replaced by a
        ``SyncBatchNorm`` sharing its parameters and buffers (a BatchNorm ``module`` itself
        comes back as a new SyncBatchNorm), as ``torch.nn.SyncBatchNorm.convert_sync_batchnorm``.
        Convert before wrapping in DistributedDataParallel and before building the optimizer."""
        out = module
        if isinstance(module, (BatchNorm1d, BatchNorm2d)):
            out = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats, process_group, bias=module.bias is not None)
            for name in ("weight", "bias"):
                if module._parameters.get(name) is not None:
                    out._parameters[name] = module._parameters[name]
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                out._buffers[name] = module._buffers[name]
            out.train(module.training)
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out


class _InstanceNorm(_NormBase):
    """Shared by the instance norms, as PyTorch's ``_InstanceNorm``: each channel of each
    sample normalised over its ``_nd`` spatial dims (``F.instance_norm``), batched or not;
    defaults ``affine=False``, ``track_running_stats=False``; with ``track_running_stats`` the
    running statistics (the batch mean of the per-instance ones) are used in eval mode."""

    _nd = 2

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)

    @property
    def _ranks(self) -> tuple[int, ...]:  # type: ignore[override]
        return (self._nd + 1, self._nd + 2)

    @property
    def _layout(self) -> str:  # type: ignore[override]
        dims = ", ".join("DHW"[3 - self._nd:]) if self._nd > 1 else "L"
        return f"(N, C, {dims}) or (C, {dims})"

    def _feature_dim(self, shape: tuple) -> int:
        return len(shape) - self._nd - 1

    def forward(self, input: Any) -> Tensor:
        shape = tuple(backend.xp.shape(input))
        self._check_rank(shape)
        dim = self._feature_dim(shape)
        if shape[dim] != self.num_features:
            if self.affine:
                raise ValueError(f"{type(self).__name__}: expected input's size at dim={dim} to "
                                 f"match num_features ({self.num_features}), but got: "
                                 f"{shape[dim]} (input of shape {shape}).")
            warnings.warn(f"input's size at dim={dim} does not match num_features. You can "
                          "silence this warning by not passing in num_features, which is not "
                          "used because affine=False", stacklevel=2)
        x = input.unsqueeze(0) if dim == 0 else input
        b, p = self._buffers, self._parameters
        y = F.instance_norm(x, b["running_mean"], b["running_var"], p["weight"], p["bias"],
                            self.training or not self.track_running_stats,
                            0.0 if self.momentum is None else self.momentum, self.eps)
        return y.squeeze(0) if dim == 0 else y


class InstanceNorm1d(_InstanceNorm):
    """Normalise each channel of each sample over its length, as ``torch.nn.InstanceNorm1d``:
    input (N, C, L) or (C, L); options as ``InstanceNorm2d``."""

    _nd = 1

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(3,), kwargs={"affine": True, "track_running_stats": True,
                                               "momentum": 0.3},
                            inputs=(rng.standard_normal((2, 3, 4)),), mode_dependent=True)


class InstanceNorm2d(_InstanceNorm):
    """Normalise each channel of each sample over its (H, W) positions, as
    ``torch.nn.InstanceNorm2d`` (defaults: ``affine=False``, ``track_running_stats=False``);
    with ``track_running_stats`` the running statistics are used in eval mode."""

    _nd = 2

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(3,), kwargs={"affine": True, "track_running_stats": True},
                            inputs=(rng.standard_normal((2, 3, 2, 3)),), mode_dependent=True)


class InstanceNorm3d(_InstanceNorm):
    """Normalise each channel of each sample over its (D, H, W) positions, as
    ``torch.nn.InstanceNorm3d``: input (N, C, D, H, W) or (C, D, H, W); options as
    ``InstanceNorm2d``."""

    _nd = 3

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(2,), kwargs={"affine": True, "track_running_stats": True},
                            inputs=(rng.standard_normal((2, 2, 2, 1, 3)),), mode_dependent=True)


# --- lazy forms: num_features from the first input --------------------------------------------


class _LazyNormBase(_LazySized):
    """Shared by the lazy batch and instance norms, as PyTorch's ``_LazyNormBase``: built with
    ``num_features=0``; ``weight``/``bias`` and the running statistics are placeholders until the
    first input (its channel dimension) or a checkpoint sizes them. Defaults ``affine=True``,
    ``track_running_stats=True`` (also for the instance norms, as in PyTorch)."""

    _size_attr = "num_features"

    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        super().__init__(0, eps, momentum, False, False, device, dtype,  # type: ignore[call-arg]
                         bias=False)
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = UninitializedParameter(device=device, dtype=dtype)
            if bias:
                self.bias = UninitializedParameter(device=device, dtype=dtype)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(device=device, dtype=dtype)
            self.running_var = UninitializedBuffer(device=device, dtype=dtype)
            self.num_batches_tracked = tensor(0, dtype=backend.int64)

    _STATE = ("weight", "bias", "running_mean", "running_var")

    def _size_of(self, input: Any) -> int:
        shape = tuple(backend.xp.shape(input))
        self._check_rank(shape)  # type: ignore[attr-defined]
        return int(shape[self._feature_dim(shape)])  # type: ignore[attr-defined]

    def _size_in(self, state_dict: dict, prefix: str) -> int | None:
        shapes = (loaded_shape(state_dict, prefix + k, 1) for k in self._STATE)
        return next((s[0] for s in shapes if s is not None), None)

    def _materialize(self, n: int) -> None:
        self.num_features = n
        for k in self._STATE:
            t = getattr(self, k)
            if is_lazy(t):
                t.materialize((n,))


def _lazy_norm_sample(cls: type, rng: Generator, shape: tuple) -> ModuleSample:
    return lazy_sample(cls, rng, (), {"momentum": 0.3}, shape, mode_dependent=True)


class LazyBatchNorm1d(_LazyNormBase, BatchNorm1d):
    """A ``BatchNorm1d`` whose ``num_features`` is inferred from its first input, as
    ``torch.nn.LazyBatchNorm1d``; it then becomes a ``BatchNorm1d``."""

    cls_to_become = BatchNorm1d

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return _lazy_norm_sample(cls, rng, (4, 3, 2))


class LazyBatchNorm2d(_LazyNormBase, BatchNorm2d):
    """A ``BatchNorm2d`` whose ``num_features`` is inferred from its first input, as
    ``torch.nn.LazyBatchNorm2d``; it then becomes a ``BatchNorm2d``."""

    cls_to_become = BatchNorm2d

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return _lazy_norm_sample(cls, rng, (2, 3, 2, 2))


class LazyBatchNorm3d(_LazyNormBase, BatchNorm3d):
    """A ``BatchNorm3d`` whose ``num_features`` is inferred from its first input, as
    ``torch.nn.LazyBatchNorm3d``; it then becomes a ``BatchNorm3d``."""

    cls_to_become = BatchNorm3d

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return _lazy_norm_sample(cls, rng, (2, 2, 2, 1, 2))


class LazyInstanceNorm1d(_LazyNormBase, InstanceNorm1d):
    """An ``InstanceNorm1d`` whose ``num_features`` is inferred from its first input, as
    ``torch.nn.LazyInstanceNorm1d`` (whose defaults are ``affine=True``,
    ``track_running_stats=True``); it then becomes an ``InstanceNorm1d``. The channels are
    read from dimension 0 of an unbatched (C, L) input (PyTorch reads dimension 1, then
    refuses the input)."""

    cls_to_become = InstanceNorm1d

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return _lazy_norm_sample(cls, rng, (2, 3, 4))


class LazyInstanceNorm2d(_LazyNormBase, InstanceNorm2d):
    """An ``InstanceNorm2d`` whose ``num_features`` is inferred from its first input, as
    ``torch.nn.LazyInstanceNorm2d``; it then becomes an ``InstanceNorm2d`` (see
    ``LazyInstanceNorm1d``)."""

    cls_to_become = InstanceNorm2d

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return _lazy_norm_sample(cls, rng, (2, 3, 2, 3))


class LazyInstanceNorm3d(_LazyNormBase, InstanceNorm3d):
    """An ``InstanceNorm3d`` whose ``num_features`` is inferred from its first input, as
    ``torch.nn.LazyInstanceNorm3d``; it then becomes an ``InstanceNorm3d`` (see
    ``LazyInstanceNorm1d``)."""

    cls_to_become = InstanceNorm3d

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return _lazy_norm_sample(cls, rng, (2, 2, 2, 1, 3))


class GroupNorm(Module):
    """Normalise each sample over groups of ``num_channels / num_groups`` channels, then scale
    and shift per channel, as ``torch.nn.GroupNorm``. The same in training and eval."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(2, 4), inputs=(rng.standard_normal((2, 4, 3)),))

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                             f"num_groups ({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _affine_parameters(self, (num_channels,), affine, bias, dtype, device)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input: Any) -> Tensor:
        p = self._parameters
        return F.group_norm(input, self.num_groups, p["weight"], p["bias"], self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")
