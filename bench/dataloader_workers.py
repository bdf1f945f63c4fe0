"""DataLoader worker processes: batches per second with num_workers 0, 1, 2 beside PyTorch's.

    OMP_NUM_THREADS=1 python -m bench.dataloader_workers [--batches 60] [--repeats 3]

The dataset does per-sample work the way augmentation does (a padded random crop, a flip and
noise on a 28x28 image, plus ~0.3 ms of extra arithmetic), so producing a batch is real work
that workers can share. Prints the median batches/s of each configuration over the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def make_items(n: int) -> np.ndarray:
    return np.random.default_rng(0).random((n, 28, 28), dtype=np.float32)


def augment(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    padded = np.pad(img, 4)
    i, j = rng.integers(0, 9, 2)
    out = padded[i:i + 28, j:j + 28]
    if rng.random() < 0.5:
        out = out[:, ::-1]
    out = out + rng.normal(0, 0.1, out.shape).astype(np.float32)
    for _ in range(20):  # stands for decoding / heavier transforms
        out = np.tanh(out * 1.01)
    return np.ascontiguousarray(out, dtype=np.float32)


def rate(loader: object, batches: int) -> float:
    it = iter(loader)
    next(it)  # workers started and warm
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    dt = time.perf_counter() - start
    del it
    return batches / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    data = make_items(64 * (args.batches + 2))

    import chainrule as cr
    from chainrule.utils.data import DataLoader, Dataset

    class Aug(Dataset):
        def __len__(self) -> int:
            return len(data)

        def __getitem__(self, i: int):
            return cr.from_numpy(augment(data[i], np.random.default_rng(i))), i % 10

    rows = {}
    for nw in (0, 1, 2):
        rows[f"chainrule num_workers={nw}"] = [
            rate(DataLoader(Aug(), batch_size=64, num_workers=nw), args.batches)
            for _ in range(args.repeats)]
    try:
        import torch
        from torch.utils.data import DataLoader as TorchLoader
        from torch.utils.data import Dataset as TorchDataset

        class TorchAug(TorchDataset):
            def __len__(self) -> int:
                return len(data)

            def __getitem__(self, i: int):
                return torch.from_numpy(augment(data[i], np.random.default_rng(i))), i % 10

        for nw in (0, 2):
            rows[f"torch num_workers={nw}"] = [
                rate(TorchLoader(TorchAug(), batch_size=64, num_workers=nw), args.batches)
                for _ in range(args.repeats)]
    except ImportError:
        print("torch not installed: its rows are skipped")
    base = statistics.median(rows["chainrule num_workers=0"])
    print("| loader | batches/s (median) | vs chainrule num_workers=0 |")
    print("|---|---|---|")
    for name, rs in rows.items():
        m = statistics.median(rs)
        print(f"| {name} | {m:.1f} | {m / base:.2f}x |")


if __name__ == "__main__":
    main()
