"""Linear algebra primitives: matmul (every NumPy/PyTorch case) and einsum (any equation).

The matmul vjp keeps its products in the layouts BLAS takes without a copy (``g @ b.T`` and
``a.T @ g``) and returns gradients at the broadcast shape, reshaped for 1-D operands; the engine
sums broadcast batch dimensions back. The einsum vjp for operand k is another einsum of the output
gradient with the other operands (identity matrices restore repeated indices, ones vectors the
indices only operand k had), so einsum is differentiable to any order.
"""

from __future__ import annotations

import string
from functools import lru_cache
from typing import Any

from chainrule import backend
from chainrule.errors import fmt_shape, op_error
from chainrule.ops import samples as S
from chainrule.ops.registry import primitive, public

# --- matmul ---------------------------------------------------------------------------------------


def _matmul_error(a: Any, b: Any) -> Exception:
    """The teaching error for operands that the array module's matmul refused."""
    sa, sb = backend.xp.shape(a), backend.xp.shape(b)
    head = f"{fmt_shape(sa)} @ {fmt_shape(sb)}"
    if not sa or not sb:
        return op_error("matmul", f"{head}: both operands need at least 1 dimension",
                        hint="use * to multiply by a scalar")
    ka = sa[-1]
    kb = sb[-2] if len(sb) >= 2 else sb[0]
    if ka != kb:
        problem = f"{head}: inner dimensions {ka} and {kb} differ"
        if len(sb) >= 2 and sb[-1] == ka:
            return op_error("matmul", problem, hint="did you mean w.T?")
        if len(sa) >= 2 and sa[-2] == kb:
            return op_error("matmul", problem, hint="did you mean x.T?")
        return op_error("matmul", problem, "the last dimension of the first operand to equal "
                        "the second-to-last of the second: (..., n, k) @ (..., k, m)")
    return op_error("matmul", f"{head}: batch dimensions {fmt_shape(sa[:-2])} and "
                    f"{fmt_shape(sb[:-2])} do not broadcast",
                    "each trailing batch dimension pair to be equal or 1")


def _matmul_samples(rng: S.Rng):
    r = rng.standard_normal
    # the first four are also the second-order samples: keep 1-D and batched among them
    yield S.Sample([r((2, 3)), r((3, 4))], label="2-D @ 2-D")
    yield S.Sample([r((3,)), r((3,))], label="1-D @ 1-D (dot)")
    yield S.Sample([r((2, 1, 2, 3)), r((3, 3, 2))], label="batched, broadcast batch dims")
    yield S.Sample([r((3,)), r((2, 3, 2))], label="1-D @ batched")
    yield S.Sample([r((3,)), r((3, 2))], label="1-D @ 2-D")
    yield S.Sample([r((2, 3)), r((3,))], label="2-D @ 1-D")
    yield S.Sample([r((2, 2, 3)), r((3,))], label="batched @ 1-D")
    yield S.Sample([r((2, 2, 3)), r((3, 2))], label="batched @ 2-D")
    yield S.Sample([r((2, 3)), r((2, 3, 2))], label="2-D @ batched")
    yield S.Sample([r((1, 2, 3)), r((2, 3, 1))], label="size-1 batch and output dims")


@primitive("matmul", nin=2, torch="matmul",
           formula="d(a@b)/da = g @ b^T;  d(a@b)/db = a^T @ g  (1-D operands: vectors)",
           samples=_matmul_samples, method=("matmul", "__matmul__"))
def matmul(xp, a, b):
    """Matrix product with NumPy/PyTorch semantics: 1-D operands are vectors (dot, matrix-vector),
    leading dimensions are batch dimensions and broadcast."""
    try:
        return xp.matmul(a, b)
    except ValueError:
        raise _matmul_error(a, b) from None


