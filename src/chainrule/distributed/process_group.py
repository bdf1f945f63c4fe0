"""The process group: MPI's ``COMM_WORLD``, collectives on tensors, and the fault handling.

Collectives are started non-blocking (``Iallreduce``, ``Ibcast``, ``Iallgather``, ``Ibarrier``)
and waited for by :meth:`Work.wait`, which polls with a deadline: past the timeout the rank prints
what it was waiting for and aborts the job. ``init_process_group`` also installs an excepthook
that prints the failing rank's traceback and calls ``MPI.COMM_WORLD.Abort(1)``, so mpirun ends
every rank, non-zero, instead of leaving the others waiting in a collective.
"""

from __future__ import annotations

import datetime
import enum
import os
import sys
import threading
import time
import traceback
from typing import Any

import numpy as np

from chainrule.autograd.tensor import Tensor

__all__ = [
    "ReduceOp", "Work", "all_gather", "all_gather_object", "all_reduce", "barrier", "broadcast",
    "broadcast_object_list", "destroy_process_group", "get_backend", "get_rank", "get_world_size",
    "init_process_group", "is_available", "is_initialized", "is_main_process", "launched_by_mpi",
]

DEFAULT_TIMEOUT_S = 300.0
_MPI_ENV = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


class ReduceOp(enum.Enum):
    """How ``all_reduce`` combines the ranks' tensors (PyTorch's ``dist.ReduceOp``)."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MAX = "max"
    MIN = "min"


class _State:
    comm: Any = None
    mpi: Any = None
    timeout: float = DEFAULT_TIMEOUT_S
    calls: int = 0
    prev_hook: Any = None


_S = _State()


def is_available() -> bool:
    """True when mpi4py (and so an MPI library) can be imported."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def launched_by_mpi() -> bool:
    """True when this process was started by ``mpirun``/``mpiexec`` (its environment says so)."""
    return any(k in os.environ for k in _MPI_ENV)


def _import_mpi() -> Any:
    try:
        import mpi4py
    except ImportError:
        raise RuntimeError(
            "init_process_group(backend='mpi') needs mpi4py and an MPI library: "
            "pip install 'chainrule[mpi]' and (Debian) apt-get install openmpi-bin "
            "libopenmpi-dev") from None
    mpi4py.rc.threads = True
    mpi4py.rc.thread_level = "serialized"
    from mpi4py import MPI
    return MPI


def init_process_group(backend: str = "mpi", init_method: str | None = None,
                       timeout: datetime.timedelta | float | None = None, world_size: int = -1,
                       rank: int = -1, **kwargs: Any) -> None:
    """Join the job's process group (every rank of the ``mpirun`` that started this process).

    ``backend`` must be ``"mpi"``; ``world_size``/``rank`` are taken from MPI (given values must
    agree). ``timeout`` (a ``timedelta`` or seconds; default ``CHAINRULE_DIST_TIMEOUT`` or 300 s)
    bounds every collective wait. A plain ``python script.py`` is a job of one rank.
    """
    if backend not in ("mpi", "MPI"):
        raise ValueError(f"init_process_group: chainrule's backend is 'mpi' (through mpi4py), got "
                         f"{backend!r}; run the script under mpirun -n N")
    if _S.comm is not None:
        raise RuntimeError("init_process_group: the default process group is already "
                           "initialized; call destroy_process_group() first")
    MPI = _import_mpi()
    comm = MPI.COMM_WORLD
    for name, given, actual in (("world_size", world_size, comm.Get_size()),
                                ("rank", rank, comm.Get_rank())):
        if given not in (-1, None) and given != actual:
            raise ValueError(f"init_process_group: {name}={given} but MPI says {actual}: "
                             "mpirun decides the ranks (mpirun -n N)")
    if timeout is None:
        timeout = float(os.environ.get("CHAINRULE_DIST_TIMEOUT", DEFAULT_TIMEOUT_S))
    elif isinstance(timeout, datetime.timedelta):
        timeout = timeout.total_seconds()
    if not timeout > 0:
        raise ValueError(f"init_process_group: timeout must be positive, got {timeout}")
    _S.comm, _S.mpi, _S.timeout, _S.calls = comm, MPI, float(timeout), 0
    if comm.Get_size() > 1:
        _install_fault_handlers()


def destroy_process_group(group: Any = None) -> None:
    """Leave the process group (MPI itself is finalised when Python exits)."""
    _require("destroy_process_group")
    if _S.prev_hook is not None:
        sys.excepthook, threading.excepthook = _S.prev_hook
        _S.prev_hook = None
    _S.comm = _S.mpi = None


def is_initialized() -> bool:
    """True between ``init_process_group`` and ``destroy_process_group``."""
    return _S.comm is not None


def _require(where: str) -> Any:
    if _S.comm is None:
        raise RuntimeError(f"{where}: Default process group has not been initialized, please make "
                           "sure to call init_process_group (under mpirun -n N)")
    return _S.comm


