"""RAdam: Adam with the variance of its adaptive learning rate rectified in early steps."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from chainrule.optim.optimizer import (
    Optimizer,
    apply_update,
    implementation_flags,
    lerp_,
    square_average_,
)

__all__ = ["RAdam"]


class RAdam(Optimizer):
    r"""RAdam (Liu et al., 2019), as ``torch.optim.RAdam``.

    For each parameter :math:`\theta` with gradient :math:`g`, at step :math:`t = 1, 2, \dots`
    (``m``, ``v`` start at zero)::

        if maximize:           g = -g
        if weight_decay != 0:
            theta = theta * (1 - lr * weight_decay)      if decoupled_weight_decay
            g = g + weight_decay * theta                  otherwise
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)
        if rho_t > 5:    (the variance is tractable: rectify the adaptive step)
            r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
            theta = theta - lr * m_hat * r * sqrt(1 - beta2**t) / (sqrt(v) + eps)
        else:            (plain momentum SGD)
            theta = theta - lr * m_hat

    Args:
        params: tensors or parameter groups to optimise.
        lr: learning rate (default 1e-3).
        betas: decay rates of the moment estimates (default (0.9, 0.999)).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: weight decay coefficient (default 0).
        decoupled_weight_decay: decay the weights directly, as AdamW (default False).
        maximize: maximise the objective instead of minimising it (default False).
    """

    _param_state_keys = ("exp_avg", "exp_avg_sq")

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize}
        defaults.update(implementation_flags("RAdam", foreach, differentiable, capturable,
                                             fused))
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        super()._check_hyperparameters(group)
        self._check_nonneg(group, "eps", "epsilon value")
        self._check_betas(group)
        self._check_nonneg(group, "weight_decay", "weight_decay value")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One RAdam update of every parameter that has a ``.grad``; returns ``closure()``."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            beta1, beta2 = (float(b) for b in group["betas"])
            eps, wd = float(group["eps"]), float(group["weight_decay"])
            decoupled = group["decoupled_weight_decay"]
            for p, g, a, xp, state in self._with_grads(group):
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = self._zeros_like(a)
                    state["exp_avg_sq"] = self._zeros_like(a)
                state["step"] = t = state["step"] + 1
                tmp, tmp2 = self._buffers(p, a, 2)
                if wd != 0.0 and decoupled:
                    apply_update(p, scale=1.0 - lr * wd)
                g = self._effective_grad(xp, g, a, 0.0 if decoupled else wd, group["maximize"],
                                         tmp)
                m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
                lerp_(xp, m, g, 1.0 - beta1, tmp2)
                square_average_(xp, v, g, beta2, tmp2)
                bc1, bc2 = 1.0 - beta1 ** t, 1.0 - beta2 ** t
                rho_inf = 2.0 / (1.0 - beta2) - 1.0
                rho_t = rho_inf - 2.0 * t * beta2 ** t / bc2
                xp.divide(m, bc1, out=tmp2)  # m_hat
                tmp2 *= lr
                if rho_t > 5.0:
                    rect = math.sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                                     / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                    denom = xp.sqrt(v)
                    denom += eps
                    xp.divide(math.sqrt(bc2), denom, out=denom)  # adaptive lr
                    tmp2 *= denom
                    tmp2 *= rect
                apply_update(p, tmp2)
        return loss
