"""Training pictures: loss/accuracy curves, decision boundaries, confusion matrices, weight and
gradient histograms (matplotlib, imported lazily with the Agg backend).

    records = read_metrics("runs/moons")                 # metrics.jsonl or metrics.csv
    plot_curves(records, "curves.png")
    plot_decision_boundary(model, x, y, "boundary.png")   # 2-D inputs only
    plot_confusion_matrix(confusion_matrix(model, x, y), "confusion.png")
    plot_histograms(model, "histograms.png", loss_fn=loss, batch=(x[:64], y[:64]))
    plot_filters(cnn, "filters.png")                      # the first Conv2d's kernels
    plot_feature_maps(cnn, model_input(cnn, x), "maps.png")  # every Conv2d's outputs, one input
    plot_attention(encoder, tokens, path="attention.png")  # every MultiheadAttention's weights

Every ``plot_*`` returns the written path when given one, else the matplotlib Figure.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["attention_layers", "attention_maps", "confusion_matrix", "conv_layers", "dominated",
           "feature_maps", "gradients_on_batch", "model_input", "plot_attention",
           "plot_confusion_matrix", "plot_curves", "plot_decision_boundary", "plot_feature_maps",
           "plot_filters", "plot_histograms", "predict_scores", "read_metrics"]

Records = list[dict[str, Any]]


def _plt() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ImportError("chainrule's plots need matplotlib: pip install chainrule[plot]") \
            from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish(fig: Any, path: str | Path | None, dpi: int = 100) -> Any:
    if path is None:
        return fig
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    _plt().close(fig)
    return path


def _num(v: Any) -> Any:
    if v is None or v == "":
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    return int(f) if f.is_integer() and str(v).lstrip("-").isdigit() else f


def read_metrics(path: str | Path) -> Records:
    """The per-epoch records of a run: ``path`` is a run folder (``metrics.jsonl``, else
    ``metrics.csv``) or one of those files. Raises FileNotFoundError when there is none."""
    p = Path(path)
    if p.is_dir():
        for name in ("metrics.jsonl", "metrics.csv"):
            if (p / name).is_file():
                return read_metrics(p / name)
        raise FileNotFoundError(f"{str(p)!r} holds no metrics.jsonl or metrics.csv")
    if not p.is_file():
        raise FileNotFoundError(f"metrics file {str(p)!r} does not exist")
    if p.suffix == ".jsonl":
        lines = [s for s in p.read_text().splitlines() if s.strip()]
        return [json.loads(s) for s in lines]
    with p.open(newline="") as f:
        return [{k: _num(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _series(records: Records, key: str) -> tuple[list[float], list[float]]:
    pts = [(r.get("epoch", i + 1), r[key]) for i, r in enumerate(records)
           if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    return ([float(e) for e, _ in pts], [float(v) for _, v in pts])


def plot_curves(records: Records, path: str | Path | None = None, title: str = "") -> Any:
    """Loss (left) and accuracy (right, when logged) per epoch, for train and every logged set
    (``val_``, ``test_``)."""
    plt = _plt()
    from matplotlib.ticker import MaxNLocator

    keys = list(dict.fromkeys(k for r in records for k in r))
    losses = [k for k in keys if k == "loss" or k.endswith("_loss")]
    accs = [k for k in keys if k == "accuracy" or (k.endswith("_accuracy")
                                                   and not k.startswith("top"))]
    if not accs:  # regression: r2 (or mae) on the right
        accs = [k for k in keys if k == "r2" or k.endswith("_r2")]
    panels = [("loss", losses)] + ([("accuracy" if "accuracy" in "".join(accs) else "r2", accs)]
                                   if accs else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    for ax, (label, ks) in zip(axes[0], panels):
        for k in ks:
            xs, ys = _series(records, k)
            if xs:
                ax.plot(xs, ys, marker="o", markersize=4,
                        label="train" if "_" not in k else k.split("_")[0])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _finish(fig, path)


def predict_scores(model: Any, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """The model's outputs on the rows of ``x`` (float32, no graph), as a 2-D array."""
    from chainrule.autograd.factories import from_numpy
    from chainrule.autograd.grad_mode import no_grad

    x = np.ascontiguousarray(x, dtype=np.float32)
    out = []
    with no_grad():
        for i in range(0, len(x), batch_size):
            out.append(np.asarray(model(from_numpy(x[i:i + batch_size])).detach().numpy()))
    scores = np.concatenate(out) if out else np.zeros((0, 1), np.float32)
    return scores.reshape(len(x), -1)


