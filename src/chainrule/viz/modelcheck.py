"""Model-level gradient check: backprop against central finite differences, one row per
parameter tensor.

``check_model_gradients(model, loss_fn, inputs, targets)`` runs the loss once on a float64 deep
copy of the model (the user's model is not touched), backprops once, then nudges each parameter
element by ``+eps`` and ``-eps`` and compares ``(L(+) - L(-)) / 2eps`` with the backprop
gradient. The two one-sided slopes ``(L(+) - L(0)) / eps`` and ``(L(0) - L(-)) / eps`` come free
with the central one: where they disagree the nudge crossed a point where the loss is not
differentiable (a ReLU pre-activation at 0, a tie in a max), and an element whose backprop value
lies between them is flagged ``kink`` instead of ``FAIL``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.autograd.dtypes import to_dtype
from chainrule.autograd.factories import from_numpy
from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor


@dataclass
class ParamCheck:
    """The check of one parameter tensor (errors over its non-kink checked elements)."""

    name: str
    shape: tuple[int, ...]
    max_abs_err: float
    max_rel_err: float
    checked: int
    total: int
    kinks: int
    failed: int
    status: str  # "ok", "FAIL" or "kink"

    @property
    def sampled(self) -> bool:
        return self.checked < self.total


class ModelCheck(list):
    """The rows of ``check_model_gradients`` (a list of ``ParamCheck``) with ``ok`` and
    ``table()``."""

    eps: float = 1e-6
    dtype: str = "float64"
    loss: float = float("nan")
    passes: int = 0

    @property
    def ok(self) -> bool:
        """True when no parameter tensor FAILed (kinks are not failures)."""
        return all(r.status != "FAIL" for r in self)

    def table(self, markdown: bool = False) -> str:
        """The rows as an aligned text table (or a Markdown table) with a summary line."""
        head = ["parameter", "shape", "max abs err", "max rel err", "checked", "kinks", "status"]
        rows = [[r.name, "x".join(map(str, r.shape)) or "()", f"{r.max_abs_err:.2e}",
                 f"{r.max_rel_err:.2e}",
                 f"{r.checked}/{r.total}" + (" (sample)" if r.sampled else ""),
                 str(r.kinks), r.status] for r in self]
        if markdown:
            lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            lines += ["| " + " | ".join(row) + " |" for row in rows]
        else:
            w = [max(len(x) for x in col) for col in zip(head, *rows)]
            lines = ["  ".join(c.ljust(n) for c, n in zip(row, w))
                     for row in [head, ["-" * n for n in w], *rows]]
        n_chk = sum(r.checked for r in self)
        n_all = sum(r.total for r in self)
        sampled = [r.name for r in self if r.sampled]
        lines.append("")
        lines.append(f"{n_chk} of {n_all} parameter elements checked in {self.dtype} "
                     f"(central differences, eps={self.eps:g}, {self.passes} forward passes)"
                     + (f"; random sample in {', '.join(sampled)}" if sampled else ""))
        fails = sum(r.failed for r in self)
        kinks = sum(r.kinks for r in self)
        verdict = "FAIL" if fails else "ok"
        lines.append(f"verdict: {verdict}: {fails} element(s) failed, {kinks} at a kink "
                     "(the nudge crossed a non-differentiable point; not counted as failures)")
        return "\n".join(line.rstrip() for line in lines)

    def __str__(self) -> str:
        return self.table()


def _cast(x: Any, dt: np.dtype) -> Any:
    if isinstance(x, Tensor):
        return from_numpy(x.detach().numpy().astype(dt)) if x.dtype.kind == "f" else x
    if isinstance(x, np.ndarray):
        return from_numpy(x.astype(dt) if x.dtype.kind == "f" else x)
    return x


def check_model_gradients(model: Any, loss_fn: Callable[[Any, Any], Any], inputs: Any,
                          targets: Any, dtype: Any = "float64", eps: float = 1e-6,
                          max_elements_per_tensor: int | None = None, atol: float = 1e-5,
                          rtol: float = 1e-3, seed: int = 0) -> ModelCheck:
    """Check every parameter's backprop gradient against central finite differences.

    Runs ``loss_fn(model(inputs), targets)`` on a deep copy of ``model`` converted to ``dtype``
    (float64 by default) and put in eval mode (dropout off); the user's model is untouched.
    ``max_elements_per_tensor`` checks a random sample of at most that many elements per
    tensor (seeded by ``seed``). An element fails when ``|backprop - fd| > atol + rtol*|fd|``,
    unless the one-sided differences disagree and backprop lies between them (a kink).
    The relative error is ``|backprop - fd| / max(|backprop|, |fd|, atol)``.
    Returns one ``ParamCheck`` row per parameter tensor that requires grad.
    """
    dt = to_dtype(dtype)
    m = copy.deepcopy(model)
    m.to(dt)
    m.eval()
    x, y = _cast(inputs, dt), _cast(targets, dt)
    params = [(n, p) for n, p in m.named_parameters() if p.requires_grad]
    if not params:
        raise ValueError("check_model_gradients: the model has no parameter that requires grad")
    for _, p in params:
        p.grad = None
    loss = loss_fn(m(x), y)
    if not isinstance(loss, Tensor) or loss._data.size != 1:
        raise ValueError("check_model_gradients: loss_fn must return a scalar Tensor, got "
                         f"{getattr(loss, 'shape', type(loss).__name__)}")
    loss.backward()

    def f() -> float:
        return float(loss_fn(m(x), y)._data)

    rng = np.random.default_rng(seed)
    out = ModelCheck()
    out.eps, out.dtype, out.loss = eps, str(dt), float(loss._data)
    passes = 0
    with no_grad():
        f0 = f()
        passes += 1
        for name, p in params:
            arr = p._data
            n = arr.size
            grad = (np.zeros(n) if p.grad is None
                    else p.grad._data.astype(np.float64).reshape(-1))
            idx = np.arange(n)
            if max_elements_per_tensor is not None and n > max_elements_per_tensor:
                idx = np.sort(rng.choice(n, size=max_elements_per_tensor, replace=False))
            plus = np.empty(len(idx))
            minus = np.empty(len(idx))
            for k, j in enumerate(idx):
                where = np.unravel_index(j, arr.shape) if arr.ndim else ()
                orig = arr[where].copy()
                arr[where] = orig + eps
                p._vc[0] += 1
                plus[k] = f()
                arr[where] = orig - eps
                p._vc[0] += 1
                minus[k] = f()
                arr[where] = orig
                p._vc[0] += 1
            passes += 2 * len(idx)
            num = (plus - minus) / (2 * eps)
            right, left = (plus - f0) / eps, (f0 - minus) / eps
            a = grad[idx]
            err = np.abs(a - num)
            tol = atol + rtol * np.abs(num)
            bad = ~(err <= tol)
            one_sided_differ = np.abs(right - left) > atol + rtol * np.abs(num)
            lo, hi = np.minimum(left, right), np.maximum(left, right)
            between = (a >= lo - tol) & (a <= hi + tol)
            kink = bad & one_sided_differ & between
            fail = bad & ~kink
            keep = ~kink
            rel = err / np.maximum(np.maximum(np.abs(a), np.abs(num)), atol)
            status = "FAIL" if fail.any() else "kink" if kink.any() else "ok"
            out.append(ParamCheck(
                name=name, shape=tuple(arr.shape),
                max_abs_err=float(err[keep].max()) if keep.any() else 0.0,
                max_rel_err=float(rel[keep].max()) if keep.any() else 0.0,
                checked=len(idx), total=n, kinks=int(kink.sum()), failed=int(fail.sum()),
                status=status))
    out.passes = passes
    if not math.isfinite(out.loss):
        raise ValueError(f"check_model_gradients: the loss is {out.loss}; nothing to check")
    return out
