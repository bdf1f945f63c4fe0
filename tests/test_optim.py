"""Optimisers: PyTorch parity over 100 steps for every option, state_dict round trips, errors,
and the gradient utilities of ``cr.nn.utils``."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.utils as nn_utils


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Any:
    """Tiny tensors: PyTorch's thread pool only adds contention (restored afterwards)."""
    try:
        import torch
    except ImportError:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# -- a small problem: a 2-layer MLP (four parameters of different shapes), a smooth loss ----------
_rng = np.random.default_rng(0)
X = _rng.standard_normal((32, 5))
Y = _rng.standard_normal((32, 3))
INIT = [_rng.standard_normal((5, 8)) * 0.5, _rng.standard_normal(8) * 0.1,
        _rng.standard_normal((8, 3)) * 0.5, _rng.standard_normal(3) * 0.1]
REG = 0.01  # an L2 term in the loss keeps L-BFGS's minimum well conditioned


def loss_cr(ps: list) -> Any:
    h = (cr.tensor(X, dtype=ps[0].dtype) @ ps[0] + ps[1]).tanh()
    loss = ((h @ ps[2] + ps[3] - cr.tensor(Y, dtype=ps[0].dtype)) ** 2).mean()
    for p in ps:
        loss = loss + REG * (p * p).sum()
    return loss


def loss_torch(ps: list) -> Any:
    import torch
    h = torch.tanh(torch.tensor(X) @ ps[0] + ps[1])
    loss = ((h @ ps[2] + ps[3] - torch.tensor(Y)) ** 2).mean()
    for p in ps:
        loss = loss + REG * (p * p).sum()
    return loss


def params_cr(dtype: Any = np.float64) -> list:
    return [cr.tensor(a.astype(dtype), requires_grad=True) for a in INIT]


def params_torch() -> list:
    import torch
    return [torch.tensor(a.copy(), requires_grad=True) for a in INIT]


def train_cr(opt: Any, ps: list, steps: int) -> None:
    for _ in range(steps):
        opt.zero_grad()
        loss_cr(ps).backward()
        opt.step()


def train_torch(opt: Any, ps: list, steps: int) -> None:
    for _ in range(steps):
        opt.zero_grad()
        loss_torch(ps).backward()
        opt.step()


def assert_same(ours: list, theirs: list, rtol: float = 1e-10) -> None:
    for a, b in zip(ours, theirs):
        b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
        a = a.detach().numpy() if isinstance(a, cr.Tensor) else a
        scale = float(np.max(np.abs(b)))
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


