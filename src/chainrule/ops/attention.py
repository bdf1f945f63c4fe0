"""What attention code reaches for: triangular masks (``tril``, ``triu``), running sums
(``cumsum``), sampling (``multinomial``), ``baddbmm``, and fused scaled-dot-product attention.

``scaled_dot_product_attention`` is one primitive: scores, mask, softmax, dropout and the product
with the values in one forward, and one vjp that reuses the attention probabilities it saved.
"""

from __future__ import annotations

import math
from typing import Any

from chainrule import backend
from chainrule.autograd.dtypes import to_dtype
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.errors import DTypeError, fmt_shape, op_error
from chainrule.ops import samples as S
from chainrule.ops.elementwise import cast
from chainrule.ops.linalg import bmm
from chainrule.ops.registry import primitive, public
from chainrule.ops.shape import normalize_dim, required_dim
from chainrule.random import Generator, generator_of

# --- tril, triu -------------------------------------------------------------------------------


def _tri_samples(rng: Any):
    r = rng.standard_normal
    yield S.Sample([r((3, 3))], (0,))
    yield S.Sample([r((3, 4))], (1,))
    yield S.Sample([r((2, 4, 3))], (-1,))
    yield S.Sample([r((1, 2))], (0,))
    yield S.Sample([r((2, 1, 3, 3))], (-5,))


def _need_matrix(name: str, x: Any) -> None:
    if x.ndim < 2:
        raise op_error(name, f"input has shape {fmt_shape(x.shape)}",
                       "a tensor with at least 2 dimensions (a matrix or a batch of them)")


@primitive("tril", saves="", torch=lambda torch, x, diagonal: torch.tril(x, diagonal),
           formula="d tril(x, k)/dx: g -> tril(g, k)", samples=_tri_samples, method=True)
def tril(xp, x, diagonal=0):
    """The lower triangle of the last two dimensions: entries with ``j - i <= diagonal`` are
    kept, the rest are zero (``cr.ones(T, T).tril()`` is a causal mask)."""
    _need_matrix("tril", x)
    return xp.tril(x, diagonal)


@tril.defvjp
def _(c, g):
    return (c.xp.tril(g, c.p[0]),)


@primitive("triu", saves="", torch=lambda torch, x, diagonal: torch.triu(x, diagonal),
           formula="d triu(x, k)/dx: g -> triu(g, k)", samples=_tri_samples, method=True)
def triu(xp, x, diagonal=0):
    """The upper triangle of the last two dimensions: entries with ``j - i >= diagonal`` are
    kept, the rest are zero."""
    _need_matrix("triu", x)
    return xp.triu(x, diagonal)


@triu.defvjp
def _(c, g):
    return (c.xp.triu(g, c.p[0]),)


# --- cumsum -----------------------------------------------------------------------------------


def _cumsum_samples(rng: Any):
    r = rng.standard_normal
    yield S.Sample([r((4,))], (0,))
    yield S.Sample([r((2, 3))], (1,))
    yield S.Sample([r((2, 3))], (-2,))
    yield S.Sample([r(())], (0,))
    yield S.Sample([r((2, 1, 3))], (1,))


@primitive("cumsum", saves="", torch=lambda torch, x, dim: torch.cumsum(x, dim),
           formula="d cumsum(x)/dx: g -> reversed cumsum of g (flip, cumsum, flip)",
           samples=_cumsum_samples, export=False)
def _cumsum(xp, x, dim):
    if x.ndim == 0:
        normalize_dim(dim, 0, "cumsum")
        return x.copy()
    return xp.cumsum(x, normalize_dim(dim, x.ndim, "cumsum"))


@_cumsum.defvjp
def _(c, g):
    if g.ndim == 0:
        return (g,)
    xp, d = c.xp, c.p[0]
    return (xp.flip(xp.cumsum(xp.flip(g, d), d), d),)


