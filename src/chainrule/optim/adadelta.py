"""Adadelta: per-coordinate step sizes from running averages of squared gradients and updates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.optim.optimizer import Optimizer, apply_update, implementation_flags, square_average_

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    r"""Adadelta, as ``torch.optim.Adadelta``.

    For each parameter :math:`\theta` with gradient :math:`g` (the running averages ``v`` of
    squared gradients and ``u`` of squared updates start at zero)::

        if maximize:           g = -g
        if weight_decay != 0:  g = g + weight_decay * theta
        v = rho * v + (1 - rho) * g**2
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta**2
        theta = theta - lr * delta

    Args:
        params: tensors or parameter groups to optimise.
        lr: coefficient that scales ``delta`` (default 1.0).
        rho: decay rate of the running averages (default 0.9), in [0, 1].
        eps: added inside the square roots for numerical stability (default 1e-6).
        weight_decay: L2 penalty added to the gradient (default 0).
        maximize: maximise the objective instead of minimising it (default False).
    """

    _param_state_keys = ("square_avg", "acc_delta")

    def __init__(self, params: Any, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize}
        defaults.update(implementation_flags("Adadelta", foreach, differentiable, capturable,
                                             fused))
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        super()._check_hyperparameters(group)
        rho = group.get("rho")
        if rho is not None and not 0.0 <= rho <= 1.0:
            raise ValueError(f"Adadelta: invalid rho value: rho={rho}; it must be in [0, 1]")
        self._check_nonneg(group, "eps", "epsilon value")
        self._check_nonneg(group, "weight_decay", "weight_decay value")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adadelta update of every parameter that has a ``.grad``; returns ``closure()``."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, rho = float(group["lr"]), float(group["rho"])
            eps, wd = float(group["eps"]), float(group["weight_decay"])
            for p, g, a, xp, state in self._with_grads(group):
                if not state:
                    state["step"] = 0
                    state["square_avg"] = self._zeros_like(a)
                    state["acc_delta"] = self._zeros_like(a)
                state["step"] += 1
                tmp, tmp2 = self._buffers(p, a, 2)
                g = self._effective_grad(xp, g, a, wd, group["maximize"], tmp)
                v, u = state["square_avg"]._data, state["acc_delta"]._data
                square_average_(xp, v, g, rho, tmp2)
                xp.add(v, eps, out=tmp2)  # delta = sqrt(u + eps) / sqrt(v + eps) * g
                xp.sqrt(tmp2, out=tmp2)
                delta = xp.add(u, eps)
                xp.sqrt(delta, out=delta)
                delta /= tmp2
                delta *= g
                u *= rho  # u = rho * u + (1 - rho) * delta * delta
                xp.multiply(delta, delta, out=tmp2)
                tmp2 *= 1.0 - rho
                u += tmp2
                delta *= lr
                apply_update(p, delta)
        return loss