CONFIGS = [
    ("SGD", {}),
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.05}),
    ("SGD", {"lr": 0.1, "momentum": 0.8, "dampening": 0.2, "weight_decay": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05}),
    ("SGD", {"lr": 0.01, "maximize": True}),
    ("SGD", {"lr": 0.01, "momentum": 0.5, "weight_decay": 0.1, "maximize": True}),
    ("SGD", {"lr": 0.01, "momentum": 0.5, "nesterov": True, "weight_decay": 0.1,
             "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-6}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("Adam", {"lr": 0.01, "maximize": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True, "maximize": True}),
    ("AdamW", {}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.001, "alpha": 0.9, "eps": 1e-6}),
    ("RMSprop", {"lr": 0.001, "momentum": 0.9}),
    ("RMSprop", {"lr": 0.001, "centered": True}),
    ("RMSprop", {"lr": 0.001, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.001, "weight_decay": 0.1, "maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ("Adagrad", {"lr": 0.1, "weight_decay": 0.1, "initial_accumulator_value": 0.5}),
    ("Adagrad", {"lr": 0.01, "eps": 1e-6, "maximize": True}),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}" for n, kw in CONFIGS]


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS, ids=IDS)
def test_parity_100_steps(name: str, kwargs: dict) -> None:
    torch = pytest.importorskip("torch")
    pc, pt = params_cr(), params_torch()
    oc = getattr(cr.optim, name)(pc, **kwargs)
    ot = getattr(torch.optim, name)(pt, **kwargs)
    train_cr(oc, pc, 100)
    train_torch(ot, pt, 100)
    assert_same(pc, pt)
    moved = max(float(np.max(np.abs(p.detach().numpy() - a))) for p, a in zip(pc, INIT))
    assert moved > 1e-3  # the comparison means something
    # the same state entries as PyTorch's
    for p_c, p_t in zip(pc, pt):
        assert set(oc.state[p_c]) == set(ot.state[p_t])
        for key, v in oc.state[p_c].items():
            if key != "step":
                assert_same([v], [ot.state[p_t][key]])


def test_parity_param_groups_and_missing_grads() -> None:
    """Per-group hyperparameters, and a parameter without a gradient is left alone."""
    torch = pytest.importorskip("torch")
    pc, pt = params_cr(), params_torch()
    extra_c = cr.tensor(np.ones(4), requires_grad=True)
    extra_t = torch.ones(4, dtype=torch.float64, requires_grad=True)

    def groups(ps: list, extra: Any) -> list:
        return [{"params": ps[:2], "lr": 0.05, "momentum": 0.9},
                {"params": [*ps[2:], extra], "weight_decay": 0.01}]

    oc = cr.optim.SGD(groups(pc, extra_c), lr=0.1, momentum=0.5)
    ot = torch.optim.SGD(groups(pt, extra_t), lr=0.1, momentum=0.5)
    train_cr(oc, pc, 100)
    train_torch(ot, pt, 100)
    assert_same(pc, pt)
    assert extra_c.grad is None and np.all(extra_c.detach().numpy() == 1.0)
    assert len(oc.state) == len(ot.state) == 4


# (options, steps): L-BFGS amplifies rounding differences once it crawls near the minimum, so the
# configurations with a short history (which crawl) are compared over fewer steps; 3 steps still
# run 15 iterations, enough to fill and shift a history of 3.
LBFGS_CONFIGS = [({}, 100), ({"line_search_fn": "strong_wolfe"}, 100),
                 ({"line_search_fn": "strong_wolfe", "tolerance_grad": 1e-5}, 100),
                 ({"max_iter": 50, "max_eval": 60}, 100),
                 ({"lr": 0.1, "max_iter": 5, "history_size": 3}, 3),
                 ({"max_iter": 4, "history_size": 5, "line_search_fn": "strong_wolfe"}, 3)]


@pytest.mark.parametrize(("kwargs", "steps"), LBFGS_CONFIGS,
                         ids=[str(k) for k, _ in LBFGS_CONFIGS])
def test_lbfgs_parity(kwargs: dict, steps: int) -> None:
    torch = pytest.importorskip("torch")
    pc, pt = params_cr(), params_torch()
    oc, ot = cr.optim.LBFGS(pc, **kwargs), torch.optim.LBFGS(pt, **kwargs)

    def closure_cr() -> Any:
        oc.zero_grad()
        loss = loss_cr(pc)
        loss.backward()
        return loss

    def closure_torch() -> Any:
        ot.zero_grad()
        loss = loss_torch(pt)
        loss.backward()
        return loss

    for _ in range(steps):
        lc = oc.step(closure_cr)
        lt = ot.step(closure_torch)
    assert_same(pc, pt)
    assert float(lc) == pytest.approx(lt.item(), rel=1e-10)
    sc, st = oc.state[pc[0]], ot.state[pt[0]]
    assert (sc["func_evals"], sc["n_iter"]) == (st["func_evals"], st["n_iter"])
    assert float(lc) < 0.9 * float(loss_cr(params_cr()))


def test_lbfgs_float32_and_closure_required() -> None:
    ps = params_cr(np.float32)
    opt = cr.optim.LBFGS(ps, line_search_fn="strong_wolfe")

    def closure() -> Any:
        opt.zero_grad()
        loss = loss_cr(ps)
        loss.backward()
        return loss

    first = float(closure())
    for _ in range(5):
        opt.step(closure)
    assert float(closure()) < 0.5 * first
    assert all(p.dtype == np.float32 for p in ps)
    st = opt.state[ps[0]]
    assert st["d"].dtype == np.float32 and all(v.dtype == np.float32 for v in st["old_dirs"])
    with pytest.raises(RuntimeError, match="closure"):
        opt.step(None)
    with pytest.raises(ValueError, match="parameter groups"):
        cr.optim.LBFGS([{"params": ps[:2]}, {"params": ps[2:]}])
    with pytest.raises(ValueError, match="strong_wolfe"):
        cr.optim.LBFGS(ps, line_search_fn="backtracking")


# -- state_dict ---------------------------------------------------------------------------------
ROUND_TRIP = [("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
              ("Adam", {"lr": 0.01, "amsgrad": True}),
              ("AdamW", {"lr": 0.01}),
              ("RMSprop", {"lr": 0.001, "centered": True, "momentum": 0.5}),
              ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
              ("LBFGS", {"line_search_fn": "strong_wolfe", "max_iter": 3})]


def _run(opt: Any, ps: list, steps: int) -> None:
    if isinstance(opt, cr.optim.LBFGS):
        def closure() -> Any:
            opt.zero_grad()
            loss = loss_cr(ps)
            loss.backward()
            return loss
        for _ in range(steps):
            opt.step(closure)
    else:
        train_cr(opt, ps, steps)


@pytest.mark.parametrize(("name", "kwargs"), ROUND_TRIP, ids=[n for n, _ in ROUND_TRIP])
def test_state_dict_round_trip(name: str, kwargs: dict) -> None:
    """10 steps, save, load into a fresh optimizer, 10 more: identical to 20 straight."""
    straight = params_cr()
    _run(getattr(cr.optim, name)(straight, **kwargs), straight, 20)

    ps = params_cr()
    opt = getattr(cr.optim, name)(ps, **kwargs)
    _run(opt, ps, 10)
    saved = copy.deepcopy(opt.state_dict())
    saved_params = [p.detach().numpy().copy() for p in ps]
    assert sorted(saved["state"]) == ([0] if name == "LBFGS" else [0, 1, 2, 3])
    assert saved["param_groups"][0]["params"] == [0, 1, 2, 3]

    fresh = [cr.tensor(a, requires_grad=True) for a in saved_params]
    opt2 = getattr(cr.optim, name)(fresh, lr=123.0)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[0]["lr"] == kwargs.get("lr", opt.defaults["lr"])
    _run(opt2, fresh, 10)
    for a, b in zip(fresh, straight):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_state_dict_interchange_with_torch(name: str) -> None:
    """PyTorch's state_dict loads into ours and ours into PyTorch's (tensors converted)."""
    torch = pytest.importorskip("torch")
    kwargs = {"lr": 0.01, "momentum": 0.9} if name in ("SGD", "RMSprop") else {"lr": 0.01}
    pt = params_torch()
    ot = getattr(torch.optim, name)(pt, **kwargs)
    train_torch(ot, pt, 10)
    sd = ot.state_dict()
    ours = {"state": {k: {n: (cr.tensor(v.numpy()) if torch.is_tensor(v) else v)
                          for n, v in s.items()} for k, s in sd["state"].items()},
            "param_groups": sd["param_groups"]}
    pc = [cr.tensor(p.detach().numpy().copy(), requires_grad=True) for p in pt]
    oc = getattr(cr.optim, name)(pc)
    oc.load_state_dict(ours)
    assert isinstance(oc.state[pc[0]].get("step", 0), int)
    train_cr(oc, pc, 10)
    train_torch(ot, pt, 10)
    assert_same(pc, pt)

    back = oc.state_dict()
    theirs = {"state": {k: {n: (torch.tensor(v.numpy()) if isinstance(v, cr.Tensor) else v)
                            for n, v in s.items()} for k, s in back["state"].items()},
              "param_groups": back["param_groups"]}
    pt2 = [torch.tensor(p.detach().numpy().copy(), requires_grad=True) for p in pc]
    ot2 = getattr(torch.optim, name)(pt2)
    ot2.load_state_dict(theirs)
    train_torch(ot2, pt2, 5)
    train_cr(oc, pc, 5)
    assert_same(pc, pt2)


def test_load_state_dict_errors_and_casting() -> None:
    ps = params_cr()
    opt = cr.optim.Adam(ps, lr=0.01)
    train_cr(opt, ps, 3)
    sd = copy.deepcopy(opt.state_dict())

    with pytest.raises(ValueError, match=r"has 1 parameter group\(s\) but this optimizer has 2"):
        cr.optim.Adam([{"params": ps[:2]}, {"params": ps[2:]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="group 0 has 4 saved parameters, this optimizer's has 3"):
        cr.optim.Adam(ps[:3]).load_state_dict(sd)
    swapped = [cr.tensor(INIT[i], requires_grad=True) for i in (2, 1, 0, 3)]
    with pytest.raises(ValueError, match=r"state\[0\]\['exp_avg'\] has shape \(5, 8\) but "
                                         r"parameter 0 has shape \(8, 3\)"):
        cr.optim.Adam(swapped).load_state_dict(sd)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        cr.optim.Adam(ps).load_state_dict({"state": {}})

    p32 = params_cr(np.float32)
    opt32 = cr.optim.Adam(p32)
    opt32.load_state_dict(sd)
    st = opt32.state[p32[0]]
    assert st["exp_avg"].dtype == np.float32 and st["step"] == 3
    assert not np.shares_memory(st["exp_avg"].numpy(), opt.state[ps[0]]["exp_avg"].numpy())
    train_cr(opt32, p32, 2)
    assert all(p.dtype == np.float32 for p in p32)


def test_adamw_keeps_decoupled_after_load() -> None:
    ps = params_cr()
    sd = cr.optim.Adam(ps).state_dict()
    opt = cr.optim.AdamW(ps)
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["decoupled_weight_decay"] is True


# -- validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("make", "err", "match"), [
    (lambda p: cr.optim.SGD(p, lr=-0.1), ValueError, "invalid learning rate: lr=-0.1"),
    (lambda p: cr.optim.SGD(p, momentum=-0.5), ValueError, "momentum"),
    (lambda p: cr.optim.SGD(p, weight_decay=-1), ValueError, "weight_decay"),
    (lambda p: cr.optim.SGD(p, nesterov=True), ValueError, "Nesterov momentum requires"),
    (lambda p: cr.optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     "zero dampening"),
    (lambda p: cr.optim.SGD(p, lr="fast"), TypeError, "must be a number"),
    (lambda p: cr.optim.Adam(p, betas=(1.0, 0.999)), ValueError, r"index 0.*\[0, 1\)"),
    (lambda p: cr.optim.Adam(p, betas=(0.9, -0.1)), ValueError, "index 1"),
    (lambda p: cr.optim.Adam(p, eps=-1e-8), ValueError, "epsilon"),
    (lambda p: cr.optim.AdamW(p, weight_decay=-0.01), ValueError, "weight_decay"),
    (lambda p: cr.optim.RMSprop(p, alpha=-0.9), ValueError, "alpha"),
    (lambda p: cr.optim.Adagrad(p, lr_decay=-1), ValueError, "lr_decay"),
    (lambda p: cr.optim.Adagrad(p, initial_accumulator_value=-1), ValueError, "initial_acc"),
    (lambda p: cr.optim.SGD([{"params": p, "lr": -1.0}]), ValueError, "learning rate"),
    (lambda p: cr.optim.SGD([]), ValueError, "empty parameter list"),
    (lambda p: cr.optim.SGD(p[0]), TypeError, "single tensor"),
    (lambda p: cr.optim.SGD([p[0], np.ones(3)]), TypeError, "parameter 1 is ndarray"),
    (lambda p: cr.optim.SGD([p[0] * 2]), ValueError, "non-leaf"),
    (lambda p: cr.optim.SGD([cr.tensor([1, 2])]), TypeError, "floating-point"),
    (lambda p: cr.optim.SGD({p[0]}), TypeError, "ordered collection"),
    (lambda p: cr.optim.SGD([{"params": p[:2]}, {"params": p[1:]}]), ValueError,
     r"more than one parameter group: parameter 0 \(already in group 0\)"),
])
def test_validation_errors(make: Any, err: type, match: str) -> None:
    with pytest.raises(err, match=match):
        make(params_cr())


def test_pytorch_implementation_switches_are_accepted() -> None:
    ps = params_cr()
    for make in (lambda: cr.optim.Adam(ps, fused=True), lambda: cr.optim.AdamW(ps, foreach=True),
                 lambda: cr.optim.SGD(ps, lr=0.1, foreach=False, fused=None),
                 lambda: cr.optim.RMSprop(ps, capturable=False)):
        opt = make()
        assert "foreach" in opt.param_groups[0] and "differentiable" in opt.param_groups[0]
    with pytest.raises(RuntimeError, match="differentiable=True is not supported"):
        cr.optim.Adam(ps, differentiable=True)


def test_add_param_group_and_repr() -> None:
    ps = params_cr()
    opt = cr.optim.SGD(ps[:2], lr=0.1)
    opt.add_param_group({"params": ps[2:], "momentum": 0.9})
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.1]
    assert opt.param_groups[1]["momentum"] == 0.9
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [ps[0]]})
    text = repr(opt)
    assert text.startswith("SGD (\nParameter Group 0\n    dampening: 0\n    differentiable: False\n"
                           "    foreach: None\n    fused: None\n    lr: 0.1\n")  # PyTorch's keys
    assert "Parameter Group 1" in text and "    momentum: 0.9\n" in text and text.endswith(")")
    named = cr.optim.Adam([("w", ps[0]), ("b", ps[1])])
    assert named.param_groups[0]["param_names"] == ["w", "b"]
    assert named.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]


