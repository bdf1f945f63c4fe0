"""The data and initial parameters every framework starts from (NumPy, float32, seeded), so the
three implementations of a workload do the same arithmetic on the same numbers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from bench.spec import CHAIN_OPS


@dataclass
class MLPProblem:
    """A fixed batch, labels (cross-entropy) or one-hot targets (quadratic loss), and layers."""

    sizes: tuple[int, ...]
    activation: str  # "relu" or "sigmoid", applied after every hidden layer
    out_activation: bool  # also after the output layer (W3, as in Nielsen's book)
    loss: str  # "cross_entropy" or "mse"
    batch: int
    lr: float
    x: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    labels: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]  # int64
    onehot: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    weights: list[np.ndarray] = field(repr=False, default_factory=list)  # (out, in), as torch
    biases: list[np.ndarray] = field(repr=False, default_factory=list)


@dataclass
class ChainProblem:
    """W5: ``x`` (requires grad) goes through ``CHAIN_OPS`` ops cycling +c, *c, tanh."""

    x: np.ndarray
    c: np.ndarray
    n_ops: int = CHAIN_OPS


MLP_SPECS = {
    "W1": dict(sizes=(784, 128, 10), activation="relu", out_activation=False,
               loss="cross_entropy", batch=64, lr=1e-4),
    "W2": dict(sizes=(784, 1024, 1024, 10), activation="relu", out_activation=False,
               loss="cross_entropy", batch=256, lr=1e-4),
    "W3": dict(sizes=(784, 30, 10), activation="sigmoid", out_activation=True, loss="mse",
               batch=10, lr=1e-3),
}


def mlp_problem(name: str, seed: int = 0) -> MLPProblem:
    """Random float32 data; weights with the spread of PyTorch's default ``nn.Linear`` init
    (uniform in +-1/sqrt(fan_in), i.e. standard deviation 1/sqrt(3 fan_in))."""
    p = MLPProblem(**MLP_SPECS[name])
    rng = np.random.default_rng(seed)
    p.x = rng.standard_normal((p.batch, p.sizes[0]), dtype=np.float32)
    n_out = p.sizes[-1]
    p.labels = rng.integers(0, n_out, p.batch).astype(np.int64)
    p.onehot = np.zeros((p.batch, n_out), np.float32)
    p.onehot[np.arange(p.batch), p.labels] = 1.0
    for fan_in, fan_out in zip(p.sizes[:-1], p.sizes[1:]):
        s = np.float32(1.0 / math.sqrt(3.0 * fan_in))
        p.weights.append(rng.standard_normal((fan_out, fan_in), dtype=np.float32) * s)
        p.biases.append(rng.standard_normal(fan_out, dtype=np.float32) * s)
    return p


def chain_problem(seed: int = 0) -> ChainProblem:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(16, dtype=np.float32)
    c = rng.uniform(0.5, 1.0, 16).astype(np.float32)
    return ChainProblem(x=x, c=c)


def chain_kind(i: int) -> str:
    """The i-th op of W5's chain."""
    return ("add", "mul", "tanh")[i % 3]


@dataclass
class LeNetProblem:
    """W4: a fixed (64, 1, 28, 28) batch, labels, and LeNet-5-like parameters in PyTorch's
    layouts: conv1 (6, 1, 5, 5) pad 2, conv2 (16, 6, 5, 5), fc 400-120-84-10."""

    x: np.ndarray
    labels: np.ndarray
    params: list[np.ndarray]  # conv1.w, conv1.b, conv2.w, conv2.b, fc1.w, fc1.b, ...
    lr: float = 0.01
    batch: int = 64


LENET_SHAPES = ((6, 1, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 400), (120,), (84, 120), (84,),
                (10, 84), (10,))


def lenet_problem(seed: int = 0) -> LeNetProblem:
    """Random float32 images and labels; parameters U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, 64).astype(np.int64)
    params = []
    fan_in = 1
    for shape in LENET_SHAPES:
        if len(shape) > 1:
            fan_in = math.prod(shape[1:])
        bound = 1.0 / math.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, shape).astype(np.float32))
    return LeNetProblem(x=x, labels=labels, params=params)
