"""cumprod, logcumsumexp, cummax and cummin beyond the registry sweep: zeros in cumprod's input,
ties and NaN in cummax/cummin, the argument forms, PyTorch parity."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from tests.helpers import require_torch


def _torch_grad(torch, fn, x: np.ndarray, g: np.ndarray):
    tx = torch.tensor(x, requires_grad=True)
    out = fn(tx)
    out = out[0] if isinstance(out, tuple) else out
    out.backward(torch.tensor(g))
    return out.detach().numpy(), tx.grad.numpy()


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumprod_with_many_zeros_matches_torch(dim: int) -> None:
    torch = require_torch()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 7))
    x[rng.random((5, 7)) < 0.3] = 0.0  # several zeros per slice, some slices with none
    g = rng.standard_normal((5, 7))
    t = cr.tensor(x, requires_grad=True)
    out = cr.cumprod(t, dim)
    out.backward(cr.tensor(g))
    want_out, want_grad = _torch_grad(torch, lambda v: torch.cumprod(v, dim), x, g)
    np.testing.assert_allclose(out.detach().numpy(), want_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(t.grad.numpy(), want_grad, rtol=1e-10, atol=1e-12)


def test_cumprod_gradient_at_zero_is_finite_and_exact() -> None:
    x = cr.tensor([2.0, 0.0, 3.0, 4.0], requires_grad=True)
    cr.cumprod(x, 0).sum().backward()
    # d/dx1 of (2 + 2 x1 + 2 x1 3 + 2 x1 3 4) = 2 + 6 + 24; the entries after the zero get 0
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 32.0, 0.0, 0.0])


def test_cumprod_dtype_and_method() -> None:
    x = cr.tensor([[1, 2, 3], [4, 5, 6]])
    assert cr.cumprod(x, 1, dtype=cr.float64).dtype == cr.float64
    np.testing.assert_array_equal(x.cumprod(dim=1).numpy(), [[1, 2, 6], [4, 20, 120]])
    np.testing.assert_array_equal(x.cumprod(axis=0).numpy(), [[1, 2, 3], [4, 10, 18]])


@pytest.mark.parametrize("fn", [cr.cumprod, cr.logcumsumexp, cr.cummax, cr.cummin])
def test_scans_name_a_missing_or_doubled_dim(fn) -> None:
    x = cr.ones(2, 3)
    with pytest.raises(TypeError, match="missing the dim argument"):
        fn(x)
    with pytest.raises(TypeError, match="both dim=0 and axis=1"):
        fn(x, 0, axis=1)
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        fn(x, 2)


def test_logcumsumexp_is_stable_and_matches_torch() -> None:
    torch = require_torch()
    x = np.array([[1000.0, 1000.0, -5.0, 2000.0], [-1e4, -1e4, 3.0, -2.0]])
    g = np.array([[1.0, -2.0, 0.5, 0.0], [0.3, 0.0, -1.0, 2.0]])
    t = cr.tensor(x, requires_grad=True)
    out = t.logcumsumexp(1)
    out.backward(cr.tensor(g))
    want_out, want_grad = _torch_grad(torch, lambda v: torch.logcumsumexp(v, 1), x, g)
    np.testing.assert_allclose(out.detach().numpy(), want_out, rtol=1e-12)
    np.testing.assert_allclose(t.grad.numpy(), want_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["cummax", "cummin"])
@pytest.mark.parametrize("dim", [0, 1])
def test_cummax_cummin_values_indices_and_gradient_match_torch(name: str, dim: int) -> None:
    torch = require_torch()
    rng = np.random.default_rng(1)
    x = rng.integers(-2, 3, (4, 6)).astype(np.float64)  # many ties: the last index wins
    g = rng.standard_normal((4, 6))
    t = cr.tensor(x, requires_grad=True)
    values, indices = getattr(cr, name)(t, dim)
    values.backward(cr.tensor(g))
    tv, ti = getattr(torch, name)(torch.tensor(x), dim)
    np.testing.assert_array_equal(values.detach().numpy(), tv.numpy())
    np.testing.assert_array_equal(indices.numpy(), ti.numpy())
    assert indices.dtype == cr.int64 and not indices.requires_grad
    _, want_grad = _torch_grad(torch, lambda v: getattr(torch, name)(v, dim), x, g)
    np.testing.assert_allclose(t.grad.numpy(), want_grad, rtol=1e-12)


def test_cummax_nan_and_0d_as_torch() -> None:
    torch = require_torch()
    x = np.array([[1.0, np.nan, 3.0, np.nan, 0.0], [2.0, 1.0, 2.0, 5.0, 5.0]])
    for name in ("cummax", "cummin"):
        v, i = getattr(cr.tensor(x), name)(1)
        tv, ti = getattr(torch, name)(torch.tensor(x), 1)
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
    v, i = cr.cummax(cr.tensor(2.5), 0)
    assert v.shape == () and float(v) == 2.5 and i.shape == () and int(i) == 0
    ints = cr.tensor([3, 1, 4, 1, 5])
    np.testing.assert_array_equal(cr.cummin(ints, 0).indices.numpy(), [0, 1, 1, 3, 3])


def test_cumprod_and_logcumsumexp_second_order_with_zeros() -> None:
    """A Hessian-vector product through cumprod at an input with two zeros (float64 finite
    differences of the gradient)."""
    x = cr.tensor([0.7, 0.0, -1.2, 0.0, 1.5], dtype=cr.float64, requires_grad=True)
    assert cr.autograd.gradgradcheck(lambda v: cr.cumprod(v, 0), [x])
    y = cr.tensor([[0.3, -2.0, 1.1]], dtype=cr.float64, requires_grad=True)
    assert cr.autograd.gradgradcheck(lambda v: cr.logcumsumexp(v, 1), [y])