def test_zero_grad() -> None:
    ps = params_cr()
    opt = cr.optim.SGD(ps, lr=0.1)
    loss_cr(ps).backward()
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not np.any(p.grad.numpy()) for p in ps)
    loss_cr(ps).backward()
    opt.zero_grad()
    assert all(p.grad is None for p in ps)


def test_step_bumps_version_so_stale_graphs_refuse_backward() -> None:
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = cr.optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    stale = (w * w).sum()  # saved w before the update
    v = w._version
    opt.step()
    assert w._version == v + 1
    with pytest.raises(RuntimeError, match="modified in place"):
        stale.backward()


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_float32_stays_float32(name: str) -> None:
    kwargs = {"momentum": 0.9, "weight_decay": 0.01} if name in ("SGD", "RMSprop") else {}
    p32, p64 = params_cr(np.float32), params_cr()
    o32 = getattr(cr.optim, name)(p32, lr=0.01, **kwargs)
    o64 = getattr(cr.optim, name)(p64, lr=0.01, **kwargs)
    train_cr(o32, p32, 20)
    train_cr(o64, p64, 20)
    for a, b in zip(p32, p64):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-3, atol=1e-4)
    for st in o32.state.values():
        for v in st.values():
            if isinstance(v, cr.Tensor):
                assert v.dtype == np.float32