@matmul.defvjp
def _(c, g):
    a, b = c.x
    xp = c.xp
    na, nb = a.ndim, b.ndim
    ga = gb = None
    if na >= 2 and nb >= 2:
        if c.need[0]:
            ga = xp.matmul(g, xp.swapaxes(b, -1, -2))
        if c.need[1]:
            if nb == 2 and na > 2:  # weight shared over a batch: one GEMM, no batch to sum
                k = a.shape[-1]
                gb = xp.matmul(xp.swapaxes(xp.reshape(a, (-1, k)), 0, 1),
                               xp.reshape(g, (-1, g.shape[-1])))
            else:
                gb = xp.matmul(xp.swapaxes(a, -1, -2), g)
    elif na == 1 and nb == 1:  # dot: g is 0-d
        ga = g * b if c.need[0] else None
        gb = g * a if c.need[1] else None
    elif na == 1:  # (k,) @ (..., k, n) -> (..., n)
        if c.need[0]:
            if g.ndim == 1:
                ga = xp.matmul(b, g)
            else:
                r = xp.matmul(b, xp.reshape(g, (*g.shape, 1)))
                ga = xp.reshape(r, r.shape[:-1])
        if c.need[1]:
            gb = xp.reshape(a, (a.shape[0], 1)) * xp.reshape(g, (*g.shape[:-1], 1, g.shape[-1]))
    else:  # (..., m, k) @ (k,) -> (..., m)
        if c.need[0]:
            ga = xp.reshape(g, (*g.shape, 1)) * b
        if c.need[1]:
            gb = xp.matmul(xp.reshape(g, (-1,)), xp.reshape(a, (-1, a.shape[-1])))
    return ga, gb


def _need_ndim(name: str, x: Any, ndims: tuple[int, ...], what: str) -> None:
    if backend.xp.ndim(x) not in ndims:
        raise op_error(name, f"expected {what}, got a tensor of shape "
                       f"{fmt_shape(backend.xp.shape(x))}",
                       hint="use matmul for the general case")


@public(method=True)
def mm(input: Any, mat2: Any) -> Any:
    """Matrix product of two 2-D tensors."""
    _need_ndim("mm", input, (2,), "2-D matrices")
    _need_ndim("mm", mat2, (2,), "2-D matrices")
    return matmul(input, mat2)


@public(method=True)
def bmm(input: Any, mat2: Any) -> Any:
    """Batched matrix product of two 3-D tensors with the same batch size (no broadcasting)."""
    _need_ndim("bmm", input, (3,), "3-D batches of matrices")
    _need_ndim("bmm", mat2, (3,), "3-D batches of matrices")
    sa, sb = backend.xp.shape(input), backend.xp.shape(mat2)
    if sa[0] != sb[0]:
        raise op_error("bmm", f"{fmt_shape(sa)} @ {fmt_shape(sb)}: "
                       "batch sizes differ", "the same batch size (bmm does not broadcast)")
    return matmul(input, mat2)


@public(method=True)
def mv(input: Any, vec: Any) -> Any:
    """Matrix-vector product: (n, m) @ (m,) -> (n,)."""
    _need_ndim("mv", input, (2,), "a 2-D matrix")
    _need_ndim("mv", vec, (1,), "a 1-D vector")
    return matmul(input, vec)


@public(method=True)
def dot(input: Any, other: Any) -> Any:
    """Inner product of two 1-D tensors (a 0-d result)."""
    _need_ndim("dot", input, (1,), "1-D vectors")
    _need_ndim("dot", other, (1,), "1-D vectors")
    return matmul(input, other)


@public(method=True)
def outer(input: Any, vec2: Any) -> Any:
    """Outer product of two 1-D tensors: (n,) x (m,) -> (n, m)."""
    _need_ndim("outer", input, (1,), "1-D vectors")
    _need_ndim("outer", vec2, (1,), "1-D vectors")
    return einsum("i,j->ij", input, vec2)


# --- einsum ---------------------------------------------------------------------------------------

_LETTERS = string.ascii_letters


def _ndim(x: Any) -> int:
    nd = getattr(x, "ndim", None)
    return nd if nd is not None else backend.xp.ndim(x)


