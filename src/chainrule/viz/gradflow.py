"""Gradient flow: per-layer statistics of activations and gradients over training steps.

``GradientFlow`` is a ``fit`` / ``Trainer`` callback; ``record_gradient_flow(model, loss_fn,
data)`` runs a few steps itself. Both record, for every recorded step and every layer (each
module that owns parameters, and each parameter-free leaf module such as an activation):

- ``act``: the layer's output (forward hook): norm, mean, std, fraction of zeros, and the
  fraction of units that are zero for every example of the batch (``dead``);
- ``act_grad``: the gradient of the loss w.r.t. that output, read from the engine's backward
  observer (``chainrule.autograd.observe``, active between ``begin_step`` and ``end_step``):
  the gradient that came into the node that produced the output;
- ``grad``: the gradient w.r.t. the layer's own parameters (all of them together), read from
  the parameters' ``.grad`` after ``backward()``.

``verdict()`` names the layers where gradients vanish or explode and the ReLUs that are dead;
``plot(dir)`` writes PNG figures (needs matplotlib).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.autograd.engine import NodeEvent, observe
from chainrule.autograd.tensor import Tensor
from chainrule.train.callbacks import Callback

__all__ = ["GradientFlow", "record_gradient_flow"]

STATS = ("norm", "rms", "mean", "std", "zeros", "dead")
KINDS = ("act", "act_grad", "grad")
_SAMPLE = 4000  # values kept per layer (last recorded step) for the distribution plots


def _stats(a: np.ndarray) -> dict[str, float]:
    a = np.asarray(a)
    if a.size == 0:
        return dict.fromkeys(STATS, math.nan)
    f = a.astype(np.float64, copy=False).ravel()
    with np.errstate(all="ignore"):
        return _stats_of(a, f)


def _stats_of(a: np.ndarray, f: np.ndarray) -> dict[str, float]:
    sq = float(np.dot(f, f))
    zero = a == 0
    dead = float(zero.reshape(-1, a.shape[-1]).all(axis=0).mean()) if a.ndim >= 2 else math.nan
    return {"norm": math.sqrt(sq), "rms": math.sqrt(sq / f.size), "mean": float(f.mean()),
            "std": float(f.std()), "zeros": float(zero.mean()), "dead": dead}


def _sample(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    f = np.asarray(a, dtype=np.float64).ravel()
    return f if f.size <= _SAMPLE else rng.choice(f, _SAMPLE, replace=False)


class GradientFlow(Callback):
    """Record activation and gradient statistics per layer (a ``fit`` callback).

    Args:
        every: record one batch out of ``every`` (1: all).
        activations: also hook leaf modules without parameters (activations, dropout, ...).
        modules: names of the modules to watch (default: every parameterised module and, with
            ``activations``, every parameter-free leaf module), as in ``named_modules()``.

    After training: ``layers`` (names in forward order), ``steps`` (recorded global steps),
    ``series(layer, kind, stat)`` (one value per recorded step), ``losses``, ``table()``,
    ``verdict()``, ``plot(dir)``.
    """

    def __init__(self, every: int = 1, activations: bool = True,
                 modules: Iterable[str] | None = None) -> None:
        if every < 1:
            raise ValueError(f"GradientFlow: every must be >= 1, got {every}")
        self.every = every
        self.activations = activations
        self.only = None if modules is None else set(modules)
        self.layers: list[str] = []
        self.kinds: dict[str, str] = {}  # layer -> module class name
        self.steps: list[int] = []
        self.losses: list[float] = []  # the batch loss of every recorded step (when known)
        self.records: list[dict[str, dict[str, dict[str, float]]]] = []
        self.samples: dict[str, dict[str, np.ndarray]] = {}
        self._handles: list[Any] = []
        self._watched: list[tuple[str, Any]] = []
        self._current: dict[str, dict[str, dict[str, float]]] | None = None
        self._outputs: dict[int, tuple[Any, dict[str, Any]]] = {}  # id(node) -> (node, record)
        self._observer: observe | None = None
        self._count = 0
        self._rng = np.random.default_rng(0)

    # -- attaching to a model ---------------------------------------------------------------
    def attach(self, model: Any) -> GradientFlow:
        """Register forward hooks on the watched modules of ``model``."""
        self.detach()
        for name, mod in model.named_modules():
            if not name:
                if any(True for _ in mod.children()):
                    continue  # the container itself
                name = type(mod).__name__.lower()
            own = list(mod.named_parameters(recurse=False))
            leaf = not any(True for _ in mod.children())
            if self.only is not None:
                if name not in self.only:
                    continue
            elif not own and not (self.activations and leaf):
                continue
            self._watched.append((name, mod))
            self.kinds[name] = type(mod).__name__
            self._handles.append(mod.register_forward_hook(self._hook(name)))
        if not self._watched:
            raise ValueError("GradientFlow: the model has no module to watch")
        return self

    def detach(self) -> None:
        """Remove the hooks."""
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._watched.clear()
        self._stop_observing()

    def _stop_observing(self) -> None:
        if self._observer is not None:
            self._observer.remove()
            self._observer = None
        self._outputs.clear()

    def _on_event(self, ev: NodeEvent) -> None:
        """Backward observer: the gradient w.r.t. a watched layer's output."""
        hit = self._outputs.get(id(ev.node))
        if hit is not None and hit[0] is ev.node:
            g = ev.grad_output
            hit[1]["act_grad"] = _stats(g.detach().numpy() if isinstance(g, Tensor) else g)

    def _hook(self, name: str) -> Callable[..., None]:
        def hook(module: Any, args: Any, out: Any) -> None:
            cur = self._current
            if cur is None or not isinstance(out, Tensor):
                return
            if name not in self.layers:
                self.layers.append(name)
            rec = cur.setdefault(name, {})
            rec["act"] = _stats(out.detach().numpy())
            self.samples.setdefault(name, {})["act"] = _sample(out.detach().numpy(), self._rng)
            if out.grad_fn is not None:
                self._outputs[id(out.grad_fn)] = (out.grad_fn, rec)
        return hook

    # -- one step ---------------------------------------------------------------------------
    def begin_step(self) -> None:
        """Start recording a step (call before the forward pass)."""
        self._stop_observing()
        self._current = {}
        self._observer = observe(self._on_event)

    def end_step(self, step: int | None = None) -> None:
        """Finish the step (call after ``backward()``): read the parameter gradients."""
        cur = self._current
        if cur is None:
            return
        self._current = None
        self._stop_observing()
        for name, mod in self._watched:
            gs = [p.grad.detach().numpy().ravel() for _, p in mod.named_parameters(recurse=False)
                  if p.grad is not None]
            if gs:
                g = np.concatenate(gs)
                cur.setdefault(name, {})["grad"] = _stats(g)
                self.samples.setdefault(name, {})["grad"] = _sample(g, self._rng)
                if name not in self.layers:
                    self.layers.append(name)
        self.steps.append(len(self.steps) if step is None else step)
        self.records.append(cur)

    # -- the Callback protocol --------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.attach(self.trainer.model)

    def on_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._count % self.every == 0:
            self.begin_step()

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._current is not None:
            self.end_step(self._count)
            if logs and "batch_loss" in logs:
                self.losses.append(float(logs["batch_loss"]))
        self._count += 1

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.detach()

    # -- reading ----------------------------------------------------------------------------
    def series(self, layer: str, kind: str = "grad", stat: str = "norm") -> np.ndarray:
        """One value per recorded step (nan where the layer had no such record)."""
        if kind not in KINDS or stat not in STATS:
            raise ValueError(f"GradientFlow.series: kind must be one of {KINDS} and stat one of "
                             f"{STATS}, got {kind!r}, {stat!r}")
        return np.array([r.get(layer, {}).get(kind, {}).get(stat, math.nan)
                         for r in self.records])

    def _median(self, layer: str, kind: str, stat: str) -> float:
        s = self.series(layer, kind, stat)
        s = s[~np.isnan(s)]
        return float(np.median(s)) if s.size else math.nan

    def param_layers(self) -> list[str]:
        """Layers with parameter gradients, from the input to the output."""
        return [n for n in self.layers if any("grad" in r.get(n, {}) for r in self.records)]

    def table(self) -> str:
        """A plain-text table: median statistics per layer over the recorded steps."""
        head = (f"{'layer':<16} {'type':<10} {'grad norm':>10} {'grad rms':>10} "
                f"{'out-grad rms':>12} {'act mean':>9} {'act std':>9} {'act zeros':>9}")
        rows = [head, "-" * len(head)]
        def c(v: float, w: int, f: str = ".3g") -> str:
            return f"{v:>{w}{f}}" if math.isfinite(v) else f"{'-':>{w}}"

        for n in self.layers:
            m = self._median
            rows.append(f"{n:<16} {self.kinds.get(n, ''):<10} {c(m(n, 'grad', 'norm'), 10)} "
                        f"{c(m(n, 'grad', 'rms'), 10)} {c(m(n, 'act_grad', 'rms'), 12)} "
                        f"{c(m(n, 'act', 'mean'), 9)} {c(m(n, 'act', 'std'), 9)} "
                        f"{c(m(n, 'act', 'zeros'), 9, '.2f')}")
        return "\n".join(rows)

    def verdict(self, vanish: float = 1e-3, explode: float = 1e3, dead: float = 0.99) -> str:
        """Plain text naming the layers with vanishing or exploding gradients or dead ReLUs.

        Gradient RMS (norm / sqrt(size)) per parameterised layer, median over steps, is compared
        with the output layer's: below ``vanish`` times it is vanishing, above ``explode`` times
        it (or non-finite) is exploding. A layer whose outputs are zero for a fraction
        ``>= dead`` of the entries is dead. Otherwise the network is called healthy.
        """
        if not self.records:
            return "no steps recorded yet"
        lines: list[str] = []
        pl = self.param_layers()
        rms = {n: self._median(n, "grad", "rms") for n in pl}
        if pl:
            ref_name = pl[-1]
            ref = rms[ref_name]
            bad = [n for n in pl if not math.isfinite(rms[n])]
            if bad:
                lines.append("exploding gradients: non-finite gradients in " + ", ".join(bad))
            elif ref > 0:
                low = [n for n in pl if rms[n] < vanish * ref]
                high = [n for n in pl if rms[n] > explode * ref or rms[n] > 1e6]
                first = pl[0]
                span = math.log10(max(rms[first], 1e-300) / ref)
                if low:
                    lines.append(
                        f"vanishing gradients: the gradient RMS falls by {-span:.1f} orders of "
                        f"magnitude from the output layer '{ref_name}' ({ref:.2e}) to the input "
                        f"layer '{first}' ({rms[first]:.2e}); below {vanish:g}x the output "
                        f"layer: " + ", ".join(f"'{n}'" for n in low))
                if high:
                    lines.append(
                        f"exploding gradients: gradient RMS grows by {span:.1f} orders of "
                        f"magnitude towards the input; above {explode:g}x the output layer: "
                        + ", ".join(f"'{n}'" for n in high))
        for n in self.layers:
            z = self._median(n, "act", "zeros")
            if math.isfinite(z) and z >= dead:
                lines.append(f"dead ReLUs: layer '{n}' ({self.kinds.get(n, '')}) outputs zero "
                             f"for {100 * z:.1f}% of its entries")
        if not lines:
            if pl and rms[pl[-1]] > 0:
                span = abs(math.log10(max(rms[pl[0]], 1e-300) / rms[pl[-1]]))
                return (f"healthy: gradient RMS stays within {span:.1f} orders of magnitude "
                        f"from '{pl[0]}' to '{pl[-1]}', and no layer is dead")
            return "healthy: no layer is dead"
        return "\n".join(lines)

    def plot(self, directory: str | os.PathLike[str] = ".", prefix: str = "gradflow",
             title: str = "") -> list[Path]:
        """Write ``<prefix>_norms.png`` (gradient norm per layer over steps) and
        ``<prefix>_layers.png`` (per-layer distributions) into ``directory``."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        from matplotlib.ticker import MaxNLocator

        pl = self.param_layers()
        cmap = plt.get_cmap("viridis")
        out = []

        def lab(n: str) -> str:
            return f"{n} {self.kinds.get(n, '')}".strip()

        fig, ax = plt.subplots(figsize=(8, 4.2))
        for i, n in enumerate(pl):
            ax.plot(self.steps, self.series(n, "grad", "norm"), color=cmap(i / max(1, len(pl) - 1)),
                    label=lab(n), lw=1.5, marker="o" if len(self.steps) < 30 else None, ms=3)
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("step")
        ax.set_ylabel("gradient norm (parameters)")
        ax.set_title(title or "gradient norm per layer")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, ncol=1 if len(pl) <= 16 else 2, title="layer\n(input → output)",
                  title_fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        p = d / f"{prefix}_norms.png"
        fig.savefig(p, dpi=100)
        plt.close(fig)
        out.append(p)

        acts = [n for n in self.layers if "act" in self.samples.get(n, {})]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 4.8))
        nz = [np.abs(self.samples[n]["grad"]) for n in pl]
        gvals = [np.log10(g[g > 0]) if np.any(g > 0) else np.zeros(1) for g in nz]
        if gvals:
            a1.boxplot(gvals, showfliers=False)
            a1.set_xticks(range(1, len(pl) + 1), [lab(n) for n in pl], rotation=60, fontsize=7,
                          ha="right")
        a1.set_ylabel("log10 |parameter gradient| (non-zero entries)")
        a1.set_title("gradient distribution per layer (last step)")
        a1.grid(alpha=0.3)
        if acts:
            a2.boxplot([self.samples[n]["act"] for n in acts], showfliers=False)
            a2.set_xticks(range(1, len(acts) + 1), [lab(n) for n in acts], rotation=60,
                          fontsize=7, ha="right")
            zeros = [self._median(n, "act", "zeros") for n in acts]
            tw = a2.twinx()
            tw.plot(range(1, len(acts) + 1), zeros, "o", color="crimson", ms=4)
            tw.set_ylim(-0.05, 1.05)
            tw.set_ylabel("fraction of zeros (red dots)", color="crimson")
        a2.set_ylabel("activation value")
        a2.set_title("activation distribution per layer (last step)")
        a2.grid(alpha=0.3)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        p = d / f"{prefix}_layers.png"
        fig.savefig(p, dpi=100)
        plt.close(fig)
        out.append(p)
        return out


def _batches(data: Any, batch_size: int, steps: int) -> Iterable[tuple[Any, Any]]:
    """(inputs, targets) batches, cycling: an (x, y) pair, a dataset or a loader."""
    from chainrule.autograd.factories import as_tensor
    from chainrule.train.loop import as_loader, split_batch

    if isinstance(data, tuple) and len(data) == 2:
        x, y = as_tensor(data[0]), as_tensor(data[1])
        n = x.shape[0]
        k = 0
        for _ in range(steps):
            idx = (np.arange(batch_size) + k) % n
            k = (k + batch_size) % n
            yield x[idx], y[idx]
        return
    loader = as_loader(data, batch_size, True, "record_gradient_flow")
    done = 0
    while done < steps:
        for batch in loader:
            inputs, target = split_batch(batch)
            yield inputs[0] if len(inputs) == 1 else inputs, target
            done += 1
            if done >= steps:
                return


def record_gradient_flow(model: Any, loss_fn: Callable[[Any, Any], Tensor], data: Any,
                         steps: int = 20, optimizer: Any = None, lr: float = 0.01,
                         batch_size: int = 64, every: int = 1,
                         activations: bool = True) -> GradientFlow:
    """Train ``model`` for ``steps`` batches of ``data`` and record its gradient flow.

    ``data``: an ``(x, y)`` pair of tensors/arrays, a dataset or a DataLoader. ``optimizer``
    defaults to SGD with ``lr`` (``lr=0``: record at the initial weights without changing them).
    Returns the ``GradientFlow`` (``verdict()``, ``table()``, ``plot(dir)``).
    """
    from chainrule.optim import SGD

    flow = GradientFlow(every=every, activations=activations).attach(model)
    opt = optimizer if optimizer is not None else SGD(model.parameters(), lr=lr)
    if hasattr(model, "train"):
        model.train()
    try:
        for i, (x, y) in enumerate(_batches(data, batch_size, steps)):
            rec = i % every == 0
            if rec:
                flow.begin_step()
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            if rec:
                flow.end_step(i)
                flow.losses.append(float(loss.item()))
            if lr != 0 or optimizer is not None:
                opt.step()
    finally:
        flow.detach()
    return flow
