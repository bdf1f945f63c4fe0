"""Functional forms of the layers, as ``torch.nn.functional``: linear, bilinear, dropout,
normalisation (batch, layer, RMS), embedding, embedding_bag, one_hot, pad, normalize."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule import backend, ops
from chainrule.autograd.factories import as_tensor
from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.errors import DTypeError, fmt_shape, op_error
from chainrule.ops.fused import linear
from chainrule.ops.normalization import batch_norm, layer_norm
from chainrule.ops.shape import pad
from chainrule.random import Generator, generator_of

__all__ = [
    "batch_norm", "bilinear", "dropout", "embedding", "embedding_bag", "layer_norm", "linear",
    "normalize", "one_hot", "pad", "rms_norm",
]


def keep_mask(generator: Generator | None, shape: tuple, dtype: Any, p: float) -> Any:
    """1 where an entry is kept (probability 1 - p), 0 where it is dropped, in ``dtype``."""
    u = generator_of(generator).random(shape,
                                       dtype=dtype if dtype.itemsize >= 4 else backend.float32)
    return (u >= p).astype(dtype)


def dropout_mask(generator: Generator | None, shape: tuple, dtype: Any, p: float) -> Any:
    """The keep mask scaled by 1 / (1 - p) (inverted dropout)."""
    mask = keep_mask(generator, shape, dtype, p)
    mask *= 1.0 / (1.0 - p)
    return mask


def dropout_input(name: str, input: Any, p: float, training: bool) -> tuple[Tensor, bool]:
    """The tensor a dropout acts on, and whether it acts (training with p > 0); refuses p
    outside [0, 1] and, when it acts, a non-floating input."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = input if isinstance(input, Tensor) else as_tensor(input)
    if not training or p == 0.0:
        return x, False
    if x._data.dtype.kind != "f":
        raise op_error(name, f"input has dtype {x._data.dtype}", "a floating-point tensor",
                       kind=DTypeError)
    return x, True


_SELU_NEG_SAT = 1.7580993408473766  # -SELU's saturation value: scale * alpha


def dropout_apply(name: str, input: Any, p: float, training: bool, inplace: bool,
                  generator: Generator | None, channels: int | None, alpha: bool) -> Tensor:
    """PyTorch's ``_dropout_impl``: one keep mask per entry (``channels=None``) or per channel,
    the first ``channels`` dims (``feature_dropout``: (N, C); an unbatched (C, *): (C,)), drawn
    with the shared ``keep_mask`` and broadcast over the rest. Inverted dropout scales the kept
    entries by 1 / (1 - p); alpha dropout (``alpha=True``) sets the dropped ones to SELU's
    negative saturation -1.7581 and then scales and shifts everything to keep mean 0 and
    variance 1. ``cr.compile`` draws the mask again at each replay."""
    x, acts = dropout_input(name, input, p, training)
    if not acts:
        return x
    arr = x._data
    if p == 1.0:
        zero = backend.get_array_module(arr).zeros((), dtype=arr.dtype)
        return x._inplace(name + "_", ops.mul, zero) if inplace else ops.mul(x, zero)
    if channels is None:
        shape = arr.shape
    elif x.ndim < channels:
        raise op_error(name, f"input has shape {fmt_shape(x.shape)}", "at least 2 dimensions "
                       "(N, C, *): feature dropout zeroes whole channels")
    else:
        shape = (*arr.shape[:channels], *(1,) * (x.ndim - channels))
    draw = keep_mask if alpha else dropout_mask
    m = draw(generator, shape, arr.dtype, p)
    if STATE.recorder is not None:  # cr.compile: a fresh mask at each replay
        STATE.recorder.source(draw, (generator, shape, arr.dtype, p), m)
    if not alpha:
        return x._inplace(name + "_", ops.mul, m) if inplace else ops.mul(x, m)
    a = 1.0 / math.sqrt((_SELU_NEG_SAT * _SELU_NEG_SAT * p + 1.0) * (1.0 - p))

    def apply(t: Tensor) -> Tensor:  # a (x + alpha) m + a alpha (p - 1)
        return ops.mul(t + _SELU_NEG_SAT, m) * a + a * _SELU_NEG_SAT * (p - 1.0)
    return x._inplace(name + "_", apply) if inplace else apply(x)


def dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False,
            generator: Generator | None = None) -> Tensor:
    """Inverted dropout: in training, zero each entry with probability ``p`` and scale the
    others by 1 / (1 - p), so that the expected value is unchanged; otherwise the identity.

    The mask is drawn from chainrule's default generator (``cr.manual_seed`` makes it
    reproducible) or from ``generator``. Its gradient is the same mask times the output
    gradient (one ``mul``).
    """
    return dropout_apply("dropout", input, p, training, inplace, generator, None, False)


def embedding(input: Any, weight: Any, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` (num_embeddings, embedding_dim) picked by the integer ``input`` of
    any shape: the result has shape ``input.shape + (embedding_dim,)``.

    The gradient of a row picked several times is the sum of its gradients (scatter-add); the
    row ``padding_idx`` gets no gradient (it stays as it is under training). ``sparse=True`` is
    accepted and gives the same dense gradient (chainrule has no sparse tensors; zero rows are
    the rows not looked up, which ``optim.SparseAdam`` leaves alone).
    """
    idx = input._data if isinstance(input, Tensor) else backend.xp.asarray(input)
    w = weight if isinstance(weight, Tensor) else as_tensor(weight)
    if idx.dtype.kind not in "iu":
        raise op_error("embedding", f"input has dtype {idx.dtype}",
                       "integer indices (int64), e.g. x.long()", kind=DTypeError)
    if w.ndim != 2:
        raise op_error("embedding", f"weight has shape {fmt_shape(w.shape)}",
                       "a 2-D weight (num_embeddings, embedding_dim)")
    n = w.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = int(idx[(idx < 0) | (idx >= n)].flat[0])
        raise op_error("embedding", f"index {bad} is out of range for {n} embeddings",
                       f"indices in [0, {n - 1}]", kind=IndexError)
    if max_norm is not None:
        _renorm_rows(w, idx, float(max_norm), float(norm_type))
    if scale_grad_by_freq:
        raise NotImplementedError("embedding: scale_grad_by_freq is not supported")
    out = ops.getitem(w, idx)
    if padding_idx is not None and out.requires_grad:
        pad_i = padding_idx + n if padding_idx < 0 else padding_idx
        hit = idx == pad_i
        if hit.any():  # same values; no gradient flows from the padding positions
            out = ops.where(hit[..., None], out.detach(), out)
    return out


def _renorm_rows(w: Tensor, idx: backend.ndarray, max_norm: float, norm_type: float) -> None:
    """Rescale (in place, unrecorded) the referenced rows whose norm exceeds ``max_norm``."""
    xp = backend.get_array_module(w._data)
    rows = xp.unique(idx)
    sub = w._data[rows]
    norms = xp.linalg.norm(sub, ord=norm_type, axis=1, keepdims=True)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(w.dtype)
    w._data[rows] = sub * scale
    w._vc[0] += 1


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """Integer class indices of any shape to one-hot vectors: an int64 tensor of shape
    ``tensor.shape + (num_classes,)``; ``num_classes=-1`` uses max + 1."""
    idx = tensor._data if isinstance(tensor, Tensor) else backend.xp.asarray(tensor)
    if idx.dtype.kind not in "iu":
        raise op_error("one_hot", f"input has dtype {idx.dtype}",
                       "an integer (index) tensor, e.g. labels.long()", kind=DTypeError)
    if idx.size and idx.min() < 0:
        raise op_error("one_hot", f"class values must be non-negative, got {int(idx.min())}",
                       kind=ValueError)
    if num_classes == -1:
        if idx.size == 0:
            raise op_error("one_hot", "cannot infer the number of classes from an empty tensor",
                           "num_classes=", kind=ValueError)
        num_classes = int(idx.max()) + 1
    elif idx.size and idx.max() >= num_classes:
        raise op_error("one_hot", f"class value {int(idx.max())} is not smaller than "
                       f"num_classes={num_classes}", kind=ValueError)
    xp = backend.get_array_module(idx)
    out = xp.zeros((*idx.shape, num_classes), dtype=backend.int64)
    xp.put_along_axis(out, idx[..., None].astype(xp.intp), 1, axis=-1)
    return _leaf(out)


def normalize(input: Any, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``x / max(||x||_p, eps)`` along ``dim``."""
    x = input if isinstance(input, Tensor) else as_tensor(input)
    return x / ops.clamp(ops.norm(x, p, dim, True), eps, None)


def rms_norm(input: Any, normalized_shape: Sequence[int] | int, weight: Any = None,
             eps: float | None = None) -> Tensor:
    """Root-mean-square normalisation over the trailing ``normalized_shape`` dims (Zhang and
    Sennrich 2019): ``x / sqrt(mean(x^2) + eps) * weight``, as ``torch.nn.functional.rms_norm``.
    ``eps=None``: the machine epsilon of the computation (float32's for half and float32)."""
    x = input if isinstance(input, Tensor) else as_tensor(input)
    shape = (int(normalized_shape),) if isinstance(normalized_shape, (int, backend.integer)) \
        else tuple(int(d) for d in normalized_shape)
    k = len(shape)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k:]) != shape:
        raise op_error("rms_norm", f"input {fmt_shape(x.shape)} with normalized_shape "
                       f"{shape}", f"an input whose trailing dims are {shape}", kind=ValueError)
    if weight is not None and tuple(weight.shape) != shape:
        raise op_error("rms_norm", f"weight has shape {fmt_shape(weight.shape)}",
                       f"the normalized_shape {shape}", kind=ValueError)
    if eps is None:
        xp = backend.get_array_module(x._data)
        eps = float(xp.finfo(x.dtype if x.dtype.itemsize >= 8 else backend.float32).eps)
    y = x * ops.rsqrt(ops.mean(x * x, tuple(range(-k, 0)), True) + eps)
    return y if weight is None else y * weight


def bilinear(input1: Any, input2: Any, weight: Any, bias: Any = None) -> Tensor:
    """``y[..., o] = sum_ij x1[..., i] W[o, i, j] x2[..., j] + b[o]``, as
    ``torch.nn.functional.bilinear``: weight (out, in1, in2), inputs (..., in1) and (..., in2)
    with the same leading dims (one ``einsum``)."""
    x1 = input1 if isinstance(input1, Tensor) else as_tensor(input1)
    x2 = input2 if isinstance(input2, Tensor) else as_tensor(input2)
    ws = tuple(weight.shape)
    if len(ws) != 3 or x1.ndim == 0 or x2.ndim == 0 or x1.shape[-1] != ws[1] or \
            x2.shape[-1] != ws[2] or tuple(x1.shape[:-1]) != tuple(x2.shape[:-1]):
        raise op_error("bilinear", f"input1 {fmt_shape(x1.shape)}, input2 "
                       f"{fmt_shape(x2.shape)}, weight {fmt_shape(ws)}",
                       "weight (out, in1, in2), input1 (..., in1) and input2 (..., in2) with "
                       "the same leading dims", kind=ValueError)
    y = ops.einsum("...i,oij,...j->...o", x1, weight, x2)
    return y if bias is None else y + bias


_BAG_MODES = ("sum", "mean", "max")


def _bags(name: str, idx: Any, offsets: Any, include_last_offset: bool) -> tuple[Any, Any, Any]:
    """The (B, L) index array of a batch of bags, padded, the (B, L) mask of real entries, and
    (1-D input) each slot's position in the input: from a 2-D input (each row a bag) or a 1-D
    input cut at ``offsets``."""
    xp = backend.get_array_module(idx)
    if idx.ndim == 2:
        if offsets is not None:
            raise op_error(name, "offsets given with a 2-D input",
                           "offsets only with a 1-D input (2-D: each row is a bag)",
                           kind=ValueError)
        return idx, xp.ones(idx.shape, dtype=bool), None
    if idx.ndim != 1:
        raise op_error(name, f"input has shape {fmt_shape(idx.shape)}",
                       "a 1-D input with offsets or a 2-D input (B, L)", kind=ValueError)
    if offsets is None:
        raise op_error(name, "a 1-D input without offsets", "offsets (the start of each bag)",
                       kind=ValueError)
    off = offsets._data if isinstance(offsets, Tensor) else xp.asarray(offsets)
    if off.ndim != 1 or off.dtype.kind not in "iu":
        raise op_error(name, f"offsets has shape {fmt_shape(off.shape)} and dtype {off.dtype}",
                       "a 1-D integer tensor", kind=ValueError)
    n = idx.shape[0]
    starts = off[:-1] if include_last_offset else off
    ends = off[1:] if include_last_offset else xp.concatenate([off[1:], xp.asarray([n])])
    if off.size and (off[0] != 0 or (xp.diff(off) < 0).any() or off[-1] > n):
        raise op_error(name, f"offsets {off.tolist()} for an input of {n} indices",
                       "non-decreasing offsets starting at 0, at most the input's length",
                       kind=ValueError)
    width = int((ends - starts).max()) if starts.size else 0
    pos = xp.minimum(starts[:, None] + xp.arange(width)[None, :], max(n - 1, 0))
    mask = starts[:, None] + xp.arange(width)[None, :] < ends[:, None]
    return xp.where(mask, idx[pos] if n else 0, 0), mask, pos


def embedding_bag(input: Any, weight: Any, offsets: Any = None, max_norm: float | None = None,
                  norm_type: float = 2, scale_grad_by_freq: bool = False, mode: str = "mean",
                  sparse: bool = False, per_sample_weights: Any = None,
                  include_last_offset: bool = False, padding_idx: int | None = None) -> Tensor:
    """Sums, means or maxima of bags of embeddings without building the per-index embeddings
    of the bag in PyTorch's API, as ``torch.nn.functional.embedding_bag``: bags are the rows of
    a 2-D ``input``, or the runs of a 1-D ``input`` that start at ``offsets``. An empty bag
    gives zeros; entries equal to ``padding_idx`` are left out (also from a mean's count).
    ``per_sample_weights`` (the input's shape, mode 'sum' only) scales each embedding.

    Composed: the bags padded to a (B, L) index array, one ``getitem`` of the weight's rows,
    then a masked sum or max over L (``getitem``'s scatter-add is the weight's gradient).
    """
    name = "embedding_bag"
    if mode not in _BAG_MODES:
        raise op_error(name, f"mode={mode!r}", "'sum', 'mean' or 'max'", kind=ValueError)
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding_bag: scale_grad_by_freq and sparse are not "
                                  "supported")
    idx = input._data if isinstance(input, Tensor) else backend.xp.asarray(input)
    w = weight if isinstance(weight, Tensor) else as_tensor(weight)
    if idx.dtype.kind not in "iu":
        raise op_error(name, f"input has dtype {idx.dtype}", "integer indices (int64)",
                       kind=DTypeError)
    if w.ndim != 2:
        raise op_error(name, f"weight has shape {fmt_shape(w.shape)}",
                       "a 2-D weight (num_embeddings, embedding_dim)")
    num = w.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        bad = int(idx[(idx < 0) | (idx >= num)].flat[0])
        raise op_error(name, f"index {bad} is out of range for {num} embeddings",
                       f"indices in [0, {num - 1}]", kind=IndexError)
    if per_sample_weights is not None:
        if mode != "sum":
            raise op_error(name, f"per_sample_weights with mode={mode!r}",
                           "per_sample_weights only with mode='sum'", kind=NotImplementedError)
        if tuple(per_sample_weights.shape) != idx.shape:
            raise op_error(name, f"per_sample_weights has shape "
                           f"{fmt_shape(per_sample_weights.shape)}",
                           f"the input's shape {fmt_shape(idx.shape)}", kind=ValueError)
    if max_norm is not None:
        _renorm_rows(w, idx, float(max_norm), float(norm_type))
    bag_idx, mask, pos = _bags(name, idx, offsets, include_last_offset)
    xp = backend.get_array_module(bag_idx)
    if padding_idx is not None:
        mask = mask & (bag_idx != (padding_idx + num if padding_idx < 0 else padding_idx))
    rows = ops.getitem(w, bag_idx)  # (B, L, D)
    if mode == "max":
        filled = ops.where(mask[..., None], rows, -math.inf)
        empty = ~mask.any(1)
        if not bag_idx.shape[1]:
            return ops.sum(rows, 1)  # every bag empty: zeros (B, D)
        return ops.where(empty[:, None], 0.0, ops.amax(filled, 1))
    keep = mask.astype(w.dtype)[..., None]
    if per_sample_weights is not None:
        psw = per_sample_weights if isinstance(per_sample_weights, Tensor) else \
            as_tensor(per_sample_weights)
        if pos is not None:
            psw = ops.getitem(psw, pos)
        keep = ops.unsqueeze(psw, -1) * keep
    out = ops.sum(rows * keep, 1)
    if mode == "mean":
        count = xp.maximum(mask.sum(1), 1).astype(w.dtype)[:, None]
        out = out / count
    return out

