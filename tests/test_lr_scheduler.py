"""Learning-rate schedulers: the same rate (and momentum) sequences as PyTorch's, exactly."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import lr_scheduler as lrs

STEPS = 50


def _opt_cr(name: str = "SGD") -> Any:
    ps = [cr.tensor(np.ones((2, 2)), requires_grad=True), cr.tensor(np.ones(3), requires_grad=True)]
    groups = [{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}]
    if name == "SGD":
        return cr.optim.SGD(groups, lr=0.1, momentum=0.9)
    return getattr(cr.optim, name)(groups, lr=0.1)


def _opt_torch(name: str = "SGD") -> Any:
    import torch
    ps = [torch.ones((2, 2), dtype=torch.float64, requires_grad=True),
          torch.ones(3, dtype=torch.float64, requires_grad=True)]
    groups = [{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}]
    if name == "SGD":
        return torch.optim.SGD(groups, lr=0.1, momentum=0.9)
    return getattr(torch.optim, name)(groups, lr=0.1)


def _trace(opt: Any, sched: Any, steps: int = STEPS) -> list:
    """Per step: the scheduler's last lrs, the groups' lrs and momenta / betas."""
    def record() -> tuple:
        groups = opt.param_groups
        return (tuple(sched.get_last_lr()), tuple(g["lr"] for g in groups),
                tuple(g.get("momentum") for g in groups), tuple(g.get("betas") for g in groups))
    out = [record()]
    for _ in range(steps):
        opt.step()
        sched.step()
        out.append(record())
    return out


SCHEDULERS: list[tuple[str, str, dict]] = [
    ("StepLR", "SGD", {"step_size": 7, "gamma": 0.5}),
    ("MultiStepLR", "SGD", {"milestones": [5, 12, 12, 30], "gamma": 0.3}),
    ("ExponentialLR", "SGD", {"gamma": 0.93}),
    ("CosineAnnealingLR", "SGD", {"T_max": 20, "eta_min": 0.001}),
    ("CosineAnnealingLR", "Adam", {"T_max": 50}),
    ("LinearLR", "SGD", {"start_factor": 0.1, "total_iters": 10}),
    ("LinearLR", "SGD", {"start_factor": 1.0, "end_factor": 0.2, "total_iters": 30}),
    ("LambdaLR", "SGD", {"lr_lambda": lambda e: 0.9 ** e}),
    ("LambdaLR", "SGD", {"lr_lambda": [lambda e: 1 / (1 + e), lambda e: (e % 5) + 1]}),
    ("OneCycleLR", "SGD", {"max_lr": 1.0, "total_steps": STEPS}),
    ("OneCycleLR", "SGD", {"max_lr": [1.0, 0.3], "total_steps": STEPS,
                           "anneal_strategy": "linear", "pct_start": 0.25}),
    ("OneCycleLR", "SGD", {"max_lr": 0.5, "epochs": 5, "steps_per_epoch": 10,
                           "three_phase": True, "base_momentum": 0.8, "max_momentum": 0.9}),
    ("OneCycleLR", "Adam", {"max_lr": 0.01, "total_steps": STEPS}),
    ("OneCycleLR", "Adam", {"max_lr": 0.01, "total_steps": STEPS, "three_phase": True,
                            "anneal_strategy": "linear"}),
    ("OneCycleLR", "RMSprop", {"max_lr": 0.01, "total_steps": STEPS, "div_factor": 10.0,
                               "final_div_factor": 100.0}),
    ("OneCycleLR", "Adagrad", {"max_lr": 0.01, "total_steps": STEPS, "cycle_momentum": False}),
]
IDS = [f"{s}-{o}-{i}" for i, (s, o, _) in enumerate(SCHEDULERS)]


@pytest.mark.parametrize(("sched", "opt", "kwargs"), SCHEDULERS, ids=IDS)
def test_sequence_equals_pytorch(sched: str, opt: str, kwargs: dict) -> None:
    torch = pytest.importorskip("torch")
    oc, ot = _opt_cr(opt), _opt_torch(opt)
    sc = getattr(lrs, sched)(oc, **kwargs)
    st = getattr(torch.optim.lr_scheduler, sched)(ot, **kwargs)
    ours, theirs = _trace(oc, sc), _trace(ot, st)
    assert ours == theirs  # exact: the same float operations in the same order
    assert [g["initial_lr"] for g in oc.param_groups] == \
        [g["initial_lr"] for g in ot.param_groups]
    assert sc.last_epoch == st.last_epoch == STEPS


def test_sequential_warmup_then_cosine() -> None:
    torch = pytest.importorskip("torch")
    traces = []
    for mod, opt in ((cr.optim, _opt_cr()), (torch.optim, _opt_torch())):
        warm = mod.lr_scheduler.LinearLR(opt, start_factor=0.01, total_iters=5)
        cos = mod.lr_scheduler.CosineAnnealingLR(opt, T_max=45)
        seq = mod.lr_scheduler.SequentialLR(opt, [warm, cos], milestones=[5])
        traces.append(_trace(opt, seq))
    assert traces[0] == traces[1]


@pytest.mark.parametrize("kwargs", [
    {},
    {"mode": "max", "patience": 2},
    {"factor": 0.5, "patience": 1, "threshold": 0.1, "threshold_mode": "abs"},
    {"mode": "max", "threshold_mode": "abs", "threshold": 0.05, "patience": 0, "cooldown": 2},
    {"factor": 0.5, "patience": 0, "min_lr": [0.02, 0.04], "cooldown": 1},
    {"factor": 0.2, "patience": 1, "min_lr": 0.001, "eps": 1e-3},
])
def test_reduce_on_plateau_equals_pytorch(kwargs: dict) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    metrics = list(np.concatenate([np.linspace(1.0, 0.5, 10), 0.5 + 0.05 * rng.random(30),
                                   np.linspace(0.5, 0.2, 10)]))
    oc, ot = _opt_cr(), _opt_torch()
    sc = lrs.ReduceLROnPlateau(oc, **kwargs)
    st = torch.optim.lr_scheduler.ReduceLROnPlateau(ot, **kwargs)
    ours, theirs = [], []
    for m in metrics:
        oc.step()
        ot.step()
        sc.step(m)
        st.step(torch.tensor(m))
        ours.append((tuple(sc.get_last_lr()), sc.num_bad_epochs, sc.cooldown_counter, sc.best))
        theirs.append((tuple(st.get_last_lr()), st.num_bad_epochs, st.cooldown_counter, st.best))
    assert ours == theirs
    assert ours[-1][0] != ours[0][0]  # it did reduce


def test_reduce_on_plateau_state_dict() -> None:
    oc = _opt_cr()
    s = lrs.ReduceLROnPlateau(oc, patience=1)
    for m in (1.0, 1.0, 1.0):
        s.step(m)
    sd = s.state_dict()
    assert "optimizer" not in sd and sd["num_bad_epochs"] == 0
    s2 = lrs.ReduceLROnPlateau(_opt_cr(), patience=5, mode="max")
    s2.load_state_dict(sd)
    assert (s2.patience, s2.mode, s2.best, s2.mode_worse) == (1, "min", 1.0, float("inf"))


@pytest.mark.parametrize(("sched", "kwargs"), [
    ("StepLR", {"step_size": 3}), ("CosineAnnealingLR", {"T_max": 10}),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 30}), ("LinearLR", {"total_iters": 15}),
])
def test_scheduler_state_dict_round_trip(sched: str, kwargs: dict) -> None:
    """10 steps, save optimizer and scheduler, resume in fresh objects: same as 20 straight."""
    o1 = _opt_cr()
    s1 = getattr(lrs, sched)(o1, **kwargs)
    straight = _trace(o1, s1, 20)

    o2 = _opt_cr()
    s2 = getattr(lrs, sched)(o2, **kwargs)
    first = _trace(o2, s2, 10)
    saved_opt, saved_sched = copy.deepcopy(o2.state_dict()), copy.deepcopy(s2.state_dict())
    o3 = _opt_cr()
    s3 = getattr(lrs, sched)(o3, **kwargs)
    o3.load_state_dict(saved_opt)
    s3.load_state_dict(saved_sched)
    rest = _trace(o3, s3, 10)
    assert first + rest[1:] == straight


def test_lambda_state_dict_saves_callable_objects_only() -> None:
    class Factor:
        def __init__(self) -> None:
            self.k = 0.5

        def __call__(self, epoch: int) -> float:
            return self.k ** epoch

    opt = _opt_cr()
    s = lrs.LambdaLR(opt, [Factor(), lambda e: 1.0])
    sd = s.state_dict()
    assert sd["lr_lambdas"] == [{"k": 0.5}, None]
    sd["lr_lambdas"][0]["k"] = 0.25
    s2 = lrs.LambdaLR(_opt_cr(), [Factor(), lambda e: 1.0])
    s2.load_state_dict(sd)
    assert s2.lr_lambdas[0].k == 0.25


def test_initial_lr_and_resume() -> None:
    opt = _opt_cr()
    lrs.StepLR(opt, step_size=2)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.05]
    with pytest.raises(KeyError, match="initial_lr"):
        lrs.StepLR(_opt_cr(), step_size=2, last_epoch=5)
    resumed = lrs.ExponentialLR(opt, gamma=0.5, last_epoch=3)
    assert resumed.last_epoch == 4 and resumed.base_lrs == [0.1, 0.05]


def test_warnings() -> None:
    opt = _opt_cr()
    s = lrs.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        s.step()
    with pytest.warns(UserWarning, match="get_last_lr"):
        s.get_lr()
    opt.step()
    with pytest.warns(UserWarning, match="epoch parameter"):
        s.step(6)
    assert s.get_last_lr() == pytest.approx([0.1 * 0.1 ** 3, 0.05 * 0.1 ** 3])  # closed form


@pytest.mark.parametrize(("make", "err", "match"), [
    (lambda o: lrs.StepLR("sgd", step_size=1), TypeError, "expected an optimizer"),
    (lambda o: lrs.StepLR(o, step_size=0), ValueError, "positive integer"),
    (lambda o: lrs.LinearLR(o, start_factor=0), ValueError, "start_factor=0"),
    (lambda o: lrs.LinearLR(o, end_factor=1.5), ValueError, "end_factor=1.5"),
    (lambda o: lrs.LambdaLR(o, [lambda e: 1.0]), ValueError, "expected 2 lr_lambdas"),
    (lambda o: lrs.OneCycleLR(o, max_lr=1.0), ValueError, "total_steps OR"),
    (lambda o: lrs.OneCycleLR(o, max_lr=1.0, total_steps=0), ValueError, "total_steps"),
    (lambda o: lrs.OneCycleLR(o, max_lr=1.0, total_steps=9, anneal_strategy="exp"),
     ValueError, "anneal_strategy"),
    (lambda o: lrs.OneCycleLR(o, max_lr=[1.0], total_steps=9), ValueError, "same length"),
    (lambda o: lrs.OneCycleLR(o, max_lr=1.0, total_steps=9, pct_start=1.5), ValueError,
     "pct_start"),
    (lambda o: lrs.ReduceLROnPlateau(o, factor=1.0), ValueError, "factor should be < 1.0"),
    (lambda o: lrs.ReduceLROnPlateau(o, mode="up"), ValueError, "mode 'up' is unknown"),
    (lambda o: lrs.ReduceLROnPlateau(o, threshold_mode="pct"), ValueError, "threshold mode"),
    (lambda o: lrs.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "expected 2 min_lrs"),
])
def test_validation(make: Any, err: type, match: str) -> None:
    with pytest.raises(err, match=match):
        make(_opt_cr())


def test_onecycle_needs_momentum_and_refuses_extra_steps() -> None:
    ps = [cr.tensor([1.0], requires_grad=True)]
    from chainrule.optim.optimizer import Optimizer

    class Plain(Optimizer):
        def __init__(self, params: Any) -> None:
            super().__init__(params, {"lr": 0.1})

        def step(self, closure: Any = None) -> None:
            return None

    with pytest.raises(ValueError, match="momentum or beta1"):
        lrs.OneCycleLR(Plain(ps), max_lr=1.0, total_steps=5)
    opt = _opt_cr()
    s = lrs.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        opt.step()
        s.step()
    opt.step()
    with pytest.raises(ValueError, match="tried to step 4 times"):
        s.step()


def test_schedulers_are_importable_from_cr() -> None:
    assert cr.optim.lr_scheduler.StepLR is lrs.StepLR
    assert issubclass(lrs.OneCycleLR, lrs.LRScheduler)
