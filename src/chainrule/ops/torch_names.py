"""PyTorch's other tensor functions, composed from the registered primitives (no new gradients
here: each function is differentiable through the ops it calls, or returns a constant).

PyTorch scripts reach for these by name: ``x.new_zeros``, ``x.scatter_``, ``x.index_add_``,
``torch.nonzero``, ``torch.unique``, ``x.repeat_interleave``, ``torch.roll``, ``x.diag()``,
``torch.logical_and``, ``x.type_as(y)``, ... Their semantics are PyTorch's; the in-place forms
follow the in-place rules of ``Tensor`` (see ``chainrule.autograd.inplace``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from chainrule import backend
from chainrule.autograd.dtypes import to_dtype
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.errors import fmt_shape, op_error
from chainrule.ops import elementwise as E
from chainrule.ops import indexing as I
from chainrule.ops import linalg as L
from chainrule.ops import nondiff as N
from chainrule.ops import reduce as R
from chainrule.ops import shape as S
from chainrule.ops.registry import public
from chainrule.ops.shape import normalize_dim


def _arr(x: Any) -> Any:
    """The array behind ``x`` (a Tensor, an array, a number or a nested list)."""
    a = x._data if isinstance(x, Tensor) else x
    return backend.get_array_module(a).asarray(a)


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else _leaf(_arr(x))


def _int_index(op: str, index: Any) -> Any:
    return I._index_arg(op, index)


# --- new tensors from a tensor (its dtype unless told) ----------------------------------------


def _new(x: Tensor, arr: Any, dtype: Any, requires_grad: bool) -> Tensor:
    arr = arr.astype(x.dtype if dtype is None else to_dtype(dtype), copy=False)
    return _leaf(arr, requires_grad)


def _size_arg(size: Any) -> tuple[int, ...]:
    if isinstance(size, (int, backend.integer)):
        return (int(size),)
    return tuple(int(s) for s in size)


@public(method=True, sizes=True, export=False)
def new_zeros(x: Tensor, size: Any, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    """Zeros of ``size`` with ``x``'s dtype (``Tensor.new_zeros``)."""
    return _new(x, backend.xp.zeros(_size_arg(size)), dtype, requires_grad)


