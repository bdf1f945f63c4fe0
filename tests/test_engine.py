"""The engine's edge cases: graph shapes, accumulation, retain_graph, version counters, in-place
rules, hooks, captured inputs, higher order, grad mode and memory."""

from __future__ import annotations

import gc
import sys
import weakref

import numpy as np
import pytest

import chainrule as cr


def leaf(values, dtype=cr.float64) -> cr.Tensor:
    return cr.tensor(values, dtype=dtype, requires_grad=True)


# --- graph shapes -----------------------------------------------------------------------------


def test_diamond() -> None:
    a = leaf(3.0)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad.item() == 4.0


def test_reused_non_leaf() -> None:
    x = leaf([1.0, 2.0])
    y = x * x  # used three times below
    z = (y * y + y * 3 - y).sum()  # d/dx (x^4 + 2 x^2) = 4x^3 + 4x
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.array([1.0, 8.0]) + 4 * np.array([1, 2]))


def test_deep_chain_needs_no_recursion() -> None:
    x = leaf(1.0)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # well below the depth: a recursive walk would fail
    try:
        y.backward()
    finally:
        sys.setrecursionlimit(limit)
    np.testing.assert_allclose(x.grad.item(), 1.0001 ** 10_000, rtol=1e-10)


def test_deep_chain_frees_without_recursion() -> None:
    x = leaf(1.0)
    y = x
    for _ in range(50_000):
        y = y + 1.0
    ref = weakref.ref(y)
    del y  # dropping a 50,000-node chain must not overflow the C stack
    assert ref() is None


def test_gradient_accumulates_across_backward_calls() -> None:
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])


def test_two_roots_in_one_call() -> None:
    x = leaf(2.0)
    cr.autograd.backward([x * 3, x * x], [cr.tensor(1.0, dtype=cr.float64),
                                          cr.tensor(2.0, dtype=cr.float64)])
    assert x.grad.item() == 3 + 2 * 4


def test_retain_graph() -> None:
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_second_backward_without_retain_graph_raises() -> None:
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"second time.*retain_graph=True"):
        y.backward()


def test_second_backward_through_a_saves_nothing_op_raises() -> None:
    x = leaf([1.0, 2.0])
    y = (x + 1).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_backward_on_non_scalar_needs_gradient() -> None:
    x = leaf([1.0, 2.0])
    y = x * 2
    with pytest.raises(RuntimeError, match=r"only for scalar outputs.*shape \(2,\)"):
        y.backward()
    y.backward(cr.tensor([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 20.0])


def test_backward_with_wrong_gradient_shape_raises() -> None:
    x = leaf([1.0, 2.0])
    y = x * 2
    with pytest.raises(RuntimeError, match=r"gradient 0 has shape \(3,\).*\(2,\)"):
        y.backward(cr.ones(3))


def test_backward_on_tensor_without_grad_raises() -> None:
    x = cr.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="does not require grad"):
        (x * 2).sum().backward()


def test_root_gradient_is_copied() -> None:
    x = leaf([1.0, 2.0])
    g = cr.tensor([1.0, 1.0], dtype=cr.float64)
    x.backward(g)
    x.grad.add_(1.0)
    np.testing.assert_allclose(g.numpy(), [1.0, 1.0])


# --- version counters and in-place rules ---------------------------------------------------------


def test_inplace_change_to_saved_input_raises_naming_the_op() -> None:
    a = leaf([1.0, 2.0])
    w = cr.tensor([3.0, 4.0], dtype=cr.float64)
    y = (a * w).sum()  # mul saves w
    with cr.no_grad():
        w.mul_(2)
    with pytest.raises(RuntimeError, match=r"'mul'.*modified in place"):
        y.backward()


def test_inplace_change_to_unsaved_input_is_fine() -> None:
    a = leaf([1.0, 2.0])
    w = cr.tensor([3.0, 4.0], dtype=cr.float64)
    y = (a + w).sum()  # add saves nothing
    with cr.no_grad():
        w.mul_(2)
    y.backward()
    np.testing.assert_allclose(a.grad.numpy(), [1.0, 1.0])


def test_inplace_change_to_saved_output_raises() -> None:
    a = leaf([1.0, 2.0])
    y = a.exp()  # exp saves its output
    z = y.sum()
    with cr.no_grad():
        y.add_(1)
    with pytest.raises(RuntimeError, match="'exp'"):
        z.backward()


def test_inplace_on_leaf_requiring_grad_raises() -> None:
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        x.add_(1)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        x.zero_()
    with cr.no_grad():
        x.add_(1)
    np.testing.assert_allclose(x.detach().numpy(), [2.0, 3.0])


