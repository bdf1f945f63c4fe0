# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# The "performance" boilerplate of a modern training script: mixed precision that switches
# itself off without a GPU (autocast(enabled=use_amp), GradScaler(enabled=use_amp)), gradient
# clipping on unscaled gradients, activation checkpointing of residual blocks, a profiled step,
# plus an eval pass under CPU float16 autocast and a GradScaler that really scales on the CPU.
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile, record_function
from torch.utils.checkpoint import checkpoint


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc1 = nn.Linear(d, 2 * d)
        self.fc2 = nn.Linear(2 * d, d)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        return x + self.fc2(self.drop(F.gelu(self.fc1(x))))


class Net(nn.Module):
    def __init__(self, d_in=16, d=32, depth=3, classes=4, use_checkpoint=True):
        super().__init__()
        self.inp = nn.Linear(d_in, d)
        self.blocks = nn.ModuleList([Block(d) for _ in range(depth)])
        self.head = nn.Linear(d, classes)
        self.use_checkpoint = use_checkpoint

    def forward(self, x):
        h = self.inp(x)
        for blk in self.blocks:
            if self.use_checkpoint and self.training:
                h = checkpoint(blk, h, use_reentrant=False)
            else:
                h = blk(h)
        return self.head(h)


def make_data(n=256):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 16, generator=g)
    y = (X[:, 0] > 0).long() + 2 * (X[:, 1] > 0).long()
    return X, y


def gradients(model, x, y, seed):
    model.zero_grad()
    torch.manual_seed(seed)
    F.cross_entropy(model(x), y).backward()
    return [p.grad.clone() for p in model.parameters()]


def main():
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    use_amp = device == "cuda"
    X, y = make_data()
    model = Net().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    scaler = torch.amp.GradScaler(device, enabled=use_amp)
    losses = []
    for epoch in range(6):
        model.train()
        for i in range(0, len(X), 32):
            xb, yb = X[i:i + 32].to(device), y[i:i + 32].to(device)
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device, dtype=torch.float16, enabled=use_amp):
                logits = model(xb)
                loss = F.cross_entropy(logits, yb)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            scaler.step(opt)
            scaler.update()
            losses.append(loss.item())

    # checkpointing changes memory, not gradients (dropout included: the RNG state is replayed)
    plain = Net(use_checkpoint=False)
    plain.load_state_dict(model.state_dict())
    plain.train()
    g_ckpt = gradients(model, X[:64], y[:64], seed=1)
    g_plain = gradients(plain, X[:64], y[:64], seed=1)
    same_grads = all(torch.allclose(a, b) for a, b in zip(g_ckpt, g_plain))

    # one profiled training step
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        with record_function("train_step"):
            opt.zero_grad()
            F.cross_entropy(model(X[:32]), y[:32]).backward()
            opt.step()
    table = prof.key_averages().table(sort_by="cpu_time_total", row_limit=8)
    names = {evt.key for evt in prof.key_averages()}

    # evaluation in float16 on the CPU
    model.eval()
    with torch.no_grad():
        full = model(X).argmax(1)
        with torch.autocast(device_type="cpu", dtype=torch.float16):
            half_logits = model(X)
    agree = (half_logits.argmax(1) == full).float().mean().item()
    acc = (full == y).float().mean().item()

    # a GradScaler that really scales (CPU): the scale doubles every 2 good steps
    cpu_scaler = torch.amp.GradScaler("cpu", init_scale=2.0**8, growth_interval=2)
    scales = []
    for i in range(5):
        opt.zero_grad()
        cpu_scaler.scale(F.cross_entropy(model(X[:32]), y[:32])).backward()
        cpu_scaler.step(opt)
        cpu_scaler.update()
        scales.append(cpu_scaler.get_scale())

    return {
        "loss_went_down": sum(losses[-8:]) < sum(losses[:8]),
        "learned": acc > 0.8,
        "exact_scaler_enabled": scaler.is_enabled(),
        "exact_scale_without_amp": scaler.get_scale(),
        "checkpoint_gives_the_same_gradients": same_grads,
        "profiled_the_step": "train_step" in names and len(names) > 5,
        "exact_table_columns": [c for c in ("Self CPU %", "CPU total", "# of Calls") if c in table],
        "exact_half_dtype": str(half_logits.dtype),
        "half_agrees_with_float32": agree > 0.95,
        "exact_scale_trajectory": scales,
        "exact_scaler_state": sorted(cpu_scaler.state_dict()),
    }
