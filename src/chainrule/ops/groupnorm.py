"""Group and instance normalisation over (N, C, *spatial), composed on the fused ops: a group
norm is ``layer_norm`` of (N, G, C / G * prod(spatial)) then a per-channel affine; an instance
norm is ``batch_norm`` of (1, N * C, *spatial) (PyTorch's own reduction), so both inherit those
ops' gradients (to second order)."""

from __future__ import annotations

import math
from typing import Any

from chainrule.autograd.factories import as_tensor
from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.errors import fmt_shape, op_error
from chainrule.ops.normalization import batch_norm, layer_norm
from chainrule.ops.registry import public


def _affine(y: Tensor, weight: Any, bias: Any) -> Tensor:
    shape = (1, -1) + (1,) * (y.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


@public(functional=True)
def group_norm(input: Any, num_groups: int, weight: Any = None, bias: Any = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise each sample over groups of ``C / num_groups`` channels (and all spatial
    positions), then scale and shift per channel, as ``torch.nn.functional.group_norm``."""
    x = input if isinstance(input, Tensor) else as_tensor(input)
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise op_error("group_norm", f"input of shape {fmt_shape(x.shape)} with num_groups="
                       f"{num_groups}", "(N, C, *) with C divisible by num_groups",
                       kind=ValueError)
    n = x.shape[0]
    flat = x.reshape(n, num_groups, -1)
    y = layer_norm(flat, flat.shape[-1], None, None, eps).reshape(x.shape)
    return _affine(y, weight, bias)


@public(functional=True)
def instance_norm(input: Any, running_mean: Any = None, running_var: Any = None,
                  weight: Any = None, bias: Any = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of each sample over its spatial positions, as
    ``torch.nn.functional.instance_norm``; with running statistics, they are updated with the
    mean over the batch of the per-instance statistics (``use_input_stats``) or used instead."""
    x = input if isinstance(input, Tensor) else as_tensor(input)
    if x.ndim < 3:
        raise op_error("instance_norm", f"input has shape {fmt_shape(x.shape)}",
                       "(N, C, *spatial) with at least one spatial dim")
    n, c = x.shape[:2]
    if use_input_stats and math.prod(x.shape[2:]) == 1:
        raise op_error("instance_norm", f"input has shape {fmt_shape(x.shape)}, one spatial "
                       "element per channel", "more than 1 spatial element when using the "
                       "input's statistics (training, or track_running_stats=False)",
                       kind=ValueError)
    if not use_input_stats:
        return batch_norm(x, running_mean, running_var, weight, bias, False, momentum, eps)
    # The running statistics are per channel; the batch_norm below sees N * C channels, so they
    # are tiled in and averaged back out, with recorded ops (``cr.compile`` replays them).
    with no_grad():
        stats = [None if t is None else as_tensor(t) for t in (running_mean, running_var)]
        tiled = [None if t is None else t.repeat(n) for t in stats]
    y = batch_norm(x.reshape(1, n * c, *x.shape[2:]), tiled[0], tiled[1], None, None, True,
                   momentum, eps)
    with no_grad():
        for t, r in zip(stats, tiled):
            if t is not None:
                t.copy_(r.reshape(n, c).mean(0))
    return _affine(y.reshape(x.shape), weight, bias)
