# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# Feature extraction with register_forward_hook, forward pre-hooks, tensor.register_hook on
# gradients, retain_grad, freezing a backbone and fine-tuning a new head (transfer learning).
import torch
import torch.nn as nn


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 8), nn.ReLU())
        self.classifier = nn.Linear(8, 5)

    def forward(self, x):
        return self.classifier(self.features(x))


def main():
    torch.manual_seed(0)
    model = Backbone()
    activation = {}

    def get_activation(name):
        def hook(model, input, output):
            activation[name] = output.detach()
        return hook

    h1 = model.features[2].register_forward_hook(get_activation("fc2"))
    calls = []
    h2 = model.register_forward_pre_hook(lambda m, inp: calls.append(inp[0].shape))
    x = torch.randn(3, 6)
    out = model(x)
    h1.remove()
    h2.remove()
    model(x)
    grads = []
    hidden = model.features(x)
    hidden.retain_grad()
    hidden.register_hook(lambda g: grads.append(g.clone()))
    model.classifier(hidden).sum().backward()

    for param in model.parameters():
        param.requires_grad = False
    num_ftrs = model.classifier.in_features
    model.classifier = nn.Linear(num_ftrs, 2)
    optimizer = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.1)
    y = torch.tensor([0, 1, 0])
    for _ in range(20):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    frozen_grad = model.features[0].weight.grad
    return {"exact_act": tuple(activation["fc2"].shape), "exact_calls": [tuple(c) for c in calls],
            "exact_hook_grad": (len(grads), tuple(grads[0].shape), torch.equal(grads[0], hidden.grad)),
            "exact_frozen": frozen_grad is None, "loss": loss.item() < 0.7,
            "exact_trainable": sum(p.numel() for p in model.parameters() if p.requires_grad)}


if __name__ == "__main__":
    print(main())
