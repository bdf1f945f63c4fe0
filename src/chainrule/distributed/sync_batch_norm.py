"""Batch normalisation over the global batch of every rank (``nn.SyncBatchNorm``'s training path).

Forward: each rank computes its shard's per-channel count, mean and sum of squared deviations;
one ``Iallgather`` brings every rank's triple to every rank, and each combines them in rank order
(Chan et al.'s parallel variance: ``M2 = sum M2_r + sum n_r (mean_r - mean)^2``, stable where
``E[x^2] - E[x]^2`` cancels), so all ranks normalise with the same statistics. Backward: the
input gradient of batch statistics needs two per-channel sums over the whole batch, ``sum(g)``
and ``sum(g * xhat)``: one ``Iallreduce`` (SUM) of both, then the closed form
``dx = invstd * w * (g - sum(g)/N - xhat * sum(g*xhat)/N)`` with N the global count. ``weight``
and ``bias`` get the rank's own sums: DistributedDataParallel averages them, as it averages every
parameter's gradient, which with equal shards is the global batch's gradient (PyTorch's design).
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.autograd.function import Function, FunctionCtx, once_differentiable
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.distributed import process_group as pg
from chainrule.errors import fmt_shape

__all__ = ["sync_batch_norm"]


def _layout(ndim: int, c: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return (0, *range(2, ndim)), (1, c) + (1,) * (ndim - 2)


def _global_stats(a: Any, where: str) -> tuple[Any, Any, int]:
    """(mean, biased variance, count) per channel over every rank's ``a`` (float64)."""
    xp = backend.get_array_module(a)
    c = a.shape[1]
    axes = _layout(a.ndim, c)[0]
    n = a.size // c if c else 0
    local = xp.zeros((3, c), dtype=xp.float64)
    local[0] = n
    if n:
        mean = a.mean(axis=axes, keepdims=True, dtype=xp.float64)
        d = a - mean
        local[1] = mean.reshape(c)
        d *= d
        local[2] = d.sum(axis=axes).reshape(c)
    work, out = pg.iallgather_array(local, f"{where}: batch statistics ({c} channels)")
    work.wait()
    counts, means, m2s = out[:, 0, 0], out[:, 1], out[:, 2]
    total = int(counts.sum())
    if total <= 1:
        raise ValueError(f"{where}: expected more than 1 value per channel when training, got "
                         f"input of shape {fmt_shape(a.shape)} on rank {pg.get_rank()} and "
                         f"{total} value(s) per channel over all {len(counts)} ranks; use a "
                         "larger batch, or call model.eval()")
    mean = counts @ means / total
    m2 = m2s.sum(axis=0) + counts @ (means - mean) ** 2
    return mean, m2 / total, total


class _SyncBatchNorm(Function):
    """The forward and backward of batch norm with every rank's batch statistics."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, weight: Tensor | None, bias: Tensor | None,
                running_mean: Tensor | None, running_var: Tensor | None, momentum: float,
                eps: float) -> Tensor:
        a = x._data
        xp = backend.get_array_module(a)
        c = a.shape[1]
        axes, shape = _layout(a.ndim, c)
        mean, var, total = _global_stats(a, "SyncBatchNorm")
        for t, v in ((running_mean, mean), (running_var, var * (total / (total - 1)))):
            if t is not None:
                r = t._data
                r *= 1.0 - momentum
                r += (momentum * v).astype(r.dtype)
                t._vc[0] += 1
        invstd = (1.0 / xp.sqrt(var + eps)).astype(a.dtype)
        xhat = a - mean.astype(a.dtype).reshape(shape)
        xhat *= invstd.reshape(shape)
        y = xhat.copy() if weight is None else xhat * weight._data.reshape(shape)
        if bias is not None:
            y += bias._data.reshape(shape)
        ctx.xhat, ctx.invstd, ctx.total, ctx.axes, ctx.shape = xhat, invstd, total, axes, shape
        ctx.w = None if weight is None else weight._data
        return _leaf(y)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple:
        g = grad._data
        xhat, axes, shape, c = ctx.xhat, ctx.axes, ctx.shape, ctx.invstd.size
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        xp = backend.get_array_module(g)
        sums = xp.stack([g.sum(axis=axes), (g * xhat).sum(axis=axes)])  # (2, C)
        gw = sums[1].copy() if need_w else None
        gb = sums[0].copy() if need_b else None
        gx = None
        if need_x:
            buf = xp.ascontiguousarray(sums, dtype=xp.float64)
            pg.iallreduce_array(buf, pg.ReduceOp.SUM,
                                f"SyncBatchNorm backward: gradient sums ({c} channels)").wait()
            mg, mgx = (buf / ctx.total).astype(g.dtype)
            scale = ctx.invstd if ctx.w is None else ctx.invstd * ctx.w
            gx = g - mg.reshape(shape)
            gx -= xhat * mgx.reshape(shape)
            gx *= scale.reshape(shape)
        return gx, gw, gb, None, None, None, None


def sync_batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                    weight: Tensor | None, bias: Tensor | None, momentum: float,
                    eps: float) -> Tensor:
    """Training-mode batch norm of ``input`` (N, C, ...) with the statistics of the global batch
    (every rank's ``input`` together); updates the running statistics in place (the variance
    unbiased by the global count). Every rank of the process group must call it."""
    pg._require("SyncBatchNorm")
    if input._data.dtype.kind != "f":
        raise TypeError(f"SyncBatchNorm: input has dtype {input._data.dtype}; expected a "
                        "floating-point tensor (convert it first, e.g. x.float())")
    return _SyncBatchNorm.apply(input, weight, bias, running_mean, running_var, float(momentum),
                                float(eps))
