"""CyclicLR and CosineAnnealingWarmRestarts: the same rate and momentum sequences as PyTorch's
(the harness of ``test_lr_scheduler``), fractional epochs, state_dict and validation."""

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


@pytest.mark.parametrize(("sched", "kwargs"), [
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3}),
    ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2}),
])
def test_state_dict_round_trip(sched: str, kwargs: dict) -> None:
    o1 = _opt_cr()
    s1 = getattr(lrs, sched)(o1, **kwargs)
    for _ in range(5):
        o1.step()
        s1.step()
    saved = copy.deepcopy(s1.state_dict())
    o2 = _opt_cr()
    s2 = getattr(lrs, sched)(o2, **kwargs)
    s2.load_state_dict(saved)
    for _ in range(7):
        o1.step()
        s1.step()
        o2.step()
        s2.step()
        assert s1.get_last_lr() == s2.get_last_lr()


@pytest.mark.parametrize(("make", "match"), [
    (lambda o: lrs.CyclicLR(o, 0.01, 0.1, mode="zigzag"), "mode 'zigzag' is invalid"),
    (lambda o: lrs.CyclicLR(_opt_cr("Adagrad"), 0.01, 0.1), "no momentum or beta1"),
    (lambda o: lrs.CyclicLR(o, [0.1], 0.2), "same length"),
    (lambda o: lrs.CosineAnnealingWarmRestarts(o, T_0=0), "positive integer T_0"),
    (lambda o: lrs.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0), "T_mult >= 1"),
])
def test_validation(make: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make(_opt_cr())
