# ruff: noqa  (written as PyTorch users write scripts, not in this project's style)
# A custom Dataset returning tuples and dicts; DataLoader with shuffle, batch_size, drop_last;
# random_split, Subset, ConcatDataset, TensorDataset, a custom collate_fn.
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset, TensorDataset, random_split


class ToyDataset(Dataset):
    def __init__(self, n=50, transform=None):
        self.x = torch.arange(n * 3, dtype=torch.float32).view(n, 3)
        self.y = torch.arange(n) % 4
        self.transform = transform

    def __len__(self):
        return len(self.x)

    def __getitem__(self, idx):
        sample = self.x[idx]
        if self.transform:
            sample = self.transform(sample)
        return sample, self.y[idx]


class DictDataset(Dataset):
    def __init__(self, n=10):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"input": torch.full((2,), float(i)), "label": i, "name": f"item{i}"}


def pad_collate(batch):
    seqs = [torch.ones(int(n)) for n, _ in batch]
    lengths = torch.tensor([len(s) for s in seqs])
    padded = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True)
    return padded, lengths


def main():
    torch.manual_seed(0)
    ds = ToyDataset(transform=lambda t: t / 10)
    loader = DataLoader(ds, batch_size=8, shuffle=True, drop_last=True)
    shapes = []
    for xb, yb in loader:
        shapes.append((tuple(xb.shape), tuple(yb.shape), str(yb.dtype)))
    print(len(loader), shapes[0])

    train_ds, val_ds = random_split(ds, [40, 10], generator=torch.Generator().manual_seed(42))
    print(len(train_ds), len(val_ds))
    sub = Subset(ds, list(range(5)))
    both = ConcatDataset([sub, TensorDataset(torch.zeros(3, 3), torch.zeros(3, dtype=torch.long))])
    print(len(both), both[6][0])
    dl = DataLoader(DictDataset(), batch_size=4)
    batch = next(iter(dl))
    print(batch["input"].shape, batch["label"], batch["name"])

    lengths_ds = TensorDataset(torch.tensor([3, 1, 2, 5]), torch.zeros(4))
    padded, lengths = next(iter(DataLoader(lengths_ds, batch_size=4, collate_fn=pad_collate)))
    seen = sorted(int(y) for _, yb in DataLoader(ds, batch_size=16, shuffle=True) for y in yb)
    frac = [0.8, 0.2]
    a, b = random_split(range(10), frac)
    return {
        "exact_len_loader": len(loader),
        "exact_shapes": shapes[0],
        "exact_nbatches": len(shapes),
        "exact_split": (len(train_ds), len(val_ds)),
        "exact_concat": (len(both), both[6][0].tolist(), both[2][1].item()),
        "exact_batch": (tuple(batch["input"].shape), batch["label"].tolist(), list(batch["name"])),
        "exact_padded": (tuple(padded.shape), lengths.tolist(), padded.sum().item()),
        "exact_seen": seen == sorted(int(v) for v in ds.y),
        "exact_frac": (len(a), len(b)),
        "exact_sub_item": sub[1][0].tolist(),
    }


if __name__ == "__main__":
    print(main())
