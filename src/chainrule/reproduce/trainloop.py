"""One training loop, written twice (chainrule and PyTorch), for the MLP, CNN and GRU rows.

Both frameworks start from the same initial weights (drawn here with NumPy), see the mini-batches
in the same order, and use the same loss and update, so their accuracies differ only by float32
rounding and its consequences. Time is the training passes only (the test evaluation excluded).

A model is a builder, ``build(nn) -> Module``, called with ``chainrule.nn`` and with ``torch.nn``
(the two share class names and state-dict keys), and one initial state dict of NumPy arrays
loaded into both. A new architecture is a new builder (``mnist1d.cnn``, ``mnist1d.gru``,
``fashion.cnn``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.nn import functional as F
from chainrule.reproduce.common import import_torch

Weights = list[tuple[np.ndarray, np.ndarray]]  # per layer (W of shape (out, in), b (out,))


def init_mlp(sizes: list[int], scheme: str, seed: int) -> Weights:
    """Initial weights for an MLP of ``sizes``.

    ``nielsen-large``: W and b from N(0, 1) (Nielsen ch. 1, ``network.py``);
    ``nielsen``: W from N(0, 1/n_in), b from N(0, 1) (ch. 3, ``default_weight_initializer``);
    ``torch``: W and b uniform in +-1/sqrt(n_in) (PyTorch's ``nn.Linear`` default).
    """
    rng = np.random.default_rng(seed)
    out = []
    for n_in, n_out in itertools.pairwise(sizes):
        if scheme == "nielsen-large":
            w, b = rng.standard_normal((n_out, n_in)), rng.standard_normal(n_out)
        elif scheme == "nielsen":
            w, b = rng.standard_normal((n_out, n_in)) / np.sqrt(n_in), rng.standard_normal(n_out)
        elif scheme == "torch":
            k = 1 / np.sqrt(n_in)
            w, b = rng.uniform(-k, k, (n_out, n_in)), rng.uniform(-k, k, n_out)
        else:
            raise ValueError(f"init_mlp: unknown scheme {scheme!r}; expected nielsen-large, "
                             "nielsen or torch")
        out.append((w.astype(np.float32), b.astype(np.float32)))
    return out


@dataclass
class Recipe:
    """What is trained and how: the same on both sides."""

    loss: str  # "quadratic" (Nielsen ch. 1), "bce" (Nielsen's cross-entropy), "ce" (softmax)
    optimizer: str  # "sgd" or "adam"
    lr: float
    batch_size: int
    epochs: int
    weight_decay: float = 0.0  # on weights only (Nielsen's L2: lmbda / n)
    init: str = "torch"


@dataclass
class Result:
    """Test accuracy after each epoch, and the training time."""

    accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def final(self) -> float:
        return self.accuracy[-1]

    @property
    def best(self) -> float:
        return max(self.accuracy)


def _orders(n: int, epochs: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(10_000 + seed)
    return [rng.permutation(n) for _ in range(epochs)]


def _run(recipe: Recipe, data: tuple[np.ndarray, ...], seed: int,
         step: Callable[[np.ndarray, np.ndarray], None], predict: Callable[[np.ndarray],
         np.ndarray], say: Callable[[str], None], tag: str) -> Result:
    x, y, xt, yt = data
    res = Result()
    for epoch, order in enumerate(_orders(len(x), recipe.epochs, seed), 1):
        t0 = time.perf_counter()
        for i in range(0, len(order), recipe.batch_size):
            idx = order[i:i + recipe.batch_size]
            step(x[idx], y[idx])
        res.seconds += time.perf_counter() - t0
        acc = float((predict(xt) == yt).mean())
        res.accuracy.append(acc)
        say(f"  {tag} epoch {epoch:3d}: test accuracy {100 * acc:.2f}%  "
            f"({res.seconds:.1f} s training so far)")
    return res


def mlp(sizes: list[int], activation: str) -> Callable[[Any], Any]:
    """A builder: ``build(nn)`` gives ``nn.Sequential(Linear, act, ..., Linear)`` for
    ``chainrule.nn`` or ``torch.nn`` (the same state-dict names on both)."""

    def build(nnm: Any) -> Any:
        layers: list[Any] = []
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            layers.append(nnm.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nnm.Sigmoid() if activation == "sigmoid" else nnm.ReLU())
        return nnm.Sequential(*layers)

    return build


def mlp_state(weights: Weights) -> dict[str, np.ndarray]:
    """``init_mlp``'s weights as the state dict of ``mlp(...)(nn)``."""
    return {f"{2 * i}.{k}": v for i, (w, b) in enumerate(weights)
            for k, v in (("weight", w), ("bias", b))}


def initial_state(build: Callable[[Any], Any], seed: int) -> dict[str, np.ndarray]:
    """The state dict of ``build(chainrule.nn)`` after ``cr.manual_seed(seed)``: chainrule's own
    default initialisation (PyTorch's), which PyTorch then starts from too."""
    cr.manual_seed(seed)
    return {k: v.detach().numpy().copy() for k, v in build(nn).state_dict().items()}


def _groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weight matrices (and kernels), not on biases, as Nielsen's L2."""
    named = list(model.named_parameters())
    decay = [p for n, p in named if n.endswith("weight") and p.ndim >= 2]
    rest = [p for n, p in named if not (n.endswith("weight") and p.ndim >= 2)]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest}]


