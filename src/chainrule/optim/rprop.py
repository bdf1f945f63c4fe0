"""Rprop: resilient backpropagation, a per-coordinate step size driven by the gradient's sign."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainrule.optim.optimizer import Optimizer, apply_update, implementation_flags

__all__ = ["Rprop"]


class Rprop(Optimizer):
    r"""Rprop, as ``torch.optim.Rprop`` (full-batch training; the gradient's magnitude is unused).

    For each parameter :math:`\theta` with gradient :math:`g` (``prev`` starts at zero, every step
    size ``s`` at ``lr``)::

        if maximize:  g = -g
        where g * prev > 0:  s = min(s * eta_plus, step_max)
        where g * prev < 0:  s = max(s * eta_minus, step_min);  g = 0   (no move after a sign flip)
        theta = theta - sign(g) * s
        prev = g

    Args:
        params: tensors or parameter groups to optimise.
        lr: the starting step size of every coordinate (default 1e-2).
        etas: ``(eta_minus, eta_plus)``, the factors that shrink and grow a step size, with
            ``0 < eta_minus < 1 < eta_plus`` (default (0.5, 1.2)).
        step_sizes: ``(step_min, step_max)``, the bounds of a step size (default (1e-6, 50)).
        maximize: maximise the objective instead of minimising it (default False).
        foreach, capturable, differentiable: PyTorch's implementation switches (see
            ``implementation_flags``).
    """

    _param_state_keys = ("prev", "step_size")

    def __init__(self, params: Any, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        defaults = {"lr": lr, "etas": tuple(etas), "step_sizes": tuple(step_sizes),
                    "maximize": maximize,
                    **implementation_flags("Rprop", foreach, differentiable, capturable)}
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        super()._check_hyperparameters(group)
        etas = group.get("etas")
        if etas is not None and not (len(etas) == 2 and 0.0 < etas[0] < 1.0 < etas[1]):
            raise ValueError(f"Rprop: invalid eta values: etas={etas!r}; expected (eta_minus, "
                             "eta_plus) with 0 < eta_minus < 1 < eta_plus")
        sizes = group.get("step_sizes")
        if sizes is not None and not (len(sizes) == 2 and 0.0 <= sizes[0] <= sizes[1]):
            raise ValueError(f"Rprop: invalid step_sizes={sizes!r}; expected (step_min, "
                             "step_max) with 0 <= step_min <= step_max")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Rprop update of every parameter that has a ``.grad``; returns ``closure()``."""
        loss = self._evaluate(closure)
        for group in self.param_groups:
            eta_minus, eta_plus = (float(e) for e in group["etas"])
            step_min, step_max = (float(s) for s in group["step_sizes"])
            for p, g, a, xp, state in self._with_grads(group):
                if not state:
                    state["step"] = 0
                    state["prev"] = self._zeros_like(a)
                    state["step_size"] = self._zeros_like(a, float(group["lr"]))
                state["step"] += 1
                tmp, factor = self._buffers(p, a, 2)
                if group["maximize"]:
                    xp.negative(g, out=tmp)
                else:
                    xp.copyto(tmp, g)
                prev, s = state["prev"]._data, state["step_size"]._data
                xp.multiply(tmp, prev, out=factor)  # the sign of g * prev picks the factor
                flipped = factor < 0
                factor[...] = xp.where(factor > 0, eta_plus, xp.where(flipped, eta_minus, 1.0))
                s *= factor
                xp.clip(s, step_min, step_max, out=s)
                tmp[flipped] = 0.0  # after a sign flip: no move, and no flip seen next step
                xp.copyto(prev, tmp)
                xp.sign(tmp, out=factor)  # theta -= sign(g) * s
                factor *= s
                apply_update(p, factor)
        return loss
