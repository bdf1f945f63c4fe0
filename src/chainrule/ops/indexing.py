"""Indexing: ``x[index]``, ``x[index] = v``, gather / scatter_add and the composites built on them.

Basic indexing (ints, slices, None, Ellipsis) is the hot path: ``getitem`` returns a NumPy view
and its gradient places ``g`` into zeros. Advanced indexing (integer arrays, bool masks, mixtures)
is ``index``, a copy, whose gradient *adds* ``g`` into zeros (``xp.add.at``), so a row picked twice
(``x[[0, 0, 1]]``) gets both gradients. Each gradient is itself a registered op whose vjp is the
forward again (getitem <-> getitem_backward, gather <-> scatter_add), so any order works.

Index arguments are parameters, not inputs: they are constant (integer or bool) arrays.
"""

from __future__ import annotations

import operator
from itertools import pairwise
from typing import Any, NamedTuple

from chainrule import backend
from chainrule.autograd.grad_mode import STATE
from chainrule.autograd.node import meta_of, new_node
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.errors import fmt_shape, op_error
from chainrule.ops import samples as S
from chainrule.ops.elementwise import where
from chainrule.ops.registry import Op, primitive, public
from chainrule.ops.shape import dim_axis, normalize_dim, reshape


class ValuesIndices(NamedTuple):
    """``(values, indices)``, as returned by ``max(x, dim)``, ``sort`` and ``topk``."""

    values: Any
    indices: Any


# --- index normalisation ------------------------------------------------------------------------

_BASIC_TYPES = frozenset((int, slice, type(None), type(Ellipsis)))


def is_basic(index: Any) -> bool:
    """True for basic indexing (ints, slices, None, Ellipsis): the result is a view."""
    t = type(index)
    if t is tuple:
        for i in index:
            if type(i) not in _BASIC_TYPES and not isinstance(i, backend.integer):
                return False
        return True
    return t in _BASIC_TYPES or isinstance(index, backend.integer)


def _norm_item(i: Any) -> Any:
    if isinstance(i, Tensor):
        return i._data
    if isinstance(i, list):
        if not i:
            return backend.xp.empty(0, dtype=backend.intp)
        return backend.xp.asarray([_norm_item(v) for v in i])
    return i


def normalize_index(index: Any) -> Any:
    """``index`` with Tensors (also inside tuples and lists) replaced by their arrays."""
    t = type(index)
    if t is int or t is slice:
        return index
    if t is tuple:
        if any(isinstance(i, (Tensor, list)) for i in index):
            return tuple(_norm_item(i) for i in index)
        return index
    return _norm_item(index)


def _index_error(err: Exception, x: backend.ndarray, op: str = "getitem") -> Exception:
    msg = str(err).replace("axis", "dim").replace("array", "tensor")
    if "integer" in msg and "boolean" in msg:  # float index arrays
        msg = "index tensors must be integer or bool, " + msg
    return type(err)(f"{op}: {msg} (indexing a tensor of shape {fmt_shape(x.shape)})")


def _torch_index(torch: Any, index: Any) -> Any:
    """The same index for a torch tensor (parity tests): arrays become torch tensors."""
    def conv(i: Any) -> Any:
        return torch.as_tensor(i) if isinstance(i, backend.ndarray) else i
    return tuple(map(conv, index)) if type(index) is tuple else conv(index)


def _torch_index_put(torch: Any, x: Any, v: Any, index: Any) -> Any:
    out = x.clone()
    out[_torch_index(torch, index)] = v
    return out


# --- x[index] ---------------------------------------------------------------------------------


def _getitem_samples(rng: S.Rng):
    r = rng.standard_normal
    yield S.Sample([r((2, 3))], (0,))
    yield S.Sample([r((2, 3))], ((slice(None), -1),))
    yield S.Sample([r((2, 3, 4))], ((Ellipsis, slice(1, None, 2)),))
    yield S.Sample([r((4,))], ((None, slice(1, None, 2)),))
    yield S.Sample([r((2, 3))], ((1, 2),))
    yield S.Sample([r(())], ((None, Ellipsis),))
    yield S.Sample([r((2, 1, 3))], ((slice(0, 1), 0, slice(1, 3)),))


