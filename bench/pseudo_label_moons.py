"""Pseudo-labelling against supervised-only on two moons with 10 labels, over seeds, with each
ingredient of the recipe taken away in turn (docs/semi_self_supervised.md):

    OMP_NUM_THREADS=1 python -m bench.pseudo_label_moons --seeds 10

1,000 training points (10 labelled, 5 per class; the labelled subset and the initial weights
change with the seed), 200 test points, noise 0.1, MLP 2-32-32-2, Adam 3e-3, batches of 10
labelled + 70 unlabelled, 67 epochs of the unlabelled data (1,005 steps). Supervised-only:
the same MLP on the 10 labels, 200 epochs of batch 10.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.data.augment import GaussianNoise, labelled_indices
from chainrule.data.datasets.synthetic import moons
from chainrule.train import evaluate, fit
from chainrule.train import semi as S

# name -> PseudoLabel keyword arguments (noise: the std of the GaussianNoise augmentation)
RECIPES: dict[str, dict[str, Any]] = {
    "recipe (noise 0.3, threshold 0.95, ramp 0-400 to 3)": {},
    "without the noise": {"noise": 0.0},
    "without the ramp (weight 3 from step 0)": {"rampup": (0, 0)},
    "Lee's T1 = 100, T2 = 600 steps": {"rampup": (100, 600)},
    "Lee's ramp, threshold 0 (every argmax)": {"rampup": (100, 600), "threshold": 0.0},
    "threshold 0.7": {"threshold": 0.7},
    "before: no noise, threshold 0.95, weight 1, no ramp": {
        "noise": 0.0, "rampup": (0, 0), "weight": 1.0},
}


def moons_split(seed: int) -> tuple[np.ndarray, ...]:
    """(x_labelled, y_labelled, x_unlabelled, x_test, y_test): the same 1,200 points, standardised,
    with the 10 labelled ones (5 per class) drawn by ``seed``."""
    x, y = moons(1200, noise=0.1, seed=0).tensors
    x, y = x.detach().numpy().astype(np.float32), y.detach().numpy().astype(np.int64).reshape(-1)
    x = (x - x.mean(0)) / x.std(0)
    lab, unl = labelled_indices(y[:1000], 10, seed=seed)
    return x[:1000][lab], y[:1000][lab], x[:1000][unl], x[1000:], y[1000:]


def encoder() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    return evaluate(model, (x, y), nn.CrossEntropyLoss())["accuracy"]


def supervised(seed: int) -> float:
    xl, yl, _, xte, yte = moons_split(seed)
    cr.manual_seed(seed)
    return accuracy(S.fine_tune(encoder(), 32, xl, yl, 2, epochs=200, batch_size=10), xte, yte)


def pseudo_label(seed: int, noise: float = 0.3, epochs: int = 67, **kw: Any) -> S.PseudoLabel:
    """A ``PseudoLabel`` trained on ``moons_split(seed)`` (its ``test_accuracy`` set)."""
    xl, yl, xu, xte, yte = moons_split(seed)
    cr.manual_seed(seed)
    kw = {"threshold": 0.95, "weight": 3.0, "rampup": (0, 400), **kw}
    m = S.PseudoLabel(nn.Sequential(encoder(), nn.Linear(32, 2)),
                      augment=GaussianNoise(noise) if noise else None, **kw)
    m.history = fit(m, nn.CrossEntropyLoss(), optim.Adam(m.parameters(), lr=3e-3),
                    S.SemiBatches(xl, yl, xu, 10, 7), epochs=epochs, progress=False)
    m.test_accuracy = accuracy(m, xte, yte)
    return m


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    a = p.parse_args()
    seeds = range(a.seeds)
    sup = [supervised(s) for s in seeds]
    print(f"| regime | mean test accuracy ({a.seeds} seeds) | min | max |\n|---|---|---|---|")
    print(f"| supervised only | {np.mean(sup):.2%} | {min(sup):.1%} | {max(sup):.1%} |")
    for name, kw in RECIPES.items():
        t = time.perf_counter()
        acc = [pseudo_label(s, **kw).test_accuracy for s in seeds]
        print(f"| {name} | {np.mean(acc):.2%} | {min(acc):.1%} | {max(acc):.1%} |"
              f"  ({time.perf_counter() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
