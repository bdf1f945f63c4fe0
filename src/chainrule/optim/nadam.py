"""NAdam: Adam with Nesterov momentum and a momentum-decay schedule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule import backend
from chainrule.autograd.dtypes import get_default_dtype
from chainrule.autograd.tensor import Tensor
from chainrule.optim.optimizer import (
    Optimizer,
    apply_update,
    implementation_flags,
    lerp_,
    square_average_,
)

__all__ = ["NAdam"]


def _scalar_in_default_dtype(v: float) -> float:
    """``v`` rounded as PyTorch keeps NAdam's ``mu_product``: a 0-d tensor of the default
    scalar dtype (float32 unless the default dtype is float64)."""
    if get_default_dtype() == backend.float64:
        return v
    return float(backend.xp.asarray(v, dtype=backend.float32))


class NAdam(Optimizer):
    r"""NAdam (Dozat, 2016), as ``torch.optim.NAdam``.

    For each parameter :math:`\theta` with gradient :math:`g`, at step :math:`t = 1, 2, \dots`
    (``m``, ``v`` start at zero, the product ``P`` of the momentum coefficients at 1)::

        if maximize:           g = -g
        if weight_decay != 0:
            theta = theta * (1 - lr * weight_decay)      if decoupled_weight_decay
            g = g + weight_decay * theta                  otherwise
        mu_t = beta1 * (1 - 0.5 * 0.96**(t * momentum_decay))
        mu_next = beta1 * (1 - 0.5 * 0.96**((t + 1) * momentum_decay))
        P = P * mu_t
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        denom = sqrt(v / (1 - beta2**t)) + eps
        theta = theta - lr * (1 - mu_t) / (1 - P) * g / denom
                      - lr * mu_next / (1 - P * mu_next) * m / denom

    ``P`` is kept as PyTorch keeps it, in the default dtype's precision (float32 unless
    ``cr.set_default_dtype(cr.float64)``), so trajectories match PyTorch's bit for bit in spirit.

    Args:
        params: tensors or parameter groups to optimise.
        lr: learning rate (default 2e-3).
        betas: decay rates of the moment estimates (default (0.9, 0.999)).
        eps: added to the denominator for numerical stability (default 1e-8).
        weight_decay: weight decay coefficient (default 0).
        momentum_decay: the momentum schedule's decay (default 4e-3).
        decoupled_weight_decay: decay the weights directly, as AdamW (default False).
        maximize: maximise the objective instead of minimising it (default False).
    """

    _param_state_keys = ("exp_avg", "exp_avg_sq")

    def __init__(self, params: Any, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "momentum_decay": momentum_decay,
                    "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize}
        defaults.update(implementation_flags("NAdam", foreach, differentiable, capturable,
                                             fused))
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        super()._check_hyperparameters(group)
        self._check_nonneg(group, "eps", "epsilon value")
        self._check_betas(group)
        self._check_nonneg(group, "weight_decay", "weight_decay value")
        self._check_nonneg(group, "momentum_decay", "momentum_decay value")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One NAdam update of every parameter that has a ``.grad``; returns ``closure()``."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            beta1, beta2 = (float(b) for b in group["betas"])
            eps, wd = float(group["eps"]), float(group["weight_decay"])
            psi = float(group["momentum_decay"])
            decoupled = group["decoupled_weight_decay"]
            for p, g, a, xp, state in self._with_grads(group):
                if not state:
                    state["step"] = 0
                    state["mu_product"] = 1.0
                    state["exp_avg"] = self._zeros_like(a)
                    state["exp_avg_sq"] = self._zeros_like(a)
                state["step"] = t = state["step"] + 1
                tmp, tmp2 = self._buffers(p, a, 2)
                if wd != 0.0 and decoupled:
                    apply_update(p, scale=1.0 - lr * wd)
                g = self._effective_grad(xp, g, a, 0.0 if decoupled else wd, group["maximize"],
                                         tmp)
                mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
                mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
                prod = state["mu_product"]
                prod = float(prod.item()) if isinstance(prod, Tensor) else float(prod)
                state["mu_product"] = prod = _scalar_in_default_dtype(
                    prod * _scalar_in_default_dtype(mu))
                m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
                lerp_(xp, m, g, 1.0 - beta1, tmp2)
                square_average_(xp, v, g, beta2, tmp2)
                denom = xp.divide(v, 1.0 - beta2 ** t)  # sqrt(v / (1 - beta2^t)) + eps
                xp.sqrt(denom, out=denom)
                denom += eps
                xp.divide(g, denom, out=tmp2)
                tmp2 *= lr * (1.0 - mu) / (1.0 - prod)
                xp.divide(m, denom, out=denom)
                denom *= lr * mu_next / (1.0 - prod * mu_next)
                tmp2 += denom
                apply_update(p, tmp2)
        return loss
