"""``cr.amp.GradScaler``: dynamic loss scaling, as ``torch.amp.GradScaler`` does it on the CPU.

Each iteration ``scaler.scale(loss).backward()`` multiplies the loss (and so every gradient) by
the scale; ``scaler.step(optimizer)`` divides the gradients by it (``unscale_``), checks them
for inf/NaN and calls ``optimizer.step()`` only if there are none; ``scaler.update()`` halves the
scale after a skipped step (``backoff_factor``) and doubles it after ``growth_interval``
consecutive good ones (``growth_factor``). The arithmetic is PyTorch's, in the same precisions:
the scale is a float32 scalar, its reciprocal is taken in float64 then rounded to float32, each
gradient is multiplied by it in its own dtype, and the growth and backoff products are formed in
float64 and stored in float32 (a grown scale that would overflow is not stored). The trajectory
of the scale, and of the parameters, matches ``torch.amp.GradScaler("cpu")`` step for step
(``tests/test_amp.py``).

``GradScaler("cuda")``, PyTorch's default device, finds no GPU and disables itself with
PyTorch's warning: ``scale`` returns its input, ``step`` just calls ``optimizer.step()``, which is
what PyTorch does on a machine without CUDA. Use ``GradScaler("cpu")`` for real scaling.
"""

from __future__ import annotations

import warnings
from collections import abc, defaultdict
from enum import Enum
from typing import Any

from chainrule import backend
from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.creation import full

__all__ = ["GradScaler", "OptState"]


class OptState(Enum):
    """Where an optimizer is in the current iteration (PyTorch's names)."""

    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _fresh_state() -> dict[str, Any]:
    return {"stage": OptState.READY, "found_inf_per_device": {}}


_FIX = ("This may indicate your script did not use scaler.scale(loss or outputs) earlier in "
        "the iteration.")


