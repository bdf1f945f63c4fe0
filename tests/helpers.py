"""Shared test helpers: turn an op's declared samples into tensors and calls."""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule as cr
from chainrule.ops.samples import Sample


def is_diff(x: Any) -> bool:
    return isinstance(x, (np.ndarray, np.generic)) and x.dtype.kind == "f"


def make_inputs(sample: Sample, dtype: Any = np.float64, requires_grad: bool = True) -> list:
    """Floating arrays become tensors of ``dtype`` that require grad; Python scalars stay
    scalars; integer/bool arrays become constant tensors. Lists (variadic ops) map elementwise."""
    def conv(x: Any) -> Any:
        if isinstance(x, list):
            return [conv(v) for v in x]
        if is_diff(x):
            return cr.tensor(np.asarray(x, dtype=dtype), requires_grad=requires_grad)
        if isinstance(x, (np.ndarray, np.generic)):
            return cr.tensor(np.asarray(x))
        return x
    return [conv(x) for x in sample.inputs]


def flat_diff_inputs(inputs: list) -> list:
    """The tensors that require grad, with variadic lists flattened."""
    out = []
    for x in inputs:
        if isinstance(x, list):
            out.extend(v for v in x if isinstance(v, cr.Tensor) and v.requires_grad)
        elif isinstance(x, cr.Tensor) and x.requires_grad:
            out.append(x)
    return out


def call_op(op: Any, inputs: list, sample: Sample) -> Any:
    return op.call(*inputs, *sample.params)


def as_function(op: Any, inputs: list, sample: Sample):
    """A function of the differentiable tensors alone (for gradcheck), plus those tensors."""
    diff = flat_diff_inputs(inputs)

    def rebuild(*tensors: Any) -> list:
        it = iter(tensors)

        def sub(x: Any) -> Any:
            if isinstance(x, list):
                return [sub(v) for v in x]
            if isinstance(x, cr.Tensor) and x.requires_grad:
                return next(it)
            return x
        return [sub(x) for x in inputs]

    def fn(*tensors: Any) -> Any:
        return call_op(op, rebuild(*tensors), sample)

    return fn, diff


def require_torch() -> Any:
    """PyTorch for a parity check: without it the calling test skips (that test alone), or fails
    where ``CHAINRULE_REQUIRE_TORCH=1`` (CI) says it must be there."""
    import os

    import pytest

    try:
        import torch
    except ImportError as e:
        if os.environ.get("CHAINRULE_REQUIRE_TORCH", "") not in ("", "0"):
            pytest.fail(f"torch is required here (CHAINRULE_REQUIRE_TORCH=1) but cannot be "
                        f"imported: {e}; pip install torch==2.13.0")
        pytest.skip("torch is not installed (pip install torch==2.13.0)")
    return torch


class _LazyTorch:
    """``torch``, imported when a test first uses it: a file that says
    ``from tests.helpers import lazy_torch as torch`` keeps its tests that do not use torch
    running without it (a module-level importorskip would skip the whole file)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(require_torch(), name)


lazy_torch = _LazyTorch()
