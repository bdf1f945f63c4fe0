"""Matrix functions and decompositions of ``torch.linalg``: inv, det, log|det|, solve, cholesky,
qr, eigh, svd and pinv, each a primitive with its vjp (batched over leading dimensions).

The registry holds single-output primitives, so a decomposition with several factors is one
primitive whose output packs them along the second-to-last dimension (``eigh``: the eigenvalues
as row 0 above the eigenvectors; ``svd``: U, then S as one row, then V; ``qr``: Q above R^T). The
public functions (``chainrule.linalg.eigh``, ...) slice the factors out, so the gradients of all
of them meet in one vjp, which the sweep checks like any other op.

Conventions where the result is not unique, chosen so that the functions are smooth (finite
differences agree) and reproducible across LAPACK builds: eigenvectors and singular vectors are
signed so that the entry of largest magnitude in each (U's column for svd) is positive. ``eigh``
and ``cholesky`` read the whole input, symmetrized (``(A + A^T) / 2``); PyTorch reads the lower
triangle. For the symmetric inputs both document, values and gradients are PyTorch's.
Gradients assume what PyTorch's do: distinct eigenvalues (eigh) and singular values (svd),
invertible matrices (det, slogdet, solve, inv), full rank (qr, pinv).
"""

from __future__ import annotations

from typing import Any

from chainrule import backend
from chainrule.errors import LinAlgError, fmt_shape
from chainrule.ops import samples as S
from chainrule.ops.registry import primitive


def check_square(op: str, a: Any) -> None:
    """A batch of square matrices, or a RuntimeError naming ``op`` (as PyTorch)."""
    shape = a.shape
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise RuntimeError(f"{op}: A must be batches of square matrices, got a tensor of shape "
                           f"{fmt_shape(shape)}")


def check_matrix(op: str, a: Any) -> None:
    if len(a.shape) < 2:
        raise RuntimeError(f"{op}: the input must have at least 2 dimensions, got shape "
                           f"{fmt_shape(a.shape)}")


def lapack(op: str, fn: Any, *args: Any, what: str = "singular", **kw: Any) -> Any:
    """``fn(*args)``, its ``LinAlgError`` re-raised as ``chainrule.linalg.LinAlgError`` naming
    ``op`` and why (``what``: singular, not positive-definite, ...)."""
    xp = backend.get_array_module(*args)
    try:
        return fn(*args, **kw)
    except xp.linalg.LinAlgError as e:
        raise LinAlgError(f"{op}: the input matrix is {what} ({e}), so the {op} could not be "
                          "computed") from None


def inv_array(xp: Any, a: Any) -> Any:
    """inv on arrays, for vjps (a singular matrix raises ``LinAlgError``)."""
    return lapack("linalg.inv", xp.linalg.inv, a)


def solve_array(xp: Any, a: Any, b: Any) -> Any:
    """solve on arrays (matrix right-hand sides), for vjps."""
    return lapack("linalg.solve", xp.linalg.solve, a, b)


def _eye(like: Any, n: int) -> Any:
    """The n x n identity in ``like``'s dtype and array module (a constant in vjps)."""
    return backend.get_array_module(getattr(like, "_data", like)).eye(n, dtype=like.dtype)


def _mT(xp: Any, x: Any) -> Any:
    return xp.swapaxes(x, -1, -2)


def _sign_fix(xp: Any, v: Any) -> Any:
    """+1/-1 per column of ``v``: the sign of the column's entry of largest magnitude."""
    idx = xp.expand_dims(xp.argmax(xp.abs(v), axis=-2), -2)
    s = xp.sign(xp.take_along_axis(v, idx, axis=-2))
    return xp.where(s == 0, 1.0, s).astype(v.dtype, copy=False)


# --- samples -------------------------------------------------------------------------------------


def _square_samples(rng: S.Rng):
    for shape in ((3, 3), (1, 1), (2, 2, 2), (2, 1, 3, 3)):
        yield S.Sample([S.full_rank(rng, shape)], label=f"{shape}")


def _spd_samples(rng: S.Rng):
    for shape in ((3, 3), (1, 1), (2, 4, 4)):
        yield S.Sample([S.symmetric(rng, shape, 0.5)], label=f"SPD {shape}")


def _eigh_samples(rng: S.Rng):
    for shape in ((3, 3), (1, 1), (2, 4, 4)):
        yield S.Sample([S.symmetric(rng, shape, -2.0)], label=f"symmetric {shape}")


