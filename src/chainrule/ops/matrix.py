"""PyTorch's linear-algebra functions on top of the primitives of ``ops/decomp.py``: the factors
sliced out of the packed decompositions, PyTorch's argument conventions (vector right-hand
sides, ``left=``, ``mode=``, ``full_matrices=``, ``upper=``), and the products composed from
matmul and einsum (kron, tensordot, inner, multi_dot, matrix_power, matrix_exp).

The top-level names (``cr.inverse``, ``cr.det``, ``cr.svd``, ...) and Tensor methods are
registered here; ``chainrule.linalg`` re-exports the ``torch.linalg`` ones.
"""

from __future__ import annotations

import math
from functools import reduce
from typing import Any, NamedTuple

from chainrule import backend
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.errors import fmt_shape
from chainrule.ops import decomp as D
from chainrule.ops import elementwise as E
from chainrule.ops import linalg as L
from chainrule.ops import reduce as R
from chainrule.ops import shape as S
from chainrule.ops import torch_names as T
from chainrule.ops.registry import public


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else _leaf(backend.xp.asarray(x))


def _const(x: Tensor, arr: Any) -> Tensor:
    return _leaf(arr.astype(x.dtype, copy=False))


class SlogdetResult(NamedTuple):
    sign: Tensor
    logabsdet: Tensor


class EighResult(NamedTuple):
    eigenvalues: Tensor
    eigenvectors: Tensor


class QRResult(NamedTuple):
    Q: Tensor
    R: Tensor


class SVDResult(NamedTuple):
    U: Tensor
    S: Tensor
    Vh: Tensor


class LegacySVDResult(NamedTuple):
    U: Tensor
    S: Tensor
    V: Tensor


class LstsqResult(NamedTuple):
    solution: Tensor
    residuals: Tensor
    rank: Tensor
    singular_values: Tensor


# --- inverse, determinants, solve --------------------------------------------------------------

inv = D._inv


@public(method=True)
def inverse(input: Any) -> Tensor:
    """The inverse of each square matrix (``torch.inverse``, ``linalg.inv``)."""
    return D._inv(input)


@public(method=True)
def det(input: Any) -> Tensor:
    """The determinant of each square matrix (``torch.det``, ``linalg.det``)."""
    return D._det(input)


@public(method=True)
def slogdet(input: Any) -> SlogdetResult:
    """``(sign, logabsdet)`` of each square matrix's determinant; the sign is a constant."""
    x = _t(input)
    D.check_square("linalg.slogdet", x)
    sign = backend.get_array_module(x._data).linalg.slogdet(x._data)[0]
    return SlogdetResult(_const(x, sign), D._logabsdet(x))


@public(method=True)
def logdet(input: Any) -> Tensor:
    """log det(A): NaN where the determinant is negative, -inf where it is 0."""
    sign, logabs = slogdet(input)
    return E.where(sign._data < 0, math.nan, logabs)


def _vector_rhs(a: Tensor, b: Tensor) -> bool:
    """PyTorch's rule: B is a (batch of) vector(s) when 1-D, or shaped like A minus its last dim."""
    return b.ndim == 1 or (b.ndim == a.ndim - 1 and tuple(b.shape) == tuple(a.shape[:-1]))


def solve(A: Any, B: Any, *, left: bool = True) -> Tensor:
    """X with A X = B (``left=False``: X A = B), as ``torch.linalg.solve``: B is (..., n, k) or
    a batch of vectors (..., n); batch dimensions broadcast."""
    a, b = _t(A), _t(B)
    if not left:
        return S.transpose(solve(S.transpose(a, -1, -2), S.transpose(b, -1, -2)), -1, -2)
    if _vector_rhs(a, b):
        return S.squeeze(D._solve(a, S.unsqueeze(b, -1)), -1)
    return D._solve(a, b)


@public(method=True)
def cholesky(input: Any, upper: bool = False) -> Tensor:
    """The Cholesky factor of each symmetric positive-definite matrix: lower L with
    A = L L^T (``upper=True``: U = L^T, A = U^T U)."""
    lo = D._cholesky(input)
    return S.transpose(lo, -1, -2) if upper else lo


