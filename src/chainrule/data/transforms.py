"""Transforms for samples and whole batches: Compose, ToFloat, Normalize, Flatten, OneHot, Lambda.

A transform called on one sample (``t(x)``) works as in torchvision. Each one also has
``t.batch(xb)`` for a batch with a leading batch dimension, computed in one vectorised step:
array datasets (``ArrayDataset``, ``Digits``, ``MNIST``, ...) use it, so transforming a batch of 64
images costs one NumPy call per transform, not 64. Inputs may be NumPy arrays (the result is an
array) or chainrule tensors (the result is a tensor); float32 stays float32.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.autograd.dtypes import get_default_dtype, to_dtype
from chainrule.autograd.factories import from_numpy
from chainrule.autograd.tensor import Tensor


class Transform:
    """Base class: subclasses define ``forward(x, batched)`` on a NumPy array."""

    def forward(self, x: np.ndarray, batched: bool) -> np.ndarray:
        raise NotImplementedError

    def _run(self, x: Any, batched: bool) -> Any:
        if isinstance(x, Tensor):
            return from_numpy(np.asarray(self.forward(x.detach().numpy(), batched)))
        return self.forward(np.asarray(x), batched)

    def __call__(self, x: Any) -> Any:
        """Transform one sample."""
        return self._run(x, False)

    def batch(self, x: Any) -> Any:
        """Transform a batch (dim 0 indexes the samples)."""
        return self._run(x, True)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Compose(Transform):
    """Apply ``transforms`` in order."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x: Any) -> Any:
        for t in self.transforms:
            x = t(x)
        return x

    def batch(self, x: Any) -> Any:
        for t in self.transforms:
            if hasattr(t, "batch"):
                x = t.batch(x)
            else:  # a plain callable: sample by sample
                x = np.stack([np.asarray(t(s)) for s in x])
        return x

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"


class ToFloat(Transform):
    """Cast to a floating dtype (float32 by default). With ``scale=True`` integer inputs are
    divided by their dtype's maximum, so uint8 pixels 0..255 land in [0, 1] (as torchvision's
    ``ToTensor`` / ``ToDtype(scale=True)``); float inputs are only cast."""

    def __init__(self, dtype: Any = None, scale: bool = True) -> None:
        self.dtype = get_default_dtype() if dtype is None else to_dtype(dtype)
        if self.dtype.kind != "f":
            raise TypeError(f"ToFloat: dtype {self.dtype} is not floating; expected e.g. "
                            "cr.float32")
        self.scale = scale

    def forward(self, x: np.ndarray, batched: bool) -> np.ndarray:
        out = x.astype(self.dtype)
        if self.scale and x.dtype.kind in "iu":
            out /= self.dtype.type(np.iinfo(x.dtype).max)
        return out


class Normalize(Transform):
    """``(x - mean) / std``. ``mean`` and ``std`` are numbers or sequences: one value per channel
    for image samples of 3 or more dims (channel dim -3, as torchvision), else one value per
    feature of the sample's last dim. A length-1 sequence acts as a number."""

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]) -> None:
        self.mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        self.std = np.asarray(std, dtype=np.float64).reshape(-1)
        if self.mean.size == 0 or self.std.size == 0:
            raise ValueError("Normalize: mean and std must not be empty")
        if np.any(self.std == 0):
            raise ValueError(f"Normalize: std evaluated to zero after conversion to float "
                             f"(std={self.std.tolist()}), leading to division by zero")
        n = max(self.mean.size, self.std.size)
        if self.mean.size not in (1, n) or self.std.size not in (1, n):
            raise ValueError(f"Normalize: mean has {self.mean.size} values and std "
                             f"{self.std.size}; expected equal lengths (or one of length 1)")

    def forward(self, x: np.ndarray, batched: bool) -> np.ndarray:
        if x.dtype.kind != "f":
            raise TypeError(f"Normalize: input dtype {x.dtype} is not floating; put ToFloat() "
                            "before Normalize")
        sample_ndim = x.ndim - batched
        n = max(self.mean.size, self.std.size)
        mean, std = self.mean.astype(x.dtype), self.std.astype(x.dtype)
        if n > 1:
            axis = -3 if sample_ndim >= 3 else -1
            size = x.shape[axis] if sample_ndim >= 1 else 1
            if size != n:
                what = "channels (dim -3)" if sample_ndim >= 3 else "features (last dim)"
                raise ValueError(f"Normalize: {n} means/stds but the sample of shape "
                                 f"{x.shape[batched:]} has {size} {what}")
            shape = (n, 1, 1) if sample_ndim >= 3 else (n,)
            mean, std = mean.reshape(shape), std.reshape(shape)
        else:
            mean, std = mean[0], std[0]
        return (x - mean) / std


class Flatten(Transform):
    """Flatten each sample to one dimension: (28, 28) -> (784,), a batch (B, 1, 28, 28) ->
    (B, 784)."""

    def forward(self, x: np.ndarray, batched: bool) -> np.ndarray:
        return x.reshape(x.shape[0], -1) if batched else x.reshape(-1)


class OneHot(Transform):
    """Integer class labels -> one-hot rows (float32): label 3 of 10 -> [0, 0, 0, 1, 0, ...]."""

    def __init__(self, num_classes: int, dtype: Any = None) -> None:
        if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"OneHot: num_classes must be a positive integer, got "
                             f"{num_classes!r}")
        self.num_classes = int(num_classes)
        self.dtype = get_default_dtype() if dtype is None else to_dtype(dtype)

    def forward(self, x: np.ndarray, batched: bool) -> np.ndarray:
        if x.dtype.kind not in "iub":
            raise TypeError(f"OneHot: labels must be integers, got dtype {x.dtype}")
        if x.size and (x.min() < 0 or x.max() >= self.num_classes):
            bad = x[(x < 0) | (x >= self.num_classes)].reshape(-1)[0]
            raise ValueError(f"OneHot: label {bad} is outside [0, {self.num_classes}); "
                             f"expected class indices 0..{self.num_classes - 1}")
        return np.eye(self.num_classes, dtype=self.dtype)[x]


class Lambda(Transform):
    """Wrap a function as a transform. ``batched=True`` says ``fn`` already works on a whole
    batch (e.g. an elementwise ``lambda x: x * 2``); otherwise batches are mapped sample by
    sample."""

    def __init__(self, fn: Callable[[Any], Any], batched: bool = False) -> None:
        if not callable(fn):
            raise TypeError(f"Lambda: expected a callable, got {type(fn).__name__}")
        self.fn, self.batched = fn, batched

    def __call__(self, x: Any) -> Any:
        return self.fn(x)

    def batch(self, x: Any) -> Any:
        if self.batched:
            return self.fn(x)
        outs = [self.fn(s) for s in x]
        if isinstance(x, Tensor):
            return from_numpy(np.stack([np.asarray(o) for o in outs]))
        return np.stack([np.asarray(o) for o in outs])
