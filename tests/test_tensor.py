"""The Tensor as PyTorch scripts use it: construction, dtypes, devices, conversions, operators."""

from __future__ import annotations

import operator

import numpy as np
import pytest

import chainrule as cr

# --- construction and dtype inference ----------------------------------------------------------


def test_python_float_is_float32() -> None:
    assert cr.tensor(1.5).dtype == np.float32
    assert cr.tensor([1.0, 2.0]).dtype == np.float32
    assert cr.tensor([[1, 2.5]]).dtype == np.float32


def test_python_int_is_int64_and_bool_is_bool() -> None:
    assert cr.tensor(3).dtype == np.int64
    assert cr.tensor([1, 2]).dtype == np.int64
    assert cr.tensor([True, False]).dtype == np.bool_


def test_numpy_arrays_keep_their_dtype() -> None:
    assert cr.tensor(np.ones(3)).dtype == np.float64
    assert cr.tensor(np.ones(3, np.float32)).dtype == np.float32
    assert cr.tensor(np.arange(3, dtype=np.int32)).dtype == np.int32
    assert cr.tensor(np.float64(2.0)).dtype == np.float64


def test_explicit_dtype_wins() -> None:
    assert cr.tensor([1, 2], dtype=cr.float32).dtype == np.float32
    assert cr.tensor(1.5, dtype=cr.float64).dtype == np.float64
    assert cr.tensor([1.0], dtype="float16").dtype == np.float16
    assert cr.tensor([1.0], dtype=np.float64).dtype == np.float64


def test_tensor_copies_its_data() -> None:
    a = np.ones(3)
    t = cr.tensor(a)
    a[0] = 5
    assert t[0].item() == 1.0
    shared = cr.from_numpy(a)
    a[1] = 7
    assert shared[1].item() == 7.0
    assert cr.as_tensor(a).numpy() is a


def test_capital_tensor_is_float32() -> None:
    t = cr.Tensor([1, 2, 3])
    assert t.dtype == np.float32 and t.shape == (3,)
    z = cr.Tensor(2, 3)
    assert z.shape == (2, 3) and z.dtype == np.float32
    assert cr.Tensor([1.0], requires_grad=True).requires_grad


def test_tensor_of_strings_raises() -> None:
    with pytest.raises(TypeError, match="tensor"):
        cr.tensor(["a", "b"])


def test_requires_grad_only_for_floats() -> None:
    assert cr.tensor([1.0], requires_grad=True).requires_grad
    with pytest.raises(RuntimeError, match="floating-point"):
        cr.tensor([1, 2], requires_grad=True)


def test_default_dtype() -> None:
    assert cr.get_default_dtype() == np.float32
    cr.set_default_dtype(cr.float64)
    try:
        assert cr.tensor(1.0).dtype == np.float64
        assert cr.zeros(2).dtype == np.float64
    finally:
        cr.set_default_dtype(cr.float32)
    with pytest.raises(TypeError, match="floating"):
        cr.set_default_dtype(cr.int64)


# --- creation functions ------------------------------------------------------------------------

SIZED = [cr.zeros, cr.ones, cr.empty, cr.rand, cr.randn]


@pytest.mark.parametrize("fn", SIZED, ids=lambda f: f.__name__)
def test_sized_creation(fn) -> None:
    t = fn(2, 3)
    assert t.shape == (2, 3) and t.dtype == np.float32 and not t.requires_grad
    assert fn((2, 3)).shape == (2, 3)
    assert fn([4]).shape == (4,)
    assert fn(2, dtype=cr.float64).dtype == np.float64
    assert fn(2, device="cpu").device == cr.device("cpu")
    assert fn(2, device=cr.device("cpu")).shape == (2,)
    assert fn(2, requires_grad=True).requires_grad
    assert fn().shape == ()
    with pytest.raises(RuntimeError, match=r"cuda.*not available"):
        fn(2, device="cuda")