@primitive("getitem", saves="", view=True, torch=lambda torch, x, index: x[index],
           formula="d x[index]/dx: g placed at index in zeros (basic indexing: a view)",
           samples=_getitem_samples)
def _getitem(xp, x, index):
    """Basic indexing (ints, slices, None, Ellipsis): a view of x."""
    try:
        out = x[index]
    except IndexError as e:
        raise _index_error(e, x) from None
    if type(out) is not xp.ndarray:  # every dim indexed by an int: a 0-d view, not a scalar copy
        out = x[(*index, Ellipsis) if type(index) is tuple else (index, Ellipsis)]
    return out


@_getitem.defvjp
def _(c, g):
    return (c.xp.getitem_backward(g, c.x[0].shape, c.p[0]),)


def _index_samples(rng: S.Rng):
    r = rng.standard_normal
    yield S.Sample([r((4,))], (S.array([0, 0, 3, 1]),), label="repeated indices")
    yield S.Sample([r((3, 2))], (S.array([[2, 0], [2, 2]]),))
    yield S.Sample([r((2, 3))], (S.array([[True, False, True], [False, False, True]]),))
    yield S.Sample([r((2, 3))], ((slice(None), S.array([2, 0, 2])),))
    yield S.Sample([r((2, 3, 2))], ((S.array([1, 0]), slice(None), S.array([1, 1])),))
    yield S.Sample([r((3,))], (S.array([True, False, True]),))
    yield S.Sample([r((3, 2))], ((None, S.array([1, 2, 1]), 0),))


@primitive("index", saves="", torch=lambda torch, x, index: x[_torch_index(torch, index)],
           formula="d x[index]/dx: g added at index into zeros (repeated indices accumulate)",
           samples=_index_samples)
def _index(xp, x, index):
    """Advanced indexing (integer arrays, bool masks, mixtures): a copy."""
    try:
        return x[index]
    except IndexError as e:
        raise _index_error(e, x, "index") from None


@_index.defvjp
def _(c, g):
    return (c.xp.getitem_backward(g, c.x[0].shape, c.p[0]),)


@public
def getitem(x: Any, index: Any) -> Any:
    """``x[index]`` with NumPy/PyTorch semantics: basic indexing gives a view."""
    if is_basic(index):
        return _getitem(x, index)
    index = normalize_index(index)
    if is_basic(index):
        return _getitem(x, index)
    try:
        return _index(x, index)
    except IndexError as e:  # report it under the name the user called
        raise IndexError("getitem" + str(e)[len("index"):]) from None


def getitem_backward_array(xp: Any, g: backend.ndarray, shape: tuple[int, ...],
                           index: Any) -> backend.ndarray:
    """Zeros of ``shape`` with ``g`` added at ``index`` (the transpose of ``x[index]``)."""
    if type(index) is xp.ndarray and index.dtype.kind in "iu" and shape:
        return _scatter_add_rows(xp, g, shape, index)  # rows picked by integers: embedding's case
    z = xp.zeros(shape, dtype=g.dtype)
    if is_basic(index) or (type(index) is xp.ndarray and index.dtype == backend.bool_):
        z[index] = g  # every position at most once: assignment is enough
    else:
        xp.add.at(z, index, g)
    return z


_RANK_LEVELS = 8  # at most this many repeats of one row: add the repeats level by level


