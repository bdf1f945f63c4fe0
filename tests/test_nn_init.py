"""nn.init: the statistics each initialiser promises, orthogonality, reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.nn import init


def test_calculate_gain_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    for name, param in [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                        ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None),
                        ("conv2d", None)]:
        assert init.calculate_gain(name, param) == pytest.approx(
            torch.nn.init.calculate_gain(name, param))
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")


def test_uniform_normal_constant() -> None:
    cr.manual_seed(0)
    t = cr.empty(400, 500)
    assert init.uniform_(t, -2.0, 3.0) is t
    a = t.numpy()
    assert a.min() >= -2 and a.max() <= 3 and abs(a.mean() - 0.5) < 0.02
    init.normal_(t, 1.0, 0.5)
    assert abs(t.numpy().mean() - 1.0) < 0.01 and abs(t.numpy().std() - 0.5) < 0.01
    assert t.dtype == np.float32
    init.constant_(t, 0.3)
    assert np.all(t.numpy() == np.float32(0.3))
    assert not init.zeros_(t).numpy().any() and np.all(init.ones_(t).numpy() == 1)
    assert np.array_equal(init.eye_(cr.empty(2, 3)).numpy(), np.eye(2, 3))


@pytest.mark.parametrize("shape", [(300, 200), (64, 32, 3, 3)])
def test_xavier(shape) -> None:
    cr.manual_seed(1)
    fan_in = shape[1] * math.prod(shape[2:])
    fan_out = shape[0] * math.prod(shape[2:])
    std = math.sqrt(2.0 / (fan_in + fan_out))
    t = init.xavier_uniform_(cr.empty(*shape), gain=2.0)
    assert abs(t.numpy().std() - 2 * std) < 0.03 * 2 * std
    assert np.abs(t.numpy()).max() <= 2 * std * math.sqrt(3) + 1e-6
    t = init.xavier_normal_(cr.empty(*shape))
    assert abs(t.numpy().std() - std) < 0.03 * std and abs(t.numpy().mean()) < 0.1 * std
    assert init.glorot_uniform_ is init.xavier_uniform_ and init.glorot_normal_ is \
        init.xavier_normal_


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming(mode) -> None:
    cr.manual_seed(2)
    shape = (300, 200)
    fan = 200 if mode == "fan_in" else 300
    std = math.sqrt(2.0) / math.sqrt(fan)
    t = init.kaiming_normal_(cr.empty(*shape), mode=mode, nonlinearity="relu")
    assert abs(t.numpy().std() - std) < 0.03 * std
    t = init.kaiming_uniform_(cr.empty(*shape), mode=mode, nonlinearity="relu")
    assert abs(t.numpy().std() - std) < 0.03 * std
    assert np.abs(t.numpy()).max() <= std * math.sqrt(3) + 1e-6
    leaky = init.kaiming_uniform_(cr.empty(*shape), a=math.sqrt(5))
    assert np.abs(leaky.numpy()).max() <= 1 / math.sqrt(200) + 1e-6
    assert init.he_normal_ is init.kaiming_normal_ and init.he_uniform_ is init.kaiming_uniform_
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.kaiming_uniform_(cr.empty(5))
    with pytest.raises(ValueError, match="Mode"):
        init.kaiming_uniform_(cr.empty(2, 2), mode="fan")


@pytest.mark.parametrize("shape", [(6, 10), (10, 6), (8, 2, 3)])
def test_orthogonal(shape) -> None:
    cr.manual_seed(3)
    t = init.orthogonal_(cr.empty(*shape, dtype=cr.float64), gain=1.5)
    q = t.numpy().reshape(shape[0], -1)
    rows, cols = q.shape
    gram = q @ q.T if rows <= cols else q.T @ q
    np.testing.assert_allclose(gram, 1.5**2 * np.eye(min(rows, cols)), atol=1e-10)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(cr.empty(4))


def test_trunc_normal() -> None:
    cr.manual_seed(4)
    t = init.trunc_normal_(cr.empty(200, 300), mean=0.5, std=1.0, a=-1.0, b=1.5)
    a = t.numpy()
    assert a.min() >= -1.0 and a.max() <= 1.5
    torch = pytest.importorskip("torch")
    ref = torch.nn.init.trunc_normal_(torch.empty(200, 300), mean=0.5, std=1.0, a=-1.0, b=1.5)
    assert abs(a.mean() - ref.mean().item()) < 0.01 and abs(a.std() - ref.std().item()) < 0.01
    from chainrule.nn.init import _erfinv
    np.testing.assert_allclose(_erfinv(np.array([0.0, 0.5, -0.9, 0.9999])),
                               [0.0, 0.4769362762044699, -1.1630871536766743,
                                2.7510639057120803], rtol=1e-10)


def test_reproducible_under_manual_seed_and_generator() -> None:
    def draw():
        return [init.kaiming_uniform_(cr.empty(4, 3)).numpy().copy(),
                init.xavier_normal_(cr.empty(4, 3)).numpy().copy(),
                init.orthogonal_(cr.empty(4, 3)).numpy().copy(),
                nn.Linear(3, 2).weight.detach().numpy().copy()]

    cr.manual_seed(7)
    a = draw()
    cr.manual_seed(7)
    b = draw()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    g = cr.Generator().manual_seed(1)
    u = init.uniform_(cr.empty(5), generator=g).numpy().copy()
    g.manual_seed(1)
    assert np.array_equal(u, init.normal_(cr.empty(5), generator=g).numpy()) is False
    g.manual_seed(1)
    assert np.array_equal(u, init.uniform_(cr.empty(5), generator=g).numpy())


def test_init_in_place_on_parameters_outside_no_grad() -> None:
    m = nn.Linear(3, 2)
    w = m.weight
    v = w._version
    init.zeros_(m.weight)  # no `with no_grad()` needed, as in PyTorch
    assert m.weight is w and not w.detach().numpy().any() and w._version > v
    assert w.requires_grad and w.is_leaf
