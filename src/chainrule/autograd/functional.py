"""Jacobians, Hessians and vector products of whole functions, with PyTorch's names and
signatures (``torch.autograd.functional``)::

    from chainrule.autograd.functional import jacobian, hessian, vjp, jvp, hvp, vhp
    J = jacobian(lambda x: x.exp() * 2, x)          # shape out.shape + x.shape
    out, v_J = vjp(f, x, v)                          # v^T J, one backward pass
    out, J_v = jvp(f, x, v)                          # J v, by the double-vjp trick

``inputs`` is a Tensor (or array) or a tuple of them; results follow the same structure
(a tuple of tuples for Jacobians of tuple outputs with respect to tuple inputs). Everything is
reverse mode on chainrule's engine: a Jacobian costs one backward pass per output element, and
``jvp`` differentiates the (linear) vjp with respect to its cotangent, which needs the ops'
gradients to be differentiable (``create_graph``). With ``create_graph=False`` the results are
detached; ``strict=True`` raises when an output does not depend on an input instead of
returning zeros for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.engine import grad as _autograd_grad
from chainrule.autograd.factories import as_tensor
from chainrule.autograd.grad_mode import enable_grad
from chainrule.autograd.tensor import Tensor, _leaf
from chainrule.errors import fmt_shape

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]


# --- helpers shared with chainrule.func -----------------------------------------------------

def _as_tuple(x: Any) -> tuple[bool, tuple]:
    """(was it a tuple, the items as a tuple)."""
    if isinstance(x, (tuple, list)):
        return True, tuple(x)
    return False, (x,)


def _as_input(x: Any, graph: bool, where: str, i: int) -> Tensor:
    """``x`` as a tensor to differentiate with respect to: a fresh leaf that requires grad, or
    (when ``graph`` and ``x`` already requires grad) an alias that keeps ``x``'s history, so the
    result stays differentiable with respect to whatever ``x`` came from."""
    t = x if isinstance(x, Tensor) else as_tensor(x)
    if t.dtype.kind != "f":
        raise TypeError(f"{where}: input {i} has dtype {t.dtype}; only floating-point inputs "
                        "can be differentiated (make it with dtype=cr.float32 or float64)")
    if graph and t.requires_grad:
        from chainrule.ops import reshape
        with enable_grad():
            return reshape(t, t.shape)
    return _leaf(t._data, requires_grad=True)


def _check_outputs(outs: tuple, where: str) -> None:
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"{where}: output {i} of the function is a {type(o).__name__}; "
                            "the function must return a Tensor or a tuple of Tensors")


def _grads(outs: Sequence[Tensor], xs: Sequence[Tensor], gos: Sequence[Any] | None,
           create_graph: bool) -> list[Tensor | None]:
    """d(outs)/d(xs) weighted by ``gos`` (None: ones for single-element outputs); None where an
    input is not reached. The graph is kept (callers may differentiate it again)."""
    gos = [None] * len(outs) if gos is None else list(gos)
    pairs = [(o, g) for o, g in zip(outs, gos) if o.requires_grad]
    if not pairs:
        return [None] * len(xs)
    return list(_autograd_grad([o for o, _ in pairs], list(xs), [g for _, g in pairs],
                               retain_graph=True, create_graph=create_graph, allow_unused=True))


def _xp(t: Tensor) -> Any:
    """The array module of ``t``'s array (new arrays are made beside it)."""
    return backend.get_array_module(t._data)


def _zeros(t: Tensor | tuple, requires_grad: bool = False) -> Tensor:
    """Zeros like the tensor ``t``, or of a ``(shape, dtype)`` in the default array module."""
    if isinstance(t, Tensor):
        return _leaf(_xp(t).zeros(t.shape, t.dtype), requires_grad=requires_grad)
    return _leaf(backend.xp.zeros(*t), requires_grad=requires_grad)


def _fill(gs: Sequence[Tensor | None], like: Sequence[Any], strict: bool, where: str,
          what: str = "input") -> list[Tensor]:
    out = []
    for j, (g, x) in enumerate(zip(gs, like)):
        if g is None:
            if strict:
                raise RuntimeError(f"{where}: the output does not depend on {what} {j} (strict="
                                   "True); pass strict=False to get zeros for it")
            g = _zeros(x)
        out.append(g)
    return out


def _post(ts: Sequence[Tensor], is_tuple: bool, create_graph: bool) -> Any:
    ts = tuple(t if create_graph or not t.requires_grad else t.detach() for t in ts)
    return ts if is_tuple else ts[0]


