"""Automatic mixed precision, as ``torch.amp``: ``autocast`` (chainrule.autograd.autocast),
``GradScaler`` (loss scaling), ``custom_fwd`` / ``custom_bwd`` for ``cr.autograd.Function``, and
the deprecated ``cr.cuda.amp`` / ``cr.cpu.amp`` spellings that older scripts use.

See docs/amp.md: what autocast casts, what loss scaling does, and what to expect on NumPy
(float16 has no BLAS there: correct, not fast).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

from chainrule import backend
from chainrule.amp.grad_scaler import GradScaler, OptState
from chainrule.autograd.autocast import (
    autocast,
    get_autocast_dtype,
    is_autocast_enabled,
    set_autocast_dtype,
)
from chainrule.autograd.tensor import Tensor

__all__ = ["GradScaler", "OptState", "autocast", "custom_bwd", "custom_fwd",
           "get_autocast_dtype", "is_autocast_available", "is_autocast_enabled",
           "set_autocast_dtype"]


def is_autocast_available(device_type: str) -> bool:
    """Whether autocast can cast on ``device_type``: only ``"cpu"`` here."""
    return device_type == "cpu"


def _cast_tensors(value: Any, dtype: Any) -> Any:
    if isinstance(value, Tensor) and value.is_floating_point() and value.dtype != backend.float64:
        return value.to(dtype)
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_tensors(v, dtype) for v in value)
    if isinstance(value, dict):
        return {k: _cast_tensors(v, dtype) for k, v in value.items()}
    return value


def custom_fwd(fwd: Callable[..., Any] | None = None, *, device_type: str,
               cast_inputs: Any = None) -> Any:
    """Decorator for a custom ``Function``'s ``forward`` (as ``torch.amp.custom_fwd``): with
    ``cast_inputs`` and autocast on, the floating tensor arguments are cast to it and forward
    runs with autocast off; without, forward runs under the caller's autocast state, which
    ``custom_bwd`` then restores for backward."""
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(*args: Any, **kwargs: Any) -> Any:
        ctx = args[0]
        ctx._fwd_used_autocast = is_autocast_enabled(device_type)
        ctx._dtype = get_autocast_dtype(device_type)
        if cast_inputs is None or not ctx._fwd_used_autocast:
            return fwd(*args, **kwargs)
        with autocast(device_type=device_type, enabled=False):
            return fwd(ctx, *_cast_tensors(args[1:], cast_inputs),
                       **_cast_tensors(kwargs, cast_inputs))

    return decorate_fwd


def custom_bwd(bwd: Callable[..., Any] | None = None, *, device_type: str) -> Any:
    """Decorator for a custom ``Function``'s ``backward``: runs it under the autocast state that
    forward ran under (see ``custom_fwd``)."""
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def decorate_bwd(*args: Any, **kwargs: Any) -> Any:
        ctx = args[0]
        with autocast(device_type=device_type, enabled=ctx._fwd_used_autocast,
                      dtype=ctx._dtype):
            return bwd(*args, **kwargs)

    return decorate_bwd


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"`{old}(args...)` is deprecated. Please use `{new}` instead.",
                  FutureWarning, stacklevel=3)


class _DeviceAmp:
    """``cr.cuda.amp`` and ``cr.cpu.amp``: the device-specific spellings PyTorch deprecated in
    favour of ``cr.amp.*(device_type, ...)``. They warn as PyTorch does, then behave as the
    ``cr.amp`` forms for their device (for CUDA: disabled, there being no GPU)."""

    def __init__(self, device: str, default_dtype: Any) -> None:
        self.device = device
        dev = device

        class autocast_(autocast):
            _stacklevel = 3

            def __init__(self, enabled: bool = True, dtype: Any = default_dtype,
                         cache_enabled: bool = True) -> None:
                _deprecated(f"cr.{dev}.amp.autocast", f"cr.amp.autocast('{dev}', args...)")
                super().__init__(dev, dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)

        autocast_.__name__ = autocast_.__qualname__ = "autocast"
        self.autocast = autocast_

        class GradScaler_(GradScaler):
            _stacklevel = 3

            def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0,
                         backoff_factor: float = 0.5, growth_interval: int = 2000,
                         enabled: bool = True) -> None:
                _deprecated(f"cr.{dev}.amp.GradScaler", f"cr.amp.GradScaler('{dev}', args...)")
                super().__init__(dev, init_scale, growth_factor, backoff_factor,
                                 growth_interval, enabled)

        GradScaler_.__name__ = GradScaler_.__qualname__ = "GradScaler"
        self.GradScaler = GradScaler_

    def custom_fwd(self, fwd: Callable[..., Any] | None = None, *,
                   cast_inputs: Any = None) -> Any:
        """``cr.amp.custom_fwd(device_type=<this device>)`` (deprecated spelling)."""
        _deprecated(f"cr.{self.device}.amp.custom_fwd",
                    f"cr.amp.custom_fwd(args..., device_type='{self.device}')")
        return custom_fwd(fwd, device_type=self.device, cast_inputs=cast_inputs)

    def custom_bwd(self, bwd: Callable[..., Any] | None = None) -> Any:
        """``cr.amp.custom_bwd(device_type=<this device>)`` (deprecated spelling)."""
        _deprecated(f"cr.{self.device}.amp.custom_bwd",
                    f"cr.amp.custom_bwd(args..., device_type='{self.device}')")
        return custom_bwd(bwd, device_type=self.device)


cuda_amp = _DeviceAmp("cuda", backend.float16)
"""``cr.cuda.amp``."""
cpu_amp = _DeviceAmp("cpu", backend.bfloat16)
"""``cr.cpu.amp``."""
