"""Graph fuzzing: random compositions of ops over 1-3 float64 inputs of broadcastable random
shapes, with the engine's gradients checked against finite differences (chainrule's gradcheck).

Each example is a *program*: a list of steps, each applying an op to values made earlier (the
inputs first). The program is drawn once and replayed for every finite-difference evaluation.
Derandomized, so CI runs the same examples every time.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.autograd import gradcheck, gradgradcheck

# Hypothesis's pytest plugin imports libcst to print a failing example as a patch; that import
# warns (DeprecationWarning from mypy_extensions), which our warnings-as-errors setting turns into
# an INTERNALERROR hiding the failure. Import it once now, quietly.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    with contextlib.suppress(ImportError):  # libcst is optional
        import hypothesis.extra._patching  # noqa: F401

# no "explain" phase: it adds little here and its imports warn (warnings are errors in tests)
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)
HAS_TRANSPOSE = hasattr(cr, "transpose")
BINARY = ("add", "sub", "mul", "div")
UNARY = ("tanh", "sigmoid", "exp_bounded", "sin", "sum", "mean", "reshape") + (
    ("transpose",) if HAS_TRANSPOSE else ())


FULL_SHAPES = ((), (3,), (1, 2), (2, 3), (3, 1, 2), (2, 2, 2))


def apply(step: tuple, vals: list) -> Any:
    """Run one step of a program on the values computed so far."""
    name, args = step[0], step[1:]
    if name in BINARY:
        a, b = vals[args[0]], vals[args[1]]
        if name == "add":
            return a + b
        if name == "sub":
            return a - b
        if name == "mul":
            return a * b
        return a / (1.0 + b * b)  # a safe denominator: >= 1
    x = vals[args[0]]
    if name == "tanh":
        return x.tanh()
    if name == "sigmoid":
        return x.sigmoid()
    if name == "exp_bounded":
        return x.tanh().exp()
    if name == "sin":
        return x.sin()
    if name in ("sum", "mean"):
        dim, keepdim = args[1], args[2]
        return getattr(x, name)(dim, keepdim)
    if name == "reshape":
        return x.reshape(args[1])
    if name == "transpose":
        return x.transpose(args[1], args[2])
    raise AssertionError(name)


def run(program: list, inputs: tuple) -> Any:
    vals = list(inputs)
    for step in program:
        vals.append(apply(step, vals))
    return vals[-1]


def shape_of(step: tuple, shapes: list) -> tuple:
    """The output shape of a step (the program is built without running it)."""
    name, args = step[0], step[1:]
    if name in BINARY:
        return np.broadcast_shapes(shapes[args[0]], shapes[args[1]])
    s = shapes[args[0]]
    if name in ("sum", "mean"):
        dim, keepdim = args[1], args[2]
        if dim is None:
            return (1,) * len(s) if keepdim else ()
        return tuple(1 if i == dim else n for i, n in enumerate(s) if keepdim or i != dim)
    if name == "reshape":
        return tuple(args[1]) if args[1] != (-1,) else (int(np.prod(s)),)
    if name == "transpose":
        out = list(s)
        out[args[1]], out[args[2]] = out[args[2]], out[args[1]]
        return tuple(out)
    return s


@st.composite
def programs(draw: Callable, max_steps: int = 7) -> tuple[list, list]:
    """(input shapes, program): inputs broadcast against one full shape; each step picks an op
    and operands whose shapes fit it."""
    full = draw(st.sampled_from(FULL_SHAPES))
    n_in = draw(st.sampled_from((1, 2, 3)))
    shapes = []
    for _ in range(n_in):
        drop = draw(st.integers(0, len(full)))
        s = [n if not draw(st.booleans()) else 1 for n in full[drop:]]
        shapes.append(tuple(s))
    program: list = []
    all_shapes = list(shapes)
    for _ in range(draw(st.sampled_from(range(2, max_steps + 1)))):
        k = len(all_shapes)
        name = draw(st.sampled_from(BINARY + UNARY))
        # mostly continue from the latest value, so that most steps reach the output
        i = draw(st.one_of(st.just(k - 1), st.integers(0, k - 1)))
        s = all_shapes[i]
        if name in BINARY:
            j = draw(st.integers(0, k - 1))
            try:
                np.broadcast_shapes(s, all_shapes[j])
            except ValueError:
                name, j = "sin", None
            step = (name, i, j) if j is not None else ("sin", i)
        elif name in ("sum", "mean"):
            dim = draw(st.one_of(st.none(), st.integers(0, len(s) - 1))) if s else None
            step = (name, i, dim, draw(st.booleans()))
        elif name == "reshape":
            step = ("reshape", i, draw(st.sampled_from([(-1,), tuple(reversed(s))])))
        elif name == "transpose" and len(s) >= 2:
            d0, d1 = draw(st.permutations(range(len(s))))[:2]
            step = ("transpose", i, d0, d1)
        else:
            step = (name if name != "transpose" else "tanh", i)
        program.append(step)
        all_shapes.append(shape_of(step, all_shapes))
    return shapes, program


def make_inputs(shapes: list, seed: int) -> list:
    rng = np.random.default_rng(seed)
    return [cr.tensor(rng.uniform(-1.0, 1.0, s), dtype=cr.float64, requires_grad=True)
            for s in shapes]


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow], phases=PHASES)
@given(programs(), st.integers(0, 2**16))
def test_random_graphs_match_finite_differences(prog: tuple, seed: int) -> None:
    shapes, program = prog
    inputs = make_inputs(shapes, seed)
    all_shapes = list(shapes)
    for step in program:
        all_shapes.append(shape_of(step, all_shapes))
    assert run(program, tuple(inputs)).shape == all_shapes[-1]
    assert gradcheck(lambda *xs: run(program, xs), inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow], phases=PHASES)
@given(programs(), st.integers(0, 2**16))
def test_random_graphs_backward_matches_grad(prog: tuple, seed: int) -> None:
    """backward() into .grad and cr.grad agree, and the gradients have the inputs' shapes."""
    shapes, program = prog
    inputs = make_inputs(shapes, seed)
    out = run(program, tuple(inputs))
    u = cr.tensor(np.random.default_rng(seed).standard_normal(out.shape))
    got = cr.grad(out, inputs, u, retain_graph=True, allow_unused=True)
    out.backward(u)
    for x, g in zip(inputs, got):
        if g is None:
            assert x.grad is None
            continue
        assert g.shape == x.shape and x.grad.shape == x.shape
        np.testing.assert_allclose(x.grad.numpy(), g.numpy(), rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow], phases=PHASES)
@given(programs(max_steps=4), st.integers(0, 2**16))
def test_random_graphs_second_order(prog: tuple, seed: int) -> None:
    shapes, program = prog
    inputs = make_inputs(shapes, seed)
    assert gradgradcheck(lambda *xs: run(program, xs), inputs, eps=1e-6, atol=1e-5, rtol=1e-3)
