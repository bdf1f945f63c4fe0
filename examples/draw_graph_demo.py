"""Draw the computation graph of a small MLP's loss, with values or gradients on every node.

Run: ``python examples/draw_graph_demo.py [--out docs/images]``. Writes ``graph_mlp.svg`` (values),
``graph_mlp_grads.svg`` and ``.html`` (gradients) and, when a renderer is available (cairosvg or a
headless Chromium), ``graph_mlp_grads.png``. See docs/graphs.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import chainrule as cr
from chainrule import nn
from chainrule.viz import draw


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/images")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    x = cr.randn(16, 4)
    y = cr.randint(0, 3, (16,))
    loss = nn.CrossEntropyLoss()(model(x), y) + 1e-3 * (model[0].weight ** 2).sum()

    print(draw(loss, params=model).save(out / "graph_mlp.svg"))
    grads = draw(loss, params=model, show="grads")
    print(grads.save(out / "graph_mlp_grads.svg"))
    print(grads.save(out / "graph_mlp_grads.html"))
    try:
        print(grads.save(out / "graph_mlp_grads.png"))
    except RuntimeError as e:
        print(e)


if __name__ == "__main__":
    main()
