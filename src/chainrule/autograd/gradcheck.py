"""Finite differences, and gradient checks that compare them with backprop.

Finite differences are the slow, simple alternative to backpropagation: nudge one input element by
``eps``, run the forward pass again, and divide the change in the output by ``eps``. A full
gradient needs one (forward differences) or two (central differences) extra forward passes per
input element; backprop needs one backward pass in all. ``gradcheck`` uses them to test backprop,
element by element, and says which input and which element disagree.

The Jacobians are host (NumPy) float64 matrices by design, whatever array module the inputs live
in: outputs and gradients are copied with ``backend.to_numpy`` and compared with ``backend.host``;
perturbed inputs and one-hot output gradients stay in the inputs' own array module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chainrule import backend
from chainrule.autograd.engine import grad as _grad
from chainrule.autograd.tensor import Tensor, _leaf

H = backend.host  # the Jacobians' module (see the module docstring)
_F64 = backend.float64


def _host64(arr: Any) -> Any:
    """A float64 host copy of ``arr`` (a Jacobian column or row)."""
    return backend.to_numpy(arr).astype(_F64)


class GradcheckError(RuntimeError):
    """A gradient that does not match its finite-difference estimate."""


def _as_tuple(x: Any) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _outputs(func: Callable[..., Any], inputs: Sequence[Any]) -> list[Tensor]:
    outs = [o for o in _as_tuple(func(*inputs))]
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"gradcheck: output {i} of the function is {type(o).__name__}, "
                            "expected a Tensor")
    return outs


def _perturbed(inputs: Sequence[Any], i: int, flat_index: int, delta: float) -> list[Any]:
    xs = list(inputs)
    arr = inputs[i]._data.copy()
    arr.reshape(-1)[flat_index] += delta
    xs[i] = _leaf(arr, requires_grad=inputs[i].requires_grad)
    return xs


def numerical_jacobian(func: Callable[..., Any], inputs: Sequence[Any], eps: float = 1e-6,
                       central: bool = True) -> list[list[Any]]:
    """``J[o][i]``: d(output o)/d(input i) as an (out.size, in.size) array, by finite
    differences (central by default: two forward passes per input element)."""
    # grad mode stays on: the function may itself differentiate (gradgradcheck)
    if True:
        base = [_host64(o._data) for o in _outputs(func, inputs)]
        jac = [[H.zeros((b.size, 0)) for _ in inputs] for b in base]
        for i, x in enumerate(inputs):
            if not (isinstance(x, Tensor) and x.requires_grad):
                continue
            cols: list[list[Any]] = [[] for _ in base]
            for j in range(x._data.size):
                plus = _outputs(func, _perturbed(inputs, i, j, eps))
                if central:
                    minus = _outputs(func, _perturbed(inputs, i, j, -eps))
                    for o in range(len(base)):
                        cols[o].append((_host64(plus[o]._data) -
                                        _host64(minus[o]._data)).ravel() / (2 * eps))
                else:
                    for o in range(len(base)):
                        cols[o].append((_host64(plus[o]._data) - base[o]).ravel() / eps)
            for o in range(len(base)):
                jac[o][i] = (H.stack(cols[o], axis=1) if cols[o]
                             else H.zeros((base[o].size, 0)))
    return jac


def finite_difference(fn: Callable[..., Any], inputs: Any, eps: float = 1e-6,
                      central: bool = True, grad_outputs: Any = None) -> tuple[Tensor, ...]:
    """The gradient of scalar ``fn(*inputs)`` with respect to each input, by finite differences.

    Every input is perturbed (it need not require grad). For a non-scalar output, give
    ``grad_outputs`` (the vector the Jacobian is contracted with). Costs ``n + 1`` forward passes
    (forward differences) or ``2n`` (central), for ``n`` input elements in all.
    """
    ins = [x if isinstance(x, Tensor) else _leaf(backend.get_array_module(x).asarray(x, dtype=_F64))
           for x in _as_tuple(inputs)]
    ins = [_leaf(x._data, requires_grad=x._data.dtype.kind == "f") for x in ins]
    jac = numerical_jacobian(lambda *a: _as_tuple(fn(*a))[0], ins, eps, central)[0]
    out = _as_tuple(fn(*ins))[0]
    if grad_outputs is None:
        if out._data.size != 1:
            raise ValueError(f"finite_difference: the function's output has shape {out.shape}; "
                             "give grad_outputs (or make the function return a scalar)")
        u = H.ones(1)
    else:
        u = _host64(grad_outputs._data if isinstance(grad_outputs, Tensor) else grad_outputs)
        u = u.ravel()
    return tuple(_leaf(backend.get_array_module(x._data).asarray(
        (u @ jac[i]).reshape(x.shape).astype(x.dtype))) for i, x in enumerate(ins))


def analytical_jacobian(func: Callable[..., Any], inputs: Sequence[Any]) -> list[list[Any]]:
    """``J[o][i]`` by backprop: one backward pass per output element (one-hot grad_outputs)."""
    outs = _outputs(func, inputs)
    diff = [k for k, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    jac = [[H.zeros((o._data.size, x._data.size if isinstance(x, Tensor) else 0))
            for x in inputs] for o in outs]
    for o, out in enumerate(outs):
        if not out.requires_grad:
            continue
        for k in range(out._data.size):
            onehot = backend.get_array_module(out._data).zeros(out._data.size, out._data.dtype)
            onehot[k] = 1
            gs = _grad(out, [inputs[i] for i in diff], _leaf(onehot.reshape(out.shape)),
                       retain_graph=True, allow_unused=True)
            for i, g in zip(diff, gs):
                if g is not None:
                    if g.shape != inputs[i].shape:
                        raise GradcheckError(
                            f"gradcheck: the gradient for input {i} has shape {g.shape} but the "
                            f"input has shape {inputs[i].shape}")
                    jac[o][i][k] = _host64(g._data).ravel()
    return jac


def gradcheck(func: Callable[..., Any], inputs: Any, *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True, nondet_tol: float = 0.0,
              fast_mode: bool = False, **_ignored: Any) -> bool:
    """Check backprop against central finite differences for every input that requires grad.

    Arguments as ``torch.autograd.gradcheck`` (float64 inputs expected). Returns True, or raises
    ``GradcheckError`` naming the output, input and element that disagree (False instead when
    ``raise_exception=False``).
    """
    ins = list(_as_tuple(inputs))
    if not any(isinstance(x, Tensor) and x.requires_grad for x in ins):
        raise ValueError("gradcheck: no input requires grad; set requires_grad=True on the "
                         "inputs to check")
    num = numerical_jacobian(func, ins, eps)
    ana = analytical_jacobian(func, ins)
    for o in range(len(num)):
        for i, x in enumerate(ins):
            if not (isinstance(x, Tensor) and x.requires_grad):
                continue
            n, a = num[o][i], ana[o][i]
            bad = ~(H.abs(a - n) <= atol + rtol * H.abs(n))
            if bad.any():
                r, c = H.argwhere(bad)[0]
                where = H.unravel_index(c, x.shape) if x.shape else ()
                msg = (f"gradcheck: Jacobian mismatch for output {o} with respect to input {i} "
                       f"(shape {x.shape}) at input element {tuple(int(v) for v in where)}, "
                       f"output element {int(r)}: numerical {n[r, c]:.8g}, analytical "
                       f"{a[r, c]:.8g}; {int(bad.sum())} of {bad.size} entries differ, max "
                       f"abs diff {H.abs(a - n).max():.3g} (atol={atol}, rtol={rtol})")
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True


def gradgradcheck(func: Callable[..., Any], inputs: Any, grad_outputs: Any = None, *,
                  eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                  raise_exception: bool = True, gen_non_contig_grad_outputs: bool = False,
                  **_ignored: Any) -> bool:
    """Check second derivatives: gradcheck applied to the function that backprop's gradients
    (computed with ``create_graph=True``) define, with respect to inputs and grad_outputs."""
    ins = list(_as_tuple(inputs))
    diff = [k for k, x in enumerate(ins) if isinstance(x, Tensor) and x.requires_grad]
    outs = _outputs(func, ins)
    if grad_outputs is None:
        rng = H.random.default_rng(0)  # host random numbers, moved to each output's module
        us = [_leaf(backend.get_array_module(o._data).asarray(
            rng.standard_normal(o.shape).astype(o._data.dtype)), requires_grad=True)
              for o in outs]
    else:
        us = [u if isinstance(u, Tensor) else _leaf(backend.get_array_module(u).asarray(u))
              for u in _as_tuple(grad_outputs)]
        us = [_leaf(u._data, requires_grad=True) for u in us]
    n_in = len(ins)

    def first_order(*args: Any) -> tuple[Tensor, ...]:
        xs, u = list(args[:n_in]), list(args[n_in:])
        o = _outputs(func, xs)
        pairs = [(oo, uu) for oo, uu in zip(o, u) if oo.requires_grad]
        if not pairs:
            return tuple(_leaf(backend.get_array_module(xs[k]._data).zeros_like(xs[k]._data))
                         for k in diff)
        gs = _grad([p[0] for p in pairs], [xs[k] for k in diff], [p[1] for p in pairs],
                   create_graph=True, allow_unused=True, materialize_grads=True)
        return gs

    return gradcheck(first_order, ins + us, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
