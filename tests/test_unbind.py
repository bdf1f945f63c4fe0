"""unbind, split and chunk: several outputs whose gradients reach the input through one node
(not in the registry, so checked here: values, gradients and second order, PyTorch parity)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from tests.helpers import require_torch


def _x(*shape: int) -> cr.Tensor:
    return cr.tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_unbind_matches_torch_values_and_gradients(dim: int) -> None:
    torch = require_torch()
    x = _x(3, 4, 2)
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    ours, theirs = x.unbind(dim), tx.unbind(dim)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    # weights per piece, one piece unused: its slice of the gradient is zero
    sum(float(k + 1) * (p * p).sum() for k, p in enumerate(ours[:-1])).backward()
    sum(float(k + 1) * (p * p).sum() for k, p in enumerate(theirs[:-1])).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_split_and_chunk_gradients_match_torch() -> None:
    torch = require_torch()
    x = _x(7, 3)
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    for ours, theirs in ((x.split([2, 0, 5]), tx.split([2, 0, 5])), (x.split(3), tx.split(3)),
                         (x.chunk(3, 1), tx.chunk(3, 1))):
        x.grad, tx.grad = None, None
        assert [p.shape for p in ours] == [tuple(p.shape) for p in theirs]
        sum((p.exp() * (k + 1)).sum() for k, p in enumerate(ours)).backward()
        sum((p.exp() * (k + 1)).sum() for k, p in enumerate(theirs)).backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_first_and_second_order_by_finite_differences() -> None:
    x = _x(3, 4)

    def f(v: cr.Tensor) -> cr.Tensor:
        a, b, c = v.unbind(0)
        p, q = v.split([1, 3], 1)
        return cr.stack([a * b, c.tanh() * a], 0).sum() + (p * q).sum()

    assert cr.autograd.gradcheck(f, [x])
    assert cr.autograd.gradgradcheck(f, [x])


def test_one_node_builds_the_gradient() -> None:
    """Backward runs one 'unbind' node for all the pieces, and no getitem node (whose backward
    would allocate a full-size gradient per piece)."""
    x = _x(50, 2)
    names: list[str] = []
    with cr.autograd.observe(lambda ev: names.append(ev.node.name)):
        cr.stack([p * 2.0 for p in x.unbind(0)], 1).sum().backward()
    assert names.count("unbind") == 1 and names.count("unbind_output") == 50
    assert "getitem" not in names
    np.testing.assert_array_equal(x.grad.numpy(), np.full((50, 2), 2.0))


def test_without_grad_the_pieces_are_plain_views() -> None:
    x = cr.arange(6.0).reshape(2, 3)
    a, _ = x.unbind(0)
    assert a.grad_fn is None and not a.requires_grad
    a[0] = 10.0  # a view: the base sees it
    assert float(x[0, 0]) == 10.0
    with cr.no_grad():
        assert all(p.grad_fn is None for p in _x(2, 2).unbind(1))


def test_pieces_work_with_hooks_retain_graph_and_anomaly() -> None:
    x = _x(3, 2)
    seen = []
    with cr.autograd.detect_anomaly():
        a, b, c = x.unbind(0)
        b.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 3)
        loss = (a + b + c).sum()
        loss.backward(retain_graph=True)
    np.testing.assert_array_equal(seen[0], np.ones(2))
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 1], [3, 3], [1, 1]])
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2, 2], [6, 6], [2, 2]])
    a, _, _ = x.unbind(0)
    (g,) = cr.grad((a * 2).sum(), [a])  # a piece as an input of cr.grad
    np.testing.assert_array_equal(g.numpy(), [2, 2])


def test_unbind_errors_and_aliases() -> None:
    with pytest.raises(IndexError, match="unbind: got a 0-d tensor"):
        cr.unbind(cr.tensor(1.0))
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        cr.unbind(cr.ones(2, 3), 2)
    with pytest.raises(TypeError, match="both dim=1 and axis=0"):
        cr.unbind(cr.ones(2, 3), 1, axis=0)
    assert [p.shape for p in cr.ones(2, 3).unbind(axis=1)] == [(2,)] * 3
    assert cr.unbind(cr.ones(0, 3)) == ()


def test_in_place_change_of_a_piece_while_recording_is_refused() -> None:
    a, _ = _x(2, 2).unbind(0)
    with pytest.raises(RuntimeError, match="in-place change of a view"):
        a.mul_(2.0)


def test_compiled_steps_with_chunk_and_lstm_replay() -> None:
    """cr.compile replays registered ops only: while it records, the pieces are getitem nodes."""
    cr.manual_seed(0)
    mha, lstm = cr.nn.MultiheadAttention(8, 2), cr.nn.LSTM(8, 4)
    opt = cr.optim.SGD([*mha.parameters(), *lstm.parameters()], 0.1)
    x = cr.randn(5, 3, 8)

    @cr.compile(strict=True)
    def step(x: cr.Tensor) -> cr.Tensor:
        opt.zero_grad()
        loss = (lstm(mha(x, x, x)[0])[0] ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    losses = [float(step(x)) for _ in range(3)]
    assert losses[2] < losses[0]


def test_pieces_join_only_pieces() -> None:
    """What a split's outputs send it joins with ``+`` (and ``sum``) into pieces filed by index;
    an array is refused on either side of ``+`` (NumPy defers to the pieces), and so is
    ``np.asarray``: an array of objects would hide the pieces and break their join tree later."""
    from chainrule.ops.indexing import _Pieces
    p, q = _Pieces((0, np.ones(2))), _Pieces((1, np.full(2, 3.0)))
    both = sum([p, q, _Pieces((0, np.ones(2)))])
    assert sorted(both.grads()) == [0, 1]
    np.testing.assert_array_equal(both.grads()[0], [2, 2])
    assert repr(both) == "_Pieces({0: shape (2,), 1: shape (2,)})"
    for bad in (lambda: p + np.ones(()), lambda: np.ones(()) + p, lambda: np.float32(1) + p,
                lambda: p + 1.0):
        with pytest.raises(TypeError, match="can only be added to each other"):
            bad()
    with pytest.raises(TypeError, match="filed by output index"):
        np.asarray(p)


def _chunked_model(observed: bool, anomaly: bool = False, hook: bool = True) -> dict:
    """MultiheadAttention -> TransformerEncoderLayer -> LSTM on the chunks of one input that is
    also used elsewhere, a hook on one chunk, retain_grad on another: every gradient, by name."""
    from contextlib import ExitStack
    cr.manual_seed(0)
    mha, tel = cr.nn.MultiheadAttention(8, 2), cr.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0)
    lstm = cr.nn.LSTM(8, 4)
    x = cr.tensor(np.random.default_rng(1).standard_normal((5, 2, 24)).astype(np.float32),
                  requires_grad=True)
    names: list[str] = []
    with ExitStack() as stack:
        if anomaly:
            stack.enter_context(cr.autograd.detect_anomaly())
        q, k, v = x.chunk(3, -1)
        if hook:
            k.register_hook(lambda g: g * 2)
        v.retain_grad()
        h = tel(mha(q, k, v)[0] + x[..., :8])
        loss = (lstm(h)[0] ** 2).mean()
        if observed:
            stack.enter_context(cr.autograd.observe(lambda ev: names.append(ev.node.name)))
        loss.backward()
    assert ("unbind_output" not in names) if not observed else ("split" in names)
    out = {f"{m}.{n}": p.grad.numpy() for m, mod in (("mha", mha), ("tel", tel), ("lstm", lstm))
           for n, p in mod.named_parameters()}
    return {**out, "x": x.grad.numpy(), "v": v.grad.numpy()}


def test_observed_backward_through_chunks_equals_the_fast_one() -> None:
    """An observer (or anomaly mode) sends backward down the engine's general loop: the
    gradients through chunks, hooks and retain_grad must be those of the fast loop."""
    fast = _chunked_model(False)
    for got in (_chunked_model(True), _chunked_model(False, anomaly=True)):
        assert set(got) == set(fast)
        for name, g in fast.items():
            np.testing.assert_allclose(got[name], g, rtol=1e-5, atol=1e-7, err_msg=name)
    # the hook on k doubled k's slice of x's gradient (x itself is used elsewhere only in q's)
    plain = _chunked_model(True, hook=False)
    np.testing.assert_allclose(fast["x"][..., 8:16], 2 * plain["x"][..., 8:16], rtol=1e-5)
    np.testing.assert_allclose(fast["v"], fast["x"][..., 16:], rtol=1e-6)


def test_explain_and_draw_show_a_split_piece_by_piece() -> None:
    """A split with three used outputs, its input used elsewhere too: the trace keeps what the
    outputs send as pieces (not arrays of objects), explain prints them piece by piece and
    sums them in the accumulation table, draw names them; the gradients are autograd's."""
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], requires_grad=True)
    a, b, c = x.unbind(0)
    loss = (a * b).sum() + (c * c).sum() + (x * 0.5).sum()
    t = cr.viz.trace(loss, params={"x": x})
    hub = next(s for s in t.steps if s.op == "unbind")
    assert len(hub.uses) == 3 and all(hasattr(g, "grads") for _, g in hub.uses)
    np.testing.assert_array_equal(hub.grad.grads()[2], [10.0, 12.0])
    (want,) = cr.autograd.grad(loss, [x], retain_graph=True)
    np.testing.assert_allclose(t.grads()["x"], want.numpy())
    np.testing.assert_allclose(want.numpy(), [[3.5, 4.5], [1.5, 2.5], [10.5, 12.5]])
    text = cr.explain(loss, params={"x": x})
    assert "piece 0: [3, 4]; piece 1: [1, 2]; piece 2: [10, 12]" in text  # the summed total
    assert "object" not in text
    svg = cr.viz.draw(loss, params={"x": x}, show="grads").svg
    assert "grad: 3 pieces" in svg
