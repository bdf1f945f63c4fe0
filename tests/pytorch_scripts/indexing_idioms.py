# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# Tensor indexing and manipulation idioms from StackOverflow answers and cheat sheets.
import torch


def main():
    r = {}
    x = torch.arange(12).reshape(3, 4)
    r["exact_bool_mask"] = x[x > 5].tolist()
    r["exact_fancy"] = x[[0, 2], [1, 3]].tolist()
    r["exact_rows"] = x[torch.tensor([2, 0])].tolist()
    r["exact_index_select"] = torch.index_select(x, 1, torch.tensor([0, 2])).tolist()
    r["exact_gather"] = torch.gather(x, 1, torch.tensor([[0], [1], [3]])).squeeze(1).tolist()
    onehot = torch.zeros(3, 5).scatter_(1, torch.tensor([[1], [4], [0]]), 1.0)
    r["exact_scatter"] = onehot.tolist()
    r["exact_scatter_add"] = torch.zeros(4).scatter_add_(0, torch.tensor([0, 1, 1, 3]), torch.ones(4)).tolist()
    y = x.float()
    y[y < 3] = 0
    y[:, -1] = -1
    y[1] += 100
    r["exact_setitem"] = y.tolist()
    r["exact_masked_fill"] = x.masked_fill(x % 2 == 0, -1).tolist()
    r["exact_where"] = torch.where(x > 5, x, torch.zeros_like(x)).tolist()
    r["exact_where_scalar"] = torch.where(y > 0, y, 0.0).sum().item()
    r["exact_nonzero"] = torch.nonzero(x > 9).tolist()
    r["exact_where1"] = [t.tolist() for t in torch.where(x > 9)]
    r["exact_clamp"] = x.clamp(2, 8).tolist()
    r["exact_clamp_min"] = torch.clamp(x - 5, min=0).sum().item()
    v = torch.tensor([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    vals, idx = torch.topk(v, 3)
    r["exact_topk"] = (vals.tolist(), idx.tolist())
    s, order = torch.sort(v, descending=True)
    r["exact_sort"] = (s.tolist(), order[:2].tolist())
    r["exact_argsort"] = v.argsort()[-3:].tolist()
    u, counts = torch.unique(torch.tensor([3, 1, 3, 2, 1, 3]), return_counts=True)
    r["exact_unique"] = (u.tolist(), counts.tolist())
    r["exact_unique_inv"] = torch.unique(torch.tensor([5, 7, 5]), return_inverse=True)[1].tolist()
    a, b = torch.ones(2, 3), torch.zeros(2, 3)
    r["exact_cat"] = (tuple(torch.cat([a, b]).shape), tuple(torch.cat((a, b), 1).shape),
                      tuple(torch.stack([a, b]).shape), tuple(torch.stack([a, b], dim=-1).shape))
    r["exact_split"] = [tuple(t.shape) for t in torch.arange(10).split(3)]
    r["exact_split_sizes"] = [t.tolist() for t in torch.arange(6).split([1, 5])]
    r["exact_chunk"] = [t.tolist() for t in torch.arange(7).chunk(3)]
    col = torch.tensor([[1], [2]])
    r["exact_expand"] = col.expand(2, 3).tolist()
    r["exact_expand_neg"] = tuple(col.expand(-1, 4).shape)
    r["exact_repeat"] = torch.tensor([1, 2]).repeat(2, 2).tolist()
    r["exact_repeat_interleave"] = torch.tensor([1, 2]).repeat_interleave(2).tolist()
    A = torch.arange(6.0).reshape(2, 3)
    B = torch.arange(12.0).reshape(3, 4)
    r["exact_einsum"] = torch.einsum("ij,jk->ik", A, B).tolist()
    r["exact_einsum_bt"] = torch.einsum("bi,bi->b", A, A).tolist()
    batch = torch.ones(5, 2, 3)
    r["exact_bmm"] = tuple((batch @ B).shape)
    r["exact_matmul_vec"] = (A @ torch.ones(3)).tolist()
    r["exact_bmm2"] = tuple(torch.bmm(batch, torch.ones(5, 3, 7)).shape)
    r["exact_outer"] = torch.outer(torch.tensor([1., 2.]), torch.tensor([1., 0., 3.])).tolist()
    z = torch.zeros(3)
    z.add_(2).mul_(3).sub_(1).div_(5)
    z.clamp_(max=0.9)
    r["exact_inplace"] = z.tolist()
    r["exact_casts"] = (str(x.to(torch.float64).dtype), str(y.long().dtype), str(y.int().dtype),
                        str((x > 1).dtype), str(x.double().dtype), str(x.half().dtype),
                        str(torch.tensor([1, 2]).dtype), str(torch.tensor([1.0]).dtype), str(x.bool().dtype))
    r["exact_factories"] = (torch.arange(0, 1, 0.25).tolist(), torch.linspace(0, 1, 5).tolist(),
                            torch.full((2, 2), 7).tolist(), torch.eye(3).sum().item(), torch.eye(2, 3).tolist(),
                            torch.zeros_like(A).shape == A.shape, torch.ones(2, 3, dtype=torch.long).dtype == torch.int64)
    r["exact_meta"] = (x.dim(), x.ndim, x.numel(), x.size(1), x.size(), x.shape[-1], len(x), str(x.device))
    r["exact_sum_dims"] = (x.sum(dim=0).tolist(), x.sum(1, keepdim=True).shape, x.float().mean(dim=(0, 1)).item(),
                           x.max().item(), x.max(dim=1).values.tolist(), x.max(1)[1].tolist(), x.argmax().item(),
                           x.float().std().item() > 3, x.prod(1).tolist(), x.cumsum(0)[-1].tolist())
    r["exact_squeeze"] = (tuple(torch.zeros(1, 3, 1).squeeze().shape), tuple(torch.zeros(3).unsqueeze(0).shape),
                          tuple(x[None].shape), tuple(x[:, None, :].shape), tuple(x.t().shape), tuple(x.transpose(0, 1).shape),
                          tuple(x.flatten().shape), tuple(torch.zeros(2, 3, 4).permute(2, 0, 1).shape), tuple(x.view(-1, 2).shape))
    r["exact_flip"] = (x.flip(0)[0].tolist(), torch.flip(x, [1])[0].tolist(), torch.roll(torch.arange(4), 1).tolist())
    r["exact_tril"] = (torch.tril(torch.ones(3, 3)).sum().item(), torch.triu(torch.ones(3, 3), diagonal=1).sum().item())
    r["exact_any_all"] = ((x > 10).any().item(), (x >= 0).all().item(), torch.isnan(torch.tensor([1., float('nan')])).tolist())
    r["exact_print"] = repr(torch.tensor([1, 2, 3]))
    return r


if __name__ == "__main__":
    for k, v in main().items():
        print(k, v)
