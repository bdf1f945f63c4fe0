"""Data-parallel scaling of W2 (MLP 784-1024-1024-10 ReLU) and a LeNet-5-like CNN on MPI.

Run one configuration under mpirun (every rank runs this; rank 0 prints one JSON line)::

    OMP_NUM_THREADS=1 mpirun -n 2 --oversubscribe --mca btl self,vader \\
        python -m bench.distributed --framework chainrule     # or: --framework torch (gloo)

``--model w2`` (default: global batch 256) or ``--model cnn`` (LeNet-5-like on 1x28x28: conv
5x5 6 pad 2, ReLU, max-pool 2, conv 5x5 16, ReLU, max-pool 2, Linear 400-120-84-10 with ReLU;
global batch 64); cross-entropy, SGD, float32. ``--bucket-cap-mb`` is passed to both DDPs.
The global batch is split across the ranks (strong scaling: the same global batches, so
1 -> 2 ranks halves each rank's work). Reports the median (and mean) ms per step over
``--steps`` steps after warm-up, the gradient bytes each rank sends into allreduce per step,
and a standalone allreduce of 8 bytes and of the whole gradient (median) for the ring model
in docs/distributed.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from itertools import pairwise

import numpy as np

SIZES = (784, 1024, 1024, 10)
GLOBAL_BATCH = {"w2": 256, "cnn": 64}


def build_model(nn, model: str):
    """W2 or the CNN, from ``nn`` (``chainrule.nn`` or ``torch.nn``: the same names)."""
    if model == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    layers: list = []
    for a, b in pairwise(SIZES):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def batch(args: argparse.Namespace, rank: int, world: int) -> tuple[np.ndarray, np.ndarray]:
    per = args.global_batch // world
    rng = np.random.default_rng(rank)
    shape = (per, 1, 28, 28) if args.model == "cnn" else (per, SIZES[0])
    return rng.standard_normal(shape).astype(np.float32), rng.integers(0, 10, per)


def _median_ms(fn, steps: int, warm: int = 3) -> float:
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    _median_ms.mean = 1e3 * float(np.mean(ts))  # the last call's mean, beside the median
    return 1e3 * float(np.median(ts))


def run_chainrule(args: argparse.Namespace) -> dict:
    import chainrule as cr
    import chainrule.distributed as dist
    from chainrule.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    cr.manual_seed(0)
    model = DDP(build_model(cr.nn, args.model), bucket_cap_mb=args.bucket_cap_mb)
    opt = cr.optim.SGD(model.parameters(), lr=0.01)
    xa, ya = batch(args, rank, world)
    x, y = cr.tensor(xa), cr.tensor(ya)

    def step() -> None:
        opt.zero_grad()
        cr.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    ms = _median_ms(step, args.steps)
    mean = _median_ms.mean
    calls = args.steps + 3
    grad_bytes = model.stats["bytes"] / calls
    small = cr.zeros(2, dtype=cr.float32)
    big = cr.zeros(int(grad_bytes // 4), dtype=cr.float32)
    small_ms = _median_ms(lambda: dist.all_reduce(small), 50) if world > 1 else 0.0
    big_ms = _median_ms(lambda: dist.all_reduce(big), 10) if world > 1 else 0.0
    return {"rank": rank, "world": world, "ms_per_step": ms, "ms_per_step_mean": mean,
            "grad_bytes": grad_bytes,
            "buckets_per_step": model.stats["allreduces"] / calls,
            "allreduce_8B_ms": small_ms, "allreduce_grad_ms": big_ms}


def run_torch(args: argparse.Namespace) -> dict:
    import torch
    import torch.distributed as tdist
    from torch.nn.parallel import DistributedDataParallel as TDDP

    torch.set_num_threads(1)
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", 0)))
    world = int(os.environ.get("OMPI_COMM_WORLD_SIZE", os.environ.get("PMI_SIZE", 1)))
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29533")
    tdist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    model = TDDP(build_model(torch.nn, args.model), bucket_cap_mb=args.bucket_cap_mb)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    xa, ya = batch(args, rank, world)
    x, y = torch.from_numpy(xa), torch.from_numpy(ya)

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    ms = _median_ms(step, args.steps)
    mean = _median_ms.mean
    n = sum(p.numel() for p in model.parameters())
    big = torch.zeros(n)
    small = torch.zeros(2)
    small_ms = _median_ms(lambda: tdist.all_reduce(small), 50) if world > 1 else 0.0
    big_ms = _median_ms(lambda: tdist.all_reduce(big), 10) if world > 1 else 0.0
    tdist.barrier()  # gloo's teardown can abort a rank that leaves while another still sends
    tdist.destroy_process_group()
    return {"rank": rank, "world": world, "ms_per_step": ms, "ms_per_step_mean": mean,
            "grad_bytes": 4.0 * n,
            "allreduce_8B_ms": small_ms, "allreduce_grad_ms": big_ms}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--framework", choices=("chainrule", "torch"), default="chainrule")
    p.add_argument("--model", choices=("w2", "cnn"), default="w2")
    p.add_argument("--global-batch", type=int, default=None,
                   help="split across the ranks (default: 256 for w2, 64 for cnn)")
    p.add_argument("--bucket-cap-mb", type=float, default=25.0)
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args()
    if args.global_batch is None:
        args.global_batch = GLOBAL_BATCH[args.model]
    out = run_chainrule(args) if args.framework == "chainrule" else run_torch(args)
    if out["rank"] == 0:
        print(json.dumps({"framework": args.framework, "model": args.model,
                          "global_batch": args.global_batch,
                          "bucket_cap_mb": args.bucket_cap_mb, **out}), flush=True)


if __name__ == "__main__":
    main()
