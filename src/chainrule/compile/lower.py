"""Lowerings: the hot ops' forwards and vjps written out as the array calls they make.

A recorded op is normally replayed as a call of its forward (or vjp) function. For the ops
below, the generated replay inlines the calls that function makes instead (the same ufuncs on
the same operands in the same order, so the same bits), with no Python frame, no context object
and no ``*args`` in between; temporaries the eager formula creates and drops are written in
place (``multiply(t, o, t)`` for ``t * o`` on a fresh ``t``: the same values).

Each lowering returns source lines (or None when the recorded call is not the case it covers:
the op's generic call is replayed instead). ``{o}`` is the output, ``{g0}``, ``{g1}``, ... the
input gradients; operands arrive as names. ``E.fn(f)`` names an object in the replay's closure.
The recorder runs every lowering once on the recorded arrays and keeps it only if it reproduces
the eager result bit for bit (dtype, shape and bytes), so a lowering that does not match a
case falls back rather than drifting.
"""

from __future__ import annotations

from typing import Any

_BINARY = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide"}
_UNARY = {"neg": "negative", "tanh": "tanh", "exp": "exp", "log": "log", "sqrt": "sqrt",
          "square": "square"}


def _is_scalar(v: Any) -> bool:
    return type(v) in (int, float)


def forward(E: Any, name: str, xp: Any, xs: tuple, a: list[str], p: tuple,
            out: Any) -> list[str] | None:
    """Lines computing ``{o}`` (and the residuals ``{r}``) as the op's forward does, or None."""
    nd = xp.ndarray
    if name == "cross_entropy":
        return _cross_entropy(E, xp, xs, a, p)
    if name in ("sum", "mean") and p == (None, False) and type(xs[0]) is nd \
            and xs[0].dtype.kind == "f":  # a full reduction: NumPy's scalar made 0-d
        return [f"{{o}} = {E.fn(xp.asarray)}({a[0]}.{name}())"]
    if out.ndim == 0 and name not in ("mse_loss",):
        return None  # NumPy returns a scalar for 0-d results: the generic path fixes it up
    if name in _BINARY and not p:
        if all(type(x) is nd or _is_scalar(x) for x in xs):
            return [f"{{o}} = {E.fn(getattr(xp, _BINARY[name]))}({a[0]}, {a[1]})"]
    elif name in _UNARY and not p and type(xs[0]) is nd:
        return [f"{{o}} = {E.fn(getattr(xp, _UNARY[name]))}({a[0]})"]
    elif name == "relu" and type(xs[0]) is nd:
        return [f"{{o}} = {E.fn(xp.maximum)}({a[0]}, 0)"]
    elif name == "sigmoid" and type(xs[0]) is nd:  # tanh(x * 0.5) * 0.5 + 0.5
        mul, tanh, add = E.fn(xp.multiply), E.fn(xp.tanh), E.fn(xp.add)
        return [f"{{o}} = {mul}({a[0]}, 0.5)", f"{tanh}({{o}}, {{o}})",
                f"{mul}({{o}}, 0.5, {{o}})", f"{add}({{o}}, 0.5, {{o}})"]
    elif name == "linear":
        x, w, b = xs
        if type(x) is nd and x.ndim == 2 and type(w) is nd and w.ndim == 2:
            lines = [f"{{o}} = {E.fn(xp.matmul)}({a[0]}, {E.transposed(w, a[1])})"]
            if b is None:
                return lines
            if type(b) is nd and b.dtype == out.dtype and b.ndim <= 1:
                return [*lines, f"{E.fn(xp.add)}({{o}}, {a[2]}, {{o}})"]
    elif name == "mse_loss" and p == ("mean",):
        x, y = xs
        if type(x) is nd and type(y) is nd and x.shape == y.shape and x.size:
            return [f"_t = {E.fn(xp.subtract)}({a[0]}, {a[1]})",
                    f"{E.fn(xp.multiply)}(_t, _t, _t)",
                    f"{{o}} = {E.fn(xp.asarray)}(_t.sum() / {x.size})"]
    return None


