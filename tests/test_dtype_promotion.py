"""Dtype rules: float32 stays float32, and integer tensors mixed with Python floats give the
default float dtype (PyTorch's rule), not NumPy's float64."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


@pytest.mark.parametrize("expr", [
    lambda i: i * 0.5, lambda i: i / 2, lambda i: 0.5 + i, lambda i: cr.exp(i),
    lambda i: cr.sqrt(i + 1), lambda i: i.float().mean(),
])
def test_integer_inputs_give_the_default_float(expr) -> None:
    assert expr(cr.arange(4)).dtype == np.float32


def test_float64_stays_float64_and_explicit_casts_are_kept() -> None:
    x = cr.arange(4).double()
    assert x.dtype == np.float64
    assert (x * 0.5).dtype == np.float64
    assert cr.arange(3).to(cr.float64).dtype == np.float64


def test_float32_with_python_and_numpy_scalars_stays_float32() -> None:
    x = cr.ones(3, requires_grad=True)
    y = (x * 2.0 + 1) / 3.0 - np.float32(1.0)
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32


def test_integer_results_stay_integer() -> None:
    i = cr.arange(4)
    assert (i + 1).dtype == np.int64
    assert (i * 2).dtype == np.int64


def test_default_dtype_can_change() -> None:
    cr.set_default_dtype(cr.float64)
    try:
        assert cr.tensor(1.5).dtype == np.float64
        assert (cr.arange(2) * 0.5).dtype == np.float64
    finally:
        cr.set_default_dtype(cr.float32)
