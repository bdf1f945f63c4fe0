"""Small synthetic problems for teaching and tests; each returns a ``TensorDataset``.

Features are float32; class labels int64 (classes as balanced as ``n_samples`` allows), regression
and reconstruction targets float32. Random ones take ``seed=`` (an int: its own NumPy generator)
or ``generator=`` (a ``cr.Generator``); with neither they draw from chainrule's default generator,
so ``cr.manual_seed`` makes them reproducible.

    xor()                    the 4 XOR points (or noisy copies of them)
    parity(n_bits)           every n-bit pattern, label = number of ones mod 2
    encoder(n)               the n-to-log2(n)-to-n encoder problem: one-hot inputs = targets
    spirals(n_classes)       interleaved spiral arms
    moons(), circles()       two half-moons / two concentric circles (scikit-learn's recipes)
    blobs(centers)           Gaussian clusters
    regression_1d(fn)        y = f(x) + noise on one input
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.data.dataset import TensorDataset
from chainrule.random import Generator, generator_of


def _rng(seed: int | None, generator: Generator | None, where: str) -> np.random.Generator:
    if seed is not None and generator is not None:
        raise ValueError(f"{where}: give seed= or generator=, not both")
    return np.random.default_rng(seed) if seed is not None else generator_of(generator)


def _count(n: Any, where: str, name: str = "n_samples", low: int = 1) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < low:
        raise ValueError(f"{where}: {name} must be an integer >= {low}, got {n!r}")
    return int(n)


def _split(n: int, k: int) -> list[int]:
    """n samples over k classes as evenly as possible (the first classes get the extra)."""
    return [n // k + (1 if j < n % k else 0) for j in range(k)]


def _finish(x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
            shuffle: bool) -> TensorDataset:
    if shuffle:
        p = rng.permutation(len(x))
        x, y = x[p], y[p]
    y = y.astype(np.int64) if y.dtype.kind in "iub" else y.astype(np.float32)
    return TensorDataset(np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y))


def _noisy(x: np.ndarray, noise: float, rng: np.random.Generator, where: str) -> np.ndarray:
    if noise < 0:
        raise ValueError(f"{where}: noise must be >= 0, got {noise}")
    return x + noise * rng.standard_normal(x.shape) if noise else x


def xor(n_samples: int | None = None, noise: float = 0.0, shuffle: bool = False,
        seed: int | None = None, generator: Generator | None = None) -> TensorDataset:
    """XOR: inputs (0,0), (0,1), (1,0), (1,1) with labels 0, 1, 1, 0.

    With ``n_samples`` the corners are repeated (balanced) up to that many points, and Gaussian
    ``noise`` of that standard deviation is added to the inputs.
    """
    corners = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    labels = np.array([0, 1, 1, 0])
    rng = _rng(seed, generator, "xor")
    if n_samples is None:
        x, y = corners, labels
    else:
        n = _count(n_samples, "xor")
        which = np.repeat(np.arange(4), _split(n, 4))
        x, y = corners[which], labels[which]
    return _finish(_noisy(x, noise, rng, "xor"), y, rng, shuffle)


def parity(n_bits: int = 3, n_samples: int | None = None, signed: bool = False,
           seed: int | None = None, generator: Generator | None = None) -> TensorDataset:
    """N-bit parity: label 1 when the number of ones is odd.

    All ``2**n_bits`` patterns in counting order by default (exactly balanced); with
    ``n_samples``, that many random patterns. ``signed=True`` codes bits as -1/+1.
    """
    n_bits = _count(n_bits, "parity", "n_bits")
    if n_samples is None:
        if n_bits > 20:
            raise ValueError(f"parity: 2**{n_bits} patterns is too many to list; pass "
                             "n_samples= to draw random ones")
        codes = np.arange(2 ** n_bits)
        bits = (codes[:, None] >> np.arange(n_bits - 1, -1, -1)) & 1
    else:
        rng = _rng(seed, generator, "parity")
        bits = rng.integers(0, 2, size=(_count(n_samples, "parity"), n_bits))
    y = bits.sum(axis=1) % 2
    x = bits * 2 - 1 if signed else bits
    return TensorDataset(x.astype(np.float32), y.astype(np.int64))


def encoder(n: int = 8) -> TensorDataset:
    """The encoder problem (Ackley, Hinton & Sejnowski 1985): the n one-hot patterns, each its
    own target (float32), to be squeezed through ``log2(n)`` hidden units of an n-log2(n)-n
    network."""
    n = _count(n, "encoder", "n", low=2)
    eye = np.eye(n, dtype=np.float32)
    return TensorDataset(eye, eye.copy())


def spirals(n_samples: int = 300, n_classes: int = 2, noise: float = 0.05, turns: float = 1.0,
            shuffle: bool = True, seed: int | None = None,
            generator: Generator | None = None) -> TensorDataset:
    """``n_classes`` interleaved spiral arms in the plane (radius 0 to 1, ``turns`` turns)."""
    n = _count(n_samples, "spirals")
    k = _count(n_classes, "spirals", "n_classes")
    rng = _rng(seed, generator, "spirals")
    xs, ys = [], []
    for j, m in enumerate(_split(n, k)):
        r = np.linspace(0.05, 1.0, m)
        theta = 2 * math.pi * (turns * r + j / k)
        xs.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))
        ys.append(np.full(m, j))
    x = _noisy(np.concatenate(xs), noise, rng, "spirals")
    return _finish(x, np.concatenate(ys), rng, shuffle)


def moons(n_samples: int = 100, noise: float = 0.0, shuffle: bool = True,
          seed: int | None = None, generator: Generator | None = None) -> TensorDataset:
    """Two interleaving half circles (label 0: the upper moon, 1: the lower one)."""
    n = _count(n_samples, "moons", low=2)
    rng = _rng(seed, generator, "moons")
    n0, n1 = _split(n, 2)
    t0, t1 = np.linspace(0, math.pi, n0), np.linspace(0, math.pi, n1)
    x = np.concatenate([np.stack([np.cos(t0), np.sin(t0)], axis=1),
                        np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)])
    y = np.repeat([0, 1], [n0, n1])
    return _finish(_noisy(x, noise, rng, "moons"), y, rng, shuffle)


def circles(n_samples: int = 100, noise: float = 0.0, factor: float = 0.5, shuffle: bool = True,
            seed: int | None = None, generator: Generator | None = None) -> TensorDataset:
    """Two concentric circles: label 0 on radius 1, label 1 on radius ``factor`` (< 1)."""
    n = _count(n_samples, "circles", low=2)
    if not 0 <= factor < 1:
        raise ValueError(f"circles: factor must be in [0, 1), got {factor}")
    rng = _rng(seed, generator, "circles")
    n0, n1 = _split(n, 2)
    t0 = np.linspace(0, 2 * math.pi, n0, endpoint=False)
    t1 = np.linspace(0, 2 * math.pi, n1, endpoint=False)
    x = np.concatenate([np.stack([np.cos(t0), np.sin(t0)], axis=1),
                        factor * np.stack([np.cos(t1), np.sin(t1)], axis=1)])
    y = np.repeat([0, 1], [n0, n1])
    return _finish(_noisy(x, noise, rng, "circles"), y, rng, shuffle)


def blobs(n_samples: int = 100, centers: int | Any = 3, n_features: int = 2,
          cluster_std: float = 1.0, center_box: tuple[float, float] = (-10.0, 10.0),
          shuffle: bool = True, seed: int | None = None,
          generator: Generator | None = None) -> TensorDataset:
    """Isotropic Gaussian clusters, one class per center. ``centers`` is a count (drawn
    uniformly in ``center_box``) or an array of shape (n_centers, n_features)."""
    n = _count(n_samples, "blobs")
    rng = _rng(seed, generator, "blobs")
    if isinstance(centers, (int, np.integer)):
        c = rng.uniform(center_box[0], center_box[1],
                        size=(_count(centers, "blobs", "centers"), _count(n_features, "blobs",
                                                                          "n_features")))
    else:
        c = np.asarray(centers, dtype=np.float64)
        if c.ndim != 2 or len(c) == 0:
            raise ValueError(f"blobs: centers must be a count or an array of shape "
                             f"(n_centers, n_features), got shape {c.shape}")
    sizes = _split(n, len(c))
    y = np.repeat(np.arange(len(c)), sizes)
    x = c[y] + cluster_std * rng.standard_normal((n, c.shape[1]))
    return _finish(x, y, rng, shuffle)


_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sin": np.sin,
    "cubic": lambda x: x ** 3 / 10 - x,
    "abs": np.abs,
    "step": lambda x: (x > 0).astype(np.float64),
    "sinc": lambda x: np.sinc(x / math.pi),
}


def regression_1d(n_samples: int = 100, fn: str | Callable[[np.ndarray], Any] = "sin",
                  noise: float = 0.1, x_range: tuple[float, float] = (-math.pi, math.pi),
                  seed: int | None = None, generator: Generator | None = None) -> TensorDataset:
    """``y = fn(x) + noise * N(0, 1)`` with x uniform in ``x_range``, sorted. Both have shape
    (n_samples, 1), float32 (ready for ``MSELoss`` against a model's (N, 1) output). ``fn`` is
    one of "sin", "cubic", "abs", "step", "sinc" or a NumPy function."""
    n = _count(n_samples, "regression_1d")
    rng = _rng(seed, generator, "regression_1d")
    if isinstance(fn, str):
        if fn not in _FUNCTIONS:
            raise ValueError(f"regression_1d: unknown fn {fn!r}; expected one of "
                             f"{sorted(_FUNCTIONS)} or a function")
        fn = _FUNCTIONS[fn]
    x = np.sort(rng.uniform(x_range[0], x_range[1], size=n))
    y = np.asarray(fn(x), dtype=np.float64).reshape(n)
    y = _noisy(y, noise, rng, "regression_1d")
    return TensorDataset(x.astype(np.float32)[:, None], y.astype(np.float32)[:, None])
