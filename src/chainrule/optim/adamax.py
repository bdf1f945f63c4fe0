"""Adamax: Adam with the infinity norm of past gradients in the denominator."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.optim.optimizer import Optimizer, apply_update, implementation_flags, lerp_

__all__ = ["Adamax"]


class Adamax(Optimizer):
    r"""Adamax, as ``torch.optim.Adamax``.

    For each parameter :math:`\theta` with gradient :math:`g`, at step :math:`t = 1, 2, \dots`
    (``m`` and the infinity norm ``u`` start at zero)::

        if maximize:           g = -g
        if weight_decay != 0:  g = g + weight_decay * theta
        m = beta1 * m + (1 - beta1) * g
        u = max(beta2 * u, |g| + eps)
        theta = theta - lr / (1 - beta1**t) * m / u

    Args:
        params: tensors or parameter groups to optimise.
        lr: learning rate (default 2e-3).
        betas: decay rates of ``m`` and ``u`` (default (0.9, 0.999)).
        eps: added to ``|g|`` for numerical stability (default 1e-8).
        weight_decay: L2 penalty added to the gradient (default 0).
        maximize: maximise the objective instead of minimising it (default False).
    """

    _param_state_keys = ("exp_avg", "exp_inf")

    def __init__(self, params: Any, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize}
        defaults.update(implementation_flags("Adamax", foreach, differentiable, capturable,
                                             fused))
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        super()._check_hyperparameters(group)
        self._check_nonneg(group, "eps", "epsilon value")
        self._check_betas(group)
        self._check_nonneg(group, "weight_decay", "weight_decay value")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adamax update of every parameter that has a ``.grad``; returns ``closure()``."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            beta1, beta2 = (float(b) for b in group["betas"])
            eps, wd = float(group["eps"]), float(group["weight_decay"])
            for p, g, a, xp, state in self._with_grads(group):
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = self._zeros_like(a)
                    state["exp_inf"] = self._zeros_like(a)
                state["step"] = t = state["step"] + 1
                tmp, tmp2 = self._buffers(p, a, 2)
                g = self._effective_grad(xp, g, a, wd, group["maximize"], tmp)
                m, u = state["exp_avg"]._data, state["exp_inf"]._data
                lerp_(xp, m, g, 1.0 - beta1, tmp2)
                u *= beta2  # u = max(beta2 * u, |g| + eps)
                xp.abs(g, out=tmp2)
                tmp2 += eps
                xp.maximum(u, tmp2, out=u)
                xp.divide(m, u, out=tmp2)  # theta -= lr / (1 - beta1^t) * m / u
                tmp2 *= lr / (1.0 - beta1 ** t)
                apply_update(p, tmp2)
        return loss
