"""Activation checkpointing, as ``torch.utils.checkpoint``: trade compute for memory by not
keeping a segment's intermediate activations for backward, and recomputing them when backward
reaches the segment. ``cr.utils.checkpoint.checkpoint`` / ``checkpoint_sequential``.

Two ways, as in PyTorch, chosen by ``use_reentrant``:

* ``use_reentrant=True`` (PyTorch's default, with a warning, when it is not given): the segment
  is a ``cr.autograd.Function`` (:class:`CheckpointFunction`). Its forward runs the function
  under ``no_grad`` (no graph, nothing saved but the inputs); its backward runs it again with
  grad on, from detached copies of the inputs, and calls ``cr.autograd.backward`` on the
  recomputed outputs, which puts the gradients of the parameters inside straight into their
  ``.grad`` and returns those of the inputs. As in PyTorch, when no input requires grad the
  output does not either (with PyTorch's warning), and ``cr.grad`` cannot see through it.
* ``use_reentrant=False`` (PyTorch's recommendation): the forward records the segment's graph as
  usual, then empties the saved arrays (``x``, ``res``, ``out``) of the segment's nodes, so the
  activations are freed; a hook on each output refills them when backward first reaches the
  segment, by running the function again with grad on and taking the recomputed nodes' saved
  arrays. The graph that backward walks is the original one, so the gradients are the plain
  run's bit for bit, ``cr.grad`` and ``backward(inputs=...)`` work, and so do inputs that do not
  require grad. The hook sits on an identity node after each output
  (:class:`CheckpointOutput`), which no node of the segment refers to: no reference cycle, so
  the graph still frees by reference counting.

Both restore the random state of the forward before recomputing (``preserve_rng_state=True``),
so dropout draws the same mask, and put the caller's stream back afterwards; both recompute under
the autocast state of the forward.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from chainrule.autograd import autocast as _ac
from chainrule.autograd.engine import backward as _backward
from chainrule.autograd.function import Function, FunctionCtx, tensors_in
from chainrule.autograd.grad_mode import STATE, enable_grad, is_grad_enabled, no_grad
from chainrule.autograd.node import Node, next_seq
from chainrule.autograd.tensor import Tensor

__all__ = ["CheckpointFunction", "CheckpointOutput", "checkpoint", "checkpoint_sequential",
           "noop_context_fn"]


def noop_context_fn() -> tuple[Any, Any]:
    """The default ``context_fn``: no extra context around the forward or the recomputation."""
    return contextlib.nullcontext(), contextlib.nullcontext()


class _Replay:
    """What the forward ran under, to recompute under the same: the random state (when
    preserved) and the autocast blocks."""

    def __init__(self, preserve: bool) -> None:
        from chainrule.random import get_rng_state

        self.rng = get_rng_state() if preserve else None
        self.autocast = list(_ac._STACK)

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        from chainrule.random import get_rng_state, set_rng_state

        outer = get_rng_state() if self.rng is not None else None
        if self.rng is not None:
            set_rng_state(self.rng)
        saved = list(_ac._STACK)
        _ac._STACK[:] = self.autocast
        _ac._refresh()
        try:
            with enable_grad():
                yield
        finally:
            _ac._STACK[:] = saved
            _ac._refresh()
            if outer is not None:
                set_rng_state(outer)


class CheckpointFunction(Function):
    """The reentrant checkpoint: ``CheckpointFunction.apply(function, preserve_rng_state,
    *args)`` (see the module docstring)."""

    @staticmethod
    def forward(ctx: FunctionCtx, run_function: Callable[..., Any], preserve_rng_state: bool,
                *args: Any) -> Any:
        ctx.run_function = run_function
        ctx.replay = _Replay(preserve_rng_state)
        ctx.args = [None if isinstance(a, Tensor) else a for a in args]
        ctx.save_for_backward(*[a for a in args if isinstance(a, Tensor)])
        with no_grad():
            return run_function(*args)

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Any) -> tuple:
        tensors = iter(ctx.saved_tensors)
        need = ctx.needs_input_grad[2:]
        inputs = []
        for a, wants in zip(ctx.args, need):
            if a is None:
                t = next(tensors).detach()
                t.requires_grad = bool(wants)
                inputs.append(t)
            else:
                inputs.append(a)
        with ctx.replay():
            outputs = ctx.run_function(*inputs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        outs, gs = [], []
        for o, g in zip(outputs, grads):
            if isinstance(o, Tensor) and o.requires_grad and g is not None:
                outs.append(o)
                gs.append(g)
        if not outs:
            raise RuntimeError("none of output has requires_grad=True, this checkpoint() is not "
                               "necessary")
        _backward(outs, gs)
        return (None, None, *(t.grad if isinstance(t, Tensor) else None for t in inputs))


def _segment(outputs: list[Tensor], after: int) -> list[Node]:
    """The nodes created after creation number ``after`` that ``outputs`` depend on, oldest
    first."""
    seen: dict[int, Node] = {}
    stack = [t.grad_fn for t in outputs if t.grad_fn is not None]
    while stack:
        n = stack.pop()
        if n.sequence_nr <= after or id(n) in seen:
            continue
        seen[id(n)] = n
        stack.extend(e for e, _ in n.next_functions if type(e) is Node)
    return sorted(seen.values(), key=lambda n: n.sequence_nr)


def _describe(names: list[str]) -> str:
    return f"{len(names)} ops ({', '.join(names[:8])}{', ...' if len(names) > 8 else ''})"


def _checkpoint_without_reentrant(function: Callable[..., Any], preserve: bool,
                                  context_fn: Callable[..., Any], args: tuple,
                                  kwargs: dict) -> Any:
    forward_ctx, recompute_ctx = context_fn()
    if not is_grad_enabled():
        with forward_ctx:
            return function(*args, **kwargs)
    replay = _Replay(preserve)
    start = next_seq()
    with forward_ctx:
        out = function(*args, **kwargs)
    outputs = [t for t in tensors_in(out) if t.requires_grad and t.grad_fn is not None]
    nodes = _segment(outputs, start)
    if not nodes:
        return out
    names = [n.name for n in nodes]
    for n in nodes:  # free the activations: backward refills them before it reaches them
        n.x = n.res = n.out = None
    state = {"function": function, "args": args, "kwargs": kwargs}

    def recompute(grad: Any) -> None:
        if not state:  # once: then the nodes hold the arrays (or backward freed them)
            return
        st = dict(state)
        state.clear()  # nothing of the segment stays referenced from the hook
        with replay(), recompute_ctx:
            start2 = next_seq()
            again = st["function"](*st["args"], **st["kwargs"])
        fresh = _segment([t for t in tensors_in(again) if t.requires_grad
                          and t.grad_fn is not None], start2)
        if [n.name for n in fresh] != names:
            raise RuntimeError(
                "checkpoint: recomputing the function built a different graph than the forward "
                f"did ({_describe([n.name for n in fresh])} instead of {_describe(names)}); the "
                "function must do the same ops on each call (its control flow may not depend "
                "on the random state unless preserve_rng_state=True, nor on global state that "
                "changed)")
        for n, m in zip(st["nodes"], fresh):
            n.x, n.res, n.out = m.x, m.res, m.out

    state["nodes"] = nodes
    # each output passes through an identity node that carries the hook: the hook may then hold
    # the segment's nodes without a reference cycle (none of them references the identity)
    wrapped: dict[int, Tensor] = {}
    for t in outputs:
        if t.grad_fn.sequence_nr > start and id(t) not in wrapped:
            w = wrapped[id(t)] = CheckpointOutput.apply(t)
            w.register_hook(recompute)
    return _replace(out, wrapped)


def _replace(value: Any, new: dict[int, Tensor]) -> Any:
    """``value`` (a tensor, or tuples, lists, dicts of them) with the tensors in ``new`` (by
    id) replaced."""
    if isinstance(value, Tensor):
        return new.get(id(value), value)
    if isinstance(value, (list, tuple)):
        items = [_replace(v, new) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, dict):
        return type(value)((k, _replace(v, new)) for k, v in value.items())
    return value


class CheckpointOutput(Function):
    """The identity, on each output of a non-reentrant checkpoint: its node carries the hook
    that refills the segment's saved arrays, and saves nothing itself."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor) -> Tensor:
        return x

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> Tensor:
        return g


