"""Stochastic gradient descent, with momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule import backend
from chainrule.optim.optimizer import Optimizer, apply_update, implementation_flags

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent (optionally with momentum), as ``torch.optim.SGD``.

    For each parameter :math:`\theta` with gradient :math:`g = \nabla_\theta f` (PyTorch's
    algorithm, step :math:`t = 1, 2, \dots`)::

        if maximize:           g = -g
        if weight_decay != 0:  g = g + weight_decay * theta
        if momentum != 0:
            b = g                                   if t == 1
            b = momentum * b + (1 - dampening) * g  otherwise
            g = g + momentum * b   if nesterov else   g = b
        theta = theta - lr * g

    The momentum buffer ``b`` starts as the first gradient (so dampening applies from the second
    step), and ``lr`` multiplies the velocity rather than entering it: both as in PyTorch.

    Args:
        params: tensors or parameter groups to optimise.
        lr: learning rate (default 1e-3).
        momentum: momentum factor (default 0).
        dampening: dampening for momentum (default 0).
        weight_decay: L2 penalty added to the gradient (default 0).
        nesterov: use Nesterov momentum; needs momentum > 0 and dampening = 0 (default False).
        maximize: maximise the objective instead of minimising it (default False).

    Example::

        opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
    """

    _param_state_keys = ("momentum_buffer",)

    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize}
        defaults.update(implementation_flags("SGD", foreach, differentiable, capturable,
                                             fused, has_capturable=False, has_fused=True))
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        super()._check_hyperparameters(group)
        self._check_nonneg(group, "momentum", "momentum value")
        self._check_nonneg(group, "weight_decay", "weight_decay value")
        if group.get("nesterov") and (group.get("momentum", 0) <= 0
                                      or group.get("dampening", 0) != 0):
            raise ValueError(f"SGD: Nesterov momentum requires a momentum and zero dampening, "
                             f"got momentum={group.get('momentum', 0)}, "
                             f"dampening={group.get('dampening', 0)}; set momentum > 0 "
                             "(e.g. 0.9) and dampening=0, or nesterov=False")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One SGD update of every parameter that has a ``.grad``; returns ``closure()``."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            wd = float(group["weight_decay"])
            mu = float(group["momentum"])
            damp = float(group["dampening"])
            nesterov = group["nesterov"]
            maximize = group["maximize"]
            # nesterov with a changed gradient (decay/maximize) needs a second scratch array
            n_scratch = 2 if nesterov and (wd != 0.0 or maximize) else 1
            for p in group["params"]:
                g = self._grad_of(p)
                if g is None:
                    continue
                a = p._data
                xp = backend.get_array_module(a)
                tmp = self._buffers(p, a, n_scratch)[0]
                # the effective gradient g (maximize, weight decay) lands in tmp when it changes
                g = self._effective_grad(xp, g, a, wd, maximize, tmp)
                if mu != 0.0:
                    state = self.state[p]
                    buf_t = state.get("momentum_buffer")
                    if buf_t is None:
                        buf_t = self._zeros_like(a)
                        xp.copyto(buf_t._data, g)
                        state["momentum_buffer"] = buf_t
                    else:
                        buf = buf_t._data
                        buf *= mu
                        if damp == 0.0:
                            buf += g
                        else:
                            if g is not tmp:
                                xp.multiply(g, 1.0 - damp, out=tmp)
                            else:
                                tmp *= 1.0 - damp  # nesterov excludes dampening: g not reused
                            buf += tmp
                    buf = buf_t._data
                    if nesterov:  # g + mu * b, computed in tmp
                        if g is tmp:  # rare (nesterov with decay/maximize)
                            tmp2 = self._buffers(p, a, n_scratch)[1]
                            xp.multiply(buf, mu, out=tmp2)
                            tmp += tmp2
                        else:
                            xp.multiply(buf, mu, out=tmp)
                            tmp += g
                        tmp *= lr
                    else:
                        xp.multiply(buf, lr, out=tmp)
                elif g is tmp:
                    tmp *= lr
                else:
                    xp.multiply(g, lr, out=tmp)
                apply_update(p, tmp)
        return loss
