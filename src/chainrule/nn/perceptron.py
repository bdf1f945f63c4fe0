"""Rosenblatt's perceptron (1958) and its successor, the multilayer perceptron.

The perceptron computes ``step(w . x + b)`` and learns by its own rule, no gradients: for each
sample, ``w += lr * (target - prediction) * x`` and ``b += lr * (target - prediction)``. It
converges whenever a line (a hyperplane) separates the two classes, so it learns AND and OR;
it cannot learn XOR, whose classes no line separates (Minsky and Papert, 1969). Stacking
layers with a differentiable activation and training them by backpropagation (``MLP``) solves
XOR::

    X = [[0, 0], [0, 1], [1, 0], [1, 1]]
    Perceptron(2).fit(X, [0, 0, 0, 1], epochs=10)   # AND: errors fall to 0
    Perceptron(2).fit(X, [0, 1, 1, 0], epochs=100)  # XOR: errors never reach 0
    MLP([2, 8, 1], activation="tanh")               # learns XOR with SGD on a loss
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from chainrule import backend, creation
from chainrule.autograd.dtypes import get_default_dtype, to_dtype
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.errors import size_arg
from chainrule.nn import activation as A
from chainrule.nn.containers import Sequential
from chainrule.nn.dropout import Dropout
from chainrule.nn.linear import Identity, Linear
from chainrule.nn.module import Module
from chainrule.nn.parameter import Parameter
from chainrule.nn.samples import Generator, ModuleSample


def _array(v: Any) -> backend.ndarray:
    return v._data if isinstance(v, Tensor) else backend.xp.asarray(v)


class Perceptron(Module):
    """A single threshold unit: ``predict(x) = 1 if w . x + b > 0 else 0``.

    ``weight`` (in_features,) and ``bias`` () start at zero and are Parameters that do not
    require grad: they are changed only by ``fit``, which applies the perceptron learning rule
    sample by sample, in order.
    """

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=(3,), inputs=(rng.standard_normal((4, 3)),))

    def __init__(self, in_features: int, dtype: Any = None) -> None:
        super().__init__()
        in_features = size_arg("Perceptron", "in_features", in_features)
        self.in_features = in_features
        dt = get_default_dtype() if dtype is None else to_dtype(dtype)
        self.weight = Parameter(creation.zeros(in_features, dtype=dt), requires_grad=False)
        self.bias = Parameter(creation.zeros((), dtype=dt), requires_grad=False)

    def _check(self, x: backend.ndarray) -> backend.ndarray:
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"Perceptron: input of shape {tuple(x.shape)}; expected "
                             f"(N, {self.in_features})")
        return x

    def net_input(self, x: Any) -> Tensor:
        """w . x + b for each row of ``x``."""
        xa = self._check(_array(x))
        w = self.weight._data
        return _leaf(backend.get_array_module(w).asarray(xa @ w + self.bias._data))

    def forward(self, x: Any) -> Tensor:
        """The step outputs (0.0 or 1.0) for each row of ``x`` (no graph is recorded)."""
        z = self.net_input(x)._data
        return _leaf((z > 0).astype(self.weight.dtype))

    def predict(self, x: Any) -> Tensor:
        """Class labels 0 or 1 (int64) for each row of ``x``."""
        return _leaf((self.net_input(x)._data > 0).astype(backend.int64))

    def fit(self, X: Any, y: Any, epochs: int = 10, lr: float = 1.0) -> list[int]:
        """Train with the perceptron rule for ``epochs`` passes over (X, y) (targets 0/1);
        return the number of misclassified samples in each epoch (0 once converged)."""
        xa = self._check(_array(X)).astype(self.weight.dtype, copy=False)
        ya = _array(y).reshape(-1)
        if ya.shape[0] != xa.shape[0]:
            raise ValueError(f"Perceptron.fit: {xa.shape[0]} samples but {ya.shape[0]} "
                             "targets")
        if not backend.get_array_module(ya).isin(ya, (0, 1)).all():
            raise ValueError("Perceptron.fit: targets must be 0 or 1")
        w, b = self.weight._data, self.bias._data
        errors = []
        for _ in range(epochs):
            wrong = 0
            for xi, ti in zip(xa, ya):
                err = float(ti) - float(xi @ w + b > 0)
                if err:
                    w += (lr * err) * xi
                    b += lr * err
                    wrong += 1
            errors.append(wrong)
        self.weight._vc[0] += 1
        self.bias._vc[0] += 1
        return errors

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}"


_ACTIVATIONS: dict[str, Callable[[], Module]] = {
    "relu": A.ReLU, "tanh": A.Tanh, "sigmoid": A.Sigmoid, "gelu": A.GELU, "silu": A.SiLU,
    "elu": A.ELU, "leaky_relu": A.LeakyReLU, "softplus": A.Softplus, "prelu": A.PReLU,
    "identity": Identity, "linear": Identity, "step": A.Step,
}


def _activation(spec: Any) -> Module:
    if isinstance(spec, str):
        try:
            return _ACTIVATIONS[spec.lower()]()
        except KeyError:
            raise ValueError(f"MLP: unknown activation {spec!r}; expected one of "
                             f"{sorted(_ACTIVATIONS)}, a Module class or a factory") from None
    if isinstance(spec, Module):
        raise TypeError("MLP: pass the activation's class or a factory (e.g. nn.ReLU), not an "
                        "instance: each layer needs its own")
    return spec()


class MLP(Sequential):
    """A multilayer perceptron: ``Linear(sizes[0], sizes[1])``, activation, ...,
    ``Linear(sizes[-2], sizes[-1])`` (no activation after the last layer unless
    ``output_activation`` is given), as a ``Sequential``.

    ``activation``: a name (``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"gelu"``, ...), a Module
    class or a factory. ``dropout > 0`` adds a ``Dropout`` after each hidden activation.

    >>> MLP([784, 128, 10])
    MLP(
      (0): Linear(in_features=784, out_features=128, bias=True)
      (1): ReLU()
      (2): Linear(in_features=128, out_features=10, bias=True)
    )
    """

    @classmethod
    def _sample(cls, rng: Generator) -> ModuleSample:
        return ModuleSample(args=([3, 4, 2],), kwargs={"activation": "tanh", "dropout": 0.25},
                            inputs=(rng.standard_normal((5, 3)),), random=True,
                            mode_dependent=True)

    def __init__(self, sizes: Sequence[int], activation: Any = "relu", bias: bool = True,
                 output_activation: Any = None, dropout: float = 0.0, dtype: Any = None) -> None:
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes {sizes} needs at least an input and an output size")
        layers: list[Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            layers.append(Linear(a, b, bias=bias, dtype=dtype))
            if i < len(sizes) - 2:
                layers.append(_activation(activation))
                if dropout > 0:
                    layers.append(Dropout(dropout))
        if output_activation is not None:
            layers.append(_activation(output_activation))
        super().__init__(*layers)
        self.sizes = tuple(sizes)
