"""Streaming metrics: accumulate over batches, read the value once per epoch.

Every metric has the same three methods::

    m = Accuracy()
    for output, target in batches:
        m.update(output, target)      # tensors or arrays; nothing is kept but running sums
    m.compute()                       # the value over every sample seen since reset()
    m.reset()

Running sums are kept in float64 (integers as int64), so a value over 60,000 samples is the same
whatever the batch size. Names that ``get_metric`` understands: ``"accuracy"``,
``"top5_accuracy"`` (any k: ``"top3_accuracy"``), ``"confusion_matrix"``, ``"mae"``, ``"mse"``,
``"r2"``; ``"loss"`` is the running mean the training loop feeds itself.

Classification targets are class indices (shape ``(N,)``) or one-hot / probability rows with the
output's shape (as with the quadratic cost in Nielsen's book): the class is the argmax. An output
with a single column (or none) is a binary prediction: positive when above ``threshold`` (0.5 for
probabilities; use ``Accuracy(threshold=0.0)`` for logits).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "MAE",
    "MSE",
    "R2",
    "Accuracy",
    "ConfusionMatrix",
    "FunctionMetric",
    "Mean",
    "Metric",
    "TopKAccuracy",
    "get_metric",
    "to_numpy",
]


def to_numpy(x: Any) -> np.ndarray:
    """A tensor, array or number as a NumPy array (no copy for tensors and arrays)."""
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        return x.detach().numpy() if hasattr(x, "detach") else x.numpy()
    return np.asarray(x)


def _labels(output: np.ndarray, target: np.ndarray, threshold: float) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """Predicted and true class indices, both shape (N,)."""
    if output.ndim >= 2 and output.shape[-1] > 1:
        pred = output.reshape(-1, output.shape[-1]).argmax(axis=1)
        if target.shape == output.shape:  # one-hot or probability targets
            true = target.reshape(-1, target.shape[-1]).argmax(axis=1)
        else:
            true = target.reshape(-1)
    else:  # binary: one score per sample
        pred = (output.reshape(-1) > threshold).astype(np.int64)
        t = target.reshape(-1)
        true = (t > 0.5).astype(np.int64) if t.dtype.kind == "f" else t.astype(np.int64)
    if pred.shape[0] != true.shape[0]:
        raise ValueError(f"accuracy: {pred.shape[0]} predictions but {true.shape[0]} targets "
                         f"(output shape {output.shape}, target shape {target.shape})")
    return pred, true


class Metric:
    """Base class: ``update(output, target)`` per batch, ``compute()`` per epoch, ``reset()``.

    ``name`` is the key under which the value appears in the training logs (``val_`` is prefixed
    for validation). ``scalar`` is False for metrics whose value is not one number (confusion
    matrix): progress bars and CSV files leave those out.
    """

    name = "metric"
    scalar = True

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, output: Any, target: Any) -> None:
        raise NotImplementedError

    def compute(self) -> Any:
        raise NotImplementedError

    def __call__(self, output: Any, target: Any) -> Any:
        """The metric of one batch alone (does not touch the running state)."""
        fresh = type(self).__new__(type(self))
        fresh.__dict__.update(self.__dict__)
        fresh.reset()
        fresh.update(output, target)
        return fresh.compute()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class Mean(Metric):
    """The weighted running mean of a per-batch value (the loss): ``update(value, weight)``."""

    def __init__(self, name: str = "loss") -> None:
        self.name = name
        self.reset()

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def update(self, value: Any, weight: Any = 1) -> None:  # type: ignore[override]
        w = float(weight)
        self.total += float(value) * w
        self.count += w

    def compute(self) -> float:
        return self.total / self.count if self.count else float("nan")


class Accuracy(Metric):
    """The fraction of samples whose predicted class (argmax, or score > threshold) is right."""

    def __init__(self, threshold: float = 0.5, name: str = "accuracy") -> None:
        self.threshold = float(threshold)
        self.name = name
        self.reset()

    def reset(self) -> None:
        self.correct = 0
        self.total = 0

    def update(self, output: Any, target: Any) -> None:
        pred, true = _labels(to_numpy(output), to_numpy(target), self.threshold)
        self.correct += int(np.count_nonzero(pred == true))
        self.total += int(true.shape[0])

    def compute(self) -> float:
        return self.correct / self.total if self.total else float("nan")


class TopKAccuracy(Metric):
    """The fraction of samples whose true class is among the ``k`` highest scores."""

    def __init__(self, k: int = 5, name: str | None = None) -> None:
        if k < 1:
            raise ValueError(f"top-k accuracy: k must be >= 1, got {k}")
        self.k = int(k)
        self.name = name or f"top{self.k}_accuracy"
        self.reset()

    def reset(self) -> None:
        self.correct = 0
        self.total = 0

    def update(self, output: Any, target: Any) -> None:
        out, tgt = to_numpy(output), to_numpy(target)
        if out.ndim < 2:
            raise ValueError(f"top-k accuracy: expected scores of shape (N, classes), got "
                             f"{out.shape}")
        one_hot = tgt.shape == out.shape
        out = out.reshape(-1, out.shape[-1])
        true = tgt.reshape(-1, tgt.shape[-1]).argmax(1) if one_hot else tgt.reshape(-1)
        k = min(self.k, out.shape[1])
        # the true class is in the top k when fewer than k scores beat it (ties count for it)
        score = out[np.arange(out.shape[0]), true.astype(np.int64)]
        beaten_by = np.count_nonzero(out > score[:, None], axis=1)
        self.correct += int(np.count_nonzero(beaten_by < k))
        self.total += int(out.shape[0])

    def compute(self) -> float:
        return self.correct / self.total if self.total else float("nan")


class ConfusionMatrix(Metric):
    """Counts ``m[true, predicted]`` (rows: true class, as in scikit-learn); grows to fit the
    largest class seen unless ``num_classes`` is given. ``compute()`` returns an int64 array."""

    scalar = False

    def __init__(self, num_classes: int | None = None, threshold: float = 0.5,
                 name: str = "confusion_matrix") -> None:
        self.num_classes = num_classes
        self.threshold = float(threshold)
        self.name = name
        self.reset()

    def reset(self) -> None:
        n = self.num_classes or 0
        self.matrix = np.zeros((n, n), np.int64)

    def update(self, output: Any, target: Any) -> None:
        out = to_numpy(output)
        pred, true = _labels(out, to_numpy(target), self.threshold)
        n = max(self.matrix.shape[0], int(pred.max(initial=-1)) + 1, int(true.max(initial=-1)) + 1,
                out.shape[-1] if out.ndim >= 2 and out.shape[-1] > 1 else 2)
        if self.num_classes is not None and n > self.num_classes:
            raise ValueError(f"confusion matrix: class {n - 1} seen but num_classes="
                             f"{self.num_classes}")
        if n > self.matrix.shape[0]:
            grown = np.zeros((n, n), np.int64)
            k = self.matrix.shape[0]
            grown[:k, :k] = self.matrix
            self.matrix = grown
        np.add.at(self.matrix, (true.astype(np.int64), pred.astype(np.int64)), 1)

    def compute(self) -> np.ndarray:
        return self.matrix.copy()


class MAE(Metric):
    """Mean absolute error over every element (PyTorch's ``l1_loss`` with mean reduction)."""

    def __init__(self, name: str = "mae") -> None:
        self.name = name
        self.reset()

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, output: Any, target: Any) -> None:
        out, tgt = to_numpy(output), to_numpy(target)
        diff = out.astype(np.float64).reshape(tgt.shape) - tgt if out.size == tgt.size else \
            out.astype(np.float64) - tgt
        self.total += float(np.abs(diff).sum())
        self.count += int(diff.size)

    def compute(self) -> float:
        return self.total / self.count if self.count else float("nan")