def test_values_of_creation_functions() -> None:
    np.testing.assert_array_equal(cr.zeros(2).numpy(), [0, 0])
    np.testing.assert_array_equal(cr.ones(2).numpy(), [1, 1])
    np.testing.assert_array_equal(cr.eye(2).numpy(), np.eye(2))
    assert cr.eye(2, 3).shape == (2, 3)
    np.testing.assert_array_equal(cr.arange(4).numpy(), [0, 1, 2, 3])
    assert cr.arange(4).dtype == np.int64
    np.testing.assert_allclose(cr.arange(0, 1, 0.25).numpy(), [0, 0.25, 0.5, 0.75])
    assert cr.arange(0, 1, 0.25).dtype == np.float32
    np.testing.assert_allclose(cr.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])
    r = cr.rand(1000)
    assert r.numpy().min() >= 0 and r.numpy().max() < 1


def test_full_infers_dtype_from_fill_value() -> None:
    assert cr.full((2,), 3).dtype == np.int64
    assert cr.full((2,), 3.0).dtype == np.float32
    assert cr.full((2,), True).dtype == np.bool_
    np.testing.assert_array_equal(cr.full((2, 2), 7.0).numpy(), np.full((2, 2), 7.0))
    assert cr.full((2,), 1, dtype=cr.float64).dtype == np.float64
    assert cr.full((2,), 1.0, requires_grad=True).requires_grad


@pytest.mark.parametrize("fn", [cr.zeros_like, cr.ones_like, cr.empty_like],
                         ids=lambda f: f.__name__)
def test_like_functions(fn) -> None:
    x = cr.tensor(np.ones((2, 3)))
    t = fn(x)
    assert t.shape == (2, 3) and t.dtype == np.float64
    assert fn(x, dtype=cr.float32).dtype == np.float32
    assert fn(x, requires_grad=True).requires_grad
    assert fn(x, device="cpu").shape == (2, 3)
    with pytest.raises(RuntimeError, match="cuda"):
        fn(x, device="cuda")


def test_full_like() -> None:
    x = cr.zeros(2, 2)
    t = cr.full_like(x, 3.0)
    np.testing.assert_array_equal(t.numpy(), np.full((2, 2), 3.0))
    assert t.dtype == np.float32


def test_integer_random_functions() -> None:
    cr.manual_seed(0)
    r = cr.randint(0, 5, (100,))
    assert r.dtype == np.int64 and r.shape == (100,)
    assert r.numpy().min() >= 0 and r.numpy().max() < 5
    assert cr.randint(3, size=(2,)).numpy().max() < 3
    p = cr.randperm(10)
    assert sorted(p.tolist()) == list(range(10)) and p.dtype == np.int64
    n = cr.normal(2.0, 0.5, (1000,))
    assert abs(n.numpy().mean() - 2.0) < 0.1 and n.dtype == np.float32


def test_manual_seed_reproducibility() -> None:
    cr.manual_seed(42)
    a = (cr.randn(5), cr.rand(3), cr.randint(0, 100, (4,)), cr.randperm(6))
    cr.manual_seed(42)
    b = (cr.randn(5), cr.rand(3), cr.randint(0, 100, (4,)), cr.randperm(6))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    cr.manual_seed(43)
    assert not np.array_equal(cr.randn(5).numpy(), a[0].numpy())


def test_generator_objects() -> None:
    g1 = cr.Generator().manual_seed(7)
    g2 = cr.Generator().manual_seed(7)
    np.testing.assert_array_equal(cr.randn(4, generator=g1).numpy(),
                                  cr.randn(4, generator=g2).numpy())
    state = cr.get_rng_state()
    x = cr.randn(3)
    cr.set_rng_state(state)
    np.testing.assert_array_equal(cr.randn(3).numpy(), x.numpy())


# --- devices and dtypes ----------------------------------------------------------------------


