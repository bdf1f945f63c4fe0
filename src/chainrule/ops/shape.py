"""Shape primitives: reshape, broadcasting, transposes. Most are views (no copy)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from chainrule import backend
from chainrule.errors import broadcast_error, fmt_shape, op_error
from chainrule.ops import samples as S
from chainrule.ops.registry import primitive, public


def _shape_arg(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, backend.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def _reshape_samples(rng: S.Rng):
    yield S.Sample([rng.standard_normal((2, 3))], ((3, 2),))
    yield S.Sample([rng.standard_normal((2, 3))], ((-1,),))
    yield S.Sample([rng.standard_normal(())], ((1, 1),))
    yield S.Sample([rng.standard_normal((1,))], ((),))


@primitive("reshape", saves="", view=True, torch="reshape",
           formula="d reshape(x)/dx: reshape the gradient back", samples=_reshape_samples)
def _reshape(xp, x, shape):
    try:
        return xp.reshape(x, shape)
    except ValueError:
        raise op_error("reshape", f"cannot reshape a tensor of shape {fmt_shape(xp.shape(x))} "
                       f"({xp.size(x)} elements) to {fmt_shape(shape)}",
                       "a shape with the same number of elements (one -1 may stand for the "
                       "rest)") from None


@_reshape.defvjp
def _(c, g):
    return (c.xp.reshape(g, c.x[0].shape),)


@public(method=('reshape', 'view'), sizes=True)
def reshape(x: Any, shape: Sequence[int]) -> Any:
    """The same elements in a new shape (``-1`` infers one dimension)."""
    return _reshape(x, _shape_arg(shape))


def _broadcast_samples(rng: S.Rng):
    yield S.Sample([rng.standard_normal((3,))], ((2, 3),))
    yield S.Sample([rng.standard_normal((2, 1))], ((2, 4),))
    yield S.Sample([rng.standard_normal(())], ((2, 2),))
    yield S.Sample([rng.standard_normal((1, 3))], ((2, 1, 3),))


@primitive("broadcast_to", saves="", view=True, torch="broadcast_to",
           formula="d broadcast(x)/dx: sum the gradient over the broadcast dims",
           samples=_broadcast_samples)
def _broadcast_to(xp, x, shape):
    try:
        return xp.broadcast_to(x, shape)
    except ValueError:
        raise broadcast_error("broadcast_to", xp.shape(x), shape) from None


@_broadcast_to.defvjp
def _(c, g):
    return (c.xp.sum_to(g, c.x[0].shape),)


@public(method=True)
def broadcast_to(x: Any, shape: Sequence[int]) -> Any:
    """``x`` broadcast to ``shape`` (a read-only view)."""
    return _broadcast_to(x, _shape_arg(shape))


@public(method=True, sizes=True)
def expand(x: Any, shape: Sequence[int]) -> Any:
    """PyTorch's ``expand``: like broadcast_to, where -1 keeps a dimension's size."""
    shape = _shape_arg(shape)
    xs = backend.xp.shape(x)
    lead = len(shape) - len(xs)
    if lead < 0:
        raise op_error("expand", f"cannot expand {fmt_shape(xs)} to fewer dimensions "
                       f"{fmt_shape(shape)}", "at least as many dimensions as the tensor has")
    full = tuple(xs[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(shape))
    return _broadcast_to(x, full)


# --- dims ------------------------------------------------------------------------------------


def dim_alias(where: str, dim: Any, keepdim: Any, axis: Any, keepdims: Any) -> tuple[Any, Any]:
    """``(dim, keepdim)`` from PyTorch's NumPy-style aliases ``axis=`` and ``keepdims=``."""
    if axis is not None:
        if dim is not None:
            raise TypeError(f"{where}: got both dim={dim!r} and axis={axis!r}; they are the same "
                            "argument (axis is NumPy's name): pass one")
        dim = axis
    return dim, (keepdim if keepdims is None else keepdims)


