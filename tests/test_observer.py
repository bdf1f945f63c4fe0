"""The engine's one observer hook: ``cr.autograd.observe`` and its ``NodeEvent`` records."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import NodeEvent, observe
from chainrule.autograd.grad_mode import STATE


def mlp_loss() -> tuple[cr.Tensor, list[cr.Tensor], cr.Tensor]:
    """A small MLP written with ops: x @ w1 + b1 -> tanh -> @ w2 + b2 -> mean square."""
    cr.manual_seed(0)
    x = cr.randn(5, 3, dtype=cr.float64)
    w1 = cr.randn(3, 4, dtype=cr.float64, requires_grad=True)
    b1 = cr.randn(4, dtype=cr.float64, requires_grad=True)
    w2 = cr.randn(4, 2, dtype=cr.float64, requires_grad=True)
    b2 = cr.randn(2, dtype=cr.float64, requires_grad=True)
    h = (x @ w1 + b1).tanh()  # b1 broadcasts over the batch: its gradient is summed back
    loss = ((h @ w2 + b2) ** 2).mean()
    return loss, [w1, b1, w2, b2], h


def graph_nodes(t: cr.Tensor) -> list:
    seen: dict[int, object] = {}
    stack = [t.grad_fn]
    while stack:
        n = stack.pop()
        if id(n) not in seen:
            seen[id(n)] = n
            stack += [e for e, _ in n.next_functions if isinstance(e, cr.autograd.node.Node)]
    return list(seen.values())


def test_events_of_an_mlp_backward() -> None:
    loss, params, h = mlp_loss()
    expected = cr.grad(loss, params, retain_graph=True)
    events: list[NodeEvent] = []
    with observe(events.append):
        loss.backward()
    nodes = graph_nodes(loss)
    assert len(events) == len(nodes)  # one event per node
    assert {id(ev.node) for ev in events} == {id(n) for n in nodes}
    seqs = [ev.node.sequence_nr for ev in events]
    assert seqs == sorted(seqs, reverse=True)  # reverse topological order: the output first
    assert events[0].node is loss.grad_fn
    np.testing.assert_array_equal(events[0].grad_output, np.ones(()))
    for ev in events:
        assert isinstance(ev.seconds, float) and ev.seconds >= 0.0
        assert len(ev.grad_inputs) == len(ev.node.next_functions)
        for (edge, _), g, x in zip(ev.node.next_functions, ev.grad_inputs,
                                   ev.node.saved_inputs or ()):
            if edge is None:
                assert g is None
            else:
                assert np.shape(g) == np.shape(x)  # broadcasting already undone
    # the gradients sent to each parameter are what cr.grad returns for it
    for p, g in zip(params, expected):
        sent = [gi for ev in events for (e, _), gi in zip(ev.node.next_functions, ev.grad_inputs)
                if e is p]
        assert len(sent) == 1
        np.testing.assert_allclose(sent[0], g.numpy(), rtol=1e-12)
        np.testing.assert_allclose(p.grad.numpy(), g.numpy(), rtol=1e-12)
    # and an event's grad_output for h's node is the gradient with respect to h
    (dh,) = [ev.grad_output for ev in events if ev.node is h.grad_fn]
    loss2, _, h2 = mlp_loss()
    np.testing.assert_allclose(dh, cr.grad(loss2, h2)[0].numpy(), rtol=1e-12)


def test_cr_grad_is_observed_too() -> None:
    loss, params, _ = mlp_loss()
    events: list[NodeEvent] = []
    with observe(events.append):
        cr.grad(loss, params)
    assert len(events) == len(graph_nodes(loss))
    assert all(p.grad is None for p in params)


def test_several_observers_in_registration_order() -> None:
    calls: list[tuple[str, str]] = []
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with observe(lambda ev: calls.append(("a", ev.node.name))):
        with observe(lambda ev: calls.append(("b", ev.node.name))) as inner:
            assert isinstance(inner, observe)
            (x * x).sum().backward()
        (x * 3).sum().backward()
    assert calls == [("a", "sum"), ("b", "sum"), ("a", "mul"), ("b", "mul"),
                     ("a", "sum"), ("a", "mul")]


def test_remove_handle_and_nothing_observed_after_exit() -> None:
    seen: list[NodeEvent] = []
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with observe(seen.append):
        (x * x).sum().backward()
    n = len(seen)
    assert n == 2 and STATE.observers == ()
    (x * x).sum().backward()
    cr.grad((x * x).sum(), x)
    assert len(seen) == n
    h = observe(seen.append)
    (x.exp()).sum().backward()
    h.remove()
    h.remove()  # idempotent
    (x.exp()).sum().backward()
    assert len(seen) == n + 2 and STATE.observers == ()


def test_an_observer_that_raises_propagates_and_leaves_the_engine_usable() -> None:
    def boom(ev: NodeEvent) -> None:
        if ev.node.name == "mul":
            raise ValueError("observer failed at mul")

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    with pytest.raises(ValueError, match="observer failed at mul"), observe(boom):
        y.backward()
    assert STATE.observers == () and STATE.enabled and not STATE.in_backward
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_create_graph_under_observation() -> None:
    x = cr.tensor([0.5, -1.0], dtype=cr.float64, requires_grad=True)
    events: list[NodeEvent] = []
    with observe(events.append):
        (g,) = cr.grad((x ** 3).sum(), x, create_graph=True)
    assert events and all(isinstance(ev.grad_output, cr.Tensor) for ev in events)
    np.testing.assert_allclose(g.detach().numpy(), 3 * x.detach().numpy() ** 2)
    (h,) = cr.grad(g.sum(), x)  # the observed gradients are still differentiable
    np.testing.assert_allclose(h.detach().numpy(), 6 * x.detach().numpy())


def test_observe_refuses_a_non_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        observe(42)  # type: ignore[arg-type]
    assert STATE.observers == ()


def test_fast_path_is_untouched_without_observers() -> None:
    """With no observer the fast loop runs: a hook-free first-order backward never builds events
    (NodeEvent is only constructed by the general loop)."""
    import chainrule.autograd.engine as engine

    built: list[int] = []
    orig = engine.NodeEvent

    class Spy(orig):  # type: ignore[misc, valid-type]
        def __init__(self, *a: object) -> None:
            built.append(1)
            super().__init__(*a)

    engine.NodeEvent = Spy
    try:
        x = cr.tensor([1.0, 2.0], requires_grad=True)
        (x * x).sum().backward()
        assert not built
        with observe(lambda ev: None):
            (x * x).sum().backward()
        assert len(built) == 2
    finally:
        engine.NodeEvent = orig


def test_the_example_in_docs_engine_md_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "engine.md").read_text()
    section = text.split("## Observing the backward pass", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "<docs/engine.md: observing>", "exec"), {})
    out = capsys.readouterr().out
    assert "linear" in out and " us" in out
