"""SparseAdam: "lazy" Adam, which moves only the rows that got a gradient this step."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from chainrule.optim.optimizer import Optimizer, apply_update

__all__ = ["SparseAdam"]


class SparseAdam(Optimizer):
    r"""SparseAdam, as ``torch.optim.SparseAdam``: Adam that updates the moments and the values
    only where the gradient is present (meant for ``nn.Embedding(..., sparse=True)``).

    chainrule has no sparse tensors, so gradients here are dense, and "present" means *nonzero*:
    the rows (slices along dim 0; entries of a 1-D parameter) with at least one nonzero gradient
    entry are updated, the others, moments included, are left alone. PyTorch instead refuses a
    dense gradient and updates the rows stored in the sparse one. For an embedding the two agree:
    the rows stored are the rows looked up, and a looked-up row has a nonzero gradient unless its
    gradients summed to exactly zero (such a row moves in PyTorch and stays here). For the rows
    updated, with ``step`` counted over all steps (``m``, ``v`` start at zero)::

        if maximize:  g = -g
        m = m + (1 - beta1) * (g - m)
        v = v + (1 - beta2) * (g**2 - v)
        theta = theta - lr * sqrt(1 - beta2**step) / (1 - beta1**step) * m / (sqrt(v) + eps)

    Args:
        params: tensors or parameter groups to optimise.
        lr: learning rate, > 0 (default 1e-3).
        betas: decay rates of the moment estimates (default (0.9, 0.999)).
        eps: added to the denominator, > 0 (default 1e-8).
        maximize: maximise the objective instead of minimising it (default False).
    """

    _param_state_keys = ("exp_avg", "exp_avg_sq")

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, maximize: bool = False) -> None:
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "maximize": maximize}
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        super()._check_hyperparameters(group)
        for key, what in (("lr", "learning rate"), ("eps", "epsilon value")):
            if key in group and not group[key] > 0.0:
                raise ValueError(f"SparseAdam: invalid {what}: {key}={group[key]}; it must "
                                 "be > 0")
        self._check_betas(group)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One lazy Adam update of the rows that have a nonzero gradient; returns
        ``closure()``."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            lr, eps = float(group["lr"]), float(group["eps"])
            beta1, beta2 = (float(b) for b in group["betas"])
            for p, g, a, xp, state in self._with_grads(group):
                if not state:
                    state.update({k: self._zeros_like(a) for k in self._param_state_keys}, step=0)
                state["step"] = t = state["step"] + 1
                rows = g != 0
                if g.ndim > 1:
                    rows = rows.reshape(g.shape[0], -1).any(axis=1)
                rows = xp.flatnonzero(rows)
                if rows.size == 0:
                    continue
                gr = -g[rows] if group["maximize"] else g[rows]
                m, v = state["exp_avg"]._data, state["exp_avg_sq"]._data
                m_old, v_old = m[rows], v[rows]
                m_new = (gr - m_old) * (1.0 - beta1) + m_old
                v_new = (gr * gr - v_old) * (1.0 - beta2) + v_old
                m[rows], v[rows] = m_new, v_new
                step_size = lr * math.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)
                delta = xp.zeros_like(a)
                delta[rows] = step_size * (m_new / (xp.sqrt(v_new) + eps))
                apply_update(p, delta)
        return loss