def vjp(E: Any, name: str, xp: Any, cxp: Any, xs: tuple, a: list[str], g: str,
        o: str | None, r: str | None, need: tuple, p: tuple) -> list[str] | None:
    """Lines computing the needed input gradients ``{g0}``, ``{g1}``, ... as the op's vjp does
    (before the engine's sum back to a broadcast input's shape), or None. ``xp`` is the array
    module, ``cxp`` the namespace vjps get as ``c.xp``."""
    nd = xp.ndarray
    if name == "cross_entropy" and r is not None:
        if not need[0]:
            return []
        x = xs[0]
        scale = f", {E.fn(xp.multiply)}({g}, {1.0 / x.shape[0]!r})" if p[0] == "mean" else \
            f", {g}"
        mul, sub = E.fn(xp.multiply), E.fn(xp.subtract)
        return [  # softmax from the forward's exp(x - max) and its row sums (the same calls)
            f"_t = {r}e", f"{E.fn(xp.divide)}(_t, {r}s[..., None], _t)",
            f"_u = {E.fn(xp.zeros)}({x.shape!r}, {E.fn(x.dtype, 'dt_' + x.dtype.name)})",
            f"_u[{E.fn(_rows(xp, x.shape[0]), 'rows')}, {a[1]}] = 1.0",
            f"{sub}(_t, _u, _t)", f"{{g0}} = {mul}(_t{scale}, _t)"]
    if name in ("sum", "mean") and p == (None, False) and type(xs[0]) is nd:
        shape = xs[0].shape  # g (0-d) broadcast back to the input's shape: a read-only view
        if name == "mean":
            g = f"{E.fn(xp.multiply)}({g}, {1.0 / (xs[0].size or 1)!r})"
        return [f"{{g0}} = {E.fn(xp.broadcast_to)}({g}.reshape({(1,) * len(shape)!r}), "
                f"{shape!r})"]
    if name == "add" and not p:
        return [f"{{g{i}}} = {g}" for i in range(2) if need[i]]
    if name == "sub" and not p:
        return (["{g0} = " + g] if need[0] else []) + (
            [f"{{g1}} = {E.fn(xp.negative)}({g})"] if need[1] else [])
    if name == "mul" and not p:
        mul = E.fn(xp.multiply)
        return [f"{{g{i}}} = {mul}({g}, {a[1 - i]})" for i in range(2) if need[i]]
    if name == "neg":
        return [f"{{g0}} = {E.fn(xp.negative)}({g})"]
    if name == "exp" and o is not None:
        return [f"{{g0}} = {E.fn(xp.multiply)}({g}, {o})"]
    if name == "log":
        return [f"{{g0}} = {E.fn(xp.divide)}({g}, {a[0]})"]
    if name == "tanh" and o is not None:  # g - (g * out) * out
        mul = E.fn(xp.multiply)
        return [f"_t = {mul}({g}, {o})", f"{mul}(_t, {o}, _t)",
                f"{{g0}} = {E.fn(xp.subtract)}({g}, _t, _t)"]
    if name == "sigmoid" and o is not None:  # go - go * out, go = g * out
        mul = E.fn(xp.multiply)
        return [f"_t = {mul}({g}, {o})", f"_u = {mul}(_t, {o})",
                f"{{g0}} = {E.fn(xp.subtract)}(_t, _u, _u)"]
    if name == "relu" and o is not None:
        return [f"{{g0}} = {E.fn(xp.multiply)}({g}, {E.fn(xp.greater)}({o}, 0))"]
    if name == "linear":
        x, w, b = xs
        if not (type(x) is nd and x.ndim == 2 and type(w) is nd and w.ndim == 2):
            return None
        mm = E.fn(xp.matmul)
        lines = []
        if need[0]:
            lines.append(f"{{g0}} = {mm}({g}, {a[1]})")
        if need[1]:
            lines.append(f"{{g1}} = {mm}({g}.T, {a[0]})")
        if need[2]:
            if type(b) is not nd or b.ndim != 1:
                return None
            ones = E.fn(cxp.ones_vector(x.shape[0], w.dtype), "ones")
            lines.append(f"{{g2}} = {mm}({ones}, {g})")
        return lines
    if name == "mse_loss" and p == ("mean",):
        x, y = xs
        if not (type(x) is nd and type(y) is nd and x.shape == y.shape):
            return None
        scale = 2.0 / max(x.size, 1)
        lines = [f"_t = {E.fn(xp.multiply)}({g}, {scale!r})",
                 f"_u = {E.fn(xp.subtract)}({a[0]}, {a[1]})",
                 f"{E.fn(xp.multiply)}(_u, _t, _u)"]
        if need[0]:
            lines.append("{g0} = _u")
        if need[1]:
            lines.append(f"{{g1}} = {E.fn(xp.negative)}(_u)")
        return lines
    return None


