# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# Snippets as StackOverflow answers write them: .data, new_zeros/new_tensor, .type(),
# requires_grad_, torch.no_grad as a decorator, count parameters, one-hot by scatter,
# accuracy helpers, seeding everything, torch.set_printoptions, isinstance checks.
import random

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def set_seed(seed=42):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def count_parameters(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def accuracy(output, target, topk=(1,)):
    with torch.no_grad():
        maxk = max(topk)
        batch_size = target.size(0)
        _, pred = output.topk(maxk, 1, True, True)
        pred = pred.t()
        correct = pred.eq(target.view(1, -1).expand_as(pred))
        res = []
        for k in topk:
            correct_k = correct[:k].reshape(-1).float().sum(0, keepdim=True)
            res.append(correct_k.mul_(100.0 / batch_size))
        return res


@torch.no_grad()
def predict(model, x):
    return model(x).argmax(-1)


def main():
    set_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x = torch.randn(6, 4)
    out = model(x)
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    top1, top2 = accuracy(out, target, topk=(1, 2))
    w = model[0].weight
    w.data.fill_(0.01)
    b = model[0].bias.data
    b.zero_()
    z = x.new_zeros((2, 2))
    t = x.new_tensor([1, 2])
    o = x.new_ones(3)
    f = x.new_full((2,), 5.0)
    typed = torch.tensor([1, 2, 3]).type(torch.FloatTensor)
    typed2 = torch.ones(2).type(torch.long)
    tname = x.type()
    one_hot = torch.zeros(len(target), 3).scatter_(1, target.unsqueeze(1), 1)
    one_hot2 = F.one_hot(target).float()
    p = torch.zeros(3).requires_grad_()
    preds = predict(model, x)
    q = torch.tensor([0.1234567, 1.0])
    torch.set_printoptions(precision=2)
    s = str(q)
    torch.set_printoptions(precision=4)
    arr = torch.randn(3, 3)
    norm_rows = F.normalize(arr, p=2, dim=1)
    m = nn.Linear(2, 2)
    is_param = isinstance(m.weight, nn.Parameter) and isinstance(m.weight, torch.Tensor)
    clone = x.clone().detach()
    x_cont = x.t().contiguous().view(-1)
    sizes = [p.size() for p in m.parameters()]
    lst = torch.stack([torch.tensor(i) for i in range(3)])
    return {
        "topk": (tuple(top1.shape), float(top2) >= float(top1)),
        "exact_w": w.sum().item(), "exact_b": model[0].bias.abs().sum().item(),
        "exact_new": (z.tolist(), t.tolist(), str(t.dtype), o.tolist(), f.tolist()),
        "exact_typed": (str(typed.dtype), str(typed2.dtype), tname.split(".")[-1] in ("FloatTensor", "float32")),
        "exact_onehot": torch.equal(one_hot, one_hot2),
        "exact_leaf": (p.requires_grad, p.is_leaf), "exact_preds": tuple(preds.shape),
        "exact_printed": s,
        "exact_norm": [round(v, 4) for v in norm_rows.norm(dim=1).tolist()],
        "exact_is_param": is_param,
        "exact_clone": (clone.requires_grad, x_cont.shape[0]),
        "exact_sizes": [tuple(s) for s in sizes],
        "exact_stack": lst.tolist(), "exact_count": count_parameters(model),
    }


if __name__ == "__main__":
    print(main())
