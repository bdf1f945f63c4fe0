"""The floor: each workload's forward and backward written by hand in NumPy, as a competent
engineer would write them for this one network. float32 throughout, in-place work where it is
free (activations, softmax, gradient scaling, SGD), the gradient of each layer used for its
update as soon as it is computed. No framework, no graph, no per-op bookkeeping: what is left is
the arithmetic, so ``numpy_time / chainrule_time`` is how close chainrule gets to it."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.problems import chain_problem, mlp_problem
from bench.spec import Runner


def build(name: str, seed: int = 0) -> Runner:
    if name == "W5":
        return _chain(seed)
    return _mlp(name, seed)


def _sigmoid_(z: np.ndarray) -> None:
    """z <- 1 / (1 + exp(-z)) in place, as 0.5 * tanh(z / 2) + 0.5 (never overflows)."""
    z *= 0.5
    np.tanh(z, out=z)
    z *= 0.5
    z += 0.5


def _mlp(name: str, seed: int) -> Runner:
    p = mlp_problem(name, seed)
    ce = p.loss == "cross_entropy"
    relu = p.activation == "relu"
    W = [w.copy() for w in p.weights]
    B = [b.copy() for b in p.biases]
    L = len(W)
    n_act = L if p.out_activation else L - 1
    x, labels, onehot = p.x, p.labels, p.onehot
    n, n_out = p.batch, p.sizes[-1]
    rows = np.arange(n)
    inv_n = 1.0 / n
    mse_scale = 2.0 / (n * n_out)
    lr = p.lr

    def act_grad_(g: np.ndarray, a: np.ndarray) -> None:
        """g <- g * act'(z), from the activation's output a."""
        if relu:
            np.multiply(g, a > 0.0, out=g)
        else:
            t = 1.0 - a
            t *= a
            g *= t

    def step() -> Any:
        acts = [x]  # the input of each layer, then the network's output
        h = x
        for i in range(L):
            h = h @ W[i].T
            h += B[i]
            if i < n_act:
                if relu:
                    np.maximum(h, 0.0, out=h)
                else:
                    _sigmoid_(h)
            acts.append(h)
        if ce:  # softmax cross-entropy, mean over the batch; g = (softmax - onehot) / n
            m = h.max(axis=1, keepdims=True)
            g = h - m
            picked = g[rows, labels]
            np.exp(g, out=g)
            s = g.sum(axis=1, keepdims=True)
            loss = (np.log(s).sum() - picked.sum()) * inv_n
            g /= s
            g[rows, labels] -= 1.0
            g *= inv_n
        else:  # mean squared error against one-hot targets
            g = h - onehot
            loss = np.vdot(g, g) * (mse_scale * 0.5)
            g *= mse_scale
            if p.out_activation:
                act_grad_(g, h)
        for i in range(L - 1, -1, -1):
            a = acts[i]
            gw = g.T @ a
            gb = g.sum(axis=0)
            if i > 0:
                g = g @ W[i]  # with the weights before this step's update
                act_grad_(g, a)
            gw *= lr
            W[i] -= gw
            gb *= lr
            B[i] -= gb
        return loss

    def reset() -> None:
        for dst, src in zip(W + B, p.weights + p.biases):
            np.copyto(dst, src)

    def fingerprint(loss: Any) -> list[float]:
        return [float(loss)] + [float(a.sum(dtype=np.float64))
                                for wb in zip(W, B) for a in wb]

    return Runner(step, reset, fingerprint)


def _chain(seed: int) -> Runner:
    p = chain_problem(seed)
    x, c = p.x, p.c
    tanh = np.tanh
    groups, rest = divmod(p.n_ops, 3)
    state: dict[str, np.ndarray] = {}

    def step() -> Any:
        ts = []  # tanh outputs: the only values backward needs (add passes g, mul scales by c)
        y = x
        for _ in range(groups):
            y = tanh((y + c) * c)
            ts.append(y)
        if rest:
            y = y + c
        if rest > 1:
            y = y * c
        out = y.sum()
        g = np.ones_like(y)
        if rest > 1:
            g = g * c
        for t in reversed(ts):
            g *= 1.0 - t * t
            g *= c
        state["grad"] = g
        return out

    def fingerprint(out: Any) -> list[float]:
        return [float(out), float(state["grad"].sum(dtype=np.float64))]

    return Runner(step, lambda: None, fingerprint)
