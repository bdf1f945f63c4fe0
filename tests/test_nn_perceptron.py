"""Rosenblatt's perceptron learns AND and OR and cannot learn XOR; an MLP trained by
backpropagation learns XOR."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
AND = np.array([0, 0, 0, 1])
OR = np.array([0, 1, 1, 1])
XOR = np.array([0, 1, 1, 0])


@pytest.mark.parametrize("y", [AND, OR], ids=["AND", "OR"])
def test_perceptron_learns_linearly_separable(y) -> None:
    p = nn.Perceptron(2)
    errors = p.fit(X, y, epochs=20, lr=1.0)
    assert len(errors) == 20 and errors[0] > 0 and errors[-1] == 0
    assert p.predict(X).tolist() == y.tolist()
    assert p.predict(X).dtype == np.int64
    assert p(cr.tensor(X)).tolist() == y.astype(float).tolist()


def test_perceptron_fails_on_xor() -> None:
    p = nn.Perceptron(2)
    errors = p.fit(X, XOR, epochs=200, lr=0.5)
    assert min(errors) > 0  # never converges: no line separates XOR
    assert p.predict(X).tolist() != XOR.tolist()


def test_perceptron_rule_and_state() -> None:
    p = nn.Perceptron(2)
    assert p.weight.tolist() == [0.0, 0.0] and p.bias.item() == 0.0
    p.fit(X[3:], [1], epochs=1, lr=0.5)  # one mistake on x = (1, 1): w += 0.5 * x, b += 0.5
    assert p.weight.tolist() == [0.5, 0.5] and p.bias.item() == 0.5
    assert not p.weight.requires_grad
    assert [n for n, _ in p.named_parameters()] == ["weight", "bias"]
    assert repr(p) == "Perceptron(in_features=2)"
    with pytest.raises(ValueError, match="0 or 1"):
        p.fit(X, [0, 2, 1, 0])
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        p.predict(np.ones((2, 3)))


def test_mlp_structure() -> None:
    m = nn.MLP([4, 8, 8, 2], activation="tanh", dropout=0.1)
    assert isinstance(m, nn.Sequential)
    assert [type(layer).__name__ for layer in m] == [
        "Linear", "Tanh", "Dropout", "Linear", "Tanh", "Dropout", "Linear"]
    assert m(cr.randn(3, 4)).shape == (3, 2)
    m2 = nn.MLP([2, 3, 1], activation=nn.LeakyReLU, output_activation="sigmoid")
    assert isinstance(m2[1], nn.LeakyReLU) and isinstance(m2[-1], nn.Sigmoid)
    assert type(m2[:2]) is nn.Sequential
    with pytest.raises(ValueError, match="unknown activation"):
        nn.MLP([2, 2, 2], activation="swishy")
    with pytest.raises(ValueError, match="at least"):
        nn.MLP([2])


def test_mlp_learns_xor_with_sgd() -> None:
    cr.manual_seed(0)
    model = nn.MLP([2, 8, 1], activation="tanh")
    x, y = cr.tensor(X), cr.tensor(XOR.astype(np.float32)[:, None])
    for _ in range(1000):
        loss = cr.mse_loss(model(x), y)
        model.zero_grad()
        loss.backward()
        with cr.no_grad():
            for p in model.parameters():
                p -= 0.2 * p.grad
    pred = (model(x).detach().numpy()[:, 0] > 0.5).astype(int)
    assert pred.tolist() == XOR.tolist() and loss.item() < 0.05
