"""A small CNN on Fashion-MNIST, read top to bottom: two conv blocks, a classifier, Adam.

    python examples/cnn_fashion_mnist.py              # chainrule, 10 epochs
    python examples/cnn_fashion_mnist.py --torch      # the same script on PyTorch
    python examples/cnn_fashion_mnist.py --epochs 1 --limit 6400   # a quick look

The model code is identical for both frameworks: only the import differs (``nn``, ``F``,
``optim`` come from chainrule or torch). Data: ``apt-get install dataset-fashion-mnist``
(or ``FashionMNIST(download=True)``). Prints test accuracy and seconds per epoch.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from chainrule.data.datasets import FashionMNIST

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--torch", action="store_true", help="run the same model on PyTorch")
ap.add_argument("--epochs", type=int, default=10)
ap.add_argument("--batch-size", type=int, default=64)
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--limit", type=int, default=0, help="use only this many training images")
ap.add_argument("--seed", type=int, default=0)
args = ap.parse_args()

if args.torch:
    import torch as fw
    fw.set_num_threads(1)
else:
    import chainrule as fw
nn, optim = fw.nn, fw.optim
fw.manual_seed(args.seed)

# --- data: uint8 images scaled to [0, 1], shape (N, 1, 28, 28) ------------------------------------
train, test = FashionMNIST(train=True), FashionMNIST(train=False)
mean, std = 0.2860, 0.3530  # Fashion-MNIST's pixel statistics
x_train = ((train.data.astype(np.float32) / 255 - mean) / std)[:, None]
x_test = ((test.data.astype(np.float32) / 255 - mean) / std)[:, None]
y_train, y_test = train.targets, test.targets
if args.limit:
    x_train, y_train = x_train[:args.limit], y_train[:args.limit]


# --- the model ---------------------------------------------------------------------------------
class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
            nn.Linear(128, 10),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


model = Net()
opt = optim.Adam(model.parameters(), lr=args.lr)
loss_fn = nn.CrossEntropyLoss()
rng = np.random.default_rng(args.seed)
print(f"{'torch' if args.torch else 'chainrule'}: {sum(p.numel() for p in model.parameters())} "
      f"parameters, {len(x_train)} training images")


def accuracy(x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    correct = 0
    with fw.no_grad():
        for i in range(0, len(x), 1000):
            logits = model(fw.tensor(x[i:i + 1000]))
            correct += int((logits.argmax(1).numpy() == y[i:i + 1000]).sum())
    model.train()
    return correct / len(x)


# --- training ----------------------------------------------------------------------------------
for epoch in range(1, args.epochs + 1):
    t0 = time.perf_counter()
    order = rng.permutation(len(x_train))
    total = 0.0
    for i in range(0, len(order), args.batch_size):
        idx = order[i:i + args.batch_size]
        xb, yb = fw.tensor(x_train[idx]), fw.tensor(y_train[idx])
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += float(loss.item()) * len(idx)
    seconds = time.perf_counter() - t0
    print(f"epoch {epoch:2d}  loss {total / len(x_train):.4f}  test accuracy "
          f"{100 * accuracy(x_test, y_test):.2f}%  {seconds:.1f} s/epoch", flush=True)
