"""The losses (nn.functional and the nn.*Loss modules): PyTorch parity of values and gradients
in float64 for every reduction and option, stability, gradchecks of the composed losses, and
errors that teach."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F

RNG = np.random.default_rng(20240601)
REDUCTIONS = ("none", "mean", "sum")


@pytest.fixture(scope="module")
def torch() -> Any:
    return pytest.importorskip("torch")


def check(torch: Any, ours: Callable[..., Any], theirs: Callable[..., Any],
          *arrays: Any, diff: Sequence[int] = (0,), rtol: float = 1e-10,
          atol: float = 1e-12) -> None:
    """Run ``ours`` on chainrule tensors and ``theirs`` on torch tensors made from ``arrays``;
    the inputs at ``diff`` require grad. Values and vector-Jacobian products must agree."""
    a = [cr.tensor(x, requires_grad=i in diff) for i, x in enumerate(arrays)]
    b = [torch.tensor(x, requires_grad=i in diff) for i, x in enumerate(arrays)]
    out, ref = ours(*a), theirs(*b)
    assert out.shape == tuple(ref.shape), (out.shape, ref.shape)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=rtol, atol=atol)
    if not diff or not np.all(np.isfinite(ref.detach().numpy())):
        return
    u = RNG.standard_normal(out.shape)
    got = cr.grad(out, [a[i] for i in diff], cr.tensor(u))
    want = torch.autograd.grad(ref, [b[i] for i in diff], torch.tensor(u))
    for i, g, w in zip(diff, got, want):
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}")


def tw(torch: Any, w: Any) -> Any:
    return None if w is None else torch.tensor(w)


def cw(w: Any) -> Any:
    return None if w is None else cr.tensor(w)


# --- regression losses --------------------------------------------------------------------------

PAIR_SHAPES = [(4, 3), (), (5,), (2, 3, 2)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", PAIR_SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_mse_l1_match_torch(torch: Any, name: str, weighted: bool, shape: tuple,
                            reduction: str) -> None:
    x, y = RNG.standard_normal(shape), RNG.standard_normal(shape)
    w = RNG.uniform(0.5, 2.0, shape) if weighted else None
    ours, theirs = getattr(F, name), getattr(torch.nn.functional, name)
    check(torch, lambda a, b: ours(a, b, reduction=reduction, weight=cw(w)),
          lambda a, b: theirs(a, b, reduction=reduction, weight=tw(torch, w)), x, y, diff=(0, 1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("delta", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_huber_matches_torch(torch: Any, delta: float, reduction: str, weighted: bool) -> None:
    x, y = RNG.standard_normal((6, 4)) * 2, RNG.standard_normal((6, 4))
    w = RNG.uniform(0.5, 2.0, (6, 4)) if weighted else None
    check(torch, lambda a, b: F.huber_loss(a, b, reduction, delta, weight=cw(w)),
          lambda a, b: torch.nn.functional.huber_loss(a, b, reduction, delta,
                                                      weight=tw(torch, w)), x, y, diff=(0, 1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 2.0])
def test_smooth_l1_matches_torch(torch: Any, beta: float, reduction: str) -> None:
    x, y = RNG.standard_normal((6, 4)) * 2, RNG.standard_normal((6, 4))
    check(torch, lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
          lambda a, b: torch.nn.functional.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
          x, y, diff=(0, 1))


def test_regression_losses_warn_on_broadcasting_like_torch() -> None:
    x, y = cr.randn(4, 1), cr.randn(4)
    for fn in (F.mse_loss, F.l1_loss, F.huber_loss, F.smooth_l1_loss):
        with pytest.warns(UserWarning, match=r"target \(4,\) differs in shape from input "
                          r"\(4, 1\); they broadcast to \(4, 4\)"):
            assert fn(x, y, reduction="none").shape == (4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.mse_loss(x, 0.5)  # a Python number is broadcast on purpose


# --- cross_entropy with class indices ------------------------------------------------------------

CE_SHAPES = [((6, 4), (6,)), ((4,), ()), ((3, 4, 2), (3, 2)), ((2, 3, 2, 2), (2, 2, 2))]
CE_OPTIONS = [
    {},
    {"weight": True},
    {"ignore_index": -100},
    {"ignore_index": 1},
    {"label_smoothing": 0.1},
    {"weight": True, "label_smoothing": 0.25},
    {"weight": True, "label_smoothing": 0.3, "ignore_index": -100},
    {"weight": True, "ignore_index": 2, "label_smoothing": 1.0},
]


def class_targets(xshape: tuple, tshape: tuple, ignore: int | None = None) -> np.ndarray:
    n_cls = xshape[1 if len(xshape) > 1 else 0]
    t = RNG.integers(0, n_cls, tshape)
    if ignore is not None and t.size > 1:
        t.flat[:: 2] = ignore  # about half the targets ignored
    return t


def with_options(options: list[dict]) -> list:
    """(name, options) pairs: every option set for cross_entropy, those without label
    smoothing for nll_loss."""
    return [pytest.param(name, o, id=f"{name}-{','.join(o) or 'plain'}")
            for name in ("cross_entropy", "nll_loss") for o in options
            if name == "cross_entropy" or "label_smoothing" not in o]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("xshape", "tshape"), CE_SHAPES)
@pytest.mark.parametrize(("name", "opts"), with_options(CE_OPTIONS))
def test_class_index_losses_match_torch(torch: Any, name: str, opts: dict, xshape: tuple,
                                        tshape: tuple, reduction: str) -> None:
    n_cls = xshape[1 if len(xshape) > 1 else 0]
    x = RNG.standard_normal(xshape) * 2
    t = class_targets(xshape, tshape, opts.get("ignore_index"))
    w = RNG.uniform(0.2, 3.0, n_cls) if opts.get("weight") else None
    kw = {k: v for k, v in opts.items() if k != "weight"}
    ours, theirs = getattr(F, name), getattr(torch.nn.functional, name)
    check(torch, lambda a, b: ours(a, b, cw(w), reduction=reduction, **kw),
          lambda a, b: theirs(a, b, tw(torch, w), reduction=reduction, **kw), x, t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("name", "opts"), with_options(
    [{}, {"weight": True}, {"label_smoothing": 0.2}, {"weight": True, "label_smoothing": 0.2}]))
def test_all_targets_ignored_gives_nan_mean_and_zero_gradient(
        torch: Any, name: str, opts: dict, reduction: str) -> None:
    x, t = RNG.standard_normal((3, 4)), np.full(3, -100)
    w = RNG.uniform(0.5, 2.0, 4) if opts.get("weight") else None
    kw = {k: v for k, v in opts.items() if k != "weight"}
    ours = getattr(F, name)(cr.tensor(x, requires_grad=True), cr.tensor(t), cw(w),
                            reduction=reduction, **kw)
    ref = getattr(torch.nn.functional, name)(torch.tensor(x), torch.tensor(t), tw(torch, w),
                                             reduction=reduction, **kw)
    np.testing.assert_array_equal(ours.detach().numpy(),
                                  ref.detach().numpy())  # nan for 'mean', as PyTorch
    xt = cr.tensor(x, requires_grad=True)
    getattr(F, name)(xt, cr.tensor(t), cw(w), reduction=reduction, **kw).sum().backward()
    np.testing.assert_array_equal(xt.grad.numpy(), np.zeros((3, 4)))


def test_cross_entropy_of_an_empty_batch_is_nan(torch: Any) -> None:
    x, t = np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
    for kw in ({}, {"label_smoothing": 0.1}):
        ours = F.cross_entropy(cr.tensor(x), cr.tensor(t), **kw)
        ref = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t), **kw)
        assert np.isnan(ours.item()) and np.isnan(ref.item())


def test_cross_entropy_plain_path_is_the_fused_primitive() -> None:
    x = cr.randn(8, 5, requires_grad=True)
    t = cr.tensor(RNG.integers(0, 5, 8))
    for loss in (F.cross_entropy(x, t), F.cross_entropy(x, t, label_smoothing=0.1),
                 F.cross_entropy(x, t, weight=cr.ones(5)), nn.CrossEntropyLoss()(x, t)):
        assert loss.grad_fn.op.name == "cross_entropy"
    np.testing.assert_allclose(F.cross_entropy(x, t).detach().numpy(),
                               cr.cross_entropy(x, t).detach().numpy())
    assert F.nll_loss(F.log_softmax(x, 1), t).grad_fn.op.name == "nll_loss"


def test_cross_entropy_equals_nll_of_log_softmax() -> None:
    x = cr.randn(5, 4, 3, dtype=cr.float64)
    t = cr.tensor(class_targets((5, 4, 3), (5, 3), ignore=-100))
    w = cr.tensor(RNG.uniform(0.5, 2.0, 4))
    np.testing.assert_allclose(F.cross_entropy(x, t, w).numpy(),
                               F.nll_loss(F.log_softmax(x, 1), t, w).numpy(), rtol=1e-12)


# --- cross_entropy with class probabilities ------------------------------------------------------


def probs(shape: tuple) -> np.ndarray:
    cax = 1 if len(shape) > 1 else 0
    p = RNG.uniform(0.0, 1.0, shape)
    return p / p.sum(axis=cax, keepdims=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(6, 4), (4,), (3, 4, 2), (2, 3, 2, 2)])
@pytest.mark.parametrize(("weighted", "smoothing"), [(False, 0.0), (True, 0.0), (False, 0.2),
                                                     (True, 0.3)])
def test_cross_entropy_probability_targets_match_torch(
        torch: Any, weighted: bool, smoothing: float, shape: tuple, reduction: str) -> None:
    x, p = RNG.standard_normal(shape) * 2, probs(shape)
    n_cls = shape[1 if len(shape) > 1 else 0]
    w = RNG.uniform(0.2, 3.0, n_cls) if weighted else None
    # gradients flow to the logits, the target and (as in PyTorch) the weight
    diff = (0, 1, 2) if weighted else (0, 1)
    args = (x, p, w) if weighted else (x, p)
    check(torch, lambda a, b, *c: F.cross_entropy(a, b, *c, reduction=reduction,
                                                  label_smoothing=smoothing),
          lambda a, b, *c: torch.nn.functional.cross_entropy(
              a, b, *c, reduction=reduction, label_smoothing=smoothing), *args, diff=diff)


def test_probability_targets_equal_index_targets_when_one_hot() -> None:
    x = cr.randn(6, 5, dtype=cr.float64)
    t = RNG.integers(0, 5, 6)
    onehot = np.eye(5)[t]
    for kw in ({}, {"label_smoothing": 0.2}):
        np.testing.assert_allclose(F.cross_entropy(x, cr.tensor(onehot), **kw).numpy(),
                                   F.cross_entropy(x, cr.tensor(t), **kw).numpy(), rtol=1e-12)


# --- stability ------------------------------------------------------------------------------------


def test_large_logits_are_finite_and_match_torch(torch: Any) -> None:
    """Logits of +-1000: no overflow warning (warnings are errors here), finite results."""
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0], [0.0, 0.0, -1000.0]])
    t = np.array([1, 2, 2])
    y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.5], [1.0, 1.0, 0.0]])
    pw = np.array([2.0, 0.5, 1.5])
    cases = [
        (lambda a, b: F.cross_entropy(a, b, label_smoothing=0.1),
         lambda a, b: torch.nn.functional.cross_entropy(a, b, label_smoothing=0.1), t),
        (lambda a, b: F.cross_entropy(a, b, reduction="none"),
         lambda a, b: torch.nn.functional.cross_entropy(a, b, reduction="none"), probs((3, 3))),
        (lambda a, b: F.binary_cross_entropy_with_logits(a, b, pos_weight=cr.tensor(pw),
                                                         reduction="none"),
         lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(
             a, b, pos_weight=torch.tensor(pw), reduction="none"), y),
        (lambda a, b: F.soft_margin_loss(a, b, reduction="sum"),
         lambda a, b: torch.nn.functional.soft_margin_loss(a, b, reduction="sum"),
         np.sign(y - 0.5)),
    ]
    for ours, theirs, target in cases[:3]:
        check(torch, ours, theirs, x, target)
    for ours, _, target in cases:
        for x32 in (x, x.astype(np.float32)):
            xt = cr.tensor(x32, requires_grad=True)
            loss = ours(xt, cr.tensor(target.astype(x32.dtype) if target.dtype.kind == "f"
                                      else target))
            loss.sum().backward()
            assert np.all(np.isfinite(loss.detach().numpy()))
            assert np.all(np.isfinite(xt.grad.numpy()))
    # soft margin: PyTorch's log1p(exp(-y x)) overflows to inf here, ours stays exact
    assert F.soft_margin_loss(cr.tensor([-1000.0]), cr.tensor([1.0])).item() == 1000.0


def test_binary_cross_entropy_clamps_log_like_torch(torch: Any) -> None:
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.3])
    for reduction in REDUCTIONS:
        ours = F.binary_cross_entropy(cr.tensor(x), cr.tensor(y), reduction=reduction)
        ref = torch.nn.functional.binary_cross_entropy(torch.tensor(x), torch.tensor(y),
                                                       reduction=reduction)
        np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-12)
    assert F.binary_cross_entropy(cr.tensor([0.0]), cr.tensor([1.0])).item() == 100.0


# --- binary cross-entropy ---------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("wshape", [None, (3,), (2, 3), (2, 1)])
@pytest.mark.parametrize("hard", [False, True])
def test_binary_cross_entropy_matches_torch(torch: Any, reduction: str, wshape: Any,
                                            hard: bool) -> None:
    x = RNG.uniform(0.02, 0.98, (2, 3))
    y = RNG.integers(0, 2, (2, 3)).astype(float) if hard else RNG.uniform(0, 1, (2, 3))
    w = None if wshape is None else RNG.uniform(0.5, 2.0, wshape)
    check(torch, lambda a, b: F.binary_cross_entropy(a, b, cw(w), reduction=reduction),
          lambda a, b: torch.nn.functional.binary_cross_entropy(a, b, tw(torch, w),
                                                                reduction=reduction),
          x, y, diff=(0, 1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("wshape", [None, (3,), (2, 3)])
@pytest.mark.parametrize("pwshape", [None, (3,), (2, 3)])
def test_binary_cross_entropy_with_logits_matches_torch(torch: Any, reduction: str, wshape: Any,
                                                        pwshape: Any) -> None:
    x, y = RNG.standard_normal((2, 3)) * 3, RNG.uniform(0, 1, (2, 3))
    w = None if wshape is None else RNG.uniform(0.5, 2.0, wshape)
    pw = None if pwshape is None else RNG.uniform(0.5, 3.0, pwshape)
    check(torch, lambda a, b: F.binary_cross_entropy_with_logits(
              a, b, cw(w), reduction=reduction, pos_weight=cw(pw)),
          lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(
              a, b, tw(torch, w), reduction=reduction, pos_weight=tw(torch, pw)),
          x, y, diff=(0, 1))


def test_binary_cross_entropy_with_logits_0d(torch: Any) -> None:
    check(torch, lambda a, b: F.binary_cross_entropy_with_logits(a, b),
          lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(a, b),
          np.array(0.7), np.array(1.0), diff=(0, 1))


# --- kl_div, margins ----------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", [*REDUCTIONS, "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("shape", [(4, 5), (3, 2, 2), (5,), ()])
def test_kl_div_matches_torch(torch: Any, reduction: str, log_target: bool,
                              shape: tuple) -> None:
    x = np.log(probs(shape)) if shape else np.array(-0.3)
    p = probs(shape) if shape else np.array(0.6)
    target = np.log(p) if log_target else p
    with warnings.catch_warnings():  # torch warns that 'mean' is not the true KL divergence
        warnings.simplefilter("ignore", UserWarning)
        check(torch, lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
              lambda a, b: torch.nn.functional.kl_div(a, b, reduction=reduction,
                                                      log_target=log_target),
              x, target, diff=(0, 1))


def test_kl_div_target_zeros_contribute_nothing(torch: Any) -> None:
    x = np.log(probs((3, 4)))
    p = probs((3, 4))
    p[0, 1] = p[2, 3] = 0.0
    check(torch, lambda a, b: F.kl_div(a, b, reduction="batchmean"),
          lambda a, b: torch.nn.functional.kl_div(a, b, reduction="batchmean"), x, p)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("margin", [1.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("xshape", "tshape"), [((5, 4), (5,)), ((4,), ()), ((4,), (1,))])
def test_multi_margin_loss_matches_torch(torch: Any, reduction: str, p: int, margin: float,
                                         weighted: bool, xshape: tuple, tshape: tuple) -> None:
    x = RNG.standard_normal(xshape)
    t = RNG.integers(0, 4, tshape)
    w = RNG.uniform(0.5, 2.0, 4) if weighted else None
    check(torch, lambda a, b: F.multi_margin_loss(a, b, p, margin, cw(w), reduction=reduction),
          lambda a, b: torch.nn.functional.multi_margin_loss(a, b, p, margin, tw(torch, w),
                                                             reduction=reduction), x, t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [1.0, 0.5])
def test_hinge_embedding_loss_matches_torch(torch: Any, reduction: str, margin: float) -> None:
    x = RNG.standard_normal((4, 3)) * 2
    y = RNG.choice([-1.0, 1.0], (4, 3))
    check(torch, lambda a, b: F.hinge_embedding_loss(a, b, margin, reduction=reduction),
          lambda a, b: torch.nn.functional.hinge_embedding_loss(a, b, margin,
                                                                reduction=reduction), x, y)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin_loss_matches_torch(torch: Any, reduction: str) -> None:
    x, y = RNG.standard_normal((4, 3)) * 3, RNG.choice([-1.0, 1.0], (4, 3))
    check(torch, lambda a, b: F.soft_margin_loss(a, b, reduction=reduction),
          lambda a, b: torch.nn.functional.soft_margin_loss(a, b, reduction=reduction), x, y)


# --- gradcheck of the composed losses, float32 -------------------------------------------------


def _t(a: np.ndarray, grad: bool = True) -> cr.Tensor:
    return cr.tensor(a, requires_grad=grad)


W34 = cr.tensor(RNG.uniform(0.5, 2.0, (3, 4)))
COMPOSED = {
    "mse_loss weight": (lambda a, b: F.mse_loss(a, b, weight=W34), 2),
    "l1_loss": (lambda a, b: F.l1_loss(a, b, reduction="sum"), 2),
    "huber_loss": (lambda a, b: F.huber_loss(a, b, delta=0.7), 2),
    "smooth_l1_loss": (lambda a, b: F.smooth_l1_loss(a, b, beta=0.6, reduction="none"), 2),
    "kl_div": (lambda a, b: F.kl_div(a, b.abs() + 0.1, reduction="batchmean"), 2),
    "kl_div log_target": (lambda a, b: F.kl_div(a, b, reduction="mean", log_target=True), 2),
    "multi_margin_loss": (lambda a: F.multi_margin_loss(
        a, cr.tensor(np.array([0, 3, 1])), p=2, margin=2.0,
        weight=cr.tensor(np.array([1.0, 2.0, 0.5, 1.5]))), 1),
    "hinge_embedding_loss": (lambda a: F.hinge_embedding_loss(
        a, cr.tensor(np.array([1.0, -1.0, -1.0, 1.0])), margin=3.0), 1),
    "soft_margin_loss": (lambda a: F.soft_margin_loss(
        a, cr.tensor(np.array([1.0, -1.0, -1.0, 1.0]))), 1),
}


@pytest.mark.parametrize("name", COMPOSED)
def test_composed_losses_pass_gradcheck(name: str) -> None:
    fn, n = COMPOSED[name]
    shape = (3, 4) if n == 2 or name == "multi_margin_loss" else (4,)
    # values clear of the kinks (|d| = delta, hinge at the margin, ties)
    inputs = [_t(RNG.uniform(0.2, 1.8, shape) * RNG.choice([-1, 1], shape)) for _ in range(n)]
    assert cr.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)
    assert cr.autograd.gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


FLOAT32_CASES = {
    "mse_loss": lambda x, y, t: F.mse_loss(x, y),
    "l1_loss": lambda x, y, t: F.l1_loss(x, y),
    "huber_loss": lambda x, y, t: F.huber_loss(x, y, delta=0.5),
    "smooth_l1_loss": lambda x, y, t: F.smooth_l1_loss(x, y, beta=0.5),
    "cross_entropy": lambda x, y, t: F.cross_entropy(x, t, cr.ones(4), label_smoothing=0.1),
    "cross_entropy probs": lambda x, y, t: F.cross_entropy(x, y.softmax(1),
                                                           cr.tensor(np.ones(4))),
    "nll_loss": lambda x, y, t: F.nll_loss(x, t, cr.tensor(np.ones(4)), ignore_index=1),
    "binary_cross_entropy": lambda x, y, t: F.binary_cross_entropy(x.sigmoid(), y.sigmoid(),
                                                                   cr.tensor(np.ones(4))),
    "binary_cross_entropy_with_logits": lambda x, y, t: F.binary_cross_entropy_with_logits(
        x, y.sigmoid(), cr.tensor(np.ones(4)), pos_weight=cr.tensor(np.ones(4))),
    "kl_div": lambda x, y, t: F.kl_div(x, y.sigmoid(), reduction="batchmean"),
    "multi_margin_loss": lambda x, y, t: F.multi_margin_loss(x, t, weight=cr.tensor(np.ones(4))),
    "hinge_embedding_loss": lambda x, y, t: F.hinge_embedding_loss(x, y.sign()),
    "soft_margin_loss": lambda x, y, t: F.soft_margin_loss(x, y.sign()),
}


@pytest.mark.parametrize("name", FLOAT32_CASES)
def test_float32_stays_float32(name: str) -> None:
    x = cr.tensor(RNG.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    y = cr.tensor(RNG.standard_normal((3, 4)).astype(np.float32))
    loss = FLOAT32_CASES[name](x, y, cr.tensor(np.array([0, 2, 3])))
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32


def test_legacy_size_average_and_reduce(torch: Any) -> None:
    x, t = RNG.standard_normal((4, 3)), RNG.integers(0, 3, 4)
    for size_average, reduce in itertools.product((None, True, False), (None, True, False)):
        if size_average is None and reduce is None:
            continue
        with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
            ours = F.cross_entropy(cr.tensor(x), cr.tensor(t), size_average=size_average,
                                   reduce=reduce)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ref = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t),
                                                    size_average=size_average, reduce=reduce)
        np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-12)


# --- errors that teach ----------------------------------------------------------------------------


def test_reduction_is_validated_everywhere() -> None:
    x, y, t = cr.randn(3, 4), cr.randn(3, 4), cr.tensor(np.array([0, 1, 2]))
    calls = {
        "mse_loss": lambda r: F.mse_loss(x, y, reduction=r),
        "l1_loss": lambda r: F.l1_loss(x, y, reduction=r),
        "huber_loss": lambda r: F.huber_loss(x, y, reduction=r),
        "smooth_l1_loss": lambda r: F.smooth_l1_loss(x, y, reduction=r),
        "cross_entropy": lambda r: F.cross_entropy(x, t, reduction=r),
        "nll_loss": lambda r: F.nll_loss(x, t, reduction=r),
        "binary_cross_entropy": lambda r: F.binary_cross_entropy(x.sigmoid(), y.sigmoid(),
                                                                 reduction=r),
        "binary_cross_entropy_with_logits": lambda r: F.binary_cross_entropy_with_logits(
            x, y, reduction=r),
        "kl_div": lambda r: F.kl_div(x, y, reduction=r),
        "multi_margin_loss": lambda r: F.multi_margin_loss(x, t, reduction=r),
        "hinge_embedding_loss": lambda r: F.hinge_embedding_loss(x, y, reduction=r),
        "soft_margin_loss": lambda r: F.soft_margin_loss(x, y, reduction=r),
    }
    for name, call in calls.items():
        expected = "'mean', 'sum', 'none' or 'batchmean'" if name == "kl_div" else \
            "'mean', 'sum' or 'none'"
        with pytest.raises(ValueError, match=rf"^{name}: reduction 'avg' is not supported; "
                           rf"expected {expected}$"):
            call("avg")
    with pytest.raises(ValueError, match=r"kl_div: reduction 'bogus' is not supported; expected "
                       r"'mean', 'sum', 'none' or 'batchmean'$"):
        F.kl_div(x, y, reduction="bogus")
    with pytest.raises(ValueError, match="reduction 'batchmean' is not supported"):
        F.mse_loss(x, y, reduction="batchmean")


def test_cross_entropy_errors_teach() -> None:
    x = cr.zeros(3, 4)
    with pytest.raises(TypeError, match=r"cross_entropy: target has dtype float64 and shape "
                       r"\(3,\) \(input \(3, 4\)\); expected integer class indices \(int64\) of "
                       r"shape \(3,\), or class probabilities of the input's shape \(3, 4\)"):
        F.cross_entropy(x, cr.tensor(np.array([0.0, 1.0, 2.0])))
    with pytest.raises(TypeError, match=r"target has dtype float64 and shape \(3, 5\).*class "
                       r"probabilities of the input's shape \(3, 4\)"):
        F.cross_entropy(x, cr.tensor(np.full((3, 5), 0.2)))  # probabilities of the wrong shape
    with pytest.raises(TypeError, match=r"cross_entropy: target has the input's shape \(3, 4\) "
                       r"and dtype int64; expected class probabilities \(floating point\)"):
        F.cross_entropy(x, cr.tensor(np.zeros((3, 4), dtype=np.int64)))
    with pytest.raises(IndexError, match=r"cross_entropy: target contains class index 7 but the "
                       r"input has 4 classes; expected indices in \[0, 3\]"):
        F.cross_entropy(x, cr.tensor(np.array([0, 7, -100])))
    with pytest.raises(IndexError, match=r"cross_entropy: target contains class index -100 but "
                       r"the input has 4 classes; expected indices in \[0, 3\]$"):
        F.cross_entropy(x, cr.tensor(np.array([0, 1, -100])), ignore_index=-1)
    with pytest.raises(ValueError, match=r"cross_entropy: input \(3, 4\) and target \(2,\) do "
                       r"not fit; expected a target of shape \(3,\)"):
        F.cross_entropy(x, cr.tensor(np.array([0, 1])))
    with pytest.raises(ValueError, match=r"input \(2, 3, 4\) and target \(2, 3\) do not fit; "
                       r"expected a target of shape \(2, 4\)"):
        F.cross_entropy(cr.zeros(2, 3, 4), cr.tensor(np.zeros((2, 3), dtype=np.int64)))
    with pytest.raises(ValueError, match=r"cross_entropy: weight has shape \(3,\) but the input "
                       r"\(3, 4\) has 4 classes; expected a weight of shape \(4,\)"):
        F.cross_entropy(x, cr.tensor(np.array([0, 1, 2])), weight=cr.ones(3))
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing=1.5; expected a value "
                       r"in \[0, 1\]"):
        F.cross_entropy(x, cr.tensor(np.array([0, 1, 2])), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"cross_entropy: ignore_index=0 with class-probability "
                       "targets"):
        F.cross_entropy(x, cr.full((3, 4), 0.25), ignore_index=0)
    with pytest.raises(ValueError, match=r"cross_entropy: input is 0-d"):
        F.cross_entropy(cr.tensor(1.0), cr.tensor(0))


def test_nll_loss_errors_teach() -> None:
    x = cr.zeros(3, 4)
    with pytest.raises(TypeError, match=r"nll_loss: target has dtype float64 and shape \(3,\) "
                       r"\(input \(3, 4\)\); expected integer class indices \(int64\) of shape "
                       r"\(3,\); convert it with target.long\(\)"):
        F.nll_loss(x, cr.tensor(np.array([0.0, 1.0, 2.0])))
    with pytest.raises(IndexError, match=r"nll_loss: target contains class index 4 but the "
                       r"input has 4 classes"):
        F.nll_loss(x, cr.tensor(np.array([0, 4, 1])))
    with pytest.raises(ValueError, match=r"nll_loss: weight has shape \(5,\)"):
        F.nll_loss(x, cr.tensor(np.array([0, 1, 1])), cr.ones(5))


def test_other_losses_errors_teach() -> None:
    x = cr.zeros(3, 4)
    with pytest.raises(ValueError, match=r"mse_loss: input \(3, 4\) and target \(3,\) do not "
                       r"broadcast; expected a target of the input's shape \(3, 4\)"):
        F.mse_loss(x, cr.zeros(3))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input \(3, 4\) and target "
                       r"\(3, 1\) differ in shape"):
        F.binary_cross_entropy(x, cr.zeros(3, 1))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input has values outside "
                       r"\[0, 1\] \(min -2, max 3\); expected probabilities in \[0, 1\]; for "
                       r"logits use binary_cross_entropy_with_logits"):
        F.binary_cross_entropy(cr.tensor([-2.0, 3.0]), cr.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: input \(3, 4\) and "
                       r"target \(4,\) differ in shape"):
        F.binary_cross_entropy_with_logits(x, cr.zeros(4))
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: weight \(2,\) does "
                       r"not broadcast against the target \(3, 4\)"):
        F.binary_cross_entropy_with_logits(x, x, weight=cr.ones(2))
    with pytest.raises(ValueError, match=r"mse_loss: weight \(3,\) and input \(3, 4\) differ"):
        F.mse_loss(x, x, weight=cr.ones(3))
    with pytest.raises(ValueError, match=r"huber_loss: delta=0; expected a positive number"):
        F.huber_loss(x, x, delta=0)
    with pytest.raises(ValueError, match=r"smooth_l1_loss: beta=-1; expected a non-negative"):
        F.smooth_l1_loss(x, x, beta=-1)
    with pytest.raises(ValueError, match=r"multi_margin_loss: p=3; expected p == 1 or p == 2"):
        F.multi_margin_loss(x, cr.tensor(np.array([0, 1, 2])), p=3)
    with pytest.raises(IndexError, match=r"multi_margin_loss: target contains class index 9 but "
                       r"the input has 4 classes"):
        F.multi_margin_loss(x, cr.tensor(np.array([0, 9, 2])))
    with pytest.raises(ValueError, match=r"multi_margin_loss: weight has shape \(2, 2\)"):
        F.multi_margin_loss(x, cr.tensor(np.array([0, 1, 2])), weight=cr.ones(2, 2))


# --- modules ----------------------------------------------------------------------------------


def test_loss_modules_store_options_and_match_functional(torch: Any) -> None:
    x = RNG.standard_normal((5, 4))
    t = class_targets((5, 4), (5,), ignore=-100)
    w = RNG.uniform(0.5, 2.0, 4)
    y = RNG.uniform(0, 1, (5, 4))
    pairs = [
        (nn.CrossEntropyLoss(cr.tensor(w), ignore_index=-100, reduction="sum",
                             label_smoothing=0.1),
         torch.nn.CrossEntropyLoss(torch.tensor(w), ignore_index=-100, reduction="sum",
                                   label_smoothing=0.1), t),
        (nn.NLLLoss(cr.tensor(w), reduction="none"),
         torch.nn.NLLLoss(torch.tensor(w), reduction="none"), t),
        (nn.MSELoss(reduction="sum"), torch.nn.MSELoss(reduction="sum"), y),
        (nn.L1Loss(), torch.nn.L1Loss(), y),
        (nn.HuberLoss(delta=0.3), torch.nn.HuberLoss(delta=0.3), y),
        (nn.SmoothL1Loss(beta=0.4), torch.nn.SmoothL1Loss(beta=0.4), y),
        (nn.BCEWithLogitsLoss(cr.tensor(w), pos_weight=cr.tensor(w[::-1].copy())),
         torch.nn.BCEWithLogitsLoss(torch.tensor(w), pos_weight=torch.tensor(w[::-1].copy())),
         y),
        (nn.KLDivLoss(reduction="batchmean", log_target=True),
         torch.nn.KLDivLoss(reduction="batchmean", log_target=True), np.log(probs((5, 4)))),
        (nn.MultiMarginLoss(p=2, margin=0.5, weight=cr.tensor(w)),
         torch.nn.MultiMarginLoss(p=2, margin=0.5, weight=torch.tensor(w)),
         np.where(t < 0, 0, t)),
        (nn.HingeEmbeddingLoss(margin=0.5), torch.nn.HingeEmbeddingLoss(margin=0.5),
         np.sign(y - 0.5)),
        (nn.SoftMarginLoss(reduction="sum"), torch.nn.SoftMarginLoss(reduction="sum"),
         np.sign(y - 0.5)),
    ]
    for ours, theirs, target in pairs:
        assert repr(ours) == repr(theirs)
        check(torch, ours, theirs, x, target)
    bce, bce_t = nn.BCELoss(cr.tensor(w)), torch.nn.BCELoss(torch.tensor(w))
    check(torch, bce, bce_t, RNG.uniform(0.05, 0.95, (5, 4)), y)
    assert repr(bce) == "BCELoss()"


def test_loss_modules_register_weights_as_buffers() -> None:
    w = cr.tensor(np.array([1.0, 2.0, 3.0]))
    ce = nn.CrossEntropyLoss(weight=w, label_smoothing=0.2)
    assert ce.weight is w and list(ce.parameters()) == []
    assert list(ce.state_dict()) == ["weight"]
    assert (ce.ignore_index, ce.reduction, ce.label_smoothing) == (-100, "mean", 0.2)
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    bce = nn.BCEWithLogitsLoss(pos_weight=w)
    assert bce.weight is None and bce.pos_weight is w
    assert [n for n, _ in bce.named_buffers()] == ["pos_weight"]
    assert nn.MultiMarginLoss(weight=w).weight is w
    ce32 = nn.CrossEntropyLoss(weight=w).float()
    assert ce32.weight.dtype == np.float32


def test_loss_module_legacy_arguments_and_validation() -> None:
    with pytest.warns(UserWarning, match=r"reduction='sum'"):
        assert nn.MSELoss(size_average=False).reduction == "sum"
    with pytest.warns(UserWarning, match=r"reduction='none'"):
        assert nn.NLLLoss(reduce=False).reduction == "none"
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(TypeError, match="delta must be a float or int"):
        nn.HuberLoss(delta="1")
    loss = nn.L1Loss(reduction="avg")
    with pytest.raises(ValueError, match="l1_loss: reduction 'avg'"):
        loss(cr.zeros(2), cr.zeros(2))
