"""ASGD: averaged stochastic gradient descent (Polyak-Ruppert averaging of the iterates)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.autograd.dtypes import get_default_dtype
from chainrule.optim.optimizer import Optimizer, apply_update, implementation_flags

__all__ = ["ASGD"]


class ASGD(Optimizer):
    r"""Averaged SGD, as ``torch.optim.ASGD``.

    For each parameter :math:`\theta` with gradient :math:`g`, at step :math:`t = 1, 2, \dots`
    (``eta`` starts at ``lr``, ``mu`` at 1, the average ``ax`` at zero)::

        if maximize:           g = -g
        if weight_decay != 0:  g = g + weight_decay * theta
        theta = theta * (1 - lambd * eta) - eta * g
        ax = theta                      if mu == 1
        ax = ax + mu * (theta - ax)     otherwise
        eta = lr / (1 + lambd * lr * t) ** alpha
        mu = 1 / max(1, t - t0)

    ``state["ax"]`` holds the averaged parameters (averaging starts after ``t0`` steps). ``eta``
    and ``mu`` are kept as PyTorch keeps them, rounded to the default dtype (float32), so the
    trajectories agree.

    Args:
        params: tensors or parameter groups to optimise.
        lr: learning rate (default 1e-2).
        lambd: decay term (default 1e-4).
        alpha: power of the ``eta`` update (default 0.75).
        t0: the step at which averaging starts (default 1e6).
        weight_decay: L2 penalty added to the gradient (default 0).
        maximize: maximise the objective instead of minimising it (default False).
        foreach, differentiable, capturable: PyTorch's implementation switches (see
            ``implementation_flags``).
    """

    _param_state_keys = ("ax",)

    def __init__(self, params: Any, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        defaults = {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0,
                    "weight_decay": weight_decay, "maximize": maximize,
                    **implementation_flags("ASGD", foreach, differentiable, capturable)}
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        super()._check_hyperparameters(group)
        self._check_nonneg(group, "weight_decay", "weight_decay value")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One ASGD update of every parameter that has a ``.grad``; returns ``closure()``."""
        loss = self._evaluate(closure)
        rounded = get_default_dtype().type  # PyTorch keeps eta and mu as default-dtype scalars
        for group in self.param_groups:
            lr, lambd = float(group["lr"]), float(group["lambd"])
            alpha, t0 = float(group["alpha"]), float(group["t0"])
            wd = float(group["weight_decay"])
            for p, g, a, xp, state in self._with_grads(group):
                if not state:
                    state["step"] = 0
                    state["eta"] = float(rounded(lr))
                    state["mu"] = 1.0
                    state["ax"] = self._zeros_like(a)
                state["step"] = t = state["step"] + 1
                (tmp,) = self._buffers(p, a, 1)
                g = self._effective_grad(xp, g, a, wd, group["maximize"], tmp)
                eta = state["eta"]
                xp.multiply(g, eta, out=tmp)
                apply_update(p, tmp, scale=1.0 - lambd * eta)
                ax = state["ax"]._data
                if state["mu"] != 1.0:
                    xp.subtract(a, ax, out=tmp)  # ax += mu * (theta - ax)
                    tmp *= state["mu"]
                    ax += tmp
                else:
                    xp.copyto(ax, a)
                state["eta"] = float(rounded(lr / ((1.0 + lambd * lr * t) ** alpha)))
                state["mu"] = float(rounded(1.0 / max(1.0, t - t0)))
        return loss