def get_backend(group: Any = None) -> str:
    _require("get_backend")
    return "mpi"


def get_rank(group: Any = None) -> int:
    """This process's rank, 0 .. world_size - 1 (0 when no process group is initialized)."""
    return 0 if _S.comm is None else int(_S.comm.Get_rank())


def get_world_size(group: Any = None) -> int:
    """The number of ranks (1 when no process group is initialized)."""
    return 1 if _S.comm is None else int(_S.comm.Get_size())


def is_main_process() -> bool:
    """True on rank 0, and in a run without a process group: where logs and files are written."""
    return get_rank() == 0


# -- faults -----------------------------------------------------------------------------------

def _abort(message: str) -> None:
    """Print ``message`` (naming this rank) and end the whole job with a non-zero status."""
    sys.stderr.write(f"\nchainrule.distributed: rank {get_rank()} of {get_world_size()}: "
                     f"{message}\nchainrule.distributed: aborting the job (all ranks)\n")
    sys.stderr.flush()
    sys.stdout.flush()
    if _S.comm is not None:
        _S.comm.Abort(1)
    os._exit(1)


def _install_fault_handlers() -> None:
    _S.prev_hook = (sys.excepthook, threading.excepthook)

    def hook(kind: type, value: BaseException, tb: Any) -> None:
        text = "".join(traceback.format_exception(kind, value, tb))
        _abort(f"raised {kind.__name__}: {value}\n{text.rstrip()}")

    def thread_hook(args: Any) -> None:
        hook(args.exc_type, args.exc_value, args.exc_traceback)

    sys.excepthook = hook
    threading.excepthook = thread_hook


# -- waiting --------------------------------------------------------------------------------------

class Work:
    """A started collective (``async_op=True``): ``wait()`` (with the group's timeout) and
    ``is_completed()``. ``finish`` runs once the data has arrived (e.g. AVG's division)."""

    def __init__(self, request: Any, what: str, finish: Any = None) -> None:
        _S.calls += 1
        self.request, self.what, self.finish, self.number = request, what, finish, _S.calls
        self._done = False

    def is_completed(self) -> bool:
        if not self._done and self.request.Test():
            self._complete()
        return self._done

    def _complete(self) -> None:
        self._done = True
        if self.finish is not None:
            self.finish()

    def wait(self, timeout: datetime.timedelta | float | None = None) -> bool:
        """Block until the collective completes; past the timeout, abort the job loudly."""
        if self._done:
            return True
        limit = _S.timeout if timeout is None else (
            timeout.total_seconds() if isinstance(timeout, datetime.timedelta) else timeout)
        req, t0 = self.request, time.monotonic()
        spins, pause = 0, 2e-5
        while not req.Test():
            spins += 1
            if spins > 200:
                time.sleep(pause)
                pause = min(pause * 2, 1e-3)
                if time.monotonic() - t0 > limit:
                    _abort(f"{self.what} (collective #{self.number}) did not complete within "
                           f"{limit:g} s: another rank died, hangs, or did not make the same "
                           "collective call (the timeout is init_process_group(timeout=...) or "
                           "CHAINRULE_DIST_TIMEOUT)")
        self._complete()
        return True


def wait_all(works: list[Work]) -> None:
    for w in works:
        w.wait()


def _mpi_op(op: ReduceOp) -> Any:
    MPI = _S.mpi
    if not isinstance(op, ReduceOp):
        raise TypeError(f"all_reduce: op must be a dist.ReduceOp (SUM, AVG, PRODUCT, MAX, MIN), "
                        f"got {op!r}")
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
            ReduceOp.MAX: MPI.MAX, ReduceOp.MIN: MPI.MIN}[op]


def _array(t: Any, where: str) -> np.ndarray:
    if not isinstance(t, Tensor):
        raise TypeError(f"{where}: expected a chainrule Tensor, got {type(t).__name__}")
    a = t._data
    if not (isinstance(a, np.ndarray) and a.flags.c_contiguous and a.flags.writeable):
        a = np.array(a, order="C")
        t._data = a
    return a


def _bump(t: Tensor) -> None:
    t._vc[0] += 1  # an in-place change: autograd's saved-tensor checks see it


def iallreduce_array(buf: np.ndarray, op: ReduceOp, what: str) -> Work:
    """Start an in-place allreduce of a contiguous array (AVG divides when it completes)."""
    comm = _require("all_reduce")
    req = comm.Iallreduce(_S.mpi.IN_PLACE, buf, op=_mpi_op(op))
    finish = None
    if op is ReduceOp.AVG:
        n = comm.Get_size()

        def finish() -> None:
            if np.issubdtype(buf.dtype, np.integer):
                np.floor_divide(buf, n, out=buf)
            else:
                np.divide(buf, n, out=buf)
    return Work(req, what, finish)


