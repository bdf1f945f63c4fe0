"""CyclicLR, CosineAnnealingWarmRestarts, ConstantLR, MultiplicativeLR, PolynomialLR and
ChainedScheduler: the same rate and momentum sequences as PyTorch's (the harness of
``test_lr_scheduler``), fractional epochs, state_dict and validation."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from chainrule.optim import lr_scheduler as lrs
from tests.test_lr_scheduler import _opt_cr, _opt_torch, _trace

SCHEDULERS: list[tuple[str, str, dict]] = [
    ("CyclicLR", "SGD", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 7}),
    ("CyclicLR", "SGD", {"base_lr": [0.01, 0.02], "max_lr": 0.1, "step_size_up": 4,
                         "step_size_down": 9, "mode": "triangular2"}),
    ("CyclicLR", "SGD", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 5, "mode": "exp_range",
                         "gamma": 0.97, "base_momentum": 0.7, "max_momentum": 0.95}),
    ("CyclicLR", "Adam", {"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 6}),
    ("CyclicLR", "Adagrad", {"base_lr": 0.001, "max_lr": 0.01, "step_size_up": 6,
                             "cycle_momentum": False, "scale_fn": lambda x: 0.5 ** x,
                             "scale_mode": "iterations"}),
    ("CosineAnnealingWarmRestarts", "SGD", {"T_0": 10}),
    ("CosineAnnealingWarmRestarts", "SGD", {"T_0": 3, "T_mult": 2, "eta_min": 0.001}),
    ("CosineAnnealingWarmRestarts", "Adam", {"T_0": 7, "T_mult": 3}),
    ("ConstantLR", "SGD", {}),
    ("ConstantLR", "Adam", {"factor": 0.25, "total_iters": 12}),
    ("MultiplicativeLR", "SGD", {"lr_lambda": lambda e: 0.95}),
    ("MultiplicativeLR", "SGD", {"lr_lambda": [lambda e: 0.9 if e % 3 else 1.1,
                                               lambda e: 1.0 / (1.0 + 0.01 * e)]}),
    ("PolynomialLR", "SGD", {}),
    ("PolynomialLR", "Adam", {"total_iters": 20, "power": 2.0}),
    ("PolynomialLR", "SGD", {"total_iters": 40, "power": 0.5}),
]
IDS = [f"{s}-{o}-{i}" for i, (s, o, _) in enumerate(SCHEDULERS)]


@pytest.mark.parametrize(("sched", "opt", "kwargs"), SCHEDULERS, ids=IDS)
def test_sequence_equals_pytorch(sched: str, opt: str, kwargs: dict) -> None:
    torch = pytest.importorskip("torch")
    oc, ot = _opt_cr(opt), _opt_torch(opt)
    sc = getattr(lrs, sched)(oc, **kwargs)
    st = getattr(torch.optim.lr_scheduler, sched)(ot, **kwargs)
    ours, theirs = _trace(oc, sc, 100), _trace(ot, st, 100)
    assert ours == theirs


def test_warm_restarts_fractional_epochs_equal_pytorch() -> None:
    torch = pytest.importorskip("torch")
    seqs = []
    for mod, opt in ((lrs, _opt_cr()), (torch.optim.lr_scheduler, _opt_torch())):
        s = mod.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=2, eta_min=0.01)
        out = []
        for epoch in range(12):
            for i in range(5):
                opt.step()
                s.step(epoch + i / 5)
                out.append(tuple(s.get_last_lr()))
        seqs.append(out)
    assert seqs[0] == seqs[1]


def _chained(mod: Any, opt: Any) -> Any:
    return mod.ChainedScheduler([mod.ConstantLR(opt, factor=0.1, total_iters=4),
                                 mod.ExponentialLR(opt, gamma=0.9),
                                 mod.PolynomialLR(opt, total_iters=20, power=1.5)])


def test_chained_scheduler_equals_pytorch() -> None:
    torch = pytest.importorskip("torch")
    oc, ot = _opt_cr(), _opt_torch()
    sc, st = _chained(lrs, oc), _chained(torch.optim.lr_scheduler, ot)
    assert _trace(oc, sc, 30) == _trace(ot, st, 30)
    assert set(sc.state_dict()) == set(st.state_dict())


def test_closed_form_with_epoch_equals_pytorch() -> None:
    torch = pytest.importorskip("torch")
    for name, kw in (("ConstantLR", {"factor": 0.5, "total_iters": 3}),
                     ("PolynomialLR", {"total_iters": 6, "power": 2.0})):
        seqs = []
        for mod, opt in ((lrs, _opt_cr()), (torch.optim.lr_scheduler, _opt_torch())):
            s = getattr(mod, name)(opt, **kw)
            out = []
            for epoch in (2, 5, 1, 7, 3):
                opt.step()
                with pytest.warns(UserWarning, match="epoch parameter"):
                    s.step(epoch)
                out.append(tuple(s.get_last_lr()))
            seqs.append(out)
        assert seqs[0] == seqs[1], name


class _Factor:
    """A callable object: its attributes are saved in a MultiplicativeLR state dict."""

    def __init__(self, k: float) -> None:
        self.k = k

    def __call__(self, epoch: int) -> float:
        return self.k


@pytest.mark.parametrize(("sched", "kwargs"), [
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3}),
    ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2}),
    ("ConstantLR", {"factor": 0.5, "total_iters": 8}),
    ("MultiplicativeLR", {"lr_lambda": [_Factor(0.9), lambda e: 0.8]}),
    ("PolynomialLR", {"total_iters": 10, "power": 2.0}),
])
def test_state_dict_round_trip(sched: str, kwargs: dict) -> None:
    assert_resumes(_opt_cr, lambda o: getattr(lrs, sched)(o, **kwargs), 5, 7)


def assert_resumes(make_opt: Any, make_sched: Any, before: int, after: int) -> None:
    """A scheduler restored from a state dict (with its optimiser's) goes on as the original."""
    o1 = make_opt()
    s1 = make_sched(o1)
    for _ in range(before):
        o1.step()
        s1.step()
    saved = copy.deepcopy(s1.state_dict())
    o2 = make_opt()
    s2 = make_sched(o2)
    o2.load_state_dict(o1.state_dict())  # the current rates: chainable schedulers update them
    s2.load_state_dict(saved)
    for _ in range(after):
        for o, s in ((o1, s1), (o2, s2)):
            o.step()
            s.step()
        assert s1.get_last_lr() == s2.get_last_lr()


@pytest.mark.parametrize(("make", "match"), [
    (lambda o: lrs.CyclicLR(o, 0.01, 0.1, mode="zigzag"), "mode 'zigzag' is invalid"),
    (lambda o: lrs.CyclicLR(_opt_cr("Adagrad"), 0.01, 0.1), "no momentum or beta1"),
    (lambda o: lrs.CyclicLR(o, [0.1], 0.2), "same length"),
    (lambda o: lrs.CosineAnnealingWarmRestarts(o, T_0=0), "positive integer T_0"),
    (lambda o: lrs.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0), "T_mult >= 1"),
    (lambda o: lrs.ConstantLR(o, factor=1.5), "between 0 and 1"),
    (lambda o: lrs.MultiplicativeLR(o, [lambda e: 1.0]), "expected 2 lr_lambdas"),
    (lambda o: lrs.ChainedScheduler([]), "at least one scheduler"),
    (lambda o: lrs.ChainedScheduler([lrs.StepLR(o, 2), lrs.StepLR(_opt_cr(), 2)]),
     "same optimizer"),
])
def test_validation(make: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make(_opt_cr())


def test_chained_scheduler_state_dict_round_trip() -> None:
    assert_resumes(_opt_cr, lambda o: _chained(lrs, o), 6, 8)
