"""``cr.compile``: a replayed step gives the eager step's parameters and losses bit for bit, for
every optimiser and every layer of the module sweep; guards and fallbacks."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule import optim
from tests.test_module_sweep import NAMES, build, sample_of

STEPS = 5  # warm-up, recording, three replays


def _bits(ts: Any) -> list[bytes]:
    return [t._data.tobytes() for t in ts]


def _float_outputs(out: Any) -> list:
    if isinstance(out, cr.Tensor):
        return [out] if out.dtype.kind == "f" else []
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _float_outputs(o)]
    return []


def _run(make: Any, compiled: bool, steps: int = STEPS, between: Any = None) -> tuple:
    """Build (model, optimiser, step) with ``make``, run ``steps`` calls, return the parameter
    bits, the loss bits and the compiled wrapper."""
    model, opt, step, args = make()
    fn = cr.compile(step) if compiled else step
    cr.manual_seed(123)
    losses = []
    for i in range(steps):
        if between is not None:
            between(i, model, opt)
        out = fn(*args)
        losses.append(out._data.tobytes())
    params = list(model.parameters()) if isinstance(model, nn.Module) else list(model)
    bufs = list(model.buffers()) if isinstance(model, nn.Module) else []
    return _bits(params) + _bits(bufs), losses, fn


def _assert_same(make: Any, between: Any = None, replays: bool = True) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("error", cr.CompileWarning)
        p1, l1, _ = _run(make, False, between=between)
        p2, l2, fn = _run(make, True, between=between)
    assert l1 == l2
    assert p1 == p2
    if replays:
        assert fn.replays >= STEPS - 2, fn
    return fn


def _mlp_maker(opt_cls: Any, **kw: Any) -> Any:
    def make() -> tuple:
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Dropout(0.25), nn.Linear(8, 3))
        opt = opt_cls(model.parameters(), **kw)
        x = cr.randn(5, 6)
        y = cr.tensor([0, 2, 1, 1, 0])

        def step(x: Any, y: Any) -> Any:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return model, opt, step, (x, y)
    return make


OPTIMISERS = {
    name: cls for name, cls in vars(optim).items()
    if isinstance(cls, type) and issubclass(cls, optim.Optimizer) and cls is not optim.Optimizer
}
HYPER = {"SGD": [{"lr": 0.1}, {"lr": 0.1, "momentum": 0.9, "nesterov": True,
                               "weight_decay": 1e-2}],
         "Adam": [{"lr": 1e-2}, {"lr": 1e-2, "amsgrad": True, "weight_decay": 1e-2}],
         "AdamW": [{"lr": 1e-2}]}


@pytest.mark.parametrize("name", sorted(set(OPTIMISERS) - {"LBFGS"}))
def test_every_optimiser_bit_for_bit(name: str) -> None:
    for kw in HYPER.get(name, [{"lr": 1e-2}]):
        _assert_same(_mlp_maker(OPTIMISERS[name], **kw))


def test_lbfgs_falls_back_with_a_warning() -> None:
    model, _opt, _, (x, y) = _mlp_maker(optim.SGD, lr=0.1)()
    lb = optim.LBFGS(model.parameters())

    def step(x: Any, y: Any) -> Any:
        def closure() -> Any:
            lb.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            return loss
        return lb.step(closure)
    fn = cr.compile(step)
    fn(x, y)
    with pytest.warns(cr.CompileWarning, match="closure"):
        fn(x, y)
    fn(x, y)  # eager from now on, no second warning
    with pytest.raises(cr.CompileError, match="closure"):
        s = cr.compile(step, strict=True)
        s(x, y)
        s(x, y)


SKIP_LAYERS: dict[str, str] = {}


def _sweep_maker(name: str) -> Any:
    """A module-sweep layer trained by SGD with momentum on the mean square of its outputs."""
    s = sample_of(name)

    def make() -> tuple:
        model = build(name, s)
        model.train()
        inputs = tuple(cr.tensor(a, dtype=cr.get_default_dtype() if a.dtype.kind == "f"
                                 else None) for a in s.inputs)
        params = list(model.parameters())
        opt = optim.SGD(params, lr=0.01, momentum=0.9) if params else None

        def step(*xs: Any) -> Any:
            if opt is not None:
                opt.zero_grad()
            out = s.call(model, *xs) if s.call is not None else model(*xs)
            outs = _float_outputs(out)
            loss = sum(((o * o).mean() for o in outs[1:]), (outs[0] * outs[0]).mean())
            if loss.requires_grad:
                loss.backward()
            if opt is not None:
                opt.step()
            return loss
        return model, opt, step, inputs
    return make


@pytest.mark.parametrize("name", NAMES)
def test_module_sweep_bit_for_bit(name: str) -> None:
    """Every layer of the module sweep, trained by SGD with momentum on the mean square of its
    outputs: compiled and eager agree bit for bit (or the step falls back, with a warning, for
    a reason the recorder gives)."""
    make = _sweep_maker(name)
    p1, l1, _ = _run(make, False)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always", cr.CompileWarning)
        p2, l2, fn = _run(make, True)
    assert l1 == l2, name
    assert p1 == p2, name
    if not w:
        assert fn.replays == STEPS - 2, (name, fn)


def _w1_maker() -> tuple:
    """W1's engine-level step: leaf tensors, ``p.grad = None`` by hand, ``p -= lr * p.grad``."""
    rng = np.random.default_rng(0)
    w1 = cr.tensor(rng.standard_normal((128, 20)).astype(np.float32) * 0.1, requires_grad=True)
    b1 = cr.zeros(128, requires_grad=True)
    w2 = cr.tensor(rng.standard_normal((10, 128)).astype(np.float32) * 0.1, requires_grad=True)
    b2 = cr.zeros(10, requires_grad=True)
    ps = [w1, b1, w2, b2]
    x = cr.tensor(rng.standard_normal((16, 20)).astype(np.float32))
    y = cr.tensor(rng.integers(0, 10, 16))

    def step(x: Any, y: Any) -> Any:
        for p in ps:
            p.grad = None
        loss = cr.cross_entropy(cr.linear(cr.relu(cr.linear(x, w1, b1)), w2, b2), y)
        loss.backward()
        with cr.no_grad():
            for p in ps:
                p -= 0.1 * p.grad
        return loss
    return ps, None, step, (x, y)


