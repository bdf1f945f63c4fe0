"""``cr.distributions`` against ``torch.distributions``: values (log_prob, entropy, mean, mode,
variance, stddev, cdf, icdf) and their gradients with respect to the parameters, in float64 with
the same parameters; shapes with sample, batch and event dimensions; ``expand``; sample moments
over many draws (fixed seeds, tolerances of several standard errors); the pathwise gradients of
``rsample``; ``validate_args`` errors; constraints; transforms; ``kl_divergence``."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.distributions as D

torch = pytest.importorskip("torch")
TD = torch.distributions


def _np(t: Any) -> np.ndarray:
    return t.detach().numpy() if hasattr(t, "detach") else np.asarray(t)


def _tensors(fw: Any, params: dict, const: tuple = ()) -> dict:
    """The parameters as float64 tensors of ``fw`` (cr or torch); floats require grad."""
    out = {}
    for k, v in params.items():
        a = np.asarray(v, dtype=np.float64)
        out[k] = (cr.tensor(a, requires_grad=k not in const) if fw is cr
                  else torch.tensor(a, requires_grad=k not in const))
    return out


def _close(a: Any, b: Any, rtol: float = 1e-9, atol: float = 1e-11, what: str = "") -> None:
    np.testing.assert_allclose(_np(a), _np(b), rtol=rtol, atol=atol, equal_nan=True,
                               err_msg=what)


# name -> (constructor(module, params), params, values for log_prob/cdf, constant params)
Ctor = Callable[[Any, dict], Any]
V = [[0.1, 0.2, -1.0], [1.5, -3.0, 2.5]]
POS = [[0.2, 1.5, 3.0], [0.7, 0.05, 2.2]]
UNIT = [[0.2, 0.5, 0.9], [0.7, 0.05, 0.33]]
COUNTS = [[0.0, 3.0, 1.0], [2.0, 7.0, 10.0]]
SIMPLEX = [[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]]
ONEHOT = [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
COV = [[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]]
TRIL = [[1.2, 0.0, 0.0], [0.3, 0.8, 0.0], [-0.4, 0.1, 0.6]]
LOC3 = [[0.1, -0.3, 0.5], [1.0, 0.0, -1.0]]
MVV = [[[0.0, 0.1, 0.2], [1.0, -1.0, 0.5]], [[0.3, 0.3, 0.3], [2.0, 0.0, -2.0]]]
LS = {"loc": [0.3, -1.0, 2.0], "scale": [0.5, 2.0, 1.3]}

CASES: dict[str, tuple[Ctor, dict, Any, tuple]] = {
    "Normal": (lambda d, p: d.Normal(p["loc"], p["scale"]), LS, V, ()),
    "Uniform": (lambda d, p: d.Uniform(p["low"], p["high"]),
                {"low": [0.0, -1.0, 2.0], "high": [1.0, 1.0, 5.0]},
                [[0.5, 0.0, 3.0], [0.1, 0.9, 4.9]], ()),
    "Exponential": (lambda d, p: d.Exponential(p["rate"]), {"rate": [0.5, 2.0, 1.3]}, POS, ()),
    "Laplace": (lambda d, p: d.Laplace(p["loc"], p["scale"]), LS, V, ()),
    "Cauchy": (lambda d, p: d.Cauchy(p["loc"], p["scale"]), LS, V, ()),
    "StudentT": (lambda d, p: d.StudentT(p["df"], p["loc"], p["scale"]),
                 {"df": [0.8, 1.5, 4.0], **LS}, V, ()),
    "Gamma": (lambda d, p: d.Gamma(p["concentration"], p["rate"]),
              {"concentration": [0.5, 2.0, 3.5], "rate": [1.0, 0.5, 2.0]}, POS, ()),
    "Chi2": (lambda d, p: d.Chi2(p["df"]), {"df": [1.0, 3.0, 7.5]}, POS, ()),
    "Beta": (lambda d, p: d.Beta(p["c1"], p["c0"]),
             {"c1": [0.5, 2.0, 3.5], "c0": [1.5, 0.7, 2.0]}, UNIT, ()),
    "Dirichlet": (lambda d, p: d.Dirichlet(p["concentration"]),
                  {"concentration": [[0.5, 2.0, 3.5], [1.5, 0.7, 2.0]]}, SIMPLEX, ()),
    "Poisson": (lambda d, p: d.Poisson(p["rate"]), {"rate": [0.5, 3.0, 6.5]}, COUNTS, ()),
    "Binomial": (lambda d, p: d.Binomial(p["n"], probs=p["probs"]),
                 {"n": [10.0, 10.0, 10.0], "probs": [0.2, 0.5, 0.9]}, COUNTS, ("n",)),
    "Binomial-logits": (lambda d, p: d.Binomial(p["n"], logits=p["logits"]),
                        {"n": [10.0, 10.0, 10.0], "logits": [-1.0, 0.3, 2.0]}, COUNTS, ("n",)),
    "Geometric": (lambda d, p: d.Geometric(p["probs"]), {"probs": [0.2, 0.5, 0.9]}, COUNTS, ()),
    "Geometric-logits": (lambda d, p: d.Geometric(logits=p["logits"]),
                         {"logits": [-1.0, 0.3, 2.0]}, COUNTS, ()),
    "Bernoulli": (lambda d, p: d.Bernoulli(p["probs"]), {"probs": [0.2, 0.5, 0.9]},
                  [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]], ()),
    "Categorical": (lambda d, p: d.Categorical(logits=p["logits"]),
                    {"logits": [[0.1, 1.0, -0.5], [2.0, 0.0, 0.3]]}, [[2.0, 0.0], [1.0, 1.0]], ()),
    "OneHotCategorical": (lambda d, p: d.OneHotCategorical(probs=p["probs"]),
                          {"probs": [[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]]}, ONEHOT, ()),
    "MVN-cov": (lambda d, p: d.MultivariateNormal(p["loc"], covariance_matrix=p["m"]),
                {"loc": LOC3, "m": COV}, MVV, ()),
    "MVN-precision": (lambda d, p: d.MultivariateNormal(p["loc"], precision_matrix=p["m"]),
                      {"loc": LOC3, "m": COV}, MVV, ()),
    "MVN-tril": (lambda d, p: d.MultivariateNormal(p["loc"], scale_tril=p["m"]),
                 {"loc": LOC3, "m": TRIL}, MVV, ()),
    "LogNormal": (lambda d, p: d.LogNormal(p["loc"], p["scale"]), LS, POS, ()),
    "Gumbel": (lambda d, p: d.Gumbel(p["loc"], p["scale"]), LS, V, ()),
    "HalfNormal": (lambda d, p: d.HalfNormal(p["scale"]), {"scale": [0.5, 2.0, 1.3]}, POS, ()),
    "RelaxedBernoulli": (lambda d, p: d.RelaxedBernoulli(p["t"], probs=p["probs"]),
                         {"t": 0.7, "probs": [0.2, 0.5, 0.9]}, UNIT, ()),
    "RelaxedOneHotCategorical": (
        lambda d, p: d.RelaxedOneHotCategorical(p["t"], logits=p["logits"]),
        {"t": 0.5, "logits": [[0.1, 1.0, -0.5], [2.0, 0.0, 0.3]]}, SIMPLEX, ()),
    "Independent": (lambda d, p: d.Independent(d.Normal(p["loc"], p["scale"]), 1),
                    {"loc": LOC3, "scale": [[0.5, 2.0, 1.3], [1.0, 0.2, 0.8]]}, MVV, ()),
    "MixtureSameFamily": (
        lambda d, p: d.MixtureSameFamily(d.Categorical(logits=p["w"]),
                                         d.Normal(p["loc"], p["scale"])),
        {"w": [0.1, 1.0, -0.5], **LS}, V, ()),
    "MixtureSameFamily-2d": (
        lambda d, p: d.MixtureSameFamily(d.Categorical(logits=p["w"]),
                                         d.Independent(d.Normal(p["loc"], p["scale"]), 1)),
        {"w": [0.1, 1.0, -0.5], "loc": [[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]],
         "scale": [[1.0, 0.5], [0.3, 2.0], [1.5, 1.0]]}, [[0.1, 0.2], [1.5, -3.0]], ()),
    "Transformed-affine-exp": (
        lambda d, p: d.TransformedDistribution(
            d.Normal(p["loc"], p["scale"]),
            [d.transforms.AffineTransform(p["a"], p["b"]), d.transforms.ExpTransform()]),
        {**LS, "a": [0.1, 0.0, -0.3], "b": [1.5, 0.5, 2.0]}, POS, ()),
    "Transformed-tanh": (
        lambda d, p: d.TransformedDistribution(d.Normal(p["loc"], p["scale"]),
                                               [d.transforms.TanhTransform()]),
        LS, [[0.1, 0.2, -0.9], [0.5, -0.3, 0.99]], ()),
    "Transformed-sigmoid-negaffine": (
        lambda d, p: d.TransformedDistribution(
            d.Normal(p["loc"], p["scale"]),
            [d.transforms.SigmoidTransform(), d.transforms.AffineTransform(1.0, -2.0)]),
        LS, [[0.1, 0.2, -0.9], [0.5, -0.3, 0.99]], ()),
}
ATTRS = ("mean", "mode", "variance", "stddev")
METHODS = ("log_prob", "cdf", "entropy", "icdf")


def _pair(name: str) -> tuple[Any, Any, dict, dict, Any]:
    ctor, params, value, const = CASES[name]
    pc, pt = _tensors(cr, params, const), _tensors(torch, params, const)
    return ctor(D, pc), ctor(TD, pt), pc, pt, value


def _call(dist: Any, what: str, value: Any, fw: Any) -> Any:
    if what in ATTRS:
        return getattr(dist, what)
    if what == "entropy":
        return dist.entropy()
    if what == "icdf":
        return dist.icdf(fw.tensor(np.asarray(UNIT, dtype=np.float64)))
    return getattr(dist, what)(fw.tensor(np.asarray(value, dtype=np.float64)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_gradients_match_torch(name: str) -> None:
    ours, theirs, pc, pt, value = _pair(name)
    assert ours.batch_shape == tuple(theirs.batch_shape), name
    assert ours.event_shape == tuple(theirs.event_shape), name
    assert ours.has_rsample == theirs.has_rsample, name
    checked = 0
    for what in ATTRS + METHODS:
        try:
            want = _call(theirs, what, value, torch)
        except NotImplementedError:
            with pytest.raises(NotImplementedError):
                _call(ours, what, value, cr)
            continue
        got = _call(ours, what, value, cr)
        _close(got, want, what=f"{name}.{what}")
        checked += 1
        if not (isinstance(got, cr.Tensor) and got.requires_grad):
            continue
        w = np.random.default_rng(0).standard_normal(tuple(got.shape))
        for k in pc:
            if not pc[k].requires_grad:
                continue
            try:
                (gt,) = torch.autograd.grad((want * torch.tensor(w)).sum(), [pt[k]],
                                            retain_graph=True, allow_unused=True)
            except RuntimeError as e:  # PyTorch has no gradient here (igamma's a)
                assert "not implemented" in str(e), e
                continue
            (gc,) = cr.grad((got * cr.tensor(w)).sum(), [pc[k]], retain_graph=True,
                            allow_unused=True)
            if gt is None:
                assert gc is None or not np.any(_np(gc)), f"{name}.{what} d/d{k}"
                continue
            _close(gc, gt, rtol=1e-7, atol=1e-9, what=f"{name}.{what} d/d{k}")
    assert checked >= 1, name  # log_prob at least (a relaxed distribution has no mean)


@pytest.mark.parametrize("name", sorted(CASES))
def test_shapes_with_sample_batch_and_event_dims(name: str) -> None:
    ours, theirs, *_ = _pair(name)
    cr.manual_seed(0)
    x = ours.sample((4, 2))
    shape = (4, 2, *ours.batch_shape, *ours.event_shape)
    assert tuple(x.shape) == shape and not x.requires_grad, name
    assert tuple(x.shape) == tuple(theirs.sample((4, 2)).shape)
    lp = ours.log_prob(x)
    assert tuple(lp.shape) == (4, 2, *ours.batch_shape), name
    assert np.all(np.isfinite(_np(lp))), name
    if ours.has_rsample:
        r = ours.rsample((3,))
        assert tuple(r.shape) == (3, *ours.batch_shape, *ours.event_shape) and r.requires_grad
    big = ours.expand((5, *ours.batch_shape))
    assert big.batch_shape == (5, *ours.batch_shape)
    assert big.event_shape == ours.event_shape
    assert tuple(big.sample((2,)).shape) == (2, 5, *ours.batch_shape, *ours.event_shape)
    bx = cr.tensor(np.broadcast_to(_np(x)[0, 0], (5, *x.shape[2:])).copy())
    _close(big.log_prob(bx), np.broadcast_to(_np(ours.log_prob(x[0, 0])), (5, *ours.batch_shape)),
           what=f"{name} expand")


@pytest.mark.parametrize("name", ["Bernoulli", "Categorical", "OneHotCategorical",
                                  "Binomial"])
def test_enumerate_support_matches_torch(name: str) -> None:
    ours, theirs, *_ = _pair(name)
    assert ours.has_enumerate_support and theirs.has_enumerate_support
    for expand in (True, False):
        got, want = ours.enumerate_support(expand), theirs.enumerate_support(expand)
        assert tuple(got.shape) == tuple(want.shape)
        _close(got, want)
    _close(ours.log_prob(ours.enumerate_support()).exp().sum(0), 1.0)


def test_dirichlet_mode_below_one_and_float32() -> None:
    c = [[0.5, 0.7, 0.2], [2.0, 0.5, 3.0]]
    _close(D.Dirichlet(cr.tensor(c, dtype=cr.float64)).mode,
           TD.Dirichlet(torch.tensor(c, dtype=torch.float64)).mode)
    for name in sorted(CASES):
        ctor, params, *_ = CASES[name]
        p32 = {k: cr.tensor(np.asarray(v, dtype=np.float32)) for k, v in params.items()}
        d = ctor(D, p32)
        x = d.rsample((2,)) if d.has_rsample else d.sample((2,))
        assert x.dtype == (cr.int64 if name == "Categorical" else cr.float32), name
        assert d.log_prob(x).dtype == cr.float32, name


# -- sample moments (fixed seeds; tolerances several standard errors wide) --------------------
MOMENT_CASES = [n for n in CASES if n not in ("Cauchy", "StudentT", "RelaxedBernoulli",
                                               "RelaxedOneHotCategorical", "Categorical")
                and "Transformed" not in n]


@pytest.mark.parametrize("name", MOMENT_CASES)
def test_sample_moments(name: str) -> None:
    ours, *_ = _pair(name)
    cr.manual_seed(1)
    n = 40000
    x = _np(ours.sample((n,)))
    mean, var = _np(ours.mean), _np(ours.variance)
    se_mean = np.sqrt(var / n)
    assert np.all(np.abs(x.mean(0) - mean) < 6 * se_mean + 1e-12), name
    fourth = ((x - mean) ** 4).mean(0)
    se_var = np.sqrt(np.maximum(fourth - var ** 2, 0) / n)
    assert np.all(np.abs(x.var(0) - var) < 6 * se_var + 1e-3 * var + 1e-12), name
    cr.manual_seed(1)
    np.testing.assert_array_equal(_np(ours.sample((n,))), x)  # reproducible from the seed


def test_heavy_tailed_and_relaxed_samples_by_quantiles() -> None:
    cr.manual_seed(2)
    n = 40000
    for dist, probe in ((D.Cauchy(0.5, 2.0), [-3.0, 0.5, 4.0]),
                        (D.StudentT(3.0, 0.5, 2.0), [-3.0, 0.5, 4.0])):
        x = _np(dist.sample((n,)))
        want = [float(torch.distributions.Cauchy(0.5, 2.0).cdf(torch.tensor(v)))
                if isinstance(dist, D.Cauchy) else _student_cdf(v) for v in probe]
        for v, p in zip(probe, want):
            assert abs((x <= v).mean() - p) < 6 * math.sqrt(p * (1 - p) / n)
    rb = D.RelaxedBernoulli(cr.tensor(0.5), probs=cr.tensor([0.2, 0.8])).sample((n,))
    assert (_np(rb) > 0).all() and (_np(rb) < 1).all()
    np.testing.assert_allclose((_np(rb) > 0.5).mean(0), [0.2, 0.8], atol=0.02)
    ro = D.RelaxedOneHotCategorical(cr.tensor(0.3), probs=cr.tensor([0.2, 0.5, 0.3]))
    s = _np(ro.sample((n,)))
    np.testing.assert_allclose(s.sum(-1), 1.0, rtol=1e-5)  # float32
    np.testing.assert_allclose(np.bincount(s.argmax(-1), minlength=3) / n, [0.2, 0.5, 0.3],
                               atol=0.02)  # the argmax of a Gumbel-softmax draw is categorical


def _student_cdf(v: float) -> float:
    """The CDF of StudentT(3, 0.5, 2) (closed form for 3 degrees of freedom)."""
    x = (v - 0.5) / 2.0
    s3 = math.sqrt(3.0)
    return 0.5 + (math.atan(x / s3) + x * s3 / (x * x + 3)) / math.pi


# -- rsample: the pathwise gradients --------------------------------------------------------------
def _grads(sample_fn: Callable[[dict], Any], params: dict, fw: Any, seed: int = 0) -> tuple:
    """A sample and the gradient of sum(sample * w) with respect to each parameter."""
    ps = _tensors(fw, params)
    (cr.manual_seed if fw is cr else torch.manual_seed)(seed)
    x = sample_fn(ps)
    w = np.random.default_rng(3).standard_normal(tuple(x.shape))
    out = (x * fw.tensor(w)).sum()
    gs = (cr.grad(out, list(ps.values())) if fw is cr
          else torch.autograd.grad(out, list(ps.values())))
    return _np(x), w, dict(zip(ps, map(_np, gs)))


def _check_pathwise(name: str, params: dict, ctor: Callable, formula: Callable) -> None:
    """Our rsample gradients and PyTorch's each equal ``formula(x, params)`` (d x / d param per
    element) at their own samples: the same reparameterisation."""
    for fw, mod in ((cr, D), (torch, TD)):
        x, w, gs = _grads(lambda p, m=mod: ctor(m, p).rsample((7,)), params, fw)
        for k, dxdp in formula(x, {k: np.asarray(v, float) for k, v in params.items()}).items():
            want = (w * dxdp).reshape(-1, *np.shape(params[k])).sum(0)
            _close(gs[k], want, rtol=1e-8, atol=1e-10, what=f"{name} {fw.__name__} d/d{k}")


def test_rsample_pathwise_gradients_location_scale() -> None:
    ls = {"loc": [0.3, -1.0], "scale": [0.5, 2.0]}

    def loc_scale(x: Any, p: dict) -> dict:
        return {"loc": np.ones_like(x), "scale": (x - p["loc"]) / p["scale"]}

    for name in ("Normal", "Laplace", "Cauchy"):
        _check_pathwise(name, ls, lambda m, p, n=name: getattr(m, n)(p["loc"], p["scale"]),
                        loc_scale)
    _check_pathwise("Gumbel", ls, lambda m, p: m.Gumbel(p["loc"], p["scale"]), loc_scale)
    _check_pathwise("StudentT", {**ls, "df": [3.0, 7.0]},
                    lambda m, p: m.StudentT(p["df"], p["loc"], p["scale"]), loc_scale)
    _check_pathwise("LogNormal", ls, lambda m, p: m.LogNormal(p["loc"], p["scale"]),
                    lambda x, p: {"loc": x, "scale": x * (np.log(x) - p["loc"]) / p["scale"]})
    _check_pathwise("HalfNormal", {"scale": [0.5, 2.0]}, lambda m, p: m.HalfNormal(p["scale"]),
                    lambda x, p: {"scale": x / p["scale"]})
    _check_pathwise("Exponential", {"rate": [0.5, 2.0]}, lambda m, p: m.Exponential(p["rate"]),
                    lambda x, p: {"rate": -x / p["rate"]})
    _check_pathwise("Uniform", {"low": [0.0, -1.0], "high": [1.0, 3.0]},
                    lambda m, p: m.Uniform(p["low"], p["high"]),
                    lambda x, p: {"low": (p["high"] - x) / (p["high"] - p["low"]),
                                  "high": (x - p["low"]) / (p["high"] - p["low"])})


def test_rsample_gradient_relaxed_distributions() -> None:
    """Gumbel-softmax: y = softmax(s), s = (logits + g) / T, so d (w.y) / d logits = J w / T
    and d (w.y) / d T = -(J w).log(y) / T with J = diag(y) - y y^T: functions of the sample
    alone, which both frameworks' gradients equal. The same for the binary relaxation
    (y = sigmoid(s): J w = y (1 - y) w, log y becomes logit(y))."""
    def onehot(x: Any, w: Any, t: float) -> tuple:
        jw = x * w - x * (x * w).sum(-1, keepdims=True)
        return jw / t, -(jw * np.log(x)).sum() / t

    def binary(x: Any, w: Any, t: float) -> tuple:
        jw = x * (1 - x) * w
        return jw / t, -(jw * np.log(x / (1 - x))).sum() / t

    params = {"t": [0.7], "logits": [0.1, 1.0, -0.5]}
    for name, formula in (("RelaxedOneHotCategorical", onehot), ("RelaxedBernoulli", binary)):
        for fw, mod in ((cr, D), (torch, TD)):
            x, w, gs = _grads(lambda p, m=mod, n=name: getattr(m, n)(p["t"], logits=p["logits"])
                              .rsample((7,)), params, fw)
            d_logits, d_t = formula(x, w, 0.7)
            _close(gs["logits"], d_logits.sum(0), rtol=1e-7, atol=1e-9, what=name)
            _close(gs["t"], [d_t], rtol=1e-7, atol=1e-9, what=name)


def test_rsample_gradient_multivariate_normal() -> None:
    """x = loc + L eps: d x / d loc = I and d (w.x) / d L = w eps^T (eps = L^-1 (x - loc))
    for both frameworks' samples."""
    loc = np.array([0.1, -0.3, 0.5])
    lo = np.array(TRIL)
    for fw, mod in ((cr, D), (torch, TD)):
        x, w, gs = _grads(lambda p, m=mod: m.MultivariateNormal(p["loc"], scale_tril=p["m"])
                          .rsample((6,)), {"loc": loc, "m": lo}, fw)
        eps = np.linalg.solve(lo, (x - loc).T).T
        _close(gs["loc"], w.sum(0), rtol=1e-10)
        _close(gs["m"], w.T @ eps, rtol=1e-8, atol=1e-10)  # the full matmul, as PyTorch


