"""``cr.compile(step, fuse=True)``: runs of elementwise statements become numba kernels.

Tolerance: a fused result is compared with eager's to within ``ULPS`` (8) units in the last place
(of float32, or float64) *at the scale of the tensor*, ``|fused - eager| <= ULPS *
spacing(max |eager|)``. Why: +, -, *, /, sqrt and comparisons are IEEE in both, so they give
eager's bits; tanh, exp and log are not the same functions (in a kernel: float32 tanh correctly
rounded, the rest libm's; in eager: NumPy's SIMD ones, which round 32% of float32 tanh one ulp
off), each within about an ulp of the exact value, so they differ in the last bit.
Such a difference passes on as an absolute error of a few ulps of the operands' magnitude:
where a sum or a difference nearly cancels (a small gradient element, a parameter near zero
that Adam moved by ``lr`` times a normalised gradient), it is many ulps *of that element*,
though still a few of the tensor's scale, after several steps of training (measured here: at
most 3). The unfused default stays bit for bit (``tests/test_compile.py``, and below)."""

from __future__ import annotations

import re
import sys
import warnings
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule import optim
from tests.test_compile import _mlp_maker, _sweep_maker, _w1_maker
from tests.test_module_sweep import NAMES

ULPS = 8  # see the module docstring
STEPS = 6  # warm-up, recording, probe replay, three fused replays


def _numba() -> Any:
    return pytest.importorskip("numba")