@public(method=True)
def cumsum(input: Any, dim: Any = None, *, dtype: Any = None, axis: Any = None) -> Any:
    """Running sums along ``dim``: ``out[i] = input[0] + ... + input[i]`` (as ``torch.cumsum``;
    ``dtype`` casts the input first)."""
    dim = required_dim("cumsum", dim, axis)
    if dtype is not None:
        input = cast(input, to_dtype(dtype))
    return _cumsum(input, dim)


# --- baddbmm ----------------------------------------------------------------------------------


@public(method=True)
def baddbmm(input: Any, batch1: Any, batch2: Any, *, beta: float = 1, alpha: float = 1) -> Any:
    """``beta * input + alpha * (batch1 @ batch2)`` for 3-D batches (``input`` broadcasts to
    the product's shape; with ``beta=0`` it is ignored, NaN included, as in PyTorch)."""
    out = bmm(batch1, batch2)
    if alpha != 1:
        out = out * alpha
    if beta == 0:
        return out
    return out + (input if beta == 1 else input * beta)


# --- multinomial ------------------------------------------------------------------------------


@public(method=True)
def multinomial(input: Any, num_samples: int, replacement: bool = False, *,
                generator: Generator | None = None) -> Tensor:
    """Draw ``num_samples`` category indices from each row of non-negative weights ``input``
    (1-D: one distribution; 2-D: one per row; weights need not sum to 1), as
    ``torch.multinomial``. Without ``replacement`` each category is drawn at most once.
    Seeded by ``cr.manual_seed`` or ``generator``; returns int64 (not differentiable)."""
    w = input._data if isinstance(input, Tensor) else backend.xp.asarray(input)
    xp = backend.get_array_module(w)
    if w.ndim not in (1, 2):
        raise op_error("multinomial", f"input has shape {fmt_shape(w.shape)}",
                       "a 1-D tensor of weights or a 2-D tensor with one row per distribution")
    if w.dtype.kind != "f":
        raise op_error("multinomial", f"input has dtype {w.dtype}", "floating-point weights",
                       "convert them first, e.g. w.float()", kind=DTypeError)
    rows = w.reshape(-1, w.shape[-1]).astype(backend.float64)
    n_rows, n = rows.shape
    k = int(num_samples)
    if k <= 0:
        raise op_error("multinomial", f"num_samples = {k}", "num_samples >= 1", kind=ValueError)
    bad = ~xp.isfinite(rows).all(1) | (rows < 0).any(1)
    if n == 0 or bad.any() or (rows.sum(1) <= 0).any():
        raise op_error("multinomial", "invalid weights (a row that is empty, negative, inf, NaN "
                       "or sums to 0)", "finite, non-negative weights with a positive sum in "
                       "every row", kind=ValueError)
    rng = generator_of(generator)
    if replacement:
        cdf = xp.cumsum(rows, 1)
        cdf /= cdf[:, -1:]
        u = rng.random((n_rows, k))
        idx = xp.stack([xp.searchsorted(cdf[r], u[r], side="right") for r in range(n_rows)])
        idx = xp.minimum(idx, n - 1)
    else:
        live = rows > 0
        if k > int(live.sum(1).min()):
            raise op_error("multinomial", f"cannot draw {k} distinct categories from a row with "
                           f"{int(live.sum(1).min())} non-zero weight(s) (replacement=False)",
                           "num_samples <= the number of non-zero weights",
                           "pass replacement=True to draw with replacement", kind=ValueError)
        # the exponential race: category i arrives at E_i / w_i; the first k to arrive are a
        # draw without replacement (successive sampling, as PyTorch's)
        keys = xp.where(live, rng.exponential(size=rows.shape) / xp.where(live, rows, 1.0),
                        xp.inf)
        idx = xp.argsort(keys, axis=1, kind="stable")[:, :k]
    idx = idx.astype(backend.int64)
    return _leaf(idx.reshape(k) if w.ndim == 1 else idx)


# --- scaled dot-product attention ---------------------------------------------------------------


