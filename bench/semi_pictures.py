"""Pictures for docs/semi_self_supervised.md: denoising-autoencoder reconstructions and a 2-D
PCA projection of contrastive embeddings, on Fashion-MNIST.

    OMP_NUM_THREADS=1 python -m bench.semi_pictures --n 5000 --epochs 3
"""

from __future__ import annotations

import argparse

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.cli.regimes import _augmentations
from chainrule.data.datasets import FashionMNIST
from chainrule.train import semi as S


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--epochs", type=int, default=3)
    a = p.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tr = FashionMNIST(train=True)
    x = (tr.data[:a.n].reshape(a.n, -1) / 255.0).astype(np.float32)
    y = tr.targets[:a.n]
    cr.manual_seed(0)
    enc = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU())
    dec = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 784), nn.Sigmoid())
    S.pretrain_autoencoder(enc, dec, x, epochs=a.epochs, noise_std=0.3)
    noisy = np.clip(x[:8] + 0.3 * np.random.default_rng(0).standard_normal(x[:8].shape), 0, 1)
    with cr.no_grad():
        rec = dec(enc(cr.tensor(noisy.astype(np.float32)))).numpy()
    fig, axes = plt.subplots(3, 8, figsize=(8, 3.2))
    for j in range(8):
        for i, img in enumerate((x[j], noisy[j], rec[j])):
            axes[i, j].imshow(img.reshape(28, 28), cmap="gray", vmin=0, vmax=1)
            axes[i, j].axis("off")
    for i, t in enumerate(("input", "noisy (std 0.3)", "reconstruction")):
        axes[i, 0].set_title(t, fontsize=8, loc="left")
    fig.savefig("docs/images/ssl_reconstructions.png", dpi=100, bbox_inches="tight")

    cr.manual_seed(0)
    enc = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU())
    _, strong = _augmentations([1, 28, 28])
    S.pretrain_contrastive(enc, 128, x, strong, epochs=a.epochs, batch_size=128)
    f = S.features(enc, x[:2000])
    f = f - f.mean(0)
    _, _, vt = np.linalg.svd(f, full_matrices=False)
    z = f @ vt[:2].T
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    sc = ax.scatter(z[:, 0], z[:, 1], c=y[:2000], cmap="tab10", s=4)
    ax.legend(*sc.legend_elements(), fontsize=6, title="class", loc="best")
    ax.set_title("contrastive (SimCLR) features, PCA to 2-D, coloured by class")
    fig.savefig("docs/images/ssl_contrastive_pca.png", dpi=100, bbox_inches="tight")


if __name__ == "__main__":
    main()
