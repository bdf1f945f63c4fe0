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


def test_linalg_norm_refuses_svd_norms() -> None:
    with pytest.raises(NotImplementedError, match="no SVD"):
        cr.linalg.matrix_norm(cr.ones(2, 2), ord="nuc")


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