def dim_axis(where: str, dim: Any, axis: Any, default: Any = None) -> Any:
    """``dim`` given as NumPy's ``axis=`` (call only when ``axis`` is not None): an error when
    ``dim`` was given too (a ``dim`` equal to its ``default`` counts as not given)."""
    if dim is not None and dim != default:
        raise TypeError(f"{where}: got both dim={dim!r} and axis={axis!r}; they are the same "
                        "argument (axis is NumPy's name): pass one")
    return axis


def required_dim(where: str, dim: Any, axis: Any) -> Any:
    """A required ``dim``, given as ``dim`` or as NumPy's ``axis`` (exactly one of them)."""
    if axis is not None:
        return dim_axis(where, dim, axis)
    if dim is None:
        raise TypeError(f"{where}: missing the dim argument (e.g. {where}(x, dim=-1))")
    return dim


def normalize_dim(dim: Any, ndim: int, op: str, extra: int = 0) -> int:
    """One ``dim`` (negatives allowed) as a non-negative axis; ``extra=1`` for ops that insert
    a dim (unsqueeze, stack), where ``dim == ndim`` is valid. A 0-d tensor accepts 0 and -1."""
    n = ndim + extra
    lo, hi = -max(n, 1), max(n, 1)
    try:
        d = int(dim)
    except TypeError:
        raise TypeError(f"{op}: dim must be an int, got {type(dim).__name__}") from None
    if not lo <= d < hi:
        raise IndexError(f"{op}: dim {d} is out of range for a tensor with {ndim} dimension(s); "
                         f"expected {lo} <= dim < {hi}")
    return d % n if n else 0


def _dims_arg(dims: Any) -> tuple[int, ...]:
    if type(dims) is tuple:  # the common case (x.T, permute(0, 2, 1)): as given
        return dims
    if isinstance(dims, (int, backend.integer)):
        return (int(dims),)
    return tuple(int(d) for d in dims)


# --- permute, transpose, t ---------------------------------------------------------------------


def _permute_samples(rng: S.Rng):
    r = rng.standard_normal
    yield S.Sample([r((2, 3))], ((1, 0),))
    yield S.Sample([r((2, 1, 3))], ((2, 0, 1),))
    yield S.Sample([r((2, 3, 4))], ((-1, 0, 1),))
    yield S.Sample([r(())], ((),))
    yield S.Sample([r((4,))], ((0,),))


@primitive("permute", saves="", view=True, torch="permute",
           formula="d permute(x, dims)/dx: permute the gradient back (inverse permutation)",
           samples=_permute_samples)
def _permute(xp, x, dims):
    """x with its dims reordered (a view)."""
    try:
        return xp.transpose(x, dims)
    except (ValueError, xp.exceptions.AxisError):
        raise op_error("permute", f"dims {dims} is not a permutation of the {x.ndim} dims of a "
                       f"tensor of shape {fmt_shape(x.shape)}",
                       f"each of 0..{x.ndim - 1} exactly once (negatives count from the end)",
                       kind=ValueError) from None


@_permute.defvjp
def _(c, g):
    nd = len(c.p[0])
    perm = [d % nd for d in c.p[0]]
    inv = sorted(range(nd), key=perm.__getitem__)
    return (c.xp.transpose(g, tuple(inv)),)


@public(method=True, sizes=True)
def permute(x: Any, dims: Sequence[int]) -> Any:
    """``x`` with its dimensions reordered (a view): ``out.shape[i] == x.shape[dims[i]]``."""
    return _permute(x, _dims_arg(dims))


@public(method=True)
def transpose(x: Any, dim0: int, dim1: int) -> Any:
    """``x`` with dimensions ``dim0`` and ``dim1`` swapped (a view)."""
    nd = backend.xp.ndim(x)
    a, b = normalize_dim(dim0, nd, "transpose"), normalize_dim(dim1, nd, "transpose")
    perm = list(range(nd))
    if nd:
        perm[a], perm[b] = b, a
    return _permute(x, tuple(perm))


