"""The workloads in JAX (CPU), as JAX users write them: a pure loss function of the parameters,
``jax.value_and_grad``, the SGD update inside the same ``jax.jit``-compiled step (parameters
donated, so XLA may update them in place), the same shapes, data, initial parameters and
learning rates as ``bench/workloads_numpy.py``. Each ``step()`` waits for its result
(``block_until_ready``): JAX dispatches asynchronously, the other frameworks do not.

XLA's CPU thread pool follows ``XLA_FLAGS`` (``bench/compiled.py`` sets one thread before JAX is
imported)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.problems import chain_problem, lenet_problem, mlp_problem
from bench.spec import Runner, Unavailable

try:
    import jax
    import jax.numpy as jnp
except ImportError:  # pragma: no cover - depends on the machine
    jax = None  # type: ignore[assignment]


def build(name: str, seed: int = 0) -> Runner:
    if jax is None:
        raise Unavailable("jax is not installed")
    special = {"W4": _lenet, "W5": _chain}
    return special[name](seed) if name in special else _mlp(name, seed)


def _sgd_runner(loss_fn: Any, inits: list[np.ndarray], args: tuple, lr: float) -> Runner:
    """A jitted ``params -> params - lr * grad`` step with the loss, over ``inits``."""

    def sgd_step(params: list, *a: Any) -> tuple:
        loss, grads = jax.value_and_grad(loss_fn)(params, *a)
        return [p - lr * g for p, g in zip(params, grads)], loss

    step_fn = jax.jit(sgd_step, donate_argnums=0)
    dev = [jnp.asarray(x) for x in args]
    state: dict[str, Any] = {}

    def reset() -> None:
        state["p"] = [jnp.asarray(a.copy()) for a in inits]

    def step() -> Any:
        state["p"], loss = step_fn(state["p"], *dev)
        return loss.block_until_ready()

    def fingerprint(loss: Any) -> list[float]:
        return [float(loss)] + [float(np.asarray(q).sum(dtype=np.float64)) for q in state["p"]]

    reset()
    return Runner(step, reset, fingerprint)


def _mlp(name: str, seed: int) -> Runner:
    p = mlp_problem(name, seed)
    ce = p.loss == "cross_entropy"
    act = jax.nn.relu if p.activation == "relu" else jax.nn.sigmoid
    n_layers = len(p.weights)
    n_act = n_layers if p.out_activation else n_layers - 1

    def loss_fn(params: list, x: Any, t: Any) -> Any:
        h = x
        for i in range(n_layers):
            h = h @ params[2 * i].T + params[2 * i + 1]
            if i < n_act:
                h = act(h)
        if ce:
            logp = jax.nn.log_softmax(h, axis=1)
            return -jnp.mean(jnp.take_along_axis(logp, t[:, None], axis=1))
        return jnp.mean((h - t) ** 2)

    inits = [a for wb in zip(p.weights, p.biases) for a in wb]
    return _sgd_runner(loss_fn, inits, (p.x, p.labels if ce else p.onehot), p.lr)


def _chain(seed: int) -> Runner:
    p = chain_problem(seed)
    groups, rest = divmod(p.n_ops, 3)

    def f(x: Any, c: Any) -> Any:
        y = x
        for _ in range(groups):
            y = jnp.tanh((y + c) * c)
        if rest:
            y = y + c
        if rest > 1:
            y = y * c
        return y.sum()

    vg = jax.jit(jax.value_and_grad(f))
    x, c = jnp.asarray(p.x), jnp.asarray(p.c)
    state: dict[str, Any] = {}

    def step() -> Any:
        out, state["grad"] = vg(x, c)
        return out.block_until_ready()

    def fingerprint(out: Any) -> list[float]:
        return [float(out), float(np.asarray(state["grad"]).sum(dtype=np.float64))]

    return Runner(step, lambda: None, fingerprint)


def _lenet(seed: int) -> Runner:
    p = lenet_problem(seed)
    dn = ("NCHW", "OIHW", "NCHW")

    def conv(x: Any, w: Any, b: Any, pad: int) -> Any:
        y = jax.lax.conv_general_dilated(x, w, (1, 1), [(pad, pad), (pad, pad)],
                                         dimension_numbers=dn)
        return y + b[None, :, None, None]

    def pool(x: Any) -> Any:
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2),
                                     "VALID")

    def loss_fn(params: list, x: Any, t: Any) -> Any:
        c1w, c1b, c2w, c2b, f1w, f1b, f2w, f2b, f3w, f3b = params
        h = pool(jax.nn.relu(conv(x, c1w, c1b, 2)))
        h = pool(jax.nn.relu(conv(h, c2w, c2b, 0)))
        h = h.reshape(h.shape[0], -1)
        h = jax.nn.relu(h @ f1w.T + f1b)
        h = jax.nn.relu(h @ f2w.T + f2b)
        logp = jax.nn.log_softmax(h @ f3w.T + f3b, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, t[:, None], axis=1))

    return _sgd_runner(loss_fn, p.params, (p.x, p.labels), p.lr)
