"""Data-parallel scaling of W2 (MLP 784-1024-1024-10 ReLU, cross-entropy, SGD) on MPI.

Run one configuration under mpirun (every rank runs this; rank 0 prints one JSON line)::

    OMP_NUM_THREADS=1 mpirun -n 2 --oversubscribe --mca btl self,vader \\
        python -m bench.distributed --framework chainrule     # or: --framework torch (gloo)

``--global-batch 256`` is split across the ranks (strong scaling: the same global batches, so
1 -> 2 ranks halves each rank's work). Reports the median ms per step over ``--steps`` steps
after warm-up, the gradient bytes each rank sends into allreduce per step, and a standalone
allreduce of 8 bytes and of the whole gradient (median) for the ring model in
docs/distributed.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from itertools import pairwise

import numpy as np

SIZES = (784, 1024, 1024, 10)


def _median_ms(fn, steps: int, warm: int = 3) -> float:
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(ts))


def run_chainrule(args: argparse.Namespace) -> dict:
    import chainrule as cr
    import chainrule.distributed as dist
    from chainrule.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    cr.manual_seed(0)
    layers: list = []
    for a, b in pairwise(SIZES):
        layers += [cr.nn.Linear(a, b), cr.nn.ReLU()]
    model = DDP(cr.nn.Sequential(*layers[:-1]))
    opt = cr.optim.SGD(model.parameters(), lr=0.01)
    per = args.global_batch // world
    rng = np.random.default_rng(rank)
    x = cr.tensor(rng.standard_normal((per, SIZES[0])).astype(np.float32))
    y = cr.tensor(rng.integers(0, SIZES[-1], per))

    def step() -> None:
        opt.zero_grad()
        cr.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    ms = _median_ms(step, args.steps)
    calls = args.steps + 3
    grad_bytes = model.stats["bytes"] / calls
    small = cr.zeros(2, dtype=cr.float32)
    big = cr.zeros(int(grad_bytes // 4), dtype=cr.float32)
    small_ms = _median_ms(lambda: dist.all_reduce(small), 50) if world > 1 else 0.0
    big_ms = _median_ms(lambda: dist.all_reduce(big), 10) if world > 1 else 0.0
    return {"rank": rank, "world": world, "ms_per_step": ms, "grad_bytes": grad_bytes,
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
    layers: list = []
    for a, b in pairwise(SIZES):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    model = TDDP(torch.nn.Sequential(*layers[:-1]))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    per = args.global_batch // world
    rng = np.random.default_rng(rank)
    x = torch.from_numpy(rng.standard_normal((per, SIZES[0])).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, SIZES[-1], per))

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    ms = _median_ms(step, args.steps)
    n = sum(p.numel() for p in model.parameters())
    big = torch.zeros(n)
    big_ms = _median_ms(lambda: tdist.all_reduce(big), 10) if world > 1 else 0.0
    tdist.destroy_process_group()
    return {"rank": rank, "world": world, "ms_per_step": ms, "grad_bytes": 4.0 * n,
            "allreduce_grad_ms": big_ms}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--framework", choices=("chainrule", "torch"), default="chainrule")
    p.add_argument("--global-batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=20)
    args = p.parse_args()
    out = run_chainrule(args) if args.framework == "chainrule" else run_torch(args)
    if out["rank"] == 0:
        print(json.dumps({"framework": args.framework, **out}), flush=True)


if __name__ == "__main__":
    main()