@public(method=True)
def t(x: Any) -> Any:
    """The transpose of a matrix; 0-d and 1-d tensors are returned as they are (as a view)."""
    nd = backend.xp.ndim(x)
    if nd > 2:
        raise op_error("t", f"got a {nd}-D tensor of shape {fmt_shape(backend.xp.shape(x))}",
                       "a tensor with at most 2 dimensions",
                       "use transpose(dim0, dim1) or .mT for batches of matrices",
                       kind=ValueError)
    return _permute(x, (1, 0) if nd == 2 else tuple(range(nd)))


# --- squeeze, unsqueeze, flatten, unflatten (reshapes) ------------------------------------------


@public(method=True)
def squeeze(x: Any, dim: Any = None, *, axis: Any = None) -> Any:
    """``x`` without size-1 dimensions (only those in ``dim`` when given; others are kept)."""
    if axis is not None:
        dim = dim_axis("squeeze", dim, axis)
    shape = backend.xp.shape(x)
    if dim is None:
        drop = {i for i, s in enumerate(shape) if s == 1}
    else:
        drop = {normalize_dim(d, len(shape), "squeeze") for d in _dims_arg(dim)}
        drop = {d for d in drop if shape and shape[d] == 1}
    return _reshape(x, tuple(s for i, s in enumerate(shape) if i not in drop))


@public(method=True)
def unsqueeze(x: Any, dim: Any = None, *, axis: Any = None) -> Any:
    """``x`` with a size-1 dimension inserted at ``dim`` (``-1`` appends one)."""
    dim = required_dim("unsqueeze", dim, axis)
    shape = backend.xp.shape(x)
    d = normalize_dim(dim, len(shape), "unsqueeze", extra=1)
    return _reshape(x, (*shape[:d], 1, *shape[d:]))


@public(method=True)
def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Any:
    """``x`` with dimensions ``start_dim..end_dim`` merged into one (a 0-d tensor gives 1-d)."""
    shape = backend.xp.shape(x)
    if not shape:
        return _reshape(x, (1,))
    a = normalize_dim(start_dim, len(shape), "flatten")
    b = normalize_dim(end_dim, len(shape), "flatten")
    if a > b:
        raise op_error("flatten", f"start_dim {start_dim} comes after end_dim {end_dim} for a "
                       f"tensor of shape {fmt_shape(shape)}", "start_dim <= end_dim",
                       kind=ValueError)
    if a == b:
        return _reshape(x, shape)
    n = math.prod(shape[a:b + 1])
    return _reshape(x, (*shape[:a], n, *shape[b + 1:]))


@public(method=True)
def unflatten(x: Any, dim: int, sizes: Sequence[int]) -> Any:
    """``x`` with dimension ``dim`` expanded into ``sizes`` (one entry may be -1)."""
    shape = backend.xp.shape(x)
    d = normalize_dim(dim, len(shape), "unflatten")
    sizes = _shape_arg(sizes)
    known = math.prod([s for s in sizes if s != -1])
    n = shape[d]
    if sizes.count(-1) > 1 or (-1 not in sizes and known != n) or (
            -1 in sizes and (known == 0 or n % known)):
        raise op_error("unflatten", f"sizes {sizes} do not multiply to the size {n} of dim {d} "
                       f"(shape {fmt_shape(shape)})", f"sizes whose product is {n} (one may be -1)")
    return _reshape(x, (*shape[:d], *sizes, *shape[d + 1:]))


# --- cat, stack ------------------------------------------------------------------------------


def _cat_samples(rng: S.Rng):
    r = rng.standard_normal
    yield S.Sample([[r((2, 3)), r((2, 1)), r((2, 2))]], (1,))
    yield S.Sample([[r((1, 3)), r((2, 3))]], (0,))
    yield S.Sample([[r((3,)), r((2,))]], (-1,))
    yield S.Sample([[r((2, 3))]], (0,), label="one tensor")
    yield S.Sample([[r((2, 1, 2)), r((2, 2, 2))]], (-2,))


