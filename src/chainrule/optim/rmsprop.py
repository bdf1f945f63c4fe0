"""RMSprop: divide the gradient by a running root-mean-square of recent gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.optim.optimizer import Optimizer, apply_update, implementation_flags, square_average_

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop, as ``torch.optim.RMSprop``.

    For each parameter :math:`\theta` with gradient :math:`g` (``v``, ``b``, ``g_avg`` start at
    zero)::

        if maximize:           g = -g
        if weight_decay != 0:  g = g + weight_decay * theta
        v = alpha * v + (1 - alpha) * g**2
        if centered:
            g_avg = alpha * g_avg + (1 - alpha) * g
            denom = sqrt(v - g_avg**2) + eps
        else:
            denom = sqrt(v) + eps
        if momentum > 0:
            b = momentum * b + g / denom
            theta = theta - lr * b
        else:
            theta = theta - lr * g / denom

    The square root is taken before ``eps`` is added (TensorFlow does it the other way round).

    Args:
        params: tensors or parameter groups to optimise.
        lr: learning rate (default 1e-2).
        alpha: smoothing constant of the running averages (default 0.99).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: L2 penalty added to the gradient (default 0).
        momentum: momentum factor (default 0).
        centered: normalise by an estimate of the gradient's variance (default False).
        maximize: maximise the objective instead of minimising it (default False).
    """

    _param_state_keys = ("square_avg", "momentum_buffer", "grad_avg")

    def __init__(self, params: Any, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                    "centered": centered, "weight_decay": weight_decay, "maximize": maximize}
        defaults.update(implementation_flags("RMSprop", foreach, differentiable, capturable,
                                             fused))
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        super()._check_hyperparameters(group)
        self._check_nonneg(group, "eps", "epsilon value")
        self._check_nonneg(group, "momentum", "momentum value")
        self._check_nonneg(group, "weight_decay", "weight_decay value")
        self._check_nonneg(group, "alpha", "alpha value")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One RMSprop update of every parameter that has a ``.grad``; returns ``closure()``."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            alpha = float(group["alpha"])
            eps = float(group["eps"])
            wd = float(group["weight_decay"])
            mu = float(group["momentum"])
            centered = group["centered"]
            maximize = group["maximize"]
            for p, g, a, xp, state in self._with_grads(group):
                if not state:
                    state["step"] = 0
                    state["square_avg"] = self._zeros_like(a)
                if mu > 0 and "momentum_buffer" not in state:
                    state["momentum_buffer"] = self._zeros_like(a)
                if centered and "grad_avg" not in state:
                    state["grad_avg"] = self._zeros_like(a)
                state["step"] += 1
                tmp, tmp2 = self._buffers(p, a, 2)
                g = self._effective_grad(xp, g, a, wd, maximize, tmp)
                v = state["square_avg"]._data
                square_average_(xp, v, g, alpha, tmp2)
                if centered:
                    ga = state["grad_avg"]._data
                    xp.subtract(g, ga, out=tmp2)  # g_avg += (1 - alpha) * (g - g_avg)
                    tmp2 *= 1.0 - alpha
                    ga += tmp2
                    xp.multiply(ga, ga, out=tmp2)
                    xp.subtract(v, tmp2, out=tmp2)
                    xp.sqrt(tmp2, out=tmp2)
                else:
                    xp.sqrt(v, out=tmp2)
                tmp2 += eps
                xp.divide(g, tmp2, out=tmp2)  # g / denom
                if mu > 0:
                    buf = state["momentum_buffer"]._data
                    buf *= mu
                    buf += tmp2
                    xp.multiply(buf, lr, out=tmp2)
                else:
                    tmp2 *= lr
                apply_update(p, tmp2)
        return loss