def _stack(rows: list[Tensor], shape: tuple, graph: bool) -> Tensor:
    """Stack gradient rows into one tensor of ``shape`` (differentiably when ``graph``)."""
    if not graph or not any(r.requires_grad for r in rows):
        return _leaf(_xp(rows[0]).stack([r._data for r in rows]).reshape(shape))
    from chainrule.ops import reshape, stack
    return reshape(stack(rows, 0), shape)


def _jacobian_rows(out: Tensor, xs: Sequence[Tensor], graph: bool) -> list[Tensor | None]:
    """d(out)/d(x) for each x, of shape ``out.shape + x.shape``, one backward pass per element
    of ``out`` (None for an x that ``out`` does not depend on)."""
    m = out.numel()
    if not out.requires_grad or m == 0:
        return [None if m else _zeros((out.shape + x.shape, x.dtype)) for x in xs]
    rows: list[list[Tensor | None]] = [[] for _ in xs]
    onehot = _xp(out).zeros(m, out.dtype)
    for k in range(m):
        onehot[k] = 1
        gs = _autograd_grad(out, list(xs), _leaf(onehot.reshape(out.shape).copy()),
                            retain_graph=True, create_graph=graph, allow_unused=True)
        onehot[k] = 0
        for j, g in enumerate(gs):
            rows[j].append(g)
    result: list[Tensor | None] = []
    for x, r in zip(xs, rows):
        if all(g is None for g in r):
            result.append(None)
            continue
        full = [g if g is not None else _zeros(x) for g in r]
        result.append(_stack(full, out.shape + x.shape, graph))
    return result


def _prepare(func: Callable[..., Any], inputs: Any, create_graph: bool,
             where: str) -> tuple[bool, tuple[Tensor, ...], bool, tuple[Tensor, ...]]:
    """Inputs as tensors to differentiate, and the function's outputs computed from them."""
    is_in, ins = _as_tuple(inputs)
    xs = tuple(_as_input(x, create_graph, where, i) for i, x in enumerate(ins))
    is_out, outs = _as_tuple(func(*xs))
    _check_outputs(outs, where)
    return is_in, xs, is_out, outs


def _vectors(v: Any, like: tuple, where: str, what: str) -> tuple[Tensor, ...]:
    """``v`` (one tensor per item of ``like``) checked against their shapes."""
    _, vs = _as_tuple(v)
    if len(vs) != len(like):
        raise RuntimeError(f"{where}: v has {len(vs)} tensor(s) but the {what} has {len(like)}")
    out = []
    for i, (u, t) in enumerate(zip(vs, like)):
        u = u if isinstance(u, Tensor) else as_tensor(u)
        if u.shape != t.shape:
            raise RuntimeError(f"{where}: v[{i}] has shape {fmt_shape(u.shape)} but the {what} "
                               f"{i} has shape {fmt_shape(t.shape)}; they must match")
        out.append(u if u.dtype == t.dtype else _leaf(u._data.astype(t.dtype)))
    return tuple(out)


def _ones_for(like: tuple, where: str, what: str) -> tuple[Tensor, ...]:
    if len(like) != 1 or like[0].numel() != 1:
        raise RuntimeError(f"{where}: v can be None only when the {what} is a single tensor with "
                           f"one element; give v (one tensor per {what})")
    return (_leaf(_xp(like[0]).ones(like[0].shape, like[0].dtype)),)


# --- the public functions ---------------------------------------------------------------------

def vjp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """``(func(*inputs), v^T J)``: the vector-Jacobian product, one backward pass."""
    with enable_grad():
        is_in, xs, is_out, outs = _prepare(func, inputs, create_graph, "vjp")
        vs = _ones_for(outs, "vjp", "output") if v is None else _vectors(v, outs, "vjp",
                                                                           "output")
        gs = _grads(outs, xs, vs, create_graph)
    return _post(outs, is_out, create_graph), _post(_fill(gs, xs, strict, "vjp"), is_in,
                                                    create_graph)


def jvp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """``(func(*inputs), J v)``: the Jacobian-vector product, by the double-vjp trick (the vjp
    ``u -> J^T u`` is linear in ``u``; its own vjp with ``v`` is ``J v``)."""
    with enable_grad():
        _, xs, is_out, outs = _prepare(func, inputs, create_graph, "jvp")
        vs = _ones_for(xs, "jvp", "input") if v is None else _vectors(v, xs, "jvp", "input")
        us = [_zeros(o, requires_grad=o.dtype.kind == "f") for o in outs]
        gs = _grads(outs, xs, us, create_graph=True)
        pairs = [(g, u) for g, u in zip(gs, vs) if g is not None and g.requires_grad]
        jv: list[Tensor | None] = [None] * len(outs)
        if pairs:
            jv = list(_autograd_grad([g for g, _ in pairs], [u for u in us if u.requires_grad],
                                     [u for _, u in pairs], retain_graph=create_graph,
                                     create_graph=create_graph, allow_unused=True))
            it = iter(jv)
            jv = [next(it) if u.requires_grad else None for u in us]
    return _post(outs, is_out, create_graph), _post(_fill(jv, outs, strict, "jvp", "output"),
                                                    is_out, create_graph)