def _first_mismatch(op: str, xs: list, dim: int | None) -> Exception:
    """The error for tensors whose shapes do not fit together (cat: all but ``dim``)."""
    shapes = [backend.xp.shape(x) for x in xs]
    for i, s in enumerate(shapes):
        if not s:
            return op_error(op, f"tensor {i} is 0-d", "tensors with at least one dimension",
                            "use stack() to join 0-d tensors")
    for i, s in enumerate(shapes[1:], 1):
        s0 = shapes[0]
        if dim is None:
            bad = s != s0
            rule = "all tensors to have the same shape"
        else:
            d = dim % len(s0)
            bad = len(s) != len(s0) or any(a != b for k, (a, b) in enumerate(zip(s0, s))
                                           if k != d)
            rule = None
        if bad:
            msg = f"tensors 0 and {i} have shapes {fmt_shape(s0)} and {fmt_shape(s)}"
            if rule is None:
                return op_error(op, f"{msg}: all dims except dim {dim % len(s0)} must match")
            return op_error(op, msg, rule)
    return op_error(op, f"cannot join tensors of shapes {shapes} along dim {dim}")


@primitive("cat", nin=-1, saves="", torch=lambda torch, xs, dim: torch.cat(xs, dim),
           formula="d cat(xs, dim)/dx_i: the slice of g that x_i occupies",
           samples=_cat_samples)
def _cat(xp, xs, dim):
    """The tensors joined along an existing dim."""
    try:
        return xp.concatenate(xs, axis=dim)
    except (ValueError, xp.exceptions.AxisError):
        nd = xp.ndim(xs[0])
        if nd and not -nd <= dim < nd:
            raise IndexError(f"cat: dim {dim} is out of range for tensors of shape "
                             f"{fmt_shape(xp.shape(xs[0]))}") from None
        raise _first_mismatch("cat", xs, dim) from None


@_cat.defvjp
def _(c, g):
    d = c.p[0] % g.ndim
    lead = (slice(None),) * d
    out, start = [], 0
    for x, need in zip(c.x, c.need):
        n = x.shape[d]
        out.append(g[(*lead, slice(start, start + n))] if need else None)
        start += n
    return tuple(out)


@public
def cat(tensors: Sequence[Any], dim: int = 0, *, axis: Any = None) -> Any:
    """Join tensors along an existing dimension ``dim`` (NumPy's ``axis=`` too)."""
    if axis is not None:
        dim = dim_axis("cat", dim, axis, 0)
    return _cat(tensors, int(dim))


concat = concatenate = cat


def _stack_samples(rng: S.Rng):
    r = rng.standard_normal
    yield S.Sample([[r((2, 3)), r((2, 3))]], (0,))
    yield S.Sample([[r((2, 3)), r((2, 3)), r((2, 3))]], (2,))
    yield S.Sample([[r(()), r(())]], (0,), label="0-d tensors")
    yield S.Sample([[r((3,)), r((3,))]], (-1,))


@primitive("stack", nin=-1, saves="", torch=lambda torch, xs, dim: torch.stack(xs, dim),
           formula="d stack(xs, dim)/dx_i = g[..., i, ...] (index i along dim)",
           samples=_stack_samples)
def _stack(xp, xs, dim):
    """The tensors joined along a new dim."""
    try:
        return xp.stack(xs, axis=dim)
    except ValueError:
        raise _first_mismatch("stack", xs, None) from None
    except xp.exceptions.AxisError:
        nd = xp.ndim(xs[0])
        raise IndexError(f"stack: dim {dim} is out of range for tensors with {nd} dims; "
                         f"expected {-nd - 1} <= dim <= {nd}") from None


@_stack.defvjp
def _(c, g):
    lead = (slice(None),) * (c.p[0] % g.ndim)
    return tuple(g[(*lead, i, Ellipsis)] if need else None for i, need in enumerate(c.need))


