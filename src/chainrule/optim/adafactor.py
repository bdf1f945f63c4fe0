"""Adafactor: Adam-like steps with a factored (row x column) second-moment estimate."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from chainrule import backend
from chainrule.optim.optimizer import Optimizer, apply_update, implementation_flags, lerp_

__all__ = ["Adafactor"]


def _rms(xp: Any, a: Any) -> float:
    """The root mean square of an array's entries (the 2-norm over the square root of the size)."""
    r = a.reshape(-1)
    return math.sqrt(float(xp.dot(r, r))) / math.sqrt(r.size)


class Adafactor(Optimizer):
    r"""Adafactor (Shazeer & Stern, 2018), as ``torch.optim.Adafactor``: no first moment, and for
    a parameter of two or more dimensions the second moment kept as a row and a column factor
    (memory ``rows + cols`` instead of ``rows * cols``).

    For each parameter :math:`\theta` with gradient :math:`g`, at step :math:`t = 1, 2, \dots`::

        if maximize:  g = -g
        beta2_t = 1 - t ** beta2_decay
        rho = min(lr, 1 / sqrt(t));  alpha = max(eps2, rms(theta)) * rho
        if weight_decay != 0:  theta = theta * (1 - lr * weight_decay)
        if theta has 2+ dims:   (r, c: the row and column factors, over the last two dims)
            r = beta2_t * r + (1 - beta2_t) * mean(g**2, dim=-1)
            c = beta2_t * c + (1 - beta2_t) * mean(g**2, dim=-2)
            v = r @ c / max(mean(r, dim=-2), eps1)
        else:
            v = beta2_t * v + (1 - beta2_t) * g**2
        u = g / sqrt(max(v, eps1**2))
        theta = theta - alpha / max(1, rms(u) / d) * u

    Args:
        params: tensors or parameter groups to optimise.
        lr: the largest relative step size (default 1e-2).
        beta2_decay: decay exponent of the second moment's rate (default -0.8).
        eps: ``(eps1, eps2)``: the floor of the variance (None: the dtype's machine epsilon) and
            of the parameters' scale (default (None, 1e-3)).
        d: clipping threshold of the update's root mean square (default 1).
        weight_decay: decoupled weight decay coefficient (default 0).
        maximize: maximise the objective instead of minimising it (default False).
        foreach: PyTorch's implementation switch (see ``implementation_flags``).
    """

    def __init__(self, params: Any, lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0,
                 weight_decay: float = 0.0, *, foreach: bool | None = None,
                 maximize: bool = False) -> None:
        flags = implementation_flags("Adafactor", foreach)
        defaults = {"lr": lr, "beta2_decay": beta2_decay, "eps": tuple(eps), "d": d,
                    "weight_decay": weight_decay, "foreach": flags["foreach"],
                    "maximize": maximize}
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        super()._check_hyperparameters(group)
        name = "Adafactor"
        if group.get("beta2_decay", 0.0) > 0.0:
            raise ValueError(f"{name}: beta2_decay should be <= 0 but is: {group['beta2_decay']}")
        eps = group.get("eps")
        if eps is not None:
            if not isinstance(eps, (tuple, list)) or len(eps) != 2:
                raise ValueError(f"{name}: eps must be a pair (eps1, eps2), got {eps!r}")
            if eps[0] is not None and not eps[0] >= 0.0:
                raise ValueError(f"{name}: epsilon1 should be >= 0 but is: {eps[0]}")
            if not eps[1] >= 0.0:
                raise ValueError(f"{name}: epsilon2 should be >= 0 but is: {eps[1]}")
        if group.get("d", 1.0) < 1.0:
            raise ValueError(f"{name}: clipping threshold d should be >= 1 but is: {group['d']}")
        self._check_nonneg(group, "weight_decay", "weight_decay value")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adafactor update of every parameter that has a ``.grad``; returns ``closure()``."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, decay = float(group["lr"]), float(group["beta2_decay"])
            eps1, eps2 = group["eps"]
            d, wd = float(group["d"]), float(group["weight_decay"])
            for p, g, a, xp, state in self._with_grads(group):
                if not state:
                    state["step"] = 0.0
                    if a.ndim > 1:
                        state["row_var"] = self._zeros_like(a[..., :1])
                        state["col_var"] = self._zeros_like(a[..., :1, :])
                    else:
                        state["variance"] = self._zeros_like(a)
                if group["maximize"]:
                    g = -g
                e1 = float(backend.xp.finfo(a.dtype).eps if eps1 is None else eps1)
                state["step"] = t = state["step"] + 1.0
                w = t ** decay
                rho = min(lr, 1.0 / t ** 0.5)
                alpha = max(float(eps2), _rms(xp, a)) * rho
                if wd != 0.0:
                    apply_update(p, scale=1.0 - lr * wd)
                gg = g * g
                if a.ndim > 1:
                    r, c = state["row_var"]._data, state["col_var"]._data
                    lerp_(xp, r, xp.mean(gg, axis=-1, keepdims=True), w, xp.empty_like(r))
                    lerp_(xp, c, xp.mean(gg, axis=-2, keepdims=True), w, xp.empty_like(c))
                    v = xp.matmul(r, c)
                    v /= xp.maximum(xp.mean(r, axis=-2, keepdims=True), e1)
                else:
                    v = state["variance"]._data
                    lerp_(xp, v, gg, w, xp.empty_like(v))
                    v = v.copy()
                xp.maximum(v, e1 * e1, out=v)  # u = g * rsqrt(max(v, eps1^2)), as PyTorch
                xp.sqrt(v, out=v)
                xp.divide(1.0, v, out=v)
                v *= g
                v *= alpha / max(1.0, _rms(xp, v) / d)
                apply_update(p, v)
        return loss
