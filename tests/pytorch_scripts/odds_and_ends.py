# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# Calls that scripts make around their models: devices, modes, typed tensors, NumPy-style
# reductions, norms, hooks, functional calls, schedulers.
import torch
import torch.nn as nn
import torch.optim as optim


def main():
    torch.set_default_device("cpu")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)).to(device)
    seen = {}

    def record(module, grad_input, grad_output):
        seen["grad_output"] = grad_output[0].shape

    model[2].register_full_backward_hook(record)
    x = torch.randn(5, 3)
    y = torch.LongTensor([0, 1, 1, 0, 1])
    opt = optim.NAdam(model.parameters(), lr=1e-2)
    sched = optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=5)
    for step in range(10):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    with torch.inference_mode():
        logits = model(x)
    assert not logits.requires_grad
    assert logits.sum(axis=1, keepdims=True).shape == (5, 1)
    assert torch.allclose(torch.linalg.norm(x), x.norm())
    assert torch.equal(y, torch.tensor([0, 1, 1, 0, 1]))
    assert isinstance(y, torch.LongTensor) and y.nelement() == 5
    noise = torch.randn_like(x) + torch.rand_like(x)
    idx = torch.randint(5, (3,))
    params = {k: v.detach() for k, v in model.named_parameters()}
    out = torch.func.functional_call(model, params, (x,))
    assert torch.allclose(out, logits)
    per_row = torch.vmap(lambda r: (r * r).sum())(x)
    assert per_row.shape == (5,)
    return float(loss.item()), seen["grad_output"], tuple(noise.shape), tuple(idx.shape)