def test_rsample_gamma_concentration_gradient_is_the_implicit_one() -> None:
    """d x / d a of a Gamma(a, rate) sample is (1 / rate) times the standard gamma's implicit
    gradient at x * rate: ours matches PyTorch's ``_standard_gamma_grad`` (an approximation,
    ~1e-3 relative at worst) at our samples and at PyTorch's, and d x / d rate = -x / rate."""
    a, rate = np.array([0.3, 1.0, 2.5, 9.0]), np.array([1.0, 2.0, 0.5, 1.5])

    def formula(x: Any, p: dict) -> dict:
        z = torch.tensor(x * p["rate"])
        g = torch._standard_gamma_grad(torch.tensor(p["concentration"]).expand_as(z), z)
        return {"concentration": g.numpy() / p["rate"], "rate": -x / p["rate"]}

    for fw, mod in ((cr, D), (torch, TD)):
        x, w, gs = _grads(lambda p, m=mod: m.Gamma(p["concentration"], p["rate"]).rsample((50,)),
                          {"concentration": a, "rate": rate}, fw)
        f = formula(x, {"concentration": a, "rate": rate})
        _close(gs["rate"], (w * f["rate"]).sum(0), rtol=1e-8)
        per = np.abs(w * f["concentration"]).sum(0)
        assert np.all(np.abs(gs["concentration"] - (w * f["concentration"]).sum(0))
                      <= 2e-3 * per), fw.__name__