def _scatter_add_rows(xp: Any, g: backend.ndarray, shape: tuple[int, ...],
                      index: backend.ndarray) -> backend.ndarray:
    """``np.add.at(zeros(shape), index, g)`` for an integer array ``index`` picking rows
    (the gradient of ``weight[index]``, i.e. of ``Embedding``), without ``np.add.at``.

    The indices are sorted (stably, so each row's gradients keep their order); rows picked once
    are assigned, and rows picked up to ``_RANK_LEVELS`` times get their k-th occurrences added in
    one fancy ``+=`` per k; occurrences beyond the ``_RANK_LEVELS``-th of very frequent rows (a
    padding token in every sequence, say) are added last with ``np.add.at`` (or, when they are
    over a quarter of the indices, everything goes to ``np.add.at``). The same additions happen
    in the same order as with ``np.add.at`` alone, so the result is bit-identical.

    Measured with ``python -m bench.embedding_backward`` (vocab 10000 x dim 128, 4096 indices
    in a (32, 128) batch, 1 thread, medians of 60 alternating calls, NumPy 2.4, a shared 2-core
    machine at load ~3, so +-30%; np.add.at -> this): uniform indices float32 9.2 -> 1.7 ms
    (5.3x), float64 9.5 -> 4.7 ms (2.0x); heavy repeats (zipf 1.3, half the batch one padding
    row) 0.9x-1.0x, being np.add.at plus a sort.
    """
    n = shape[0]
    z = xp.zeros(shape, dtype=g.dtype)
    flat = index.reshape(-1)
    if flat.size == 0 or z.size == 0:
        return z
    if flat.min() < 0:
        flat = xp.where(flat < 0, flat + n, flat)
    z2 = z.reshape(n, -1)
    g2 = g.reshape(flat.size, z2.shape[1])
    order = xp.argsort(flat, kind="stable")
    s = flat[order]
    first = xp.empty(s.size, dtype=bool)
    first[0] = True
    xp.not_equal(s[1:], s[:-1], out=first[1:])
    starts = xp.flatnonzero(first)
    if starts.size == s.size:  # no row twice
        z2[flat] = g2
        return z
    counts = xp.diff(xp.append(starts, s.size))
    most = int(counts.max())
    if most > _RANK_LEVELS and int((counts - _RANK_LEVELS).clip(0).sum()) * 4 > s.size:
        xp.add.at(z2, flat, g2)  # mostly a few very frequent rows: add.at is as fast
        return z
    go = g2[order]
    rank = xp.arange(s.size) - xp.repeat(starts, counts)  # 0 for a row's first occurrence
    z2[s[starts]] = go[starts]
    for k in range(1, min(most, _RANK_LEVELS)):
        at = rank == k
        z2[s[at]] += go[at]  # each row at most once per level
    if most > _RANK_LEVELS:  # the rest of very frequent rows, still in order
        at = rank >= _RANK_LEVELS
        xp.add.at(z2, s[at], go[at])
    return z


def _getitem_backward_samples(rng: S.Rng):
    r = rng.standard_normal
    yield S.Sample([r((2,))], ((2, 3), (slice(None), 1)))
    yield S.Sample([r(())], ((2, 3), (1, 2)))
    yield S.Sample([r((4,))], ((3,), S.array([0, 2, 0, 0])), label="repeated indices")
    yield S.Sample([r((2, 2))], ((3, 2), (S.array([1, 1]), slice(None))))
    yield S.Sample([r((3,))], ((2, 2), S.array([[True, False], [True, True]])))


@primitive("getitem_backward", saves="", torch=None,
           formula="zeros(shape) with g added at index; its own vjp is g[index]",
           samples=_getitem_backward_samples)
def _getitem_backward(xp, g, shape, index):
    """The gradient of ``x[index]``: zeros of ``shape`` with ``g`` added at ``index``."""
    return getitem_backward_array(xp, g, shape, index)


@_getitem_backward.defvjp
def _(c, g):
    return (g[c.p[1]],)


# --- x[index] = v -----------------------------------------------------------------------------


def index_put_array(x: backend.ndarray, v: Any, index: Any) -> backend.ndarray:
    """A copy of ``x`` with ``x[index] = v``."""
    out = x.copy()
    out[index] = v
    return out


def _index_put_samples(rng: S.Rng):
    r = rng.standard_normal
    yield S.Sample([r((4,)), r((2,))], (S.array([1, 3]),))
    yield S.Sample([r((2, 3)), r((3,))], (0,))
    yield S.Sample([r((2, 3)), r(())], (S.array([[True, False, True], [False, False, True]]),))
    yield S.Sample([r((2, 3)), r((2, 1))], ((slice(None), slice(1, None)),))
    yield S.Sample([r((3,)), 0.5], (slice(0, 2),), label="tensor, python float")
    yield S.Sample([r((3, 2)), r((1, 2))], ((S.array([2, 0]),),), label="v broadcast")


@primitive("index_put", nin=2, saves="", torch=lambda torch, x, v, index: _torch_index_put(
    torch, x, v, index),
           formula="d/dx = g with the indexed positions zeroed;  d/dv = g[index]",
           samples=_index_put_samples)
