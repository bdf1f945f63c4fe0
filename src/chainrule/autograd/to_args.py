"""PyTorch's ``to(...)`` arguments, parsed once for ``Tensor.to`` and ``Module.to``."""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.autograd.tensor import Tensor


def parse_to_args(args: tuple, kwargs: dict, where: str) -> Any:
    """The dtype asked for by PyTorch's ``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or
    ``to(other_tensor)`` arguments (None when only a device is given); checks the device."""
    kwargs = dict(kwargs)
    dtype = kwargs.pop("dtype", None)
    dev = kwargs.pop("device", None)
    for ignored in ("non_blocking", "copy", "memory_format"):
        kwargs.pop(ignored, None)
    if kwargs:
        raise TypeError(f"{where}: unexpected arguments {sorted(kwargs)}; expected a dtype, a "
                        "device or a tensor")
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, (str, backend.device)):
            dev = a
        elif isinstance(a, bool):  # the non_blocking positional
            continue
        else:
            dtype = a
    if dev is not None:
        backend.check_device(dev, where)
    return dtype