def test_gamma_quantile_gradient_is_accurate() -> None:
    """The shape gradient against mpmath (40 digits) from the lower tail to the upper, small
    and large concentrations, both regimes (series below x = 1, differences above)."""
    mp = pytest.importorskip("mpmath")
    from chainrule.ops.gamma import quantile_shape_grad

    mp.mp.dps = 40
    for a, x in [(0.05, 1e-20), (0.3, 0.01), (0.5, 0.999), (0.5, 1.0), (1.0, 3.0), (2.5, 0.4),
                 (2.5, 7.0), (9.0, 8.5), (30.0, 45.0), (1000.0, 950.0)]:
        am, xm = mp.mpf(a), mp.mpf(x)
        dp = mp.diff(lambda b, xm=xm: mp.gammainc(b, 0, xm, regularized=True), am)
        want = float(-dp / (xm ** (am - 1) * mp.exp(-xm) / mp.gamma(am)))
        got = float(quantile_shape_grad(np, np.array(a), np.array(x)))
        assert abs(got - want) <= 1e-9 * abs(want), (a, x, got, want)


def test_log_prob_at_the_edge_of_the_support_is_infinite_without_warnings() -> None:
    """Densities that diverge at 0 (concentration < 1) give +inf there, as PyTorch, and the
    incomplete gamma function's gradients at x = 0 are PyTorch's (inf in x, 0 in a)."""
    for ours, theirs, v in ((D.Gamma(0.5, 1.0), TD.Gamma(0.5, 1.0), [0.0]),
                            (D.Beta(0.5, 2.0), TD.Beta(0.5, 2.0), [0.0]),
                            (D.Dirichlet(cr.tensor([0.5, 2.0])),
                             TD.Dirichlet(torch.tensor([0.5, 2.0])), [0.0, 1.0])):
        _close(ours.log_prob(cr.tensor(v)), theirs.log_prob(torch.tensor(v)))
    a = cr.tensor([0.5, 2.0], requires_grad=True)
    x = cr.tensor([0.0, 0.0], requires_grad=True)
    ga, gx = cr.grad(cr.igamma(a, x).sum(), [a, x])
    assert _np(ga).tolist() == [0.0, 0.0] and _np(gx).tolist() == [math.inf, 0.0]


