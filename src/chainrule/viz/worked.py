"""Worked numbers: an op's backward written out term by term, with the numbers of one step.

The registry's ``formula=`` is one line of text per op. For a few ops that line hides a sum
worth seeing (a convolution's kernel gradient is a sum over output positions), so this table
keys a function by op name; ``explain`` calls it with the :class:`~chainrule.viz.trace.Step`
the trace recorded (the op's inputs, parameters, incoming gradient and what the engine's vjp
sent to each input) and prints the sections it returns. Every number is recomputed here from
the recorded inputs in float64, beside the engine's value, so a reader (and a test) can check
the one against the other.

    WORKED["conv"](step)   # -> [(heading, paragraph, header, rows), ...] or None (too large)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from chainrule.viz.trace import Step

Section = tuple[str, str, list[str], list[list[str]]]
MAX_TERMS = 600
"""A step is written out only when all its sums together have at most this many terms."""


def _n(v: float) -> str:
    """A number in a sum: 4 significant figures (the totals are printed with 6)."""
    v = float(v)
    return "0" if v == 0 else f"{v:.4g}" if v > 0 else f"({v:.4g})"


def _idx(ix: tuple[int, ...]) -> str:
    return "[" + ",".join(map(str, ix)) + "]"


def _sum(terms: list[tuple[str, str, float, float]]) -> str:
    """``g[0,0]*x[0,0] + ... = 0.1*2 + ...`` for terms (left name, right name, left, right)."""
    if not terms:
        return "(no terms) = 0"
    names = " + ".join(f"{a}*{b}" for a, b, _, _ in terms)
    nums = " + ".join(f"{_n(u)}*{_n(v)}" for _, _, u, v in terms)
    return f"{names} = {nums}"


def _grid(name: str, a: np.ndarray) -> Section:
    """A 2-D array as a table (one row per row), or an n-d one as its index -> value list."""
    if a.ndim == 2:
        return ("", f"{name} {a.shape[0]}x{a.shape[1]}:", ["row"] + [str(j) for j in
                                                                     range(a.shape[1])],
                [[str(i)] + [f"{float(v):.6g}" for v in r] for i, r in enumerate(a)])
    return ("", f"{name} {'x'.join(map(str, a.shape))}:", ["index", "value"],
            [[_idx(ix), f"{float(a[ix]):.6g}"] for ix in np.ndindex(a.shape)])


def _conv_terms(x: np.ndarray, w: np.ndarray, g: np.ndarray, stride: tuple[int, ...],
                pad: tuple[tuple[int, int], ...], dil: tuple[int, ...], groups: int
                ) -> tuple[dict, dict]:
    """Every term of the two sums, as index pairs: for each kernel entry (o, c, *a) the
    (g index, x index) pairs, and for each input entry (n, c, *u) the (g index, W index) pairs.
    One loop over the forward's multiply-adds: y[n, o, p] += W[o, c, a] x[n, c', p*s + a*d - pad].
    """
    dw: dict[tuple, list] = {ix: [] for ix in np.ndindex(w.shape)}
    dx: dict[tuple, list] = {ix: [] for ix in np.ndindex(x.shape)}
    n_b = x.shape[0]
    c_out, cg = w.shape[:2]
    og = c_out // groups
    sp = x.shape[2:]
    for n, o, *p in itertools.product(range(n_b), range(c_out), *map(range, g.shape[2:])):
        grp = o // og
        for cl, *a in itertools.product(range(cg), *map(range, w.shape[2:])):
            u = tuple(pi * s + ai * d - lo for pi, ai, s, d, (lo, _) in
                      zip(p, a, stride, dil, pad))
            if not all(0 <= ui < size for ui, size in zip(u, sp)):
                continue  # the kernel sits on the zero padding: no term
            gi, wi, xi = (n, o, *p), (o, cl, *a), (n, grp * cg + cl, *u)
            dw[wi].append((gi, xi))
            dx[xi].append((gi, wi))
    return dw, dx


def conv(step: Step) -> list[Section] | None:
    """The convolution's backward with the numbers: dW as the sum over output positions of
    input patch x output gradient, dx as the full correlation of the output gradient with the
    flipped kernel (stride 1, no dilation; otherwise as the sum it is), db as the sum of g."""
    if step.grad is None or len(step.inputs) < 2:
        return None
    stride, pad, dil, groups = step.params
    x = np.asarray(step.inputs[0].value, dtype=np.float64)
    w = np.asarray(step.inputs[1].value, dtype=np.float64)
    g = np.asarray(step.grad, dtype=np.float64)
    terms = g.size * w[0].size * 2
    if terms > MAX_TERMS:
        return [(f"{step.name} = conv: too large to write out",
                 f"Its two sums have about {terms} terms (more than {MAX_TERMS}); explain a "
                 "small convolution (e.g. a 1x1x4x4 input and one 2x2 kernel) to see them with "
                 "the numbers.", [], [])]
    dw_terms, dx_terms = _conv_terms(x, w, g, tuple(stride), tuple(pad), tuple(dil), groups)
    nd = w.ndim - 2
    k = w.shape[2:]
    plain = all(s == 1 for s in stride) and all(d == 1 for d in dil)
    single = x.shape[:2] == (1, 1) and w.shape[:2] == (1, 1)

    def short(ix: tuple[int, ...]) -> tuple[int, ...]:
        return ix[2:] if single else ix  # drop the batch and channel indices when both are 1

    out: list[Section] = []
    pads = ", ".join(f"{lo}/{hi}" for lo, hi in pad)
    out.append((f"{step.name} = conv: the backward with the numbers",
                f"Forward: y[p] = sum over kernel offsets a of W[a] * x[p*s + a*d - pad] + b "
                f"(a cross-correlation; stride {tuple(stride)}, padding {pads}, dilation "
                f"{tuple(dil)}, groups {groups}). Backward gets g = dLoss/dy "
                f"({'x'.join(map(str, g.shape))}).", [], []))
    if single and nd == 2:
        out += [_grid("input x", x[0, 0]), _grid("kernel W", w[0, 0]),
                _grid("output gradient g", g[0, 0])]
    prod1 = step.inputs[1].product
    rows = []
    for wi, terms in dw_terms.items():
        val = sum(g[gi] * x[xi] for gi, xi in terms)
        named = [(f"g{_idx(short(gi))}", f"x{_idx(short(xi))}", g[gi], x[xi]) for gi, xi in terms]
        eng = "" if prod1 is None else f"{float(np.asarray(prod1)[wi]):.6g}"
        rows.append([f"dW{_idx(short(wi))}", _sum(named), f"{val:.6g}", eng])
    out.append(("Kernel gradient: dW[a] = sum over output positions p of g[p] * x[p + a]",
                "Each kernel entry met one input value at every output position (the input "
                "patch under the kernel); its gradient adds g x that input value over the "
                "positions.", ["entry", "sum over output positions of g * input patch",
                                "dW (worked)", "dW (engine)"], rows))
    prod0 = step.inputs[0].product
    rows = []
    for xi, terms in dx_terms.items():
        val = sum(g[gi] * w[wi] for gi, wi in terms)
        if plain:
            named = [(f"g{_idx(short(gi))}",
                      f"Wf{_idx(short((*wi[:2], *(kk - 1 - a for kk, a in zip(k, wi[2:])))))}",
                      g[gi], w[wi]) for gi, wi in terms]
        else:
            named = [(f"g{_idx(short(gi))}", f"W{_idx(short(wi))}", g[gi], w[wi])
                     for gi, wi in terms]
        eng = "" if prod0 is None else f"{float(np.asarray(prod0)[xi]):.6g}"
        rows.append([f"dx{_idx(short(xi))}", _sum(named), f"{val:.6g}", eng])
    if plain:
        flipped = w[(slice(None), slice(None)) + (slice(None, None, -1),) * nd]
        gp = np.pad(g, [(0, 0), (0, 0)] + [(kk - 1, kk - 1) for kk in k])
        head = ("Input gradient: the full correlation of g with the flipped kernel",
                f"Pad g with kernel size - 1 = {', '.join(str(kk - 1) for kk in k)} zeros on each "
                "side and slide the flipped kernel Wf = W reversed along every spatial axis over "
                "it: dx[u] = sum over b of g_padded[u + b] * Wf[b]. Below, each g_padded "
                "entry is written as the g entry it holds, and the zero terms of the padding "
                "are left out" + (f"; the input padding ({pads}) is then cut "
                                                  "off." if any(lo or hi for lo, hi in pad)
                                                  else "."))
        if single and nd == 2:
            out += [_grid("flipped kernel Wf", flipped[0, 0]),
                    _grid("g padded with zeros", gp[0, 0])]
    else:
        head = ("Input gradient: dx[u] = sum of g[p] * W[a] over p*s + a*d - pad = u",
                "With a stride or a dilation the transposed convolution scatters each g[p] "
                "through the kernel back to the inputs it read.")
    out.append((head[0], head[1], ["entry", "terms", "dx (worked)", "dx (engine)"], rows))
    if len(step.inputs) > 2 and step.inputs[2].product is not None:
        db = g.sum(axis=tuple(i for i in range(g.ndim) if i != 1))
        eng_b = np.asarray(step.inputs[2].product)
        out.append(("Bias gradient: db = sum of g over the batch and the positions", "",
                    ["entry", "db (worked)", "db (engine)"],
                    [[f"db[{o}]", f"{db[o]:.6g}", f"{float(eng_b[o]):.6g}"]
                     for o in range(db.size)]))
    return out


WORKED: dict[str, Callable[[Step], list[Section] | None]] = {"conv": conv}
"""op name -> the function that writes its backward out with the numbers of one step."""


def worked(step: Step) -> list[Section] | None:
    """The worked sections of ``step`` (None: no worked form for its op, or too large)."""
    fn = WORKED.get(step.op)
    return None if fn is None else fn(step)


__all__ = ["MAX_TERMS", "WORKED", "conv", "worked"]
