"""Train an MLP on the bundled 8x8 digits with ``fit``, callbacks and a checkpoint.

Run: ``python examples/fit_digits.py``. The same network as ``chainrule train``, written out:
a model, a loss, an optimiser, data, and ``fit`` running the epochs (shuffling, validation,
early stopping, a checkpoint you can resume from, one progress line per epoch).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import chainrule as cr
from chainrule import nn, optim
from chainrule.data.datasets import load_digits
from chainrule.train import EarlyStopping, ModelCheckpoint, evaluate, fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    train, test = load_digits("train"), load_digits("test")   # (n, 64) pixels in [0, 1]
    cr.manual_seed(a.seed)                                    # the initial weights
    model = nn.MLP([64, 128, 10], activation="relu", dropout=0.1)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=a.epochs)

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "digits.ckpt"
        history = fit(model, loss_fn, optimizer, train, epochs=a.epochs, batch_size=32,
                      val_split=0.1, scheduler=scheduler, seed=a.seed,
                      metrics=("accuracy", "top2_accuracy"),
                      callbacks=[EarlyStopping("val_loss", patience=5,
                                               restore_best_weights=True),
                                 ModelCheckpoint(ckpt, monitor="val_accuracy",
                                                 save_best_only=True)])
        epoch, best = history.best("val_accuracy")
        print(f"best val_accuracy {best:.4f} at epoch {epoch} (checkpoint: {ckpt.name})")

    result = evaluate(model, test, loss_fn, metrics=("accuracy", "confusion_matrix"))
    print(f"test accuracy {result['accuracy']:.4f}, loss {result['loss']:.4f}")
    print("confusion matrix (rows: true digit, columns: predicted):")
    print(result["confusion_matrix"])


if __name__ == "__main__":
    main()
