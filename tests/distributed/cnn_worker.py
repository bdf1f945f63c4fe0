"""Run by tests/test_distributed.py under ``mpirun -n N`` (or plain python: one process).

``python cnn_worker.py OUT MODE [STEPS]`` trains a small float64 CNN on fixed global batches
(rank r takes its 1/N slice; the second half of each batch is shifted, so the ranks' shards have
different statistics) and rank 0 writes the final state_dict, an eval output and a log to OUT.
MODE:

- ``single``: one process, plain BatchNorm on the whole global batch (the reference);
- ``sync``: ``SyncBatchNorm.convert_sync_batchnorm`` + DistributedDataParallel;
- ``local``: plain BatchNorm + DDP (each rank's own batch statistics: must differ);
- ``buckets:CAP``: a CNN without BatchNorm under DDP(bucket_cap_mb=CAP), logging, for the first
  backward, the observer's node events and when each bucket's Iallreduce started.
"""

from __future__ import annotations

import sys

import numpy as np

import chainrule as cr
import chainrule.distributed as dist
from chainrule.distributed import process_group as pg
from chainrule.nn.parallel import DistributedDataParallel as DDP

nn = cr.nn


def bn_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64, 8), nn.BatchNorm1d(8, momentum=None), nn.Tanh(),
        nn.Linear(8, 3)).double()


def plain_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 8, 3, padding=1),
        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32, 16), nn.ReLU(),
        nn.Linear(16, 3)).double()


def main() -> None:
    out, mode = sys.argv[1], sys.argv[2]
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    distributed = mode != "single"
    if distributed:
        dist.init_process_group("mpi", timeout=60.0)
    rank, world = dist.get_rank(), dist.get_world_size()
    cr.manual_seed(0)
    model = plain_cnn() if mode.startswith("buckets") else bn_model()
    log: dict[str, list] = {"events": [], "launches": []}
    if mode == "sync":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        assert sum(isinstance(m, nn.SyncBatchNorm) for m in model.modules()) == 2
    net = model
    if distributed:
        cap = float(mode.split(":")[1]) if mode.startswith("buckets") else 25.0
        net = DDP(model, bucket_cap_mb=cap)
    opt = cr.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(3)
    global_batch = 16
    per = global_batch // world
    for step in range(steps):
        x = rng.standard_normal((global_batch, 1, 8, 8))
        x[global_batch // 2:] = 1.5 + 2.0 * x[global_batch // 2:]
        y = rng.integers(0, 3, global_batch)
        xs, ys = x[rank * per:(rank + 1) * per], y[rank * per:(rank + 1) * per]
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(cr.tensor(xs)), cr.tensor(ys))
        if step == 0 and mode.startswith("buckets"):
            record_first_backward(loss, log)
        else:
            loss.backward()
        opt.step()
    model.eval()
    with cr.no_grad():
        evaluated = model(cr.tensor(np.random.default_rng(9).standard_normal((5, 1, 8, 8))))
    if rank == 0:
        state = {k: v.numpy() for k, v in model.state_dict().items()}
        extra = {}
        if distributed:
            extra = {"buckets": len(net._buckets), "allreduces": net.stats["allreduces"],
                     "events": np.array(log["events"], dtype=str),
                     "launches": np.array(log["launches"], dtype=np.int64).reshape(-1, 2)}
        np.savez(out, **state, eval_output=evaluated.numpy(), **extra)
    if distributed:
        dist.barrier()
        dist.destroy_process_group()


def record_first_backward(loss: cr.Tensor, log: dict) -> None:
    """Backward with an observer that logs every node run, and each bucket launch as
    (bucket index, how many nodes had run when it started)."""
    start = pg.iallreduce_array

    def launch(buf, op, what):  # DDP calls pg.iallreduce_array once per bucket
        log["launches"].append((int(what.split("bucket ")[1].split()[0]), len(log["events"])))
        return start(buf, op, what)

    pg.iallreduce_array = launch
    try:
        with cr.autograd.observe(lambda ev: log["events"].append(ev.node.name)):
            loss.backward()
    finally:
        pg.iallreduce_array = start


if __name__ == "__main__":
    main()