def _index_put(xp, x, v, index):
    """``x`` with ``x[index] = v``, out of place (the functional form of setitem)."""
    try:
        return index_put_array(x, v, index)
    except IndexError as e:
        raise _index_error(e, x, "index_put") from None
    except ValueError:
        raise op_error("index_put", f"cannot assign a value of shape {fmt_shape(xp.shape(v))} "
                       f"to x[index] of shape {fmt_shape(xp.shape(x[index]))} (x has shape "
                       f"{fmt_shape(x.shape)})", "a value that broadcasts to x[index]") from None


@_index_put.defvjp
def _(c, g):
    index = c.p[0]
    gx = c.xp.index_put(g, 0.0, index) if c.need[0] else None
    gv = None
    if c.need[1]:
        gv = g[index]
        vshape = c.x[1].shape
        if len(vshape) > gv.ndim:  # v had extra leading 1-dims (NumPy allows them)
            gv = c.xp.reshape(gv, (1,) * (len(vshape) - gv.ndim) + tuple(gv.shape))
    return gx, gv


@public
def index_put(x: Any, v: Any, index: Any) -> Any:
    """``x`` with ``x[index] = v``, out of place; differentiable in ``x`` and ``v``.

    ``x[index] = v`` on a tensor that is part of a graph records this op.
    """
    return _index_put(x, v, normalize_index(index))


# --- gather / scatter_add -----------------------------------------------------------------------


def _along(xp: Any, index: backend.ndarray, dim: int,
           shape: tuple[int, ...] | None = None) -> tuple:
    """The index tuple that reads ``index`` along ``dim``, open aranges for the other dims:
    ``x[_along(index, dim)]`` is ``gather(x, dim, index)``. With ``shape`` (the input's shape),
    ``index`` lacks ``dim`` (a reduction's argmax without keepdim)."""
    if shape is None:
        nd = index.ndim
        return tuple(index if d == dim else
                     xp.arange(n).reshape((1,) * d + (n,) + (1,) * (nd - d - 1))
                     for d, n in enumerate(index.shape))
    nd = len(shape) - 1
    return tuple(index if d == dim else
                 xp.arange(n).reshape((1,) * (d - (d > dim)) + (n,) + (1,) * (nd - d - 1
                                                                                 + (d > dim)))
                 for d, n in enumerate(shape))


def _check_gather(op: str, x_shape: tuple, dim: int, index: backend.ndarray) -> None:
    if index.dtype.kind not in "iu":
        raise op_error(op, f"index has dtype {index.dtype}", "an integer (int64) index tensor",
                       kind=TypeError)
    if index.ndim != len(x_shape):
        raise op_error(op, f"index of shape {fmt_shape(index.shape)} has {index.ndim} dims but "
                       f"the input {fmt_shape(x_shape)} has {len(x_shape)}",
                       "index to have as many dims as the input")
    for d, (n, m) in enumerate(zip(index.shape, x_shape)):
        if d != dim and n > m:
            raise op_error(op, f"index of shape {fmt_shape(index.shape)} is larger than the "
                           f"input {fmt_shape(x_shape)} in dim {d}",
                           f"index.size(d) <= input.size(d) for every d != dim ({dim})")


def gather_array(xp: Any, x: backend.ndarray, dim: int,
                 index: backend.ndarray) -> backend.ndarray:
    """``out[i][j] = x[i][index[i][j]]`` (dim 1) for any dim, as ``torch.gather``."""
    if dim < 0:
        dim += x.ndim
    if index.shape != x.shape:
        _check_gather("gather", x.shape, dim, index)
    try:
        return x[_along(xp, index, dim)]
    except IndexError as e:
        raise IndexError(f"gather: {str(e).replace('axis', 'dim')} (input shape "
                         f"{fmt_shape(x.shape)})") from None


def gather_backward_array(xp: Any, g: backend.ndarray, shape: tuple[int, ...], dim: int,
                          index: backend.ndarray) -> backend.ndarray:
    """Zeros of ``shape`` with ``g`` added at ``index`` along ``dim`` (gather's transpose)."""
    z = xp.zeros(shape, dtype=g.dtype)
    xp.add.at(z, _along(xp, index, dim % len(shape)), g)
    return z


