"""Channel dropout (``dropout1d``/``dropout2d``: whole feature maps), ``alpha_dropout``, and the
channel/space rearrangements ``pixel_shuffle``, ``pixel_unshuffle``, ``channel_shuffle`` and
``local_response_norm`` (``torch.nn.functional``), composed from registered ops."""

from __future__ import annotations

import math
from typing import Any

from chainrule import backend, ops
from chainrule.autograd.factories import as_tensor
from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.tensor import Tensor
from chainrule.errors import fmt_shape, op_error
from chainrule.nn.functional.layers import dropout_input, dropout_mask, keep_mask
from chainrule.random import Generator

__all__ = ["alpha_dropout", "channel_shuffle", "dropout1d", "dropout2d", "local_response_norm",
           "pixel_shuffle", "pixel_unshuffle"]


def _channel_dropout(name: str, nd: int, input: Any, p: float, training: bool,
                     inplace: bool, generator: Generator | None) -> Tensor:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = input if isinstance(input, Tensor) else as_tensor(input)
    if x.ndim not in (nd + 1, nd + 2):
        raise op_error(name, f"input has {x.ndim} dims", f"(N, C, *{nd} spatial) or "
                       f"(C, *{nd} spatial)")
    if not training or p == 0.0:
        return x
    arr = x._data
    lead = x.shape[:-nd]  # (N, C) or (C,)
    if p == 1.0:
        mask = backend.get_array_module(arr).zeros(lead, dtype=arr.dtype)
    else:
        mask = dropout_mask(generator, lead, arr.dtype, p)
    mask = mask.reshape(*lead, *(1,) * nd)
    if inplace:
        return x._inplace(name + "_", ops.mul, mask)
    return ops.mul(x, mask)


def dropout2d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False,
              generator: Generator | None = None) -> Tensor:
    """Zero whole channels (N, C) of an (N, C, H, W) input with probability ``p``, scaling the
    others by 1 / (1 - p), in training; otherwise the identity (``torch.nn.functional``)."""
    return _channel_dropout("dropout2d", 2, input, p, training, inplace, generator)


def dropout1d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False,
              generator: Generator | None = None) -> Tensor:
    """Zero whole channels of an (N, C, L) input with probability ``p`` (training only)."""
    return _channel_dropout("dropout1d", 1, input, p, training, inplace, generator)


# --- alpha dropout ----------------------------------------------------------------------------

_SELU_NEG_SAT = 1.7580993408473766  # -SELU's saturation value: scale * alpha


def alpha_dropout(input: Any, p: float = 0.5, training: bool = False,
                  inplace: bool = False) -> Tensor:
    """Dropout for self-normalising (SELU) networks (Klambauer et al. 2017), as
    ``torch.nn.functional.alpha_dropout``: in training, each entry is set with probability
    ``p`` to SELU's negative saturation -1.7581, then everything is scaled by a and shifted by b
    so that mean 0 and variance 1 are kept; the identity otherwise.

    With keep mask m, a = ((1 - p) (1 + p alpha^2))^(-1/2): ``a (x + alpha) m + a alpha (p - 1)``
    (PyTorch's ``x a m + a alpha ((m - 1) + p)``, regrouped so that the mask is the only drawn
    array; ``cr.compile`` draws it again at each replay).
    """
    x, acts = dropout_input("alpha_dropout", input, p, training)
    if not acts:
        return x
    arr = x._data
    if p == 1.0:
        zero = backend.get_array_module(arr).zeros((), dtype=arr.dtype)
        return x._inplace("alpha_dropout_", ops.mul, zero) if inplace else ops.mul(x, zero)
    m = keep_mask(None, arr.shape, arr.dtype, p)
    if STATE.recorder is not None:  # cr.compile: a fresh mask at each replay
        STATE.recorder.source(keep_mask, (None, arr.shape, arr.dtype, p), m)
    alpha = _SELU_NEG_SAT
    a = 1.0 / math.sqrt((alpha * alpha * p + 1.0) * (1.0 - p))

    def apply(t: Tensor) -> Tensor:
        return ops.mul(t + alpha, m) * a + a * alpha * (p - 1.0)
    return x._inplace("alpha_dropout_", apply) if inplace else apply(x)


