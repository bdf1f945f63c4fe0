"""Data-parallel training on MPI (through mpi4py), with PyTorch's ``torch.distributed`` names.

::

    import chainrule.distributed as dist
    dist.init_process_group("mpi")                 # under: mpirun -n 4 python train.py
    rank, world = dist.get_rank(), dist.get_world_size()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)       # in place, as in PyTorch
    model = cr.nn.parallel.DistributedDataParallel(model)

Install with ``pip install chainrule[mpi]`` plus an MPI library (Debian: ``openmpi-bin``).
Every collective waits with a timeout (``init_process_group(timeout=...)`` or the environment
variable ``CHAINRULE_DIST_TIMEOUT`` in seconds): a rank that dies, hangs or skips a collective
stops the whole job with a message naming the rank, never a silent hang. An exception that
escapes on any rank is printed with the rank's number and aborts the job
(``MPI.COMM_WORLD.Abort``). See docs/distributed.md.
"""

from chainrule.distributed.process_group import (
    ReduceOp,
    Work,
    all_gather,
    all_gather_object,
    all_reduce,
    barrier,
    broadcast,
    broadcast_object_list,
    destroy_process_group,
    get_backend,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
    is_main_process,
    launched_by_mpi,
)

__all__ = [
    "ReduceOp", "Work", "all_gather", "all_gather_object", "all_reduce", "barrier", "broadcast",
    "broadcast_object_list", "destroy_process_group", "get_backend", "get_rank", "get_world_size",
    "init_process_group", "is_available", "is_initialized", "is_main_process", "launched_by_mpi",
]