def checkpoint(function: Callable[..., Any], *args: Any, use_reentrant: bool | None = None,
               context_fn: Callable[..., Any] = noop_context_fn,
               determinism_check: str = "default", debug: bool = False,
               preserve_rng_state: bool = True, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` without keeping its intermediate activations for backward:
    they are recomputed when backward reaches them (as ``torch.utils.checkpoint.checkpoint``).

    ``use_reentrant``: pass it (``False`` is recommended); left out it warns and means True, as
    in PyTorch. ``preserve_rng_state``: replay the forward's random state when recomputing
    (dropout gives the same mask). ``context_fn`` (non-reentrant only): returns two context
    managers, one for the forward and one for the recomputation. ``determinism_check`` and
    ``debug`` are accepted: the recomputed graph is always checked against the forward's.
    """
    if use_reentrant is None:
        warnings.warn(
            "cr.utils.checkpoint: the use_reentrant parameter should be passed explicitly. "
            "use_reentrant=False is recommended, but if you need to preserve the current "
            "default behavior, you can pass use_reentrant=True. Refer to docs for more details "
            "on the differences between the two variants.", UserWarning, stacklevel=2)
        use_reentrant = True
    if use_reentrant:
        if kwargs:
            raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))
        if context_fn is not noop_context_fn or debug is not False:
            raise ValueError("Passing `context_fn` or `debug` is only supported when "
                             "use_reentrant=False.")
        if STATE.enabled and not any(isinstance(a, Tensor) and a.requires_grad for a in args):
            warnings.warn("None of the inputs have requires_grad=True. Gradients will be None",
                          UserWarning, stacklevel=2)
        return CheckpointFunction.apply(function, preserve_rng_state, *args)
    return _checkpoint_without_reentrant(function, preserve_rng_state, context_fn, args, kwargs)


def checkpoint_sequential(functions: Any, segments: int, input: Any,
                          use_reentrant: bool | None = None, **kwargs: Any) -> Any:
    """Run a sequence of modules (or an ``nn.Sequential``) in ``segments`` chunks, checkpointing
    every chunk but the last (as ``torch.utils.checkpoint.checkpoint_sequential``)."""
    if use_reentrant is None:
        warnings.warn(
            "cr.utils.checkpoint.checkpoint_sequential: the use_reentrant parameter should be "
            "passed explicitly. use_reentrant=False is recommended, but if you need to preserve "
            "the current default behavior, you can pass use_reentrant=True. Refer to docs for "
            "more details on the differences between the two variants.", UserWarning,
            stacklevel=2)
        use_reentrant = True
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("Unexpected keyword arguments: " + ",".join(arg for arg in kwargs))

    def run_function(start: int, end: int, functions: list) -> Callable[[Any], Any]:
        def forward(x: Any) -> Any:
            for j in range(start, end + 1):
                x = functions[j](x)
            return x
        return forward

    if hasattr(functions, "children") and not isinstance(functions, (list, tuple)):
        functions = list(functions.children())
    functions = list(functions)
    segment_size = len(functions) // segments
    end = -1
    for start in range(0, segment_size * (segments - 1), segment_size):
        end = start + segment_size - 1
        input = checkpoint(run_function(start, end, functions), input,
                           use_reentrant=use_reentrant, preserve_rng_state=preserve)
    return run_function(end + 1, len(functions) - 1, functions)(input)