def _loss(recipe: Recipe, z: Any, yb: np.ndarray, eye: np.ndarray, lib: Any, fn: Any,
          wrap: Callable[[np.ndarray], Any]) -> Any:
    m = len(yb)
    if recipe.loss == "quadratic":
        return 0.5 * ((lib.sigmoid(z) - wrap(eye[yb])) ** 2).sum() / m
    if recipe.loss == "bce":
        return fn.binary_cross_entropy_with_logits(z, wrap(eye[yb]), reduction="sum") / m
    return fn.cross_entropy(z, wrap(yb))


def train_chainrule(recipe: Recipe, build: Callable[[Any], Any], state: dict[str, np.ndarray],
                    data: tuple[np.ndarray, ...], seed: int,
                    say: Callable[[str], None] = lambda s: None) -> Result:
    """Train ``build(chainrule.nn)`` from ``state`` on chainrule."""
    model = build(nn)
    model.load_state_dict({k: cr.from_numpy(v) for k, v in state.items()})
    groups = _groups(model, recipe.weight_decay)
    opt: Any = (optim.SGD(groups, lr=recipe.lr) if recipe.optimizer == "sgd"
                else optim.Adam(groups, lr=recipe.lr))
    eye = np.eye(int(data[1].max()) + 1, dtype=np.float32)

    def step(xb: np.ndarray, yb: np.ndarray) -> None:
        loss = _loss(recipe, model(cr.from_numpy(xb)), yb, eye, cr, F, cr.from_numpy)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def predict(xt: np.ndarray) -> np.ndarray:
        model.eval()
        with cr.no_grad():
            out = model(cr.from_numpy(xt)).numpy().argmax(1)
        model.train()
        return out

    return _run(recipe, data, seed, step, predict, say, "chainrule")


def train_torch(recipe: Recipe, build: Callable[[Any], Any], state: dict[str, np.ndarray],
                data: tuple[np.ndarray, ...], seed: int,
                say: Callable[[str], None] = lambda s: None) -> Result:
    """Train ``build(torch.nn)`` from the same ``state`` on PyTorch (one thread)."""
    torch = import_torch()
    model = build(torch.nn)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    groups = _groups(model, recipe.weight_decay)
    opt: Any = (torch.optim.SGD(groups, lr=recipe.lr) if recipe.optimizer == "sgd"
                else torch.optim.Adam(groups, lr=recipe.lr))
    eye = np.eye(int(data[1].max()) + 1, dtype=np.float32)

    def step(xb: np.ndarray, yb: np.ndarray) -> None:
        loss = _loss(recipe, model(torch.from_numpy(xb)), yb, eye, torch, torch.nn.functional,
                     torch.from_numpy)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def predict(xt: np.ndarray) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            out = model(torch.from_numpy(xt)).numpy().argmax(1)
        model.train()
        return out

    return _run(recipe, data, seed, step, predict, say, "PyTorch  ")
