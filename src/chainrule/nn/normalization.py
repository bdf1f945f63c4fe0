"""Normalisation layers (BatchNorm1d/2d/3d, SyncBatchNorm, LayerNorm, RMSNorm, InstanceNorm2d,
GroupNorm, LocalResponseNorm) on the fused ``batch_norm`` / ``layer_norm`` ops and
compositions."""

from __future__ import annotations

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
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.samples import Generator, ModuleSample


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


class _BatchNorm(Module):
    """Shared by the batch-norm layers: parameters, running statistics, train/eval logic."""

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
        if affine:
            self.weight = Parameter(creation.empty(num_features, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(creation.empty(num_features, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
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
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    _ranks: tuple[int, ...] = ()  # the input ranks a subclass accepts; () = any of at least 2
    _layout = "(N, C, ...)"  # the layout its error message asks for

    def _check_input_dim(self, input: Any) -> None:
        name = type(self).__name__
        shape = tuple(backend.xp.shape(input))
        ok = len(shape) in self._ranks if self._ranks else len(shape) >= 2
        if not ok:
            want = " or ".join(f"{r}D" for r in self._ranks) if self._ranks else "at least 2D"
            raise ValueError(f"{name}: expected {want} input (got {len(shape)}D input of shape "
                             f"{shape}); use {self._layout}")
        if shape[1] != self.num_features:
            raise ValueError(f"{name}: input of shape {shape} has {shape[1]} channels "
                             f"(dimension 1) but the layer has num_features={self.num_features}")

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


class InstanceNorm2d(_BatchNorm):
    """Normalise each channel of each sample over its (H, W) positions, as
    ``torch.nn.InstanceNorm2d`` (defaults: ``affine=False``, ``track_running_stats=False``);
    with ``track_running_stats`` the running statistics are used in eval mode."""

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(3,), kwargs={"affine": True, "track_running_stats": True},
                            inputs=(rng.standard_normal((2, 3, 2, 3)),), mode_dependent=True)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype)

    def _check_input_dim(self, input: Any) -> None:
        shape = tuple(backend.xp.shape(input))
        if len(shape) not in (3, 4):
            raise ValueError(f"InstanceNorm2d: expected 3D or 4D input (got {len(shape)}D input "
                             f"of shape {shape}); use (N, C, H, W)")

    def forward(self, input: Any) -> Tensor:
        self._check_input_dim(input)
        unbatched = len(backend.xp.shape(input)) == 3
        x = input.unsqueeze(0) if unbatched else input
        b, p = self._buffers, self._parameters
        y = F.instance_norm(x, b["running_mean"], b["running_var"], p["weight"], p["bias"],
                            self.training or not self.track_running_stats,
                            0.1 if self.momentum is None else self.momentum, self.eps)
        return y.squeeze(0) if unbatched else y


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
