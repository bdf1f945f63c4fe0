"""The workloads in PyTorch (CPU), written as PyTorch users write them without nn.Module: leaf
tensors, ``F.linear``, ``F.cross_entropy`` / ``F.mse_loss``, ``p.grad = None`` and an in-place
``p.add_(p.grad, alpha=-lr)`` under ``torch.no_grad()`` (what ``optim.SGD`` does per tensor)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.problems import chain_problem, lenet_problem, mlp_problem
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
    if name == "W4":
        return _lenet(seed)
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


def _lenet(seed: int) -> Runner:
    """W4 as a PyTorch user writes it: F.conv2d / F.max_pool2d / F.linear on leaf tensors."""
    p = lenet_problem(seed)
    x, target = torch.from_numpy(p.x), torch.from_numpy(p.labels)
    params = [torch.tensor(a, requires_grad=True) for a in p.params]
    lr = p.lr

    def step() -> Any:
        for q in params:
            q.grad = None
        c1w, c1b, c2w, c2b, f1w, f1b, f2w, f2b, f3w, f3b = params
        h = F.max_pool2d(torch.relu(F.conv2d(x, c1w, c1b, padding=2)), 2)
        h = F.max_pool2d(torch.relu(F.conv2d(h, c2w, c2b)), 2)
        h = torch.relu(F.linear(h.flatten(1), f1w, f1b))
        h = torch.relu(F.linear(h, f2w, f2b))
        loss = F.cross_entropy(F.linear(h, f3w, f3b), target)
        loss.backward()
        with torch.no_grad():
            for q in params:
                q.add_(q.grad, alpha=-lr)
        return loss

    def reset() -> None:
        with torch.no_grad():
            for q, a in zip(params, p.params):
                q.copy_(torch.from_numpy(a))

    def fingerprint(loss: Any) -> list[float]:
        return [float(loss.item())] + [float(q.detach().numpy().sum(dtype=np.float64))
                                       for q in params]

    return Runner(step, reset, fingerprint)
