"""``default_collate``: a list of samples -> one batch, with PyTorch's rules.

* tensors and NumPy arrays are stacked along a new dim 0 (a chainrule Tensor);
* Python floats -> float64 tensor, ints -> int64 tensor, bools -> bool tensor;
* strings and bytes stay a list;
* dicts collate per key, namedtuples per field, tuples become lists of collated fields (PyTorch's
  backward-compatible rule), lists stay lists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from chainrule.autograd.factories import from_numpy
from chainrule.autograd.tensor import Tensor
from chainrule.errors import fmt_shape


def _stack(arrays: list[np.ndarray]) -> Tensor:
    shape = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.shape != shape:
            raise RuntimeError(f"default_collate: samples 0 and {i} have shapes {fmt_shape(shape)} "
                               f"and {fmt_shape(a.shape)}; stacking a batch needs equal shapes "
                               "(pad or crop them in the dataset, or pass a collate_fn)")
    return from_numpy(np.stack(arrays))


def default_collate(batch: Sequence[Any]) -> Any:
    """Collate a list of samples into a batch (see the module docstring for the rules)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack([t.detach().numpy() for t in batch])
    if isinstance(elem, (np.ndarray, np.generic)) and elem.dtype.kind not in "OSUV":
        return _stack([np.asarray(a) for a in batch])
    if isinstance(elem, bool):
        return from_numpy(np.array(batch, dtype=np.bool_))
    if isinstance(elem, float):
        return from_numpy(np.array(batch, dtype=np.float64))
    if isinstance(elem, int):
        return from_numpy(np.array(batch, dtype=np.int64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, Sequence):
        size = len(elem)
        for i, s in enumerate(batch):
            if len(s) != size:
                raise RuntimeError(f"default_collate: sample 0 has {size} fields but sample {i} "
                                   f"has {len(s)}; each element in list of batch should be of "
                                   "equal size")
        fields = [default_collate(list(s)) for s in zip(*batch)]
        return fields if isinstance(elem, tuple) else _same_type(elem, fields)
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts "
                    f"or lists; found {type(elem).__name__}")


def _same_type(elem: Any, fields: list) -> Any:
    try:
        return type(elem)(fields)
    except TypeError:
        return fields


def default_convert(data: Any) -> Any:
    """Arrays -> tensors, recursively through dicts and sequences (``batch_size=None`` loading)."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "OSUV":
        return from_numpy(data)
    if isinstance(data, np.generic) and data.dtype.kind not in "OSUV":
        return from_numpy(np.asarray(data))
    if isinstance(data, Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, list):
        return [default_convert(d) for d in data]
    return data