def test_gamma_quantile_and_igamma_agree_with_torch_and_the_cdf_identity() -> None:
    from chainrule.ops.gamma import _gamma_quantile

    a = cr.tensor([0.4, 1.0, 3.0], dtype=cr.float64, requires_grad=True)
    u = cr.tensor([0.1, 0.5, 0.95], dtype=cr.float64, requires_grad=True)
    x = _gamma_quantile(a, u)
    ta = torch.tensor(_np(a))
    _close(torch.igamma(ta, torch.tensor(_np(x))), _np(u), rtol=1e-10)  # P(a, x) = u
    ga, gu = cr.grad(x.sum(), [a, u])
    # the CDF identity: d/da P(a, x(a)) = 0, so dP/da = -p(x) dx/da; dx/du = 1 / p(x)
    pdf = np.exp(TD.Gamma(ta, 1.0).log_prob(torch.tensor(_np(x))).numpy())
    _close(_np(gu), 1 / pdf, rtol=1e-10)
    xa = cr.tensor(_np(x), requires_grad=True)
    aa = cr.tensor(_np(a), requires_grad=True)
    dpa, dpx = cr.grad(cr.igamma(aa, xa).sum(), [aa, xa])
    _close(_np(dpa), -_np(dpx) * _np(ga), rtol=1e-12)
    _close(_np(dpx), pdf, rtol=1e-10)
    tx = torch.tensor(_np(x), requires_grad=True)
    (tgx,) = torch.autograd.grad(torch.igamma(ta, tx).sum(), [tx])
    _close(_np(dpx), tgx, rtol=1e-10)
    _close(cr.igammac(aa, xa), torch.igammac(ta, tx), rtol=1e-10)
    x32 = _gamma_quantile(cr.tensor([2.0], dtype=cr.float32), cr.tensor([0.5],
                                                                         dtype=cr.float32))
    assert x32.dtype == cr.float32