@public
def stack(tensors: Sequence[Any], dim: int = 0, *, axis: Any = None) -> Any:
    """Join tensors of the same shape along a new dimension ``dim`` (NumPy's ``axis=`` too)."""
    if axis is not None:
        dim = dim_axis("stack", dim, axis, 0)
    return _stack(tensors, int(dim))


# --- pad ----------------------------------------------------------------------------------------


def _pad_widths(op: str, shape: tuple[int, ...], pad: Sequence[int]) -> list[tuple[int, int]]:
    """PyTorch's pad tuple (last dim first: left, right, top, bottom, ...) as one
    ``(before, after)`` pair per dim of ``shape``."""
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > len(shape):
        raise op_error(op, f"padding {pad} for a tensor of shape {fmt_shape(shape)}",
                       "an even number of values, (left, right) pairs starting from the last "
                       f"dim, for at most {len(shape)} dim(s)", kind=ValueError)
    k = len(pad) // 2
    return [(0, 0)] * (len(shape) - k) + [(pad[2 * j], pad[2 * j + 1])
                                           for j in range(k - 1, -1, -1)]


def constant_pad_array(xp: Any, x: backend.ndarray, pad: tuple[int, ...],
                       value: Any = 0) -> backend.ndarray:
    """``x`` padded with ``value`` (PyTorch's pad tuple; negative widths crop)."""
    widths = _pad_widths("pad", x.shape, pad)
    out_shape, dst, src = [], [], []
    for n, (lo, hi) in zip(x.shape, widths):
        m = n + lo + hi
        if m < 0:
            raise op_error("pad", f"padding {tuple(pad)} makes a dim of size {n} negative "
                           f"({m}) for a tensor of shape {fmt_shape(x.shape)}",
                           "crops (negative pads) no larger than the dim", kind=ValueError)
        a, b = max(-lo, 0), n - max(-hi, 0)  # the part of x that is kept
        out_shape.append(m)
        src.append(slice(a, max(a, b)))
        dst.append(slice(max(lo, 0), max(lo, 0) + max(b - a, 0)))
    out = xp.full(out_shape, value, dtype=x.dtype)
    out[tuple(dst)] = x[tuple(src)]
    return out


def _pad_samples(rng: S.Rng):
    r = rng.standard_normal
    yield S.Sample([r((2, 3))], ((1, 2), 0.5))
    yield S.Sample([r((2, 3))], ((1, 0, 0, 2), 0.0))
    yield S.Sample([r((4,))], ((-1, 2), 0.0), label="negative pad crops")
    yield S.Sample([r((2, 3))], ((0, -1, 1, 1), -1.0))
    yield S.Sample([r((2, 1, 2))], ((), 0.0))


@primitive("pad", saves="", torch=lambda torch, x, pad, value: torch.nn.functional.pad(
    x, pad, "constant", value),
           formula="d pad(x)/dx: the gradient cropped back (pad with the negated widths)",
           samples=_pad_samples)
def _pad(xp, x, pad, value):
    """Constant padding (PyTorch's pad tuple convention; negative widths crop)."""
    return constant_pad_array(xp, x, pad, value)


@_pad.defvjp
def _(c, g):
    return (c.xp.constant_pad(g, tuple(-p for p in c.p[0])),)


def _pad_index(xp: Any, n: int, lo: int, hi: int, mode: str) -> backend.ndarray:
    """For each output position along one dim, the input position it copies."""
    i = xp.arange(-lo, n + hi)
    if mode == "reflect":
        if max(lo, hi) >= n:
            raise op_error("pad", f"reflect padding ({lo}, {hi}) for a dim of size {n}",
                           "pads smaller than the dim's size", kind=ValueError)
        i = xp.abs(i)
        return xp.where(i >= n, 2 * (n - 1) - i, i)
    if mode == "replicate":
        return xp.clip(i, 0, n - 1)
    if max(lo, hi) > n:
        raise op_error("pad", f"circular padding ({lo}, {hi}) for a dim of size {n}",
                       "pads no larger than the dim's size", kind=ValueError)
    return i % n


