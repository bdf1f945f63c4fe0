"""The workloads in chainrule, two ways (``api=``):

- ``"engine"`` (default): parameters are leaf tensors that require grad, the forward is
  ``cr.linear`` + activation + ``cr.cross_entropy`` / ``cr.mse_loss``, grads are zeroed by
  ``p.grad = None`` and SGD updates in place under ``cr.no_grad()``;
- ``"nn"``: what a user writes: ``nn.Sequential`` of ``nn.Linear`` and activation modules,
  ``nn.CrossEntropyLoss`` / ``nn.MSELoss``, ``optim.SGD`` with ``zero_grad()`` / ``step()``
  (``python -m bench.run --chainrule-api nn``)."""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule as cr
from bench.problems import chain_problem, lenet_problem, mlp_problem
from bench.spec import Runner, Unavailable


def _need(*names: str) -> None:
    missing = [n for n in names if not hasattr(cr, n)]
    if missing:
        raise Unavailable("chainrule has no " + ", ".join("cr." + n for n in missing) + " yet")


def build(name: str, seed: int = 0, sgd: str = "isub", api: str = "engine") -> Runner:
    """``sgd``: ``"isub"`` for ``p -= lr * p.grad``, ``"sub_"`` for ``p.sub_(p.grad, alpha=lr)``,
    ``"scale_grad"`` for ``p.grad *= lr; p -= p.grad`` (no temporary; the gradient is consumed).
    ``api``: ``"engine"`` or ``"nn"`` (``nn.Linear`` layers and ``optim.SGD``; ``sgd`` unused).
    W5 is engine-level either way."""
    if api not in ("engine", "nn"):
        raise ValueError(f"api must be 'engine' or 'nn', got {api!r}")
    if name == "W5":
        return _chain(seed)
    if name == "W4":
        return _lenet(seed, api)
    if api == "nn":
        return _mlp_nn(name, seed)
    return _mlp(name, seed, sgd)


def _mlp_nn(name: str, seed: int) -> Runner:
    p = mlp_problem(name, seed)
    try:
        from chainrule import nn, optim
    except ImportError as e:
        raise Unavailable(f"chainrule.nn / chainrule.optim: {e}") from None
    for mod, names in ((nn, ("Linear", "Sequential", "CrossEntropyLoss", "MSELoss")),
                       (optim, ("SGD",))):
        missing = [n for n in names if not hasattr(mod, n)]
        if missing:
            raise Unavailable(f"{mod.__name__} has no {', '.join(missing)} yet")
    act = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}[p.activation]
    ce = p.loss == "cross_entropy"
    layers: list[Any] = []
    linears = []
    n = len(p.weights)
    for i, w in enumerate(p.weights):
        lin = nn.Linear(w.shape[1], w.shape[0])
        linears.append(lin)
        layers.append(lin)
        if i < n - 1 or p.out_activation:
            layers.append(act())
    model = nn.Sequential(*layers)
    loss_fn = nn.CrossEntropyLoss() if ce else nn.MSELoss()
    opt = optim.SGD(model.parameters(), lr=p.lr)
    x = cr.from_numpy(p.x)
    target = cr.from_numpy(p.labels if ce else p.onehot)
    params = [q for lin in linears for q in (lin.weight, lin.bias)]
    inits = [a for wb in zip(p.weights, p.biases) for a in wb]

    def step() -> Any:
        opt.zero_grad()
        loss = loss_fn(model(x), target)
        loss.backward()
        opt.step()
        return loss

    def reset() -> None:
        for q, a in zip(params, inits):
            np.copyto(q.detach().numpy(), a)

    def fingerprint(loss: Any) -> list[float]:
        return [float(loss.item())] + [float(q.detach().numpy().sum(dtype=np.float64))
                                       for q in params]

    reset()
    return Runner(step, reset, fingerprint)


