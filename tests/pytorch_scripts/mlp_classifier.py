# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# An MLP classifier: train()/eval(), no_grad, argmax accuracy, a confusion matrix,
# torch.save(state_dict) / load_state_dict(torch.load(path)).
import os
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Net(nn.Module):
    def __init__(self, in_features=4, hidden=32, num_classes=3):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.bn = nn.BatchNorm1d(hidden)
        self.dropout = nn.Dropout(0.2)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = F.relu(self.bn(self.fc1(x)))
        x = self.dropout(x)
        return self.fc2(x)


def make_data(n=300):
    centers = torch.tensor([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0]])
    y = torch.randint(0, 3, (n,))
    X = centers[y] + 0.5 * torch.randn(n, 4)
    return X, y


def evaluate(model, loader):
    model.eval()
    correct, total = 0, 0
    confusion = torch.zeros(3, 3, dtype=torch.int64)
    with torch.no_grad():
        for X, y in loader:
            X, y = X.to(device), y.to(device)
            out = model(X)
            _, predicted = torch.max(out.data, 1)
            total += y.size(0)
            correct += (predicted == y).sum().item()
            for t, p in zip(y.view(-1), predicted.view(-1)):
                confusion[t.long(), p.long()] += 1
    return correct / total, confusion


def main():
    torch.manual_seed(0)
    X, y = make_data()
    train_loader = DataLoader(TensorDataset(X[:240], y[:240]), batch_size=32, shuffle=True)
    test_loader = DataLoader(TensorDataset(X[240:], y[240:]), batch_size=32)
    model = Net().to(device)
    print(model)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    for epoch in range(10):
        model.train()
        running_loss = 0.0
        for i, (inputs, labels) in enumerate(train_loader):
            inputs, labels = inputs.to(device), labels.to(device)
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item() * inputs.size(0)
        epoch_loss = running_loss / len(train_loader.dataset)
        if epoch % 3 == 0:
            print(f"[{epoch + 1}] loss: {epoch_loss:.3f}")
    acc, confusion = evaluate(model, test_loader)
    print(f"Accuracy of the network: {100 * acc:.1f} %")
    print(confusion)
    per_class = confusion.diag().float() / confusion.sum(1).float()

    path = os.path.join(tempfile.mkdtemp(), "model.pth")
    torch.save(model.state_dict(), path)
    model2 = Net()
    model2.load_state_dict(torch.load(path))
    model2.eval()
    with torch.no_grad():
        same = torch.allclose(model(X), model2(X))
        probs = F.softmax(model2(X[:5]), dim=1)
        preds = probs.argmax(dim=1)
    torch.save({"epoch": 10, "model_state_dict": model.state_dict(),
                "optimizer_state_dict": optimizer.state_dict(), "loss": epoch_loss}, path)
    checkpoint = torch.load(path, weights_only=False)
    optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
    return {"acc": acc > 0.9, "same": same, "exact_conf_total": confusion.sum().item(),
            "exact_probs_sum": [round(p, 4) for p in probs.sum(1).tolist()],
            "exact_preds_shape": tuple(preds.shape), "per_class": per_class.shape[0],
            "exact_keys": sorted(model2.state_dict().keys()),
            "exact_epoch": checkpoint["epoch"]}


if __name__ == "__main__":
    print(main())