def test_inplace_on_non_leaf_records() -> None:
    x = leaf([1.0, 2.0])
    y = x * 2
    y.add_(1)
    y.mul_(y)  # y = (2x + 1)^2
    y.sum().backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), 4 * (2 * x.detach().numpy() + 1))


def test_inplace_add_on_non_leaf_keeps_values() -> None:
    x = leaf([1.0, 2.0])
    y = x * 2
    y.add_(1)
    np.testing.assert_allclose(y.detach().numpy(), [3.0, 5.0])
    assert y.grad_fn is not None and not y.is_leaf
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_inplace_on_a_view_of_a_recorded_tensor_is_not_silently_lost() -> None:
    """PyTorch writes an in-place op on a view through to its base (``h[0:2].mul_(10)`` changes
    ``h``). chainrule applies in-place ops out of place while recording and rebinds the view
    only, so the base keeps its old values. Either behaviour is acceptable here except that
    silent one: write through, or refuse with an error."""
    a = leaf([1.0, 2.0, 3.0])
    h = a * 1
    try:
        h[0:2].mul_(10)
    except RuntimeError:
        return
    np.testing.assert_allclose(h.numpy(), [10.0, 20.0, 3.0])


def test_inplace_on_a_view_without_grad_writes_through() -> None:
    b = cr.zeros(3)
    b[0:2].add_(5)
    b.reshape(3, 1)[2].fill_(1.0)
    np.testing.assert_allclose(b.numpy(), [5.0, 5.0, 1.0])


def test_grad_zero_() -> None:
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    x.grad.zero_()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0])
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_isub_on_leaf_under_no_grad() -> None:
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    before = x
    with cr.no_grad():
        x -= 0.5 * x.grad
    assert x is before and x.requires_grad and x.is_leaf
    np.testing.assert_allclose(x.detach().numpy(), [0.0, 0.0])


def test_isub_on_leaf_requiring_grad_outside_no_grad_raises() -> None:
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        x -= 1.0


def test_version_counter_counts_inplace_changes() -> None:
    x = cr.tensor([1.0, 2.0])
    v = x._version
    x.add_(1)
    x.mul_(2)
    x[0] = 5.0
    assert x._version == v + 3


def test_data_shares_memory_and_records_nothing() -> None:
    x = leaf([1.0, 2.0])
    d = x.data
    assert not d.requires_grad and d.is_leaf
    d.add_(1)  # allowed outside no_grad: .data is how optimisers write parameters
    np.testing.assert_allclose(x.detach().numpy(), [2.0, 3.0])
    x.data = cr.tensor([5.0, 6.0], dtype=cr.float64)
    np.testing.assert_allclose(x.detach().numpy(), [5.0, 6.0])
    assert x.requires_grad and x.is_leaf
    y = x.data * 2
    assert y.grad_fn is None


def test_detach_shares_memory_and_version() -> None:
    x = leaf([1.0, 2.0])
    y = x.exp()
    d = y.detach()
    assert not d.requires_grad
    d.add_(1)
    np.testing.assert_allclose(y.detach().numpy(), np.exp([1.0, 2.0]) + 1)
    with pytest.raises(RuntimeError, match="'exp'"):
        y.sum().backward()


# --- hooks, retain_grad, inputs= -----------------------------------------------------------------


def test_hook_on_leaf_sees_and_replaces_the_gradient() -> None:
    x = leaf([1.0, 2.0])
    seen = []

    def hook(g):
        seen.append(g.numpy().copy())
        return g * 10

    h = x.register_hook(hook)
    (x * 3).sum().backward()
    np.testing.assert_allclose(seen[0], [3.0, 3.0])
    np.testing.assert_allclose(x.grad.numpy(), [30.0, 30.0])
    h.remove()
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    assert len(seen) == 1


def test_hook_on_leaf_is_called_once_with_the_total_gradient() -> None:
    """PyTorch calls a leaf's hook once per backward, with the summed gradient (the diamond
    reaches the leaf by two edges). A nonlinear hook (clipping) shows the difference."""
    a = leaf(1.0)
    seen = []
    a.register_hook(lambda g: seen.append(g.item()))
    (a + a).backward()
    assert seen == [2.0]

    b = leaf(1.0)
    b.register_hook(lambda g: g.clamp(max=1.0))
    (b + b).backward()
    assert b.grad.item() == 1.0  # clip(2) = 1, not clip(1) + clip(1) = 2