def _gather_samples(rng: S.Rng):
    r = rng.standard_normal
    yield S.Sample([r((3, 4))], (1, S.array([[0, 0], [3, 1], [2, 2]])), "repeated indices")
    yield S.Sample([r((3, 4))], (0, S.array([[0, 2, 1, 0], [2, 2, 0, 1]])))
    yield S.Sample([r((4,))], (0, S.array([3, 0, 0, 1, 2, 3])))
    yield S.Sample([r((3, 4))], (-1, S.array([[1, 3, 3], [0, 0, 2]])), "index smaller")
    yield S.Sample([r((2, 1, 3))], (2, S.array([[[2, 0]], [[1, 1]]])))


@primitive("gather", torch=lambda torch, x, dim, index: torch.gather(
    x, dim, torch.as_tensor(index)),
           saves="", formula="d gather(x, dim, index)/dx: scatter_add of g at index into zeros",
           samples=_gather_samples)
def _gather(xp, x, dim, index):
    """Values of x along dim at index (``torch.gather``)."""
    return gather_array(xp, x, dim, index)


@_gather.defvjp
def _(c, g):
    dim, index = c.p
    return (c.xp.gather_backward(g, c.x[0].shape, dim, index),)


def _module_of(x: Any) -> Any:
    """The array module of a Tensor's array, of an array, or the default one."""
    return backend.get_array_module(x._data if isinstance(x, Tensor) else x)


def _index_arg(op: str, index: Any) -> backend.ndarray:
    arr = index._data if isinstance(index, Tensor) else _module_of(index).asarray(index)
    if arr.dtype.kind not in "iu":
        raise op_error(op, f"index has dtype {arr.dtype}", "an integer (int64) index tensor",
                       kind=TypeError)
    return arr


@public(method=True)
def gather(x: Any, dim: int, index: Any) -> Any:
    """Values of ``x`` along ``dim`` at ``index`` (as ``torch.gather``)."""
    nd = backend.xp.ndim(x)
    return _gather(x, normalize_dim(dim, nd, "gather"), _index_arg("gather", index))


def scatter_add_array(xp: Any, x: backend.ndarray, src: backend.ndarray, dim: int,
                      index: backend.ndarray) -> backend.ndarray:
    """A copy of ``x`` with ``src`` added at ``index`` along ``dim`` (as ``torch.scatter_add``)."""
    if dim < 0:
        dim += x.ndim
    _check_gather("scatter_add", x.shape, dim, index)
    src = xp.asarray(src)
    if src.shape != index.shape:
        if src.ndim != index.ndim or any(n > m for n, m in zip(index.shape, src.shape)):
            raise op_error("scatter_add", f"index of shape {fmt_shape(index.shape)} does not fit "
                           f"src of shape {fmt_shape(src.shape)}",
                           "index.size(d) <= src.size(d) for every d")
        src = src[tuple(slice(0, n) for n in index.shape)]
    out = xp.array(x, dtype=xp.result_type(x, src), copy=True)
    try:
        xp.add.at(out, _along(xp, index, dim), src)
    except IndexError as e:
        raise IndexError(f"scatter_add: {str(e).replace('axis', 'dim')} (input shape "
                         f"{fmt_shape(x.shape)})") from None
    return out


def _scatter_add_samples(rng: S.Rng):
    r = rng.standard_normal
    yield S.Sample([r((3, 4)), r((3, 2))], (1, S.array([[0, 0], [3, 1], [2, 2]])))
    yield S.Sample([r((4,)), r((6,))], (0, S.array([3, 0, 0, 1, 2, 3])))
    yield S.Sample([r((2, 3)), r((3, 3))], (0, S.array([[1, 0, 1], [1, 1, 0], [0, 0, 0]])))


@primitive("scatter_add", nin=2, torch=lambda torch, x, src, dim, index: torch.scatter_add(
    x, dim, torch.as_tensor(index), src),
           saves="", formula="d/dx = g;  d/dsrc = gather(g, dim, index)",
           samples=_scatter_add_samples)
def _scatter_add(xp, x, src, dim, index):
    """x with src added at index along dim, out of place (``torch.scatter_add``)."""
    return scatter_add_array(xp, x, src, dim, index)