def test_engine_level_step_with_manual_updates() -> None:
    _assert_same(_w1_maker)


def test_scheduler_changes_the_learning_rate_at_replay() -> None:
    def between(i: int, model: Any, opt: Any) -> None:
        for g in opt.param_groups:
            g["lr"] = 0.1 / (i + 1)
    _assert_same(_mlp_maker(optim.SGD, lr=0.1, momentum=0.9), between=between)

    def make() -> tuple:
        model, opt, step, args = _mlp_maker(optim.Adam, lr=0.01)()
        sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

        def step2(*a: Any) -> Any:
            loss = step(*a)
            return loss
        step2.sched = sched  # type: ignore[attr-defined]
        return model, opt, step2, args
    _assert_same(make, between=lambda i, m, o: o.param_groups[0].update(lr=0.01 * 0.5 ** i))


def test_train_eval_switch_records_again() -> None:
    def between(i: int, model: Any, opt: Any) -> None:
        model.train(i % 4 < 2)
    fn = _assert_same(_mlp_maker(optim.SGD, lr=0.1), between=between, replays=False)
    assert fn.recordings == 2


@pytest.mark.parametrize("name, shape", [("Dropout1d", (3, 5, 4)), ("Dropout2d", (3, 5, 2, 4)),
                                         ("Dropout3d", (3, 5, 2, 2, 4)),
                                         ("FeatureAlphaDropout", (3, 5, 4))])