@lru_cache(maxsize=512)
def _parse(equation: str, ndims: tuple[int, ...]) -> tuple[tuple[str, ...], str]:
    """The equation in explicit form, '...' replaced by letters: (input terms, output term).

    As in PyTorch, implicit mode outputs the letters that occur once, sorted (ellipsis dims
    first), and ellipsis dims missing from an explicit output are summed.
    """
    eq = equation.replace(" ", "")
    if eq.count("->") > 1:
        raise op_error("einsum", f"equation {equation!r} has more than one '->'")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ndims):
        raise op_error("einsum", f"equation {equation!r} names {len(terms)} operand(s) but "
                       f"{len(ndims)} were given", "one comma-separated term per operand")
    for t in (*terms, out):
        bad = set(t.replace("...", "")) - set(_LETTERS)
        if bad or t.count("...") > 1:
            raise op_error("einsum", f"equation {equation!r}: invalid subscripts {t!r}",
                           "letters a-z, A-Z and at most one '...' per term")
    used = set(eq) & set(_LETTERS)
    free = [ch for ch in _LETTERS if ch not in used]
    n_ell = 0
    for t, nd in zip(terms, ndims):
        n_lab = len(t.replace("...", ""))
        if "..." in t:
            if nd < n_lab:
                raise op_error("einsum", f"operand with subscripts {t!r} has {nd} dimension(s) "
                               f"but names {n_lab} besides '...'")
            n_ell = max(n_ell, nd - n_lab)
        elif nd != n_lab:
            raise op_error("einsum", f"operand with subscripts {t!r} has {nd} dimension(s)",
                           f"{n_lab} (one letter per dimension, or '...' for the rest)")
    if n_ell > len(free):
        raise op_error("einsum", f"equation {equation!r} needs more letters than there are")
    ell = "".join(free[:n_ell])
    ins = tuple(t.replace("...", ell[n_ell - (nd - len(t) + 3):]) if "..." in t else t
                for t, nd in zip(terms, ndims))
    if not arrow:
        counts = {ch: lhs.count(ch) for ch in used}
        out = ell + "".join(sorted(ch for ch, k in counts.items() if k == 1))
    else:
        out = out.replace("...", ell)
        if len(set(out)) != len(out):
            raise op_error("einsum", f"equation {equation!r} repeats a letter in its output")
        missing = set(out) - set("".join(ins))
        if missing:
            raise op_error("einsum", f"equation {equation!r}: output letter(s) "
                           f"{''.join(sorted(missing))} appear in no operand")
    return ins, out


@lru_cache(maxsize=512)
def _grad_equation(ins: tuple[str, ...], out: str, k: int) -> tuple[str, tuple, tuple]:
    """The einsum giving operand k's gradient: (equation, other operand indices, extras).

    The gradient is ``einsum(out, *others, *extras -> ins[k])``; a letter repeated in ins[k]
    gets fresh letters tied to the first by identity matrices (extras ``("eye", axis, axis2)``),
    and a letter found in no other term comes from a ones vector (``("ones", axis)``).
    """
    target = ins[k]
    others = tuple(j for j in range(len(ins)) if j != k)
    seen_elsewhere = set(out).union(*(ins[j] for j in others))
    free = iter(ch for ch in _LETTERS if ch not in set(out).union(*ins))
    result, extras, extra_terms, first = [], [], [], {}
    for axis, ch in enumerate(target):
        if ch in first:
            fresh = next(free)
            result.append(fresh)
            extras.append(("eye", first[ch], axis))
            extra_terms.append(ch + fresh)
            continue
        first[ch] = axis
        result.append(ch)
        if ch not in seen_elsewhere:
            extras.append(("ones", axis))
            extra_terms.append(ch)
    lhs = ",".join([out, *(ins[j] for j in others), *extra_terms])
    return f"{lhs}->{''.join(result)}", others, tuple(extras)


