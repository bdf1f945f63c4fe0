"""``cr.linalg``: ``torch.linalg`` on chainrule's differentiable ops: the norms (``norm``,
``vector_norm``, ``matrix_norm``, composed here) and the decompositions, solvers and products
of ``chainrule.ops.decomp`` and ``chainrule.ops.matrix`` (inv, det, slogdet, solve, cholesky,
qr, eigh, svd, pinv, lstsq, matrix_power, matrix_exp, multi_dot, cross, ...). A singular or
non-positive-definite input raises ``LinAlgError`` (a RuntimeError), as PyTorch.
"""

from __future__ import annotations

import math
from typing import Any

from chainrule.autograd.dtypes import to_dtype
from chainrule.autograd.tensor import Tensor
from chainrule.errors import LinAlgError
from chainrule.ops import amax, amin, matmul
from chainrule.ops import norm as _vector
from chainrule.ops.matrix import (
    cholesky,
    det,
    eigh,
    eigvalsh,
    inv,
    lstsq,
    matrix_exp,
    matrix_power,
    multi_dot,
    pinv,
    slogdet,
    solve,
    svdvals,
    vecdot,
)
from chainrule.ops.matrix import linalg_cross as cross
from chainrule.ops.matrix import linalg_qr as qr
from chainrule.ops.matrix import linalg_svd as svd

__all__ = ["LinAlgError", "cholesky", "cross", "det", "eigh", "eigvalsh", "inv", "lstsq",
           "matmul", "matrix_exp", "matrix_norm", "matrix_power", "multi_dot", "norm", "pinv",
           "qr", "slogdet", "solve", "svd", "svdvals", "vecdot", "vector_norm"]

_MATRIX_ORDS = ("fro", "nuc", math.inf, -math.inf, 1, -1, 2, -2)


def _cast(x: Tensor, dtype: Any) -> Tensor:
    return x if dtype is None else x.to(to_dtype(dtype))


def vector_norm(x: Tensor, ord: Any = 2, dim: Any = None, keepdim: bool = False, *,
                dtype: Any = None) -> Tensor:
    """The vector ``ord``-norm of ``x`` over ``dim`` (all entries, flattened, when None):
    ``sum(|x|^ord)^(1/ord)``; ``ord`` 2 (default), 1, inf, -inf, 0 (count of non-zeros) or any
    other positive number, as ``torch.linalg.vector_norm``."""
    return _vector(_cast(x, dtype), ord, dim, keepdim)


def matrix_norm(A: Tensor, ord: Any = "fro", dim: tuple[int, int] = (-2, -1),
                keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """The matrix norm over the two dimensions ``dim``, as ``torch.linalg.matrix_norm``:
    ``'fro'`` (default, ``sqrt(sum |a_ij|^2)``), ``1``/``-1`` (max/min column sum of ``|a|``),
    ``inf``/``-inf`` (max/min row sum)."""
    A = _cast(A, dtype)
    if ord not in _MATRIX_ORDS:
        raise ValueError(f"linalg.matrix_norm: ord={ord!r} is not a matrix norm; expected one of "
                         "'fro', 'nuc', inf, -inf, 1, -1, 2, -2")
    if A.ndim < 2:
        raise RuntimeError(f"linalg.matrix_norm: the input must have at least 2 dimensions, got "
                           f"shape {tuple(A.shape)}")
    d0, d1 = (int(d) % A.ndim for d in dim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different, got dim={tuple(dim)}")
    if ord == "fro":
        return _vector(A, 2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2):
        sv = svdvals(A.movedim((d0, d1), (-2, -1)))
        out = sv.sum(-1) if ord == "nuc" else (amax if ord == 2 else amin)(sv, -1)
        return out.unsqueeze(min(d0, d1)).unsqueeze(max(d0, d1)) if keepdim else out
    # 1: max over columns of the column sums (sum over rows, d0); inf: over rows (sum over d1)
    summed, other = (d0, d1) if abs(ord) == 1 else (d1, d0)
    sums = A.abs().sum(summed, keepdim=True)
    pick = amax if ord > 0 else amin
    out = pick(sums, other, keepdim=True)
    return out if keepdim else out.squeeze((d0, d1))


def norm(A: Tensor, ord: Any = None, dim: Any = None, keepdim: bool = False, *,
         dtype: Any = None) -> Tensor:
    """``torch.linalg.norm``: with ``ord=None`` the 2-norm of the flattened input (``dim=None``)
    or over ``dim``; otherwise a vector norm when ``dim`` is an int (or the input is 1-D) and a
    matrix norm when ``dim`` is a pair (or the input is 2-D)."""
    if dim is not None and not isinstance(dim, (tuple, list)):
        dim = (dim,)
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if dim is None:
        if A.ndim not in (1, 2):
            raise RuntimeError(f"linalg.norm: with ord={ord!r} and dim=None the input must be 1-D "
                               f"or 2-D, got shape {tuple(A.shape)}; pass dim")
        dim = tuple(range(A.ndim))
    if len(dim) == 1:
        if isinstance(ord, str):
            raise RuntimeError(f"linalg.norm: ord={ord!r} is a matrix norm, but dim={dim} names "
                               "one dimension")
        return vector_norm(A, ord, dim, keepdim, dtype=dtype)
    if len(dim) == 2:
        return matrix_norm(A, ord, tuple(dim), keepdim, dtype=dtype)
    raise RuntimeError(f"linalg.norm: dim must name 1 or 2 dimensions, got {dim}")