def _close(got: Any, want: Any, ulps: int = ULPS, what: str = "", of: Any = None) -> None:
    """Within ``ulps`` of ``want``'s dtype (or of ``of``) at the scale of ``want``."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, what
    if not want.size:
        return
    tol = ulps * np.spacing(np.max(np.abs(want)).astype(of or want.dtype))
    err = np.abs(got.astype(np.float64) - want)
    assert (err <= tol).all(), (f"{what}: {int((err > tol).sum())} of {err.size} values differ "
                                f"by more than {ulps} ulps of {np.max(np.abs(want))}")


def _run(make: Any, mode: str, steps: int = STEPS) -> tuple[list, list, Any]:
    """``make()`` -> (model or params, opt, step, args); ``mode`` eager/compiled/fused."""
    model, _opt, step, args = make()
    fn = step if mode == "eager" else cr.compile(step, strict=True, fuse=mode == "fused")
    cr.manual_seed(123)
    losses = [fn(*args).detach().numpy().copy() for _ in range(steps)]
    params = list(model.parameters()) if isinstance(model, nn.Module) else list(model)
    bufs = list(model.buffers()) if isinstance(model, nn.Module) else []
    return [t.detach().numpy().copy() for t in params + bufs], losses, fn


def _assert_close(make: Any, fused_some: bool = True, ulps: int = ULPS) -> Any:
    _numba()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p1, l1, _ = _run(make, "eager")
        p2, l2, fn = _run(make, "fused")
    for i, (a, b) in enumerate(zip(l2, l1)):
        _close(a, b, ulps, f"loss {i}")
    for i, (a, b) in enumerate(zip(p2, p1)):
        _close(a, b, ulps, f"parameter {i}")
    assert fn.replays == STEPS - 2, fn
    if fused_some:
        assert "_fused1(" in fn.code and "def kernel(" in fn.kernel_code
    return fn


# -- the benchmark's steps ------------------------------------------------------------------------
@pytest.mark.parametrize("wl", ["W1", "W3", "W5"])
def test_benchmark_steps_close_to_eager(wl: str) -> None:
    from bench import workloads_chainrule
    _numba()
    got = {}
    for mode in ("eager", "fused"):
        r = workloads_chainrule.build(wl)
        r.reset()
        fn = r.step if mode == "eager" else cr.compile(r.step, strict=True, fuse=True)
        losses = [fn().detach().numpy().copy() for _ in range(STEPS)]
        got[mode] = losses, r.fingerprint(fn()), fn
    (l1, f1, _), (l2, f2, fn) = got["eager"], got["fused"]
    for a, b in zip(l2, l1):
        _close(a, b, ULPS, wl)
    # the loss, then float64 sums of the parameters (of the input's gradient for W5, whose
    # elements cancel to ~5e-13: its per-element check is the test below)
    np.testing.assert_allclose(f2, f1, rtol=1e-5 if wl == "W5" else 1e-6)
    assert fn.replays == STEPS - 1 and "_fused1(" in fn.code


def test_w5_chain_is_two_kernels_and_its_grad_is_close() -> None:
    _numba()
    rng = np.random.default_rng(0)
    c = cr.tensor(rng.uniform(0.5, 1.0, 16).astype(np.float32))
    x0 = rng.standard_normal(16).astype(np.float32)

    def make() -> tuple:
        x = cr.tensor(x0, requires_grad=True)

        def step() -> Any:
            x.grad = None
            y = x
            for _ in range(33):
                y = ((y + c) * c).tanh()
            out = y.sum()
            out.backward()
            return x.grad * 1.0
        return [x], None, step, ()
    _, l1, _ = _run(make, "eager")
    _, l2, fn = _run(make, "fused")
    # dx is a product of 33 factors (1 - t**2) * c: where tanh saturates (t near +-1), one ulp
    # of t is a relative change of about ulp / (1 - |t|) in (1 - t**2). Measured: 3.2e-5
    for a, b in zip(l2, l1):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=0)
    assert len(re.findall(r"_fused\d+\(", fn.code)) == 2  # forward, backward: one loop each
    assert "_ws_float32" in fn.code  # tanh outputs handed from one kernel to the other


# -- models and optimisers ------------------------------------------------------------------------
@pytest.mark.parametrize("opt", ["SGD", "Adam"])
def test_mlp_close_to_eager(opt: str) -> None:
    kw = {"lr": 0.1, "momentum": 0.9} if opt == "SGD" else {"lr": 1e-2}
    _assert_close(_mlp_maker(getattr(optim, opt), **kw))


def test_engine_level_step_close_to_eager() -> None:
    fn = _assert_close(_w1_maker)
    # bias + relu, the loss's log - picked, its gradient, relu's vjp, 4 SGD updates
    assert len(re.findall(r"_fused\d+\(", fn.code)) == 8


def _sigmoid_mse_maker(opt_cls: Any, dtype: Any = np.float32, **kw: Any) -> Any:
    def make() -> tuple:
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(12, 16), nn.Sigmoid(), nn.Linear(16, 4), nn.Tanh())
        model.to(dtype)
        opt = opt_cls(model.parameters(), **kw)
        x = cr.randn(8, 12, dtype=dtype)
        y = cr.randn(8, 4, dtype=dtype)

        def step(x: Any, y: Any) -> Any:
            opt.zero_grad()
            h = model(x)
            loss = F.mse_loss(h * 0.5 + (h * h).exp() * 0.1, y)
            loss.backward()
            opt.step()
            return loss
        return model, opt, step, (x, y)
    return make


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt", ["SGD", "Adam"])
def test_sigmoid_tanh_exp_mlp_close_to_eager(opt: str, dtype: Any) -> None:
    kw = {"lr": 0.1} if opt == "SGD" else {"lr": 1e-2}
    fn = _assert_close(_sigmoid_mse_maker(getattr(optim, opt), dtype, **kw))
    assert f"np.{np.dtype(dtype).name}(" in fn.kernel_code  # constants cast to the array dtype


def _cnn_maker(opt_cls: Any, **kw: Any) -> Any:
    def make() -> tuple:
        cr.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                              nn.Conv2d(4, 6, 3), nn.Tanh(), nn.Flatten(), nn.Linear(24, 5))
        opt = opt_cls(model.parameters(), **kw)
        x = cr.randn(6, 1, 8, 8)
        y = cr.tensor(np.arange(6) % 5)

        def step(x: Any, y: Any) -> Any:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss
        return model, opt, step, (x, y)
    return make


@pytest.mark.parametrize("opt", ["SGD", "Adam"])
def test_cnn_close_to_eager(opt: str) -> None:
    kw = {"lr": 0.1, "momentum": 0.9} if opt == "SGD" else {"lr": 1e-2}
    _assert_close(_cnn_maker(getattr(optim, opt), **kw), fused_some=False)


def _lstm_maker(opt_cls: Any, **kw: Any) -> Any:
    def make() -> tuple:
        cr.manual_seed(0)
        lstm, head = nn.LSTM(5, 8), nn.Linear(8, 1)
        model = nn.ModuleList([lstm, head])
        opt = opt_cls(model.parameters(), **kw)
        x = cr.randn(7, 3, 5)
        y = cr.randn(3, 1)

        def step(x: Any, y: Any) -> Any:
            opt.zero_grad()
            out, _ = lstm(x)
            loss = F.mse_loss(head(out[-1]).sigmoid(), y)
            loss.backward()
            opt.step()
            return loss
        return model, opt, step, (x, y)
    return make


@pytest.mark.parametrize("opt", ["SGD", "Adam"])
def test_lstm_close_to_eager(opt: str) -> None:
    kw = {"lr": 0.1} if opt == "SGD" else {"lr": 1e-2}
    _assert_close(_lstm_maker(getattr(optim, opt), **kw), fused_some=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_module_sweep_close_to_eager(name: str) -> None:
    """Every layer of the module sweep, as in ``test_compile.py``, fused."""
    _numba()
    make = _sweep_maker(name)
    p1, l1, _ = _run(make, "eager")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always", cr.CompileWarning)
        p2, l2 = _run_lenient(make)
    for a, b in zip(l2 + p2, l1 + p1):
        if a.dtype.kind == "f":
            _close(a, b, ULPS, name)
        else:
            assert (a == b).all(), name


def _run_lenient(make: Any) -> tuple[list, list]:
    model, _opt, step, args = make()
    fn = cr.compile(step, fuse=True)
    cr.manual_seed(123)
    losses = [fn(*args).detach().numpy().copy() for _ in range(STEPS)]
    ts = list(model.parameters()) + list(model.buffers())
    return [t.detach().numpy().copy() for t in ts], losses


# -- semantics the fused replay keeps ------------------------------------------------------------
def test_values_handed_out_escape_as_fresh_arrays() -> None:
    """Elementwise results the step returns, stores in ``.grad`` or reads in a matmul come out
    of the kernel as fresh arrays (one per replay), NumPy scalars as NumPy scalars."""
    _numba()
    w = cr.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), requires_grad=True)

    def step(x: Any) -> Any:
        w.grad = None
        h = (x @ w).tanh() * 2.0 + 1.0
        s = (h * h).sum()
        s0 = (s * 3.0 - 1.0).exp()  # 0-d elementwise after a reduction
        s.backward()
        return h, s0, (h - 1.0) * 0.5
    fn = cr.compile(step, strict=True, fuse=True)
    x = cr.tensor(np.ones((2, 3), np.float32))
    outs = [fn(x) for _ in range(STEPS)]
    want = step(x)
    h, s0, d = outs[-1]
    _close(h.numpy(), want[0].detach().numpy())
    _close(d.numpy(), want[2].detach().numpy())
    assert s0.dtype == want[1].dtype and s0.shape == ()
    assert outs[-1][0]._data is not outs[-2][0]._data  # a fresh array per replay
    assert not np.shares_memory(outs[-1][0]._data, outs[-1][2]._data)
    assert w.grad is not None and w.grad._data.dtype == np.float32


def test_python_scalars_are_weak_and_dtypes_are_numpys() -> None:
    """float32 stays float32 with Python float constants (NEP 50); a float64 operand promotes."""
    _numba()
    a = cr.tensor(np.linspace(0.1, 1.0, 6, dtype=np.float32), requires_grad=True)
    b = cr.tensor(np.linspace(1.0, 2.0, 6, dtype=np.float64))

    def step() -> Any:
        a.grad = None
        y32 = (a * 1e-3 + 0.1).exp() / 3.0
        y64 = y32 * b - 1.0
        loss = (y64 * y64).sum() + y32.sum()
        loss.backward()
        return y32 * 1.0, y64 * 1.0, a.grad * 1.0
    fn = cr.compile(step, strict=True, fuse=True)
    for _ in range(STEPS):
        got = fn()
    want = step()
    for g, w, ulps in zip(got, want, (ULPS, ULPS, 16)):  # float64 results inherit exp's float32
        # difference; a.grad sums terms 4x its size (measured: 6 ulps)
        _close(g.numpy(), w.detach().numpy(), ulps, of=np.float32)
    assert got[0].dtype == np.float32 and got[1].dtype == np.float64
    assert "np.float64(" in fn.kernel_code and "np.float32(" in fn.kernel_code


def test_in_place_parameter_updates_and_aliases() -> None:
    """``p -= lr * p.grad`` writes the parameter's own array inside the kernel; an array that
    overlaps another operand of its run (a view) keeps that run unfused."""
    _numba()
    def make() -> tuple:
        p = cr.tensor(np.linspace(-1, 1, 8, dtype=np.float32), requires_grad=True)

        def step() -> Any:
            p.grad = None
            loss = (p.tanh() * p).sum()
            loss.backward()
            with cr.no_grad():
                for q in (p,):
                    q -= 0.1 * q.grad
                    q *= 0.5
            return loss
        return [p], None, step, ()
    ps, _, step, _ = make()
    arr = ps[0]._data
    fn = cr.compile(step, strict=True, fuse=True)
    for _ in range(STEPS):
        fn()
    assert ps[0]._data is arr and "_fused" in fn.code
    _assert_close(make)

    buf = np.arange(10, dtype=np.float64)
    q = cr.from_numpy(buf[2:])
    r = cr.from_numpy(buf[:8])

    def overlap() -> Any:
        with cr.no_grad():
            q.mul_(2.0)
            q.add_(r * 0.5 + 1.0)  # r overlaps q: NumPy's order matters here
        return q.sum()
    want_buf = buf.copy()
    eager_q, eager_r = want_buf[2:], want_buf[:8]
    fused = cr.compile(overlap, strict=True, fuse=True)
    for _ in range(STEPS):
        fused()
        eager_q *= 2.0
        eager_q += eager_r * 0.5 + 1.0
    assert buf.tobytes() == want_buf.tobytes()
    assert fused.replays == STEPS - 2 and "_fused" not in fused.code


def test_fallbacks_and_guards_unchanged_with_fuse() -> None:
    _numba()
    model, _opt, step, (x, y) = _mlp_maker(optim.SGD, lr=0.1)()

    def branchy(x: Any, y: Any) -> Any:
        loss = step(x, y)
        loss.item()
        return loss
    fn = cr.compile(branchy, fuse=True)
    fn(x, y)
    with pytest.warns(cr.CompileWarning, match=r"item\(\)"):
        fn(x, y)
    assert fn.replays == 0
    strict = cr.compile(branchy, strict=True, fuse=True)
    strict(x, y)
    with pytest.raises(cr.CompileError, match=r"item\(\)"):
        strict(x, y)
    fn = cr.compile(step, strict=True, fuse=True)
    for i in range(8):
        model.train(i < 4)
        fn(x, y)
    assert fn.recordings == 2 and fn.replays == 5  # 2 in train mode, 3 in eval
    assert "fuse=True" in repr(fn)


def test_default_is_unfused_and_bit_for_bit() -> None:
    fn = cr.compile(lambda: None)
    assert fn.fuse is False and fn.kernel_code == ""
    _ps, _, step, args = _w1_maker()
    c = cr.compile(step, strict=True)
    for _ in range(4):
        c(*args)
    assert "_fused" not in c.code and c.kernel_code == ""


def test_print_code_shows_the_kernels(capsys: Any) -> None:
    _numba()
    _ps, _, step, args = _w1_maker()
    fn = cr.compile(step, strict=True, fuse=True)
    for _ in range(4):
        fn(*args)
    fn.print_code()
    out = capsys.readouterr().out
    assert "_fused1(" in out and "# _fused1\ndef kernel(" in out and "for i0 in range(" in out


def test_without_numba_fuse_raises_naming_the_extra(monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "numba", None)  # ``import numba`` raises ImportError
    with pytest.raises(ImportError, match=r"chainrule\[jit\]"):
        cr.compile(lambda: None, fuse=True)
    with pytest.raises(ImportError, match=r"chainrule\[jit\]"):
        cr.compile(fuse=True)(lambda: None)
    assert cr.compile(lambda: None).fuse is False  # the default needs no numba


def test_a_run_numba_cannot_compile_replays_unfused_with_a_warning(monkeypatch: Any) -> None:
    _numba()
    from chainrule.compile import fuse
    real = fuse._Planner._compile
    failed: list = []

    def flaky(self: Any, r: tuple, k: Any) -> Any:
        if not failed:
            failed.append(r)
            raise fuse._RunFailed(r, "TypingError: (simulated)")
        return real(self, r, k)
    monkeypatch.setattr(fuse._Planner, "_compile", flaky)
    _ps, _, step, args = _w1_maker()
    fn = cr.compile(step, fuse=True)
    with pytest.warns(cr.CompileWarning, match=r"not fused: TypingError: \(simulated\)"):
        for _ in range(4):
            fn(*args)
    assert failed and len(re.findall(r"_fused\d+\(", fn.code)) == 7  # the 7 others
    with pytest.raises(cr.CompileError, match="simulated"):
        failed.clear()
        strict = cr.compile(_w1_maker()[2], strict=True, fuse=True)
        for _ in range(4):
            strict(*args)


def test_an_unexpected_failure_keeps_the_unfused_replay(monkeypatch: Any) -> None:
    _numba()
    from chainrule.compile import fuse

    def broken(*a: Any, **k: Any) -> Any:
        raise RuntimeError("planner bug")
    monkeypatch.setattr(fuse, "plan", broken)
    results = {}
    for fused in (False, True):
        ps, _, step, args = _w1_maker()
        fn = cr.compile(step, fuse=fused)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            results[fused] = [fn(*args).detach().numpy().tobytes() for _ in range(5)]
        assert [str(x.message) for x in w if "planner bug" in str(x.message)] == (
            [f"cr.compile({step.__qualname__}, fuse=True): replaying unfused (RuntimeError: "
             "planner bug)"] if fused else [])
        results[fused].append([p._data.tobytes() for p in ps])
        assert "_fused" not in fn.code and fn.replays == 3
    assert results[True] == results[False]  # the unfused replay: bit for bit


def test_kernel_tanh_is_correctly_rounded() -> None:
    """The kernels' float32 tanh: the float64 tanh rounded to float32 on a dense grid and the
    special values (NumPy's own SIMD float32 tanh is 1 ulp off on about a third of these)."""
    numba = _numba()
    from chainrule.compile.fuse import _tanh32
    xs = np.concatenate([np.linspace(-12, 12, 200_001, dtype=np.float32),
                         np.geomspace(1e-30, 1e-3, 1000).astype(np.float32),
                         np.float32([0.0, -0.0, 1e-45, -1e-45, 9.0, 9.1, 9.2, 3e38, -3e38,
                                     np.inf, -np.inf, np.nan])])
    want = np.tanh(xs.astype(np.float64)).astype(np.float32)
    for f in _tanh32(numba):
        @numba.njit
        def apply(x: Any, out: Any, f: Any = f) -> None:
            for i in range(x.size):
                out[i] = f(x[i])
        got = np.empty_like(xs)
        apply(xs, got)
        assert got.tobytes() == want.tobytes()  # bits: signed zeros and NaN included
