"""Vanishing gradients, seen: a deep sigmoid MLP against the same depth with ReLU and He init.

Run: ``python examples/gradient_flow_demo.py [--steps 60] [--out docs/images]``. Both networks
have 10 hidden layers of 64 units and are trained with plain SGD on the bundled 8x8 digits;
``record_gradient_flow`` records per-layer gradient and activation statistics at every step,
prints a table and a verdict for each, and writes the figures (see docs/gradient_flow.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import chainrule as cr
from chainrule import nn
from chainrule.data.datasets import load_digits
from chainrule.viz import record_gradient_flow


def deep_mlp(activation: type, he_init: bool, depth: int = 10, width: int = 64) -> nn.Module:
    """``depth`` hidden Linear+activation layers of ``width`` units, then a 10-way Linear."""
    layers: list[nn.Module] = []
    d = 64
    for _ in range(depth):
        lin = nn.Linear(d, width)
        if he_init:
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            nn.init.zeros_(lin.bias)
        layers += [lin, activation()]
        d = width
    layers.append(nn.Linear(d, 10))
    return nn.Sequential(*layers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/images")
    a = ap.parse_args()

    x, y = load_digits("train").tensors              # (1438, 64) pixels in [0, 1], labels
    for name, act, he in (("sigmoid", nn.Sigmoid, False), ("relu_he", nn.ReLU, True)):
        cr.manual_seed(a.seed)
        model = deep_mlp(act, he)
        flow = record_gradient_flow(model, nn.CrossEntropyLoss(), (x, y), steps=a.steps,
                                    lr=a.lr, batch_size=64)
        title = f"10 x 64 {act.__name__}" + (" + He init" if he else " (default init)")
        print(f"== {title}: loss {flow.losses[0]:.3f} -> {flow.losses[-1]:.3f} in {a.steps} "
              f"steps\n{flow.table()}\n\nverdict: {flow.verdict()}\n")
        for p in flow.plot(Path(a.out), prefix=f"gradflow_{name}", title=title):
            print("wrote", p)


if __name__ == "__main__":
    main()