def test_channel_dropouts_replay_with_a_fresh_mask_each_step(name: str, shape: tuple) -> None:
    """The channel masks are drawn again at each replay (compiled = eager, bit for bit), not
    frozen and not a fallback."""
    def make() -> tuple:
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 4), getattr(nn, name)(0.5))
        opt = optim.SGD(model.parameters(), lr=0.1)
        x = cr.randn(*shape)

        def step(x: Any) -> Any:
            opt.zero_grad()
            loss = (model(x) ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        return model, opt, step, (x,)
    _assert_same(make)


def test_data_dependent_step_falls_back() -> None:
    _model, _opt, step, (x, y) = _mlp_maker(optim.SGD, lr=0.1)()

    def branchy(x: Any, y: Any) -> Any:
        loss = step(x, y)
        if loss.item() > 100.0:
            raise AssertionError
        return loss
    fn = cr.compile(branchy)
    fn(x, y)
    with pytest.warns(cr.CompileWarning, match=r"item\(\)"):
        fn(x, y)
    assert fn.replays == 0
    strict = cr.compile(branchy, strict=True)
    strict(x, y)
    with pytest.raises(cr.CompileError, match=r"item\(\)"):
        strict(x, y)


def test_random_draw_outside_dropout_falls_back() -> None:
    _model, _opt, step, (x, y) = _mlp_maker(optim.SGD, lr=0.1)()

    def noisy(x: Any, y: Any) -> Any:
        return step(x + 0.01 * cr.randn(*x.shape), y)
    fn = cr.compile(noisy)
    fn(x, y)
    with pytest.warns(cr.CompileWarning, match="random draw"):
        fn(x, y)


def test_shapes_record_again_and_the_cache_limit_warns() -> None:
    _model, _opt, step, _ = _mlp_maker(optim.SGD, lr=0.1)()
    fn = cr.compile(step, cache_limit=2, warmup=0)
    for n in (3, 4, 3, 4):
        fn(cr.randn(n, 6), cr.zeros(n, dtype=cr.int64))
    assert fn.recordings == 2 and fn.replays == 2
    with pytest.warns(cr.CompileWarning, match="cache_limit"):
        fn(cr.randn(5, 6), cr.zeros(5, dtype=cr.int64))


def test_returned_tensors_are_this_calls_values() -> None:
    model, _opt, step, (x, y) = _mlp_maker(optim.SGD, lr=0.1)()
    fn = cr.compile(lambda x, y: (step(x, y), model(x)))
    outs = [fn(x, y) for _ in range(4)]
    assert len({o[0].item() for o in outs}) == 4
    assert outs[-1][1].shape == (5, 3)


def test_decorator_form() -> None:
    @cr.compile(strict=True)
    def f(x: Any) -> Any:
        return (x * 2).sum()
    assert [f(cr.ones(3)).item() for _ in range(3)] == [6.0, 6.0, 6.0]


def test_fit_compile_matches_eager() -> None:
    from chainrule.train import fit

    def run(compile: bool) -> list[bytes]:
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 3))
        opt = optim.Adam(model.parameters(), lr=1e-2)
        x = cr.randn(40, 4)
        y = cr.tensor(np.arange(40) % 3)
        data = cr.utils.data.TensorDataset(x, y)
        fit(model, nn.CrossEntropyLoss(), opt, data, epochs=3, batch_size=16, seed=1,
            progress=False, compile=compile)
        return _bits(model.parameters())
    assert run(True) == run(False)


def test_observed_steps_run_eagerly() -> None:
    _model, _opt, step, (x, y) = _mlp_maker(optim.SGD, lr=0.1)()
    fn = cr.compile(step)
    seen = []
    with cr.autograd.observe(lambda ev: seen.append(ev.node.name)):
        for _ in range(3):
            fn(x, y)
    assert fn.recordings == 0 and seen
