# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# Linear regression: nn.Linear + MSELoss + SGD, logging loss.item() every so often.
import torch
import torch.nn as nn

torch.manual_seed(42)


class LinearRegressionModel(nn.Module):
    def __init__(self, input_dim, output_dim):
        super(LinearRegressionModel, self).__init__()
        self.linear = nn.Linear(input_dim, output_dim)

    def forward(self, x):
        out = self.linear(x)
        return out


def main():
    x_train = torch.linspace(0, 10, 100).reshape(-1, 1)
    y_train = 2 * x_train + 1 + 0.1 * torch.randn(x_train.size())
    model = LinearRegressionModel(1, 1)
    criterion = nn.MSELoss()
    learning_rate = 0.01
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)
    epochs = 1000
    losses = []
    for epoch in range(epochs):
        optimizer.zero_grad()
        outputs = model(x_train)
        loss = criterion(outputs, y_train)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if (epoch + 1) % 200 == 0:
            print('epoch {}, loss {:.4f}'.format(epoch + 1, loss.item()))
    predicted = model(x_train).detach().numpy()
    w, b = model.linear.weight.item(), model.linear.bias.item()
    print(f"w = {w:.3f}, b = {b:.3f}")
    with torch.no_grad():
        pred = model(torch.Tensor([[4.0]]))
    print("predict (after training)", 4, pred.item())
    return {"w": round(w, 1), "b": round(b, 0), "first": losses[0], "last": losses[-1],
            "exact_pred_shape": predicted.shape}


if __name__ == "__main__":
    print(main())