def test_hook_on_non_leaf() -> None:
    x = leaf([1.0, 2.0])
    y = x * 2
    seen = []
    h = y.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 0.5)
    (y * y).sum().backward()
    np.testing.assert_allclose(seen[0], 2 * y.detach().numpy())
    np.testing.assert_allclose(x.grad.detach().numpy(), 0.5 * 2 * y.detach().numpy() * 2)
    h.remove()
    x.grad = None
    y = x * 2
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), 2 * y.detach().numpy() * 2)


def test_hook_on_tensor_without_grad_raises() -> None:
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.tensor([1.0]).register_hook(lambda g: g)


def test_retain_grad() -> None:
    x = leaf([1.0, 2.0])
    y = x * 2
    z = y * y
    y.retain_grad()
    assert y.retains_grad and not z.retains_grad
    z.sum().backward()
    np.testing.assert_allclose(y.grad.detach().numpy(), 2 * y.detach().numpy())
    assert z.grad is None
    x.retain_grad()  # no-op on a leaf
    assert x.grad is not None


def test_backward_inputs_limits_accumulation() -> None:
    a = leaf([1.0, 2.0])
    b = leaf([3.0, 4.0])
    (a * b).sum().backward(inputs=[a])
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 4.0])
    assert b.grad is None


def test_backward_inputs_non_leaf() -> None:
    a = leaf([1.0, 2.0])
    y = a * 2
    (y * y).sum().backward(inputs=[y])
    np.testing.assert_allclose(y.grad.detach().numpy(), 2 * y.detach().numpy())
    assert a.grad is None


def test_grad_leaves_dot_grad_untouched() -> None:
    a = leaf([1.0, 2.0])
    (g,) = cr.grad((a * a).sum(), a)
    np.testing.assert_allclose(g.numpy(), [2.0, 4.0])
    assert a.grad is None


def test_grad_allow_unused() -> None:
    a = leaf([1.0, 2.0])
    b = leaf([3.0])
    out = (a * 2).sum()
    with pytest.raises(RuntimeError, match=r"input 1.*allow_unused=True"):
        cr.grad(out, [a, b], retain_graph=True)
    ga, gb = cr.grad(out, [a, b], allow_unused=True, retain_graph=True)
    assert gb is None
    np.testing.assert_allclose(ga.numpy(), [2.0, 2.0])
    ga, gb = cr.grad(out, [a, b], allow_unused=True, materialize_grads=True)
    np.testing.assert_allclose(gb.numpy(), [0.0])


def test_grad_with_grad_outputs() -> None:
    a = leaf([1.0, 2.0])
    (g,) = cr.grad(a * a, a, cr.tensor([1.0, 3.0], dtype=cr.float64))
    np.testing.assert_allclose(g.numpy(), [2.0, 12.0])


def test_grad_of_an_intermediate() -> None:
    a = leaf([1.0, 2.0])
    y = a.exp()
    (g,) = cr.grad((y * y).sum(), y)
    np.testing.assert_allclose(g.numpy(), 2 * np.exp([1.0, 2.0]))


# --- higher order -----------------------------------------------------------------------------


def test_double_backward_x_cubed() -> None:
    x = leaf(2.0)
    y = x ** 3
    (dy,) = cr.grad(y, x, create_graph=True)
    assert dy.requires_grad
    assert dy.item() == pytest.approx(12.0)
    (d2y,) = cr.grad(dy, x, create_graph=True)
    assert d2y.item() == pytest.approx(12.0)  # 6x
    (d3y,) = cr.grad(d2y, x)
    assert d3y.item() == pytest.approx(6.0)


def test_backward_create_graph_then_backward_of_grad() -> None:
    x = leaf([1.0, 2.0])
    (x ** 3).sum().backward(create_graph=True)
    g = x.grad
    assert g.requires_grad
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), 6 * x.detach().numpy())


def test_gradient_penalty_style_mixed_partial() -> None:
    x = leaf([0.5, -1.0])
    w = leaf([2.0, 3.0])
    (gx,) = cr.grad((w * x.sin()).sum(), x, create_graph=True)  # gx = w cos x
    (gx * gx).sum().backward()  # d/dw sum (w cos x)^2 = 2 w cos^2 x
    np.testing.assert_allclose(w.grad.numpy(),
                               2 * w.detach().numpy() * np.cos(x.detach().numpy()) ** 2)


# --- grad mode ------------------------------------------------------------------------------------


