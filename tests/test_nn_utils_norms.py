"""``nn.utils.weight_norm`` / ``spectral_norm`` (hooks), ``parametrizations.weight_norm`` and
``parametrize.register_parametrization``: PyTorch's state-dict keys, values and gradients."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.utils import parametrize

_rng = np.random.default_rng(0)


def _pair(kind: str) -> tuple[Any, Any, Any]:
    torch = pytest.importorskip("torch")
    if kind == "linear":
        mc, mt = cr.nn.Linear(5, 4).double(), torch.nn.Linear(5, 4).double()
        x = _rng.standard_normal((3, 5))
    else:
        mc, mt = cr.nn.Conv2d(2, 3, 3).double(), torch.nn.Conv2d(2, 3, 3).double()
        x = _rng.standard_normal((2, 2, 5, 5))
    return mc, mt, x


def _load(mc: Any, mt: Any) -> None:
    import torch
    sd = {k: torch.tensor(v.detach().numpy()) for k, v in mc.state_dict().items()}
    assert list(sd) == list(mt.state_dict())
    mt.load_state_dict(sd)


def _check_step(mc: Any, mt: Any, x: Any) -> None:
    import torch
    yc, yt = mc(cr.tensor(x)), mt(torch.tensor(x))
    np.testing.assert_allclose(yc.detach().numpy(), yt.detach().numpy(), rtol=1e-12,
                               atol=1e-12 * float(yt.detach().abs().max()))
    (yc * yc).sum().backward()
    (yt * yt).sum().backward()
    for (n, pc), (_, pt) in zip(mc.named_parameters(), mt.named_parameters()):
        np.testing.assert_allclose(pc.grad.numpy(), pt.grad.numpy(), rtol=1e-10, err_msg=n)


@pytest.mark.parametrize(("kind", "dim"), [("linear", 0), ("linear", None), ("linear", 1),
                                           ("conv", 0)])
def test_weight_norm_equals_pytorch(kind: str, dim: Any) -> None:
    torch = pytest.importorskip("torch")
    mc, mt, x = _pair(kind)
    cr.nn.utils.weight_norm(mc, dim=dim)
    with pytest.warns(FutureWarning):
        torch.nn.utils.weight_norm(mt, dim=dim)
    _load(mc, mt)
    _check_step(mc, mt, x)
    cr.nn.utils.remove_weight_norm(mc)
    torch.nn.utils.remove_weight_norm(mt)
    assert [n for n, _ in mc.named_parameters()] == [n for n, _ in mt.named_parameters()]
    np.testing.assert_allclose(mc.weight.detach().numpy(), mt.weight.detach().numpy(),
                               rtol=1e-12)
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found"):
        cr.nn.utils.remove_weight_norm(mc)


@pytest.mark.parametrize(("kind", "iters"), [("linear", 1), ("conv", 3)])
def test_spectral_norm_equals_pytorch(kind: str, iters: int) -> None:
    torch = pytest.importorskip("torch")
    mc, mt, x = _pair(kind)
    cr.nn.utils.spectral_norm(mc, n_power_iterations=iters)
    torch.nn.utils.spectral_norm(mt, n_power_iterations=iters)
    _load(mc, mt)  # same weight_orig, and the same starting u, v
    for _ in range(3):  # training forwards: a power iteration each
        mc.zero_grad()
        mt.zero_grad()
        _check_step(mc, mt, x)
    for name in ("weight_u", "weight_v"):
        np.testing.assert_allclose(getattr(mc, name).numpy(), getattr(mt, name).numpy(),
                                   rtol=1e-12)
    mc.eval()
    mt.eval()
    u = mc.weight_u.numpy().copy()
    mc.zero_grad()
    mt.zero_grad()
    _check_step(mc, mt, x)
    assert np.array_equal(u, mc.weight_u.numpy())  # no iteration in eval mode
    mc.train()
    with cr.no_grad():
        for _ in range(200):  # more power iterations: the estimate converges to sigma_max
            mc(cr.tensor(x))
    mc.eval()
    w = mc.weight_orig.detach().numpy().reshape(mc.weight_orig.shape[0], -1)
    sigma = np.linalg.svd(w, compute_uv=False)[0]
    est = float((mc.weight_orig / mc.weight).detach().numpy().ravel()[0])
    assert abs(est - sigma) / sigma < 1e-3  # the estimate reaches the largest singular value
    cr.nn.utils.remove_spectral_norm(mc)
    assert sorted(mc.state_dict()) == ["bias", "weight"]


@pytest.mark.parametrize(("kind", "dim"), [("linear", 0), ("conv", None)])
def test_parametrizations_weight_norm_equals_pytorch(kind: str, dim: Any) -> None:
    torch = pytest.importorskip("torch")
    mc, mt, x = _pair(kind)
    cr.nn.utils.parametrizations.weight_norm(mc, dim=dim)
    torch.nn.utils.parametrizations.weight_norm(mt, dim=dim)
    _load(mc, mt)
    _check_step(mc, mt, x)
    assert parametrize.is_parametrized(mc, "weight") and parametrize.is_parametrized(mc)
    assert type(mc).__name__ == ("ParametrizedLinear" if kind == "linear" else "ParametrizedConv2d")
    w = mc.weight.detach().numpy()
    parametrize.remove_parametrizations(mc, "weight")
    torch.nn.utils.parametrize.remove_parametrizations(mt, "weight")
    np.testing.assert_allclose(mc.weight.detach().numpy(), w, rtol=1e-12)
    assert list(mc.state_dict()) == list(mt.state_dict()) and not parametrize.is_parametrized(mc)
    assert type(mc) is (cr.nn.Linear if kind == "linear" else cr.nn.Conv2d)


class Symmetric(cr.nn.Module):
    def forward(self, x: Any) -> Any:
        return x.triu() + x.triu(1).transpose(0, 1)


class Scale(cr.nn.Module):
    def forward(self, x: Any) -> Any:
        return 2 * x

    def right_inverse(self, x: Any) -> Any:
        return x / 2


def test_register_parametrization_basic() -> None:
    m = cr.nn.Linear(3, 3)
    parametrize.register_parametrization(m, "weight", Symmetric())
    w = m.weight.detach().numpy()
    assert np.array_equal(w, w.T)
    assert [n for n, _ in m.named_parameters()] == ["bias", "parametrizations.weight.original"]
    m(cr.randn(2, 3)).sum().backward()
    assert m.parametrizations.weight.original.grad is not None
    parametrize.register_parametrization(m, "weight", Scale())  # a chain: Scale(Symmetric(w))
    np.testing.assert_allclose(m.weight.detach().numpy(), 2 * w, rtol=1e-6)
    m.weight = cr.ones(3, 3) * 4  # stored through right_inverse: original = 2
    np.testing.assert_allclose(m.parametrizations.weight.original.detach().numpy(), 2.0)
    np.testing.assert_allclose(m.weight.detach().numpy(), 4.0)
    with pytest.raises(ValueError, match="no parameter or buffer"):
        parametrize.register_parametrization(m, "nope", Symmetric())
    with parametrize.cached():
        assert m.weight.shape == (3, 3)
    parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
    np.testing.assert_allclose(m.weight.detach().numpy(), 2.0)