def _rect_samples(rng: S.Rng):
    for shape in ((3, 3), (4, 2), (2, 4), (2, 3, 2), (1, 1)):
        yield S.Sample([S.full_rank(rng, shape)], label=f"{shape}")


def _solve_samples(rng: S.Rng):
    r = rng.standard_normal
    yield S.Sample([S.full_rank(rng, (3, 3)), r((3, 2))], label="A X = B")
    yield S.Sample([S.full_rank(rng, (2, 3, 3)), r((3, 1))], label="batched A, one B")
    yield S.Sample([S.full_rank(rng, (1, 2, 2)), r((3, 2, 2))], label="broadcast batch")
    yield S.Sample([S.full_rank(rng, (1, 1)), r((1, 3))], label="1 x 1")


# --- inv, det, log|det|, solve -------------------------------------------------------------------


@primitive("inv", torch=lambda torch, a: torch.linalg.inv(a), saves="out",
           formula="d inv(A) = -inv(A)^T g inv(A)^T", samples=_square_samples)
def _inv(xp, a):
    """The inverse of each square matrix (``linalg.inv``)."""
    check_square("linalg.inv", a)
    return lapack("linalg.inv", xp.linalg.inv, a)


@_inv.defvjp
def _(c, g):
    xp = c.xp
    t = _mT(xp, c.out)
    return (-xp.matmul(xp.matmul(t, g), t),)


@primitive("det", torch=lambda torch, a: torch.linalg.det(a), saves="x,out",
           formula="d det(A)/dA = det(A) inv(A)^T", samples=_square_samples)
def _det(xp, a):
    """The determinant of each square matrix (``linalg.det``); its gradient needs an invertible
    matrix."""
    check_square("linalg.det", a)
    return xp.linalg.det(a)


@_det.defvjp
def _(c, g):
    xp = c.xp
    gd = g * c.out
    return (xp.reshape(gd, (*gd.shape, 1, 1)) * _mT(xp, xp.inv(c.x[0])),)


@primitive("logabsdet", torch=lambda torch, a: torch.linalg.slogdet(a)[1],
           formula="d log|det(A)|/dA = inv(A)^T", samples=_square_samples)
def _logabsdet(xp, a):
    """log |det(A)| of each square matrix (``linalg.slogdet``'s second result)."""
    check_square("linalg.slogdet", a)
    return xp.linalg.slogdet(a)[1]


@_logabsdet.defvjp
def _(c, g):
    xp = c.xp
    return (xp.reshape(g, (*g.shape, 1, 1)) * _mT(xp, xp.inv(c.x[0])),)


@primitive("solve", nin=2, torch=lambda torch, a, b: torch.linalg.solve(a, b), saves="x,out",
           formula="X = inv(A) B;  dB = solve(A^T, g);  dA = -dB X^T", samples=_solve_samples)
def _solve(xp, a, b):
    """X with A X = B, for a batch of square A and matrices B (batch dimensions broadcast)."""
    check_square("linalg.solve", a)
    if len(b.shape) < 2 or b.shape[-2] != a.shape[-1]:
        raise RuntimeError(f"linalg.solve: A {fmt_shape(a.shape)} and B {fmt_shape(b.shape)}: "
                           f"B must have {a.shape[-1]} rows (shape (..., {a.shape[-1]}, k)) or "
                           "be a batch of vectors (..., n)")
    return lapack("linalg.solve", xp.linalg.solve, a, b)


@_solve.defvjp
def _(c, g):
    xp = c.xp
    a = c.x[0]
    gb = xp.solve(_mT(xp, a), g)
    ga = -xp.matmul(gb, _mT(xp, c.out)) if c.need[0] else None
    return ga, (gb if c.need[1] else None)


# --- cholesky ------------------------------------------------------------------------------------


@primitive("cholesky", torch=lambda torch, a: torch.linalg.cholesky(a), saves="out",
           formula="S = L^-T Phi(L^T tril(g)) L^-1 (Phi: lower triangle, half diagonal); "
                   "dA = (S + S^T) / 2", samples=_spd_samples)
def _cholesky(xp, a):
    """The lower-triangular L with L L^T = (A + A^T) / 2, for symmetric positive-definite A."""
    check_square("linalg.cholesky", a)
    return lapack("linalg.cholesky", xp.linalg.cholesky, 0.5 * (a + _mT(xp, a)),
                  what="not positive-definite")


