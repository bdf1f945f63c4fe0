"""The registry sweep: every registered op, on its declared samples, gradient-checked against
finite differences in float64 (first order, and second order where the op declares it), kept
float32 end to end, and computing only the gradients that are needed. A new op is covered by
registering it."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops import REGISTRY
from tests.helpers import as_function, call_op, flat_diff_inputs, make_inputs

OPS = sorted(REGISTRY)


def samples_of(name: str) -> list:
    op = REGISTRY[name]
    assert op.samples is not None, f"op {name!r} declares no samples for the gradient sweep"
    out = list(op.samples(np.random.default_rng(1234)))
    assert out, f"op {name!r} declares an empty sample list"
    return out


@pytest.mark.parametrize("name", OPS)
def test_declaration_is_complete(name: str) -> None:
    op = REGISTRY[name]
    assert op.vjp is not None, f"{name}: no vjp"
    assert op.formula, f"{name}: no formula for explain"
    assert op.order in (1, 2)
    samples_of(name)


@pytest.mark.parametrize("name", OPS)
def test_first_order_matches_finite_differences(name: str) -> None:
    op = REGISTRY[name]
    for sample in samples_of(name):
        inputs = make_inputs(sample)
        fn, diff = as_function(op, inputs, sample)
        if not diff:
            continue
        assert cr.autograd.gradcheck(fn, diff, eps=1e-6, atol=1e-6, rtol=1e-4), sample


@pytest.mark.parametrize("name", [n for n in OPS if REGISTRY[n].order >= 2])
def test_second_order_matches_finite_differences(name: str) -> None:
    """Every order-2 op, on every one of its samples (not a prefix, not only the last)."""
    op = REGISTRY[name]
    checked = 0
    for sample in samples_of(name):
        inputs = make_inputs(sample)
        fn, diff = as_function(op, inputs, sample)
        if not diff or sample.order < 2:  # order 1: a declared kink (no second derivative)
            continue
        assert cr.autograd.gradgradcheck(fn, diff, eps=1e-6, atol=1e-5, rtol=1e-3), sample
        checked += 1
    assert checked, f"{name}: no sample has a differentiable input, so nothing was checked"


def test_first_order_only_ops_refuse_create_graph() -> None:
    """An op declared ``order=1`` refuses ``create_graph=True`` by name. The test declares its
    own (and removes it from the registry after), not to depend on which registered ops are
    first-order (``ctc_loss`` is)."""
    from chainrule.ops.registry import primitive

    @primitive("_test_first_order_only", order=1, formula="d x^2/dx = 2x", export=False)
    def _sq(xp, x):
        return x * x

    @_sq.defvjp
    def _(c, g):
        return (g * 2 * c.x[0],)

    try:
        x = cr.tensor([1.0, 2.0], dtype=cr.float64, requires_grad=True)
        (g,) = cr.grad(_sq(x).sum(), [x])  # first order works
        np.testing.assert_allclose(g.numpy(), [2.0, 4.0])
        with pytest.raises(RuntimeError, match="'_test_first_order_only' supports first-order"):
            cr.grad(_sq(x).sum(), [x], create_graph=True)
    finally:
        del REGISTRY["_test_first_order_only"]


@pytest.mark.parametrize("name", OPS)
def test_float32_stays_float32(name: str) -> None:
    op = REGISTRY[name]
    for sample in samples_of(name):
        if op.name == "cast":
            continue
        inputs = make_inputs(sample, dtype=np.float32)
        out = call_op(op, inputs, sample)
        assert out.dtype == np.float32, f"{name} {sample}: forward gave {out.dtype}"
        diff = flat_diff_inputs(inputs)
        if not diff:
            continue
        out.backward(cr.ones_like(out))
        for t in diff:
            assert t.grad is not None and t.grad.dtype == np.float32, (
                f"{name} {sample}: gradient dtype {None if t.grad is None else t.grad.dtype}")
            assert t.grad.shape == t.shape


def _samples_with_two_diff_inputs(name: str) -> list:
    return [s for s in samples_of(name) if len(flat_diff_inputs(make_inputs(s))) >= 2]


@pytest.mark.parametrize("name", [n for n in OPS if _samples_with_two_diff_inputs(n)])
def test_each_input_alone_gets_the_same_gradient(name: str) -> None:
    """Computing only the gradients that are needed must not change any of them: on every
    sample with two or more differentiable inputs."""
    op = REGISTRY[name]
    for sample in _samples_with_two_diff_inputs(name):
        inputs = make_inputs(sample)
        diff = flat_diff_inputs(inputs)
        out = call_op(op, inputs, sample)
        u = cr.tensor(np.random.default_rng(0).standard_normal(out.shape))
        full = cr.grad(out, diff, u)
        for k, t in enumerate(diff):
            for j, other in enumerate(diff):
                other.requires_grad = j == k
            alone = cr.grad(call_op(op, inputs, sample), [t], u)[0]
            np.testing.assert_allclose(alone.numpy(), full[k].numpy(), rtol=1e-12, atol=1e-12,
                                       err_msg=f"{name} {sample}: input {k} alone")
            for other in diff:
                other.requires_grad = True