def jacobian(func: Callable[..., Any], inputs: Any, create_graph: bool = False,
             strict: bool = False, vectorize: bool = False,
             strategy: str = "reverse-mode") -> Any:
    """The Jacobian of ``func`` at ``inputs``: ``out.shape + input.shape`` per (output, input)
    pair, as a Tensor, a tuple over inputs or outputs, or a tuple (outputs) of tuples (inputs).
    One backward pass per output element."""
    if strategy != "reverse-mode":
        raise ValueError(f"jacobian: strategy {strategy!r} is not available; chainrule computes "
                         "Jacobians in reverse mode only (strategy='reverse-mode')")
    with enable_grad():
        is_in, xs, is_out, outs = _prepare(func, inputs, create_graph, "jacobian")
        rows = [_fill(_jacobian_rows(o, xs, create_graph),
                      [(o.shape + x.shape, x.dtype) for x in xs], strict, "jacobian")
                for o in outs]
    res = tuple(_post(r, is_in, create_graph) for r in rows)
    return res if is_out else res[0]


def hessian(func: Callable[..., Any], inputs: Any, create_graph: bool = False,
            strict: bool = False, vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode") -> Any:
    """The Hessian of a scalar ``func``: ``input.shape + input.shape`` (a tuple of tuples for
    tuple inputs); the Jacobian of its gradient."""
    is_in, _ = _as_tuple(inputs)

    def scalar(*xs: Any) -> Tensor:
        out = func(*xs)
        if not isinstance(out, Tensor) or out.numel() != 1:
            shape = out.shape if isinstance(out, Tensor) else type(out).__name__
            raise RuntimeError(f"hessian: the function must return a single-element Tensor, "
                               f"got {shape}")
        return out.reshape(()) if out.shape != () else out

    def gradient(*xs: Any) -> Any:
        return jacobian(scalar, xs, create_graph=True, strict=strict)

    res = jacobian(gradient, inputs if is_in else (inputs,), create_graph=create_graph,
                   strict=strict, strategy=outer_jacobian_strategy)
    return res if is_in else res[0][0]


def _scalar_grads(func: Callable[..., Any], inputs: Any, where: str,
                  create_graph: bool) -> tuple[bool, tuple, Tensor, list]:
    is_in, xs, _, outs = _prepare(func, inputs, create_graph, where)
    if len(outs) != 1 or outs[0].numel() != 1:
        raise RuntimeError(f"{where}: the function must return a single-element Tensor")
    return is_in, xs, outs[0], _grads(outs, xs, None, create_graph=True)


def vhp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """``(func(*inputs), v^T H)`` for a scalar ``func``: two backward passes."""
    with enable_grad():
        is_in, xs, out, jac = _scalar_grads(func, inputs, "vhp", create_graph)
        vs = _ones_for(xs, "vhp", "input") if v is None else _vectors(v, xs, "vhp", "input")
        pairs = [(g, u) for g, u in zip(jac, vs) if g is not None and g.requires_grad]
        res = _grads([g for g, _ in pairs], xs, [u for _, u in pairs], create_graph)
    return _post((out,), False, create_graph), _post(_fill(res, xs, strict, "vhp"), is_in,
                                                     create_graph)


def hvp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """``(func(*inputs), H v)`` for a scalar ``func``, by the double-vjp trick (three backward
    passes; for a twice continuously differentiable ``func``, ``vhp`` gives the same, cheaper)."""
    with enable_grad():
        is_in, xs, out, jac = _scalar_grads(func, inputs, "hvp", create_graph)
        vs = _ones_for(xs, "hvp", "input") if v is None else _vectors(v, xs, "hvp", "input")
        keep = [g is not None and g.requires_grad for g in jac]
        us = [_zeros(x, requires_grad=True) for x in xs]
        res: list[Tensor | None] = [None] * len(xs)
        if any(keep):
            jk = [g for g, k in zip(jac, keep) if k]
            back = _grads(jk, xs, [u for u, k in zip(us, keep) if k], create_graph=True)
            pairs = [(b, u) for b, u in zip(back, vs) if b is not None and b.requires_grad]
            uk = [u for u, k in zip(us, keep) if k]
            if pairs:
                got = _grads([b for b, _ in pairs], uk, [u for _, u in pairs], create_graph)
                it = iter(got)
                res = [next(it) if k else None for k in keep]
    return _post((out,), False, create_graph), _post(_fill(res, xs, strict, "hvp"), is_in,
                                                     create_graph)
