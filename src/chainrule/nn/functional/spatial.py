"""Channel dropout (``dropout1d/2d/3d``: whole feature maps), ``alpha_dropout``,
``feature_alpha_dropout``, and the channel/space rearrangements ``pixel_shuffle``,
``pixel_unshuffle``, ``channel_shuffle`` and ``local_response_norm``
(``torch.nn.functional``), composed from registered ops."""

from __future__ import annotations

import warnings
from typing import Any

from chainrule import ops
from chainrule.autograd.factories import as_tensor
from chainrule.autograd.tensor import Tensor
from chainrule.errors import fmt_shape, op_error
from chainrule.nn.functional.layers import dropout_apply
from chainrule.random import Generator

__all__ = ["alpha_dropout", "channel_shuffle", "dropout1d", "dropout2d", "dropout3d",
           "feature_alpha_dropout", "local_response_norm", "pixel_shuffle", "pixel_unshuffle"]


def _channel_dropout(name: str, nd: int, input: Any, p: float, training: bool,
                     inplace: bool, generator: Generator | None) -> Tensor:
    """``dropout{nd}d``: whole channels of (N, C, *nd) or (C, *nd) inputs, as PyTorch, with its
    rank rules: ``dropout1d`` refuses other ranks; ``dropout2d``/``dropout3d`` warn and treat
    them as (N, C, *), and ``dropout2d`` reads a 3-D input as (N, C, L) (with a warning)."""
    x = input if isinstance(input, Tensor) else as_tensor(input)
    if x.ndim not in (nd + 1, nd + 2):
        if nd == 1:
            raise op_error(name, f"input has shape {fmt_shape(x.shape)}", "a 2-D (C, L) or 3-D "
                           "(N, C, L) input: dropout1d zeroes whole channels of 1-D signals")
        warnings.warn(f"{name}: received a {x.ndim}-D input, which PyTorch deprecates; {name} "
                      f"zeroes whole channels of {nd + 1}-D (C, *spatial) or {nd + 2}-D (N, C, "
                      "*spatial) inputs: use dropout for other shapes", stacklevel=3)
    if nd == 2 and x.ndim == 3:
        warnings.warn("dropout2d: received a 3-D input; as PyTorch, it is read as (N, C, L) "
                      "(channel-wise 1-D dropout), not as an unbatched (C, H, W): use dropout1d "
                      "for that behaviour", stacklevel=3)
    # PyTorch's feature dropout: a mask per (N, C); dropout1d/3d add a batch dim to any input
    # but (N, C, *nd) (a mask per first dim); dropout2d never does
    channels = 2 if nd == 2 or x.ndim == nd + 2 else 1
    return dropout_apply(name, x, p, training, inplace, generator, channels, False)


def dropout1d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False,
              generator: Generator | None = None) -> Tensor:
    """Zero whole channels of an (N, C, L) or (C, L) input with probability ``p``, scaling the
    others by 1 / (1 - p), in training; otherwise the identity (``torch.nn.functional``)."""
    return _channel_dropout("dropout1d", 1, input, p, training, inplace, generator)


def dropout2d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False,
              generator: Generator | None = None) -> Tensor:
    """Zero whole channels (N, C) of an (N, C, H, W) input with probability ``p``, scaling the
    others by 1 / (1 - p), in training; otherwise the identity (``torch.nn.functional``). A 3-D
    input is (N, C, L), as PyTorch reads it (with its warning)."""
    return _channel_dropout("dropout2d", 2, input, p, training, inplace, generator)


def dropout3d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False,
              generator: Generator | None = None) -> Tensor:
    """Zero whole channels of an (N, C, D, H, W) or (C, D, H, W) input with probability ``p``,
    scaling the others by 1 / (1 - p), in training; otherwise the identity."""
    return _channel_dropout("dropout3d", 3, input, p, training, inplace, generator)


# --- alpha dropout ----------------------------------------------------------------------------


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
    return dropout_apply("alpha_dropout", input, p, training, inplace, None, None, True)


def feature_alpha_dropout(input: Any, p: float = 0.5, training: bool = False,
                          inplace: bool = False) -> Tensor:
    """Alpha dropout of whole channels of (N, C, *), as
    ``torch.nn.functional.feature_alpha_dropout``: one keep mask per (N, C), the same scale and
    shift as ``alpha_dropout``; the identity unless ``training`` (False by default, as PyTorch)."""
    return dropout_apply("feature_alpha_dropout", input, p, training, inplace, None, 2, True)


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
