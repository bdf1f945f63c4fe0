"""Adam and AdamW: adaptive moment estimation, with L2 or decoupled weight decay."""

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

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam, as ``torch.optim.Adam``.

    For each parameter :math:`\theta` with gradient :math:`g`, at step :math:`t = 1, 2, \dots`
    (first and second moments ``m``, ``v`` start at zero)::

        if maximize:           g = -g
        if weight_decay != 0:
            theta = theta * (1 - lr * weight_decay)      if decoupled_weight_decay  (AdamW)
            g = g + weight_decay * theta                  otherwise                 (L2)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        if amsgrad:  v_max = max(v_max, v);  v_hat = v_max / (1 - beta2**t)
        else:        v_hat = v / (1 - beta2**t)
        m_hat = m / (1 - beta1**t)
        theta = theta - lr * m_hat / (sqrt(v_hat) + eps)

    (computed as PyTorch does: ``denom = sqrt(v) / sqrt(1 - beta2**t) + eps``,
    ``theta -= lr / (1 - beta1**t) * m / denom``).

    Args:
        params: tensors or parameter groups to optimise.
        lr: learning rate (default 1e-3).
        betas: decay rates of the first and second moment estimates (default (0.9, 0.999)).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: weight decay coefficient (default 0).
        amsgrad: use the AMSGrad variant (the running maximum of ``v``) (default False).
        maximize: maximise the objective instead of minimising it (default False).
        decoupled_weight_decay: decay the weights directly, as AdamW (default False).
    """

    _param_state_keys = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params: Any, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize,
                    "decoupled_weight_decay": decoupled_weight_decay}
        defaults.update(implementation_flags("Adam", foreach, differentiable, capturable,
                                             fused, has_fused=True))
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        super()._check_hyperparameters(group)
        self._check_nonneg(group, "eps", "epsilon value")
        self._check_betas(group)
        self._check_nonneg(group, "weight_decay", "weight_decay value")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adam update of every parameter that has a ``.grad``; returns ``closure()``."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            beta1, beta2 = (float(b) for b in group["betas"])
            eps = float(group["eps"])
            wd = float(group["weight_decay"])
            decoupled = group["decoupled_weight_decay"]
            amsgrad = group["amsgrad"]
            maximize = group["maximize"]
            for p, g, a, xp, state in self._with_grads(group):
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = self._zeros_like(a)
                    state["exp_avg_sq"] = self._zeros_like(a)
                if amsgrad and "max_exp_avg_sq" not in state:
                    state["max_exp_avg_sq"] = self._zeros_like(a)
                tmp, tmp2 = self._buffers(p, a, 2)
                state["step"] = t = state["step"] + 1
                # effective gradient (maximize, L2 decay) in tmp when it differs from .grad
                g = self._effective_grad(xp, g, a, 0.0 if decoupled else wd, maximize, tmp)
                m = state["exp_avg"]._data
                v = state["exp_avg_sq"]._data
                square_average_(xp, v, g, beta2, tmp2)
                lerp_(xp, m, g, 1.0 - beta1, tmp2)
                if amsgrad:
                    vmax = state["max_exp_avg_sq"]._data
                    xp.maximum(vmax, v, out=vmax)
                    v = vmax
                step_size = lr / (1.0 - beta1 ** t)
                bias_correction2_sqrt = math.sqrt(1.0 - beta2 ** t)
                # denom = sqrt(v) / sqrt(1 - beta2^t) + eps;  theta -= step_size * m / denom
                xp.sqrt(v, out=tmp2)
                tmp2 /= bias_correction2_sqrt
                tmp2 += eps
                xp.divide(m, tmp2, out=tmp2)
                tmp2 *= step_size
                # theta = theta * (1 - lr * wd) - update: decoupled decay (AdamW) reads only theta
                apply_update(p, tmp2, scale=1.0 - lr * wd if wd != 0.0 and decoupled else None)
        return loss


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    Same as :class:`Adam` except that weight decay shrinks the weights directly instead of
    entering the gradient (and hence the moment estimates)::

        theta = theta * (1 - lr * weight_decay)
        m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g**2
        theta = theta - lr * m_hat / (sqrt(v_hat) + eps)

    Args:
        params: tensors or parameter groups to optimise.
        lr: learning rate (default 1e-3).
        betas: decay rates of the moment estimates (default (0.9, 0.999)).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: decoupled weight decay coefficient (default 1e-2).
        amsgrad: use the AMSGrad variant (default False).
        maximize: maximise the objective instead of minimising it (default False).
    """

    def __init__(self, params: Any, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         foreach=foreach, capturable=capturable, differentiable=differentiable,
                         fused=fused,
                         decoupled_weight_decay=True)

    def _after_load(self) -> None:
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