def _scores(xp: Any, q: Any, k: Any, mask: Any, scale: float, causal: bool) -> Any:
    """``q @ k^T * scale`` with the causal and explicit masks applied (composable: also used
    with chainrule's own ops to recompute the probabilities under ``create_graph``)."""
    s = xp.matmul(q, xp.swapaxes(k, -1, -2)) * scale
    if causal:
        L, S_ = s.shape[-2:]
        s = xp.where(backend.xp.tri(L, S_, dtype=bool), s, -math.inf)
    if mask is not None:
        s = xp.where(mask, s, -math.inf) if mask.dtype == backend.bool_ else s + mask
    return s


def _safe_softmax(xp: Any, s: Any) -> Any:
    """Softmax over the last axis in place, where a row with no allowed key gives zeros (not
    NaN), as PyTorch's attention does."""
    m = s.max(-1, keepdims=True)
    dead = ~xp.isfinite(m)
    if dead.any():
        m[dead] = 0.0
    s -= m
    xp.exp(s, out=s)
    z = s.sum(-1, keepdims=True)
    if dead.any():
        z[z == 0] = 1.0
    s /= z
    return s


_CAUSAL: dict[tuple, Any] = {}


def _causal_bias(xp: Any, L: int, S_: int, dtype: Any) -> Any:
    """0 on and below the diagonal, -inf above it (cached: added in place, one pass)."""
    key = (xp, L, S_, dtype)
    b = _CAUSAL.get(key)
    if b is None:
        if len(_CAUSAL) > 64:
            _CAUSAL.clear()
        b = _CAUSAL[key] = xp.where(xp.tri(L, S_, dtype=bool), 0.0, -math.inf).astype(dtype)
    return b


def _sdpa_torch(torch: Any, q: Any, k: Any, v: Any, mask: Any, scale: float, causal: bool,
                keep: Any) -> Any:
    if keep is None:
        return torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, scale=scale)
    s = q @ k.transpose(-1, -2) * scale  # PyTorch draws its own dropout mask: compose by hand
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else s + mask
    return (torch.softmax(s, -1) * torch.as_tensor(keep)) @ v


def _sdpa_samples(rng: Any):
    r = rng.standard_normal
    yield S.Sample([r((2, 3, 4)), r((2, 5, 4)), r((2, 5, 3)), None], (0.5, False, None),
                   label="no mask")
    yield S.Sample([r((1, 2, 4, 3)), r((1, 2, 4, 3)), r((1, 2, 4, 2)), None], (0.7, True, None),
                   label="causal")
    yield S.Sample([r((2, 3, 4)), r((2, 5, 4)), r((2, 5, 3)), r((3, 5))], (0.5, False, None),
                   label="float mask (differentiated)")
    m = rng.random((2, 3, 5)) > 0.4
    m[:, :, 0] = True  # no row fully masked
    yield S.Sample([r((2, 3, 4)), r((2, 5, 4)), r((2, 5, 3)), m], (0.5, False, None),
                   label="bool mask")
    keep = (rng.random((2, 3, 5)) > 0.3) / 0.7
    yield S.Sample([r((2, 3, 4)), r((2, 5, 4)), r((2, 5, 3)), None], (0.5, False, keep),
                   label="dropout mask")


@primitive("scaled_dot_product_attention", nin=4, res=True, torch=_sdpa_torch,
           samples=_sdpa_samples,
           formula="a = softmax(q k^T s + m); out = a v;  dv = a^T g;  ds = a * (g v^T - "
                   "sum(g v^T * a));  dq = ds k s;  dk = ds^T q s;  dm = ds")
def _sdpa(xp, q, k, v, mask, scale, causal, keep):
    s = xp.matmul(q, xp.swapaxes(k, -1, -2))
    s *= scale
    if causal:
        s += _causal_bias(xp, *s.shape[-2:], s.dtype)
    if mask is not None:
        s = xp.where(mask, s, -math.inf) if mask.dtype == xp.bool_ else s + mask
    a = _safe_softmax(xp, s)
    out = xp.matmul(a if keep is None else a * keep.astype(a.dtype, copy=False), v)
    return out, a