def einsum_arrays(xp: Any, equation: str, *operands: Any) -> backend.ndarray:
    """xp.einsum, with a contraction path when it pays (the array-level einsum).

    NumPy's default loop wins for two small operands (2 us vs 15 us for 3x4 @ 4x5); a contraction
    path, which calls BLAS, for more operands or big ones (64x784 @ 784x128: 0.2 ms vs 1.1 ms).
    """
    optimize = len(operands) > 2 or sum(getattr(x, "size", 1) for x in operands) > 4096
    out = xp.einsum(equation, *operands, optimize=optimize)
    return out if type(out) is xp.ndarray else xp.asarray(out)


def _einsum_samples(rng: S.Rng):
    r = rng.standard_normal
    yield S.Sample([[r((2, 3)), r((3, 4))]], ("ij,jk->ik",), label="matrix product")
    yield S.Sample([[r((3, 3))]], ("ii->",), label="trace")
    yield S.Sample([[r((2, 3)), r((3, 2)), r((2, 2))]], ("ij,jk,kl->il",), label="chain of 3")
    yield S.Sample([[r((2, 1, 3)), r((2, 3))]], ("...ij,...j->...i",), label="ellipsis")
    yield S.Sample([[r((2, 2, 3)), r((2, 3, 2))]], ("bij,bjk->bik",), label="batch matmul")
    yield S.Sample([[r((3,)), r((2,))]], ("i,j->ij",), label="outer")
    yield S.Sample([[r((3, 3))]], ("ii->i",), label="diagonal")
    yield S.Sample([[r((2, 3))]], ("ij->ji",), label="transpose")
    yield S.Sample([[r((2, 3))]], ("ij->",), label="sum")
    yield S.Sample([[r((2, 3)), r((3, 4)), r((2, 4))]], ("bi,ij,bj->b",), label="bilinear")
    yield S.Sample([[r((2, 2, 3)), r((3,))]], ("iij,j->ij",), label="repeated index, shared")
    yield S.Sample([[r((2, 3)), r(())]], ("ij,->i",), label="0-d operand, summed-out index")
    yield S.Sample([[r((1, 3)), r((2, 3))]], ("ij,ij->ij",), label="size-1 broadcast")
    yield S.Sample([[r((2, 3)), r((4,))]], ("ij,k",), label="implicit output")


@primitive("einsum", nin=-1, torch=lambda torch, xs, equation: torch.einsum(equation, *xs),
           formula="d einsum(..., x_k, ...)/dx_k = einsum of g with the other operands",
           samples=_einsum_samples)
def _einsum(xp, xs, equation):
    out = einsum_arrays(xp, equation, *xs)
    if len(xs) == 1 and xp.may_share_memory(out, xs[0]):  # a permutation or diagonal view
        out = out.copy()
    return out


@_einsum.defvjp
def _(c, g):
    xs = c.x
    ins, out = _parse(c.p[0], tuple(_ndim(x) for x in xs))
    grads = []
    m = backend.get_array_module(g)  # the constants' module (the default one for a Tensor g)
    for k, x in enumerate(xs):
        if not c.need[k]:
            grads.append(None)
            continue
        eq, others, extras = _grad_equation(ins, out, k)
        consts = [m.eye(x.shape[e[1]], dtype=g.dtype) if e[0] == "eye" else
                  m.ones(x.shape[e[1]], dtype=g.dtype) for e in extras]
        grads.append(c.xp.einsum(eq, g, *(xs[j] for j in others), *consts))
    return tuple(grads)


@public
def einsum(equation: str, *operands: Any) -> Any:
    """Einstein summation, as ``torch.einsum``: ``einsum("ij,jk->ik", a, b)``; the operands may
    also come as one list. Implicit output (no '->'), repeated indices (``"ii->i"``) and '...'
    are supported; ellipsis dims missing from an explicit output are summed."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise op_error("einsum", f"the first argument must be the equation string, got "
                       f"{type(equation).__name__}", kind=TypeError)
    ins, out = _parse(equation, tuple(_ndim(x) for x in operands))
    return _einsum(operands, ",".join(ins) + "->" + out)

