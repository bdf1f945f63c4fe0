"""``cr.compile``: record one training step as the array operations it performs, replay it.

An eager step pays Python bookkeeping for every op (a Tensor, a graph node, the backward loop).
``cr.compile(step)`` runs the step eagerly once per input signature (the warm-up: lazy optimiser
state, scratch buffers), records the second call, and replays the recording from the third call
on: one generated Python function (``compiled.code``) that makes the same array-level calls
(forwards and vjps, hot ones inlined as their ufunc calls), gradient sums and stores, optimiser
steps and in-place writes, in the same order, with no Tensors and no graph.
The recording is bit-for-bit the eager step: same functions, same operands, same order.

See ``docs/compile.md`` for what a recording sees, what makes a step fall back to eager, and the
benchmark table.
"""

from __future__ import annotations

from chainrule.compile.errors import CompileError, CompileWarning
from chainrule.compile.step import Compiled, compile

__all__ = ["CompileError", "CompileWarning", "Compiled", "compile"]