# --- eigh, qr, svd: the factors of the packed primitives ------------------------------------


def eigh(A: Any, UPLO: str = "L") -> EighResult:
    """Eigenvalues (ascending) and eigenvectors (columns) of symmetric matrices, as
    ``torch.linalg.eigh``. The whole matrix is read, symmetrized (PyTorch reads the ``UPLO``
    triangle: the same for symmetric input); each eigenvector's largest entry is positive."""
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"linalg.eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    packed = D._eigh(A)
    return EighResult(packed[..., 0, :], packed[..., 1:, :])


def eigvalsh(A: Any, UPLO: str = "L") -> Tensor:
    """The eigenvalues (ascending) of symmetric matrices."""
    return eigh(A, UPLO).eigenvalues


def _completed(x: Tensor, part: Tensor, full: Any, axis: int) -> Tensor:
    """``part`` extended along ``axis`` by the constant rest of ``full`` (columns the gradient
    does not reach: PyTorch's ``full_matrices=True`` and ``mode='complete'``)."""
    n = part.shape[axis]
    extra = full[..., n:] if axis == -1 else full[..., n:, :]
    return S.cat([part, _const(x, extra)], axis)


def linalg_qr(A: Any, mode: str = "reduced") -> QRResult:
    """A = Q R, as ``torch.linalg.qr``: ``mode`` 'reduced' (Q (m, k), R (k, n)), 'complete'
    (Q (m, m), R (m, n)) or 'r' (R alone, Q empty)."""
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"linalg.qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    x = _t(A)
    D.check_matrix("linalg.qr", x)
    m = x.shape[-2]
    packed = D._qr(x)
    q, r = packed[..., :m, :], S.transpose(packed[..., m:, :], -1, -2)
    if mode == "r":
        return QRResult(_leaf(backend.xp.zeros((0,), dtype=x.dtype)), r)
    if mode == "complete" and m > x.shape[-1]:
        xp = backend.get_array_module(x._data)
        qf = xp.linalg.qr(x._data, mode="complete")[0]
        zeros = xp.zeros((*x.shape[:-2], m - x.shape[-1], x.shape[-1]))
        return QRResult(_completed(x, q, qf, -1), S.cat([r, _const(x, zeros)], -2))
    return QRResult(q, r)


@public(method=True)
def qr(input: Any, some: bool = True) -> QRResult:
    """``torch.qr``: the reduced QR (``some=False``: complete)."""
    return linalg_qr(input, "reduced" if some else "complete")


def linalg_svd(A: Any, full_matrices: bool = True) -> SVDResult:
    """A = U diag(S) Vh, as ``torch.linalg.svd``; with ``full_matrices`` the extra columns of
    U (rows of Vh) of a non-square matrix complete the basis and get no gradient (as PyTorch).
    Singular vectors are signed so that each column of U has its largest entry positive."""
    x = _t(A)
    D.check_matrix("linalg.svd", x)
    m, n = x.shape[-2:]
    k = min(m, n)
    packed = D._svd(x)
    u, s, v = packed[..., :m, :], packed[..., m, :], packed[..., m + 1:, :]
    if full_matrices and m != n:
        xp = backend.get_array_module(x._data)
        uf, _, vhf = xp.linalg.svd(x._data, full_matrices=True)
        if m > k:
            u = _completed(x, u, uf, -1)
        else:
            v = _completed(x, v, xp.swapaxes(vhf, -1, -2), -1)
    return SVDResult(u, s, S.transpose(v, -1, -2))


def svdvals(A: Any) -> Tensor:
    """The singular values, descending."""
    return linalg_svd(A, full_matrices=False).S


@public(method=True)
def svd(input: Any, some: bool = True, compute_uv: bool = True) -> LegacySVDResult:
    """``torch.svd``: U, S and V (not Vh), reduced when ``some``; without ``compute_uv`` U and
    V are zeros."""
    u, s, vh = linalg_svd(input, full_matrices=not some)
    if not compute_uv:
        return LegacySVDResult(E.mul(u, 0.0).detach(), s, E.mul(vh, 0.0).detach().mT)
    return LegacySVDResult(u, s, S.transpose(vh, -1, -2))