class MSE(MAE):
    """Mean squared error over every element."""

    def __init__(self, name: str = "mse") -> None:
        super().__init__(name)

    def update(self, output: Any, target: Any) -> None:
        out, tgt = to_numpy(output), to_numpy(target)
        diff = out.astype(np.float64).reshape(tgt.shape) - tgt if out.size == tgt.size else \
            out.astype(np.float64) - tgt
        self.total += float(np.square(diff).sum())
        self.count += int(diff.size)


class R2(Metric):
    """Coefficient of determination ``1 - SS_res / SS_tot``, averaged over output columns
    (scikit-learn's ``r2_score`` with ``multioutput="uniform_average"``).

    Streaming without cancellation: the target's mean and sum of squared deviations are merged
    batch by batch with Chan et al.'s parallel update, never as ``sum(y^2) - n mean^2``. A column
    whose targets are all equal scores 1.0 when predicted exactly, else 0.0 (as scikit-learn).
    """

    def __init__(self, name: str = "r2") -> None:
        self.name = name
        self.reset()

    def reset(self) -> None:
        self.n = 0
        self.mean: np.ndarray | float = 0.0
        self.m2: np.ndarray | float = 0.0
        self.sse: np.ndarray | float = 0.0

    def update(self, output: Any, target: Any) -> None:
        tgt = to_numpy(target).astype(np.float64)
        out = to_numpy(output).astype(np.float64)
        if out.size != tgt.size:
            raise ValueError(f"r2: output shape {out.shape} and target shape {tgt.shape} differ")
        tgt = tgt.reshape(tgt.shape[0], -1) if tgt.ndim >= 2 else tgt.reshape(-1, 1)
        out = out.reshape(tgt.shape)
        nb = tgt.shape[0]
        if nb == 0:
            return
        mb = tgt.mean(axis=0)
        m2b = np.square(tgt - mb).sum(axis=0)
        n = self.n + nb
        delta = mb - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + m2b + np.square(delta) * (self.n * nb / n)
        self.sse = self.sse + np.square(tgt - out).sum(axis=0)
        self.n = n

    def compute(self) -> float:
        if self.n == 0:
            return float("nan")
        sse, sst = np.atleast_1d(self.sse), np.atleast_1d(self.m2)
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(sst > 0, 1.0 - sse / np.where(sst > 0, sst, 1.0),
                          np.where(sse == 0, 1.0, 0.0))
        # a NaN/inf target or output makes R2 unknown (nan), never a quiet 0.0
        r2 = np.where(np.isfinite(sse) & np.isfinite(sst), r2, np.nan)
        return float(r2.mean())


