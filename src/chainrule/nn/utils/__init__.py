"""Gradient clipping and flat views of parameters (``torch.nn.utils``)."""

from __future__ import annotations

import math
import types
import warnings
from collections.abc import Iterable
from typing import Any

from chainrule import backend
from chainrule.autograd.factories import tensor
from chainrule.autograd.tensor import Tensor
from chainrule.ops import cat

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "parameters_to_vector",
           "remove_spectral_norm", "remove_weight_norm", "spectral_norm", "vector_to_parameters",
           "weight_norm"]


def _as_list(parameters: Tensor | Iterable[Tensor], who: str) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        return [parameters]
    is_generator = isinstance(parameters, types.GeneratorType)
    params = list(parameters)
    if is_generator and not params:
        warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.",
                      stacklevel=3)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{who}: expected tensors (e.g. model.parameters()), but item {i} is "
                            f"{type(p).__name__}")
    return params


def _norm(a: backend.ndarray, p: float) -> float:
    """The p-norm of an array's entries, as a Python float."""
    if a.size == 0:
        return 0.0
    xp = backend.get_array_module(a)
    if p == 2.0:
        r = a.reshape(-1)
        return math.sqrt(float(xp.dot(r, r)))
    if p == math.inf:
        return float(xp.max(xp.abs(a)))
    if p == -math.inf:
        return float(xp.min(xp.abs(a)))
    if p == 1.0:
        return float(xp.sum(xp.abs(a)))
    if p == 0.0:
        return float(xp.count_nonzero(a))
    return float(xp.sum(xp.abs(a) ** p)) ** (1.0 / p)


def get_total_norm(tensors: Tensor | Iterable[Tensor], norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """The ``norm_type``-norm of all the tensors together, as if concatenated into one vector
    (``'inf'`` for the max-norm)."""
    arrays = [t._data for t in _as_list(tensors, "get_total_norm")]
    norm_type = float(norm_type)
    if not arrays:
        return tensor(0.0)
    norms = backend.xp.array([_norm(a, norm_type) for a in arrays])
    total = _norm(norms, norm_type)  # the norm of the per-tensor norms (PyTorch's definition)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the gradients "
            "by the non-finite norm anyway, set `error_if_nonfinite=False`")
    return tensor(total, dtype=backend.get_array_module(*arrays).result_type(*arrays))


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> Tensor:
    """Scale the gradients in place so that their total norm is at most ``max_norm``.

    The norm is over all gradients together (as one vector); each gradient is multiplied by
    ``min(max_norm / (total_norm + 1e-6), 1)``. Returns the total norm before clipping, a tensor.
    ``foreach`` is accepted for PyTorch compatibility (there is one implementation).

    Example::

        loss.backward()
        cr.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        opt.step()
    """
    params = _as_list(parameters, "clip_grad_norm_")
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    if not grads:
        return total
    coef = float(max_norm) / (float(total._data) + 1e-6)
    if coef < 1.0 or math.isnan(coef):  # multiplying by 1 would change nothing
        xp = backend.get_array_module(grads[0]._data)
        with xp.errstate(invalid="ignore"):  # inf * 0 -> nan, as in PyTorch
            for g in grads:
                g._data *= coef
                g._vc[0] += 1
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamp every gradient entry in place to ``[-clip_value, clip_value]``."""
    clip_value = float(clip_value)
    for p in _as_list(parameters, "clip_grad_value_"):
        g = p.grad
        if g is not None:
            backend.get_array_module(g._data).clip(g._data, -clip_value, clip_value,
                                                   out=g._data)
            g._vc[0] += 1


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one vector (differentiable)."""
    params = _as_list(parameters, "parameters_to_vector")
    if not params:
        raise ValueError("parameters_to_vector: got no parameters")
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Any]) -> None:
    """Copy consecutive slices of the vector ``vec`` into the parameters (in place).

    Unlike PyTorch, which rebinds each ``param.data`` to a view of ``vec``, the values are
    copied: the parameters keep their own memory.
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected vec to be a Tensor, but got "
                        f"{type(vec).__name__}")
    if vec.ndim != 1:
        raise ValueError(f"vector_to_parameters: vec must be 1-D, got shape {tuple(vec.shape)}")
    params = _as_list(parameters, "vector_to_parameters")
    total = sum(p.numel() for p in params)
    if total != vec.numel():
        raise ValueError(f"vector_to_parameters: vec has {vec.numel()} elements but the "
                         f"parameters have {total} in all")
    v = vec._data
    xp = backend.get_array_module(v)
    pointer = 0
    for p in params:
        n = p.numel()
        xp.copyto(p._data, v[pointer:pointer + n].reshape(p._data.shape), casting="same_kind")
        p._vc[0] += 1
        pointer += n


from chainrule.nn.utils import parametrizations, parametrize, rnn  # noqa: E402
from chainrule.nn.utils.weight_norm import (  # noqa: E402
    remove_spectral_norm,
    remove_weight_norm,
    spectral_norm,
    weight_norm,
)