@pytest.mark.parametrize(("name", "make", "mean_grad"), [
    ("Beta", lambda m, t: m.Beta(t[:, 0], t[:, 1]),
     lambda c: np.array([c[1], -c[0]]) / (c[0] + c[1]) ** 2),
    ("Dirichlet", lambda m, t: m.Dirichlet(t),  # d E[x_0] / d c
     lambda c: (np.eye(len(c))[0] * c.sum() - c[0]) / c.sum() ** 2),
    ("Chi2", lambda m, t: m.Chi2(t[:, 0]), lambda c: np.array([1.0])),
    ("StudentT", lambda m, t: m.StudentT(t[:, 0], 0.5, 2.0), lambda c: np.array([0.0])),
])
def test_rsample_gradient_is_unbiased(name: str, make: Callable, mean_grad: Callable) -> None:
    """Beta and Dirichlet samples here are normalised gammas (PyTorch differentiates the Beta
    marginal's quantile instead): the per-sample gradients differ but both are unbiased, so the
    average pathwise gradient of the sample's first coordinate is d E[x] / d params, for ours
    and for PyTorch's, within a few standard errors. One batch row per draw gives the
    per-sample gradients from one backward pass."""
    c = {"Beta": [0.7, 2.5], "Dirichlet": [0.7, 2.5, 1.2], "StudentT": [5.0]}.get(name, [3.0])
    want = mean_grad(np.asarray(c))
    n = 20000
    for fw, mod in ((cr, D), (torch, TD)):
        t = _tensors(fw, {"c": np.tile(c, (n, 1))})["c"]
        (cr.manual_seed if fw is cr else torch.manual_seed)(5)
        x = make(mod, t).rsample()
        first = x[:, 0] if x.ndim > 1 else x
        g = _np(fw.autograd.grad(first.sum(), [t])[0])
        se = g.std(0) / np.sqrt(n)
        assert np.all(np.abs(g.mean(0) - want) < 5 * se + 1e-9), (name, fw.__name__,
                                                                  g.mean(0), want)


def test_reparameterised_gamma_trains() -> None:
    """A Gamma's concentration fitted by gradient descent on a pathwise loss: E[x] = a / rate
    is driven to 3 through rsample alone."""
    cr.manual_seed(0)
    log_a = cr.tensor(0.0, requires_grad=True)
    opt = cr.optim.Adam([log_a], lr=0.05)
    for _ in range(300):
        x = D.Gamma(log_a.exp(), 1.0).rsample((256,))
        loss = (x.mean() - 3.0) ** 2
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert abs(float(log_a.exp()) - 3.0) < 0.15


# -- validate_args --------------------------------------------------------------------------------
def _message_parts(msg: str) -> tuple:
    """What a validation error says: which argument, its shape, the constraint (the framework's
    names for Size and dtype removed)."""
    msg = re.sub(r"(torch|cr)\.", "", msg).replace("Size([", "(").replace("])", ")")
    m = re.match(r"Expected (parameter (\w+)|value argument) \(Tensor of shape (.*?)\) "
                 r"(?:of distribution .* to satisfy the constraint (.*), but found"
                 r"|to be within the support \((.*)\) of the distribution)", msg, re.S)
    assert m, msg
    return m.group(1), m.group(3).strip("(),"), m.group(4) or m.group(5)


@pytest.mark.parametrize(("make", "params"), [
    (lambda d, p: d.Normal(p["a"], p["b"]), {"a": [0.0], "b": [-1.0]}),
    (lambda d, p: d.Uniform(p["a"], p["b"]), {"a": [1.0], "b": [0.0]}),
    (lambda d, p: d.Gamma(p["a"], p["b"]), {"a": [0.0, 1.0], "b": [1.0, 1.0]}),
    (lambda d, p: d.Beta(p["a"], p["b"]), {"a": [1.0], "b": [-2.0]}),
    (lambda d, p: d.Dirichlet(p["a"]), {"a": [[1.0, -1.0]]}),
    (lambda d, p: d.Poisson(p["a"]), {"a": [-0.5]}),
    (lambda d, p: d.Binomial(p["a"], probs=p["b"]), {"a": [2.5], "b": [0.5]}),
    (lambda d, p: d.Bernoulli(p["a"]), {"a": [1.5]}),
    (lambda d, p: d.Categorical(probs=p["a"]), {"a": [[0.5, -0.5]]}),
    (lambda d, p: d.Chi2(p["a"]), {"a": [-1.0]}),
    (lambda d, p: d.StudentT(p["a"]), {"a": [0.0]}),
    (lambda d, p: d.MultivariateNormal(p["a"], covariance_matrix=p["b"]),
     {"a": [0.0, 0.0], "b": [[1.0, 2.0], [2.0, 1.0]]}),
    (lambda d, p: d.MultivariateNormal(p["a"], scale_tril=p["b"]),
     {"a": [0.0, 0.0], "b": [[1.0, 0.0], [2.0, -1.0]]}),
    (lambda d, p: d.LogNormal(p["a"], p["b"]), {"a": [0.0], "b": [0.0]}),
    (lambda d, p: d.Laplace(p["a"], p["b"]), {"a": [float("nan")], "b": [1.0]}),
])
def test_invalid_parameters_raise_torchs_value_error(make: Callable, params: dict) -> None:
    with pytest.raises(ValueError) as theirs:
        make(TD, _tensors(torch, params, tuple(params)))
    with pytest.raises(ValueError) as ours:
        make(D, _tensors(cr, params, tuple(params)))
    assert _message_parts(str(ours.value)) == _message_parts(str(theirs.value))
    D.Distribution.set_default_validate_args(False)
    try:
        if "MultivariateNormal" not in str(ours.value):
            make(D, _tensors(cr, params, tuple(params)))  # no check: no error
    finally:
        D.Distribution.set_default_validate_args(True)