@_cholesky.defvjp
def _(c, g):
    xp = c.xp
    L = c.out
    n = L.shape[-1]
    half_diag = 1.0 - 0.5 * _eye(g, n)
    p = xp.tril(xp.matmul(_mT(xp, L), xp.tril(g, 0)), 0) * half_diag
    li = xp.inv(L)
    s = xp.matmul(xp.matmul(_mT(xp, li), p), li)
    return ((s + _mT(xp, s)) * 0.5,)


# --- eigh: eigenvalues (row 0) above eigenvectors ---------------------------------------------


def _torch_eigh(torch: Any, a: Any) -> Any:
    w, v = torch.linalg.eigh(a)
    idx = v.detach().abs().argmax(-2, keepdim=True)
    v = v * v.detach().gather(-2, idx).sign()
    return torch.cat([w.unsqueeze(-2), v], -2)


@primitive("eigh", torch=_torch_eigh, saves="out",
           formula="dA = V (diag(g_w) + skew(V^T g_V) / (w_j - w_i)) V^T",
           samples=_eigh_samples)
def _eigh(xp, a):
    """Eigenvalues (ascending, row 0) above the eigenvectors (columns) of (A + A^T) / 2."""
    check_square("linalg.eigh", a)
    w, v = lapack("linalg.eigh", xp.linalg.eigh, 0.5 * (a + _mT(xp, a)), what="not convergent")
    v = v * _sign_fix(xp, v)
    return xp.concatenate([xp.expand_dims(w, -2), v], axis=-2)


@_eigh.defvjp
def _(c, g):
    xp = c.xp
    w, v = c.out[..., 0, :], c.out[..., 1:, :]
    gw, gv = g[..., 0, :], g[..., 1:, :]
    eye = _eye(g, w.shape[-1])
    e = xp.reshape(w, (*w.shape[:-1], 1, w.shape[-1])) - xp.reshape(w, (*w.shape, 1)) + eye
    x = xp.matmul(_mT(xp, v), gv)
    inner = (x - _mT(xp, x)) * 0.5 / e + xp.reshape(gw, (*gw.shape[:-1], 1, gw.shape[-1])) * eye
    return (xp.matmul(xp.matmul(v, inner), _mT(xp, v)),)


# --- svd: U, then S as one row, then V ------------------------------------------------------------


def _torch_svd(torch: Any, a: Any) -> Any:
    u, s, vh = torch.linalg.svd(a, full_matrices=False)
    idx = u.detach().abs().argmax(-2, keepdim=True)
    sign = u.detach().gather(-2, idx).sign()
    return torch.cat([u * sign, s.unsqueeze(-2), vh.mT * sign], -2)


@primitive("svd", torch=_torch_svd, saves="x,out",
           formula="dA = U [(skew(U^T gU) S + S skew(V^T gV)) / (s_j^2 - s_i^2) + diag(gS)] V^T "
                   "+ the parts of gU, gV outside span(U), span(V)",
           samples=_rect_samples)
def _svd(xp, a):
    """The reduced SVD A = U diag(S) V^T packed as U, then S, then V (rows: m, 1, n)."""
    check_matrix("linalg.svd", a)
    u, s, vh = lapack("linalg.svd", xp.linalg.svd, a, full_matrices=False,
                      what="not convergent")
    sign = _sign_fix(xp, u)
    return xp.concatenate([u * sign, xp.expand_dims(s, -2), _mT(xp, vh) * sign], axis=-2)


@_svd.defvjp
def _(c, g):
    xp = c.xp
    m, n = c.x[0].shape[-2:]
    k = min(m, n)
    out = c.out
    u, s, v = out[..., :m, :], out[..., m, :], out[..., m + 1:, :]
    gu, gs, gv = g[..., :m, :], g[..., m, :], g[..., m + 1:, :]
    eye = _eye(g, k)
    row = xp.reshape(s, (*s.shape[:-1], 1, k))  # s_j along rows
    col = xp.reshape(s, (*s.shape, 1))  # s_i along columns
    e = row * row - col * col + eye
    uhgu = xp.matmul(_mT(xp, u), gu)
    vhgv = xp.matmul(_mT(xp, v), gv)
    inner = ((uhgu - _mT(xp, uhgu)) * row + col * (vhgv - _mT(xp, vhgv))) / e
    inner = inner + xp.reshape(gs, (*gs.shape[:-1], 1, k)) * eye
    vt = _mT(xp, v)
    if m > k:  # the part of gU outside span(U)
        gus = gu / row
        left = xp.matmul(u, inner) + gus - xp.matmul(u, xp.matmul(_mT(xp, u), gus))
        return (xp.matmul(left, vt),)
    if n > k:  # the part of gV outside span(V)
        sgv = _mT(xp, gv) / col
        right = xp.matmul(inner, vt) + sgv - xp.matmul(xp.matmul(sgv, v), vt)
        return (xp.matmul(u, right),)
    return (xp.matmul(xp.matmul(u, inner), vt),)


