"""Activation checkpointing (``cr.utils.checkpoint``): the gradients are the plain run's bit for
bit (dropout included: the random state is replayed), the activations are not kept (fewer saved
arrays after the forward, a lower peak of traced memory), and the PyTorch behaviours around it
(warnings, the reentrant variant's limits) are PyTorch's."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.utils.checkpoint import checkpoint, checkpoint_sequential


def _blocks(width: int = 32, depth: int = 6, p: float = 0.3) -> nn.Sequential:
    cr.manual_seed(0)
    return nn.Sequential(*[nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Dropout(p))
                           for _ in range(depth)], nn.Linear(width, 3))


def _grads(mode: str, x_requires_grad: bool = True) -> tuple:
    model = _blocks()
    model.train()
    x = cr.tensor(np.random.default_rng(1).standard_normal((8, 32)).astype(np.float32),
                  requires_grad=x_requires_grad)
    y = cr.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    cr.manual_seed(7)
    if mode == "plain":
        out = model(x)
    elif mode == "sequential":
        out = checkpoint_sequential(model, 3, x, use_reentrant=False)
    else:
        h = x
        for block in list(model)[:-1]:
            h = checkpoint(block, h, use_reentrant=mode == "reentrant")
        out = model[-1](h)
    loss = nn.functional.cross_entropy(out, y)
    loss.backward()
    after = cr.rand(3).numpy()  # the caller's random stream is where the plain run leaves it
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    return float(loss), grads, None if x.grad is None else x.grad.numpy().copy(), after


@pytest.mark.parametrize("mode", ["non_reentrant", "reentrant", "sequential"])
def test_gradients_equal_the_plain_run_bit_for_bit(mode: str) -> None:
    loss, grads, xg, after = _grads("plain")
    loss2, grads2, xg2, after2 = _grads(mode)
    assert loss2 == loss
    assert len(grads2) == len(grads)
    for a, b in zip(grads2, grads):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(xg2, xg)
    np.testing.assert_array_equal(after2, after)


def test_non_reentrant_needs_no_input_that_requires_grad_and_works_with_grad() -> None:
    _, grads, _, _ = _grads("plain", x_requires_grad=False)
    _, grads2, _, _ = _grads("non_reentrant", x_requires_grad=False)
    for a, b in zip(grads2, grads):
        np.testing.assert_array_equal(a, b)
    block = nn.Linear(4, 4)
    x = cr.randn(2, 4)
    out = checkpoint(block, x, use_reentrant=False).square().sum()
    (gw,) = cr.grad(out, [block.weight])
    ref = cr.grad(block(x).square().sum(), [block.weight])[0]
    np.testing.assert_array_equal(gw.numpy(), ref.numpy())


def test_reentrant_without_grad_inputs_warns_and_gives_no_grad_as_pytorch() -> None:
    torch = pytest.importorskip("torch")
    for lib in (cr, torch):
        lin = lib.nn.Linear(3, 2)
        with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
            out = (checkpoint if lib is cr else torch.utils.checkpoint.checkpoint)(
                lin, lib.ones(1, 3), use_reentrant=True)
        assert not out.requires_grad


def test_use_reentrant_must_be_passed_and_reentrant_refuses_kwargs() -> None:
    lin = nn.Linear(3, 2)
    x = cr.ones(1, 3, requires_grad=True)
    with pytest.warns(UserWarning, match="use_reentrant parameter should be passed explicitly"):
        checkpoint(lin, x)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: scale"):
        checkpoint(lambda a, scale: lin(a) * scale, x, scale=2.0, use_reentrant=True)
    out = checkpoint(lambda a, scale: lin(a) * scale, x, scale=2.0, use_reentrant=False)
    out.sum().backward()
    assert x.grad.shape == (1, 3)


def _saved_arrays(t: cr.Tensor) -> int:
    """Bytes of the distinct arrays the graph behind ``t`` keeps for backward (inputs and
    outputs its nodes saved), read through the public node API."""
    seen, arrays, stack = set(), {}, [t.grad_fn]
    while stack:
        n = stack.pop()
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        for a in (n.saved_inputs or ()) + (n.saved_output,):
            if hasattr(a, "nbytes") and 0 not in a.strides:  # not a zero-memory placeholder
                arrays[id(a)] = a.nbytes
        stack.extend(e for e, _ in n.next_functions if e is not None
                     and not isinstance(e, cr.Tensor))
    return sum(arrays.values())


@pytest.mark.parametrize("reentrant", [False, True], ids=["non_reentrant", "reentrant"])
def test_activations_are_not_kept(reentrant: bool) -> None:
    cr.manual_seed(0)
    blocks = [nn.Sequential(nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
              for _ in range(8)]
    x = cr.randn(2048, 64, requires_grad=True)
    measured = {}
    for mode in ("plain", "checkpoint"):
        tracemalloc.start()
        h = x
        for b in blocks:
            h = b(h) if mode == "plain" else checkpoint(b, h, use_reentrant=reentrant)
        loss = h.square().mean()
        saved = _saved_arrays(loss)
        after_forward = tracemalloc.get_traced_memory()[0]
        loss.backward()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        measured[mode] = saved, after_forward, peak
    plain, ckpt = measured["plain"], measured["checkpoint"]
    # the plain graph keeps 4 activations of 512 KiB per block; the checkpointed one at most
    # each block's input, and backward recomputes one block at a time
    assert ckpt[0] < plain[0] / 3
    assert ckpt[1] < plain[1] / 2
    assert ckpt[2] < plain[2] * 0.6


def test_recomputation_that_changes_the_graph_is_refused() -> None:
    calls = [0]
    lin = nn.Linear(2, 2)

    def flaky(x):
        calls[0] += 1
        return lin(x).tanh() if calls[0] == 1 else lin(x).relu()

    out = checkpoint(flaky, cr.ones(1, 2, requires_grad=True), use_reentrant=False)
    with pytest.raises(RuntimeError, match="recomputing the function built a different graph"):
        out.sum().backward()


def test_retain_graph_and_second_backward_as_the_plain_graph() -> None:
    lin = nn.Linear(3, 3)
    x = cr.randn(2, 3, requires_grad=True)
    out = checkpoint(lambda a: lin(a).tanh(), x, use_reentrant=False).sum()
    out.backward(retain_graph=True)
    g1 = lin.weight.grad.numpy().copy()
    out.backward()
    np.testing.assert_array_equal(lin.weight.grad.numpy(), 2 * g1)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        out.backward()


def test_recompute_under_the_forward_autocast_state() -> None:
    lin = nn.Linear(4, 4)
    x = cr.randn(3, 4, requires_grad=True)
    with cr.autocast("cpu", dtype=cr.float16):
        out = checkpoint(lin, x, use_reentrant=False)
    assert out.dtype == cr.float16
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out.float().sum().backward()  # recomputed in float16 again: same graph, no refusal
    assert lin.weight.grad.dtype == cr.float32


def test_matches_torch_checkpoint_sequential_values() -> None:
    torch = pytest.importorskip("torch")
    w = np.random.default_rng(3).standard_normal((4, 4)).astype(np.float32)

    def run(lib, ckpt_seq):
        layers = []
        for _ in range(4):
            lin = lib.nn.Linear(4, 4, bias=False)
            with lib.no_grad():
                lin.weight.copy_(lib.tensor(w))
            layers += [lin, lib.nn.Tanh()]
        model = lib.nn.Sequential(*layers)
        x = lib.tensor(w, requires_grad=True)
        out = ckpt_seq(model, 2, x, use_reentrant=False)
        out.sum().backward()
        return out.detach().numpy(), x.grad.numpy()

    got = run(cr, checkpoint_sequential)
    want = run(torch, torch.utils.checkpoint.checkpoint_sequential)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backward", [False, True], ids=["dropped", "after_backward"])
def test_the_graph_frees_by_reference_counting(backward: bool) -> None:
    """No reference cycle through the recompute hook: with the cyclic collector off, the
    segment's input is freed as soon as nothing else holds it (as in a plain graph)."""
    import gc
    import weakref

    lin1, lin2 = nn.Linear(8, 8), nn.Linear(8, 8)
    gc.collect()
    gc.disable()
    try:
        h = lin1(cr.randn(4, 8))  # the segment's input: an activation of the previous layer
        alive = weakref.ref(h._data)
        out = checkpoint(lambda a: lin2(a.tanh()).tanh(), h, use_reentrant=False).sum()
        if backward:
            out.backward()
        del h, out
        assert alive() is None
    finally:
        gc.enable()