@pytest.mark.parametrize(("make", "params", "value"), [
    (lambda d, p: d.Normal(p["a"], p["b"]), {"a": [0.0], "b": [1.0]}, [float("nan")]),
    (lambda d, p: d.Uniform(p["a"], p["b"]), {"a": [0.0], "b": [1.0]}, [1.5]),
    (lambda d, p: d.Exponential(p["a"]), {"a": [1.0]}, [-1.0]),
    (lambda d, p: d.Gamma(p["a"], p["b"]), {"a": [1.0], "b": [1.0]}, [-0.5]),
    (lambda d, p: d.Beta(p["a"], p["b"]), {"a": [1.0], "b": [1.0]}, [1.5]),
    (lambda d, p: d.Dirichlet(p["a"]), {"a": [[1.0, 1.0]]}, [[0.3, 0.3]]),
    (lambda d, p: d.Poisson(p["a"]), {"a": [1.0]}, [1.5]),
    (lambda d, p: d.Binomial(p["a"], probs=p["b"]), {"a": [3.0], "b": [0.5]}, [4.0]),
    (lambda d, p: d.Geometric(p["a"]), {"a": [0.5]}, [-1.0]),
    (lambda d, p: d.OneHotCategorical(p["a"]), {"a": [[0.5, 0.5]]}, [[1.0, 1.0]]),
    (lambda d, p: d.HalfNormal(p["a"]), {"a": [1.0]}, [-1.0]),
    (lambda d, p: d.LogNormal(p["a"], p["b"]), {"a": [0.0], "b": [1.0]}, [0.0]),
    (lambda d, p: d.RelaxedBernoulli(p["a"], probs=p["b"]), {"a": 0.5, "b": [0.5]}, [1.5]),
])
def test_values_outside_the_support_raise_torchs_value_error(make: Callable, params: dict,
                                                             value: list) -> None:
    theirs_d = make(TD, _tensors(torch, params, tuple(params)))
    ours_d = make(D, _tensors(cr, params, tuple(params)))
    with pytest.raises(ValueError) as theirs:
        theirs_d.log_prob(torch.tensor(value, dtype=torch.float64))
    with pytest.raises(ValueError) as ours:
        ours_d.log_prob(cr.tensor(value, dtype=cr.float64))
    assert _message_parts(str(ours.value)) == _message_parts(str(theirs.value))


def test_shape_and_type_errors_match_torch() -> None:
    n = D.MultivariateNormal(cr.zeros(3), cr.eye(3))
    with pytest.raises(ValueError, match=r"right-most size of value must match event_shape"):
        n.log_prob(cr.zeros(2))
    with pytest.raises(ValueError, match=r"not broadcastable with batch_shape\+event_shape"):
        D.Normal(cr.zeros(3), 1.0).log_prob(cr.zeros(2))
    with pytest.raises(ValueError, match="must be a Tensor"):
        D.Normal(0.0, 1.0).log_prob(0.5)
    with pytest.raises(ValueError, match="Exactly one of covariance_matrix"):
        D.MultivariateNormal(cr.zeros(2))
    with pytest.raises(ValueError, match="must end with \\(2, 2\\)"):
        D.MultivariateNormal(cr.zeros(2), cr.eye(3))
    with pytest.raises(ValueError, match="not both"):
        D.Binomial(3, probs=cr.tensor(0.5), logits=cr.tensor(0.0))
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims"):
        D.Independent(D.Normal(cr.zeros(3), 1.0), 2)
    with pytest.raises(ValueError, match="to be positive"):
        D.Geometric(cr.tensor([0.0, 0.5]))
    with pytest.raises(ValueError, match="batch_shape"):
        D.MixtureSameFamily(D.Categorical(logits=cr.zeros(2)), D.Normal(cr.zeros(3), 1.0))
    with pytest.raises(NotImplementedError, match="rsample"):
        D.Poisson(cr.tensor(1.0)).rsample()
    with pytest.raises(TypeError, match=r"such as \(5,\)"):
        D.Normal(0.0, 1.0).sample(5)


# -- constraints and transforms -------------------------------------------------------------------
def test_constraints_check_and_repr_as_torch() -> None:
    tc, cc = torch.distributions.constraints, D.constraints
    vals = np.array([[-1.0, 0.0, 0.5, 1.0, 2.0, float("nan")]])
    for name in ("real", "positive", "nonnegative", "unit_interval", "boolean",
                 "nonnegative_integer", "positive_integer"):
        ours, theirs = getattr(cc, name), getattr(tc, name)
        assert repr(ours) == repr(theirs)
        np.testing.assert_array_equal(_np(ours.check(cr.tensor(vals))),
                                      theirs.check(torch.tensor(vals)).numpy())
    for ours, theirs in ((cc.interval(0.0, 1.0), tc.interval(0.0, 1.0)),
                         (cc.half_open_interval(0.0, 1.0), tc.half_open_interval(0.0, 1.0)),
                         (cc.greater_than(0.5), tc.greater_than(0.5)),
                         (cc.less_than(0.5), tc.less_than(0.5)),
                         (cc.integer_interval(0, 2), tc.integer_interval(0, 2)),
                         (cc.independent(cc.positive, 1), tc.independent(tc.positive, 1)),
                         (cc.simplex, tc.simplex), (cc.real_vector, tc.real_vector)):
        assert repr(ours) == repr(theirs) and ours.event_dim == theirs.event_dim
        assert ours.is_discrete == theirs.is_discrete
        np.testing.assert_array_equal(_np(ours.check(cr.tensor(vals))),
                                      theirs.check(torch.tensor(vals)).numpy())
    m = np.array([[[2.0, 0.5], [0.5, 1.0]], [[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]]])
    for name in ("positive_definite", "lower_cholesky", "lower_triangular", "symmetric",
                 "square"):
        np.testing.assert_array_equal(_np(getattr(cc, name).check(cr.tensor(m))),
                                      getattr(tc, name).check(torch.tensor(m)).numpy(), name)
    assert D.Normal.arg_constraints["scale"] is cc.positive
    assert cc.is_dependent(D.Uniform.support) and cc.is_dependent(D.Binomial.support)
    u = D.Uniform(cr.tensor([0.0, 1.0]), cr.tensor([2.0, 3.0]))
    assert _np(u.support.check(cr.tensor([1.5, 0.5]))).tolist() == [True, False]
    with pytest.raises(ValueError, match="dependent"):
        cc.dependent.check(cr.tensor(1.0))


@pytest.mark.parametrize("name", ["ExpTransform", "SigmoidTransform", "TanhTransform",
                                  "SoftplusTransform", "AbsTransform", "affine", "power",
                                  "compose", "inverse"])
