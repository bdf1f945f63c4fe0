# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# nn.ModuleList / ModuleDict / ParameterList / ParameterDict, register_buffer, named_parameters,
# named_modules, children, apply(init_fn) with nn.init.*, parameters_to_vector, freezing layers.
import torch
import torch.nn as nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.lin = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        return self.norm(torch.relu(self.lin(x)) + x)


class Model(nn.Module):
    def __init__(self, dim=8, depth=3):
        super().__init__()
        self.blocks = nn.ModuleList([Block(dim) for _ in range(depth)])
        self.heads = nn.ModuleDict({"cls": nn.Linear(dim, 3), "reg": nn.Linear(dim, 1)})
        self.scales = nn.ParameterList([nn.Parameter(torch.ones(dim)) for _ in range(depth)])
        self.extra = nn.ParameterDict({"temp": nn.Parameter(torch.tensor(1.0))})
        self.register_buffer("running", torch.zeros(dim))
        self.register_buffer("steps", torch.tensor(0), persistent=False)

    def forward(self, x, head="cls"):
        for block, scale in zip(self.blocks, self.scales):
            x = block(x) * scale
        if self.training:
            self.running.mul_(0.9).add_(0.1 * x.mean(0).detach())
            self.steps += 1
        return self.heads[head](x) / self.extra["temp"]


def init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)
        nn.init.zeros_(m.bias)
    elif type(m) == nn.LayerNorm:
        nn.init.constant_(m.weight, 1.0)


def main():
    torch.manual_seed(0)
    model = Model()
    model.apply(init_weights)
    print(model)
    names = [n for n, _ in model.named_parameters()]
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    mods = [n for n, _ in model.named_modules()]
    children = [type(c).__name__ for c in model.children()]
    buffers = dict(model.named_buffers())
    x = torch.randn(4, 8)
    out = model(x)
    out.sum().backward()
    vec = parameters_to_vector(model.parameters())
    vector_to_parameters(torch.zeros_like(vec), model.parameters())
    zeroed = sum(p.abs().sum().item() for p in model.parameters())
    for p in model.blocks[0].parameters():
        p.requires_grad = False
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    model.heads["new"] = nn.Linear(8, 2)
    model.blocks.append(Block(8))
    model.eval()
    sd = model.state_dict()
    for name, module in model.named_children():
        print(name, module.__class__.__name__)
    nn.init.kaiming_normal_(model.heads["cls"].weight, mode="fan_out", nonlinearity="relu")
    nn.init.normal_(model.heads["reg"].weight, mean=0.0, std=0.02)
    nn.init.uniform_(model.heads["new"].weight, -0.1, 0.1)
    nn.init.orthogonal_(model.blocks[1].lin.weight)
    nn.init.trunc_normal_(model.blocks[2].lin.weight, std=0.02)
    return {"exact_names": names, "exact_n_params": n_params, "exact_mods": mods,
            "exact_children": children, "exact_buffers": sorted(buffers),
            "exact_out_shape": tuple(out.shape), "exact_vec": vec.numel(), "exact_zeroed": zeroed,
            "exact_trainable": trainable, "exact_sd_keys": sorted(sd.keys()),
            "exact_steps": int(model.steps), "exact_len": (len(model.blocks), len(model.heads), len(model.scales)),
            "exact_training": (model.training, model.blocks[0].training)}


if __name__ == "__main__":
    print(main())
