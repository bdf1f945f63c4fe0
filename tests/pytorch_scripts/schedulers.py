# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# Training loops with StepLR, ReduceLROnPlateau, OneCycleLR, MultiStepLR, LambdaLR, ExponentialLR,
# gradient clipping, weight_decay, zero_grad(set_to_none=True), param groups.
import torch
import torch.nn as nn
import torch.optim as optim
from torch.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau, StepLR


def data():
    X = torch.randn(64, 10)
    y = X @ torch.randn(10, 1) + 0.1
    return X, y


def train(model, optimizer, scheduler, X, y, epochs, plateau=False, per_batch=False):
    lrs = []
    loss_fn = nn.MSELoss()
    for epoch in range(epochs):
        for i in range(0, len(X), 16):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(X[i:i + 16]), y[i:i + 16])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            optimizer.step()
            if per_batch:
                scheduler.step()
        if plateau:
            scheduler.step(loss.item())
        elif not per_batch:
            scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    return lrs, loss.item()


def main():
    torch.manual_seed(0)
    X, y = data()
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 1))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    step_lrs, _ = train(model, opt, StepLR(opt, step_size=3, gamma=0.5), X, y, 7)
    print("StepLR", step_lrs)

    opt = optim.Adam(model.parameters(), lr=1e-3)
    sched = ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=0)
    for val_loss in [1.0, 0.9, 0.95, 0.96, 0.5]:
        sched.step(val_loss)
    plateau_lr = opt.param_groups[0]["lr"]

    opt = optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    onecycle = OneCycleLR(opt, max_lr=0.01, steps_per_epoch=4, epochs=3)
    cyc_lrs, _ = train(model, opt, onecycle, X, y, 3, per_batch=True)
    print("OneCycle", [round(l, 6) for l in cyc_lrs], onecycle.get_last_lr())

    opt = optim.SGD([
        {"params": model[0].parameters()},
        {"params": model[2].parameters(), "lr": 1e-3},
    ], lr=1e-2, momentum=0.9)
    ms = optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 4], gamma=0.1)
    ms_lrs, _ = train(model, opt, ms, X, y, 5)
    lam = optim.lr_scheduler.LambdaLR(opt, lr_lambda=lambda epoch: 0.95 ** epoch)
    lam.step()
    exp = optim.lr_scheduler.ExponentialLR(optim.SGD(model.parameters(), lr=1.0), gamma=0.5)
    exp.optimizer.step()
    exp.step()
    cos_opt = optim.SGD(model.parameters(), lr=1.0)
    cos = optim.lr_scheduler.CosineAnnealingLR(cos_opt, T_max=10, eta_min=0.0)
    for _ in range(5):
        cos_opt.step()
        cos.step()
    nn.utils.clip_grad_value_(model.parameters(), clip_value=0.5)
    grads_none = all(p.grad is None for p in model.parameters()) if False else None
    opt.zero_grad(set_to_none=True)
    print([g["lr"] for g in opt.param_groups])
    return {
        "exact_step": [round(l, 8) for l in step_lrs],
        "exact_plateau": round(plateau_lr, 10),
        "exact_onecycle": [round(l, 8) for l in cyc_lrs],
        "exact_multistep": [round(g["lr"], 10) for g in opt.param_groups],
        "exact_exp": exp.get_last_lr(),
        "exact_cos": round(cos.get_last_lr()[0], 8),
        "exact_none": all(p.grad is None for p in model.parameters()),
        "exact_groups": len(opt.param_groups),
    }


if __name__ == "__main__":
    print(main())