# --- pinv, lstsq -------------------------------------------------------------------------------


def pinv(A: Any, *, atol: Any = None, rtol: Any = None, hermitian: bool = False) -> Tensor:
    """The Moore-Penrose pseudo-inverse, as ``torch.linalg.pinv`` (``atol`` is not supported;
    ``rtol`` defaults to eps * max(m, n))."""
    if atol is not None:
        raise NotImplementedError("linalg.pinv: atol is not supported; use rtol")
    return D._pinv(A, rtol)


@public(method=True)
def pinverse(input: Any, rcond: float = 1e-15) -> Tensor:
    """``torch.pinverse``: singular values below ``rcond * max(S)`` count as zero."""
    return D._pinv(input, rcond)


def lstsq(A: Any, B: Any, rcond: float | None = None, *, driver: str | None = None
          ) -> LstsqResult:
    """The least-squares solution of A X = B, as ``torch.linalg.lstsq`` (``solution`` =
    pinv(A) B, differentiable; ``rank`` is computed, ``residuals`` and ``singular_values`` are
    empty, as PyTorch's default driver on the CPU gives them)."""
    a, b = _t(A), _t(B)
    D.check_matrix("linalg.lstsq", a)
    if b.shape[-2 if b.ndim >= 2 else 0] != a.shape[-2]:
        raise RuntimeError(f"linalg.lstsq: A {fmt_shape(a.shape)} and B {fmt_shape(b.shape)}: "
                           f"B must have {a.shape[-2]} rows")
    x = L.matmul(D._pinv(a, rcond), b)
    xp = backend.get_array_module(a._data)
    empty = _leaf(xp.zeros((0,), dtype=a.dtype))
    rank = _leaf(xp.asarray(xp.linalg.matrix_rank(a._data)).astype(backend.int64))
    return LstsqResult(x, empty, rank, empty)


# --- products ---------------------------------------------------------------------------------


@public(method=True)
def matrix_power(input: Any, n: int) -> Tensor:
    """A^n for an integer n (n < 0: inv(A)^-n; n = 0: the identity), by repeated squaring."""
    a = _t(input)
    D.check_square("linalg.matrix_power", a)
    if int(n) != n:
        raise TypeError(f"linalg.matrix_power: n must be an integer, got {n!r}")
    n = int(n)
    if n == 0:
        eye = backend.get_array_module(a._data).eye(a.shape[-1], dtype=a.dtype)
        return E.add(E.mul(a, 0.0), eye)
    if n < 0:
        a, n = D._inv(a), -n
    result = None
    while n:
        if n & 1:
            result = a if result is None else L.matmul(result, a)
        n >>= 1
        if n:
            a = L.matmul(a, a)
    return result


@public(method=True)
def matrix_exp(input: Any) -> Tensor:
    """The matrix exponential: scaling and squaring around a degree-18 Taylor polynomial (the
    scaled matrix has norm <= 1/2, so the truncation error is below 1e-22), differentiable
    through its matmuls."""
    a = _t(input)
    D.check_square("linalg.matrix_exp", a)
    xp = backend.get_array_module(a._data)
    norm = float(xp.abs(a._data).sum(-1).max()) if a._data.size else 0.0
    s = max(0, math.ceil(math.log2(norm / 0.5))) if norm > 0.5 else 0
    x = E.mul(a, 1.0 / 2 ** s) if s else a
    eye = xp.eye(a.shape[-1], dtype=a.dtype)
    out = E.add(E.mul(x, 1.0 / 18), eye)
    for k in range(17, 0, -1):
        out = E.add(E.mul(L.matmul(x, out), 1.0 / k), eye)
    for _ in range(s):
        out = L.matmul(out, out)
    return out