def test_no_grad_and_enable_grad_context_managers() -> None:
    x = leaf([1.0])
    with cr.no_grad():
        y = x * 2
        assert not cr.is_grad_enabled()
        with cr.enable_grad():
            z = x * 2
            assert cr.is_grad_enabled()
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad


def test_no_grad_and_enable_grad_decorators() -> None:
    x = leaf([1.0])

    @cr.no_grad()
    def f(t):
        return t * 2

    @cr.enable_grad()
    def g(t):
        return t * 2

    assert not f(x).requires_grad
    with cr.no_grad():
        assert g(x).requires_grad
    assert cr.is_grad_enabled()


def test_grad_mode_restored_after_exception() -> None:
    with pytest.raises(ValueError), cr.no_grad():
        raise ValueError
    assert cr.is_grad_enabled()


def test_set_grad_enabled() -> None:
    x = leaf([1.0])
    with cr.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert cr.is_grad_enabled()
    cr.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        cr.set_grad_enabled(True)


def test_backward_leaves_grad_mode_as_it_was() -> None:
    x = leaf([1.0])
    with cr.no_grad():
        y = x * 1
    assert not y.requires_grad
    (x * 2).sum().backward(create_graph=True)
    assert cr.is_grad_enabled()


# --- memory -----------------------------------------------------------------------------------


def test_gradients_of_two_leaves_do_not_share_memory() -> None:
    a = leaf([1.0, 2.0])
    b = leaf([3.0, 4.0])
    (a + b).sum().backward()
    a.grad.mul_(100)
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 1.0])
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())


def test_create_graph_gradients_do_not_alias_and_are_writeable() -> None:
    """With create_graph the engine hands each leaf a Tensor; ``add``'s vjp returns the same
    gradient for both inputs, so without a copy a.grad *is* b.grad (and a read-only broadcast
    view, so ``zero_()`` fails). PyTorch clones into .grad in this case."""
    a = leaf([1.0, 2.0])
    b = leaf([3.0, 4.0])
    (a + b).sum().backward(create_graph=True)
    assert a.grad is not b.grad
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    with cr.no_grad():
        a.grad.zero_()
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 1.0])


def test_leaf_gradient_and_retained_gradient_do_not_share_memory() -> None:
    a = leaf([1.0, 2.0])
    y = a * 1.0
    y.retain_grad()
    (a + y).sum().backward()
    assert not np.shares_memory(a.grad.numpy(), y.grad.numpy())


def test_gradient_does_not_alias_a_broadcast_view() -> None:
    a = leaf([[1.0, 2.0]])
    (a.expand(3, 2) * 1.0).sum().backward()
    assert a.grad.numpy().flags.writeable
    np.testing.assert_allclose(a.grad.numpy(), [[3.0, 3.0]])


def test_saved_arrays_are_freed_after_backward() -> None:
    x = leaf([1.0, 2.0])
    y = x.exp()
    z = (y * x).sum()
    nodes = [z.grad_fn, y.grad_fn]
    z.backward()
    for n in nodes:
        assert n.x is None and n.out is None and n.res is None


def test_saved_arrays_are_kept_with_retain_graph() -> None:
    x = leaf([1.0, 2.0])
    y = x.exp()
    y.sum().backward(retain_graph=True)
    assert y.grad_fn.x is not None and y.grad_fn.out is not None


def test_graph_is_freed_by_refcount_when_the_output_is_dropped() -> None:
    x = leaf(np.ones(3))
    w = np.full(3, 2.0)
    ref = weakref.ref(w)
    gc.disable()
    try:
        y = (x * cr.from_numpy(w)).exp().sum()
        del w
        assert ref() is not None  # the graph keeps the saved array
        del y
        assert ref() is None  # no reference cycle: freed at once, without the collector
    finally:
        gc.enable()


def test_inplace_cast_failure_is_a_runtime_error_and_leaves_the_tensor_alone():
    """As PyTorch: an in-place op whose float result cannot go into an integer tensor raises
    RuntimeError naming the op and both dtypes; nothing is written, the version is unchanged."""
    a = cr.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match=r"sub_: result type float64 can't be cast to the "
                                           r"desired output type int64"):
        a -= cr.tensor([0.5, 0.5, 0.5], dtype=cr.float64)
    assert a.tolist() == [1, 2, 3] and a._version == 0
    with pytest.raises(ValueError, match=r"add_: cannot apply \(4,\) in place to \(3,\)"):
        cr.ones(3).add_(cr.ones(4))
    b = cr.ones(3)
    b -= 0.25  # the host fast path: same values as out of place
    assert b.tolist() == [0.75, 0.75, 0.75] and b._version == 1