def test_device() -> None:
    d = cr.device("cpu")
    assert d == "cpu" and str(d) == "cpu" and d.type == "cpu"
    assert cr.tensor([1.0]).device == d
    assert not cr.tensor([1.0]).is_cuda
    assert cr.cuda.is_available() is False
    assert cr.cuda.device_count() == 0
    with pytest.raises(ValueError, match="unknown device"):
        cr.device("tpu")


def test_to_device() -> None:
    x = cr.tensor([1.0, 2.0])
    assert x.to("cpu") is x
    assert x.to(cr.device("cpu")) is x
    assert x.cpu() is x
    with pytest.raises(RuntimeError, match=r"'cuda'.*not available.*cr\.cuda\.is_available"):
        x.to("cuda")
    with pytest.raises(RuntimeError, match="cuda"):
        x.cuda()
    with pytest.raises(RuntimeError, match="cuda"):
        cr.tensor([1.0], device="cuda:0")


def test_to_dtype_is_differentiable() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(cr.float64)
    assert y.dtype == np.float64 and y.grad_fn is not None
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    assert x.to(cr.float32) is x
    assert x.double().dtype == np.float64 and x.float() is x
    assert x.to("cpu", cr.float64).dtype == np.float64
    assert x.to(dtype=cr.float16).dtype == np.float16
    assert x.to(cr.tensor([1], dtype=cr.int32)).dtype == np.int32


def test_integer_conversions() -> None:
    x = cr.tensor([1.7, -2.2])
    assert x.long().dtype == np.int64
    assert x.int().dtype == np.int32
    assert x.bool().dtype == np.bool_
    assert x.half().dtype == np.float16
    assert x.type() == "chainrule.float32"


# --- conversions ------------------------------------------------------------------------------


