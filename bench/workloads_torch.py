"""The workloads in PyTorch (CPU), written as PyTorch users write them without nn.Module: leaf
tensors, ``F.linear``, ``F.cross_entropy`` / ``F.mse_loss``, ``p.grad = None`` and an in-place
``p.add_(p.grad, alpha=-lr)`` under ``torch.no_grad()`` (what ``optim.SGD`` does per tensor)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.problems import chain_problem, mlp_problem
from bench.spec import Runner, Unavailable

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - depends on the machine
    torch = None  # type: ignore[assignment]


def build(name: str, seed: int = 0) -> Runner:
    if torch is None:
        raise Unavailable("torch is not installed")
    if name == "W5":
        return _chain(seed)
    return _mlp(name, seed)


def _mlp(name: str, seed: int) -> Runner:
    p = mlp_problem(name, seed)
    ce = p.loss == "cross_entropy"
    x = torch.from_numpy(p.x)
    target = torch.from_numpy(p.labels if ce else p.onehot)
    loss_fn = F.cross_entropy if ce else F.mse_loss
    act = torch.relu if p.activation == "relu" else torch.sigmoid
    linear = F.linear
    inits = [a for wb in zip(p.weights, p.biases) for a in wb]
    params = [torch.tensor(a, requires_grad=True) for a in inits]
    layers = list(zip(params[0::2], params[1::2]))
    n_act = len(layers) if p.out_activation else len(layers) - 1
    lr = p.lr

    def step() -> Any:
        for q in params:
            q.grad = None
        h = x
        for i, (w, b) in enumerate(layers):
            h = linear(h, w, b)
            if i < n_act:
                h = act(h)
        loss = loss_fn(h, target)
        loss.backward()
        with torch.no_grad():
            for q in params:
                q.add_(q.grad, alpha=-lr)
        return loss

    def reset() -> None:
        with torch.no_grad():
            for q, a in zip(params, inits):
                q.copy_(torch.from_numpy(a))

    def fingerprint(loss: Any) -> list[float]:
        return [float(loss.item())] + [float(q.detach().numpy().sum(dtype=np.float64))
                                       for q in params]

    return Runner(step, reset, fingerprint)


def _chain(seed: int) -> Runner:
    p = chain_problem(seed)
    x = torch.tensor(p.x, requires_grad=True)
    c = torch.tensor(p.c)
    tanh = torch.tanh
    groups, rest = divmod(p.n_ops, 3)

    def step() -> Any:
        x.grad = None
        y = x
        for _ in range(groups):
            y = tanh((y + c) * c)
        if rest:
            y = y + c
        if rest > 1:
            y = y * c
        out = y.sum()
        out.backward()
        return out

    def fingerprint(out: Any) -> list[float]:
        return [float(out.item()), float(x.grad.numpy().sum(dtype=np.float64))]

    return Runner(step, lambda: None, fingerprint)