# --- qr: Q above R^T ---------------------------------------------------------------------------


def _torch_qr(torch: Any, a: Any) -> Any:
    q, r = torch.linalg.qr(a)
    return torch.cat([q, r.mT], -2)


@primitive("qr", torch=_torch_qr, saves="x,out",
           formula="m >= n: dA = (gQ + Q copyltu(R gR^T - gQ^T Q)) R^-T;  m < n: A = [X | Y], "
                   "dY = Q gR_Y, dX from the square case with gQ + Y gR_Y^T",
           samples=_rect_samples)
def _qr(xp, a):
    """The reduced QR A = Q R packed as Q (m rows) above R^T (n rows), k = min(m, n) columns."""
    check_matrix("linalg.qr", a)
    q, r = xp.linalg.qr(a)
    return xp.concatenate([q, _mT(xp, r)], axis=-2)


def _qr_square_vjp(xp: Any, q: Any, r: Any, gq: Any, gr: Any) -> Any:
    """The gradient of A = QR for m >= n: (gQ + Q copyltu(M)) R^-T, M = R gR^T - gQ^T Q."""
    m = xp.matmul(r, _mT(xp, gr)) - xp.matmul(_mT(xp, gq), q)
    sym = xp.tril(m, 0) + _mT(xp, xp.tril(m, -1))
    return xp.matmul(gq + xp.matmul(q, sym), _mT(xp, xp.inv(r)))


@_qr.defvjp
def _(c, g):
    xp = c.xp
    a = c.x[0]
    m, n = a.shape[-2:]
    q, r = c.out[..., :m, :], _mT(xp, c.out[..., m:, :])
    gq, gr = g[..., :m, :], xp.triu(_mT(xp, g[..., m:, :]), 0)
    if m >= n:
        return (_qr_square_vjp(xp, q, r, gq, gr),)
    gr_y = gr[..., m:]
    gy = xp.matmul(q, gr_y)
    gx = _qr_square_vjp(xp, q, r[..., :m], gq + xp.matmul(a[..., :, m:], _mT(xp, gr_y)),
                        gr[..., :m])
    return (xp.cat([gx, gy], -1),)


# --- pinv --------------------------------------------------------------------------------------


@primitive("pinv", torch=lambda torch, a: torch.linalg.pinv(a), saves="x,out",
           formula="PyTorch's pinv_backward: products of g, A and pinv(A) (constant rank)",
           samples=_rect_samples)
def _pinv(xp, a, rtol=None):
    """The Moore-Penrose pseudo-inverse; singular values below ``rtol * max(S)`` count as 0
    (default ``eps * max(m, n)``, as PyTorch)."""
    check_matrix("linalg.pinv", a)
    if rtol is None:
        rtol = xp.finfo(a.dtype if a.dtype.kind == "f" else backend.float64).eps * max(a.shape[-2:])
    return lapack("linalg.pinv", xp.linalg.pinv, a, rtol=rtol, what="not convergent")


@_pinv.defvjp
def _(c, g):
    xp = c.xp
    a, p = c.x[0], c.out
    ph, gh = _mT(xp, p), _mT(xp, g)
    m, n = a.shape[-2:]
    if m <= n:
        k = xp.matmul(gh, p)
        kph = xp.matmul(k, ph)
        return (-_mT(xp, xp.matmul(p, k)) + kph - xp.matmul(xp.matmul(a, p), kph)
                + xp.matmul(xp.matmul(ph, p), gh - xp.matmul(k, a)),)
    k = xp.matmul(p, gh)
    phk = xp.matmul(ph, k)
    return (-_mT(xp, xp.matmul(k, p)) + xp.matmul(xp.matmul(gh - xp.matmul(a, k), p), ph)
            + phk - xp.matmul(xp.matmul(phk, p), a),)