def test_non_contiguous_parameter_keeps_layout() -> None:
    base = np.asfortranarray(INIT[0])  # a parameter whose memory is column-major
    w = cr.from_numpy(base.copy(order="F")).requires_grad_()
    ref = cr.tensor(INIT[0], requires_grad=True)
    opts = [cr.optim.Adam([w], lr=0.01), cr.optim.Adam([ref], lr=0.01)]
    for _ in range(5):
        for opt, p in zip(opts, (w, ref)):
            opt.zero_grad()
            ((p.tanh() - 0.3) ** 2).sum().backward()
            opt.step()
    np.testing.assert_allclose(w.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    assert w.detach().numpy().flags.f_contiguous
    assert opts[0].state[w]["exp_avg"].numpy().flags.f_contiguous


def test_closure_and_grad_shape_error() -> None:
    w = cr.tensor([1.0, -1.0], requires_grad=True)
    opt = cr.optim.Adam([w], lr=0.1)

    def closure() -> Any:
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    assert float(opt.step(closure)) == 2.0
    with pytest.raises(RuntimeError, match="attempting to assign a gradient of size '\\[3\\]'"):
        w.grad = cr.tensor([1.0, 2.0, 3.0])
    w._grad = cr.tensor([1.0, 2.0, 3.0])  # bypassing the check: the optimiser still refuses
    with pytest.raises(ValueError, match=r"shape \(2,\) has a .grad of shape \(3,\)"):
        opt.step()


def test_nn_parameter_if_available() -> None:
    nn = pytest.importorskip("chainrule.nn")
    if not hasattr(nn, "Parameter"):
        pytest.skip("chainrule.nn.Parameter does not exist yet")
    ps = [nn.Parameter(cr.tensor(a)) for a in INIT]
    opt = cr.optim.Adam(ps, lr=0.01)
    train_cr(opt, ps, 5)
    ref = params_cr()
    train_cr(cr.optim.Adam(ref, lr=0.01), ref, 5)
    for a, b in zip(ps, ref):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


# -- cr.nn.utils ---------------------------------------------------------------------------------
def _with_grads(seed: int = 1) -> tuple[list, list]:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(a.shape) for a in INIT]
    pc = params_cr()
    pt = params_torch()
    for p, g in zip(pc, grads):
        p.grad = cr.tensor(g.copy())
    for p, g in zip(pt, grads):
        p.grad = torch.tensor(g.copy())
    return pc, pt


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, "inf", 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_parity(norm_type: Any, max_norm: float) -> None:
    torch = pytest.importorskip("torch")
    pc, pt = _with_grads()
    total_c = nn_utils.clip_grad_norm_(pc, max_norm, norm_type=norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(pt, max_norm, norm_type=norm_type)
    assert isinstance(total_c, cr.Tensor) and total_c.dtype == np.float64
    assert float(total_c) == pytest.approx(total_t.item(), rel=1e-12)
    assert_same([p.grad for p in pc], [p.grad for p in pt], rtol=1e-12)


def test_clip_grad_norm_float32_skips_missing_and_nonfinite() -> None:
    torch = pytest.importorskip("torch")
    w = cr.tensor(np.array([[3.0, 4.0]], np.float32), requires_grad=True)
    w.grad = cr.tensor(np.array([[3.0, 4.0]], np.float32))
    unused = cr.tensor([1.0], requires_grad=True)
    total = nn_utils.clip_grad_norm_([w, unused], 1.0)
    assert total.dtype == np.float32 and float(total) == 5.0
    np.testing.assert_allclose(w.grad.numpy(), [[0.6, 0.8]], rtol=1e-5)
    assert w.grad.dtype == np.float32 and unused.grad is None

    w.grad = cr.tensor([[np.inf, 1.0]])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn_utils.clip_grad_norm_(w, 1.0, error_if_nonfinite=True)
    wt = torch.tensor([[1.0, 1.0]], requires_grad=True)
    wt.grad = torch.tensor([[np.inf, 1.0]])
    tc = nn_utils.clip_grad_norm_(w, 1.0)
    tt = torch.nn.utils.clip_grad_norm_(wt, 1.0)
    assert float(tc) == tt.item() == math.inf
    np.testing.assert_array_equal(w.grad.numpy(), wt.grad.numpy())
    assert float(nn_utils.clip_grad_norm_([unused], 1.0)) == 0.0


def test_clip_grad_value_parity() -> None:
    torch = pytest.importorskip("torch")
    pc, pt = _with_grads(2)
    nn_utils.clip_grad_value_(pc, 0.7)
    torch.nn.utils.clip_grad_value_(pt, 0.7)
    assert_same([p.grad for p in pc], [p.grad for p in pt], rtol=0)
    assert max(float(np.max(np.abs(p.grad.numpy()))) for p in pc) == 0.7


def test_parameters_to_vector_and_back() -> None:
    ps = params_cr()
    vec = nn_utils.parameters_to_vector(ps)
    assert vec.shape == (sum(a.size for a in INIT),)
    np.testing.assert_array_equal(vec.detach().numpy(), np.concatenate([a.ravel() for a in INIT]))
    vec.sum().backward()  # differentiable
    assert all(np.all(p.grad.numpy() == 1.0) for p in ps)
    versions = [p._version for p in ps]
    nn_utils.vector_to_parameters(cr.tensor(np.arange(vec.shape[0], dtype=np.float64)), ps)
    np.testing.assert_array_equal(ps[1].detach().numpy(), np.arange(40, 48))
    assert [p._version for p in ps] == [v + 1 for v in versions]
    with pytest.raises(TypeError, match="expected vec to be a Tensor"):
        nn_utils.vector_to_parameters(np.zeros(3), ps)
    with pytest.raises(ValueError, match="vec has 3 elements but the parameters have 75"):
        nn_utils.vector_to_parameters(cr.zeros(3), ps)


def test_trains_a_module_with_clipping_and_a_schedule() -> None:
    nn = pytest.importorskip("chainrule.nn")
    if not hasattr(nn, "Linear"):
        pytest.skip("chainrule.nn.Linear does not exist yet")
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
    opt = cr.optim.AdamW(model.parameters(), lr=0.01)
    sched = cr.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=60)
    x, y = cr.tensor(X, dtype=cr.float32), cr.tensor(Y, dtype=cr.float32)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        nn_utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss))
    assert losses[-1] < 0.7 * losses[0]
    assert all(p.dtype == np.float32 for p in model.parameters())
