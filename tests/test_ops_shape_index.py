"""Reductions, shape ops and indexing beyond the registry sweep: tuple returns, which index a
gradient goes to, scatter-add gradients of repeated indices, setitem, views, error messages, and
PyTorch parity of the public functions (skipped when torch is not installed)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr

RNG = np.random.default_rng(0)


def randn(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


# --- max / min ----------------------------------------------------------------------------------


def test_max_dim_returns_values_and_indices() -> None:
    x = cr.tensor([[1.0, 3.0, 2.0], [5.0, 4.0, 0.0]], requires_grad=True)
    out = cr.max(x, 1)
    values, indices = out
    assert out.values is values and out.indices is indices
    np.testing.assert_array_equal(values.detach().numpy(), [3.0, 5.0])
    np.testing.assert_array_equal(indices.numpy(), [1, 0])
    assert indices.dtype == np.int64 and not indices.requires_grad
    kept = x.max(dim=0, keepdim=True)
    assert kept.values.shape == (1, 3) and kept.indices.shape == (1, 3)
    mn = x.min(1)
    np.testing.assert_array_equal(mn.indices.numpy(), [0, 2])


def test_max_dim_gradient_goes_to_the_returned_index_on_ties() -> None:
    x = cr.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], requires_grad=True)
    values, indices = cr.max(x, 1)
    values.sum().backward()
    expected = np.zeros((2, 3))
    expected[np.arange(2), indices.numpy()] = 1.0
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    np.testing.assert_array_equal(indices.numpy(), [1, 0])  # the first maximum, as PyTorch


def test_full_max_and_amax_share_the_gradient_among_ties() -> None:
    x = cr.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], requires_grad=True)
    cr.max(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0.5, 0.5], [0, 0, 0]])
    x.grad = None
    cr.amax(x, 1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0.5, 0.5], [0.5, 0.5, 0]])
    x.grad = None
    cr.amin(x, 0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 0, 0], [0, 1, 1]])


def test_max_with_a_tensor_is_elementwise_maximum() -> None:
    a, b = cr.tensor([1.0, 5.0]), cr.tensor([3.0, 2.0])
    np.testing.assert_array_equal(cr.max(a, b).numpy(), [3.0, 5.0])
    np.testing.assert_array_equal(cr.min(a, b).numpy(), [1.0, 2.0])


def test_max_dim_second_order() -> None:
    x = cr.tensor(randn(3, 4), requires_grad=True)
    assert cr.gradgradcheck(lambda t: cr.max(t * t, 1).values, [x])


# --- split / chunk / narrow ---------------------------------------------------------------------


def test_split_and_chunk_return_tuples_of_views() -> None:
    x = cr.tensor(np.arange(10.0).reshape(5, 2), requires_grad=True)
    pieces = cr.split(x, 2)
    assert isinstance(pieces, tuple) and [p.shape for p in pieces] == [(2, 2), (2, 2), (1, 2)]
    a, b = x.split([1, 4])
    assert a.shape == (1, 2) and b.shape == (4, 2)
    chunks = x.chunk(2, dim=0)
    assert isinstance(chunks, tuple) and [c.shape for c in chunks] == [(3, 2), (2, 2)]
    assert np.shares_memory(chunks[1]._data, x._data)
    (chunks[0] * 2).sum().backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.numpy(), [[2, 2], [2, 2], [2, 2], [0, 0], [0, 0]])
    x.grad = None
    total = sum((p * (i + 1)).sum() for i, p in enumerate(cr.split(x, 1, dim=1)))
    total.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.tile([1.0, 2.0], (5, 1)))


def test_split_pieces_are_differentiable_twice() -> None:
    x = cr.tensor(randn(4, 3), requires_grad=True)
    assert cr.gradgradcheck(lambda t: cr.chunk(t * t, 3, dim=1)[1], [x])
    assert cr.gradcheck(lambda t: cr.narrow(t, 0, 1, 2) ** 2, [x])


# --- advanced indexing -------------------------------------------------------------------------


def test_repeated_indices_accumulate_their_gradients() -> None:
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 1]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 1.0, 0.0])
    w = cr.tensor(randn(5, 3), requires_grad=True)
    idx = cr.tensor(np.array([[4, 0], [4, 4]]))
    g = randn(2, 2, 3)
    w[idx].backward(cr.tensor(g))
    expected = np.zeros((5, 3))
    np.add.at(expected, idx.numpy(), g)
    np.testing.assert_allclose(w.grad.numpy(), expected)


def test_bool_mask_indexing() -> None:
    x = cr.tensor([[1.0, -2.0], [-3.0, 4.0]], requires_grad=True)
    picked = x[x > 0]
    np.testing.assert_array_equal(picked.detach().numpy(), [1.0, 4.0])
    (picked * cr.tensor([10.0, 20.0])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[10.0, 0.0], [0.0, 20.0]])
    rows = x[cr.tensor([True, False])]
    assert rows.shape == (1, 2)


def test_mixed_index_and_tensor_index_in_tuple() -> None:
    x = cr.tensor(randn(3, 4, 2), requires_grad=True)
    idx = cr.tensor(np.array([2, 0, 2]))
    assert cr.gradcheck(lambda t: t[idx, 1:3, 0], [x])
    assert cr.gradcheck(lambda t: t[..., [1, 0]], [x])
    assert cr.gradgradcheck(lambda t: (t * t)[[0, 0], :, None], [x])


def test_basic_indexing_is_a_view_and_advanced_is_a_copy() -> None:
    x = cr.tensor(randn(3, 4))
    row = x[1]
    assert np.shares_memory(row._data, x._data) and row._vc is x._vc
    elem = x[1, 2]
    assert elem.shape == () and np.shares_memory(elem._data, x._data)
    picked = x[[1, 2]]
    assert not np.shares_memory(picked._data, x._data) and picked._vc is not x._vc
    np.testing.assert_array_equal(x[::2, -1].numpy(), x.numpy()[::2, -1])
    assert cr.gradcheck(lambda t: t[::-1, None, 1], [cr.tensor(randn(3, 2), requires_grad=True)])


def test_views_share_the_version_counter() -> None:
    x = cr.tensor(randn(2, 3))
    for v in (x.T, x.permute(1, 0), x.transpose(0, 1), x.flip(0), x.unsqueeze(0), x[:, 1:]):
        assert np.shares_memory(v._data, x._data) and v._vc is x._vc


# --- setitem / index_put ------------------------------------------------------------------------


def test_setitem_on_a_non_leaf_records_index_put() -> None:
    x = cr.tensor(randn(3, 2), requires_grad=True)
    v = cr.tensor([5.0, 6.0], requires_grad=True)
    y = x * 2
    y[1] = v
    assert y.grad_fn is not None and y.grad_fn.name == "index_put"
    np.testing.assert_array_equal(y.detach().numpy()[1], [5.0, 6.0])
    y.backward(cr.tensor(np.arange(6.0).reshape(3, 2)))
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 2.0], [0.0, 0.0], [8.0, 10.0]])
    np.testing.assert_array_equal(v.grad.numpy(), [2.0, 3.0])


def test_setitem_broadcast_value_and_mask() -> None:
    x = cr.tensor(randn(2, 3), requires_grad=True)
    s = cr.tensor(0.5, requires_grad=True)
    y = x + 0
    y[y > 0] = s
    y.sum().backward()
    pos = x.detach().numpy() > 0
    np.testing.assert_array_equal(x.grad.numpy(), (~pos).astype(float))
    assert s.grad.item() == pos.sum()
    f = lambda a, b: cr.index_put(a, b, (slice(None), [0, 2]))  # noqa: E731
    a, b = cr.tensor(randn(2, 3), requires_grad=True), cr.tensor(randn(2, 1), requires_grad=True)
    assert cr.gradcheck(f, [a, b]) and cr.gradgradcheck(f, [a, b])


def test_setitem_under_no_grad_mutates_in_place() -> None:
    x = cr.tensor(randn(3), requires_grad=True)
    y = x * 1
    z = y * y  # saves y
    with cr.no_grad():
        y[0] = 0.0
        x[cr.tensor([1, 2])] = cr.tensor([7.0, 8.0])
    assert y.detach().numpy()[0] == 0.0
    assert x.detach().numpy()[1] == 7.0 and x.detach().numpy()[2] == 8.0
    with pytest.raises(RuntimeError, match="modified in place"):
        z.sum().backward()


def test_setitem_on_a_leaf_that_requires_grad_refuses() -> None:
    x = cr.tensor(randn(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x[0] = 1.0


# --- gather / scatter_add / index_select / masked_fill --------------------------------------------


def test_gather_and_scatter_add() -> None:
    x = cr.tensor(randn(3, 4), requires_grad=True)
    idx = cr.tensor(np.array([[0, 0], [3, 1], [2, 2]]))
    out = x.gather(1, idx)
    np.testing.assert_array_equal(out.detach().numpy(),
                                  np.take_along_axis(x.detach().numpy(), idx.numpy(), 1))
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2, 0, 0, 0], [0, 1, 0, 1], [0, 0, 2, 0]])
    src = cr.tensor(randn(3, 3), requires_grad=True)  # larger than the index: the rest is unused
    f = lambda a, s: cr.scatter_add(a, 1, idx, s)  # noqa: E731
    assert cr.gradcheck(f, [x, src]) and cr.gradgradcheck(f, [x, src])


def test_index_select_and_masked_fill() -> None:
    x = cr.tensor(randn(3, 4), requires_grad=True)
    assert cr.gradcheck(lambda t: t.index_select(1, cr.tensor([3, 0, 3])), [x])
    mask = cr.tensor(np.array([[True, False, False, True]] * 3))
    y = x.masked_fill(mask, -1.0)
    assert (y.detach().numpy()[:, 0] == -1.0).all() and y.dtype == x.dtype
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.where(mask.numpy(), 0.0, 1.0))


def test_composites_are_differentiable_twice() -> None:
    x = cr.tensor(randn(1, 2, 4), requires_grad=True)
    for mode in ("reflect", "replicate", "circular"):
        assert cr.gradgradcheck(lambda t, m=mode: cr.pad(t * t, (2, 1), mode=m), [x])
    assert cr.gradgradcheck(lambda t: cr.topk(t * t, 2).values, [x])
    assert cr.gradgradcheck(lambda t: cr.sort(t * t, 1, descending=True).values, [x])
    assert cr.gradgradcheck(lambda t: cr.repeat(t * t, (2, 1, 1)), [x])


# --- reductions ----------------------------------------------------------------------------------


def test_prod_gradient_with_zeros() -> None:
    x = cr.tensor([2.0, 0.0, 3.0], requires_grad=True)
    x.prod().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 6.0, 0.0])
    x = cr.tensor([[2.0, 0.0, 0.0], [1.0, 2.0, 4.0]], requires_grad=True)
    x.prod(1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0, 0], [8, 4, 2]])


def test_zero_norm_and_constant_std_have_zero_gradient() -> None:
    x = cr.zeros(3, requires_grad=True)
    x.norm().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0.0)
    y = cr.ones(4, requires_grad=True)
    y.std().backward()
    np.testing.assert_array_equal(y.grad.numpy(), 0.0)


def test_logsumexp_is_stable() -> None:
    x = cr.tensor([1000.0, 1000.0], dtype=cr.float32, requires_grad=True)
    out = cr.logsumexp(x, 0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.item(), 1000 + math.log(2), rtol=1e-6)
    out.backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.5, 0.5])
    assert cr.logsumexp(cr.tensor([-math.inf, -math.inf]), 0).item() == -math.inf


def test_nondifferentiable_functions_return_constants() -> None:
    x = cr.tensor([[-1.5, 2.5], [0.5, -0.2]], requires_grad=True)
    for out in (cr.argmax(x), cr.argmin(x, 1), x.sign(), cr.floor(x), cr.ceil(x), cr.round(x),
                cr.trunc(x), cr.argsort(x)):
        assert not out.requires_grad
    assert cr.argmax(x).item() == 1 and cr.argmax(x, keepdim=True).shape == (1, 1)
    np.testing.assert_array_equal(x.argmin(1).numpy(), [0, 1])


# --- error messages --------------------------------------------------------------------------


@pytest.mark.parametrize(("fn", "pattern"), [
    (lambda: cr.zeros(3)[5],
     r"^getitem: index 5 is out of bounds for dim 0 with size 3"),
    (lambda: cr.zeros(3)[[0, 5]], r"^getitem: index 5 is out of bounds for dim 0 with size 3"),
    (lambda: cr.zeros(3)[0, 1], r"^getitem: too many indices.*\(3,\)"),
    (lambda: cr.cat([cr.zeros(2, 3), cr.zeros(2, 3), cr.zeros(2, 4)], 0),
     r"^cat: tensors 0 and 2 have shapes \(2, 3\) and \(2, 4\): all dims except dim 0 must"),
    (lambda: cr.cat([cr.zeros(2, 3), cr.zeros(3, 4)], 1),
     r"^cat: tensors 0 and 1 have shapes \(2, 3\) and \(3, 4\): all dims except dim 1 must"),
    (lambda: cr.cat([cr.zeros(()), cr.zeros(())]), r"^cat: tensor 0 is 0-d.*stack"),
    (lambda: cr.stack([cr.zeros(2, 3), cr.zeros(3, 2)]),
     r"^stack: tensors 0 and 1 have shapes \(2, 3\) and \(3, 2\)"),
    (lambda: cr.zeros(2, 3).permute(0, 0), r"^permute: dims \(0, 0\).*\(2, 3\)"),
    (lambda: cr.zeros(2, 3, 4).t(), r"^t: got a 3-D tensor of shape \(2, 3, 4\)"),
    (lambda: cr.zeros(2, 3).transpose(0, 2), r"^transpose: dim 2 is out of range"),
    (lambda: cr.zeros(4).split([1, 2]), r"^split: sections \[1, 2\] sum to 3 but dim 0 has size 4"),
    (lambda: cr.pad(cr.zeros(2, 3), (1, 2, 3)), r"^pad: padding \(1, 2, 3\).*\(2, 3\)"),
    (lambda: cr.zeros(2, 3).gather(1, cr.tensor([0, 1])), r"^gather: index of shape \(2,\)"),
    (lambda: cr.zeros(2, 3).gather(1, cr.tensor([[0.0]])), r"^gather: index has dtype float"),
    (lambda: cr.zeros(2).repeat(2, 1, 1)[0, 0, 5], r"^getitem: index 5 .*dim 2"),
    (lambda: cr.zeros(2, 3).repeat(2), r"^repeat: 1 repeat count"),
    (lambda: cr.zeros(6).unflatten(0, (4, -1)), r"^unflatten: sizes \(4, -1\)"),
    (lambda: cr.zeros(2, 3).squeeze(3), r"^squeeze: dim 3 is out of range"),
    (lambda: cr.norm(cr.zeros(3), "nuc"), r"^norm: p = 'nuc'"),
    (lambda: cr.index_put(cr.zeros(2, 3), cr.zeros(4), 0),
     r"^index_put: cannot assign a value of shape \(4,\) to x\[index\] of shape \(3,\)"),
])
def test_errors_name_the_op_and_the_shapes(fn: Callable[[], Any], pattern: str) -> None:
    with pytest.raises((ValueError, IndexError, TypeError), match=pattern):
        fn()


# --- PyTorch parity ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torch() -> Any:
    return pytest.importorskip("torch")


def _flat(out: Any) -> list:
    return list(out) if isinstance(out, tuple) else [out]


def assert_parity(torch: Any, fn: Callable[..., Any], *arrays: np.ndarray) -> None:
    """``fn(module, *tensors)`` in chainrule and in torch: same values, same gradients."""
    ours_in = [cr.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    theirs_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    ours, theirs = _flat(fn(cr, *ours_in)), _flat(fn(torch, *theirs_in))
    assert len(ours) == len(theirs)
    loss_ours, loss_theirs = [], []
    rng = np.random.default_rng(1)
    for o, t in zip(ours, theirs):
        assert o.shape == tuple(t.shape), (o.shape, t.shape)
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)
        if o.requires_grad:
            u = rng.standard_normal(o.shape)
            loss_ours.append((o * cr.tensor(u)).sum())
            loss_theirs.append((t * torch.tensor(u)).sum())
    if not loss_ours:
        return
    sum(loss_ours[1:], loss_ours[0]).backward()
    sum(loss_theirs[1:], loss_theirs[0]).backward()
    for a, b in zip(ours_in, theirs_in):
        if a.requires_grad:
            expected = np.zeros(a.shape) if b.grad is None else b.grad.numpy()
            got = np.zeros(a.shape) if a.grad is None else a.grad.numpy()
            np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def _fn(m: Any) -> Any:
    """``torch.nn.functional`` for torch, chainrule itself for chainrule."""
    return m.nn.functional if m.__name__ == "torch" else m


TIES = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
ZEROS = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 1.5], [1.0, 2.0, -1.0]])

PARITY: list[tuple[str, Callable[..., Any], tuple]] = [
    ("var", lambda m, x: m.var(x), (randn(3, 4),)),
    ("var dim", lambda m, x: m.var(x, 1, keepdim=True), (randn(3, 4),)),
    ("var biased", lambda m, x: m.var(x, (0, 2), unbiased=False), (randn(2, 3, 2),)),
    ("var correction", lambda m, x: m.var(x, 0, correction=0), (randn(3, 4),)),
    ("std", lambda m, x: m.std(x, -1), (randn(3, 4),)),
    ("std method", lambda m, x: x.std(0, False, True), (randn(3, 4),)),
    ("max all", lambda m, x: m.max(x), (TIES,)),
    ("max dim", lambda m, x: m.max(x, 1), (TIES,)),
    ("max dim keepdim", lambda m, x: x.max(0, keepdim=True), (randn(3, 4),)),
    ("min dim", lambda m, x: m.min(x, -1), (TIES,)),
    ("min all", lambda m, x: x.min(), (TIES,)),
    ("amax ties", lambda m, x: m.amax(x, 1), (TIES,)),
    ("amin tuple", lambda m, x: m.amin(x, (0, 1), keepdim=True), (TIES,)),
    ("prod", lambda m, x: m.prod(x), (randn(2, 3),)),
    ("prod dim zeros", lambda m, x: m.prod(x, 1), (ZEROS,)),
    ("prod dim keepdim", lambda m, x: x.prod(0, keepdim=True), (ZEROS,)),
    ("prod one zero", lambda m, x: m.prod(x), (np.array([2.0, 0.0, 3.0]),)),
    ("logsumexp", lambda m, x: m.logsumexp(x, 1), (randn(3, 4),)),
    ("logsumexp tuple", lambda m, x: m.logsumexp(x, (0, 1), keepdim=True), (randn(3, 4),)),
    ("norm", lambda m, x: m.norm(x), (randn(3, 4),)),
    ("norm dim", lambda m, x: m.norm(x, 2, 1, True), (randn(3, 4),)),
    ("norm 1", lambda m, x: m.norm(x, 1, 0), (randn(3, 4),)),
    ("norm inf", lambda m, x: m.norm(x, math.inf, 1), (randn(3, 4),)),
    ("norm inf ties", lambda m, x: m.norm(x, math.inf), (np.array([1.0, -3.0, 3.0]),)),
    ("norm 3", lambda m, x: m.norm(x, 3, 1), (randn(3, 4),)),
    ("norm 0.5", lambda m, x: m.norm(x, 0.5), (randn(3, 4),)),
    ("norm fro", lambda m, x: m.norm(x, "fro"), (randn(3, 4),)),
    ("norm zero row", lambda m, x: m.norm(x, dim=1), (np.array([[0.0, 0.0], [3.0, 4.0]]),)),
    ("transpose", lambda m, x: m.transpose(x, 0, 2), (randn(2, 3, 4),)),
    ("transpose neg", lambda m, x: x.transpose(-1, -2), (randn(2, 3, 4),)),
    ("t", lambda m, x: m.t(x), (randn(2, 3),)),
    ("t 1-d", lambda m, x: x.t(), (randn(3),)),
    ("T", lambda m, x: x.T, (randn(3, 2),)),
    ("mT", lambda m, x: x.mT, (randn(2, 3, 2),)),
    ("permute", lambda m, x: m.permute(x, (2, 0, 1)), (randn(2, 3, 4),)),
    ("permute method", lambda m, x: x.permute(1, -1, 0), (randn(2, 3, 4),)),
    ("squeeze", lambda m, x: m.squeeze(x), (randn(2, 1, 3, 1),)),
    ("squeeze dim", lambda m, x: x.squeeze(1), (randn(2, 1, 3, 1),)),
    ("squeeze not 1", lambda m, x: x.squeeze(0), (randn(2, 1, 3, 1),)),
    ("squeeze tuple", lambda m, x: m.squeeze(x, (0, 1, -1)), (randn(2, 1, 3, 1),)),
    ("unsqueeze", lambda m, x: m.unsqueeze(x, -1), (randn(2, 3),)),
    ("unsqueeze 0-d", lambda m, x: x.unsqueeze(0), (randn(),)),
    ("flatten", lambda m, x: m.flatten(x), (randn(2, 3, 4),)),
    ("flatten range", lambda m, x: x.flatten(1, 2), (randn(2, 3, 4, 2),)),
    ("flatten 0-d", lambda m, x: x.flatten(), (randn(),)),
    ("unflatten", lambda m, x: m.unflatten(x, 1, (2, -1)), (randn(3, 6),)),
    ("cat", lambda m, x, y: m.cat([x, y, x], 1), (randn(2, 3), randn(2, 1))),
    ("cat neg dim", lambda m, x, y: m.cat((x, y), -1), (randn(2, 3), randn(2, 1))),
    ("stack", lambda m, x, y: m.stack([x, y], 1), (randn(2, 3), randn(2, 3))),
    ("stack last", lambda m, x, y: m.stack([x, y, x], -1), (randn(2, 3), randn(2, 3))),
    ("split size", lambda m, x: m.split(x, 2), (randn(5, 2),)),
    ("split sections", lambda m, x: x.split([1, 3], dim=1), (randn(2, 4),)),
    ("chunk", lambda m, x: m.chunk(x, 3, 1), (randn(2, 7),)),
    ("chunk fewer", lambda m, x: x.chunk(4), (randn(6),)),
    ("narrow", lambda m, x: m.narrow(x, 1, 1, 2), (randn(2, 4),)),
    ("pad", lambda m, x: _fn(m).pad(x, (1, 2)), (randn(2, 3),)),
    ("pad value", lambda m, x: _fn(m).pad(x, (1, 0, 2, 1), value=0.5), (randn(2, 3),)),
    ("pad crop", lambda m, x: _fn(m).pad(x, (-1, 2)), (randn(2, 4),)),
    ("pad reflect", lambda m, x: _fn(m).pad(x, (2, 1), mode="reflect"), (randn(1, 2, 4),)),
    ("pad reflect 2d", lambda m, x: _fn(m).pad(x, (1, 2, 2, 1), mode="reflect"),
     (randn(1, 1, 3, 4),)),
    ("pad replicate", lambda m, x: _fn(m).pad(x, (2, 3, 1, 0), mode="replicate"),
     (randn(1, 2, 3, 2),)),
    ("pad circular", lambda m, x: _fn(m).pad(x, (1, 2), mode="circular"), (randn(1, 2, 3),)),
    ("flip", lambda m, x: m.flip(x, (0, 2)), (randn(2, 3, 2),)),
    ("flip method", lambda m, x: x.flip(-1), (randn(2, 3),)),
    ("repeat", lambda m, x: x.repeat(2, 3), (randn(2, 3),)),
    ("repeat new dims", lambda m, x: x.repeat(2, 1, 2), (randn(3),)),
    ("getitem basic", lambda m, x: x[1:, None, ..., 0], (randn(3, 4, 2),)),
    ("getitem int", lambda m, x: x[-1], (randn(3, 4),)),
    ("getitem scalar", lambda m, x: x[1, 2], (randn(3, 4),)),
    ("getitem list", lambda m, x: x[[0, 0, 2]], (randn(3, 4),)),
    ("getitem tensor", lambda m, x, i: x[i], (randn(4, 2), np.array([[3, 0], [3, 3]]))),
    ("getitem mask", lambda m, x, k: x[k], (randn(3, 2), np.array([True, False, True]))),
    ("getitem mixed", lambda m, x, i: x[i, :, i], (randn(3, 2, 3), np.array([2, 0, 2]))),
    ("getitem gt", lambda m, x: x[x > 0], (randn(3, 4),)),
    ("index_select", lambda m, x, i: m.index_select(x, 1, i), (randn(2, 4), np.array([3, 0, 3]))),
    ("gather", lambda m, x, i: m.gather(x, 0, i), (randn(3, 2), np.array([[2, 0], [2, 2]]))),
    ("scatter_add", lambda m, x, s, i: m.scatter_add(x, 1, i, s),
     (randn(2, 4), randn(2, 3), np.array([[3, 3, 0], [1, 2, 1]]))),
    ("masked_fill", lambda m, x, k: m.masked_fill(x, k, 2.0),
     (randn(2, 3), np.array([[True, False, True], [False, False, True]]))),
    ("sort", lambda m, x: m.sort(x, 1), (randn(3, 4),)),
    ("sort descending", lambda m, x: m.sort(x, 0, descending=True), (randn(3, 4),)),
    ("topk", lambda m, x: m.topk(x, 2), (randn(3, 4),)),
    ("topk smallest", lambda m, x: m.topk(x, 2, 0, largest=False), (randn(3, 4),)),
    ("argmax", lambda m, x: (m.argmax(x), m.argmax(x, 1), m.argmax(x, 0, True)), (randn(3, 4),)),
    ("argmin", lambda m, x: (m.argmin(x), x.argmin(-1)), (randn(3, 4),)),
    ("argsort", lambda m, x: (m.argsort(x), m.argsort(x, 0, descending=True)), (randn(3, 4),)),
    ("rounding", lambda m, x: (m.sign(x), m.floor(x), m.ceil(x), m.round(x), m.trunc(x)),
     (np.array([-1.5, -0.5, 0.0, 0.5, 1.5, 2.5, 2.7]),)),
    ("round decimals", lambda m, x: m.round(x, decimals=1), (np.array([0.25, 1.37, -2.71]),)),
]


@pytest.mark.parametrize(("fn", "arrays"), [p[1:] for p in PARITY], ids=[p[0] for p in PARITY])
def test_matches_torch(torch: Any, fn: Callable[..., Any], arrays: tuple) -> None:
    assert_parity(torch, fn, *arrays)


def test_chunk_of_an_empty_dim_matches_torch(torch: Any) -> None:
    ours = cr.chunk(cr.zeros(0, 2), 3)
    theirs = torch.chunk(torch.zeros(0, 2), 3)
    assert [p.shape for p in ours] == [tuple(p.shape) for p in theirs]