@_scatter_add.defvjp
def _(c, g):
    dim, index = c.p
    gsrc = None
    if c.need[1]:
        gsrc = c.xp.gather(g, dim, index)
        src_shape = tuple(c.x[1].shape)
        if src_shape != index.shape:  # src elements outside index's extent get no gradient
            gsrc = c.xp.getitem_backward(gsrc, src_shape,
                                         tuple(slice(0, n) for n in index.shape))
    return g, gsrc


@public(method=True)
def scatter_add(x: Any, dim: int, index: Any, src: Any) -> Any:
    """``x`` with ``src`` added at ``index`` along ``dim``, out of place (``torch.scatter_add``);
    repeated indices accumulate."""
    nd = backend.xp.ndim(x)
    return _scatter_add(x, src, normalize_dim(dim, nd, "scatter_add"),
                        _index_arg("scatter_add", index))


# --- composites -------------------------------------------------------------------------------


@public(method=True)
def index_select(x: Any, dim: int, index: Any) -> Any:
    """The entries of ``x`` at ``index`` (1-D) along ``dim`` (as ``torch.index_select``)."""
    idx = _index_arg("index_select", index)
    if idx.ndim > 1:
        raise op_error("index_select", f"index has shape {fmt_shape(idx.shape)}",
                       "a 1-D (or 0-d) index")
    d = normalize_dim(dim, backend.xp.ndim(x), "index_select")
    # along dim 0 the bare array (not a 1-tuple): its backward then takes the sorted row-add
    # path of getitem_backward instead of np.add.at (same sums, same order; several x faster)
    return _index(x, (slice(None),) * d + (idx.reshape(-1),) if d else idx.reshape(-1))


@public(method=True)
def masked_fill(x: Any, mask: Any, value: Any) -> Any:
    """``x`` with ``value`` where ``mask`` is True (``torch.masked_fill``)."""
    m = mask._data if isinstance(mask, Tensor) else _module_of(mask).asarray(mask)
    if m.dtype != backend.bool_:
        raise op_error("masked_fill", f"mask has dtype {m.dtype}", "a bool mask",
                       kind=TypeError)
    return where(m, value, x)


@public(method=True)
def narrow(x: Any, dim: int, start: int, length: int) -> Any:
    """The slice ``start:start+length`` of ``x`` along ``dim`` (a view)."""
    shape = backend.xp.shape(x)
    d = normalize_dim(dim, len(shape), "narrow")
    n = shape[d]
    start = operator.index(start)
    if start < 0:
        start += n
    if not 0 <= start <= n or length < 0 or start + length > n:
        raise op_error("narrow", f"start {start} with length {length} does not fit dim {d} "
                       f"of size {n} (shape {fmt_shape(shape)})",
                       "0 <= start and start + length <= size", kind=IndexError)
    return _getitem(x, (slice(None),) * d + (slice(start, start + length),))


# --- split, chunk, unbind: several outputs, one gradient ----------------------------------------
#
# The pieces are views made by ``getitem`` (so ``cr.compile`` and anomaly mode see each as an
# op). While recording, they share one node: each output gets a small node ("unbind_output")
# whose vjp files its gradient under its index, the engine joins those with ``+`` (O(1) each),
# and the op's node ("unbind") builds the input's gradient once, with one ``stack`` (``cat`` for
# split). Slicing the pieces with one ``getitem`` node each would give every piece's backward a
# zero array of the input's full size: O(pieces x size), quadratic in the number of time steps
# of an RNN. (An autograd.Function-style node pair: they are not in the registry, since the
# registry's ops have one output; the tests check them directly, tests/test_unbind.py.)