def _classes(scores: np.ndarray) -> np.ndarray:
    if scores.shape[1] == 1:  # one score: binary, positive above 0.5 (probability) or 0 (logit)
        s = scores[:, 0]
        cut = 0.5 if s.min(initial=0.0) >= 0.0 and s.max(initial=1.0) <= 1.0 else 0.0
        return (s > cut).astype(np.int64)
    return scores.argmax(axis=1)


def plot_decision_boundary(model: Any, x: np.ndarray, y: np.ndarray,
                           path: str | Path | None = None, resolution: int = 200,
                           title: str = "decision boundary", margin: float = 0.15) -> Any:
    """The class the model predicts over a grid covering the 2-D points ``x`` (filled regions),
    with the points themselves coloured by their label ``y``."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary: needs 2-D inputs (N, 2), got {x.shape}")
    plt = _plt()
    y = np.asarray(y).reshape(len(x), -1)
    labels = y.argmax(axis=1) if y.shape[1] > 1 else y[:, 0].astype(np.int64)
    lo, hi = x.min(axis=0), x.max(axis=0)
    pad = (hi - lo) * margin + 1e-3
    gx, gy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution),
                         np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    scores = predict_scores(model, grid)
    pred = _classes(scores).reshape(gx.shape)
    k = int(max(pred.max(initial=0), labels.max(initial=0))) + 1
    cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
    levels = np.arange(k + 1) - 0.5
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    ax.contourf(gx, gy, pred, levels=levels, cmap=cmap, vmin=-0.5,
                vmax=cmap.N - 0.5, alpha=0.3)
    ax.contour(gx, gy, pred, levels=levels, colors="k", linewidths=0.6, alpha=0.6)
    ax.scatter(x[:, 0], x[:, 1], c=labels, cmap=cmap, vmin=-0.5, vmax=cmap.N - 0.5, s=12,
               edgecolors="k", linewidths=0.3)
    acc = float(np.mean(_classes(predict_scores(model, x)) == labels)) if len(x) else float("nan")
    ax.set_title(f"{title}\naccuracy {acc:.3f} on these {len(x)} points", fontsize=10)
    ax.set_xlabel("x[0]")
    ax.set_ylabel("x[1]")
    fig.tight_layout()
    return _finish(fig, path)


def confusion_matrix(model: Any, x: np.ndarray, y: np.ndarray,
                     num_classes: int | None = None) -> np.ndarray:
    """Counts (rows: true class, columns: predicted) of the model's predictions on ``x``."""
    from chainrule.train.metrics import ConfusionMatrix

    m = ConfusionMatrix(num_classes=num_classes)
    m.update(predict_scores(model, x), np.asarray(y))
    return np.asarray(m.compute())


