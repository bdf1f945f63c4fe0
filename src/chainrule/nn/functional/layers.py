"""Functional forms of the layers, as ``torch.nn.functional``: linear, dropout, normalisation,
embedding, one_hot, pad, normalize."""

from __future__ import annotations

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
    "batch_norm", "dropout", "embedding", "layer_norm", "linear", "normalize", "one_hot", "pad",
]


def _dropout_mask(generator: Generator | None, shape: tuple, dtype: Any, p: float) -> Any:
    u = generator_of(generator).random(shape,
                                       dtype=dtype if dtype.itemsize >= 4 else backend.float32)
    mask = (u >= p).astype(dtype)
    mask *= 1.0 / (1.0 - p)
    return mask


def dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False,
            generator: Generator | None = None) -> Tensor:
    """Inverted dropout: in training, zero each entry with probability ``p`` and scale the
    others by 1 / (1 - p), so that the expected value is unchanged; otherwise the identity.

    The mask is drawn from chainrule's default generator (``cr.manual_seed`` makes it
    reproducible) or from ``generator``. Its gradient is the same mask times the output
    gradient (one ``mul``).
    """
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = input if isinstance(input, Tensor) else as_tensor(input)
    if not training or p == 0.0:
        return x
    arr = x._data
    if arr.dtype.kind != "f":
        raise op_error("dropout", f"input has dtype {arr.dtype}", "a floating-point tensor",
                       kind=DTypeError)
    if p == 1.0:
        mask = backend.get_array_module(arr).zeros(arr.shape, dtype=arr.dtype)
    else:
        mask = _dropout_mask(generator, arr.shape, arr.dtype, p)
        if STATE.recorder is not None:  # cr.compile: a fresh mask at each replay
            STATE.recorder.source(_dropout_mask, (generator, arr.shape, arr.dtype, p), mask)
    if inplace:
        return x._inplace("dropout_", ops.mul, mask)
    return ops.mul(x, mask)


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