@public(functional=True)
def pad(x: Any, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Any:
    """Pad ``x`` (as ``torch.nn.functional.pad``): ``pad`` lists (left, right) pairs starting
    from the last dim; ``mode`` is "constant" (with ``value``), "reflect", "replicate" or
    "circular"."""
    pad = tuple(int(p) for p in pad)
    if mode == "constant":
        return _pad(x, pad, 0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise op_error("pad", f"unknown mode {mode!r}",
                       "'constant', 'reflect', 'replicate' or 'circular'", kind=ValueError)
    if value:
        raise op_error("pad", f"value {value} given with mode {mode!r}",
                       "value only with mode='constant'", kind=ValueError)
    from chainrule.ops.indexing import index_select
    shape = backend.xp.shape(x)
    xp = backend.get_array_module(getattr(x, "_data", x))  # the index lives where x does
    for d, (lo, hi) in enumerate(_pad_widths("pad", shape, pad)):
        if lo or hi:
            x = index_select(x, d, _pad_index(xp, shape[d], lo, hi, mode))
    return x


# --- flip, repeat ---------------------------------------------------------------------------


def _flip_samples(rng: S.Rng):
    r = rng.standard_normal
    yield S.Sample([r((2, 3))], ((0,),))
    yield S.Sample([r((2, 3))], ((0, 1),))
    yield S.Sample([r((4,))], ((-1,),))
    yield S.Sample([r(())], ((),))
    yield S.Sample([r((2, 1, 3))], ((2, 1),))


@primitive("flip", saves="", view=True, torch=lambda torch, x, dims: torch.flip(x, dims),
           formula="d flip(x, dims)/dx: flip the gradient back", samples=_flip_samples)
def _flip(xp, x, dims):
    """x reversed along dims (a view)."""
    try:
        return xp.flip(x, dims)
    except xp.exceptions.AxisError:
        raise IndexError(f"flip: dims {dims} are out of range for a tensor of shape "
                         f"{fmt_shape(x.shape)}") from None


@_flip.defvjp
def _(c, g):
    return (c.xp.flip(g, c.p[0]),)


@public(method=True)
def flip(x: Any, dims: Any) -> Any:
    """``x`` with the order of entries reversed along ``dims`` (a view)."""
    return _flip(x, _dims_arg(dims))


def _repeat_samples(rng: S.Rng):
    r = rng.standard_normal
    yield S.Sample([r((2, 3))], ((2, 1),))
    yield S.Sample([r((3,))], ((2, 2),))
    yield S.Sample([r(())], ((3,),))
    yield S.Sample([r((2, 1, 2))], ((1, 2, 1),))


@primitive("repeat", saves="", torch=lambda torch, x, sizes: x.repeat(*sizes),
           formula="d repeat(x, sizes)/dx: the gradient summed over the copies",
           samples=_repeat_samples)
def _repeat(xp, x, sizes):
    """x tiled sizes[i] times along each dim (NumPy's tile)."""
    if len(sizes) < x.ndim:
        raise op_error("repeat", f"{len(sizes)} repeat count(s) {sizes} for a tensor of shape "
                       f"{fmt_shape(x.shape)}", f"at least {x.ndim} counts, one per dim",
                       kind=ValueError)
    return xp.tile(x, sizes)


@_repeat.defvjp
def _(c, g):
    sizes = c.p[0]
    shape = tuple(c.x[0].shape)
    full = (1,) * (len(sizes) - len(shape)) + shape
    split = tuple(v for pair in zip(sizes, full) for v in pair)  # (r0, s0, r1, s1, ...)
    gs = c.xp.sum(c.xp.reshape(g, split), tuple(range(0, 2 * len(sizes), 2)))
    return (c.xp.reshape(gs, shape),)


@public(method=True, sizes=True)
def repeat(x: Any, sizes: Sequence[int]) -> Any:
    """``x`` tiled ``sizes[i]`` times along each dim (``Tensor.repeat``, NumPy's ``tile``)."""
    return _repeat(x, _shape_arg(sizes))
