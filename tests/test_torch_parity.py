"""PyTorch parity, swept over the registry: every op that names its PyTorch counterpart is run
on its declared samples in both frameworks, and forward values and gradients must agree."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops import REGISTRY
from tests.helpers import call_op, flat_diff_inputs, make_inputs
from tests.helpers import lazy_torch as torch

OPS = sorted(n for n, op in REGISTRY.items() if op.torch is not None)


def to_torch(x: Any) -> Any:
    if isinstance(x, list):
        return [to_torch(v) for v in x]
    if isinstance(x, cr.Tensor):
        return torch.tensor(x.detach().numpy(), requires_grad=x.requires_grad)
    if isinstance(x, float):  # some torch functions take no Python number: a 0-d constant
        return torch.tensor(x, dtype=torch.float64)
    return x


def torch_call(op: Any, inputs: list, params: tuple) -> Any:
    if callable(op.torch):
        return op.torch(torch, *inputs, *params)
    return getattr(torch, op.torch)(*inputs, *params)


def torch_leaves(inputs: list) -> list:
    out = []
    for x in inputs:
        if isinstance(x, list):
            out.extend(v for v in x if isinstance(v, torch.Tensor) and v.requires_grad)
        elif isinstance(x, torch.Tensor) and x.requires_grad:
            out.append(x)
    return out


def test_some_ops_name_torch() -> None:
    assert len(OPS) >= 20


@pytest.mark.parametrize("name", OPS)
def test_forward_and_gradient_match_torch(name: str) -> None:
    op = REGISTRY[name]
    rng = np.random.default_rng(7)
    for sample in op.samples(np.random.default_rng(1234)):
        ours_in = make_inputs(sample)
        theirs_in = to_torch(ours_in)
        ours = call_op(op, ours_in, sample)
        theirs = torch_call(op, theirs_in, sample.params)
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10,
                                   atol=1e-12,
                                   err_msg=f"{name} forward, {sample}")
        diff = flat_diff_inputs(ours_in)
        if not diff:
            continue
        u = rng.standard_normal(ours.shape)
        g_ours = cr.grad(ours, diff, cr.tensor(u), allow_unused=True)
        g_theirs = torch.autograd.grad(theirs, torch_leaves(theirs_in), torch.tensor(u),
                                       allow_unused=True)
        for k, (a, b) in enumerate(zip(g_ours, g_theirs)):
            a_np = np.zeros(diff[k].shape) if a is None else a.numpy()
            b_np = np.zeros(diff[k].shape) if b is None else b.numpy()
            np.testing.assert_allclose(a_np, b_np, rtol=1e-9, atol=1e-12,
                                       err_msg=f"{name} gradient of input {k}, {sample}")