def plot_confusion_matrix(matrix: np.ndarray, path: str | Path | None = None,
                          classes: Sequence[str] | None = None,
                          title: str = "confusion matrix") -> Any:
    """Two panels: the counts, and each row normalised (recall per class on the diagonal)."""
    plt = _plt()
    m = np.asarray(matrix, dtype=np.int64)
    n = m.shape[0]
    rows = m.sum(axis=1, keepdims=True)
    norm = np.divide(m, rows, out=np.zeros(m.shape), where=rows > 0)
    names = [str(c) for c in classes][:n] if classes else []
    names += [str(i) for i in range(len(names), n)]
    size = min(4.0 + 0.35 * n, 12.0)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1, size))
    for ax, data, sub, fmt in ((axes[0], m, "counts", "d"),
                               (axes[1], norm, "normalised by true class", ".2f")):
        im = ax.imshow(data, cmap="Blues", vmin=0, vmax=(1 if fmt != "d" else None))
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        ax.set_title(sub, fontsize=10)
        ax.set_xticks(range(n), names, rotation=45 if max(map(len, names)) > 2 else 0,
                      ha="right" if max(map(len, names)) > 2 else "center")
        ax.set_yticks(range(n), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if n <= 20:
            top = data.max(initial=0) or 1
            for i in range(n):
                for j in range(n):
                    v = data[i, j]
                    ax.text(j, i, format(v, fmt), ha="center", va="center",
                            fontsize=12 if n <= 5 else 8,
                            color="white" if v > 0.6 * top else "black")
    acc = np.trace(m) / m.sum() if m.sum() else float("nan")
    fig.suptitle(f"{title} ({int(m.sum())} samples, accuracy {acc:.3f})")
    fig.tight_layout()
    return _finish(fig, path)


def gradients_on_batch(model: Any, loss_fn: Any, x: np.ndarray, y: np.ndarray
                       ) -> dict[str, np.ndarray]:
    """``{parameter name: gradient}`` of ``loss_fn(model(x), y)`` on one batch (the model's
    own ``.grad`` fields are left as they were)."""
    from chainrule.autograd.engine import grad
    from chainrule.autograd.factories import from_numpy

    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    yt = np.asarray(y)
    loss = loss_fn(model(from_numpy(np.ascontiguousarray(x, dtype=np.float32))), from_numpy(yt))
    gs = grad(loss, [p for _, p in named], allow_unused=True)
    return {n: (np.zeros(p.shape, np.float32) if g is None else np.asarray(g.detach().numpy()))
            for (n, p), g in zip(named, gs)}


DOMINANCE = 20.0


def dominated(counts: Any, ratio: float = DOMINANCE) -> bool:
    """Whether one bin dominates a histogram (its count is more than ``ratio`` times the median
    of the nonzero bins), so that a linear axis would flatten every other bin: then the counts
    go on a log axis."""
    c = np.asarray(counts, dtype=np.float64)
    nonzero = c[c > 0]
    return nonzero.size > 1 and float(c.max()) > ratio * float(np.median(nonzero))


def plot_histograms(model: Any, path: str | Path | None = None,
                    gradients: dict[str, np.ndarray] | None = None, bins: int = 40,
                    title: str = "") -> Any:
    """One row per layer: its weights' and biases' values (left) and, when ``gradients`` are
    given (see ``gradients_on_batch``), their gradients (right). A panel where one bin
    dominates (``dominated``: max bin > 20x the median nonzero bin, e.g. ReLU's zero gradients)
    gets a log count axis, said in its title."""
    plt = _plt()
    layers: dict[str, list[tuple[str, np.ndarray]]] = {}
    for name, p in model.named_parameters():
        layer, _, kind = name.rpartition(".")
        layers.setdefault(layer or name, []).append((kind or name, np.asarray(p.detach().numpy())))
    if not layers:
        raise ValueError("plot_histograms: the model has no parameters")
    cols = 2 if gradients else 1
    fig, axes = plt.subplots(len(layers), cols, figsize=(5.2 * cols, 2.3 * len(layers) + 0.6),
                             squeeze=False)
    for row, (layer, params) in enumerate(layers.items()):
        panels = [("values", {k: v for k, v in params})]
        if gradients:
            pre = f"{layer}." if layer != params[0][0] else ""
            panels.append(("gradients (one batch)",
                           {k: gradients[pre + k] for k, _ in params if pre + k in gradients}))
        for col, (what, arrays) in enumerate(panels):
            ax = axes[row][col]
            allv = np.concatenate([a.ravel() for a in arrays.values()]).astype(np.float64)
            edges = np.histogram_bin_edges(allv, bins=bins if allv.size > 60 else 15)
            for i, (kind, a) in enumerate(arrays.items()):
                a = a.ravel().astype(np.float64)
                ax.hist(a, bins=edges, alpha=0.65, color=f"C{i}",
                        label=f"{kind} {tuple(params[i][1].shape)}  std {a.std():.2g}")
            counts = np.histogram(allv, bins=edges)[0]
            log = dominated(counts)
            if log:
                ax.set_yscale("log")
            ax.set_title(f"layer {layer}: {what}" + (" (log count: one bin dominates)"
                                                     if log else ""), fontsize=9)
            ax.tick_params(labelsize=8)
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _finish(fig, path)


# ---------------------------------------------------------------------------------- inside models

def conv_layers(model: Any) -> list[tuple[str, Any]]:
    """``(name, module)`` of every 2-D convolution in ``model``, in registration order."""
    from chainrule import nn

    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def attention_layers(model: Any) -> list[tuple[str, Any]]:
    """``(name, module)`` of every ``MultiheadAttention`` in ``model``."""
    from chainrule import nn

    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.MultiheadAttention)]