@public(method=True)
def kron(input: Any, other: Any) -> Tensor:
    """The Kronecker product (shapes padded with leading 1s to the same length; result dims
    are the products)."""
    a, b = _t(input), _t(other)
    nd = max(a.ndim, b.ndim)
    sa = (1,) * (nd - a.ndim) + tuple(a.shape)
    sb = (1,) * (nd - b.ndim) + tuple(b.shape)
    ai = S.reshape(a, tuple(d for n in sa for d in (n, 1)))
    bi = S.reshape(b, tuple(d for n in sb for d in (1, n)))
    return S.reshape(E.mul(ai, bi), tuple(x * y for x, y in zip(sa, sb)))


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@public
def tensordot(a: Any, b: Any, dims: Any = 2) -> Tensor:
    """Contract the last ``dims`` dims of ``a`` with the first ``dims`` of ``b`` (an int), or
    the dims listed in a pair ``([dims of a], [dims of b])``, as ``torch.tensordot``."""
    a, b = _t(a), _t(b)
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError(f"tensordot: dims must be >= 0, got {dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, int) else list(d) for d in dims)
    if len(da) != len(db):
        raise RuntimeError(f"tensordot: both sides of dims must name as many dims, got {dims}")
    da = [S.normalize_dim(d, a.ndim, "tensordot") for d in da]
    db = [S.normalize_dim(d, b.ndim, "tensordot") for d in db]
    for i, j in zip(da, db):
        if a.shape[i] != b.shape[j]:
            raise RuntimeError(f"tensordot: contracted dims differ: {fmt_shape(a.shape)} dim {i} "
                               f"has size {a.shape[i]}, {fmt_shape(b.shape)} dim {j} has size "
                               f"{b.shape[j]}")
    letters = iter(_LETTERS)
    ta = [next(letters) for _ in range(a.ndim)]
    tb = [next(letters) for _ in range(b.ndim)]
    for i, j in zip(da, db):
        tb[j] = ta[i]
    out = [ta[i] for i in range(a.ndim) if i not in da] + [tb[j] for j in range(b.ndim)
                                                          if j not in db]
    return L.einsum(f"{''.join(ta)},{''.join(tb)}->{''.join(out)}", a, b)


@public(method=True)
def inner(input: Any, other: Any) -> Tensor:
    """The inner product over the last dim (a 0-d operand multiplies): shape
    ``input.shape[:-1] + other.shape[:-1]``."""
    a, b = _t(input), _t(other)
    if a.ndim == 0 or b.ndim == 0:
        return E.mul(a, b)
    return tensordot(a, b, ([-1], [-1]))


@public(method=True)
def vdot(input: Any, other: Any) -> Tensor:
    """The dot product of two 1-D tensors (real: ``dot``)."""
    return L.dot(input, other)


@public(method=True)
def addmv(input: Any, mat: Any, vec: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """``beta * input + alpha * (mat @ vec)``."""
    prod = L.mv(mat, vec)
    return E.add(input if beta == 1 else E.mul(input, beta),
                 prod if alpha == 1 else E.mul(prod, alpha))


def multi_dot(tensors: Any) -> Tensor:
    """The product of a sequence of matrices (the first may be a 1-D row vector, the last a
    1-D column vector), as ``torch.linalg.multi_dot``."""
    ts = [_t(t) for t in tensors]
    if len(ts) < 2:
        raise RuntimeError(f"linalg.multi_dot: expected at least 2 tensors, got {len(ts)}")
    for i, t in enumerate(ts):
        ok = (1, 2) if i in (0, len(ts) - 1) else (2,)
        if t.ndim not in ok:
            raise RuntimeError(f"linalg.multi_dot: tensor {i} has shape {fmt_shape(t.shape)}; "
                               "expected 2-D matrices (1-D allowed first and last)")
    return reduce(L.matmul, ts)


@public
def chain_matmul(*matrices: Any) -> Tensor:
    """The product of 2-D matrices (``torch.chain_matmul``; ``linalg.multi_dot`` is the newer
    name)."""
    if len(matrices) == 1:
        return _t(matrices[0])
    return multi_dot(matrices)


def vecdot(x: Any, y: Any, *, dim: int = -1) -> Tensor:
    """The dot product along ``dim`` (broadcasting), as ``torch.linalg.vecdot``."""
    return R.sum(E.mul(x, y), dim)


def linalg_cross(input: Any, other: Any, *, dim: int = -1) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (the last by default, as
    ``torch.linalg.cross``)."""
    return T.cross(input, other, dim)
