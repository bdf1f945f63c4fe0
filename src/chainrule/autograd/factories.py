"""Tensors from data: ``tensor`` (copies), ``as_tensor`` and ``from_numpy`` (share memory)."""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.autograd.dtypes import _DEFAULT_DTYPE, to_dtype
from chainrule.autograd.tensor import Tensor, _leaf


def _infer_array(data: Any, dtype: Any) -> backend.ndarray:
    """Array for ``cr.tensor(data)``: Python floats become the default dtype, arrays keep theirs.
    The array module is the data's (the default one for Python data)."""
    if isinstance(data, Tensor):
        data = data._data
    xp = backend.get_array_module(data)
    if dtype is not None:
        return xp.array(data, dtype=to_dtype(dtype))
    if isinstance(data, (xp.ndarray, backend.generic)):
        return xp.array(data)
    arr = xp.array(data)
    if arr.dtype == backend.float64:
        arr = arr.astype(_DEFAULT_DTYPE[0])
    elif arr.dtype.kind not in "biuf":
        raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} "
                        f"(NumPy read it as dtype {arr.dtype}); expected numbers, lists of "
                        "numbers or an array")
    return arr


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor that copies ``data`` (PyTorch's ``torch.tensor``)."""
    if device is not None:
        backend.check_device(device, "tensor")
    return _leaf(_infer_array(data, dtype), requires_grad)


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """``data`` as a tensor, sharing memory with it where possible (PyTorch's ``as_tensor``)."""
    if isinstance(data, Tensor):
        return data if dtype is None or data.dtype == to_dtype(dtype) else data.to(dtype)
    if isinstance(data, backend.ndarray) and (dtype is None or data.dtype == to_dtype(dtype)):
        return _leaf(data)
    return _leaf(_infer_array(data, dtype))


def from_numpy(arr: backend.ndarray) -> Tensor:
    """A tensor sharing memory with a NumPy array (PyTorch's ``from_numpy``)."""
    if not isinstance(arr, backend.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray, got {type(arr).__name__}")
    return _leaf(arr)
