"""MoE MLP vs dense MLPs on Fashion-MNIST (docs/moe.md).

    OMP_NUM_THREADS=1 python -m bench.moe_compare --train 20000 --epochs 3 --seed 0

Models (Linear 784-128, ReLU, then the middle, ReLU, Linear 128-10):
  moe          middle = MixtureOfExperts(8 experts 128-64-128, k=2), balance weight 0.01
  moe-nobal    the same, balance weight 0 (expert collapse)
  dense-active middle = Linear 128-128, ReLU, Linear 128-128 (the parameters one example uses)
  dense-total  middle = Linear 128-512, ReLU, Linear 512-128 (all the MoE's expert parameters)
Writes a Markdown table and docs/images/moe_*.png (matplotlib).
"""

from __future__ import annotations

import argparse

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.data.datasets import FashionMNIST
from chainrule.train import Callback, evaluate, fit


def build(kind: str) -> nn.Module:
    if kind.startswith("moe"):
        mid = nn.MixtureOfExperts(8, 128, k=2, hidden=64)
    else:
        h = 128 if kind == "dense-active" else 512
        mid = nn.Sequential(nn.Linear(128, h), nn.ReLU(), nn.Linear(h, 128))
    return nn.Sequential(nn.Linear(784, 128), nn.ReLU(), mid, nn.ReLU(), nn.Linear(128, 10))


class Utilisation(Callback):
    def __init__(self, moe: nn.MixtureOfExperts) -> None:
        self.moe, self.per_epoch, self.aux = moe, [], []

    def on_epoch_begin(self, epoch, logs):
        self.moe.reset_utilisation()
        self.batch = []

    def on_batch_end(self, batch, logs):
        self.batch.append(self.moe.balance_loss.item())

    def on_epoch_end(self, epoch, logs):
        self.per_epoch.append(self.moe.utilisation.numpy())
        self.aux.append(float(np.mean(self.batch)))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--train", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--images", default="docs/images")
    a = p.parse_args()
    tr, te = FashionMNIST(train=True), FashionMNIST(train=False)
    xtr = (tr.data[:a.train].reshape(a.train, -1) / 255.0).astype(np.float32)
    ytr = tr.targets[:a.train].astype(np.int64)
    xte = (te.data.reshape(len(te.data), -1) / 255.0).astype(np.float32)
    yte = te.targets.astype(np.int64)
    rows, heat, util = [], {}, {}
    for kind in ("moe", "moe-nobal", "dense-active", "dense-total"):
        cr.manual_seed(a.seed)
        model = build(kind)
        moe = model[2] if kind.startswith("moe") else None
        cbs = [Utilisation(moe)] if moe is not None else []
        n_params = sum(p.numel() for p in model.parameters())
        active = n_params - (6 * sum(p.numel() for p in moe.experts[0].parameters())
                             if moe is not None else 0)
        h = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3),
                (xtr, ytr), epochs=a.epochs, batch_size=64, seed=a.seed, progress=False,
                callbacks=cbs, aux_loss_weight=0.0 if kind == "moe-nobal" else 0.01)
        acc = evaluate(model, (xte, yte), nn.CrossEntropyLoss())["accuracy"]
        t = float(np.median(h.history["time"]))
        u = ""
        if moe is not None:
            model.eval()
            counts = np.zeros((10, 8))
            with cr.no_grad():
                for i in range(0, len(xte), 1000):
                    model(cr.tensor(xte[i:i + 1000]))
                    e = moe.last_routing.experts.numpy()
                    for s in range(2):
                        np.add.at(counts, (yte[i:i + 1000], e[:, s]), 1)
            heat[kind] = counts
            util[kind] = (np.array(cbs[0].per_epoch), cbs[0].aux)
            last = cbs[0].per_epoch[-1]
            u = f"max {last.max():.2f}, min {last.min():.3f}, idle experts {(last < 0.01).sum()}"
        rows.append((kind, n_params, active, acc, t, u))
        print(f"{kind:13s} params {n_params:7d} active {active:7d} acc {acc:.4f} "
              f"s/epoch {t:.2f} {u}", flush=True)
    print("\n| model | parameters | active per example | test accuracy | s/epoch | "
          "utilisation (last epoch) |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:,} | {r[2]:,} | {100 * r[3]:.2f}% | {r[4]:.2f} | {r[5]} |")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    classes = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
               "Bag", "Boot"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, kind in zip(axes, ("moe", "moe-nobal")):
        c = heat[kind] / heat[kind].sum(1, keepdims=True)
        im = ax.imshow(c, cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(8))
        ax.set_yticks(range(10), classes)
        ax.set_xlabel("expert")
        ax.set_title(f"{kind}: share of each class's\nassignments per expert (test set)")
    fig.colorbar(im, ax=axes, shrink=0.8)
    fig.savefig(f"{a.images}/moe_class_expert.png", dpi=100, bbox_inches="tight")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for kind, ls in (("moe", "-"), ("moe-nobal", "--")):
        u, aux = util[kind]
        for e in range(8):
            axes[0].plot(range(1, len(u) + 1), u[:, e], ls, color=f"C{e}",
                         label=f"expert {e}" if kind == "moe" else None)
        axes[1].plot(range(1, len(aux) + 1), aux, ls, label=kind)
    axes[0].set_title("utilisation per epoch (solid: balance loss, dashed: none)")
    axes[0].set_xlabel("epoch")
    axes[0].legend(fontsize=6, ncol=2)
    axes[1].set_title("balance loss E sum f P (1 = balanced)")
    axes[1].set_xlabel("epoch")
    axes[1].legend()
    fig.savefig(f"{a.images}/moe_utilisation.png", dpi=100, bbox_inches="tight")


if __name__ == "__main__":
    main()