def iallgather_array(buf: np.ndarray, what: str) -> tuple[Work, np.ndarray]:
    """Start gathering every rank's contiguous ``buf`` (same shape and dtype on each) into a new
    ``(world_size, *buf.shape)`` array, filled once the returned ``Work`` completes."""
    comm = _require("all_gather")
    out = np.empty((comm.Get_size(), *buf.shape), dtype=buf.dtype)
    return Work(comm.Iallgather(buf, out), what), out


# -- collectives on tensors ---------------------------------------------------------------------

def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group: Any = None,
               async_op: bool = False) -> Work | None:
    """Combine ``tensor`` over every rank, in place (SUM, AVG, PRODUCT, MAX or MIN)."""
    a = _array(tensor, "all_reduce")
    w = iallreduce_array(a, op, f"all_reduce({op.name if isinstance(op, ReduceOp) else op}, "
                                f"shape {tuple(a.shape)})")
    _bump(tensor)
    if async_op:
        return w
    w.wait()
    return None


def broadcast(tensor: Tensor, src: int = 0, group: Any = None,
              async_op: bool = False) -> Work | None:
    """Overwrite ``tensor`` on every rank with rank ``src``'s, in place."""
    comm = _require("broadcast")
    if not 0 <= src < comm.Get_size():
        raise ValueError(f"broadcast: src={src} is not a rank of this job "
                         f"(0..{comm.Get_size() - 1})")
    a = _array(tensor, "broadcast")
    w = Work(comm.Ibcast(a, root=src), f"broadcast(src={src}, shape {tuple(a.shape)})")
    _bump(tensor)
    if async_op:
        return w
    w.wait()
    return None


def all_gather(tensor_list: list[Tensor], tensor: Tensor, group: Any = None,
               async_op: bool = False) -> Work | None:
    """Fill ``tensor_list[r]`` with rank r's ``tensor`` (same shape and dtype on every rank)."""
    comm = _require("all_gather")
    n = comm.Get_size()
    if not isinstance(tensor_list, list) or len(tensor_list) != n:
        raise ValueError(f"all_gather: tensor_list must be a list of world_size={n} tensors, got "
                         f"{type(tensor_list).__name__} of length {len(tensor_list)}")
    a = _array(tensor, "all_gather")
    for i, t in enumerate(tensor_list):
        if not isinstance(t, Tensor) or tuple(t.shape) != a.shape or t._data.dtype != a.dtype:
            raise ValueError(f"all_gather: tensor_list[{i}] must have the input's shape "
                             f"{tuple(a.shape)} and dtype {a.dtype}")
    w, out = iallgather_array(a, f"all_gather(shape {tuple(a.shape)})")

    def finish() -> None:
        for i, t in enumerate(tensor_list):
            t._data = out[i].copy()
            _bump(t)

    w.finish = finish
    if async_op:
        return w
    w.wait()
    return None


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> Work | None:
    """Wait until every rank has reached this call."""
    comm = _require("barrier")
    w = Work(comm.Ibarrier(), "barrier()")
    if async_op:
        return w
    w.wait()
    return None


def _bytes_collective(data: bytes | None, src: int | None, what: str) -> list[bytes]:
    """Broadcast (``src``) or all-gather (``src=None``) byte strings, with the timeout."""
    comm = _require(what)
    n = comm.Get_size()
    size = np.array([0 if data is None else len(data)], dtype=np.int64)
    if src is None:
        sizes = np.empty(n, dtype=np.int64)
        Work(comm.Iallgather(size, sizes), f"{what} (sizes)").wait()
        buf = np.empty(int(sizes.sum()), dtype=np.uint8)
        mine = np.frombuffer(data or b"", dtype=np.uint8)
        counts = sizes.astype(np.int64)
        displs = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        Work(comm.Iallgatherv(mine, [buf, (counts, displs), _S.mpi.BYTE]), what).wait()
        return [buf[d:d + c].tobytes() for d, c in zip(displs, counts)]
    Work(comm.Ibcast(size, root=src), f"{what} (size)").wait()
    buf = np.frombuffer(data, dtype=np.uint8).copy() if comm.Get_rank() == src else \
        np.empty(int(size[0]), dtype=np.uint8)
    Work(comm.Ibcast(buf, root=src), what).wait()
    return [buf.tobytes()]


def broadcast_object_list(object_list: list[Any], src: int = 0, group: Any = None) -> None:
    """Replace ``object_list``'s items on every rank with rank ``src``'s (pickled)."""
    import pickle

    data = pickle.dumps(list(object_list)) if get_rank() == src else None
    got = pickle.loads(_bytes_collective(data, src, "broadcast_object_list")[0])
    object_list[:] = got


def all_gather_object(object_list: list[Any], obj: Any, group: Any = None) -> None:
    """``object_list[r]`` = rank r's ``obj`` (pickled), on every rank."""
    import pickle

    n = get_world_size()
    if len(object_list) != n:
        raise ValueError(f"all_gather_object: object_list must have world_size={n} items")
    parts = _bytes_collective(pickle.dumps(obj), None, "all_gather_object")
    object_list[:] = [pickle.loads(p) for p in parts]
