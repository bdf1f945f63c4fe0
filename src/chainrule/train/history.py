"""``History``: what ``fit`` returns, one list per logged value, one entry per epoch.

::

    history = fit(model, loss_fn, optimizer, train, epochs=5, val_data=val)
    history.history["val_accuracy"]       # [0.91, 0.93, ...], one float per epoch
    history.epoch                         # [1, 2, 3, 4, 5]
    history.best("val_loss")              # (epoch, value) of the lowest val_loss
    history.to_json("history.json")       # plain JSON; History.from_dict(json.load(...))
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

__all__ = ["History", "plain"]


def plain(value: Any) -> Any:
    """``value`` as JSON-friendly Python: arrays become nested lists, NumPy scalars numbers."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


class History:
    """Per-epoch logs: ``history[key]`` is a list of values, ``epoch`` the epoch numbers (from 1).

    Keys that are missing in some epochs (``val_*`` when validation runs every few epochs) hold
    ``None`` there, so every list has one entry per epoch.
    """

    def __init__(self) -> None:
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []

    def append(self, epoch: int, logs: dict[str, Any]) -> None:
        """Record the logs of ``epoch`` (1-based)."""
        n = len(self.epoch)
        for key in logs:
            if key not in self.history:
                self.history[key] = [None] * n
        for key, values in self.history.items():
            values.append(plain(logs.get(key)))
        self.epoch.append(int(epoch))

    def __getitem__(self, key: str) -> list[Any]:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def __len__(self) -> int:
        return len(self.epoch)

    def keys(self) -> list[str]:
        return list(self.history)

    def last(self) -> dict[str, Any]:
        """The logs of the last epoch."""
        return {k: v[-1] for k, v in self.history.items()} if self.epoch else {}

    def best(self, key: str, mode: str = "auto") -> tuple[int, float]:
        """``(epoch, value)`` of the best value of ``key`` (``mode``: min, max, or auto: max for
        accuracies and R², min otherwise)."""
        if key not in self.history:
            raise KeyError(f"history has no {key!r}; logged: {', '.join(self.history)}")
        if mode == "auto":
            mode = "max" if ("acc" in key or key.endswith("r2")) else "min"
        pairs = [(e, v) for e, v in zip(self.epoch, self.history[key])
                 if isinstance(v, (int, float)) and not math.isnan(v)]
        if not pairs:
            raise ValueError(f"history: no numeric value of {key!r} yet")
        pick = max if mode == "max" else min
        return pick(pairs, key=lambda p: p[1])

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in
                                                       self.history.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        h = cls()
        h.epoch = [int(e) for e in d.get("epoch", [])]
        h.history = {k: list(v) for k, v in d.get("history", {}).items()}
        return h

    def to_json(self, path: str | os.PathLike[str] | None = None, **kw: Any) -> str:
        """The history as JSON text; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), **kw)
        if path is not None:
            with open(path, "w") as f:
                f.write(text + "\n")
        return text

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={self.keys()})"