class GradScaler:
    """Loss scaling for mixed-precision training, as ``torch.amp.GradScaler``::

        scaler = cr.amp.GradScaler("cpu")
        for x, y in data:
            optimizer.zero_grad()
            with cr.autocast("cpu", dtype=cr.float16):
                loss = loss_fn(model(x), y)
            scaler.scale(loss).backward()
            scaler.step(optimizer)      # skipped if a gradient is inf or NaN
            scaler.update()

    ``device``: ``"cpu"`` scales; ``"cuda"`` (the default, as in PyTorch) disables the scaler
    with a warning, there being no GPU. ``enabled=False``: every method is a no-op except
    ``step``, which calls ``optimizer.step()``.
    """

    _stacklevel = 2  # where warnings point: the caller (3 for the deprecated subclasses)

    def __init__(self, device: str = "cuda", init_scale: float = 2.0**16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        self._device = device
        self._enabled = enabled
        if device == "cuda" and enabled:
            warnings.warn("cr.amp.GradScaler is enabled, but CUDA is not available (chainrule "
                          "runs on the CPU).  Disabling.", UserWarning,
                          stacklevel=self._stacklevel)
            self._enabled = False
        if self._enabled:
            if growth_factor <= 1.0:
                raise AssertionError("The growth factor must be > 1.0.")
            if backoff_factor >= 1.0:
                raise AssertionError("The backoff factor must be < 1.0.")
            self._init_scale = init_scale
            self._scale: Tensor | None = None  # created by the first scale()
            self._growth_factor = growth_factor
            self._backoff_factor = backoff_factor
            self._growth_interval = growth_interval
            self._init_growth_tracker = 0
            self._growth_tracker: int | None = None
            self._per_optimizer_states: dict[int, dict[str, Any]] = defaultdict(_fresh_state)

    def _check_scale_growth_tracker(self, funcname: str) -> Tensor:
        if self._scale is None:
            raise AssertionError(f"Attempted {funcname} but _scale is None.  " + _FIX)
        return self._scale

    def _lazy_init(self) -> Tensor:
        if self._scale is None:
            self._scale = full((), self._init_scale, dtype=backend.float32)
            self._growth_tracker = self._init_growth_tracker
        return self._scale

    def scale(self, outputs: Any) -> Any:
        """``outputs`` (a tensor, or an iterable of them, nested) times the current scale; the
        input unchanged when the scaler is disabled."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * self._lazy_init()

        def apply_scale(val: Any) -> Any:
            if isinstance(val, Tensor):
                return val * self._lazy_init()
            if isinstance(val, abc.Iterable):
                iterable = map(apply_scale, val)
                if isinstance(val, (list, tuple)):
                    return type(val)(iterable)
                return iterable
            raise ValueError("outputs must be a Tensor or an iterable of Tensors")

        return apply_scale(outputs)

    def _unscale_grads_(self, optimizer: Any, inv_scale: Tensor, allow_fp16: bool) -> Tensor:
        """Multiply every gradient of ``optimizer`` by ``inv_scale`` in place; 1.0 in the
        returned float32 scalar if any of them held an inf or NaN (checked before scaling)."""
        found = False
        with no_grad():
            for group in optimizer.param_groups:
                for param in group["params"]:
                    g = param.grad
                    if g is None:
                        continue
                    if not allow_fp16 and g.dtype == backend.float16:
                        raise ValueError("Attempting to unscale FP16 gradients.")
                    if not found and not bool(g.isfinite().all()):
                        found = True
                    if float(inv_scale) != 1.0:
                        g.mul_(inv_scale.to(g.dtype) if g.dtype != inv_scale.dtype else inv_scale)
        return full((), 1.0 if found else 0.0, dtype=backend.float32)

    def unscale_(self, optimizer: Any) -> None:
        """Divide the gradients of ``optimizer``'s parameters by the scale, in place (call it
        before clipping or inspecting gradients; ``step`` calls it otherwise). Once per
        optimizer per iteration."""
        if not self._enabled:
            return
        scale = self._check_scale_growth_tracker("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.UNSCALED:
            raise RuntimeError("unscale_() has already been called on this optimizer since the "
                               "last update().")
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("unscale_() is being called after step().")
        inv_scale = full((), 1.0 / float(scale), dtype=backend.float32)  # 1/x in float64, rounded
        state["found_inf_per_device"] = {"cpu": self._unscale_grads_(optimizer, inv_scale,
                                                                      False)}
        state["stage"] = OptState.UNSCALED

    def step(self, optimizer: Any, *args: Any, **kwargs: Any) -> Any:
        """``unscale_(optimizer)`` (unless already called), then ``optimizer.step(*args,
        **kwargs)`` if no gradient is inf or NaN; returns what ``optimizer.step`` returns (None
        when skipped)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("Closure use is not currently supported if GradScaler is enabled.")
        self._check_scale_growth_tracker("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("step() has already been called since the last update().")
        if state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        if len(state["found_inf_per_device"]) == 0:
            raise AssertionError("No inf checks were recorded for this optimizer.")
        retval = None
        if not sum(float(v) for v in state["found_inf_per_device"].values()):
            retval = optimizer.step(*args, **kwargs)
        state["stage"] = OptState.STEPPED
        return retval

    def update(self, new_scale: float | Tensor | None = None) -> None:
        """Back the scale off after a skipped step, grow it after ``growth_interval`` good steps
        in a row (or set it to ``new_scale``). Call once per iteration, after every ``step``."""
        if not self._enabled:
            return
        scale = self._check_scale_growth_tracker("update")
        if new_scale is not None:
            if isinstance(new_scale, Tensor):
                if new_scale.numel() != 1 or new_scale.requires_grad:
                    raise AssertionError("new_scale should be a float or a 1-element "
                                         "cr.FloatTensor with requires_grad=False.")
                new_scale = float(new_scale)
            elif not isinstance(new_scale, float):
                raise AssertionError("new_scale should be a float or a 1-element "
                                     "cr.FloatTensor with requires_grad=False.")
            self._set_scale(new_scale)
        else:
            found_infs = [float(f) for st in self._per_optimizer_states.values()
                          for f in st["found_inf_per_device"].values()]
            if len(found_infs) == 0:
                raise AssertionError("No inf checks were recorded prior to update.")
            current = float(scale)
            if sum(found_infs):
                self._set_scale(current * self._backoff_factor)
                self._growth_tracker = 0
            else:
                successful = (self._growth_tracker or 0) + 1
                if successful == self._growth_interval:
                    grown = float(backend.xp.float32(current * self._growth_factor))
                    if backend.xp.isfinite(grown):
                        self._set_scale(grown)
                    self._growth_tracker = 0
                else:
                    self._growth_tracker = successful
        self._per_optimizer_states = defaultdict(_fresh_state)

    def _set_scale(self, value: float) -> None:
        """Store ``value`` as the float32 scale (a new tensor: scaled losses keep the old one)."""
        self._scale = full((), value, dtype=backend.float32)

    def get_scale(self) -> float:
        """The current scale as a Python float (1.0 when disabled)."""
        if self._enabled:
            return self._init_scale if self._scale is None else float(self._scale)
        return 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = new_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = new_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = new_interval

    def _get_growth_tracker(self) -> int:
        if self._enabled:
            return self._init_growth_tracker if self._growth_tracker is None \
                else self._growth_tracker
        return 0

    def is_enabled(self) -> bool:
        """Whether this scaler scales (False when disabled, or for device ``"cuda"``)."""
        return self._enabled

    def state_dict(self) -> dict[str, Any]:
        """The scale, the factors, the interval and the growth tracker (PyTorch's keys); an
        empty dict when disabled. Save it after ``update()``."""
        if self._enabled:
            return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                    "backoff_factor": self._backoff_factor,
                    "growth_interval": self._growth_interval,
                    "_growth_tracker": self._get_growth_tracker()}
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (a no-op when disabled)."""
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("The source state dict is empty, possibly because it was saved "
                               "from a disabled instance of GradScaler.")
        self._init_scale = float(state_dict["scale"])
        if self._scale is not None:
            self._set_scale(self._init_scale)
        self._growth_factor = float(state_dict["growth_factor"])
        self._backoff_factor = float(state_dict["backoff_factor"])
        self._growth_interval = int(state_dict["growth_interval"])
        self._init_growth_tracker = int(state_dict["_growth_tracker"])
        if self._growth_tracker is not None:
            self._growth_tracker = self._init_growth_tracker