@_sdpa.defvjp
def _(c, g):
    xp = c.xp
    q, k, v, mask = c.x
    scale, causal, keep = c.p
    if isinstance(q, Tensor):  # create_graph: the saved probabilities are constants; recompute
        a = xp.softmax(_scores(xp, q, k, mask, scale, causal), -1)
    else:
        a = c.res
    need = c.need
    if keep is not None:
        keep = keep.astype(a.dtype, copy=False)
    ad = a if keep is None else a * keep
    gv = xp.matmul(xp.swapaxes(ad, -1, -2), g) if need[2] else None
    gq = gk = gm = None
    if need[0] or need[1] or need[3]:
        ga = xp.matmul(g, xp.swapaxes(v, -1, -2))
        if keep is not None:
            ga = ga * keep
        gs = a * (ga - xp.sum(ga * a, -1, keepdims=True))
        gm = gs if need[3] else None
        if need[0]:
            gq = xp.matmul(gs, k) * scale
        if need[1]:
            gk = xp.matmul(xp.swapaxes(gs, -1, -2), q) * scale
    return gq, gk, gv, gm


@public(functional=True)
def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None,
                                 dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None, enable_gqa: bool = False) -> Any:
    """``softmax(query @ key^T * scale + mask) @ value`` over the last two dimensions, as
    ``torch.nn.functional.scaled_dot_product_attention``.

    Shapes: query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev). ``attn_mask``
    broadcasts to (..., L, S): a bool mask keeps the positions where it is True, a float mask is
    added to the scores. ``is_causal``: query i attends to keys 0..i (lower triangle; no
    ``attn_mask`` then). ``scale`` defaults to 1/sqrt(E). ``dropout_p`` drops attention
    probabilities (always: pass 0.0 in eval, as in PyTorch). A query row whose keys are all masked
    gives zeros.

    Fused into one primitive (the probabilities saved by the forward, reused by the vjp; a
    causal mask added in place): forward + backward measured 1.8x faster than matmul +
    masked_fill + softmax + matmul composed at (32, 4, 64, 16) float32 (7.8 ms vs 14.2 ms; PyTorch
    9.0 ms), 1.3x at (8, 8, 256, 64), 1.8x at (1, 4, 16, 16); 1 thread,
    ``python -m bench.attention``.
    """
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention: enable_gqa=True is not "
                                  "supported; repeat the key/value heads first "
                                  "(k.repeat_interleave(n, dim=-3))")
    qs, ks, vs = (getattr(t, "shape", ()) for t in (query, key, value))
    if len(qs) < 2 or len(ks) < 2 or len(vs) < 2 or qs[-1] != ks[-1] or ks[-2] != vs[-2]:
        raise op_error("scaled_dot_product_attention",
                       f"query {fmt_shape(qs)}, key {fmt_shape(ks)}, value {fmt_shape(vs)}",
                       "query (..., L, E), key (..., S, E) and value (..., S, Ev)")
    if is_causal and attn_mask is not None:
        raise op_error("scaled_dot_product_attention", "both attn_mask and is_causal=True given",
                       "one of them", "fold the causal mask into attn_mask", kind=ValueError)
    if not 0.0 <= dropout_p <= 1.0:
        raise op_error("scaled_dot_product_attention", f"dropout_p = {dropout_p}",
                       "0 <= dropout_p <= 1", kind=ValueError)
    if scale is None:
        scale = 1.0 / math.sqrt(qs[-1])
    keep = None
    if dropout_p > 0.0:
        xp = backend.xp
        batch = xp.broadcast_shapes(qs[:-2], ks[:-2])
        dt = query.dtype if isinstance(query, Tensor) else backend.float32
        if dropout_p >= 1.0:
            keep = xp.zeros((*batch, qs[-2], ks[-2]), dtype=dt)
        else:
            u = generator_of(None).random((*batch, qs[-2], ks[-2]))
            keep = ((u >= dropout_p) / (1.0 - dropout_p)).astype(dt)
    return _sdpa(query, key, value, attn_mask, float(scale), bool(is_causal), keep)