def _rows(xp: Any, n: int) -> Any:
    """``arange(n)``, read-only, one per (module, n): the row index of a class gather."""
    r = _ROWS.get((xp, n))
    if r is None:
        r = _ROWS[xp, n] = xp.arange(n)
        r.flags.writeable = False
    return r


_ROWS: dict[tuple, Any] = {}


def _cross_entropy(E: Any, xp: Any, xs: tuple, a: list[str], p: tuple) -> list[str] | None:
    """The fused loss's hot path: logits (N, C) float, class indices (N,), no weight, no
    smoothing, 'mean' or 'sum'; no ignore_index, or one outside [0, C) with constant targets
    (targets holding it take eager's other path, which a replay cannot switch to). Also keeps
    ``exp(x - max)`` and its row sums as ``{r}e``, ``{r}s``, which the vjp's softmax would
    compute again with the same calls."""
    x, t = xs
    if not (type(x) is xp.ndarray and type(t) is xp.ndarray and x.ndim == 2 and t.ndim == 1
            and t.shape[0] == x.shape[0] > 0 and t.dtype.kind in "iu" and x.dtype.kind == "f"
            and len(p) == 4 and p[0] in ("mean", "sum") and p[1] is None and not p[3]):
        return None
    n, c = x.shape
    if p[2] is not None and (0 <= p[2] < c or not a[1].startswith("c")):
        return None
    sub, fwd = E.fn(xp.subtract), E.fn(xp.matmul)
    ones = E.fn(xp.ones(c, dtype=x.dtype), "ones_c")
    total = f" / {n}" if p[0] == "mean" else ""
    udt = t.dtype.str.replace("i", "u")
    return [  # a class outside [0, C) (negatives wrap): the op's own error, from its forward
        f"if {a[1]}.view({udt!r}).max() >= {c}: {E.fn(_ce_error)}({a[0]}, {a[1]}, {p!r})",
        f"_t = {sub}({a[0]}, {a[0]}.max(axis=1, keepdims=True))",
        f"_u = _t[{E.fn(_rows(xp, n), 'rows')}, {a[1]}]",
        f"{E.fn(xp.exp)}(_t, _t)", "{r}e = _t", f"{{r}}s = {fwd}(_t, {ones})",
        f"_t = {sub}({E.fn(xp.log)}({{r}}s), _u)",
        f"{{o}} = {E.fn(xp.asarray)}(_t.sum(){total})",
        f"{{r}} = ({a[1]}, None, None, {n})"]


def _ce_error(x: Any, t: Any, p: tuple) -> None:
    """Raise the op's own error for a target class outside [0, C)."""
    from chainrule import backend
    from chainrule.ops.registry import REGISTRY
    REGISTRY["cross_entropy"].forward(backend.get_array_module(x), x, t, *p)
    raise RuntimeError(f"cross_entropy: the constant targets were changed in place since "
                       f"cr.compile recorded the step to hold ignore_index={p[2]}; record again "
                       "(a new cr.compile) or pass the targets as an argument")