class _Pieces:
    """The gradients that reached some outputs of one split: ``(index, gradient)`` pairs, joined
    by ``+`` into a tree in O(1) (the engine sums what reaches a node with ``+``)."""

    __slots__ = ("a", "b")
    shape = ()  # as the output nodes' input marker: the engine never unbroadcasts it
    __array_ufunc__ = None  # ``array + pieces`` is not NumPy's: it comes to __radd__ (and fails)

    def __init__(self, a: Any, b: Any = None) -> None:
        self.a, self.b = a, b  # a leaf: ((index, gradient), None); a join: (left, right)

    def __add__(self, other: Any) -> _Pieces:
        # Only pieces join pieces (0 too, so that ``sum()`` works): an array here would be
        # filed under no index, and the join tree would break later, far from the cause.
        if isinstance(other, _Pieces):
            return _Pieces(self, other)
        if isinstance(other, int) and other == 0:
            return self
        raise TypeError(
            f"split/unbind: the gradients of a split's outputs (filed by output index) can "
            f"only be added to each other, not to {type(other).__name__} "
            f"{getattr(other, 'shape', '')}; read them with .grads()")

    __radd__ = __add__

    def __array__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("split/unbind: the gradients of a split's outputs are filed by output "
                        "index, not an array; read them with .grads()")

    def __repr__(self) -> str:
        return "_Pieces({" + ", ".join(f"{k}: shape {tuple(getattr(g, 'shape', ()))}"
                                       for k, g in sorted(self.grads().items())) + "})"

    def grads(self) -> dict[int, Any]:
        """Each output's gradient (summed, were one to arrive twice)."""
        out: dict[int, Any] = {}
        todo = [self]
        while todo:
            n = todo.pop()
            if n.b is None:
                k, g = n.a
                out[k] = g if k not in out else out[k] + g
            else:
                todo += (n.b, n.a)
        return out


_MARK = backend.xp.zeros(())  # the input "array" of an output node: shape (), as _Pieces
_MARK.flags.writeable = False


def _pieces_vjp(c: Any, g: _Pieces) -> tuple:
    """One stack (unbind) or cat (split) of the pieces' gradients, zeros for those without."""
    x, xp = c.x[0], c.xp
    d, shapes, squeeze = c.p
    got = g.grads()
    parts = [got[k] if k in got else xp.zeros(shape, x.dtype) for k, shape in enumerate(shapes)]
    return (xp.stack(parts, d) if squeeze else xp.cat(parts, d),)


def _output_vjp(c: Any, g: Any) -> tuple:
    return (_Pieces((c.p[0], g)),)


_PIECES = {squeeze: (Op(name=name, forward=None, nin=1, nparams=3, defaults=(), vjp=_pieces_vjp,
                        saves_x=False, formula=formula),
                     Op(name=f"{name}_output", forward=None, nin=1, nparams=1, defaults=(),
                        vjp=_output_vjp, saves_x=False, is_view=True,
                        formula=f"one output of {name}: its gradient goes to {name}"))
           for squeeze, name, formula in (
               (True, "unbind", "d unbind(x, dim)/dx: the outputs' gradients stacked along dim"),
               (False, "split", "d split(x, dim)/dx: the pieces' gradients joined along dim"))}


def _pieces(x: Any, d: int, index: list, squeeze: bool) -> tuple[Any, ...]:
    """The views ``x[index[k]]`` as the outputs of one node (see above)."""
    if not isinstance(x, Tensor):
        x = _leaf(backend.get_array_module(x).asarray(x))
    if not (x.requires_grad and STATE.enabled) or STATE.recorder is not None:
        return tuple(_getitem(x, i) for i in index)  # (cr.compile replays registered ops only)
    STATE.enabled = False
    try:
        outs = [_getitem(x, i) for i in index]
    finally:
        STATE.enabled = True
    op, out_op = _PIECES[squeeze]
    shapes = tuple(o._data.shape for o in outs)
    hub = new_node(op, (x._node or x,), (True,), (x._data,), (d, shapes, squeeze), None, None, ())
    if STATE.anomaly:
        from chainrule.autograd.anomaly import forward_trace
        meta_of(hub).trace = forward_trace()
    for k, o in enumerate(outs):
        o._node = new_node(out_op, (hub,), (True,), (_MARK,), (k, index[k]), None, None, ())
        o.requires_grad = True
    return tuple(outs)


