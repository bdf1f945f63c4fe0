"""Run by tests/test_distributed.py under ``mpirun -n N`` (or plain python: one rank).

``python ddp_worker.py OUT MODE [STEPS]``: trains a small float64 MLP data-parallel on fixed global
batches (rank r takes its 1/N slice of each) and rank 0 writes the final weights to OUT (.npz).
MODE: ``plain`` (one backward per step), ``accum`` (two micro-batches per step, the first under
``no_sync()``), ``die`` (rank 1 kills itself with SIGKILL at step 2), ``raise`` (rank 1 raises
at step 2), ``hang`` (rank 1 sleeps forever at step 2; the collective timeout must fire).
"""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np

import chainrule as cr
import chainrule.distributed as dist
from chainrule.nn.parallel import DistributedDataParallel as DDP


def main() -> None:
    out, mode = sys.argv[1], sys.argv[2]
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    dist.init_process_group("mpi", timeout=float(os.environ.get("WORKER_TIMEOUT", 300)))
    rank, world = dist.get_rank(), dist.get_world_size()
    cr.manual_seed(rank)  # different initial weights per rank: DDP must broadcast rank 0's
    model = cr.nn.Sequential(cr.nn.Linear(6, 16), cr.nn.Tanh(), cr.nn.Linear(16, 16),
                             cr.nn.ReLU(), cr.nn.Linear(16, 3)).double()
    if rank == 0:
        cr.manual_seed(0)
        model = cr.nn.Sequential(cr.nn.Linear(6, 16), cr.nn.Tanh(), cr.nn.Linear(16, 16),
                                 cr.nn.ReLU(), cr.nn.Linear(16, 3)).double()
    ddp = DDP(model, bucket_cap_mb=0.001)  # ~1 KB buckets: several Iallreduce per step
    opt = cr.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(42)
    global_batch = 24
    for step in range(steps):
        x = rng.standard_normal((global_batch, 6))
        y = rng.integers(0, 3, global_batch)
        if step == 2 and rank == 1 and mode in ("die", "raise", "hang"):
            if mode == "die":
                os.kill(os.getpid(), signal.SIGKILL)
            if mode == "raise":
                raise RuntimeError("worker failed on purpose at step 2")
            time.sleep(3600)
        per = global_batch // world
        xs, ys = x[rank * per:(rank + 1) * per], y[rank * per:(rank + 1) * per]
        opt.zero_grad()
        if mode == "accum":
            half = per // 2
            with ddp.no_sync():
                loss = cr.nn.functional.cross_entropy(ddp(cr.tensor(xs[:half])),
                                                      cr.tensor(ys[:half])) * 0.5
                loss.backward()
            loss = cr.nn.functional.cross_entropy(ddp(cr.tensor(xs[half:])),
                                                  cr.tensor(ys[half:])) * 0.5
            loss.backward()
        else:
            loss = cr.nn.functional.cross_entropy(ddp(cr.tensor(xs)), cr.tensor(ys))
            loss.backward()
        opt.step()
    if rank == 0:
        np.savez(out, **{k: v.numpy() for k, v in ddp.module.state_dict().items()},
                 allreduces=ddp.stats["allreduces"])
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
