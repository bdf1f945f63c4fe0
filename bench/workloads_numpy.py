"""The floor: each workload's forward and backward written by hand in NumPy, as a competent
engineer would write them for this one network. float32 throughout, in-place work where it is
free (activations, softmax, gradient scaling, SGD), the gradient of each layer used for its
update as soon as it is computed. No framework, no graph, no per-op bookkeeping: what is left is
the arithmetic, so ``numpy_time / chainrule_time`` is how close chainrule gets to it."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.problems import chain_problem, lenet_problem, mlp_problem
from bench.spec import Runner


def build(name: str, seed: int = 0) -> Runner:
    if name == "W5":
        return _chain(seed)
    if name == "W4":
        return _lenet(seed)
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


def _im2col(x: np.ndarray, k: int, pad: int) -> tuple[np.ndarray, int, int]:
    """(N, C, H, W) -> columns (C*k*k, N*OH*OW), as the textbook im2col (one strided copy)."""
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, w = x.shape
    oh, ow = h - k + 1, w - k + 1
    s = x.strides
    v = np.lib.stride_tricks.as_strided(x, (c, k, k, n, oh, ow),
                                        (s[1], s[2], s[3], s[0], s[2], s[3]))
    return np.ascontiguousarray(v).reshape(c * k * k, n * oh * ow), oh, ow


def _col2im(dcols: np.ndarray, shape: tuple, k: int, pad: int, oh: int, ow: int) -> np.ndarray:
    n, c, h, w = shape
    d = dcols.reshape(c, k, k, n, oh, ow)
    dx = np.zeros((c, n, h + 2 * pad, w + 2 * pad), dcols.dtype)
    for i in range(k):
        for j in range(k):
            dx[:, :, i:i + oh, j:j + ow] += d[:, i, j]
    return dx[:, :, pad:pad + h, pad:pad + w].transpose(1, 0, 2, 3)


def _pool2(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2x2 max pooling and the mask of the arg-max (first maximum)."""
    n, c, h, w = a.shape
    v = a.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(
        n, c, h // 2, w // 2, 4)
    arg = v.argmax(-1)
    out = np.take_along_axis(v, arg[..., None], -1)[..., 0]
    return out, arg


def _unpool2(g: np.ndarray, arg: np.ndarray) -> np.ndarray:
    n, c, oh, ow = g.shape
    d = np.zeros((n, c, oh, ow, 4), g.dtype)
    np.put_along_axis(d, arg[..., None], g[..., None], -1)
    return d.reshape(n, c, oh, ow, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, 2 * oh,
                                                                             2 * ow)


def _lenet(seed: int) -> Runner:
    """W4 by hand: im2col + GEMM convolutions, reshape-argmax pooling, the backward written
    out (the floor a framework must beat)."""
    p = lenet_problem(seed)
    P = [a.copy() for a in p.params]
    x, labels, lr = p.x, p.labels, p.lr
    n = x.shape[0]
    rows = np.arange(n)

    def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, pad: int) -> tuple:
        cols, oh, ow = _im2col(x, w.shape[-1], pad)
        y = (w.reshape(w.shape[0], -1) @ cols).reshape(w.shape[0], x.shape[0], oh, ow)
        y = y.transpose(1, 0, 2, 3) + b[None, :, None, None]
        return np.ascontiguousarray(y), cols

    def conv_back(g: np.ndarray, w: np.ndarray, cols: np.ndarray, xshape: tuple, pad: int,
                  need_dx: bool) -> tuple:
        o = w.shape[0]
        g2 = g.transpose(1, 0, 2, 3).reshape(o, -1)
        gw = (g2 @ cols.T).reshape(w.shape)
        gb = g2.sum(1)
        dx = _col2im(w.reshape(o, -1).T @ g2, xshape, w.shape[-1], pad, g.shape[2],
                     g.shape[3]) if need_dx else None
        return dx, gw, gb

    def step() -> Any:
        c1w, c1b, c2w, c2b, f1w, f1b, f2w, f2b, f3w, f3b = P
        z1, cols1 = conv(x, c1w, c1b, 2)
        np.maximum(z1, 0, out=z1)
        p1, a1 = _pool2(z1)
        z2, cols2 = conv(p1, c2w, c2b, 0)
        np.maximum(z2, 0, out=z2)
        p2, a2 = _pool2(z2)
        h0 = p2.reshape(n, -1)
        h1 = np.maximum(h0 @ f1w.T + f1b, 0)
        h2 = np.maximum(h1 @ f2w.T + f2b, 0)
        z = h2 @ f3w.T + f3b
        z -= z.max(1, keepdims=True)
        e = np.exp(z)
        s = e.sum(1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) - z[rows, labels]))
        g = e / s
        g[rows, labels] -= 1.0
        g *= 1.0 / n
        grads = [None] * 10
        grads[8], grads[9] = g.T @ h2, g.sum(0)
        g = (g @ f3w) * (h2 > 0)
        grads[6], grads[7] = g.T @ h1, g.sum(0)
        g = (g @ f2w) * (h1 > 0)
        grads[4], grads[5] = g.T @ h0, g.sum(0)
        g = (g @ f1w).reshape(p2.shape)
        g = _unpool2(g, a2) * (z2 > 0)
        g, grads[2], grads[3] = conv_back(g, c2w, cols2, p1.shape, 0, True)
        g = _unpool2(g, a1) * (z1 > 0)
        _, grads[0], grads[1] = conv_back(g, c1w, cols1, x.shape, 2, False)
        for q, gq in zip(P, grads):
            q -= lr * gq
        return loss

    def reset() -> None:
        for q, a in zip(P, p.params):
            q[...] = a

    def fingerprint(loss: Any) -> list[float]:
        return [float(loss)] + [float(q.sum(dtype=np.float64)) for q in P]

    return Runner(step, reset, fingerprint)
