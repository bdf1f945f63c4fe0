"""What backprop saves, measured: one backprop gradient against a finite-difference gradient.

A network with ``N`` parameters needs ``N + 1`` forward passes for a forward-difference gradient
(one at the unperturbed weights, one per nudged weight) and ``2N`` for central differences;
backprop needs one forward and one backward pass. ``measure_cost`` counts the passes each
method actually runs (a forward hook on the model; a hook on the output's gradient for the
backward pass) and times them. Where a full finite-difference gradient would overrun the time
budget it times a random sample of coordinates and extrapolates, and says so.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from chainrule.autograd.factories import from_numpy
from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor

LADDER: tuple[tuple[int, ...], ...] = (
    (8, 10, 2), (64, 16, 10), (784, 30, 10), (784, 128, 10), (784, 300, 100, 10),
    (784, 1000, 200, 10))


class PassCounter:
    """Counts a model's forward passes (a forward hook) and backward passes (a hook on each
    output's gradient, which runs once per backward pass through it). Use as a context
    manager; the hooks are removed on exit."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.forward = 0
        self.backward = 0
        self._handle: Any = None

    def _on_forward(self, module: Any, args: Any, output: Any) -> None:
        self.forward += 1
        if isinstance(output, Tensor) and output.requires_grad:
            output.register_hook(self._on_backward)

    def _on_backward(self, grad: Any) -> None:
        self.backward += 1

    def __enter__(self) -> PassCounter:
        self._handle = self.model.register_forward_hook(self._on_forward)
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.remove()


def _flat_params(model: Any) -> list[Any]:
    return [p for p in model.parameters() if p.requires_grad]


def n_params(model: Any) -> int:
    """The number of trainable parameter elements."""
    return int(sum(p._data.size for p in _flat_params(model)))


def backprop_gradient(model: Any, loss_fn: Any, x: Any, y: Any) -> np.ndarray:
    """The full gradient (flat float64 array) by one forward and one backward pass."""
    params = _flat_params(model)
    for p in params:
        p.grad = None
    loss_fn(model(x), y).backward()
    return np.concatenate([np.zeros(p._data.size) if p.grad is None
                           else p.grad._data.reshape(-1).astype(np.float64) for p in params])


def fd_gradient(model: Any, loss_fn: Any, x: Any, y: Any, eps: float = 1e-3,
                central: bool = False, coords: Sequence[int] | np.ndarray | None = None
                ) -> np.ndarray:
    """Finite-difference gradient entries at the flat parameter indices ``coords`` (all when
    None): ``len(coords) + 1`` forward passes (forward differences) or ``2 len(coords)``
    (central). Parameters are nudged in place and restored exactly."""
    params = _flat_params(model)
    sizes = np.array([p._data.size for p in params])
    starts = np.concatenate([[0], np.cumsum(sizes)])
    total = int(starts[-1])
    idx = np.arange(total) if coords is None else np.asarray(coords, dtype=np.int64)
    out = np.empty(len(idx))

    def loss() -> float:
        return float(loss_fn(model(x), y)._data)

    with no_grad():
        base = None if central else loss()
        for k, j in enumerate(idx):
            t = int(np.searchsorted(starts, j, side="right") - 1)
            p = params[t]
            arr = p._data
            at = np.unravel_index(j - starts[t], arr.shape) if arr.ndim else ()
            orig = arr[at].copy()
            arr[at] = orig + eps
            p._vc[0] += 1
            up = loss()
            if central:
                arr[at] = orig - eps
                p._vc[0] += 1
                out[k] = (up - loss()) / (2 * eps)
            else:
                out[k] = (up - base) / eps
            arr[at] = orig
            p._vc[0] += 1
    return out


@dataclass
class CostRow:
    """One network's measurement."""

    sizes: tuple[int, ...]
    n: int                  # parameters
    bp_forward: int         # forward passes counted for one backprop gradient
    bp_backward: int        # backward passes counted
    t_backprop: float       # seconds for one backprop gradient (best of repeats)
    fd_coords: int          # coordinates actually nudged (n when measured in full)
    fwd_passes_run: int     # forward passes counted for forward differences (N + 1 in full)
    central_passes_run: int  # counted for central differences (2N in full)
    t_fwd_fd: float         # seconds for a full forward-difference gradient
    t_central_fd: float     # seconds for a full central-difference gradient

    @property
    def extrapolated(self) -> bool:
        return self.fd_coords < self.n

    @property
    def fwd_passes(self) -> int:
        """Forward passes of a full forward-difference gradient (counted when measured)."""
        return self.fwd_passes_run if not self.extrapolated else self.n + 1

    @property
    def central_passes(self) -> int:
        return self.central_passes_run if not self.extrapolated else 2 * self.n

    @property
    def ratio(self) -> float:
        """Forward-difference time over backprop time."""
        return self.t_fwd_fd / self.t_backprop