# --- rearranging channels and space -------------------------------------------------------------


def _rank_at_least(name: str, x: Tensor, nd: int, layout: str) -> None:
    if x.ndim < nd:
        raise op_error(name, f"input has shape {fmt_shape(x.shape)}",
                       f"at least {nd} dimensions {layout}", kind=ValueError)


def pixel_shuffle(input: Any, upscale_factor: int) -> Tensor:
    """(*, C r^2, H, W) -> (*, C, H r, W r): sub-pixel convolution's rearrangement (Shi et al.
    2016), r = ``upscale_factor``."""
    x = input if isinstance(input, Tensor) else as_tensor(input)
    _rank_at_least("pixel_shuffle", x, 3, "(*, C * r^2, H, W)")
    r = int(upscale_factor)
    *lead, c, h, w = x.shape
    if r <= 0 or c % (r * r):
        raise op_error("pixel_shuffle", f"input {fmt_shape(x.shape)} has {c} channels with "
                       f"upscale_factor={r}", f"channels divisible by r^2 = {r * r}",
                       kind=ValueError)
    n = len(lead)
    y = x.reshape(*lead, c // (r * r), r, r, h, w)
    y = y.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Any, downscale_factor: int) -> Tensor:
    """(*, C, H r, W r) -> (*, C r^2, H, W): the inverse of ``pixel_shuffle``."""
    x = input if isinstance(input, Tensor) else as_tensor(input)
    _rank_at_least("pixel_unshuffle", x, 3, "(*, C, H * r, W * r)")
    r = int(downscale_factor)
    *lead, c, h, w = x.shape
    if r <= 0 or h % r or w % r:
        raise op_error("pixel_unshuffle", f"input {fmt_shape(x.shape)} with "
                       f"downscale_factor={r}", f"height and width divisible by {r}",
                       kind=ValueError)
    n = len(lead)
    y = x.reshape(*lead, c, h // r, r, w // r, r)
    y = y.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return y.reshape(*lead, c * r * r, h // r, w // r)


def channel_shuffle(input: Any, groups: int) -> Tensor:
    """(N, C, *) with C = g k: channel ``i k + j`` moves to ``j g + i`` (ShuffleNet, Zhang et
    al. 2017): view as (N, g, k, *), swap g and k."""
    x = input if isinstance(input, Tensor) else as_tensor(input)
    _rank_at_least("channel_shuffle", x, 3, "(N, C, *)")
    g = int(groups)
    n, c, *rest = x.shape
    if g <= 0 or c % g:
        raise op_error("channel_shuffle", f"input {fmt_shape(x.shape)} has {c} channels with "
                       f"groups={g}", "channels divisible by groups", kind=ValueError)
    y = x.reshape(n, g, c // g, *rest).transpose(1, 2)
    return y.reshape(n, c, *rest)


def local_response_norm(input: Any, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """AlexNet's normalisation across channels: ``x / (k + alpha * mean of x^2 over the
    ``size`` neighbouring channels)^beta``, the window zero-padded at the ends (as PyTorch:
    an average pool over the padded squares)."""
    x = input if isinstance(input, Tensor) else as_tensor(input)
    _rank_at_least("local_response_norm", x, 3, "(N, C, *)")
    size = int(size)
    if size <= 0:
        raise op_error("local_response_norm", f"size={size}", "a positive window size",
                       kind=ValueError)
    div = channel_window_mean(x * x, size // 2, (size - 1) // 2)
    return x / (div * alpha + k) ** beta


def channel_window_mean(x: Tensor, before: int, after: int) -> Tensor:
    """For each channel c of an (N, C, *) tensor, the mean of channels ``c - before`` to
    ``c + after`` (zeros past the ends count): an average pool over the zero-padded channels."""
    n, c = x.shape[:2]
    s = ops.pad(x.reshape(n, 1, c, -1), (0, 0, before, after))
    return ops.avg_pool2d(s, (before + after + 1, 1), stride=1).reshape(x.shape)
