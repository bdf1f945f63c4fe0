"""Adagrad: per-coordinate learning rates from the sum of past squared gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.optim.optimizer import Optimizer, apply_update, implementation_flags

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Adagrad, as ``torch.optim.Adagrad``.

    For each parameter :math:`\theta` with gradient :math:`g`, at step :math:`t = 1, 2, \dots`
    (the sum ``s`` starts at ``initial_accumulator_value``)::

        if maximize:           g = -g
        if weight_decay != 0:  g = g + weight_decay * theta
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g**2
        theta = theta - clr * g / (sqrt(s) + eps)

    Args:
        params: tensors or parameter groups to optimise.
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay (default 0).
        weight_decay: L2 penalty added to the gradient (default 0).
        initial_accumulator_value: starting value of the sum of squares (default 0).
        eps: added to the denominator for numerical stability (default 1e-10).
        maximize: maximise the objective instead of minimising it (default False).
    """

    _param_state_keys = ("sum",)

    def __init__(self, params: Any, lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value,
                    "maximize": maximize}
        defaults.update(implementation_flags("Adagrad", foreach, differentiable, capturable,
                                             fused, has_capturable=False, has_fused=True))
        super().__init__(params, defaults)
        for group in self.param_groups:  # PyTorch fills the state at construction
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p: Any, group: dict[str, Any]) -> dict[str, Any]:
        state = self.state[p]
        state["step"] = 0
        state["sum"] = self._zeros_like(p._data, float(group["initial_accumulator_value"]))
        return state

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        super()._check_hyperparameters(group)
        self._check_nonneg(group, "lr_decay", "lr_decay value")
        self._check_nonneg(group, "weight_decay", "weight_decay value")
        self._check_nonneg(group, "initial_accumulator_value", "initial_accumulator_value")
        self._check_nonneg(group, "eps", "epsilon value")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adagrad update of every parameter that has a ``.grad``; returns ``closure()``."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            lr_decay = float(group["lr_decay"])
            eps = float(group["eps"])
            wd = float(group["weight_decay"])
            maximize = group["maximize"]
            for p, g, a, xp, state in self._with_grads(group):
                if not state:
                    state = self._init_state(p, group)
                state["step"] = t = state["step"] + 1
                tmp, tmp2 = self._buffers(p, a, 2)
                g = self._effective_grad(xp, g, a, wd, maximize, tmp)
                clr = lr / (1.0 + (t - 1) * lr_decay)
                s = state["sum"]._data
                xp.multiply(g, g, out=tmp2)  # s = s + g * g
                s += tmp2
                xp.sqrt(s, out=tmp2)  # theta -= clr * g / (sqrt(s) + eps)
                tmp2 += eps
                xp.divide(g, tmp2, out=tmp2)
                tmp2 *= clr
                apply_update(p, tmp2)
        return loss