@public(method=True, sizes=True, export=False)
def new_ones(x: Tensor, size: Any, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    """Ones of ``size`` with ``x``'s dtype (``Tensor.new_ones``)."""
    return _new(x, backend.xp.ones(_size_arg(size)), dtype, requires_grad)


@public(method=True, sizes=True, export=False)
def new_empty(x: Tensor, size: Any, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` with ``x``'s dtype (zeros: ``Tensor.new_empty``)."""
    return new_zeros(x, size, dtype, device, requires_grad)


@public(method=True, export=False)
def new_full(x: Tensor, size: Any, fill_value: Any, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    """``fill_value`` everywhere, of ``size``, with ``x``'s dtype (``Tensor.new_full``)."""
    return _new(x, backend.xp.full(_size_arg(size), fill_value), dtype, requires_grad)


@public(method=True, export=False)
def new_tensor(x: Tensor, data: Any, dtype: Any = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
    """A copy of ``data`` with ``x``'s dtype (``Tensor.new_tensor``)."""
    return _new(x, backend.xp.array(_arr(data), copy=True), dtype, requires_grad)


@public(method=True, export=False)
def bfloat16(x: Tensor, memory_format: Any = None) -> Tensor:
    """``Tensor.bfloat16()``: refuses, NumPy having no bfloat16 (see ``cr.bfloat16``)."""
    return x.to(backend.bfloat16)


@public(method=True, export=False)
def type_as(x: Any, other: Tensor) -> Any:
    """``x`` cast to ``other``'s dtype."""
    return x if x.dtype == other.dtype else E.cast(x, other.dtype)


# --- comparisons and predicates as functions (``torch.eq(a, b)``, ``torch.isnan(x)``) ---------


@public
def eq(x: Any, other: Any) -> Tensor:
    """``x == other`` elementwise (bool)."""
    return _t(x) == other


@public
def ne(x: Any, other: Any) -> Tensor:
    """``x != other`` elementwise (bool)."""
    return _t(x) != other


@public
def lt(x: Any, other: Any) -> Tensor:
    """``x < other`` elementwise (bool)."""
    return _t(x) < other


@public
def le(x: Any, other: Any) -> Tensor:
    """``x <= other`` elementwise (bool)."""
    return _t(x) <= other


@public
def gt(x: Any, other: Any) -> Tensor:
    """``x > other`` elementwise (bool)."""
    return _t(x) > other


@public
def ge(x: Any, other: Any) -> Tensor:
    """``x >= other`` elementwise (bool)."""
    return _t(x) >= other


@public
def isnan(x: Any) -> Tensor:
    """Where ``x`` is NaN (bool)."""
    return _t(x).isnan()


@public
def isinf(x: Any) -> Tensor:
    """Where ``x`` is +-inf (bool)."""
    return _t(x).isinf()


@public
def isfinite(x: Any) -> Tensor:
    """Where ``x`` is finite (bool)."""
    return _t(x).isfinite()


def _named(name: str, fn: Any, **kw: Any) -> Any:
    """Register ``fn`` as the public function ``name`` (for names that shadow builtins)."""
    fn.__name__ = fn.__qualname__ = name
    return public(fn, **kw)


def _all(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
         keepdims: bool | None = None) -> Tensor:
    """Whether every element (along ``dim``) is nonzero."""
    return _t(x).all(*S.dim_alias("all", dim, keepdim, axis, keepdims))


def _any(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
         keepdims: bool | None = None) -> Tensor:
    """Whether some element (along ``dim``) is nonzero."""
    return _t(x).any(*S.dim_alias("any", dim, keepdim, axis, keepdims))


_named("all", _all)
_named("any", _any)


@public
def numel(x: Any) -> int:
    """The number of elements of ``x``."""
    return _t(x).numel()


@public
def detach(x: Tensor) -> Tensor:
    """``x.detach()``."""
    return x.detach()


@public
def is_tensor(obj: Any) -> bool:
    """Whether ``obj`` is a chainrule Tensor."""
    return isinstance(obj, Tensor)


@public
def is_floating_point(x: Tensor) -> bool:
    """Whether ``x`` has a floating dtype."""
    return x.is_floating_point()


def _logical(name: str, ufunc: str) -> Any:
    def fn(x: Any, other: Any) -> Tensor:
        return _leaf(getattr(backend.xp, ufunc)(_arr(x), _arr(other)))
    fn.__doc__ = f"Elementwise {name.split('_')[1]} of the truth values of ``x`` and ``other``."
    return _named(name, fn, method=True)


logical_and = _logical("logical_and", "logical_and")
logical_or = _logical("logical_or", "logical_or")
logical_xor = _logical("logical_xor", "logical_xor")


@public(method=True)
def logical_not(x: Any) -> Tensor:
    """Elementwise not of the truth values of ``x`` (bool)."""
    return _leaf(backend.xp.logical_not(_arr(x)))


# --- in-place forms: the out-of-place op under the in-place rules -----------------------------


def _in_place(name: str, fn: Any) -> Any:
    """The in-place method ``name`` of the out-of-place ``fn`` (``x.fn_(...)``)."""
    def method(x: Tensor, *args: Any) -> Tensor:
        return x._inplace(name, fn, *args)
    method.__doc__ = f"In-place ``{fn.__name__}`` (returns ``x``)."
    return _named(name, method, method=True, export=False)


# --- scatter / index_add / index_fill / index_copy / masked_select ----------------------------


def _last_writes(xp: Any, shape: tuple[int, ...], dim: int, index: Any) -> Any:
    """Which entries of ``index`` write last to their destination (C order over ``index``):
    PyTorch leaves repeated destinations unspecified; the last write wins here."""
    flat = xp.ravel_multi_index(xp.broadcast_arrays(*I._along(xp, index, dim)), shape).ravel()
    last = xp.zeros(flat.shape, dtype=bool)
    _, first_of_reversed = xp.unique(flat[::-1], return_index=True)
    last[flat.size - 1 - first_of_reversed] = True
    return last.reshape(index.shape)


def scatter(x: Any, dim: int, index: Any, src: Any = None, value: Any = None, *,
            reduce: str | None = None) -> Any:
    """``x`` with ``src`` (a tensor or a number) written at ``index`` along ``dim``, out of place
    (``torch.scatter``): ``out[i][index[i][j]][k] = src[i][j][k]`` for ``dim=1``.
    ``reduce="add"`` adds instead (``scatter_add``); repeated destinations: the last wins."""
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter: give src (a tensor) or value (a number)")
    nd = backend.xp.ndim(x)
    d = normalize_dim(dim, nd, "scatter")
    idx = _int_index("scatter", index)
    xp = backend.get_array_module(idx)
    if reduce in ("add", "sum"):
        src_t = src if isinstance(src, Tensor) else _leaf(
            xp.full(idx.shape, src, dtype=_t(x).dtype))
        return I.scatter_add(x, d, idx, src_t)
    if reduce is not None:
        raise NotImplementedError(f"scatter: reduce={reduce!r} is not supported here; "
                                  "use reduce='add', or scatter_reduce in PyTorch")
    I._check_gather("scatter", tuple(backend.xp.shape(x)), d, idx)
    hit = xp.zeros(backend.xp.shape(x), dtype=bool)
    hit[I._along(xp, idx, d)] = True
    if not isinstance(src, Tensor):
        return E.where(hit, src, x)
    keep = _last_writes(xp, tuple(backend.xp.shape(x)), d, idx)
    if bool(keep.all()):
        placed = I.scatter_add(E.mul(x, 0), d, idx, src)
    else:
        src_part = I.getitem(src, tuple(slice(0, n) for n in idx.shape))
        placed = I.scatter_add(E.mul(x, 0), d, idx, E.where(keep, src_part, 0))
    return E.where(hit, placed, x)


public(scatter, method=True)
scatter_ = _in_place("scatter_", scatter)
scatter_add_ = _in_place("scatter_add_", I.scatter_add)


def _dim_index(op: str, x: Any, dim: int, index: Any) -> tuple[int, Any]:
    d = normalize_dim(dim, backend.xp.ndim(x), op)
    idx = _int_index(op, index)
    if idx.ndim > 1:
        raise op_error(op, f"index has shape {fmt_shape(idx.shape)}", "a 1-D (or 0-d) index")
    return d, idx.reshape(-1)


@public(method=True)
def index_add(x: Any, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Any:
    """``x`` with ``alpha * source`` added at the positions ``index`` along ``dim``, out of place
    (repeated indices accumulate): ``out[..., index[i], ...] += alpha * source[..., i, ...]``."""
    d, idx = _dim_index("index_add", x, dim, index)
    src = source if alpha == 1 else E.mul(source, alpha)
    shape = tuple(backend.xp.shape(src))
    full = backend.xp.broadcast_to(idx.reshape((1,) * d + (-1,) + (1,) * (len(shape) - d - 1)),
                                   shape)
    return I.scatter_add(x, d, full, src)


@public(method=True)
def index_fill(x: Any, dim: int, index: Any, value: Any) -> Any:
    """``x`` with ``value`` in the slices ``index`` along ``dim``, out of place."""
    d, idx = _dim_index("index_fill", x, dim, index)
    mask = backend.xp.zeros(backend.xp.shape(x)[d], dtype=bool)
    mask[idx] = True
    shape = [1] * backend.xp.ndim(x)
    shape[d] = -1
    return E.where(mask.reshape(shape), value, x)


@public(method=True)
def index_copy(x: Any, dim: int, index: Any, source: Any) -> Any:
    """``x`` with the slices ``index`` along ``dim`` replaced by ``source``, out of place."""
    d, idx = _dim_index("index_copy", x, dim, index)
    return I.index_put(x, source, (slice(None),) * d + (idx,))


@public(method=True)
def masked_select(x: Any, mask: Any) -> Any:
    """The elements of ``x`` where ``mask`` (broadcast with ``x``) is True, as a 1-D tensor."""
    m = _arr(mask)
    shape = backend.broadcast_shapes(tuple(backend.xp.shape(x)), m.shape)
    if tuple(backend.xp.shape(x)) != shape:
        x = S.expand(x, shape)
    return I.getitem(x, backend.xp.broadcast_to(m, shape))


index_add_ = _in_place("index_add_", index_add)
index_fill_ = _in_place("index_fill_", index_fill)
index_copy_ = _in_place("index_copy_", index_copy)
masked_fill_ = _in_place("masked_fill_", I.masked_fill)


# --- nonzero, unique, counting (constants) ----------------------------------------------------


@public(method=True)
def nonzero(x: Any, *, as_tuple: bool = False) -> Any:
    """The indices of the nonzero elements: an int64 ``(n, x.dim())`` tensor, or with
    ``as_tuple=True`` one 1-D index tensor per dim (``torch.where(condition)``)."""
    a = _arr(x)
    xp = backend.get_array_module(a)
    if as_tuple:
        return tuple(_leaf(i.astype(backend.int64)) for i in xp.nonzero(xp.atleast_1d(a)))
    return _leaf(xp.argwhere(a).astype(backend.int64))


@public(method=True)
def argwhere(x: Any) -> Tensor:
    """The indices of the nonzero elements, ``(n, x.dim())`` int64."""
    return nonzero(x)


@public(method=True)
def unique(x: Any, sorted: bool = True, return_inverse: bool = False,
           return_counts: bool = False, dim: int | None = None) -> Any:
    """The distinct values of ``x`` (sorted), and on request the inverse indices (``x``'s
    shape) and the counts; with ``dim``, the distinct slices along ``dim``."""
    a = _arr(x)
    xp = backend.get_array_module(a)
    axis = None if dim is None else normalize_dim(dim, a.ndim, "unique")
    vals, inv, counts = xp.unique(a, return_inverse=True, return_counts=True, axis=axis)
    out: list[Tensor] = [_leaf(vals)]
    if return_inverse:
        out.append(_leaf(inv.reshape(a.shape if axis is None else -1).astype(backend.int64)))
    if return_counts:
        out.append(_leaf(counts.astype(backend.int64)))
    return out[0] if len(out) == 1 else tuple(out)


@public(method=True)
def unique_consecutive(x: Any, return_inverse: bool = False, return_counts: bool = False,
                       dim: int | None = None) -> Any:
    """``x`` with runs of equal consecutive values collapsed (1-D or flattened)."""
    if dim is not None:
        raise NotImplementedError("unique_consecutive: dim= is not supported; flatten first")
    a = _arr(x).reshape(-1)
    xp = backend.get_array_module(a)
    start = xp.ones(a.shape, dtype=bool)
    start[1:] = a[1:] != a[:-1]
    out: list[Tensor] = [_leaf(a[start])]
    if return_inverse:
        out.append(_leaf((xp.cumsum(start) - 1).reshape(_arr(x).shape).astype(backend.int64)))
    if return_counts:
        out.append(_leaf(xp.diff(xp.append(xp.flatnonzero(start), a.size)).astype(
            backend.int64)))
    return out[0] if len(out) == 1 else tuple(out)


@public(method=True)
def count_nonzero(x: Any, dim: Any = None, *, axis: Any = None) -> Tensor:
    """The number of nonzero elements (along ``dim``), int64."""
    dim = S.dim_alias("count_nonzero", dim, False, axis, None)[0]
    a = _arr(x)
    return _leaf(backend.xp.asarray(backend.xp.count_nonzero(a, axis=dim)).astype(
        backend.int64))


@public(method=True)
def bincount(x: Any, weights: Any = None, minlength: int = 0) -> Tensor:
    """How often each value of the non-negative int 1-D ``x`` occurs (weighted)."""
    a = _int_index("bincount", x)
    w = None if weights is None else _arr(weights)
    out = backend.xp.bincount(a, weights=w, minlength=minlength)
    return _leaf(out if w is not None else out.astype(backend.int64))


@public
def histc(input: Any, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:
    """A histogram of ``input``'s values in ``bins`` equal bins over [min, max] (PyTorch's
    ``histc``): equal bounds (the default 0 and 0) mean the data's own range, values outside
    it are ignored; the counts have the input's float dtype. Not differentiable."""
    a = _arr(input)
    if a.dtype.kind != "f":
        raise op_error("histc", f"expects a floating-point tensor, got {a.dtype}")
    if int(bins) != bins or bins < 1:
        raise op_error("histc", f"bins must be a positive int, got {bins!r}")
    lo, hi = float(min), float(max)
    if lo > hi:
        raise op_error("histc", f"max must be larger than min, got min={min}, max={max}")
    xp = backend.get_array_module(a)
    if lo == hi and a.size:  # PyTorch: equal bounds (0 and 0 by default) take the data's range
        lo, hi = float(a.min()), float(a.max())
    if lo == hi:  # PyTorch widens an empty range by 1 on each side
        lo, hi = lo - 1, hi + 1
    if not (xp.isfinite(lo) and xp.isfinite(hi)):
        raise op_error("histc", f"range of [{lo}, {hi}] is not finite")
    counts, _ = xp.histogram(a.ravel(), bins=int(bins), range=(lo, hi))
    return _leaf(counts.astype(a.dtype))


class HistogramResult(NamedTuple):
    """``cr.histogram``'s result: the counts (or densities) and the ``bins + 1`` bin edges."""

    hist: Tensor
    bin_edges: Tensor


@public
def histogram(input: Any, bins: Any = 100, *, range: tuple[float, float] | None = None,
              weight: Any = None, density: bool = False) -> HistogramResult:
    """PyTorch's ``histogram``: ``bins`` an int (equal bins over ``range``, default the data's
    range) or a 1-D tensor of increasing edges; ``weight`` per element; ``density`` normalises
    to unit area. Returns ``(hist, bin_edges)``. Not differentiable."""
    a = _arr(input)
    if a.dtype.kind != "f":
        raise op_error("histogram", f"expects a floating-point tensor, got {a.dtype}")
    xp = backend.get_array_module(a)
    b = _arr(bins) if isinstance(bins, Tensor) else bins
    w = None if weight is None else _arr(weight).ravel()
    if w is not None and w.size != a.size:
        raise op_error("histogram", f"weight has {w.size} elements, input {a.size}: expected "
                       "one weight per element")
    hist, edges = xp.histogram(a.ravel(), bins=b, range=range, weights=w, density=density)
    return HistogramResult(_leaf(hist.astype(a.dtype)), _leaf(edges.astype(a.dtype)))


@public
def bucketize(x: Any, boundaries: Any, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """The index of the bucket of ``boundaries`` (sorted, 1-D) each value of ``x`` falls in."""
    side = "left" if not right else "right"
    out = backend.xp.searchsorted(_arr(boundaries), _arr(x), side=side)
    return _leaf(backend.xp.asarray(out).astype(backend.int32 if out_int32 else backend.int64))


@public
def searchsorted(sorted_sequence: Any, values: Any, *, out_int32: bool = False,
                 right: bool = False, side: str | None = None) -> Tensor:
    """Where ``values`` would be inserted into ``sorted_sequence`` (last dim) to keep it sorted."""
    seq, v = _arr(sorted_sequence), _arr(values)
    side = side or ("right" if right else "left")
    xp = backend.get_array_module(seq)
    if seq.ndim <= 1:
        out = xp.searchsorted(seq, v, side=side)
    else:
        flat_s, flat_v = seq.reshape(-1, seq.shape[-1]), v.reshape(-1, v.shape[-1])
        out = xp.stack([xp.searchsorted(s, w, side=side) for s, w in zip(flat_s, flat_v)])
        out = out.reshape(v.shape)
    return _leaf(xp.asarray(out).astype(backend.int32 if out_int32 else backend.int64))


# --- shapes: PyTorch's other names and arrangements -------------------------------------------


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(backend.xp.shape(x))


@public(method=True)
def ravel(x: Any) -> Any:
    """``x`` flattened to 1-D."""
    return S.reshape(x, (-1,))


@public(method=("movedim", "moveaxis"))
def movedim(x: Any, source: Any, destination: Any) -> Any:
    """``x`` with dims ``source`` moved to positions ``destination`` (the rest keep order)."""
    nd = backend.xp.ndim(x)
    src = [normalize_dim(d, nd, "movedim") for d in (
        (source,) if isinstance(source, int) else source)]
    dst = [normalize_dim(d, nd, "movedim") for d in (
        (destination,) if isinstance(destination, int) else destination)]
    if len(src) != len(dst):
        raise op_error("movedim", f"{len(src)} source dims but {len(dst)} destination dims",
                       "as many of each")
    order = [d for d in range(nd) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return S.permute(x, order)




@public(method=("swapaxes", "swapdims"))
def swapaxes(x: Any, axis0: int, axis1: int) -> Any:
    """``x`` with two dims exchanged (``transpose``)."""
    return S.transpose(x, axis0, axis1)


@public(method=True)
def tile(x: Any, dims: Sequence[int]) -> Any:
    """``x`` repeated ``dims[i]`` times along each dim; ``dims`` shorter than ``x.dim()`` is
    padded with leading 1s (``torch.tile``)."""
    dims = _size_arg(dims)
    nd = backend.xp.ndim(x)
    return S.repeat(x, (1,) * (nd - len(dims)) + dims)


@public(method=True)
def repeat_interleave(x: Any, repeats: Any, dim: int | None = None, *,
                      output_size: int | None = None) -> Any:
    """Each element (slice along ``dim``; of the flattened tensor when ``dim`` is None)
    repeated ``repeats`` times (an int, or one count per element)."""
    if dim is None:
        x, dim = S.reshape(x, (-1,)), 0
    d = normalize_dim(dim, backend.xp.ndim(x), "repeat_interleave")
    reps = _arr(repeats)
    n = _shape(x)[d]
    idx = backend.xp.repeat(backend.xp.arange(n), reps)
    return I.index_select(x, d, idx)


@public(method=True)
def roll(x: Any, shifts: Any, dims: Any = None) -> Any:
    """``x`` rotated by ``shifts`` along ``dims`` (the flattened tensor when ``dims`` is None)."""
    if dims is None:
        return S.reshape(roll(S.reshape(x, (-1,)), shifts, 0), _shape(x))
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise op_error("roll", f"{len(shifts)} shifts for {len(dims)} dims", "one shift per dim")
    for s, d in zip(shifts, dims):
        d = normalize_dim(d, backend.xp.ndim(x), "roll")
        n = _shape(x)[d]
        x = I.index_select(x, d, (backend.xp.arange(n) - s) % max(n, 1))
    return x


@public(method=True)
def take_along_dim(x: Any, indices: Any, dim: int | None = None) -> Any:
    """Values of ``x`` at ``indices`` along ``dim`` (the dims other than ``dim`` broadcast);
    of the flattened tensor when ``dim`` is None."""
    idx = _int_index("take_along_dim", indices)
    if dim is None:
        return I.gather(S.reshape(x, (-1,)), 0, idx.reshape(-1))
    nd = backend.xp.ndim(x)
    d = normalize_dim(dim, nd, "take_along_dim")
    xs, js = list(_shape(x)), list(idx.shape)
    xs[d] = js[d] = 1
    b = list(backend.broadcast_shapes(tuple(xs), tuple(js)))
    bx, bi = b.copy(), b.copy()
    bx[d], bi[d] = _shape(x)[d], idx.shape[d]
    if tuple(bx) != _shape(x):
        x = S.expand(x, tuple(bx))
    return I.gather(x, d, backend.xp.broadcast_to(idx, tuple(bi)))


@public(method=True)
def diagonal(x: Any, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Any:
    """The diagonal of the ``(dim1, dim2)`` planes, as the last dim (``torch.diagonal``)."""
    nd = backend.xp.ndim(x)
    d1, d2 = normalize_dim(dim1, nd, "diagonal"), normalize_dim(dim2, nd, "diagonal")
    x = movedim(x, (d1, d2), (nd - 2, nd - 1))
    n, m = _shape(x)[-2:]
    k = max(0, min(n + min(offset, 0), m - max(offset, 0)))
    rows = backend.xp.arange(k) - min(offset, 0)
    return I.getitem(x, (Ellipsis, rows, rows + offset))


@public(method=True)
def diag(x: Any, diagonal: int = 0) -> Any:
    """A 1-D ``x`` as the ``diagonal``-th diagonal of a square matrix; a 2-D ``x``'s diagonal."""
    nd = backend.xp.ndim(x)
    if nd == 2:
        return globals()["diagonal"](x, diagonal)
    if nd != 1:
        raise op_error("diag", f"input of shape {fmt_shape(_shape(x))}", "a 1-D or 2-D tensor")
    n = _shape(x)[0] + abs(diagonal)
    rows = backend.xp.arange(_shape(x)[0]) - min(diagonal, 0)
    zeros = _leaf(backend.xp.zeros((n, n), dtype=_t(x).dtype))
    return I.index_put(zeros, x, (rows, rows + diagonal))


@public(method=True)
def trace(x: Any) -> Any:
    """The sum of the main diagonal of a 2-D ``x``."""
    if backend.xp.ndim(x) != 2:
        raise op_error("trace", f"input of shape {fmt_shape(_shape(x))}", "a 2-D tensor")
    return R.sum(diagonal(x))


@public(method=True)
def diag_embed(x: Any, offset: int = 0) -> Any:
    """Each last-dim vector of ``x`` as the diagonal of a matrix (batched ``diag``)."""
    n = _shape(x)[-1] + abs(offset)
    rows = backend.xp.arange(_shape(x)[-1]) - min(offset, 0)
    zeros = _leaf(backend.xp.zeros((*_shape(x)[:-1], n, n), dtype=_t(x).dtype))
    return I.index_put(zeros, x, (Ellipsis, rows, rows + offset))


@public(method=True)
def diff(x: Any, n: int = 1, dim: int = -1, *, axis: Any = None) -> Any:
    """The ``n``-th forward difference along ``dim``: ``x[i + 1] - x[i]``."""
    if axis is not None:
        dim = S.dim_axis("diff", dim, axis, default=-1)
    d = normalize_dim(dim, backend.xp.ndim(x), "diff")
    head = (slice(None),) * d
    for _ in range(n):
        x = E.sub(I.getitem(x, (*head, slice(1, None))), I.getitem(x, (*head, slice(None, -1))))
    return x


@public
def hstack(tensors: Sequence[Any]) -> Any:
    """Concatenate along dim 1 (dim 0 for 1-D tensors)."""
    tensors = [_t(t) for t in tensors]
    return S.cat(tensors, 0 if all(t.ndim == 1 for t in tensors) else 1)


@public
def vstack(tensors: Sequence[Any]) -> Any:
    """Concatenate along dim 0, 1-D tensors as rows."""
    return S.cat([atleast_2d(t) for t in tensors], 0)


@public
def dstack(tensors: Sequence[Any]) -> Any:
    """Concatenate along dim 2 (1-D and 2-D tensors made 3-D first)."""
    return S.cat([atleast_3d(t) for t in tensors], 2)


@public
def column_stack(tensors: Sequence[Any]) -> Any:
    """1-D and 2-D tensors side by side as columns."""
    return S.cat([S.reshape(t, (-1, 1)) if _t(t).ndim <= 1 else t for t in tensors], 1)


@public
def atleast_1d(x: Any) -> Any:
    """``x`` with at least 1 dim."""
    return S.reshape(x, (1,)) if backend.xp.ndim(x) == 0 else x


@public
def atleast_2d(x: Any) -> Any:
    """``x`` with at least 2 dims (1-D becomes a row)."""
    nd = backend.xp.ndim(x)
    return S.reshape(x, (1,) * (2 - nd) + _shape(x)) if nd < 2 else x


@public
def atleast_3d(x: Any) -> Any:
    """``x`` with at least 3 dims (as ``torch.atleast_3d``: (n,) -> (1, n, 1))."""
    nd = backend.xp.ndim(x)
    if nd == 0:
        return S.reshape(x, (1, 1, 1))
    if nd == 1:
        return S.reshape(x, (1, _shape(x)[0], 1))
    return S.reshape(x, (*_shape(x), 1)) if nd == 2 else x


@public
def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple[Any, ...]:
    """Coordinate grids from 1-D tensors (``indexing="ij"``, PyTorch's default, or "xy")."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    ts = [S.reshape(t, (-1,)) for t in tensors]
    sizes = [_shape(t)[0] for t in ts]
    if indexing == "xy" and len(ts) >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for i, t in enumerate(ts):
        pos = i if indexing == "ij" or len(ts) < 2 or i > 1 else 1 - i
        shape = [1] * len(ts)
        shape[pos] = -1
        out.append(S.expand(S.reshape(t, tuple(shape)), tuple(sizes)))
    return tuple(out)


@public
def broadcast_tensors(*tensors: Any) -> tuple[Any, ...]:
    """The tensors expanded to their common broadcast shape."""
    shape = backend.broadcast_shapes(*(_shape(t) for t in tensors))
    return tuple(t if _shape(t) == shape else S.expand(t, shape) for t in tensors)


@public
def broadcast_shapes(*shapes: Any) -> tuple[int, ...]:
    """The shape that ``shapes`` broadcast to."""
    return tuple(backend.broadcast_shapes(*(_size_arg(s) for s in shapes)))


def _tri_indices(which: str, row: int, col: int, offset: int) -> Tensor:
    r, c = getattr(backend.xp, which)(row, offset, col)
    return _leaf(backend.xp.stack([r, c]).astype(backend.int64))


@public
def tril_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None,
                 device: Any = None) -> Tensor:
    """The (2, n) coordinates of the lower triangle of a ``row x col`` matrix."""
    return _tri_indices("tril_indices", row, col, offset)


@public
def triu_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None,
                 device: Any = None) -> Tensor:
    """The (2, n) coordinates of the upper triangle of a ``row x col`` matrix."""
    return _tri_indices("triu_indices", row, col, offset)


@public
def cartesian_prod(*tensors: Any) -> Any:
    """All combinations of the 1-D tensors' elements, one per row."""
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return S.stack([S.reshape(g, (-1,)) for g in grids], 1)


@public
def fliplr(x: Any) -> Any:
    """``x`` flipped left-right (dim 1)."""
    return S.flip(x, (1,))


@public
def flipud(x: Any) -> Any:
    """``x`` flipped up-down (dim 0)."""
    return S.flip(x, (0,))


@public(method=True)
def cross(x: Any, other: Any, dim: int | None = None) -> Any:
    """The cross product of 3-vectors along ``dim`` (the first dim of size 3 when None)."""
    shape = backend.broadcast_shapes(_shape(x), _shape(other))
    if dim is None:
        dim = next((i for i, n in enumerate(shape) if n == 3), None)
        if dim is None:
            raise op_error("cross", f"no dim of size 3 in {fmt_shape(shape)}", "3-vectors")
    d = normalize_dim(dim, len(shape), "cross")
    if shape[d] != 3:
        raise op_error("cross", f"dim {dim} has size {shape[d]}", "size 3")
    tail = (slice(None),) * (len(shape) - 1 - d)  # from the end: operands may have fewer dims

    def c(t: Any, i: int) -> Any:
        return I.getitem(t, (Ellipsis, slice(i, i + 1), *tail))
    parts = [E.sub(E.mul(c(x, (i + 1) % 3), c(other, (i + 2) % 3)),
                   E.mul(c(x, (i + 2) % 3), c(other, (i + 1) % 3))) for i in range(3)]
    return S.cat(parts, d)


# --- arithmetic: PyTorch's other names and small composites -----------------------------------


def _alias(name: str, fn: Any, doc: str) -> Any:
    def alias(x: Any, other: Any) -> Any:
        return fn(x, other)
    alias.__doc__ = doc
    return _named(name, alias, method=True)


multiply = _alias("multiply", E.mul, "``x * other`` (``torch.mul``).")
subtract = _alias("subtract", E.sub, "``x - other`` (``torch.sub``).")
divide = _alias("divide", E.div, "``x / other`` (``torch.div``).")
true_divide = _alias("true_divide", E.div, "``x / other`` (``torch.div``).")


@public(method=True)
def floor_divide(x: Any, other: Any) -> Tensor:
    """``x // other`` rounded toward minus infinity (a constant, as ``//``)."""
    return _t(x) // other


@public(method=True)
def remainder(x: Any, other: Any) -> Any:
    """``x - floor(x / other) * other`` (the sign of ``other``, Python's ``%``); differentiable:
    d/dx = 1, d/dother = -floor(x / other)."""
    if not isinstance(x, Tensor) or not backend.is_floating(x.dtype):
        return _t(x) % other
    return E.sub(x, E.mul(N.floor(E.div(x, other)), other))


@public(method=True)
def fmod(x: Any, other: Any) -> Any:
    """``x - trunc(x / other) * other`` (the sign of ``x``, C's fmod); differentiable."""
    if not isinstance(x, Tensor) or not backend.is_floating(x.dtype):
        return _leaf(backend.xp.fmod(_arr(x), _arr(other)))
    return E.sub(x, E.mul(N.trunc(E.div(x, other)), other))


@public(method=True)
def frac(x: Any) -> Any:
    """The fractional part ``x - trunc(x)``."""
    return E.sub(x, N.trunc(x))


@public(method=True)
def lerp(x: Any, end: Any, weight: Any) -> Any:
    """``x + weight * (end - x)``."""
    return E.add(x, E.mul(weight, E.sub(end, x)))


@public(method=True)
def addcmul(x: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Any:
    """``x + value * tensor1 * tensor2``."""
    return E.add(x, E.mul(E.mul(tensor1, tensor2), value))


@public(method=True)
def addcdiv(x: Any, tensor1: Any, tensor2: Any, *, value: Any = 1) -> Any:
    """``x + value * tensor1 / tensor2``."""
    return E.add(x, E.mul(E.div(tensor1, tensor2), value))


@public(method=True)
def addmm(x: Any, mat1: Any, mat2: Any, *, beta: Any = 1, alpha: Any = 1) -> Any:
    """``beta * x + alpha * (mat1 @ mat2)``."""
    prod = L.matmul(mat1, mat2)
    return E.add(x if beta == 1 else E.mul(x, beta), prod if alpha == 1 else E.mul(prod, alpha))


@public(method=True)
def clamp_min(x: Any, min: Any) -> Any:
    """``x`` limited below by ``min``."""
    return E.clamp(x, min, None)


@public(method=True)
def clamp_max(x: Any, max: Any) -> Any:
    """``x`` limited above by ``max``."""
    return E.clamp(x, None, max)


@public(method=True)
def sinh(x: Any) -> Any:
    """The hyperbolic sine ``(e^x - e^-x) / 2``."""
    return E.mul(E.sub(E.exp(x), E.exp(E.neg(x))), 0.5)


@public(method=True)
def cosh(x: Any) -> Any:
    """The hyperbolic cosine ``(e^x + e^-x) / 2``."""
    return E.mul(E.add(E.exp(x), E.exp(E.neg(x))), 0.5)


@public(method=True)
def hypot(x: Any, other: Any) -> Any:
    """``sqrt(x^2 + other^2)``."""
    return E.sqrt(E.add(E.mul(x, x), E.mul(other, other)))


@public(method=True)
def xlogy(x: Any, other: Any) -> Any:
    """``x * log(other)``, 0 where ``x`` is 0 (as ``torch.xlogy``); +-inf where ``other`` is 0
    and ``x`` is not, without a warning (a density's log at the edge of its support)."""
    zero = _arr(x) == 0
    safe = E.where(zero, 1.0, other)
    with backend.xp.errstate(divide="ignore"):
        return E.where(zero, 0.0, E.mul(x, E.log(safe)))


@public(method=True)
def logit(x: Any, eps: float | None = None) -> Any:
    """``log(x / (1 - x))``, ``x`` clamped to ``[eps, 1 - eps]`` when ``eps`` is given."""
    if eps is not None:
        x = E.clamp(x, eps, 1 - eps)
    return E.log(E.div(x, E.sub(1.0, x)))


@public(method=True)
def nan_to_num(x: Any, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Any:
    """``x`` with NaN, +inf and -inf replaced (by 0 and the dtype's largest/smallest finite)."""
    a = _arr(x)
    big = backend.xp.finfo(a.dtype).max if a.dtype.kind == "f" else 0
    out = E.where(backend.xp.isnan(a), nan, x)
    out = E.where(backend.xp.isposinf(a), big if posinf is None else posinf, out)
    return E.where(backend.xp.isneginf(a), -big if neginf is None else neginf, out)


@public(method=True)
def nansum(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
           keepdims: bool | None = None) -> Any:
    """The sum with NaNs counted as zero."""
    dim, keepdim = S.dim_alias("nansum", dim, keepdim, axis, keepdims)
    return R.sum(E.where(backend.xp.isnan(_arr(x)), 0.0, x), dim, keepdim)


@public(method=True)
def nanmean(x: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
            keepdims: bool | None = None) -> Any:
    """The mean of the non-NaN elements."""
    dim, keepdim = S.dim_alias("nanmean", dim, keepdim, axis, keepdims)
    ok = ~backend.xp.isnan(_arr(x))
    count = backend.xp.sum(ok, axis=R.normalize_dims(dim, ok.ndim, "nanmean"), keepdims=keepdim)
    return E.div(nansum(x, dim, keepdim), count.astype(_arr(x).dtype))


def _sorted_at(name: str, x: Any, pos: Any, dim: Any, keepdim: bool) -> Any:
    """The ``pos``-th smallest along ``dim`` (values, indices); of all elements when None."""
    if dim is None:
        flat = S.reshape(x, (-1,))
        order = backend.xp.argsort(_arr(flat), kind="stable")
        return I.getitem(flat, int(order[pos(flat.shape[0])]))
    d = normalize_dim(dim, backend.xp.ndim(x), name)
    order = backend.xp.argsort(_arr(x), axis=d, kind="stable")
    n = _shape(x)[d]
    idx = backend.xp.take(order, [pos(n)], axis=d)
    vals = I.gather(x, d, idx)
    if not keepdim:
        vals, idx = S.squeeze(vals, d), idx.squeeze(d)
    return I.ValuesIndices(vals, _leaf(idx.astype(backend.int64)))


@public(method=True)
def median(x: Any, dim: int | None = None, keepdim: bool = False, *, axis: Any = None,
           keepdims: bool | None = None) -> Any:
    """The median (the lower of the two middle values for an even count, as PyTorch); with
    ``dim``, ``(values, indices)``."""
    dim, keepdim = S.dim_alias("median", dim, keepdim, axis, keepdims)
    return _sorted_at("median", x, lambda n: (n - 1) // 2, dim, keepdim)


@public(method=True)
def kthvalue(x: Any, k: int, dim: int = -1, keepdim: bool = False) -> Any:
    """The ``k``-th smallest value (1-based) along ``dim``: ``(values, indices)``."""
    n = _shape(x)[normalize_dim(dim, backend.xp.ndim(x), "kthvalue")]
    if not 1 <= k <= n:
        raise op_error("kthvalue", f"k={k} for a dim of size {n}", f"1 <= k <= {n}")
    return _sorted_at("kthvalue", x, lambda _: k - 1, dim, keepdim)


@public
def var_mean(x: Any, dim: Any = None, unbiased: bool = True, keepdim: bool = False, *,
             correction: Any = None, axis: Any = None,
             keepdims: bool | None = None) -> tuple[Any, Any]:
    """``(var, mean)`` along ``dim``."""
    dim, keepdim = S.dim_alias("var_mean", dim, keepdim, axis, keepdims)
    return (R.var(x, dim, unbiased, keepdim, correction=correction), R.mean(x, dim, keepdim))


@public
def std_mean(x: Any, dim: Any = None, unbiased: bool = True, keepdim: bool = False, *,
             correction: Any = None, axis: Any = None,
             keepdims: bool | None = None) -> tuple[Any, Any]:
    """``(std, mean)`` along ``dim``."""
    dim, keepdim = S.dim_alias("std_mean", dim, keepdim, axis, keepdims)
    return (R.std(x, dim, unbiased, keepdim, correction=correction), R.mean(x, dim, keepdim))


# --- in-place forms of the elementwise ops ----------------------------------------------------

for _name in ("floor", "ceil", "round", "trunc", "frac", "sign", "reciprocal", "square", "log",
              "log1p", "log2", "sin", "cos", "rsqrt", "expm1", "clamp_min", "clamp_max",
              "remainder", "fmod", "nan_to_num", "hypot", "logit"):
    _in_place(_name + "_", globals().get(_name) or getattr(E, _name, None) or getattr(N, _name))


@public(method=True, export=False)
def fill_diagonal_(x: Tensor, fill_value: Any, wrap: bool = False) -> Tensor:
    """``x`` with ``fill_value`` on its main diagonal, in place (``wrap`` for tall matrices)."""
    shape = _shape(x)
    if len(shape) < 2:
        raise op_error("fill_diagonal_", f"input of shape {fmt_shape(shape)}", "2 or more dims")
    n = min(shape) if not wrap or len(shape) > 2 else shape[0]
    i = backend.xp.arange(n)
    cols = i % shape[1] if wrap else i
    keep = cols < shape[1] if not wrap else (i % (shape[1] + 1)) < shape[1]
    index = (i[keep], cols[keep]) if len(shape) == 2 else (i,) * len(shape)
    x[index] = fill_value
    return x


@public
def cdist(x1: Any, x2: Any, p: float = 2.0, compute_mode: str | None = None) -> Any:
    """The p-norm distances between each row of ``x1`` (``(..., P, M)``) and each row of ``x2``
    (``(..., R, M)``): ``(..., P, R)``. For p = 2 the gradient at a zero distance is 0."""
    d = E.sub(S.unsqueeze(x1, -2), S.unsqueeze(x2, -3))
    if p == 2:
        sq = R.sum(E.mul(d, d), -1)
        pos = _arr(sq) > 0
        return E.where(pos, E.sqrt(E.where(pos, sq, 1.0)), 0.0)
    if p == 1:
        return R.sum(E.abs(d), -1)
    if p == float("inf"):
        return R.amax(E.abs(d), -1)
    return E.pow(R.sum(E.pow(E.abs(d), p), -1), 1.0 / p)
