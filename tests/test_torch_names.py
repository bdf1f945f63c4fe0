"""The names PyTorch scripts reach for (issue 8 item 4): each behaves as PyTorch's, or raises
saying why it cannot here. Parity with PyTorch where it is installed (skipped per test if not)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.distributions import Bernoulli, Categorical, Normal


def _torch() -> Any:
    return pytest.importorskip("torch")


# -- comparisons, sizes, creation -------------------------------------------------------------
def test_allclose_isclose_equal() -> None:
    a = cr.tensor([1.0, 2.0, float("nan")])
    assert not cr.allclose(a, a) and cr.allclose(a, a, equal_nan=True)
    assert cr.allclose(a[:2], a[:2] + 1e-9) and not cr.allclose(a[:2], a[:2] + 1e-3)
    assert cr.isclose(a, a).tolist() == [True, True, False]
    assert a.isclose(a + 1, atol=2).tolist() == [True, True, False]
    assert cr.equal(cr.tensor([1, 2]), cr.tensor([1, 2]))
    assert not cr.equal(cr.tensor([1, 2]), cr.tensor([[1, 2]]))
    with pytest.raises(RuntimeError, match="do not broadcast"):
        cr.allclose(cr.zeros(2), cr.zeros(3))
    assert cr.zeros(2, 3).nelement() == 6


def test_randint_forms_and_like_factories() -> None:
    cr.manual_seed(0)
    assert cr.randint(10, (3,)).shape == (3,)
    r = cr.randint(3, 10, (200,))
    assert r.dtype == cr.int64 and int(r.min()) >= 3 and int(r.max()) < 10
    assert cr.randint(high=4, size=(2, 2)).shape == (2, 2)
    assert cr.randint(5, size=(2,)).shape == (2,)
    with pytest.raises(TypeError, match="randint"):
        cr.randint(0, 10)
    x = cr.zeros(2, 3, dtype=cr.float64)
    assert cr.rand_like(x).dtype == cr.float64 and cr.randn_like(x).shape == (2, 3)
    ri = cr.randint_like(x, 5)
    assert ri.dtype == cr.float64 and float(ri.max()) < 5
    assert cr.randint_like(cr.zeros(4, dtype=cr.int64), 2, 4).tolist() <= [3, 3, 3, 3]
    with pytest.raises(RuntimeError, match="floating dtype"):
        cr.rand_like(cr.zeros(2, dtype=cr.int64))


def test_typed_tensor_constructors() -> None:
    assert cr.LongTensor([1, 2]).dtype == cr.int64
    assert cr.FloatTensor([1, 2]).dtype == cr.float32
    assert cr.DoubleTensor(2, 3).shape == (2, 3)
    assert cr.IntTensor([1]).dtype == cr.int32
    assert cr.BoolTensor([1, 0]).tolist() == [True, False]
    assert isinstance(cr.zeros(2), cr.FloatTensor) and not isinstance(cr.zeros(2), cr.LongTensor)


def test_axis_and_keepdims_aliases() -> None:
    x = cr.tensor(np.arange(6.0).reshape(2, 3))
    assert x.sum(axis=1, keepdims=True).shape == (2, 1)
    assert cr.mean(x, axis=0).tolist() == [1.5, 2.5, 3.5]
    assert x.max(axis=1).values.tolist() == [2.0, 5.0]
    assert x.amin(axis=0, keepdims=True).shape == (1, 3)
    assert x.argmax(axis=1).tolist() == [2, 2]
    assert x.std(axis=1).shape == (2,) and x.var(dim=0, keepdims=True).shape == (1, 3)
    assert x.prod(axis=1).tolist() == [0.0, 60.0]
    assert x.logsumexp(axis=1).shape == (2,)
    with pytest.raises(TypeError, match="both dim=0 and axis=1"):
        x.sum(dim=0, axis=1)


# -- modes, devices, cuda ---------------------------------------------------------------------
def test_inference_mode() -> None:
    w = cr.ones(2, requires_grad=True)
    with cr.inference_mode():
        assert cr.is_inference_mode_enabled()
        assert not (w * 2).requires_grad
    assert (w * 2).requires_grad and not cr.is_inference_mode_enabled()
    with cr.inference_mode(False):
        assert (w * 2).requires_grad

    @cr.inference_mode()
    def f(t: Any) -> Any:
        return t * 2

    @cr.inference_mode
    def g(t: Any) -> Any:
        return t * 2

    assert not f(w).requires_grad and not g(w).requires_grad and cr.is_grad_enabled()


def test_default_device_cuda_and_backends() -> None:
    cr.set_default_device("cpu")
    cr.set_default_device(cr.device("cpu"))
    assert cr.get_default_device() == "cpu"
    with pytest.raises(RuntimeError, match="runs on the CPU"):
        cr.set_default_device("cuda")
    cr.set_default_device(None)
    assert not cr.cuda.is_available() and cr.cuda.device_count() == 0
    cr.cuda.manual_seed(0)
    cr.cuda.manual_seed_all(0)
    cr.cuda.synchronize()
    with pytest.raises(RuntimeError, match="no GPU"):
        cr.cuda.current_device()
    assert not cr.backends.mps.is_available()
    cr.backends.cudnn.benchmark = True


# -- distributions ----------------------------------------------------------------------------
def _np(t: Any) -> np.ndarray:
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def test_normal_matches_torch_and_rsample_is_differentiable() -> None:
    torch = _torch()
    loc, scale = np.array([0.3, -1.0]), np.array([0.5, 2.0])
    v = np.array([[0.1, 0.2], [1.5, -3.0]])
    ours = Normal(cr.tensor(loc), cr.tensor(scale))
    theirs = torch.distributions.Normal(torch.tensor(loc), torch.tensor(scale))
    for a, b in [(ours.log_prob(cr.tensor(v)), theirs.log_prob(torch.tensor(v))),
                 (ours.entropy(), theirs.entropy()), (ours.mean, theirs.mean),
                 (ours.stddev, theirs.stddev), (ours.variance, theirs.variance),
                 (ours.cdf(cr.tensor(v)), theirs.cdf(torch.tensor(v)))]:
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-12)
    m = cr.tensor(loc, requires_grad=True)
    s = cr.tensor(scale, requires_grad=True)
    cr.manual_seed(0)
    x = Normal(m, s).rsample((1000,))
    assert x.shape == (1000, 2)
    x.mean().backward()
    np.testing.assert_allclose(m.grad.numpy(), [0.5, 0.5])
    assert s.grad is not None and not Normal(m, s).sample((3,)).requires_grad
    with pytest.raises(ValueError, match=r"scale .* GreaterThan"):
        Normal(0.0, -1.0)
    Normal(0.0, -1.0, validate_args=False)


def test_categorical_matches_torch() -> None:
    torch = _torch()
    logits = np.array([[0.1, 1.0, -0.5], [2.0, 0.0, 0.3]])
    v = np.array([[2, 0], [1, 1]])
    for kw in ("logits", "probs"):
        arg = logits if kw == "logits" else np.exp(logits)
        ours = Categorical(**{kw: cr.tensor(arg)})
        theirs = torch.distributions.Categorical(**{kw: torch.tensor(arg)})
        np.testing.assert_allclose(_np(ours.log_prob(cr.tensor(v))),
                                   _np(theirs.log_prob(torch.tensor(v))), rtol=1e-12)
        np.testing.assert_allclose(_np(ours.entropy()), _np(theirs.entropy()), rtol=1e-12)
        np.testing.assert_allclose(_np(ours.probs), _np(theirs.probs), rtol=1e-12)
        np.testing.assert_allclose(_np(ours.logits), _np(theirs.logits), rtol=1e-12)
    cr.manual_seed(0)
    c = Categorical(probs=cr.tensor([0.2, 0.8]))
    draws = c.sample((4000,))
    assert draws.dtype == cr.int64 and abs(float(draws.double().mean()) - 0.8) < 0.03
    with pytest.raises(NotImplementedError, match="rsample"):
        c.rsample()
    with pytest.raises(ValueError, match="support"):
        c.log_prob(cr.tensor([2]))
    with pytest.raises(ValueError, match="not both"):
        Categorical(probs=cr.tensor([0.5, 0.5]), logits=cr.tensor([0.0, 0.0]))
    w = cr.zeros(3, requires_grad=True)  # REINFORCE: the gradient of log_prob reaches logits
    Categorical(logits=w).log_prob(cr.tensor(1)).backward()
    np.testing.assert_allclose(w.grad.numpy(), [-1 / 3, 2 / 3, -1 / 3])


def test_bernoulli_matches_torch() -> None:
    torch = _torch()
    p = np.array([0.2, 0.7, 0.5])
    v = np.array([1.0, 0.0, 1.0])
    for kw, arg in (("probs", p), ("logits", np.log(p / (1 - p)))):
        ours = Bernoulli(**{kw: cr.tensor(arg)})
        theirs = torch.distributions.Bernoulli(**{kw: torch.tensor(arg)})
        for a, b in [(ours.log_prob(cr.tensor(v)), theirs.log_prob(torch.tensor(v))),
                     (ours.entropy(), theirs.entropy()), (ours.mean, theirs.mean),
                     (ours.variance, theirs.variance), (ours.stddev, theirs.stddev)]:
            np.testing.assert_allclose(_np(a), _np(b), rtol=1e-9)
    cr.manual_seed(0)
    s = Bernoulli(probs=cr.tensor([0.1, 0.9])).sample((2000,))
    np.testing.assert_allclose(s.numpy().mean(0), [0.1, 0.9], atol=0.03)
    with pytest.raises(ValueError, match="probs"):
        Bernoulli(probs=cr.tensor([1.5]))
    with pytest.raises(ValueError, match="support"):
        Bernoulli(probs=cr.tensor([0.5])).log_prob(cr.tensor([0.5]))


# -- linalg, func, vmap -----------------------------------------------------------------------
@pytest.mark.parametrize(("fn", "args", "kwargs"), [
    ("norm", ((3, 4),), {}),
    ("norm", ((2, 3, 4),), {"dim": 1}),
    ("norm", ((3, 4),), {"ord": 1}),
    ("norm", ((3, 4),), {"ord": -math.inf}),
    ("norm", ((3, 4),), {"ord": "fro", "keepdim": True}),
    ("norm", ((5,),), {"ord": 3}),
    ("vector_norm", ((3, 4),), {"ord": math.inf}),
    ("vector_norm", ((3, 4),), {"ord": 1, "dim": (0, 1)}),
    ("matrix_norm", ((2, 3, 4),), {"ord": math.inf}),
    ("matrix_norm", ((2, 3, 4),), {"ord": -1, "keepdim": True}),
])
def test_linalg_norms_match_torch(fn: str, args: tuple, kwargs: dict) -> None:
    torch = _torch()
    a = np.random.default_rng(0).standard_normal(args[0])
    x = cr.tensor(a, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True)
    y, yt = getattr(cr.linalg, fn)(x, **kwargs), getattr(torch.linalg, fn)(xt, **kwargs)
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-12)
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("ord", ["nuc", 2, -2])
def test_linalg_svd_norms_match_torch(ord: Any) -> None:
    torch = _torch()
    a = np.random.default_rng(0).standard_normal((2, 3, 4))
    x = cr.tensor(a, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True)
    y = cr.linalg.matrix_norm(x, ord=ord, dim=(0, 2), keepdim=True)
    yt = torch.linalg.matrix_norm(xt, ord=ord, dim=(0, 2), keepdim=True)
    assert tuple(y.shape) == tuple(yt.shape)
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-12)
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10)


def test_functional_call() -> None:
    cr.manual_seed(0)
    net = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.Linear(4, 2))
    x = cr.randn(5, 3)
    params = {k: v.detach().clone().requires_grad_() for k, v in net.named_parameters()}
    w0 = net[0].weight
    out = cr.func.functional_call(net, params, (x,))
    np.testing.assert_allclose(out.detach().numpy(), net(x).detach().numpy())
    out.sum().backward()
    assert params["0.weight"].grad is not None and w0.grad is None and net[0].weight is w0
    zeroed = cr.func.functional_call(net, {"2.weight": cr.zeros(2, 4)}, x)
    np.testing.assert_allclose(zeroed.detach().numpy(),
                               np.broadcast_to(net[2].bias.detach().numpy(), (5, 2)))
    with pytest.raises(ValueError, match=r"no parameter or buffer named '3\.weight'"):
        cr.func.functional_call(net, {"3.weight": cr.zeros(1)}, x)
    with pytest.raises(RuntimeError, match="strict=True"):
        cr.func.functional_call(net, {"2.weight": cr.zeros(2, 4)}, x, strict=True)


def test_vmap_loops_and_stacks() -> None:
    a, b = cr.randn(4, 3, requires_grad=True), cr.randn(3)
    out = cr.vmap(lambda u, v: (u * v).sum(), in_dims=(0, None))(a, b)
    np.testing.assert_allclose(out.detach().numpy(), (a.detach().numpy() * b.numpy()).sum(1))
    out.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.broadcast_to(b.numpy(), (4, 3)))
    c = cr.randn(3, 4)
    t = cr.vmap(lambda u: (u, u * 2), in_dims=1, out_dims=(0, 1))(c)
    assert t[0].shape == (4, 3) and t[1].shape == (3, 4)
    per_sample = cr.vmap(cr.func.grad(lambda w: (w ** 2).sum()))(a.detach())
    np.testing.assert_allclose(per_sample.numpy(), 2 * a.detach().numpy())
    with pytest.raises(ValueError, match="different sizes"):
        cr.vmap(lambda u, v: u + v)(cr.zeros(2), cr.zeros(3))
    assert cr.func.vmap is cr.vmap


# -- module backward hooks --------------------------------------------------------------------
def _hook_log(lib: Any) -> list:
    lin = lib.nn.Linear(3, 2)
    w = np.arange(6.0).reshape(2, 3) / 10
    lin.load_state_dict({"weight": lib.tensor(w), "bias": lib.tensor([0.1, -0.2])})
    lin = lin.double()
    log: list = []

    def pre(m: Any, go: tuple) -> Any:
        log.append(("pre", [g.tolist() for g in go]))
        return (go[0] * 10,)

    def full(m: Any, gi: tuple, go: tuple) -> Any:
        log.append(("full", [None if g is None else np.round(g.tolist(), 9).tolist()
                             for g in gi], [g.tolist() for g in go]))
        return tuple(None if g is None else g * 2 for g in gi)

    lin.register_full_backward_pre_hook(pre)
    h = lin.register_full_backward_hook(full)
    x = lib.tensor([[1.0, 2.0, 3.0]], dtype=lib.float64, requires_grad=True)
    (lin(x) * lib.tensor([[1.0, 3.0]], dtype=lib.float64)).sum().backward()
    log.append(("x.grad", np.round(x.grad.tolist(), 9).tolist(),
                np.round(lin.weight.grad.tolist(), 9).tolist()))
    lin(lib.tensor([[1.0, 2.0, 3.0]], dtype=lib.float64)).sum().backward()  # no input grad
    h.remove()
    lin(x).sum().backward()
    return log


def test_full_backward_hooks_match_torch() -> None:
    torch = _torch()
    import warnings

    ours = _hook_log(cr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns when no input requires grad
        theirs = _hook_log(torch)
    assert ours == theirs


def test_deprecated_backward_hook_says_what_to_use() -> None:
    with pytest.raises(RuntimeError, match="register_full_backward_hook"):
        cr.nn.Linear(2, 2).register_backward_hook(lambda *a: None)


# -- found by the tutorial-style scripts (tests/pytorch_scripts/) ------------------------------
def test_zero_dim_grad_accumulates_as_an_array() -> None:
    """A 0-d leaf used several times: the summed .grad stays an array (zero_() works)."""
    x = cr.linspace(0, 1, 5)
    a = cr.tensor(0.5, requires_grad=True)
    ((a + a * x + a * x * x) - x).pow(2).sum().backward()
    assert isinstance(a.grad._data, np.ndarray) and a.grad.shape == ()
    a.grad.zero_()
    assert a.grad.item() == 0.0


def test_float_with_int_tensor_keeps_the_float_dtype() -> None:
    x, p = cr.ones(3), cr.tensor([1, 2, 3])
    assert (x * p).dtype == cr.float32 and (x ** p).dtype == cr.float32
    assert (x.half() + p).dtype == cr.float16 and (x.double() * p).dtype == cr.float64
    assert (p * 0.5).dtype == cr.float32


def test_contiguous_copies_to_c_order() -> None:
    x = cr.rand(2, 3, 4).permute(0, 2, 1)
    assert not x.is_contiguous() and x.contiguous().is_contiguous()


def test_grad_accepts_only_inputs() -> None:
    x = cr.tensor(2.0, requires_grad=True)
    (g,) = cr.autograd.grad(x ** 3, x, only_inputs=True)
    assert g.item() == 12.0


def test_repr_and_set_printoptions() -> None:
    assert repr(cr.tensor([0.5, 0.25])) == "tensor([0.5000, 0.2500])"
    assert repr(cr.tensor(0.5)) == "tensor(0.5000)"
    try:
        cr.set_printoptions(precision=2)
        assert repr(cr.tensor([0.1234, 1.0])) == "tensor([0.12, 1.00])"
    finally:
        cr.set_printoptions(profile="default")
    with pytest.raises(ValueError, match="profile"):
        cr.set_printoptions(profile="tiny")


def test_type_with_a_legacy_class() -> None:
    assert cr.tensor([1, 2]).type(cr.FloatTensor).dtype == cr.float32


def test_new_tensors_from_a_tensor() -> None:
    x = cr.randn(3, dtype=cr.float64)
    assert x.new_zeros(2, 3).shape == (2, 3) and x.new_zeros((2,)).dtype == cr.float64
    assert x.new_ones(2).tolist() == [1.0, 1.0] and x.new_full((2,), 7).tolist() == [7.0, 7.0]
    assert x.new_tensor([1, 2]).dtype == cr.float64 and x.new_empty(4).shape == (4,)
    assert cr.tensor([1, 2]).type_as(x).dtype == cr.float64


def test_scatter_and_its_in_place_forms() -> None:
    torch = _torch()
    idx = [[1], [4], [0]]
    got = cr.zeros(3, 5).scatter_(1, cr.tensor(idx), 1.0)
    assert got.tolist() == torch.zeros(3, 5).scatter_(1, torch.tensor(idx), 1.0).tolist()
    src = cr.arange(6.0).reshape(2, 3).requires_grad_()
    index = [[0, 1, 1], [3, 2, 0]]  # a repeated destination in row 0: the last write wins
    out = cr.zeros(2, 4).scatter(1, cr.tensor(index), src)
    assert out.tolist() == [[0.0, 2.0, 0.0, 0.0], [5.0, 0.0, 4.0, 3.0]]
    out.sum().backward()
    assert src.grad.tolist() == [[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]
    assert cr.zeros(4).scatter_add_(0, cr.tensor([0, 1, 1, 3]), cr.ones(4)).tolist() == [
        1.0, 2.0, 0.0, 1.0]
    assert cr.zeros(3).scatter(0, cr.tensor([0, 0]), 2.0, reduce="add").tolist() == [
        4.0, 0.0, 0.0]
    with pytest.raises(NotImplementedError, match="reduce='multiply'"):
        cr.zeros(3).scatter(0, cr.tensor([0]), 2.0, reduce="multiply")


def test_index_add_fill_copy_and_masked_forms() -> None:
    torch = _torch()
    i = [0, 2, 0]
    got = cr.ones(3, 2).index_add_(0, cr.tensor(i), cr.ones(3, 2) * 2)
    assert got.tolist() == torch.ones(3, 2).index_add_(0, torch.tensor(i),
                                                        torch.ones(3, 2) * 2).tolist()
    assert cr.ones(2, 3).index_fill_(1, cr.tensor([1]), -1.0).tolist() == [[1, -1, 1]] * 2
    assert cr.zeros(3).index_copy(0, cr.tensor([2, 0]), cr.tensor([5.0, 6.0])).tolist() == [
        6.0, 0.0, 5.0]
    x = cr.arange(6).reshape(2, 3)
    assert cr.masked_select(x, cr.tensor([True, False, True])).tolist() == [0, 2, 3, 5]
    y = x.clone()
    y.masked_fill_(y > 3, 0)
    assert y.tolist() == [[0, 1, 2], [3, 0, 0]]
    w = cr.ones(3, requires_grad=True)
    (cr.index_add(cr.zeros(2), 0, cr.tensor([1, 1, 0]), w, alpha=2.0).sum()).backward()
    assert w.grad.tolist() == [2.0, 2.0, 2.0]


def test_nonzero_unique_where_condition() -> None:
    x = cr.tensor([[0, 1], [1, 1]])
    assert cr.nonzero(x).tolist() == [[0, 1], [1, 0], [1, 1]]
    assert [t.tolist() for t in cr.where(x > 0)] == [[0, 1, 1], [1, 0, 1]]
    assert [t.tolist() for t in x.nonzero(as_tuple=True)] == [[0, 1, 1], [1, 0, 1]]
    vals, inv, counts = cr.unique(cr.tensor([3, 1, 3]), return_inverse=True, return_counts=True)
    assert (vals.tolist(), inv.tolist(), counts.tolist()) == ([1, 3], [1, 0, 1], [1, 2])
    assert cr.unique_consecutive(cr.tensor([1, 1, 2, 1])).tolist() == [1, 2, 1]
    assert cr.count_nonzero(x).item() == 3 and cr.bincount(cr.tensor([0, 2, 2])).tolist() == [
        1, 0, 2]
    assert cr.bucketize(cr.tensor([0.5, 2.5]), cr.tensor([1.0, 2.0])).tolist() == [0, 2]
    with pytest.raises(TypeError, match="both input and other"):
        cr.where(x > 0, x)


def test_functions_for_methods() -> None:
    a = cr.tensor([1.0, float("nan")])
    assert cr.isnan(a).tolist() == [False, True] and cr.isfinite(a).tolist() == [True, False]
    assert cr.eq(cr.tensor([1, 2]), 2).tolist() == [False, True]
    assert cr.gt(cr.tensor([1, 2]), 1).tolist() == [False, True]
    assert not cr.all(cr.tensor([True, False])).item() and cr.any(cr.tensor([0, 1])).item()
    assert cr.numel(cr.zeros(2, 3)) == 6 and cr.is_tensor(a) and cr.is_floating_point(a)
    t, f = cr.tensor([True, False]), cr.tensor([True, True])
    assert cr.logical_and(t, f).tolist() == [True, False] and t.logical_not().tolist() == [
        False, True]
    assert cr.logical_xor(t, f).tolist() == [False, True]


def test_shape_helpers_match_torch() -> None:
    torch = _torch()
    a = np.arange(12.0).reshape(3, 4)
    x, tx = cr.tensor(a), torch.tensor(a)
    pairs = [
        (x.diag(), tx.diag()), (cr.diag(cr.tensor([1.0, 2.0]), 1), torch.diag(
            torch.tensor([1.0, 2.0]), 1)), (x.diagonal(-1), tx.diagonal(-1)),
        (x.trace(), tx.trace()), (cr.roll(x, 1), torch.roll(tx, 1)),
        (x.roll((1, -1), (0, 1)), tx.roll((1, -1), (0, 1))),
        (x.repeat_interleave(2, dim=0), tx.repeat_interleave(2, dim=0)),
        (x.tile((2,)), tx.tile((2,))), (x.movedim(0, 1), tx.movedim(0, 1)),
        (x.swapaxes(0, 1), tx.swapaxes(0, 1)), (x.ravel(), tx.ravel()),
        (cr.hstack([x, x]), torch.hstack([tx, tx])), (cr.vstack([x[0], x[1]]),
                                                      torch.vstack([tx[0], tx[1]])),
        (cr.column_stack([x[0], x[1]]), torch.column_stack([tx[0], tx[1]])),
        (cr.dstack([x, x]), torch.dstack([tx, tx])),
        (x.take_along_dim(cr.tensor([[0], [3], [1]]), 1),
         tx.take_along_dim(torch.tensor([[0], [3], [1]]), 1)),
        (cr.diff(x, dim=0), torch.diff(tx, dim=0)), (cr.diag_embed(x[:2, :2]),
                                                     torch.diag_embed(tx[:2, :2])),
        (cr.cross(cr.tensor([1.0, 0, 0]), cr.tensor([0.0, 1, 0])),
         torch.linalg.cross(torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0]))),
        (cr.tril_indices(3, 3), torch.tril_indices(3, 3)),
        (cr.cartesian_prod(cr.tensor([1, 2]), cr.tensor([3, 4])),
         torch.cartesian_prod(torch.tensor([1, 2]), torch.tensor([3, 4]))),
    ]
    for ind in ("ij", "xy"):
        g = cr.meshgrid(cr.arange(3), cr.arange(2), indexing=ind)
        tg = torch.meshgrid(torch.arange(3), torch.arange(2), indexing=ind)
        pairs += list(zip(g, tg))
    for got, want in pairs:
        assert got.tolist() == want.tolist()
    w = cr.tensor(a, requires_grad=True)
    (w.diag().sum() + w.roll(1, 0)[0].sum()).backward()
    assert w.grad.tolist() == [[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 2, 1]]


def test_arithmetic_helpers_match_torch() -> None:
    torch = _torch()
    a, b = np.array([-3.5, 2.25, 7.0]), np.array([2.0, -1.5, 3.0])
    x, y, tx, ty = cr.tensor(a), cr.tensor(b), torch.tensor(a), torch.tensor(b)
    for name in ("remainder", "fmod", "hypot", "multiply", "subtract", "divide", "floor_divide"):
        assert np.allclose(getattr(cr, name)(x, y).tolist(), getattr(torch, name)(tx, ty).tolist())
    for got, want in [(x.lerp(y, 0.25), tx.lerp(ty, 0.25)), (cr.frac(x), torch.frac(tx)),
                      (cr.sinh(x / 4), torch.sinh(tx / 4)), (cr.cosh(x / 4), torch.cosh(tx / 4)),
                      (x.clamp_min(0), tx.clamp_min(0)), (x.clamp_max(0), tx.clamp_max(0)),
                      (cr.addcmul(x, x, y, value=2), torch.addcmul(tx, tx, ty, value=2)),
                      (cr.xlogy(cr.tensor([0.0, 2.0]), cr.tensor([0.0, 3.0])),
                       torch.xlogy(torch.tensor([0.0, 2.0]), torch.tensor([0.0, 3.0]))),
                      (cr.logit(cr.tensor([0.25]), 1e-6), torch.logit(torch.tensor([0.25]), 1e-6)),
                      (cr.nan_to_num(cr.tensor([float("nan"), 1.0])),
                       torch.nan_to_num(torch.tensor([float("nan"), 1.0]))),
                      (cr.nanmean(cr.tensor([1.0, float("nan"), 3.0])),
                       torch.nanmean(torch.tensor([1.0, float("nan"), 3.0])))]:
        assert np.allclose(got.tolist(), want.tolist(), equal_nan=True)
    w = cr.tensor(a, requires_grad=True)
    cr.remainder(w, 2.0).sum().backward()  # d/dx (x - floor(x/2) 2) = 1
    assert w.grad.tolist() == [1.0, 1.0, 1.0]
    m = np.array([[3.0, 1.0, 4.0, 1.0, 5.0]])
    assert cr.median(cr.tensor(m)).item() == torch.median(torch.tensor(m)).item()
    assert cr.median(cr.tensor(m), 1).values.tolist() == [3.0]
    assert cr.kthvalue(cr.tensor(m), 2, 1).values.tolist() == torch.kthvalue(
        torch.tensor(m), 2, 1).values.tolist()
    z = cr.zeros(3, 3)
    z.fill_diagonal_(2.0)
    assert z.tolist() == torch.zeros(3, 3).fill_diagonal_(2.0).tolist()
    r = cr.tensor([0.2, 1.7])
    assert r.floor_().tolist() == [0.0, 1.0] and r is r.ceil_()
    assert cr.tensor([1.0, 2.0]).addmm(cr.eye(2), cr.ones(2, 2), beta=2).tolist() == [
        [3.0, 5.0], [3.0, 5.0]]


def test_distance_losses_match_torch() -> None:
    torch = _torch()
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal((4, 5)) for _ in range(3))
    y, v, t = np.array([1.0, -1.0, 1.0, -1.0]), rng.random((4, 5)) + 0.1, rng.random((4, 5)) * 3
    cases = [("cosine_similarity", (a, b), {}), ("pairwise_distance", (a, b), {"p": 1.0}),
             ("margin_ranking_loss", (a[:, 0], b[:, 0], y), {"margin": 0.3}),
             ("cosine_embedding_loss", (a, b, y), {"margin": 0.1}),
             ("triplet_margin_loss", (a, b, c), {"swap": True}),
             ("gaussian_nll_loss", (a, b, v[:, 0]), {"full": True}),
             ("poisson_nll_loss", (v, t), {"log_input": False, "full": True}),
             ("multilabel_soft_margin_loss", (a, (b > 0) * 1.0), {"reduction": "none"})]
    for name, args, kw in cases:
        got = getattr(cr.nn.functional, name)(*(cr.tensor(x) for x in args), **kw)
        want = getattr(torch.nn.functional, name)(*(torch.tensor(x) for x in args), **kw)
        assert np.allclose(got.tolist(), want.tolist(), atol=1e-6), name
    got = cr.cdist(cr.tensor(a), cr.tensor(b))
    assert np.allclose(got.tolist(), torch.cdist(torch.tensor(a), torch.tensor(b)).tolist())
    with pytest.raises(ValueError, match="var >= 0"):
        cr.nn.functional.gaussian_nll_loss(cr.zeros(2), cr.zeros(2), -cr.ones(2))


def test_kl_divergence_matches_torch() -> None:
    torch = _torch()
    from chainrule.distributions import kl_divergence

    td = torch.distributions
    p, q = np.array([[0.2, 0.8, 0.0], [0.3, 0.3, 0.4]]), np.array([[0.5, 0.25, 0.25]] * 2)
    pairs = [
        (kl_divergence(Normal(cr.tensor([0.3, -1.0]), cr.tensor([0.5, 2.0])),
                       Normal(cr.tensor([1.0, 0.0]), cr.tensor([1.5, 0.7]))),
         td.kl_divergence(td.Normal(torch.tensor([0.3, -1.0]), torch.tensor([0.5, 2.0])),
                          td.Normal(torch.tensor([1.0, 0.0]), torch.tensor([1.5, 0.7])))),
        (kl_divergence(Categorical(probs=cr.tensor(p)), Categorical(probs=cr.tensor(q))),
         td.kl_divergence(td.Categorical(probs=torch.tensor(p)),
                          td.Categorical(probs=torch.tensor(q)))),
        (kl_divergence(Bernoulli(probs=cr.tensor([0.2])), Bernoulli(logits=cr.tensor([0.5]))),
         td.kl_divergence(td.Bernoulli(probs=torch.tensor([0.2])),
                          td.Bernoulli(logits=torch.tensor([0.5])))),
    ]
    for got, want in pairs:
        assert np.allclose(got.tolist(), want.tolist(), atol=1e-6)
    with pytest.raises(NotImplementedError, match="no closed form"):
        kl_divergence(Normal(0.0, 1.0), Bernoulli(probs=cr.tensor(0.5)))


@pytest.mark.parametrize("kw", [dict(bins=4, min=0, max=3), dict(bins=5),
                                dict(bins=3, min=2, max=2), dict(bins=2, min=-5, max=0)])
def test_histc_matches_torch(kw):
    torch = pytest.importorskip("torch")
    x = [1.0, 2.0, 1.0, 2.5, -1.0, 3.0]
    assert cr.histc(cr.tensor(x), **kw).tolist() == torch.histc(torch.tensor(x), **kw).tolist()
    assert cr.histc(cr.tensor([2.0, 2.0]), bins=3).tolist() == [0.0, 2.0, 0.0]  # widened by 1


def test_histogram_matches_torch_and_histc_refuses_bad_input():
    torch = pytest.importorskip("torch")
    x = [1.0, 2.0, 1.0, 0.2]
    for bins, kw in ((4, dict(range=(0.0, 3.0))), ([0.0, 1.0, 2.5, 4.0], dict(density=True)),
                     (3, dict(weight=[1.0, 2.0, 0.5, 1.0]))):
        cb = cr.tensor(bins) if isinstance(bins, list) else bins
        tb = torch.tensor(bins) if isinstance(bins, list) else bins
        ckw = {k: cr.tensor(v) if k == "weight" else v for k, v in kw.items()}
        tkw = {k: torch.tensor(v) if k == "weight" else v for k, v in kw.items()}
        ours = cr.histogram(cr.tensor(x), cb, **ckw)
        theirs = torch.histogram(torch.tensor(x), tb, **tkw)
        np.testing.assert_allclose(ours.hist.numpy(), theirs.hist.numpy(), rtol=1e-6)
        np.testing.assert_allclose(ours.bin_edges.numpy(), theirs.bin_edges.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="histc: max must be larger than min"):
        cr.histc(cr.tensor(x), bins=3, min=2, max=1)
    with pytest.raises(Exception, match="histc: expects a floating-point tensor"):
        cr.histc(cr.tensor([1, 2]))
    with pytest.raises(Exception, match="histogram: weight has 2 elements, input 4"):
        cr.histogram(cr.tensor(x), 3, weight=cr.tensor([1.0, 2.0]))