def test_transforms_match_torch(name: str) -> None:
    def make(m: Any, fw: Any) -> Any:
        if name == "affine":
            return m.AffineTransform(fw.tensor([0.5, -1.0]), fw.tensor([2.0, -0.5]))
        if name == "power":
            return m.PowerTransform(fw.tensor(1.5))
        if name == "compose":
            return m.ComposeTransform([m.AffineTransform(0.3, 2.0), m.TanhTransform(),
                                       m.AffineTransform(1.0, 3.0)])
        if name == "inverse":
            return m.ExpTransform().inv
        return getattr(m, name)()

    x = np.array([[0.3, 1.2], [-0.7, 0.05]]) if name not in ("power", "inverse") \
        else np.array([[0.3, 1.2], [0.7, 0.05]])
    ours, theirs = make(D.transforms, cr), make(TD.transforms, torch)
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yc, yt = ours(xc), theirs(xt)
    _close(yc, yt)
    assert repr(ours).replace("\n", "").replace(" ", "")[:12] == \
        repr(theirs).replace("\n", "").replace(" ", "")[:12]
    assert ours.domain.event_dim == theirs.domain.event_dim
    assert ours.codomain.event_dim == theirs.codomain.event_dim
    if name != "AbsTransform":
        _close(ours.inv(yc), theirs.inv(yt), rtol=1e-8)
        _close(ours.log_abs_det_jacobian(xc, yc), theirs.log_abs_det_jacobian(xt, yt))
        lt = theirs.log_abs_det_jacobian(xt, theirs(xt)).sum()
        if lt.requires_grad:  # (not for an affine map: a constant)
            (gc,) = cr.grad(ours.log_abs_det_jacobian(xc, ours(xc)).sum(), [xc])
            _close(gc, torch.autograd.grad(lt, [xt])[0])
        assert ours.bijective == theirs.bijective
    if name in ("ExpTransform", "SigmoidTransform", "TanhTransform"):
        assert ours == getattr(D.transforms, name)() and ours.sign == 1


def test_tanh_squashed_gaussian_policy_with_cache() -> None:
    """SAC's policy: with ``cache_size=1`` the log-probability of the policy's own rsample reads
    the pre-tanh value from the cache, so actions at +-1 (tanh saturated) stay finite."""
    loc, scale = np.array([0.0, 30.0]), np.array([1.0, 0.1])
    ours = D.TransformedDistribution(D.Normal(cr.tensor(loc), cr.tensor(scale)),
                                     [D.transforms.TanhTransform(cache_size=1)])
    theirs = TD.TransformedDistribution(TD.Normal(torch.tensor(loc), torch.tensor(scale)),
                                        [TD.transforms.TanhTransform(cache_size=1)])
    cr.manual_seed(0)
    a = ours.rsample()
    assert float(a[1]) == 1.0  # saturated in float64
    lp = ours.log_prob(a)
    assert np.all(np.isfinite(_np(lp)))
    z = cr.tensor([0.25, 2.0], dtype=cr.float64)  # not saturated: no cache needed
    ta = torch.tensor(_np(z)).tanh()
    ours_nc = D.TransformedDistribution(D.Normal(cr.tensor(loc), cr.tensor(scale)),
                                        [D.transforms.TanhTransform()])
    _close(ours_nc.log_prob(z.tanh())[0], theirs.log_prob(ta)[0], rtol=1e-9)
    torch.manual_seed(0)
    assert torch.isfinite(theirs.log_prob(theirs.rsample())).all()  # PyTorch's cache too


def test_transformed_cdf_and_icdf_with_decreasing_transforms() -> None:
    """A decreasing transform flips the CDF (PyTorch's ``_monotonize_cdf``)."""
    got, want = [], []
    for m, fw, out in ((D, cr, got), (TD, torch, want)):
        d = m.TransformedDistribution(m.Exponential(fw.tensor([1.5, 0.5])),
                                      [m.transforms.AffineTransform(2.0, -1.0)])
        out += [d.cdf(fw.tensor([1.0, -1.0])), d.icdf(fw.tensor([0.2, 0.9]))]
    for a, b in zip(got, want):
        _close(a, b)


