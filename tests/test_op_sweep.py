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
    op = REGISTRY[name]
    for sample in samples_of(name)[:4]:
        inputs = make_inputs(sample)
        fn, diff = as_function(op, inputs, sample)
        if not diff:
            continue
        assert cr.autograd.gradgradcheck(fn, diff, eps=1e-6, atol=1e-5, rtol=1e-3), sample


@pytest.mark.parametrize("name", [n for n in OPS if REGISTRY[n].order < 2])
def test_first_order_only_ops_refuse_create_graph(name: str) -> None:
    op = REGISTRY[name]
    sample = samples_of(name)[0]
    inputs = make_inputs(sample)
    diff = flat_diff_inputs(inputs)
    out = call_op(op, inputs, sample)
    with pytest.raises(RuntimeError, match="first-order"):
        cr.grad(out.sum(), diff, create_graph=True)


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


@pytest.mark.parametrize("name", OPS)
def test_each_input_alone_gets_the_same_gradient(name: str) -> None:
    """Computing only the gradients that are needed must not change any of them."""
    op = REGISTRY[name]
    sample = samples_of(name)[-1]
    inputs = make_inputs(sample)
    diff = flat_diff_inputs(inputs)
    if len(diff) < 2:
        return
    out = call_op(op, inputs, sample)
    u = cr.tensor(np.random.default_rng(0).standard_normal(out.shape))
    full = cr.grad(out, diff, u)
    for k, t in enumerate(diff):
        for j, other in enumerate(diff):
            other.requires_grad = j == k
        alone = cr.grad(call_op(op, inputs, sample), [t], u)[0]
        np.testing.assert_allclose(alone.numpy(), full[k].numpy(), rtol=1e-12, atol=1e-12)
        for other in diff:
            other.requires_grad = True
