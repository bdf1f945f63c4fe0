# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# Binary logistic regression with BCEWithLogitsLoss on two Gaussian blobs.
import torch
from torch import nn


def main():
    torch.manual_seed(1)
    n = 200
    X = torch.cat([torch.randn(n, 2) + 2, torch.randn(n, 2) - 2], dim=0)
    y = torch.cat([torch.ones(n), torch.zeros(n)]).unsqueeze(1)
    model = nn.Linear(2, 1)
    loss_fn = nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for epoch in range(100):
        logits = model(X)
        loss = loss_fn(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if epoch % 25 == 0:
            print(f"Epoch {epoch}: loss={loss.item():.4f}")
    with torch.no_grad():
        probs = torch.sigmoid(model(X))
        preds = (probs > 0.5).float()
        acc = (preds == y).float().mean().item()
        also = (torch.round(probs) == y).sum().item() / y.shape[0]
    print(f"accuracy: {acc:.3f}")
    # the same with BCELoss on sigmoid outputs and pos_weight
    crit = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([2.0]))
    l2 = crit(model(X), y)
    l3 = nn.BCELoss()(torch.sigmoid(model(X)), y)
    l4 = nn.functional.binary_cross_entropy_with_logits(model(X).squeeze(), y.squeeze(), reduction='sum')
    return {"acc": acc > 0.95, "also": also > 0.95, "loss": loss.item() < 0.2,
            "l2": l2.item() > l3.item(), "l4_scalar": l4.dim(),
            "exact_pred_dtype": str(preds.dtype)}


if __name__ == "__main__":
    print(main())