@public(method=True)
def unbind(x: Any, dim: Any = 0, *, axis: Any = None) -> tuple[Any, ...]:
    """The slices of ``x`` along ``dim``, that dim removed (views), as ``torch.unbind``. Their
    gradients reach ``x`` through one node that stacks them: O(size of x), however many."""
    if axis is not None:
        dim = dim_axis("unbind", dim, axis, 0)
    shape = backend.xp.shape(x)
    if not shape:
        raise op_error("unbind", "got a 0-d tensor", "a tensor with at least one dimension",
                       kind=IndexError)
    d = normalize_dim(dim, len(shape), "unbind")
    lead = (slice(None),) * d
    return _pieces(x, d, [(*lead, i) for i in range(shape[d])], True)


@public(method=True)
def split(x: Any, split_size_or_sections: Any, dim: Any = 0) -> tuple[Any, ...]:
    """Split ``x`` along ``dim`` into pieces of a given size (the last may be smaller), or into
    the listed sizes; each piece is a view (their gradients join in one node, as unbind's)."""
    shape = backend.xp.shape(x)
    d = normalize_dim(dim, len(shape), "split")
    n = shape[d]
    if isinstance(split_size_or_sections, (int, backend.integer)):
        s = int(split_size_or_sections)
        if s <= 0:
            raise op_error("split", f"split_size {s} is not positive", "a size >= 1")
        sizes = [s] * (n // s) + ([n % s] if n % s or n == 0 else [])
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise op_error("split", f"sections {sizes} sum to {sum(sizes)} but dim {d} has size "
                           f"{n} (shape {fmt_shape(shape)})", f"non-negative sizes summing to {n}")
    lead = (slice(None),) * d
    starts = [0]
    for s in sizes:
        starts.append(starts[-1] + s)
    return _pieces(x, d, [(*lead, slice(a, b)) for a, b in pairwise(starts)], False)


@public(method=True)
def chunk(x: Any, chunks: int, dim: Any = 0, *, axis: Any = None) -> tuple[Any, ...]:
    """Split ``x`` into ``chunks`` pieces of equal size (the last may be smaller, and there may
    be fewer pieces), as ``torch.chunk``."""
    if axis is not None:
        dim = dim_axis("chunk", dim, axis, 0)
    if chunks <= 0:
        raise op_error("chunk", f"chunks {chunks} is not positive", "chunks >= 1")
    shape = backend.xp.shape(x)
    d = normalize_dim(dim, len(shape), "chunk")
    n = shape[d]
    if n == 0:  # as PyTorch: ``chunks`` empty pieces
        return tuple(narrow(x, d, 0, 0) for _ in range(chunks))
    return split(x, -(-n // chunks), d)


@public(method=True)
def sort(x: Any, dim: int = -1, descending: bool = False, stable: bool = False, *,
         axis: Any = None) -> ValuesIndices:
    """``(values, indices)`` of ``x`` sorted along ``dim``; values are differentiable."""
    from chainrule.ops.nondiff import argsort
    if axis is not None:
        dim = dim_axis("sort", dim, axis, -1)
    if backend.xp.ndim(x) == 0:
        return ValuesIndices(reshape(x, ()), _leaf(_module_of(x).zeros((), dtype=backend.int64)))
    idx = argsort(x, dim, descending, stable)._data
    d = normalize_dim(dim, backend.xp.ndim(x), "sort")
    return ValuesIndices(_gather(x, d, idx), _leaf(idx))


@public(method=True)
def topk(x: Any, k: int, dim: int = -1, largest: bool = True,
         sorted: bool = True, *, axis: Any = None) -> ValuesIndices:
    """The ``k`` largest (or smallest) entries along ``dim`` and their indices."""
    from chainrule.ops.nondiff import argsort
    if axis is not None:
        dim = dim_axis("topk", dim, axis, -1)
    shape = backend.xp.shape(x)
    d = normalize_dim(dim, len(shape), "topk")
    n = shape[d] if shape else 1
    if not 0 <= k <= n:
        raise op_error("topk", f"k = {k} is out of range for dim {d} of size {n}",
                       f"0 <= k <= {n}", kind=IndexError)
    if not shape:
        return ValuesIndices(reshape(x, ()), _leaf(_module_of(x).zeros((), dtype=backend.int64)))
    idx = argsort(x, d, largest, True)._data
    idx = backend.get_array_module(idx).ascontiguousarray(idx[(slice(None),) * d + (slice(0, k),)])
    return ValuesIndices(_gather(x, d, idx), _leaf(idx))
