"""matmul, einsum and the fused ops (linear, softmax, log_softmax, cross_entropy, mse_loss):
PyTorch parity of values and gradients, teaching errors, layouts and dtypes. Finite-difference
gradients of every primitive are in the registry sweep (test_op_sweep.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from tests.helpers import lazy_torch as torch

RNG = np.random.default_rng(0)


def _pair(*arrays: np.ndarray) -> tuple[list, list]:
    ours = [cr.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    theirs = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    return ours, theirs


def _check(fn_ours: Any, fn_torch: Any, *arrays: np.ndarray, rtol: float = 1e-10) -> None:
    """Forward values and the gradients of every float input agree with PyTorch."""
    ours, theirs = _pair(*arrays)
    y, yt = fn_ours(*ours), fn_torch(*theirs)
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=rtol, atol=1e-12)
    u = RNG.standard_normal(y.shape)
    y.backward(cr.tensor(u))
    yt.backward(torch.tensor(u))
    for a, at in zip(ours, theirs):
        if a.requires_grad:
            assert a.grad.shape == a.shape
            np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy(), rtol=rtol, atol=1e-12)


# --- matmul ---------------------------------------------------------------------------------------

MATMUL_SHAPES = [
    ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)),
    ((1, 2, 3), (5, 3, 4)), ((6, 1, 2, 3), (5, 3, 4)), ((3,), (5, 3, 4)), ((5, 2, 3), (3,)),
    ((2, 1, 2, 3), (3,)), ((3,), (2, 1, 3, 4)), ((1, 1), (1, 1)), ((4, 1), (1, 5)),
]


@pytest.mark.parametrize(("sa", "sb"), MATMUL_SHAPES)
def test_matmul_matches_torch(sa: tuple, sb: tuple) -> None:
    _check(lambda a, b: a @ b, lambda a, b: a @ b, RNG.standard_normal(sa),
           RNG.standard_normal(sb))


def test_matmul_wrappers_match_torch() -> None:
    r = RNG.standard_normal
    _check(cr.mm, torch.mm, r((2, 3)), r((3, 4)))
    _check(cr.bmm, torch.bmm, r((2, 2, 3)), r((2, 3, 4)))
    _check(cr.mv, torch.mv, r((2, 3)), r((3,)))
    _check(cr.dot, torch.dot, r((3,)), r((3,)))
    _check(cr.outer, torch.outer, r((3,)), r((2,)))
    _check(lambda a, b: a.matmul(b), lambda a, b: a.matmul(b), r((2, 3)), r((3,)))
    _check(lambda a, b: a.mm(b), lambda a, b: a.mm(b), r((2, 3)), r((3, 2)))


def test_matmul_with_a_constant_operand() -> None:
    a = cr.randn(2, 3, requires_grad=True)
    w = np.ones((3, 4))
    (a @ w).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.full((2, 3), 4.0))
    b = cr.randn(3, 4, requires_grad=True)
    (np.ones((2, 3)) @ b).sum().backward()  # ndarray @ Tensor goes to __rmatmul__
    np.testing.assert_allclose(b.grad.numpy(), np.full((3, 4), 2.0))


def test_matmul_error_names_shapes_and_suggests_the_transpose() -> None:
    x, w = cr.zeros(64, 784), cr.zeros(128, 784)
    with pytest.raises(ValueError, match=r"matmul: \(64, 784\) @ \(128, 784\): inner dimensions "
                       r"784 and 128 differ; did you mean w\.T\?"):
        x @ w
    with pytest.raises(ValueError) as e:
        cr.zeros(64, 784) @ cr.zeros(128, 10)
    msg = str(e.value)
    assert "(64, 784) @ (128, 10)" in msg and "784 and 128 differ" in msg and "did you" not in msg
    with pytest.raises(ValueError, match=r"did you mean x\.T\?"):
        cr.zeros(3, 5) @ cr.zeros(3, 4)
    with pytest.raises(ValueError, match=r"\(2, 3, 4\) @ \(5, 4, 6\): batch dimensions \(2,\) "
                       r"and \(5,\) do not broadcast"):
        cr.zeros(2, 3, 4) @ cr.zeros(5, 4, 6)
    with pytest.raises(ValueError, match=r"matmul: \(\) @ \(3,\): both operands need at least"):
        cr.matmul(cr.tensor(2.0), cr.zeros(3))
    with pytest.raises(ValueError, match=r"mm: expected 2-D"):
        cr.mm(cr.zeros(3), cr.zeros(3, 2))
    with pytest.raises(ValueError, match=r"bmm: .*batch sizes differ"):
        cr.bmm(cr.zeros(2, 3, 4), cr.zeros(3, 4, 5))


def test_matmul_weight_gradient_is_c_contiguous_and_float32() -> None:
    x = cr.randn(8, 5).to(cr.float32)
    w = cr.randn(5, 4).to(cr.float32).requires_grad_()
    y = x @ w
    assert y.dtype == np.float32
    y.sum().backward()
    assert w.grad.dtype == np.float32 and w.grad.numpy().flags.c_contiguous
    xb = cr.randn(3, 8, 5).to(cr.float32)
    w.grad = None
    (xb @ w).sum().backward()  # shared weight over a batch: summed back to (5, 4)
    np.testing.assert_allclose(w.grad.numpy(), np.broadcast_to(
        xb.numpy().sum(axis=(0, 1))[:, None], (5, 4)), rtol=1e-5)


def test_matmul_second_order_matches_torch() -> None:
    a0, b0 = RNG.standard_normal((3, 2, 3)), RNG.standard_normal((3, 4))
    a, b = cr.tensor(a0, requires_grad=True), cr.tensor(b0, requires_grad=True)
    at, bt = torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    (ga,) = cr.grad(((a @ b).tanh()).sum(), [a], create_graph=True)
    (gat,) = torch.autograd.grad(((at @ bt).tanh()).sum(), [at], create_graph=True)
    (ga * ga).sum().backward()
    (gat * gat).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), bt.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy(), rtol=1e-10)


# --- einsum ---------------------------------------------------------------------------------------

EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 4)]),
    ("i,j->ij", [(3,), (2,)]),
    ("ii->", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("ij->ji", [(2, 3)]),
    ("bi,ij,bj->b", [(2, 3), (3, 4), (2, 4)]),
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (3, 3, 4)]),
    ("...ij->...ji", [(2, 3)]),
    ("i...->...", [(2, 3, 4)]),
    ("...ij->ij", [(2, 3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("iij,j->ij", [(2, 2, 3), (3,)]),
    ("ij,kl->ik", [(2, 3), (4, 5)]),
    ("i,i->", [(4,), (4,)]),
    ("ij,ij->ij", [(1, 3), (2, 3)]),
    ("b i j , b j -> b i", [(2, 3, 4), (2, 4)]),
    ("Ab,bC->AC", [(2, 3), (3, 4)]),
    ("ijk,ikl,lm->jm", [(2, 3, 2), (2, 2, 3), (3, 2)]),
]


@pytest.mark.parametrize(("eq", "shapes"), EINSUM_CASES)
def test_einsum_matches_torch(eq: str, shapes: list) -> None:
    arrays = [RNG.standard_normal(s) for s in shapes]
    _check(lambda *xs: cr.einsum(eq, *xs), lambda *xs: torch.einsum(eq, *xs), *arrays)


def test_einsum_accepts_a_list_of_operands_and_keeps_float32() -> None:
    a = cr.randn(2, 3).to(cr.float32).requires_grad_()
    b = cr.randn(3, 4).to(cr.float32).requires_grad_()
    y = cr.einsum("ij,jk->ik", [a, b])
    assert y.dtype == np.float32 and y.shape == (2, 4)
    cr.einsum("ii->i", cr.einsum("ij,kj->ik", a, a)).sum().backward()
    assert a.grad.dtype == np.float32


def test_einsum_single_operand_output_is_not_a_view_of_the_input() -> None:
    a = cr.randn(2, 3)
    y = cr.einsum("ij->ji", a)
    assert not np.shares_memory(y.numpy(), a.numpy())


def test_einsum_errors_teach() -> None:
    a = cr.zeros(2, 3)
    with pytest.raises(ValueError, match=r"einsum: equation 'ij,jk->ik' names 2 operand"):
        cr.einsum("ij,jk->ik", a)
    with pytest.raises(ValueError, match=r"einsum: operand with subscripts 'ijk' has 2 dim"):
        cr.einsum("ijk->i", a)
    with pytest.raises(ValueError, match=r"output letter\(s\) z appear in no operand"):
        cr.einsum("ij->z", a)
    with pytest.raises(ValueError, match=r"invalid subscripts"):
        cr.einsum("i1->i", a)


def test_einsum_second_order_matches_torch() -> None:
    a0, b0 = RNG.standard_normal((3, 3)), RNG.standard_normal((3,))
    a, b = cr.tensor(a0, requires_grad=True), cr.tensor(b0, requires_grad=True)
    at, bt = torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    eq = "ij,j,ii->i"
    (ga,) = cr.grad(cr.einsum(eq, a, b, a).sin().sum(), [a], create_graph=True)
    (gat,) = torch.autograd.grad(torch.einsum(eq, at, bt, at).sin().sum(), [at],
                                 create_graph=True)
    (ga * ga).sum().backward()
    (gat * gat).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(b.grad.numpy(), bt.grad.numpy(), rtol=1e-10)


# --- linear ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("xshape", [(4, 3), (3,), (2, 4, 3), (2, 1, 2, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(xshape: tuple, bias: bool) -> None:
    arrays = [RNG.standard_normal(xshape), RNG.standard_normal((5, 3))]
    if bias:
        arrays.append(RNG.standard_normal((5,)))
    _check(cr.linear, torch.nn.functional.linear, *arrays)


def test_linear_weight_gradient_is_c_contiguous_in_the_weights_layout() -> None:
    for xshape in [(64, 784), (2, 8, 784)]:
        x = cr.randn(*xshape).to(cr.float32)
        w = (cr.randn(128, 784) * 0.01).to(cr.float32).requires_grad_()
        b = cr.zeros(128).to(cr.float32).requires_grad_()
        y = cr.linear(x, w, b)
        assert y.dtype == np.float32 and y.shape == (*xshape[:-1], 128)
        y.sum().backward()
        assert w.grad.shape == (128, 784) and w.grad.dtype == np.float32
        assert w.grad.numpy().flags.c_contiguous
        assert b.grad.shape == (128,) and b.grad.dtype == np.float32


def test_linear_errors_teach() -> None:
    with pytest.raises(ValueError, match=r"linear: input \(64, 784\) has 784 features but weight "
                       r"\(784, 128\) takes in_features=128.*did you mean weight\.T\?"):
        cr.linear(cr.zeros(64, 784), cr.zeros(784, 128))
    with pytest.raises(ValueError, match=r"linear: bias of shape \(3,\)"):
        cr.linear(cr.zeros(2, 4), cr.zeros(5, 4), cr.zeros(3))


# --- softmax, log_softmax -------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "dim"), [((4, 5), -1), ((4, 5), 0), ((2, 3, 4), 1),
                                            ((2, 3, 4), -3), ((5,), 0), ((), 0), ((), -1)])
def test_softmax_and_log_softmax_match_torch(shape: tuple, dim: int) -> None:
    x = RNG.standard_normal(shape) * 3
    _check(lambda t: cr.softmax(t, dim), lambda t: torch.softmax(t, dim), x)
    _check(lambda t: cr.log_softmax(t, dim), lambda t: torch.log_softmax(t, dim), x)
    _check(lambda t: t.softmax(dim), lambda t: t.softmax(dim), x)
    _check(lambda t: t.log_softmax(dim), lambda t: t.log_softmax(dim), x)


def test_softmax_is_stable_and_keeps_float32() -> None:
    x = cr.tensor(np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32), requires_grad=True)
    y = cr.softmax(x, -1)
    assert y.dtype == np.float32 and np.all(np.isfinite(y.detach().numpy()))
    z = cr.log_softmax(x, -1)
    assert z.dtype == np.float32 and np.all(np.isfinite(z.detach().numpy()))
    (y.sum() + z.sum()).backward()
    assert x.grad.dtype == np.float32 and np.all(np.isfinite(x.grad.numpy()))


def test_softmax_errors_teach() -> None:
    with pytest.raises(IndexError, match=r"softmax: dim 2 is out of range for a tensor with 2"):
        cr.softmax(cr.zeros(2, 3), 2)
    with pytest.raises(TypeError, match=r"log_softmax: input has dtype int64; expected a float"):
        cr.log_softmax(cr.tensor(np.arange(3)), 0)


# --- losses ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(("xshape", "tshape"), [((6, 4), (6,)), ((4,), ()), ((3, 4, 2), (3, 2))])
def test_cross_entropy_matches_torch(reduction: str, xshape: tuple, tshape: tuple) -> None:
    x = RNG.standard_normal(xshape) * 2
    t = RNG.integers(0, xshape[1 if len(xshape) > 1 else 0], tshape)
    _check(lambda a, b: cr.cross_entropy(a, b, reduction),
           lambda a, b: torch.nn.functional.cross_entropy(a, b, reduction=reduction), x, t)


def test_cross_entropy_float32_and_second_order() -> None:
    x0, t0 = RNG.standard_normal((5, 3)), RNG.integers(0, 3, (5,))
    x32 = cr.tensor(x0.astype(np.float32), requires_grad=True)
    loss = cr.cross_entropy(x32, cr.tensor(t0))
    assert loss.dtype == np.float32 and loss.shape == ()
    loss.backward()
    assert x32.grad.dtype == np.float32
    x, xt = cr.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    (g,) = cr.grad(cr.cross_entropy(x, cr.tensor(t0)), [x], create_graph=True)
    (gt,) = torch.autograd.grad(torch.nn.functional.cross_entropy(xt, torch.tensor(t0)), [xt],
                                create_graph=True)
    (g * g).sum().backward()
    (gt * gt).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10)


def test_cross_entropy_errors_teach() -> None:
    x = cr.zeros(3, 10)
    with pytest.raises(IndexError, match=r"cross_entropy: target contains class index 12 but the "
                       r"input has 10 classes"):
        cr.cross_entropy(x, cr.tensor(np.array([1, 12, 3])))
    with pytest.raises(IndexError, match=r"class index -1"):
        cr.cross_entropy(x, cr.tensor(np.array([1, -1, 3])))
    with pytest.raises(TypeError, match=r"cross_entropy: target has dtype float64.*integer class "
                       r"indices"):
        cr.cross_entropy(x, cr.tensor(np.array([1.0, 2.0, 3.0])))
    with pytest.raises(ValueError, match=r"input \(3, 10\) and target \(4,\) do not fit"):
        cr.cross_entropy(x, cr.tensor(np.array([1, 2, 3, 4])))
    with pytest.raises(ValueError, match=r"reduction 'avg'"):
        cr.cross_entropy(x, cr.tensor(np.array([1, 2, 3])), "avg")
    with pytest.raises(IndexError, match=r"class index -100 .*ignore_index is not supported"):
        cr.cross_entropy(x, cr.tensor(np.array([1, -100, 3])))
    with pytest.raises(TypeError, match=r"cross_entropy: input has dtype int64"):
        cr.cross_entropy(cr.tensor(np.ones((3, 10), dtype=np.int64)), cr.tensor(np.zeros(3, int)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(("sa", "sb"), [((4, 3), (4, 3)), ((), ()), ((5,), (5,))])
def test_mse_loss_matches_torch(reduction: str, sa: tuple, sb: tuple) -> None:
    _check(lambda a, b: cr.mse_loss(a, b, reduction),
           lambda a, b: torch.nn.functional.mse_loss(a, b, reduction=reduction),
           RNG.standard_normal(sa), RNG.standard_normal(sb))


def test_mse_loss_keeps_float32_and_checks_reduction() -> None:
    x = cr.randn(4, 3).to(cr.float32).requires_grad_()
    loss = cr.mse_loss(x, cr.zeros(4, 3).to(cr.float32))
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32
    with pytest.raises(ValueError, match=r"mse_loss: reduction 'avg'"):
        cr.mse_loss(x, x, "avg")
