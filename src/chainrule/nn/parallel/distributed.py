"""``DistributedDataParallel``: each rank runs the model on its shard, gradients are averaged.

How the gradients travel (PyTorch's design, on MPI):

1. At construction, rank 0's parameters and buffers are broadcast to every rank, and the
   parameters are grouped into buckets of about ``bucket_cap_mb`` MB, in reverse registration
   order (roughly the order backward produces their gradients).
2. A training forward records which graph nodes consume each parameter (a walk over the
   output's graph) and subscribes to backward through ``cr.autograd.observe``: as each node's
   vjp delivers a parameter's gradient, a count goes down; when a parameter's gradient is
   complete it is copied into its bucket, and a full bucket starts a non-blocking
   ``Iallreduce`` at once, while backward goes on computing the layers below.
3. Each parameter's gradient hook (``Tensor.register_hook``; leaf hooks run once, at the end of
   backward) waits for the reductions, divides by the world size and hands back the averaged
   gradient, so ``.grad`` holds the average when ``backward()`` returns: before the step.

``no_sync()`` skips step 2-3 (local accumulation); the first synchronised backward after it
averages the accumulated gradients. Buffers (BatchNorm running statistics) are broadcast from
rank 0 before each training forward when ``broadcast_buffers=True``, as in PyTorch; batch
statistics are each rank's own (PyTorch's default) unless the model uses ``nn.SyncBatchNorm``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from chainrule import backend
from chainrule.autograd.engine import observe
from chainrule.autograd.function import tensors_in as _tensors
from chainrule.autograd.grad_mode import is_grad_enabled
from chainrule.autograd.tensor import Tensor
from chainrule.distributed import process_group as pg
from chainrule.nn.module import Module

__all__ = ["DistributedDataParallel"]


class _Bucket:
    def __init__(self, index: int, params: list[int], dtype: Any, sizes: list[int]) -> None:
        self.index, self.params, self.dtype = index, params, dtype
        self.offsets = [0, *accumulate(sizes)]
        self.buffer = backend.xp.zeros(self.offsets[-1], dtype=dtype)  # what MPI sends
        self.pending = len(params)
        self.work: pg.Work | None = None


class DistributedDataParallel(Module):
    """Wraps ``module`` for data-parallel training on every rank of the process group.

    Args:
        module: the model; reachable as ``.module`` (save ``ddp.module.state_dict()``).
        broadcast_buffers: broadcast rank 0's buffers before each training forward.
        bucket_cap_mb: the size of a gradient bucket (one ``Iallreduce`` each).
        find_unused_parameters: accepted; parameters without a gradient are always handled
            (they are reduced with zeros).
        device_ids, output_device, dim, process_group, gradient_as_bucket_view, static_graph:
            accepted for PyTorch code and ignored (CPU, one process group).
    """

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 dim: int = 0, broadcast_buffers: bool = True, process_group: Any = None,
                 bucket_cap_mb: float = 25.0, find_unused_parameters: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a chainrule nn.Module, got "
                            f"{type(module).__name__}")
        pg._require("DistributedDataParallel")
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.require_backward_grad_sync = True
        self.world_size = pg.get_world_size()
        seen: set[int] = set()
        self._params: list[Tensor] = []
        for p in module.parameters():
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                self._params.append(p)
        self._index = {id(p): i for i, p in enumerate(self._params)}
        self._sync_module_states()
        self._buckets = self._make_buckets()
        self._where = {}  # param index -> (bucket, position)
        for b in self._buckets:
            for k, i in enumerate(b.params):
                self._where[i] = (b, k)
        self._armed = False
        self._handle: Any = None
        self._expect_sync: bool | None = None
        self.stats = {"bytes": 0, "allreduces": 0}
        for i, p in enumerate(self._params):
            p.register_hook(self._make_hook(i))

    # -- setup ------------------------------------------------------------------------------
    def _sync_module_states(self) -> None:
        if self.world_size == 1:
            return
        for t in [*self._params, *self.module.buffers()]:
            pg.broadcast(t, 0)

    def _make_buckets(self) -> list[_Bucket]:
        cap = max(1, int(self.bucket_cap_mb * 2**20))
        buckets: list[_Bucket] = []
        cur: list[int] = []
        size = 0
        for i in reversed(range(len(self._params))):
            a = self._params[i]._data
            if cur and (size + a.nbytes > cap or a.dtype != self._params[cur[0]]._data.dtype):
                buckets.append(self._bucket(len(buckets), cur))
                cur, size = [], 0
            cur.append(i)
            size += a.nbytes
        if cur:
            buckets.append(self._bucket(len(buckets), cur))
        return buckets

    def _bucket(self, k: int, idx: list[int]) -> _Bucket:
        return _Bucket(k, idx, self._params[idx[0]]._data.dtype,
                       [self._params[i]._data.size for i in idx])

    # -- forward ------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        self._disarm()
        if self.world_size > 1 and self.broadcast_buffers and self.training:
            for b in self.module.buffers():
                pg.broadcast(b, 0)
        out = self.module(*args, **kwargs)
        sync = self.world_size > 1 and self.require_backward_grad_sync
        self._expect_sync = sync
        if sync and is_grad_enabled() and self._params:
            self._arm(out)
        return out

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes inside accumulate gradients locally; the next synchronised backward
        averages the sum (gradient accumulation without communication)."""
        old = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = old

    def _arm(self, out: Any) -> None:
        """Record, for every graph node that consumes a parameter, which ones; count the edges."""
        roots = [t for t in _tensors(out) if t.grad_fn is not None]
        plan: dict[Any, list[tuple[int, int]]] = {}
        count = [0] * len(self._params)
        stack, visited = [t.grad_fn for t in roots], set()
        while stack:
            n = stack.pop()
            if id(n) in visited:
                continue
            visited.add(id(n))
            for k, (e, _) in enumerate(n.next_functions):
                if e is None:
                    continue
                if isinstance(e, Tensor):
                    i = self._index.get(id(e))
                    if i is not None:
                        plan.setdefault(n, []).append((k, i))
                        count[i] += 1
                else:
                    stack.append(e)
        self._plan, self._count = plan, count
        self._sums: list[Any] = [None] * len(self._params)
        self._launched_with = [-1] * len(self._params)
        self._seen = [0] * len(self._params)
        self._next_bucket = 0
        for b in self._buckets:
            b.pending, b.work = len(b.params), None
        for i, c in enumerate(count):  # a parameter outside the graph: ready from the start
            if c == 0:
                self._ready(i)
        self._handle = observe(self._on_node)
        self._armed = True

    def _disarm(self) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self._armed = False

    # -- backward -----------------------------------------------------------------------------
    def _on_node(self, event: Any) -> None:
        hits = self._plan.get(event.node)
        if hits is None:
            return
        grads = event.grad_inputs
        for k, i in hits:
            g = grads[k]
            if g is not None:
                s = self._sums[i]
                self._sums[i] = g if s is None else s + g
                self._seen[i] += 1
            self._count[i] -= 1
            if self._count[i] == 0:
                self._ready(i)
        for b in self._buckets[:self._next_bucket]:  # let MPI progress the started reductions
            if b.work is not None:
                b.work.is_completed()

    def _ready(self, i: int) -> None:
        b, k = self._where[i]
        p = self._params[i]
        view = b.buffer[b.offsets[k]:b.offsets[k + 1]].reshape(p._data.shape)
        prior, s = p.grad, self._sums[i]
        if prior is None and s is None:
            view.fill(0)
        elif prior is None:
            view[...] = s
        elif s is None:
            view[...] = prior._data
        else:
            backend.get_array_module(s).add(prior._data, s, out=view)
        self._launched_with[i] = self._seen[i]
        b.pending -= 1
        while self._next_bucket < len(self._buckets) and \
                self._buckets[self._next_bucket].pending == 0:
            nb = self._buckets[self._next_bucket]
            nb.work = pg.iallreduce_array(nb.buffer, pg.ReduceOp.AVG,
                                          f"DistributedDataParallel gradient bucket {nb.index} "
                                          f"({nb.buffer.nbytes} bytes)")
            self.stats["bytes"] += nb.buffer.nbytes
            self.stats["allreduces"] += 1
            self._next_bucket += 1

    def _finish(self) -> None:
        """Start what is left, wait for every bucket, and write the averages of parameters that
        got no gradient in this pass (the others get theirs through their hooks)."""
        for b in self._buckets:
            for i in b.params:
                if self._launched_with[i] < 0:
                    self._ready(i)
        for b in self._buckets:
            b.work.wait()
        self._disarm()
        for i, p in enumerate(self._params):
            if self._sums[i] is None:
                p.grad = Tensor(self._average(i).copy())
        self._finished = True

    def _average(self, i: int) -> Any:
        b, k = self._where[i]
        return b.buffer[b.offsets[k]:b.offsets[k + 1]].reshape(self._params[i]._data.shape)

    def _make_hook(self, i: int) -> Any:
        def hook(grad: Tensor) -> Any:
            if self._armed:
                self._finish()
            elif not self._expect_sync:
                return None
            elif self._sums is None:
                name = self._name_of(i)
                raise RuntimeError(
                    f"DistributedDataParallel: a second backward reached parameter {name!r} "
                    "after the last forward's gradients were averaged; run the forward through "
                    "the DDP module again (or use no_sync() to accumulate)")
            if self._seen[i] != self._launched_with[i]:
                raise RuntimeError(
                    f"DistributedDataParallel: parameter {self._name_of(i)!r} received a "
                    "gradient from outside the DDP module's forward graph after its bucket "
                    "was sent; compute such terms after the forward, or inside the module")
            p = self._params[i]
            p.grad = None  # the average below already includes the accumulated gradient
            out = self._average(i).copy()
            self._sums[i] = None
            if all(s is None for s in self._sums):
                self._sums = None
            return out
        return hook

    _sums: Any = None
    _seen: Any = None
    _launched_with: Any = None

    def _name_of(self, i: int) -> str:
        for name, p in self.module.named_parameters():
            if p is self._params[i]:
                return name
        return f"#{i}"

    def sync_buffers(self) -> None:
        """Broadcast rank 0's buffers to every rank (e.g. before evaluating)."""
        if self.world_size > 1:
            for b in self.module.buffers():
                pg.broadcast(b, 0)