def _batch(sizes: Sequence[int], batch: int, seed: int) -> tuple[Tensor, Tensor]:
    rng = np.random.default_rng(seed)
    x = from_numpy(rng.standard_normal((batch, sizes[0])).astype(np.float32))
    y = from_numpy(rng.integers(0, sizes[-1], size=batch).astype(np.int64))
    return x, y


def measure_cost(sizes: Sequence[int], budget: float = 2.0, batch: int = 10, eps: float = 1e-3,
                 seed: int = 0) -> CostRow:
    """Time one backprop gradient and full forward / central finite-difference gradients of
    a sigmoid ``nn.MLP(sizes)`` with cross-entropy on a random batch, counting passes.

    Finite differences run in full when ``3N + 1`` forward passes fit in ``budget`` seconds;
    otherwise a random sample of coordinates is timed in chunks of about 20 (at least five
    chunks) and the best (least disturbed) seconds per counted pass is multiplied by
    ``N + 1`` (or ``2N``): ``CostRow.extrapolated``. Every time is the best (minimum) of repeats:
backprop at least 3, full finite differences 3 to 5 (5 when they fit in ``budget``), sampled
ones over at least five chunks, so one slow sample cannot put a false spike in the picture.
    """
    from chainrule import nn
    from chainrule.random import manual_seed

    manual_seed(seed)
    model = nn.MLP(list(sizes), activation="sigmoid")
    loss_fn = nn.CrossEntropyLoss()
    x, y = _batch(sizes, batch, seed)
    n = n_params(model)
    # backprop: count one gradient's passes, then time repeats
    with PassCounter(model) as c:
        backprop_gradient(model, loss_fn, x, y)
    times = []
    t_end = time.perf_counter() + 0.1 * budget
    while len(times) < 3 or (time.perf_counter() < t_end and len(times) < 50):
        t0 = time.perf_counter()
        backprop_gradient(model, loss_fn, x, y)
        times.append(time.perf_counter() - t0)
    t_bp = float(min(times))
    # one forward pass's cost (best of 3, after a warm-up) decides full versus sampled
    with no_grad():
        loss_fn(model(x), y)
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            loss_fn(model(x), y)
            ts.append(time.perf_counter() - t0)
    t_pass = float(min(ts))
    full = (3 * n + 1) * t_pass <= budget
    if full:  # the best of up to 5 repeats (at least 3 when they fit): one slow sample (another
        # process, a page fault) must not put a false spike in the ladder
        reps = max(3, min(5, int(budget / max((3 * n + 1) * t_pass, 1e-9))))
        fwd_times, cen_times = [], []
        for _ in range(reps):
            with PassCounter(model) as cf:
                t0 = time.perf_counter()
                fd_gradient(model, loss_fn, x, y, eps, central=False)
                fwd_times.append(time.perf_counter() - t0)
            with PassCounter(model) as cc:
                t0 = time.perf_counter()
                fd_gradient(model, loss_fn, x, y, eps, central=True)
                cen_times.append(time.perf_counter() - t0)
        t_fwd, t_cen = float(min(fwd_times)), float(min(cen_times))
        k, fwd_run, cen_run = n, cf.forward, cc.forward
    else:  # time a random sample in short chunks; the best seconds per pass times N+1 (or 2N)
        rng = np.random.default_rng(seed)
        k = int(min(n, max(10, budget / (3 * t_pass))))
        coords = np.sort(rng.choice(n, size=k, replace=False))
        per_pass: dict[bool, list[float]] = {False: [], True: []}
        runs = {False: 0, True: 0}
        for chunk in np.array_split(coords, min(k, max(5, k // 20))):  # ~20 coords each
            for central in (False, True):
                with PassCounter(model) as cnt:
                    t0 = time.perf_counter()
                    fd_gradient(model, loss_fn, x, y, eps, central=central, coords=chunk)
                    per_pass[central].append((time.perf_counter() - t0) / cnt.forward)
                runs[central] += cnt.forward
        t_fwd = float(min(per_pass[False])) * (n + 1)
        t_cen = float(min(per_pass[True])) * (2 * n)
        fwd_run, cen_run = runs[False], runs[True]
    return CostRow(tuple(int(s) for s in sizes), n, c.forward, c.backward, t_bp, k,
                   fwd_run, cen_run, t_fwd, t_cen)


def _secs(t: float) -> str:
    if t < 1e-3:
        return f"{t * 1e6:.0f} us"
    if t < 1:
        return f"{t * 1e3:.1f} ms"
    if t < 120:
        return f"{t:.2f} s"
    if t < 7200:
        return f"{t / 60:.1f} min"
    return f"{t / 3600:.1f} h"


def cost_table(rows: Sequence[CostRow], markdown: bool = False) -> str:
    """The measurements as a text (or Markdown) table."""
    head = ["network", "N params", "backprop passes", "fwd-FD passes", "central-FD passes",
            "t backprop", "t fwd-FD", "t central-FD", "fwd-FD / backprop", "FD time"]
    body = []
    for r in rows:
        how = (f"extrapolated ({r.fd_coords:,} of {r.n:,} coords)" if r.extrapolated
               else "measured")
        body.append(["-".join(map(str, r.sizes)), f"{r.n:,}",
                     f"{r.bp_forward + r.bp_backward} ({r.bp_forward} fwd + {r.bp_backward} bwd)",
                     f"{r.fwd_passes:,}", f"{r.central_passes:,}", _secs(r.t_backprop),
                     _secs(r.t_fwd_fd), _secs(r.t_central_fd), f"{r.ratio:,.0f}x", how])
    if markdown:
        lines = ["| " + " | ".join(head) + " |",
                 "|" + "|".join("---" if i == 0 or i == len(head) - 1 else "---:"
                                for i in range(len(head))) + "|"]
        lines += ["| " + " | ".join(b) + " |" for b in body]
    else:
        w = [max(len(x) for x in col) for col in zip(head, *body)]
        lines = ["  ".join(h.rjust(n) if 0 < i < len(head) - 1 else h.ljust(n)
                           for i, (h, n) in enumerate(zip(head, w))).rstrip()]
        lines.append("  ".join("-" * n for n in w))
        lines += ["  ".join(v.rjust(n) if 0 < i < len(head) - 1 else v.ljust(n)
                            for i, (v, n) in enumerate(zip(b, w))).rstrip() for b in body]
    return "\n".join(lines)


def plot_cost(rows: Sequence[CostRow], path: str) -> str:
    """A log-log PNG of gradient time against N for the three methods (hollow markers:
    extrapolated from a sample of coordinates). Needs matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(rows, key=lambda r: r.n)
    n = np.array([r.n for r in rows], dtype=float)
    ext = np.array([r.extrapolated for r in rows])
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=120)
    series = [("forward differences (N+1 passes)", [r.t_fwd_fd for r in rows], "tab:orange"),
              ("central differences (2N passes)", [r.t_central_fd for r in rows], "tab:red"),
              ("backprop (1 forward + 1 backward)", [r.t_backprop for r in rows], "tab:blue")]
    for label, t, color in series:
        t = np.array(t)
        ax.plot(n, t, "-", color=color, label=label, lw=1.5)
        is_bp = label.startswith("backprop")
        meas = np.ones_like(ext) if is_bp else ~ext
        ax.plot(n[meas], t[meas], "o", color=color, ms=6)
        if not is_bp and ext.any():
            ax.plot(n[ext], t[ext], "o", mfc="white", mec=color, ms=6, mew=1.5)
    ax.plot([], [], "o", mfc="white", mec="gray", mew=1.5, label="extrapolated from a sample")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("seconds for one full gradient")
    ax.set_title("Gradient cost: backprop vs finite differences (sigmoid MLPs, batch 10)")
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)
    for i, r in enumerate(rows):
        last = i == len(rows) - 1 and len(rows) > 1
        ax.annotate("-".join(map(str, r.sizes)), (r.n, r.t_backprop), textcoords="offset points",
                    xytext=(-8, 3) if last else (0, -13), ha="right" if last else "center",
                    fontsize=7, color="tab:blue")
    lo, hi = min(r.t_backprop for r in rows), max(r.t_central_fd for r in rows)
    ax.set_ylim(lo / 4, hi * 3)
    ax.set_xlim(n.min() / 2, n.max() * 2)
    ax.legend(loc="upper left", fontsize=8.5)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
