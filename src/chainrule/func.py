"""Function transforms, as ``torch.func`` / JAX write them: they take a function and return one.

    import chainrule.func as cf
    df = cf.grad(f)                  # df(x) is the gradient of scalar f at x
    cf.value_and_grad(f)(x)          # (f(x), df(x)) from one forward and one backward pass
    out, vjp_fn = cf.vjp(f, x)       # vjp_fn(v) = v^T J, as often as you like
    cf.jacobian(f)(x)                # out.shape + x.shape, one backward pass per output element
    cf.hessian(f)(x)                 # the Jacobian of the Jacobian (double backward)
    cf.hvp(f, (x,), (v,))            # H v without forming H: two backward passes

Arguments may be Tensors or arrays. The transforms differentiate with respect to fresh copies of
the chosen arguments, so they never touch ``.grad`` on your tensors and see only the paths
through those arguments (a closure over a tensor derived from ``x`` is a constant to them, as in
``torch.func``). Their results are plain tensors, unless grad mode is on and something they were
computed from requires grad (an argument, or a parameter the function closes over): then they
keep their graph, so transforms nest (``hessian = jacobian(jacobian(f))``) and a gradient can be
differentiated again (gradient penalties).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chainrule.autograd.engine import grad as _autograd_grad
from chainrule.autograd.functional import (
    _as_input,
    _as_tuple,
    _check_outputs,
    _fill,
    _grads,
    _jacobian_rows,
    _vectors,
)
from chainrule.autograd.grad_mode import enable_grad, is_grad_enabled
from chainrule.autograd.node import Node
from chainrule.autograd.tensor import Tensor
from chainrule.ops import stack

__all__ = ["functional_call", "grad", "grad_and_value", "hessian", "hvp", "jacfwd", "jacobian",
           "jacrev", "value_and_grad", "vjp", "vmap"]


def _argnums(argnums: int | Sequence[int], nargs: int, where: str) -> tuple[bool, tuple]:
    is_tuple = not isinstance(argnums, int)
    nums = tuple(argnums) if is_tuple else (argnums,)  # type: ignore[arg-type]
    if not nums:
        raise ValueError(f"{where}: argnums is empty; give at least one argument index")
    for a in nums:
        if not isinstance(a, int) or not -nargs <= a < nargs:
            raise ValueError(f"{where}: argnums {argnums!r} is out of range for a function "
                             f"called with {nargs} positional argument(s)")
    return is_tuple, tuple(a % nargs for a in nums)


def _reaches_other_leaves(outs: Sequence[Tensor], mine: Sequence[Tensor]) -> bool:
    """True when the graph of ``outs`` reaches a leaf that requires grad other than ``mine``
    (a parameter the function closes over): then results must keep their graph."""
    stack = [o._node for o in outs if o._node is not None]
    seen = set(stack)
    ids = {id(t) for t in mine}
    while stack:
        for e in stack.pop().next:
            if e is None:
                continue
            if type(e) is Node:
                if e not in seen:
                    seen.add(e)
                    stack.append(e)
            elif id(e) not in ids:
                return True
    return False


class _Call:
    """One call of a transformed function: its arguments prepared, the function run."""

    def __init__(self, fn: Callable[..., Any], args: tuple, kwargs: dict,
                 argnums: int | Sequence[int], where: str) -> None:
        self.outer = is_grad_enabled()
        self.is_tuple, nums = _argnums(argnums, len(args), where)
        self.required = self.outer and any(
            isinstance(args[a], Tensor) and args[a].requires_grad for a in nums)
        args_l = list(args)
        with enable_grad():
            self.xs = []
            for a in nums:
                args_l[a] = _as_input(args[a], self.outer, where, a)
                self.xs.append(args_l[a])
            self.result = fn(*args_l, **kwargs)

    def graph(self, outs: Sequence[Tensor]) -> bool:
        """Whether the results must stay differentiable (see the module docstring)."""
        return self.required or (self.outer and _reaches_other_leaves(outs, self.xs))

    def pack(self, gs: Sequence[Tensor]) -> Any:
        return tuple(gs) if self.is_tuple else gs[0]


def _split_aux(result: Any, has_aux: bool, where: str) -> tuple[Any, Any]:
    if not has_aux:
        return result, None
    if not isinstance(result, tuple) or len(result) != 2:
        raise RuntimeError(f"{where}: with has_aux=True the function must return a pair "
                           "(output, aux)")
    return result


def _scalar(out: Any, where: str) -> Tensor:
    if not isinstance(out, Tensor) or out.numel() != 1:
        what = f"shape {tuple(out.shape)}" if isinstance(out, Tensor) else type(out).__name__
        raise RuntimeError(f"{where}: the function must return a scalar Tensor (one element), "
                           f"got {what}; reduce it (e.g. .sum()) or use jacobian/vjp")
    return out


def _detach(t: Any, graph: bool) -> Any:
    return t.detach() if isinstance(t, Tensor) and not graph and t.requires_grad else t


def _grad_and_value(fn: Callable[..., Any], argnums: int | Sequence[int], has_aux: bool,
                    where: str, args: tuple, kwargs: dict) -> tuple[Any, Any, Any]:
    call = _Call(fn, args, kwargs, argnums, where)
    out, aux = _split_aux(call.result, has_aux, where)
    out = _scalar(out, where)
    graph = call.graph((out,))
    gs = _fill(_grads((out,), call.xs, None, graph), call.xs, False, where)
    return call.pack(gs), _detach(out, graph), aux


def grad(fn: Callable[..., Any], argnums: int | Sequence[int] = 0,
         has_aux: bool = False) -> Callable[..., Any]:
    """The function that returns the gradient of scalar ``fn`` with respect to argument
    ``argnums`` (a tuple of gradients for a tuple of argnums; ``(gradient, aux)`` with
    ``has_aux``, when ``fn`` returns ``(output, aux)``)."""
    def grad_fn(*args: Any, **kwargs: Any) -> Any:
        g, _, aux = _grad_and_value(fn, argnums, has_aux, "grad", args, kwargs)
        return (g, aux) if has_aux else g
    return grad_fn


def grad_and_value(fn: Callable[..., Any], argnums: int | Sequence[int] = 0,
                   has_aux: bool = False) -> Callable[..., Any]:
    """As ``torch.func.grad_and_value``: returns ``(gradient, output)`` (``(gradient,
    (output, aux))`` with ``has_aux``)."""
    def fn2(*args: Any, **kwargs: Any) -> Any:
        g, out, aux = _grad_and_value(fn, argnums, has_aux, "grad_and_value", args, kwargs)
        return (g, (out, aux)) if has_aux else (g, out)
    return fn2


def value_and_grad(fn: Callable[..., Any], argnums: int | Sequence[int] = 0,
                   has_aux: bool = False) -> Callable[..., Any]:
    """As ``jax.value_and_grad``: returns ``(output, gradient)`` (``((output, aux),
    gradient)`` with ``has_aux``)."""
    def fn2(*args: Any, **kwargs: Any) -> Any:
        g, out, aux = _grad_and_value(fn, argnums, has_aux, "value_and_grad", args, kwargs)
        return ((out, aux), g) if has_aux else (out, g)
    return fn2


def vjp(fn: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple:
    """``(fn(*primals), vjp_fn)`` (plus ``aux`` with ``has_aux``): ``vjp_fn(v)`` returns the
    tuple ``v^T J`` (one per primal), where ``v`` has the output's structure. ``vjp_fn`` can be
    called many times; it keeps the graph of ``fn`` alive while it lives."""
    call = _Call(fn, primals, {}, tuple(range(len(primals))), "vjp")
    result, aux = _split_aux(call.result, has_aux, "vjp")
    is_out, outs = _as_tuple(result)
    _check_outputs(outs, "vjp")
    graph = call.graph(outs)
    xs = call.xs

    def vjp_fn(*cotangents: Any) -> tuple[Tensor, ...]:
        ct = cotangents[0] if len(cotangents) == 1 else cotangents
        vs = _vectors(ct, outs, "vjp_fn", "output")
        return tuple(_fill(_grads(outs, xs, vs, graph), xs, False, "vjp_fn"))

    res = tuple(_detach(o, graph) for o in outs)
    out = res if is_out else res[0]
    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


def jacobian(fn: Callable[..., Any], argnums: int | Sequence[int] = 0,
             has_aux: bool = False) -> Callable[..., Any]:
    """The function that returns the Jacobian of ``fn`` with respect to argument ``argnums``
    (``out.shape + arg.shape``), by reverse mode: one backward pass per output element. A tuple
    of argnums gives a tuple; a tuple of outputs gives a tuple (outputs) of those."""
    def jac_fn(*args: Any, **kwargs: Any) -> Any:
        call = _Call(fn, args, kwargs, argnums, "jacobian")
        result, aux = _split_aux(call.result, has_aux, "jacobian")
        is_out, outs = _as_tuple(result)
        _check_outputs(outs, "jacobian")
        graph = call.graph(outs)
        with enable_grad():
            rows = [call.pack(_fill(_jacobian_rows(o, call.xs, graph),
                                    [(o.shape + x.shape, x.dtype) for x in call.xs], False,
                                    "jacobian")) for o in outs]
        jac = tuple(rows) if is_out else rows[0]
        return (jac, aux) if has_aux else jac
    return jac_fn


jacrev = jacobian
jacfwd = jacobian  # no forward mode: the same Jacobian, computed in reverse mode


def hessian(fn: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """The function that returns the Hessian of ``fn``: the Jacobian of its Jacobian
    (``arg.shape + arg.shape`` for scalar ``fn``; nested tuples for a tuple of argnums)."""
    return jacobian(jacobian(fn, argnums), argnums)


def hvp(fn: Callable[..., Any], primals: Any, tangents: Any) -> Any:
    """``H v``: the Hessian of scalar ``fn`` at ``primals`` times ``tangents`` (same structure:
    a Tensor, or a tuple with one tangent per primal), without forming H. Two backward passes:
    the gradient with ``create_graph``, then the gradient of ``<gradient, v>``; this is
    ``v^T H``, equal to ``H v`` for a twice continuously differentiable ``fn``."""
    is_tuple, ps = _as_tuple(primals)
    call = _Call(fn, ps, {}, tuple(range(len(ps))), "hvp")
    out = _scalar(call.result, "hvp")
    vs = _vectors(tangents, tuple(call.xs), "hvp", "primal")
    graph = call.graph((out,))
    with enable_grad():
        gs = _grads((out,), call.xs, None, create_graph=True)
        pairs = [(g, v) for g, v in zip(gs, vs) if g is not None and g.requires_grad]
        dot = None
        for g, v in pairs:
            term = (g * v).sum()
            dot = term if dot is None else dot + term
        res = [None] * len(ps) if dot is None else _autograd_grad(
            dot, call.xs, retain_graph=graph, create_graph=graph, allow_unused=True)
    hv = _fill(res, call.xs, False, "hvp")
    return tuple(hv) if is_tuple else hv[0]


# -- functional_call and vmap ------------------------------------------------------------------


def functional_call(module: Any, parameter_and_buffer_dicts: Any, args: Any = (),
                    kwargs: dict | None = None, *, tie_weights: bool = True,
                    strict: bool = False) -> Any:
    """Call ``module`` with some of its parameters and buffers replaced by the tensors in
    ``parameter_and_buffer_dicts`` (a dict ``name -> tensor``, or a tuple of them), as
    ``torch.func.functional_call``: ``functional_call(model, {"0.weight": w}, (x,))``. The
    module is restored afterwards, even if the call raises. ``args``: one argument or a tuple;
    ``tie_weights``: a tensor shared under two names is replaced under both when one is given;
    ``strict``: every parameter and buffer must be given."""
    dicts = (parameter_and_buffer_dicts if isinstance(parameter_and_buffer_dicts, (tuple, list))
             else (parameter_and_buffer_dicts,))
    given: dict[str, Any] = {}
    for d in dicts:
        clash = sorted(set(given) & set(d))
        if clash:
            raise ValueError(f"functional_call: {', '.join(clash)} appeared in more than one of "
                             "the dicts; give each name once")
        given.update(d)
    slots: dict[str, tuple[dict, str]] = {}  # every parameter/buffer name -> (its dict, its key)
    for mname, sub in module.named_modules(remove_duplicate=False):
        for store in ("_parameters", "_buffers"):
            for key in getattr(sub, store):
                slots.setdefault(f"{mname}.{key}" if mname else key, (getattr(sub, store), key))
    unknown = sorted(set(given) - set(slots))
    if unknown:
        raise ValueError(f"functional_call: {type(module).__name__} has no parameter or buffer "
                         f"named {', '.join(map(repr, unknown))}; its names are "
                         f"{', '.join(sorted(slots)) or '(none)'}")
    if strict:
        missing = sorted(n for n, (d, k) in slots.items() if n not in given and d[k] is not None)
        if missing:
            raise RuntimeError(f"functional_call: strict=True and these are missing: "
                               f"{', '.join(missing)}")
    replace = {id(slots[n][0][slots[n][1]]): v for n, v in given.items()} if tie_weights else {}
    saved: list[tuple[dict, str, Any]] = []
    try:
        for name, (d, key) in slots.items():
            old = d[key]
            if name in given:
                new = given[name]
            elif tie_weights and old is not None and id(old) in replace:
                new = replace[id(old)]
            else:
                continue
            saved.append((d, key, old))
            d[key] = new
        call_args = args if isinstance(args, tuple) else (args,)
        return module(*call_args, **(kwargs or {}))
    finally:
        for d, key, old in reversed(saved):
            d[key] = old


def _take(x: Any, dim: int, i: int) -> Any:
    return x[(slice(None),) * dim + (i,)]


def vmap(func: Callable[..., Any], in_dims: Any = 0, out_dims: Any = 0,
         randomness: str = "error", *, chunk_size: int | None = None) -> Callable[..., Any]:
    """Map ``func`` over a batch dimension, as ``torch.vmap`` / ``torch.func.vmap``.

    A loop: ``func`` runs once per batch index on slices of the mapped arguments, and the
    results are stacked along ``out_dims`` (so it is as fast as that loop, not a vectorised
    kernel; gradients flow through it). ``in_dims``: an int (every argument mapped along that
    dimension), or one entry per argument (an int, or None for an argument passed whole);
    ``out_dims``: an int, or one per output when ``func`` returns a tuple. Random functions
    draw fresh numbers per index whatever ``randomness`` says.
    """
    del randomness, chunk_size  # a loop has no batched random state and no chunks

    def mapped(*args: Any, **kwargs: Any) -> Any:
        dims = (in_dims,) * len(args) if not isinstance(in_dims, (tuple, list)) else in_dims
        if len(dims) != len(args):
            raise ValueError(f"vmap: in_dims has {len(dims)} entries but the function got "
                             f"{len(args)} positional arguments; give one per argument")
        sizes = set()
        for a, d in zip(args, dims):
            if d is None:
                continue
            if not isinstance(a, Tensor):
                raise ValueError(f"vmap: in_dims={d} maps an argument of type {type(a).__name__}"
                                 "; only Tensors can be mapped (use None for the others)")
            if not -a.ndim <= d < a.ndim:
                raise ValueError(f"vmap: in_dims={d} is out of range for an argument of shape "
                                 f"{tuple(a.shape)}")
            sizes.add(a.shape[d])
        if len(sizes) != 1:
            raise ValueError("vmap: " + ("no argument is mapped (every in_dims is None)"
                                         if not sizes else
                                         f"the mapped dimensions have different sizes "
                                         f"{sorted(sizes)}; they must agree"))
        (n,) = sizes
        norm = [None if d is None else d % a.ndim for a, d in zip(args, dims)]
        outs = [func(*(a if d is None else _take(a, d, i) for a, d in zip(args, norm)), **kwargs)
                for i in range(n)]
        if isinstance(outs[0], tuple):
            ods = out_dims if isinstance(out_dims, (tuple, list)) else (out_dims,) * len(outs[0])
            return tuple(stack([o[k] for o in outs], dim=ods[k]) for k in range(len(outs[0])))
        return stack(outs, dim=out_dims)

    return mapped
