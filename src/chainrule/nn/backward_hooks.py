"""Module backward hooks (``register_full_backward_hook``, ``register_full_backward_pre_hook``),
built as PyTorch builds them: two identity ``autograd.Function`` s around the module's call.

One wraps the tensor arguments before ``forward`` (its backward receives the gradients with
respect to the module's inputs: ``grad_input``), one wraps the outputs after the forward hooks
(its backward receives ``grad_output``). Backward then runs, in order:

1. the pre-hooks, ``hook(module, grad_output)``: a returned tuple replaces ``grad_output``;
2. the module's own backward;
3. the full hooks, ``hook(module, grad_input, grad_output)``: a returned tuple replaces
   ``grad_input``. ``grad_input`` has one entry per positional argument (None for arguments that
   are not tensors or need no gradient). When no argument needs a gradient, the full hooks run at
   step 1's time with ``grad_input`` all None, as in PyTorch.
"""

from __future__ import annotations

from typing import Any

from chainrule.autograd.function import Function
from chainrule.autograd.grad_mode import is_grad_enabled
from chainrule.autograd.tensor import Tensor

__all__ = ["BackwardHookState", "wrap_inputs", "wrap_outputs"]


class BackwardHookState:
    """What the two identity Functions of one module call share."""

    def __init__(self, module: Any, args: tuple) -> None:
        self.module = module
        self.n_args = len(args)
        self.input_pos: list[int] = []  # positions of the tensor arguments that need a gradient
        self.grad_output: tuple | None = None


def _check(hook: Any, result: Any, expected: int, what: str) -> tuple:
    r = result if isinstance(result, tuple) else (result,) if isinstance(result, Tensor) \
        else tuple(result)
    if len(r) != expected:
        raise RuntimeError(f"backward hook {getattr(hook, '__name__', hook)!r} returned {len(r)} "
                           f"{what} gradients but {expected} were expected (one per "
                           f"{what.replace('input', 'positional argument')}); return a tuple of "
                           "that length, or None to keep them")
    return r


def _run_full_hooks(state: BackwardHookState, grad_input: tuple) -> tuple:
    m = state.module
    for hook in list(m._backward_hooks.values()):
        r = hook(m, grad_input, state.grad_output)
        if r is not None:
            grad_input = _check(hook, r, len(grad_input), "input")
    return grad_input


class _HookOutputs(Function):
    @staticmethod
    def forward(ctx: Any, state: BackwardHookState, *outs: Tensor) -> Any:
        ctx.state = state
        return outs if len(outs) > 1 else outs[0]

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> tuple:
        state = ctx.state
        m = state.module
        for hook in list(m._backward_pre_hooks.values()):
            r = hook(m, grads)
            if r is not None:
                grads = _check(hook, r, len(grads), "output")
        state.grad_output = grads
        if not state.input_pos:  # no input needs a gradient: the full hooks run now
            _run_full_hooks(state, (None,) * state.n_args)
        return (None, *grads)


class _HookInputs(Function):
    @staticmethod
    def forward(ctx: Any, state: BackwardHookState, *xs: Tensor) -> Any:
        ctx.state = state
        return xs if len(xs) > 1 else xs[0]

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> tuple:
        state = ctx.state
        grad_input: list[Any] = [None] * state.n_args
        for pos, g in zip(state.input_pos, grads):
            grad_input[pos] = g
        new = _run_full_hooks(state, tuple(grad_input))
        return (None, *(new[pos] for pos in state.input_pos))


def wrap_inputs(module: Any, args: tuple) -> tuple[BackwardHookState, tuple]:
    """The arguments, those that need a gradient passed through the input identity."""
    state = BackwardHookState(module, args)
    if not is_grad_enabled():
        return state, args
    state.input_pos = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    if not state.input_pos:
        return state, args
    wrapped = _HookInputs.apply(state, *(args[i] for i in state.input_pos))
    wrapped = wrapped if isinstance(wrapped, tuple) else (wrapped,)
    new = list(args)
    for i, w in zip(state.input_pos, wrapped):
        new[i] = w
    return state, tuple(new)


def wrap_outputs(state: BackwardHookState, result: Any) -> Any:
    """The module's result with its tensors passed through the output identity."""
    if not is_grad_enabled():
        return result
    if isinstance(result, Tensor):
        return _HookOutputs.apply(state, result) if result.requires_grad else result
    if isinstance(result, tuple) and result and all(isinstance(r, Tensor) for r in result) \
            and any(r.requires_grad for r in result):
        out = _HookOutputs.apply(state, *result)
        return out if isinstance(out, tuple) else (out,)
    return result