def test_item_numpy_tolist_asarray() -> None:
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x[1, 0].item() == 3.0
    assert isinstance(cr.tensor(2).item(), int)
    with pytest.raises(ValueError, match="one element"):
        x.item()
    assert x.numpy() is x._data
    assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    a = np.asarray(x)
    assert a.dtype == np.float32 and np.shares_memory(a, x.numpy())
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    assert np.array(x).shape == (2, 2)
    assert float(cr.tensor(2.5)) == 2.5 and int(cr.tensor(3)) == 3
    assert bool(cr.tensor(1.0)) and not bool(cr.tensor(0.0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x)


def test_sizes() -> None:
    x = cr.zeros(2, 3)
    assert x.shape == (2, 3) and x.size() == (2, 3) and x.size(1) == 3
    assert x.dim() == 2 and x.ndim == 2 and x.numel() == 6 and len(x) == 2
    assert x.element_size() == 4
    assert x.is_floating_point() and not cr.tensor([1]).is_floating_point()
    assert len(list(iter(x))) == 2
    with pytest.raises(TypeError, match="0-d"):
        len(cr.tensor(1.0))


def test_repr() -> None:
    assert repr(cr.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(cr.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(cr.tensor(1.5, dtype=cr.float64)) == "tensor(1.5000, dtype=cr.float64)"
    assert repr(cr.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    x = cr.tensor([1.0], requires_grad=True)
    assert repr(x * 2) == "tensor([2.], grad_fn=<MulBackward>)"
    assert f"{cr.tensor(1.23456):.2f}" == "1.23"


def test_deepcopy_and_clone() -> None:
    import copy
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = copy.deepcopy(x)
    assert y.requires_grad and not np.shares_memory(y.detach().numpy(), x.detach().numpy())
    with pytest.raises(RuntimeError, match="leaf"):
        copy.deepcopy(x * 2)
    c = x.clone()
    assert c.grad_fn is not None and not np.shares_memory(c.detach().numpy(), x.detach().numpy())


# --- operators --------------------------------------------------------------------------------

A = np.array([[1.5, -2.0, 3.0], [0.5, 4.0, -1.0]], dtype=np.float32)
B = np.array([2.0, 0.5, -3.0], dtype=np.float32)

ARITH = [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow]


@pytest.mark.parametrize("op", ARITH, ids=lambda o: o.__name__)
def test_arithmetic_operators(op) -> None:
    a, b = np.abs(A) + 0.5, B
    ta, tb = cr.tensor(a), cr.tensor(b)
    np.testing.assert_allclose(op(ta, tb).numpy(), op(a, b), rtol=1e-6)
    np.testing.assert_allclose(op(ta, 2.0).numpy(), op(a, np.float32(2.0)), rtol=1e-6)
    np.testing.assert_allclose(op(2.0, ta).numpy(), op(np.float32(2.0), a), rtol=1e-6)
    assert op(ta, 2.0).dtype == np.float32 and op(2.0, ta).dtype == np.float32
    assert op(ta, 2).dtype == np.float32


@pytest.mark.parametrize("op", [operator.floordiv, operator.mod], ids=lambda o: o.__name__)
def test_floordiv_and_mod(op) -> None:
    t = cr.tensor(A)
    np.testing.assert_allclose(op(t, 2.0).numpy(), op(A, np.float32(2.0)))


def test_unary_operators() -> None:
    t = cr.tensor(A)
    np.testing.assert_array_equal((-t).numpy(), -A)
    np.testing.assert_array_equal(abs(t).numpy(), np.abs(A))
    assert +t is t


def test_matmul_operator() -> None:
    t = cr.tensor(A)
    np.testing.assert_allclose((t @ cr.tensor(B)).numpy(), A @ B, rtol=1e-6)
    np.testing.assert_allclose((B[:2] @ t).numpy(), B[:2] @ A, rtol=1e-6)


CMP = [operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge]


@pytest.mark.parametrize("op", CMP, ids=lambda o: o.__name__)
def test_comparisons(op) -> None:
    ta, tb = cr.tensor(A), cr.tensor(B)
    r = op(ta, tb)
    assert isinstance(r, cr.Tensor) and r.dtype == np.bool_ and not r.requires_grad
    np.testing.assert_array_equal(r.numpy(), op(A, B))
    np.testing.assert_array_equal(op(ta, 1.0).numpy(), op(A, 1.0))
    np.testing.assert_array_equal(op(1.0, ta).numpy(), op(1.0, A))


def test_logical_operators() -> None:
    a = cr.tensor([True, False, True])
    b = cr.tensor([True, True, False])
    np.testing.assert_array_equal((a & b).numpy(), [True, False, False])
    np.testing.assert_array_equal((a | b).numpy(), [True, True, True])
    np.testing.assert_array_equal((a ^ b).numpy(), [False, True, True])
    np.testing.assert_array_equal((~a).numpy(), [False, True, False])


def test_numpy_array_on_the_left_gives_a_tensor() -> None:
    t = cr.tensor(B, requires_grad=True)
    for r in (A * t, A + t, A - t, A / t, A ** cr.tensor(np.ones(3, np.float32))):
        assert isinstance(r, cr.Tensor)
    r = A * t
    np.testing.assert_allclose(r.detach().numpy(), A * B)
    r.sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), A.sum(0))
    arr = A.copy()
    assert isinstance(arr > cr.tensor(B), cr.Tensor)


def test_reflected_operators_record_gradients() -> None:
    x = cr.tensor([2.0, 4.0], dtype=cr.float64, requires_grad=True)
    y = (1.0 - x) + (3.0 / x) + (2.0 ** x) + (2.0 * x) + (1.0 + x)
    y.sum().backward()
    expected = -1 - 3 / x.detach().numpy() ** 2 + np.log(2) * 2 ** x.detach().numpy() + 2 + 1
    np.testing.assert_allclose(x.grad.numpy(), expected)


def test_inplace_operators() -> None:
    t = cr.tensor([1.0, 2.0])
    ident = id(t)
    t += 1
    t -= 0.5
    t *= 4
    t /= 2
    assert id(t) == ident
    np.testing.assert_allclose(t.numpy(), [3.0, 5.0])
    t[0] = 10.0
    assert t[0].item() == 10.0


def test_float32_stays_float32_with_python_scalars() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2.5 + 1) / 3 - 0.5
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32