class FunctionMetric(Metric):
    """A plain function ``fn(output, target) -> number`` (a per-batch mean), averaged over
    batches weighted by batch size."""

    def __init__(self, fn: Callable[[Any, Any], Any], name: str | None = None) -> None:
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "metric")
        self.reset()

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, output: Any, target: Any) -> None:
        n = len(to_numpy(target)) if np.ndim(to_numpy(target)) else 1
        v = self.fn(output, target)
        self.total += float(v.item() if hasattr(v, "item") else v) * n
        self.count += n

    def compute(self) -> float:
        return self.total / self.count if self.count else float("nan")


_NAMED: dict[str, Callable[[], Metric]] = {
    "accuracy": Accuracy,
    "acc": Accuracy,
    "confusion_matrix": ConfusionMatrix,
    "mae": MAE,
    "l1": MAE,
    "mse": MSE,
    "r2": R2,
}
_TOPK = re.compile(r"top_?(\d+)(_accuracy)?$")


def get_metric(spec: str | Metric | Callable[[Any, Any], Any]) -> Metric:
    """A fresh metric from a name (``"accuracy"``, ``"top5_accuracy"``, ``"top_k_accuracy"``,
    ``"confusion_matrix"``, ``"mae"``, ``"mse"``, ``"r2"``), a ``Metric`` (returned as is) or a
    function ``fn(output, target)``."""
    if isinstance(spec, Metric):
        return spec
    if callable(spec):
        return FunctionMetric(spec)
    if not isinstance(spec, str):
        raise TypeError(f"metric: expected a name, a Metric or a function, got {spec!r}")
    key = spec.strip().lower().replace("-", "_")
    if key in _NAMED:
        return _NAMED[key]()
    if key in ("top_k_accuracy", "topk_accuracy", "topk"):
        return TopKAccuracy(5)
    m = _TOPK.match(key)
    if m:
        return TopKAccuracy(int(m.group(1)))
    known = ", ".join(sorted({"accuracy", "top5_accuracy", "confusion_matrix", "mae", "mse",
                              "r2"}))
    raise ValueError(f"metric: unknown name {spec!r}; known: {known} (or pass a Metric or a "
                     "function fn(output, target))")
