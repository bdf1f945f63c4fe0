"""MNIST-1D (Greydanus 2020, "Scaling down deep learning", arXiv:2011.14439): the generator and
its baselines.

The generator follows the paper's description (section 2 and Fig. 2) with its default
parameters: ten hand-drawn 12-point templates, one per digit; each example is one template
padded with 36-60 zeros, stretched to 72 points, scaled by 1 + 0.4 (u - 0.5), translated
(circularly) by 0-47 points, its padding replaced by correlated noise (Gaussian-smoothed,
sigma 2, scale 0.25), i.i.d. noise (scale 0.02) added everywhere, sheared by a linear ramp of
slope 0.75 (u - 0.5), and subsampled to 40 points. 5,000 examples (500 per class), shuffled,
standardised with the whole set's mean and standard deviation, split 4,000 train / 1,000 test.
The template values and default parameters are those of the paper's reference code
(github.com/greydanus/mnist1d, ``get_templates``, ``get_dataset_args``); the random draws are our
own (NumPy's ``default_rng(seed)``), so the examples are statistically alike, not bit-identical.

Baselines (paper, Table/Fig. 3; README of the reference code): logistic regression 32%, MLP
68%, CNN 94%, GRU 91% test accuracy. Trained as the reference code does: Adam lr 1e-2, batch
100, cross-entropy, 6,000 steps (150 epochs of 40 batches; we shuffle each epoch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.reproduce.common import (
    Options,
    Report,
    Timer,
    have_matplotlib,
    spread,
    table,
)
from chainrule.reproduce.registry import Experiment, missing_layers, register
from chainrule.reproduce.trainloop import Recipe, initial_state, mlp, train_chainrule, train_torch

# The ten 12-point templates (digits 0-9), drawn by hand in the paper.
TEMPLATES = np.array([
    [5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5],
    [5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5],
    [5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5],
    [5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5],
    [5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5],
    [5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5],
    [5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5],
    [5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5],
    [5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5],
    [5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5],
])


@dataclass(frozen=True)
class Config:
    """The generator's parameters (the paper's defaults)."""

    num_samples: int = 5000
    train_split: float = 0.8
    template_len: int = 12
    padding: tuple[int, int] = (36, 60)
    scale_coeff: float = 0.4
    max_translation: int = 48
    corr_noise_scale: float = 0.25
    iid_noise_scale: float = 2e-2
    shear_scale: float = 0.75
    final_seq_length: int = 40
    seed: int = 42


def templates() -> np.ndarray:
    """The templates centred, scaled to unit standard deviation, shifted to start at 0, / 6."""
    x = TEMPLATES - TEMPLATES.mean(axis=1, keepdims=True)
    x = x / x.std(axis=1, keepdims=True)
    return (x - x[:, :1]) / 6.0


def _interp(x: np.ndarray, n: int) -> np.ndarray:
    """Linear resampling of ``x`` to ``n`` evenly spaced points over the same span."""
    return np.interp(np.linspace(0, 1, n), np.linspace(0, 1, len(x)), x)


def gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """A 1-D Gaussian filter (radius 4 sigma, edges mirrored), as ``scipy.ndimage``'s."""
    radius = int(4 * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    return np.convolve(np.pad(x, radius, mode="symmetric"), k, mode="valid")


def transform(x: np.ndarray, cfg: Config, rng: np.random.Generator) -> np.ndarray:
    """One template -> one example (pad, stretch, scale, translate, noise, shear, subsample)."""
    lo, hi = cfg.padding
    pad = lo + int(rng.random() * (hi - lo + 1))
    x = np.concatenate([x + 1e-8, np.zeros(pad)])  # +1e-8: the template is never 'padding'
    x = _interp(x, cfg.template_len + hi)
    x = x * (1 + cfg.scale_coeff * (rng.random() - 0.5))
    x = np.roll(x, int(rng.integers(cfg.max_translation)))
    noise = gaussian_smooth(cfg.corr_noise_scale * rng.standard_normal(len(x)), 2.0)
    x = np.where(x != 0, x, noise)
    x = x + cfg.iid_noise_scale * rng.standard_normal(len(x))
    x = x - cfg.shear_scale * (rng.random() - 0.5) * np.linspace(-0.5, 0.5, len(x))
    return _interp(x, cfg.final_seq_length)


def make_dataset(cfg: Config | None = None) -> dict[str, np.ndarray]:
    """``{"x", "y", "x_test", "y_test"}``: float32 (N, 40) signals and int64 labels."""
    cfg = cfg or Config()
    rng = np.random.default_rng(cfg.seed)
    tpl = templates()
    per_class = cfg.num_samples // len(tpl)
    xs = np.stack([transform(tpl[c], cfg, rng) for c in range(len(tpl))
                   for _ in range(per_class)])
    ys = np.repeat(np.arange(len(tpl)), per_class)
    order = rng.permutation(len(ys))
    xs, ys = xs[order], ys[order]
    xs = (xs - xs.mean()) / xs.std()
    split = int(len(ys) * cfg.train_split)
    return {"x": xs[:split].astype(np.float32), "y": ys[:split].astype(np.int64),
            "x_test": xs[split:].astype(np.float32), "y_test": ys[split:].astype(np.int64)}


@dataclass(frozen=True)
class Baseline:
    """A published baseline and the model that reproduces it; ``needs``: the ``chainrule.nn``
    layers it uses (the row is shown as pending if one is missing)."""

    label: str
    published: float
    build: Callable[[Any], Any] | None
    needs: tuple[str, ...] = ()


def cnn(nnm: Any) -> Any:
    """The reference code's ConvBase: three strided Conv1d layers (25 channels), a linear head."""
    return nnm.Sequential(
        nnm.Unflatten(1, (1, 40)),
        nnm.Conv1d(1, 25, 5, stride=2, padding=1), nnm.ReLU(),
        nnm.Conv1d(25, 25, 3, stride=2, padding=1), nnm.ReLU(),
        nnm.Conv1d(25, 25, 3, stride=2, padding=1), nnm.ReLU(),
        nnm.Flatten(), nnm.Linear(125, 10))


def gru(nnm: Any) -> Any:
    """The reference code's GRUBase: a bidirectional GRU (6 units) over the 40 positions, every
    step's output into one linear layer."""

    class GRUNet(nnm.Module):  # type: ignore[name-defined, misc]
        def __init__(self) -> None:
            super().__init__()
            self.gru = nnm.GRU(1, 6, batch_first=True, bidirectional=True)
            self.linear = nnm.Linear(2 * 6 * 40, 10)

        def forward(self, x: Any) -> Any:
            out, _ = self.gru(x.reshape(x.shape[0], 40, 1))
            return self.linear(out.reshape(out.shape[0], -1))

    return GRUNet()


RECIPE = Recipe("ce", "adam", 1e-2, 100, 150)
BASELINES = [
    Baseline("logistic regression (linear 40-10)", 0.32, mlp([40, 10], "relu")),
    Baseline("MLP 40-100-100-10, ReLU", 0.68, mlp([40, 100, 100, 10], "relu")),
    Baseline("CNN, 3 conv layers (25 channels)", 0.94, cnn, ("Conv1d",)),
    Baseline("GRU, bidirectional, 6 units", 0.91, gru, ("GRU",)),
]


def plot_examples(data: dict[str, np.ndarray], path: Path) -> None:
    """One training example per class (the paper's Fig. 2, right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 5, figsize=(10, 3.6), sharey=True)  # position up the page
    for c, ax in enumerate(axes.flat):
        i = int(np.flatnonzero(data["y"] == c)[0])
        ax.plot(data["x"][i], np.arange(40), color="black", lw=1.5)
        ax.set_title(str(c))
        ax.set_xticks([])
    fig.suptitle("MNIST-1D, chainrule's generator: a training example per class")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(opts: Options) -> Report:
    """Generate the data, train each ready baseline over the seeds (PyTorch beside)."""
    with Timer() as gen:
        data = make_dataset()
    arrays = (data["x"], data["y"], data["x_test"], data["y_test"])
    if opts.limit:
        arrays = (data["x"][:opts.limit], data["y"][:opts.limit], data["x_test"],
                  data["y_test"])
    recipe = replace(RECIPE, epochs=opts.epochs) if opts.epochs else RECIPE
    seeds = list(range(opts.seeds or 1))
    torch = opts.want_torch()
    report = Report("MNIST-1D (Greydanus 2020): baselines")
    rows = []
    with Timer() as total:
        for b in BASELINES:
            miss = missing_layers(b.needs)
            if miss or b.build is None:
                rows.append([b.label, f"{b.published:.0%}",
                             f"pending: needs nn.{', nn.'.join(miss or b.needs)}", "-", "-",
                             "-"])
                continue
            cs, ts = [], []
            for seed in seeds:
                state = initial_state(b.build, seed)
                cs.append(train_chainrule(recipe, b.build, state, arrays, seed))
                if torch:
                    ts.append(train_torch(recipe, b.build, state, arrays, seed))
            opts.say(f"{b.label}: chainrule {[f'{c.final:.1%}' for c in cs]}"
                     + (f", PyTorch {[f'{t.final:.1%}' for t in ts]}" if ts else ""))
            fmt = "{:.1%}"
            rows.append([b.label, f"{b.published:.0%}", spread([c.final for c in cs], fmt),
                         spread([t.final for t in ts], fmt) if ts else "-",
                         spread([c.seconds for c in cs], "{:.1f} s"),
                         spread([t.seconds for t in ts], "{:.1f} s") if ts else "-"])
            report.data[b.label] = {"chainrule": cs, "torch": ts}
    head = ["model", "published", "chainrule: median [range]", "PyTorch, same weights/batches",
            "chainrule training time", "PyTorch training time"]
    counts = np.bincount(data["y"], minlength=10)
    note = (f"Seeds {seeds[0]}..{seeds[-1]} (initial weights and batch order); data seed 42 "
            f"(generated in {gen.seconds:.2f} s: {len(data['y'])} train, "
            f"{len(data['y_test'])} test, length {data['x'].shape[1]}, train examples per "
            f"class {counts.min()}-{counts.max()}). Adam lr {recipe.lr}, batch "
            f"{recipe.batch_size}, {recipe.epochs} epochs of "
            f"{-(-len(arrays[0]) // recipe.batch_size)} steps; test accuracy after the last "
            "step. The paper's MLP has 100 hidden units in two layers (its code adds a "
            "residual connection around the second; ours is a plain MLP).")
    report.sections.append(table(head, rows) + "\n\n" + note)
    folder = opts.folder()
    if folder is not None and have_matplotlib():
        plot_examples(data, folder / "mnist1d_examples.png")
        report.pictures.append(str(folder / "mnist1d_examples.png"))
    report.seconds = total.seconds
    report.write(folder)
    return report


register(Experiment("mnist1d", "MNIST-1D generator and baselines (logistic, MLP, CNN, GRU)",
                    "Greydanus 2020, arXiv:2011.14439", run, seeded=True,
                    default_seeds=3, parts=("CNN|Conv1d", "GRU|GRU")))
