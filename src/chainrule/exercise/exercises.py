"""Three ready exercises. Call one with your solution to check it (prints a report, returns a
``CheckReport``); call it with no argument to print the task and a template to fill in.

    import chainrule as cr
    cr.exercise.sigmoid_backward(my_sigmoid_backward)

The expected answers are not written down anywhere: they come from chainrule's engine
(backward through the forward pass) and from finite differences.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np

from chainrule.exercise.check import CheckReport, check

__all__ = ["EXERCISES", "mlp_backprop", "sigmoid_backward", "softmax_cross_entropy_backward",
           "template"]

TEMPLATES = {
    "sigmoid_backward": '''\
def sigmoid_backward(x, grad_output):
    """x: any shape; grad_output: dL/dy for y = sigmoid(x), same shape. Return dL/dx."""
    s = 1 / (1 + np.exp(-x))
    return ...
''',
    "softmax_cross_entropy_backward": '''\
def softmax_cross_entropy_backward(logits, targets, grad_output):
    """logits (N, C), targets (N,) class indices, grad_output: a scalar (dL/dloss).
    loss = mean over rows of -log softmax(logits)[row, target]. Return dL/dlogits."""
    return ...
''',
    "mlp_backprop": '''\
def mlp_backprop(params, x, y):
    """params: W1 (D, H), b1 (H,), W2 (H, C), b2 (C,); x (N, D); y (N,) class indices.
    h = tanh(x @ W1 + b1); logits = h @ W2 + b2; loss = mean cross-entropy(logits, y).
    Return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    h = np.tanh(x @ W1 + b1)
    logits = h @ W2 + b2
    ...
    return {"W1": ..., "b1": ..., "W2": ..., "b2": ...}
''',
}


def template(name: str) -> str:
    """The template of exercise ``name`` (fill in the ``...``)."""
    if name not in TEMPLATES:
        raise KeyError(f"exercise.template: unknown exercise {name!r}; known: "
                       f"{', '.join(TEMPLATES)}")
    return TEMPLATES[name]


def _intro(fn: Callable[..., Any]) -> None:
    print(textwrap.dedent(inspect.getdoc(fn) or ""))
    print("\nTemplate:\n")
    print(template(fn.__name__))


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def sigmoid_backward(solution: Callable[..., Any] | None = None, *, seed: int = 0,
                     verbose: bool = True) -> CheckReport | None:
    """Exercise 1: the backward of sigmoid.

    Write ``sigmoid_backward(x, grad_output)`` returning dL/dx, where ``y = sigmoid(x) =
    1 / (1 + exp(-x))`` elementwise and ``grad_output`` is dL/dy (same shape as x). Use only
    NumPy. Checked on a (3, 4) input against finite differences and chainrule's own rule.
    """
    if solution is None:
        _intro(sigmoid_backward)
        return None
    from chainrule.nn import functional as F

    x = _rng(seed).normal(0.0, 2.0, (3, 4))
    return check(solution, F.sigmoid, [x], name="sigmoid_backward", verbose=verbose, seed=seed)


def _mean_ce(logits: Any, targets: Any) -> Any:
    from chainrule.nn import functional as F

    return F.cross_entropy(logits, targets)


def softmax_cross_entropy_backward(solution: Callable[..., Any] | None = None, *, seed: int = 0,
                                   verbose: bool = True) -> CheckReport | None:
    """Exercise 2: the backward of softmax + cross-entropy (mean over the batch).

    Write ``softmax_cross_entropy_backward(logits, targets, grad_output)`` returning
    dL/dlogits, for ``loss = mean_n -log(softmax(logits[n])[targets[n]])`` with logits of shape
    (N, C), integer class indices ``targets`` of shape (N,) and ``grad_output`` = dL/dloss (a
    0-d array). Use only NumPy. Checked with N = 4, C = 3.
    """
    if solution is None:
        _intro(softmax_cross_entropy_backward)
        return None
    r = _rng(seed)
    logits, targets = r.normal(0.0, 1.5, (4, 3)), r.integers(0, 3, 4)
    return check(solution, _mean_ce, [logits, targets], name="softmax_cross_entropy_backward",
                 verbose=verbose, seed=seed)


def _mlp_loss(params: dict[str, Any], x: Any, y: Any) -> Any:
    h = (x @ params["W1"] + params["b1"]).tanh()
    return _mean_ce(h @ params["W2"] + params["b2"], y)


def mlp_backprop(solution: Callable[..., Any] | None = None, *, seed: int = 0,
                 verbose: bool = True) -> CheckReport | None:
    """Exercise 3: backpropagation by hand through a 2-layer MLP.

    Write ``mlp_backprop(params, x, y)`` returning ``{"W1", "b1", "W2", "b2"}`` gradients of
    ``loss = mean cross-entropy(tanh(x @ W1 + b1) @ W2 + b2, y)``; ``params`` holds W1 (D, H),
    b1 (H,), W2 (H, C), b2 (C,); x is (N, D), y (N,) integer classes. Use only NumPy.
    Checked with N = 5, D = 3, H = 4, C = 3.
    """
    if solution is None:
        _intro(mlp_backprop)
        return None
    r = _rng(seed)
    params = {"W1": r.normal(0, 0.8, (3, 4)), "b1": r.normal(0, 0.3, 4),
              "W2": r.normal(0, 0.8, (4, 3)), "b2": r.normal(0, 0.3, 3)}
    x, y = r.normal(0, 1, (5, 3)), r.integers(0, 3, 5)
    return check(solution, _mlp_loss, [params, x, y], name="mlp_backprop", verbose=verbose)


EXERCISES = {"sigmoid_backward": sigmoid_backward,
             "softmax_cross_entropy_backward": softmax_cross_entropy_backward,
             "mlp_backprop": mlp_backprop}