def model_input(model: Any, x: Any) -> Any:
    """One sample (the first row of ``x``) as a tensor batch of one, shaped for ``model``: a
    flat row is reshaped to ``(1, C, H, W)`` (square images) when the model's first layer is a
    Conv2d with C input channels; otherwise the row keeps its shape."""
    from chainrule.autograd.factories import from_numpy

    a = np.ascontiguousarray(np.asarray(x)[:1], dtype=np.float32)
    children = list(model.children()) if hasattr(model, "children") else []
    convs = conv_layers(model)
    if a.ndim == 2 and convs and children and children[0] is convs[0][1]:
        c = convs[0][1].in_channels
        side = round(math.sqrt(a.shape[1] / c))
        if c * side * side != a.shape[1]:
            raise ValueError(f"model_input: {a.shape[1]} features are not {c} square "
                             f"channel(s) for the first Conv2d ({convs[0][0]!r})")
        a = a.reshape(1, c, side, side)
    return from_numpy(a)


def feature_maps(model: Any, x: Any) -> dict[str, np.ndarray]:
    """``{conv layer name: its output for the first sample of x, (C, H, W)}`` from one forward
    pass (forward hooks; no graph is built)."""
    return _conv_io(model, x)[1]


def _conv_io(model: Any, x: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The first Conv2d's input image (C, H, W) and every Conv2d's output, first sample."""
    from chainrule.autograd.grad_mode import no_grad

    convs = conv_layers(model)
    if not convs:
        raise ValueError(f"feature_maps: {type(model).__name__} has no Conv2d layer")
    out: dict[str, np.ndarray] = {}
    first: list[np.ndarray] = []

    def keep(name: str) -> Any:
        return lambda mod, args, y: out.__setitem__(name, np.asarray(y.detach().numpy())[0])

    handles = [m.register_forward_hook(keep(n)) for n, m in convs]
    handles.append(convs[0][1].register_forward_pre_hook(
        lambda mod, args: first.append(np.asarray(args[0].detach().numpy())[0])))
    try:
        with no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return first[0], out


def attention_maps(model: Any, *inputs: Any, **kwargs: Any) -> dict[str, np.ndarray]:
    """``{MultiheadAttention name: weights (N, heads, L, S)}`` from one forward pass of
    ``model(*inputs, **kwargs)``: every MultiheadAttention is called with ``need_weights=True,
    average_attn_weights=False`` (a forward pre-hook; its output is otherwise unchanged, so it
    works inside ``TransformerEncoderLayer``, which asks for no weights)."""
    from chainrule.autograd.grad_mode import no_grad

    layers = attention_layers(model)
    if not layers:
        raise ValueError(f"attention_maps: {type(model).__name__} has no MultiheadAttention")
    names = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask",
             "average_attn_weights", "is_causal")
    out: dict[str, np.ndarray] = {}

    def want(mod: Any, args: tuple, kw: dict) -> tuple[tuple, dict]:
        kw = {**dict(zip(names[3:], args[3:])), **kw, "need_weights": True,
              "average_attn_weights": False}
        return args[:3], kw

    def keep(name: str) -> Any:
        return lambda mod, args, y: out.__setitem__(name, np.asarray(y[1].detach().numpy()))

    handles = []
    for n, m in layers:
        handles.append(m.register_forward_pre_hook(want, with_kwargs=True))
        handles.append(m.register_forward_hook(keep(n)))
    try:
        with no_grad():
            model(*inputs, **kwargs)
    finally:
        for h in handles:
            h.remove()
    return out


def _grid(plt: Any, n: int, cols: int, size: float = 1.6) -> tuple[Any, Any]:
    rows = max(1, math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols + 0.8, size * rows + 0.8),
                             squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    return fig, axes


def plot_filters(model: Any, path: str | Path | None = None, layer: str | None = None,
                 title: str = "") -> Any:
    """The filters of the first Conv2d (or of ``layer``): one small image per (output, input)
    channel pair, on one colour scale centred at zero (red positive, blue negative)."""
    plt = _plt()
    convs = dict(conv_layers(model))
    if not convs:
        raise ValueError(f"plot_filters: {type(model).__name__} has no Conv2d layer")
    name = layer if layer is not None else next(iter(convs))
    if name not in convs:
        raise ValueError(f"plot_filters: no Conv2d named {name!r}; Conv2d layers: "
                         f"{list(convs)}")
    w = np.asarray(convs[name].weight.detach().numpy(), dtype=np.float64)
    o, c = w.shape[:2]
    pairs = [(i, j) for i in range(o) for j in range(c)][:256]
    cols = min(len(pairs), 8 if c == 1 else c)
    fig, axes = _grid(plt, len(pairs), cols)
    lim = float(np.abs(w).max()) or 1.0
    im = None
    for ax, (i, j) in zip(axes.ravel(), pairs):
        im = ax.imshow(w[i, j], cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(f"out {i}" if c == 1 else f"out {i}, in {j}", fontsize=7)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8)
    fig.suptitle(title or f"Conv2d {name!r}: {o} filters {w.shape[2]}x{w.shape[3]}"
                 f"{'' if c == 1 else f' x {c} input channels'}"
                 f"{'' if len(pairs) == o * c else f' (first {len(pairs)})'}")
    return _finish(fig, path)


def plot_feature_maps(model: Any, x: Any, path: str | Path | None = None, max_maps: int = 16,
                      title: str = "", cols: int = 8) -> Any:
    """The input image (first sample of ``x``, shaped for the model) and, for each Conv2d, the
    feature maps it produces (at most ``max_maps`` channels per layer, ``cols`` to a row)."""
    plt = _plt()
    img, maps = _conv_io(model, x)
    shown = {name: min(max_maps, m.shape[0]) for name, m in maps.items()}
    cols = max(min(cols, max(shown.values())), 1)
    starts, rows = {}, 1  # the input's row, then ceil(shown / cols) rows per layer
    for name, n in shown.items():
        starts[name], rows = rows, rows + math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.5 * cols + 0.6, 1.6 * rows + 0.8),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    show = np.moveaxis(img, 0, -1) if img.shape[0] == 3 else img[0]
    if img.shape[0] == 3:  # RGB, scaled to [0, 1] for display
        show = (show - show.min()) / (np.ptp(show) or 1.0)
    axes[0][0].imshow(show, cmap="gray")
    axes[0][0].set_title("input" if img.shape[0] in (1, 3) else "input ch 0", fontsize=8)
    for name, m in maps.items():
        for k in range(shown[name]):
            ax = axes[starts[name] + k // cols][k % cols]
            ax.imshow(m[k], cmap="viridis")
            ax.set_title(f"Conv2d {name!r} ch {k}" if k == 0 else f"ch {k}", fontsize=8)
    fig.suptitle(title or "feature maps of one input (rows: each Conv2d in turn; colour per "
                 "map)")
    fig.tight_layout()
    return _finish(fig, path)


def plot_attention(model: Any, *inputs: Any, path: str | Path | None = None, sample: int = 0,
                   tokens: Sequence[str] | None = None, title: str = "", **kwargs: Any) -> Any:
    """The attention weights of every MultiheadAttention of ``model`` on ``inputs`` (one row
    per layer, one column per head; rows of each map are queries, columns keys; each row sums
    to 1), for batch element ``sample``; ``tokens`` label the axes."""
    plt = _plt()
    maps = attention_maps(model, *inputs, **kwargs)
    heads = max(a.shape[1] for a in maps.values())
    size = 2.6
    fig, axes = plt.subplots(len(maps), heads, figsize=(size * heads + 1.2,
                                                       size * len(maps) + 0.8), squeeze=False)
    im = None
    top = max(float(a[sample].max()) for a in maps.values()) or 1.0
    for r, (name, a) in enumerate(maps.items()):
        for h in range(heads):
            ax = axes[r][h]
            if h >= a.shape[1]:
                ax.axis("off")
                continue
            im = ax.imshow(a[sample, h], cmap="magma", vmin=0, vmax=top)
            ax.set_title(f"{name} head {h}", fontsize=8)
            if tokens is not None and len(tokens) <= 32:
                ax.set_xticks(range(len(tokens)), list(tokens), rotation=90, fontsize=6)
                ax.set_yticks(range(len(tokens)), list(tokens), fontsize=6)
            ax.set_xlabel("key", fontsize=7)
            ax.set_ylabel("query", fontsize=7)
            ax.tick_params(labelsize=6)
    fig.subplots_adjust(wspace=0.45, hspace=0.45)  # room for the next map's "query" label
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8)
    fig.suptitle(title or f"attention weights (sample {sample}; each row sums to 1)")
    return _finish(fig, path)
