"""The special functions and PyTorch's smaller elementwise ops (ops/special.py) beyond the
registry sweep: the aliases, the composites and constants (float_power, deg2rad, sgn,
heaviside), polygamma(1) against its closed form, and the SciPy-less paths."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend
from tests.helpers import lazy_torch as torch


def test_numpy_names_are_aliases_and_methods() -> None:
    x = cr.tensor([0.25, -0.5], dtype=cr.float64)
    for ours, alias in (("asin", "arcsin"), ("acos", "arccos"), ("atan", "arctan"),
                        ("asinh", "arcsinh"), ("atanh", "arctanh")):
        want = getattr(cr, ours)(x).numpy()
        np.testing.assert_array_equal(getattr(cr, alias)(x).numpy(), want)
        np.testing.assert_array_equal(getattr(x, alias)().numpy(), want)
        np.testing.assert_array_equal(getattr(x, ours)().numpy(), want)
    np.testing.assert_array_equal(cr.arctan2(x, 2.0).numpy(), np.arctan2([0.25, -0.5], 2.0))
    np.testing.assert_array_equal(cr.arccosh(x + 2).numpy(), np.arccosh([2.25, 1.5]))


def test_composites_and_constants_match_torch() -> None:
    a = np.array([[-1.5, 0.0, 2.0], [0.5, -0.0, 3.0]])
    x, t = cr.tensor(a), torch.tensor(a)
    np.testing.assert_array_equal(cr.sgn(x).numpy(), torch.sgn(t).numpy())
    np.testing.assert_array_equal(x.sgn().numpy(), torch.sgn(t).numpy())
    v = np.array([0.5, 0.25, 0.75])
    np.testing.assert_array_equal(cr.heaviside(x, cr.tensor(v)).numpy(),
                                  torch.heaviside(t, torch.tensor(v)).numpy())
    np.testing.assert_allclose(cr.deg2rad(x).numpy(), torch.deg2rad(t).numpy(), rtol=1e-15)
    np.testing.assert_allclose(x.rad2deg().numpy(), torch.rad2deg(t).numpy(), rtol=1e-15)
    assert cr.deg2rad(cr.tensor([180])).dtype == cr.float32  # integers give the default float


def test_float_power_is_float64_with_torch_gradients() -> None:
    a = np.array([0.5, 1.5, 2.0], dtype=np.float32)
    x = cr.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    for e in (2, 0.5, np.array([1.0, 2.0, 3.0])):
        ours = cr.float_power(x, cr.tensor(e) if isinstance(e, np.ndarray) else e)
        theirs = torch.float_power(tx, torch.tensor(e) if isinstance(e, np.ndarray) else e)
        assert ours.dtype == cr.float64
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12)
        (g,) = cr.grad(ours.sum(), [x])
        (tg,) = torch.autograd.grad(theirs.sum(), [tx])
        assert g.dtype == cr.float32
        np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-6)
    np.testing.assert_allclose(cr.float_power(2, cr.tensor([1.0, 3.0])).numpy(), [2.0, 8.0])


def test_copysign_gradient_is_zero_in_other() -> None:
    a = cr.tensor([1.5, -2.0, 0.0], dtype=cr.float64, requires_grad=True)
    b = cr.tensor([-1.0, -1.0, 1.0], dtype=cr.float64, requires_grad=True)
    ga, gb = cr.grad(cr.copysign(a, b).sum(), [a, b])
    np.testing.assert_array_equal(ga.numpy(), [-1.0, 1.0, 0.0])
    np.testing.assert_array_equal(gb.numpy(), [0.0, 0.0, 0.0])


def test_polygamma_one_is_the_closed_form() -> None:
    """trigamma(1) = pi^2 / 6 and trigamma(1/2) = pi^2 / 2 (the sweep compares n = 0, 2, 3
    with PyTorch; PyTorch's trigamma is off by ~5e-10, so n = 1 is checked here)."""
    x = cr.tensor([1.0, 0.5], dtype=cr.float64)
    np.testing.assert_allclose(cr.polygamma(1, x).numpy(), [math.pi ** 2 / 6, math.pi ** 2 / 2],
                               rtol=1e-14)
    np.testing.assert_allclose(x.polygamma(1).numpy(), cr.polygamma(1, x).numpy())
    y = cr.tensor([1.0, 0.5], dtype=cr.float64, requires_grad=True)
    (g,) = cr.grad(cr.digamma(y).sum(), [y])
    np.testing.assert_allclose(g.numpy(), [math.pi ** 2 / 6, math.pi ** 2 / 2], rtol=1e-14)
    with pytest.raises(ValueError, match="polygamma: n must be a non-negative integer"):
        cr.polygamma(-1, x)


def test_second_derivative_of_lgamma_is_trigamma() -> None:
    x = cr.tensor([1.0, 0.5], dtype=cr.float64, requires_grad=True)
    (g,) = cr.grad(cr.lgamma(x).sum(), [x], create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [-0.5772156649015329, -1.9635100260214235],
                               rtol=1e-13)
    (h,) = cr.grad(g.sum(), [x])
    np.testing.assert_allclose(h.numpy(), [math.pi ** 2 / 6, math.pi ** 2 / 2], rtol=1e-14)


@pytest.fixture
def no_scipy(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if SciPy were not installed: the seam finds no special functions."""
    for name in ("erf", "erfc", "erfinv", "gammaln", "digamma", "polygamma"):
        monkeypatch.setitem(backend._SPECIAL, (backend.xp, name), None)


def test_without_scipy_erfc_and_lgamma_fall_back(no_scipy: None) -> None:
    x = cr.tensor([-1.0, 0.5, 2.5], dtype=cr.float64)
    np.testing.assert_allclose(cr.erfc(x).numpy(), [math.erfc(v) for v in (-1.0, 0.5, 2.5)],
                               rtol=1e-12)
    np.testing.assert_allclose(cr.lgamma(x.abs()).numpy(),
                               [math.lgamma(v) for v in (1.0, 0.5, 2.5)], rtol=1e-14)
    assert cr.lgamma(cr.tensor([0.5, 3.0])).dtype == cr.float32


@pytest.mark.parametrize("call,name", [(lambda x: cr.digamma(x), "digamma"),
                                       (lambda x: cr.polygamma(2, x), "polygamma"),
                                       (lambda x: cr.erfinv(x * 0.5), "erfinv")])
def test_without_scipy_the_error_names_the_op(no_scipy: None, call, name: str) -> None:
    with pytest.raises(RuntimeError, match=f"^{name}: needs scipy.special.{name}.*pip install"):
        call(cr.tensor([0.5, 1.5]))


def test_lgamma_gradient_without_scipy_names_digamma(no_scipy: None) -> None:
    x = cr.tensor([0.5, 1.5], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"^digamma: needs scipy"):
        cr.lgamma(x).sum().backward()
