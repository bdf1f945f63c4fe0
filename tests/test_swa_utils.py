"""``cr.optim.swa_utils``: AveragedModel (SWA, EMA, per-tensor and list averaging, buffers),
update_bn and SWALR give PyTorch's values after the same updates."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import swa_utils
from tests.test_lr_scheduler_more import assert_resumes

_rng = np.random.default_rng(0)
X = [_rng.standard_normal((8, 3)) for _ in range(12)]
Y = [_rng.standard_normal((8, 2)) for _ in range(12)]


def _models() -> tuple[Any, Any]:
    torch = pytest.importorskip("torch")
    mc = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.BatchNorm1d(4), cr.nn.ReLU(),
                          cr.nn.Linear(4, 2)).double()
    mt = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(),
                             torch.nn.Linear(4, 2)).double()
    mt.load_state_dict({k: torch.tensor(v.detach().numpy())
                        for k, v in mc.state_dict().items()})
    return mc, mt


def _same(ours: dict, theirs: dict) -> None:
    assert list(ours) == list(theirs)
    for k in ours:
        np.testing.assert_allclose(ours[k].detach().numpy(), theirs[k].detach().numpy(),
                                   rtol=1e-12, atol=1e-12, err_msg=k)


def _train(lib: Any, model: Any, avg: Any, steps: int = 12, start: int = 3) -> None:
    opt = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    for i in range(steps):
        opt.zero_grad()
        loss = ((model(lib.tensor(X[i])) - lib.tensor(Y[i])) ** 2).mean()
        loss.backward()
        opt.step()
        if i >= start:
            avg.update_parameters(model)


@pytest.mark.parametrize("how", ["swa", "ema_multi", "ema_fn", "swa_fn", "ema_buffers",
                                 "swa_buffers"])
def test_averaged_model_equals_pytorch(how: str) -> None:
    torch = pytest.importorskip("torch")
    mc, mt = _models()
    averaged = []
    for lib, su, m in ((cr, swa_utils, mc), (torch, torch.optim.swa_utils, mt)):
        kw: dict = {
            "swa": {}, "ema_multi": {"multi_avg_fn": su.get_ema_multi_avg_fn(0.9)},
            "ema_fn": {"avg_fn": su.get_ema_avg_fn(0.8)},
            "swa_fn": {"avg_fn": su.get_swa_avg_fn()},
            "ema_buffers": {"multi_avg_fn": su.get_ema_multi_avg_fn(0.7), "use_buffers": True},
            "swa_buffers": {"use_buffers": True},
        }[how]
        avg = su.AveragedModel(m, **kw)
        _train(lib, m, avg)
        averaged.append(avg)
    ac, at = averaged
    _same(ac.state_dict(), at.state_dict())
    assert int(ac.n_averaged.item()) == 9
    # the average differs from the last weights, and the forward runs the averaged copy
    w_avg, w_last = ac.module[0].weight.detach().numpy(), mc[0].weight.detach().numpy()
    assert not np.allclose(w_avg, w_last)
    ac.eval()
    at.eval()
    np.testing.assert_allclose(ac(cr.tensor(X[0])).detach().numpy(),
                               at(torch.tensor(X[0])).detach().numpy(), rtol=1e-12)


def test_update_bn_equals_pytorch() -> None:
    torch = pytest.importorskip("torch")
    mc, mt = _models()
    ac, at = swa_utils.AveragedModel(mc), torch.optim.swa_utils.AveragedModel(mt)
    _train(cr, mc, ac)
    _train(torch, mt, at)
    ac.eval()
    at.eval()
    swa_utils.update_bn([(cr.tensor(x), 0) for x in X[:5]], ac)
    torch.optim.swa_utils.update_bn([(torch.tensor(x), 0) for x in X[:5]], at)
    _same(ac.state_dict(), at.state_dict())
    bn = ac.module[1]
    assert not ac.training and bn.momentum == 0.1 and int(bn.num_batches_tracked) == 5
    # the statistics are the plain mean over the batches of the layer's input
    with cr.no_grad():
        h = [ac.module[0](cr.tensor(x)).numpy() for x in X[:5]]
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([a.mean(0) for a in h], 0),
                               rtol=1e-12)
    swa_utils.update_bn([cr.tensor(X[0])], cr.nn.Linear(3, 2))  # no batch norm: nothing to do


def test_swa_state_dict_and_errors() -> None:
    mc, _ = _models()
    avg = swa_utils.AveragedModel(mc)
    _train(cr, mc, avg, steps=5, start=0)
    fresh = swa_utils.AveragedModel(mc)
    fresh.load_state_dict(avg.state_dict())
    assert int(fresh.n_averaged.item()) == 5
    with pytest.raises(AssertionError, match="only one of avg_fn and multi_avg_fn"):
        swa_utils.AveragedModel(mc, avg_fn=swa_utils.get_swa_avg_fn(),
                                multi_avg_fn=swa_utils.get_swa_multi_avg_fn())
    with pytest.raises(ValueError, match="decay value"):
        swa_utils.get_ema_avg_fn(1.5)
    with pytest.raises(ValueError, match="pass the model it was made from"):
        avg.update_parameters(cr.nn.Linear(3, 2))


def _opt(lib: Any) -> Any:
    dtype = lib.float64
    ps = [lib.ones(2, 2, dtype=dtype, requires_grad=True), lib.ones(3, dtype=dtype,
                                                                     requires_grad=True)]
    return lib.optim.SGD([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}], lr=0.1)


@pytest.mark.parametrize("kwargs", [{"swa_lr": 0.01}, {"swa_lr": [0.2, 0.01], "anneal_epochs": 4,
                                                        "anneal_strategy": "linear"},
                                    {"swa_lr": 0.03, "anneal_epochs": 0}])
def test_swalr_sequence_equals_pytorch(kwargs: dict) -> None:
    torch = pytest.importorskip("torch")
    seqs = []
    for lib, su in ((cr, swa_utils), (torch, torch.optim.swa_utils)):
        opt = _opt(lib)
        sched = su.SWALR(opt, **kwargs)
        out = [tuple(sched.get_last_lr())]
        for _ in range(30):
            opt.step()
            sched.step()
            out.append((tuple(sched.get_last_lr()), tuple(g["lr"] for g in opt.param_groups)))
        seqs.append(out)
    assert seqs[0] == seqs[1]


def test_swalr_state_dict_round_trip_and_validation() -> None:
    assert_resumes(lambda: _opt(cr), lambda o: swa_utils.SWALR(
        o, swa_lr=0.01, anneal_epochs=6, anneal_strategy="linear"), 3, 8)
    assert "anneal_func" not in swa_utils.SWALR(_opt(cr), 0.1).state_dict()
    with pytest.raises(ValueError, match="anneal_strategy"):
        swa_utils.SWALR(_opt(cr), 0.1, anneal_strategy="step")
    with pytest.raises(ValueError, match="anneal_epochs"):
        swa_utils.SWALR(_opt(cr), 0.1, anneal_epochs=-1)
