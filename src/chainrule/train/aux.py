"""The auxiliary-loss hook of ``fit``: modules that report an ``aux_loss`` after their forward
(``nn.MixtureOfExperts``'s load-balancing and z-losses, or any module of yours that sets
``self.aux_loss``) have it added to the training loss, weighted, and logged on its own."""

from __future__ import annotations

from typing import Any

from chainrule.autograd.tensor import Tensor


class AuxLossHook:
    """Collects ``aux_loss`` tensors from ``model``'s submodules, batch by batch.

    ``clear()`` before the forward (so a module skipped by this forward adds nothing stale);
    ``add(loss, n)`` after it returns ``loss + weight * sum(aux_loss)`` and accumulates the
    logs; ``logs()`` gives ``{"aux_loss": mean, "aux_loss/<module>": mean, ...}``.
    """

    def __init__(self, model: Any, weight: float = 1.0) -> None:
        named = getattr(model, "named_modules", None)
        mods = [(n, m) for n, m in named() if hasattr(m, "aux_loss")] if callable(named) else []
        self.modules = mods if weight else []
        self.weight = float(weight)
        self.sums: dict[str, float] = {}
        self.count = 0

    def clear(self) -> None:
        for _, m in self.modules:
            m.aux_loss = None

    def add(self, loss: Any, n: int) -> Any:
        if not self.modules:
            return loss
        parts = [(name, m.aux_loss) for name, m in self.modules
                 if isinstance(m.aux_loss, Tensor)]
        if not parts:
            return loss
        aux = parts[0][1]
        for _, t in parts[1:]:
            aux = aux + t
        self.count += n
        self.sums["aux_loss"] = self.sums.get("aux_loss", 0.0) + aux.item() * n
        if len(parts) > 1:
            for name, t in parts:
                key = f"aux_loss/{name}"
                self.sums[key] = self.sums.get(key, 0.0) + t.item() * n
        return loss + aux * self.weight

    def logs(self) -> dict[str, float]:
        return {k: v / self.count for k, v in self.sums.items()} if self.count else {}
