# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# Train/validation loop with an EarlyStopping helper that keeps the best weights
# (copy.deepcopy(model.state_dict())), a validation split, and accuracy bookkeeping.
import copy

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset, random_split


class EarlyStopping:
    def __init__(self, patience=3, min_delta=0.0):
        self.patience = patience
        self.min_delta = min_delta
        self.counter = 0
        self.best_loss = np.inf
        self.best_state = None
        self.early_stop = False

    def __call__(self, val_loss, model):
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss = val_loss
            self.best_state = copy.deepcopy(model.state_dict())
            self.counter = 0
        else:
            self.counter += 1
            if self.counter >= self.patience:
                self.early_stop = True


def main():
    torch.manual_seed(0)
    X = torch.randn(200, 5)
    y = (X[:, 0] + X[:, 1] > 0).long()
    full = TensorDataset(X, y)
    train_set, val_set = random_split(full, [160, 40])
    train_loader = DataLoader(train_set, batch_size=16, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=40)
    model = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 2))
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-2)
    stopper = EarlyStopping(patience=3)
    history = {"train_loss": [], "val_loss": [], "val_acc": []}
    for epoch in range(50):
        model.train()
        total = 0.0
        for xb, yb in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(xb)
        history["train_loss"].append(total / len(train_set))
        model.eval()
        val_loss, correct = 0.0, 0
        with torch.no_grad():
            for xb, yb in val_loader:
                out = model(xb)
                val_loss += criterion(out, yb).item() * len(xb)
                correct += (out.argmax(dim=1) == yb).sum().item()
        val_loss /= len(val_set)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(correct / len(val_set))
        stopper(val_loss, model)
        if stopper.early_stop:
            print(f"early stop at epoch {epoch}")
            break
    model.load_state_dict(stopper.best_state)
    best = copy.deepcopy(model)
    with torch.no_grad():
        acc = (best(X).argmax(1) == y).float().mean().item()
    print(f"best val loss {stopper.best_loss:.4f}, acc {acc:.3f}")
    return {"acc": acc > 0.9, "stopped_or_ran": len(history["val_loss"]) > 3,
            "exact_best_type": type(stopper.best_state).__name__ in ("OrderedDict", "dict"),
            "exact_independent": best[0].weight is not model[0].weight}


if __name__ == "__main__":
    print(main())