# -- kl_divergence --------------------------------------------------------------------------------
def _kl_pairs() -> list[tuple[str, Callable, dict]]:
    a = {"a1": [0.5, 2.0], "a2": [1.5, 0.7], "b1": [1.2, 3.0], "b2": [0.6, 1.1]}
    ls = {"a1": [0.3, -1.0], "a2": [0.5, 2.0], "b1": [1.0, 0.0], "b2": [1.5, 0.7]}
    unit = {"a1": [0.1, 0.3], "a2": [0.6, 0.9], "b1": [0.0, 0.2], "b2": [0.8, 1.0]}
    pos = {"a1": [0.5, 2.0], "a2": [1.5, 0.7], "b1": [1.2, 3.0], "b2": [0.6, 1.1]}
    two = [
        ("Normal", "Normal", ls), ("Laplace", "Laplace", ls), ("Cauchy", "Cauchy", ls),
        ("Gumbel", "Gumbel", ls), ("Gamma", "Gamma", a), ("Beta", "Beta", a),
        ("Uniform", "Uniform", unit), ("LogNormal", "LogNormal", ls),
        ("Laplace", "Normal", ls), ("Normal", "Laplace", ls), ("Gumbel", "Normal", ls),
        ("Normal", "Gumbel", ls), ("Uniform", "Normal", unit), ("Uniform", "Gumbel", unit),
        ("Uniform", "Beta", {**unit, "b1": [0.5, 2.0], "b2": [1.5, 0.7]}),
        ("Uniform", "Gamma", {**unit, "b1": [0.5, 2.0], "b2": [1.5, 0.7]}),
        ("Beta", "Normal", a), ("Beta", "Gamma", a), ("Beta", "Uniform", {**a, **{
            "b1": [-0.1, 0.0], "b2": [1.0, 0.9]}}),
        ("Gamma", "Normal", pos), ("Gamma", "Gumbel", pos), ("Normal", "Gamma", pos),
        ("Uniform", "Uniform", {"a1": [0.1, 0.3], "a2": [0.6, 0.9], "b1": [0.2, 0.2],
                                "b2": [0.8, 1.0]}),
    ]
    pairs = [(f"{p}-{q}", lambda m, t, p=p, q=q: (getattr(m, p)(t["a1"], t["a2"]),
                                                  getattr(m, q)(t["b1"], t["b2"])), prm)
             for p, q, prm in two]
    one = {"r1": [0.5, 2.0], "r2": [1.5, 0.7]}
    pairs += [
        ("Exponential-Exponential", lambda m, t: (m.Exponential(t["r1"]), m.Exponential(t["r2"])),
         one),
        ("Poisson-Poisson", lambda m, t: (m.Poisson(t["r1"]), m.Poisson(t["r2"])), one),
        ("HalfNormal-HalfNormal", lambda m, t: (m.HalfNormal(t["r1"]), m.HalfNormal(t["r2"])),
         one),
        ("Chi2-Chi2", lambda m, t: (m.Chi2(t["r1"]), m.Chi2(t["r2"])), one),
        ("Exponential-Gamma", lambda m, t: (m.Exponential(t["r1"]), m.Gamma(t["r2"], t["r1"])),
         one),
        ("Exponential-Normal", lambda m, t: (m.Exponential(t["r1"]), m.Normal(t["r2"], t["r1"])),
         one),
        ("Exponential-Gumbel", lambda m, t: (m.Exponential(t["r1"]), m.Gumbel(t["r2"], t["r1"])),
         one),
        ("Gamma-Exponential", lambda m, t: (m.Gamma(t["r1"], t["r2"]), m.Exponential(t["r2"])),
         one),
        ("Beta-Exponential", lambda m, t: (m.Beta(t["r1"], t["r2"]), m.Exponential(t["r2"])),
         one),
        ("Uniform-Exponential", lambda m, t: (m.Uniform(t["r1"] * 0.1, t["r2"] + 1),
                                              m.Exponential(t["r2"])), one),
        ("Normal-Beta(inf)", lambda m, t: (m.Normal(t["r1"], t["r2"]), m.Beta(t["r1"], t["r2"])),
         one),
        ("Bernoulli-Bernoulli", lambda m, t: (m.Bernoulli(t["p1"]), m.Bernoulli(logits=t["p2"])),
         {"p1": [0.2, 0.0, 1.0], "p2": [0.5, -1.0, 2.0]}),
        ("Bernoulli-Poisson", lambda m, t: (m.Bernoulli(t["p1"]), m.Poisson(t["p2"])),
         {"p1": [0.2, 0.7], "p2": [0.5, 1.5]}),
        ("Geometric-Geometric", lambda m, t: (m.Geometric(t["p1"]), m.Geometric(t["p2"])),
         {"p1": [0.2, 0.7], "p2": [0.5, 0.3]}),
        ("Binomial-Binomial", lambda m, t: (m.Binomial(t["n"], probs=t["p1"]),
                                            m.Binomial(t["n"], probs=t["p2"])),
         {"n": [5.0, 5.0], "p1": [0.2, 0.7], "p2": [0.5, 0.3]}),
        ("Categorical-Categorical", lambda m, t: (m.Categorical(probs=t["p1"]),
                                                  m.Categorical(logits=t["p2"])),
         {"p1": [[0.2, 0.8, 0.0], [0.3, 0.3, 0.4]], "p2": [[0.1, 0.5, -1.0], [0.0, 0.0, 2.0]]}),
        ("OneHot-OneHot", lambda m, t: (m.OneHotCategorical(probs=t["p1"]),
                                        m.OneHotCategorical(logits=t["p2"])),
         {"p1": [[0.2, 0.8, 0.0], [0.3, 0.3, 0.4]], "p2": [[0.1, 0.5, -1.0], [0.0, 0.0, 2.0]]}),
        ("Dirichlet-Dirichlet", lambda m, t: (m.Dirichlet(t["p1"]), m.Dirichlet(t["p2"])),
         {"p1": [[0.5, 2.0, 1.0], [3.0, 0.7, 0.4]], "p2": [[1.5, 0.3, 2.0], [1.0, 1.0, 1.0]]}),
        ("MVN-MVN", lambda m, t: (m.MultivariateNormal(t["l1"], covariance_matrix=t["c"]),
                                  m.MultivariateNormal(t["l2"], scale_tril=t["s"])),
         {"l1": LOC3, "l2": [0.5, 0.5, -0.5], "c": COV, "s": TRIL}),
        ("Independent-Independent",
         lambda m, t: (m.Independent(m.Normal(t["l1"], t["s1"]), 1),
                       m.Independent(m.Normal(t["l2"], t["s2"]), 1)),
         {"l1": LOC3, "l2": [0.5, 0.5, -0.5], "s1": [1.0, 2.0, 0.5], "s2": [0.7, 0.7, 1.5]}),
    ]
    return pairs


@pytest.mark.parametrize("case", _kl_pairs(), ids=lambda c: c[0])
def test_kl_divergence_matches_torch(case: tuple) -> None:
    name, make, params = case
    const = ("n",)
    pc, pt = _tensors(cr, params, const), _tensors(torch, params, const)
    got = D.kl_divergence(*make(D, pc))
    want = TD.kl_divergence(*make(TD, pt))
    _close(got, want, rtol=1e-9, what=name)
    finite = np.isfinite(_np(want))
    if not finite.any():
        return
    w = torch.tensor(np.where(finite, 1.0, 0.0))
    for k in pc:
        if not pc[k].requires_grad:
            continue
        (gt,) = torch.autograd.grad((torch.where(w > 0, want, 0.0)).sum(), [pt[k]],
                                    retain_graph=True, allow_unused=True)
        (gc,) = cr.grad(cr.where(cr.tensor(finite), got, 0.0).sum(), [pc[k]], retain_graph=True,
                        allow_unused=True)
        if gt is not None:
            _close(gc, gt, rtol=1e-7, atol=1e-9, what=f"{name} d/d{k}")


def test_register_kl_and_dispatch() -> None:
    class MyNormal(D.Normal):
        pass

    p, q = MyNormal(0.0, 1.0), D.Normal(1.0, 2.0)
    _close(D.kl_divergence(p, q), D.kl_divergence(D.Normal(0.0, 1.0), q))  # the parent's form

    @D.register_kl(MyNormal, D.Normal)
    def _kl(p: Any, q: Any) -> Any:
        return cr.tensor(42.0)

    assert float(D.kl_divergence(p, q)) == 42.0
    with pytest.raises(NotImplementedError, match="No KL"):
        D.kl_divergence(D.Poisson(1.0), D.Normal(0.0, 1.0))
    with pytest.raises(TypeError):
        D.register_kl(int, D.Normal)


# -- worked examples ------------------------------------------------------------------------------
def test_vae_reparameterised_latent_and_policy_gradient() -> None:
    """The two uses in docs/distributions.md: a VAE's Normal rsample + KL to the prior, and
    REINFORCE with Categorical.log_prob; gradients reach every parameter, as in PyTorch."""
    cr.manual_seed(0)
    enc = cr.nn.Linear(4, 4)
    x = cr.randn(8, 4)
    mu, logvar = enc(x).chunk(2, -1)
    q = D.Normal(mu, (0.5 * logvar).exp())
    z = q.rsample()
    kl = D.kl_divergence(q, D.Normal(cr.zeros_like(mu), cr.ones_like(mu))).sum(-1)
    loss = ((z - 1.0) ** 2).sum(-1).mean() + kl.mean()
    loss.backward()
    assert enc.weight.grad is not None and np.all(np.isfinite(enc.weight.grad.numpy()))
    policy = cr.nn.Linear(4, 3)
    dist = D.Categorical(logits=policy(x))
    a = dist.sample()
    reward = (a == 1).to(cr.float32) - 0.5
    (-(dist.log_prob(a) * reward).mean() - 0.01 * dist.entropy().mean()).backward()
    assert policy.weight.grad is not None and float(policy.weight.grad.abs().sum()) > 0


def test_docs_examples_run() -> None:
    """The python blocks of docs/distributions.md run as written (each asserts its result)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "distributions.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 3
    for block in blocks:
        exec(compile(block, "docs/distributions.md", "exec"), {"__name__": "docs"})