def _mlp(name: str, seed: int, sgd: str) -> Runner:
    p = mlp_problem(name, seed)
    ce = p.loss == "cross_entropy"
    _need("linear", "cross_entropy" if ce else "mse_loss", p.activation)
    x = cr.from_numpy(p.x)
    target = cr.from_numpy(p.labels if ce else p.onehot)
    loss_fn = cr.cross_entropy if ce else cr.mse_loss
    act = getattr(cr, p.activation)
    linear = cr.linear
    inits = [a for wb in zip(p.weights, p.biases) for a in wb]
    params = [cr.tensor(a, requires_grad=True) for a in inits]
    layers = list(zip(params[0::2], params[1::2]))
    n_act = len(layers) if p.out_activation else len(layers) - 1
    lr = p.lr

    def forward() -> Any:
        h = x
        for i, (w, b) in enumerate(layers):
            h = linear(h, w, b)
            if i < n_act:
                h = act(h)
        return loss_fn(h, target)

    def step_isub() -> Any:
        for q in params:
            q.grad = None
        loss = forward()
        loss.backward()
        with cr.no_grad():
            for q in params:
                q -= lr * q.grad
        return loss

    def step_sub_() -> Any:
        for q in params:
            q.grad = None
        loss = forward()
        loss.backward()
        with cr.no_grad():
            for q in params:
                q.sub_(q.grad, alpha=lr)
        return loss

    def step_scale_grad() -> Any:  # no full-size temporary: the gradient is scaled in place
        for q in params:
            q.grad = None
        loss = forward()
        loss.backward()
        with cr.no_grad():
            for q in params:
                g = q.grad
                g *= lr
                q -= g
        return loss

    def reset() -> None:
        for q, a in zip(params, inits):
            np.copyto(q.detach().numpy(), a)

    def fingerprint(loss: Any) -> list[float]:
        return [float(loss.item())] + [float(q.detach().numpy().sum(dtype=np.float64))
                                       for q in params]

    steps = {"isub": step_isub, "sub_": step_sub_, "scale_grad": step_scale_grad}
    if sgd not in steps:
        raise ValueError(f"sgd must be one of {sorted(steps)}, got {sgd!r}")
    return Runner(steps[sgd], reset, fingerprint)


def _chain(seed: int) -> Runner:
    p = chain_problem(seed)
    x = cr.tensor(p.x, requires_grad=True)
    c = cr.tensor(p.c)
    tanh = cr.tanh
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
        return [float(out.item()), float(x.grad.detach().numpy().sum(dtype=np.float64))]

    return Runner(step, lambda: None, fingerprint)


def _lenet(seed: int, api: str) -> Runner:
    """W4. ``engine``: F.conv2d / F.max_pool2d / F.linear on leaf tensors, in-place SGD (as the
    PyTorch runner); ``nn``: an ``nn.Sequential`` LeNet with ``optim.SGD``."""
    from chainrule import nn, optim
    from chainrule.nn import functional as F
    p = lenet_problem(seed)
    x, target = cr.tensor(p.x), cr.tensor(p.labels)
    lr = p.lr
    if api == "nn":
        model = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
        params = list(model.parameters())
        opt = optim.SGD(params, lr=lr)
        loss_fn = nn.CrossEntropyLoss()

        def step() -> Any:
            opt.zero_grad()
            loss = loss_fn(model(x), target)
            loss.backward()
            opt.step()
            return loss
    else:
        params = [cr.tensor(a, requires_grad=True) for a in p.params]

        def step() -> Any:
            for q in params:
                q.grad = None
            c1w, c1b, c2w, c2b, f1w, f1b, f2w, f2b, f3w, f3b = params
            h = F.max_pool2d(F.relu(F.conv2d(x, c1w, c1b, padding=2)), 2)
            h = F.max_pool2d(F.relu(F.conv2d(h, c2w, c2b)), 2)
            h = F.relu(F.linear(h.flatten(1), f1w, f1b))
            h = F.relu(F.linear(h, f2w, f2b))
            loss = F.cross_entropy(F.linear(h, f3w, f3b), target)
            loss.backward()
            with cr.no_grad():
                for q in params:
                    q -= lr * q.grad
            return loss

    def reset() -> None:
        with cr.no_grad():
            for q, a in zip(params, p.params):
                q.copy_(cr.tensor(a))

    def fingerprint(loss: Any) -> list[float]:
        return [float(loss.item())] + [float(q.detach().numpy().sum(dtype=np.float64))
                                       for q in params]

    return Runner(step, reset, fingerprint)
