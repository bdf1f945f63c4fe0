import subprocess
import sys

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.viz import PassCounter, cost_table, measure_cost
from chainrule.viz.cost import backprop_gradient, fd_gradient, n_params


def _tiny():
    cr.manual_seed(0)
    model = nn.MLP([3, 4, 2], activation="sigmoid").double()
    x = cr.randn(5, 3, dtype=cr.float64)
    y = cr.tensor([0, 1, 1, 0, 1])
    return model, nn.CrossEntropyLoss(), x, y


def test_pass_counts_are_exact():
    model, loss_fn, x, y = _tiny()
    n = n_params(model)
    assert n == 3 * 4 + 4 + 4 * 2 + 2
    with PassCounter(model) as c:
        g = backprop_gradient(model, loss_fn, x, y)
    assert (c.forward, c.backward) == (1, 1)
    with PassCounter(model) as c:
        fwd = fd_gradient(model, loss_fn, x, y, eps=1e-6, central=False)
    assert (c.forward, c.backward) == (n + 1, 0)
    with PassCounter(model) as c:
        cen = fd_gradient(model, loss_fn, x, y, eps=1e-6, central=True)
    assert (c.forward, c.backward) == (2 * n, 0)
    with PassCounter(model) as c:
        part = fd_gradient(model, loss_fn, x, y, eps=1e-6, central=True, coords=[0, 7, n - 1])
    assert c.forward == 6
    np.testing.assert_allclose(cen, g, atol=1e-8)
    np.testing.assert_allclose(fwd, g, atol=1e-5)
    np.testing.assert_allclose(part, g[[0, 7, n - 1]], atol=1e-8)
    assert not model._forward_hooks  # the counter removed its hook


def test_parameters_restored_exactly():
    model, loss_fn, x, y = _tiny()
    before = [p.detach().numpy().copy() for p in model.parameters()]
    fd_gradient(model, loss_fn, x, y, central=True)
    for b, p in zip(before, model.parameters()):
        np.testing.assert_array_equal(b, p.detach().numpy())


def test_measure_full_and_extrapolated():
    full = measure_cost([3, 4, 2], budget=5.0)
    assert full.n == 26 and not full.extrapolated
    assert (full.bp_forward, full.bp_backward) == (1, 1)
    assert (full.fwd_passes_run, full.central_passes_run) == (27, 52)
    assert full.t_backprop > 0 and full.ratio > 0
    sampled = measure_cost([20, 30, 5], budget=1e-4)
    assert sampled.extrapolated and sampled.fd_coords == 10
    assert (sampled.fwd_passes, sampled.central_passes) == (sampled.n + 1, 2 * sampled.n)
    assert sampled.fwd_passes_run == 10 + 5 and sampled.central_passes_run == 20
    text = cost_table([full, sampled])
    assert "measured" in text and f"extrapolated (10 of {sampled.n:,} coords)" in text
    assert cost_table([full], markdown=True).startswith("| network")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "chainrule.cli.main", "cost", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_cost(tmp_path):
    png = tmp_path / "cost.png"
    r = _cli("--sizes", "3,4,2", "5-6-2", "--budget", "0.5", "--out", str(png),
             "--format", "markdown")
    assert r.returncode == 0, r.stderr
    assert "| 3-4-2 | 26 | 2 (1 fwd + 1 bwd) | 27 | 52 |" in r.stdout
    assert "3-4-2: N = 26 parameters; forward differences need 27 forward passes" in r.stdout
    assert png.exists() and png.read_bytes()[:4] == b"\x89PNG"
    bad = _cli("--sizes", "784,abc")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("chainrule: error: --sizes '784,abc'")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_one_slow_sample_makes_no_spike(monkeypatch):
    """Issue 13 item 18: full finite differences are timed as the best of repeats, so one run
    slowed by another process does not show up in the ladder."""
    import time as _time

    from chainrule.viz import cost

    real = cost.fd_gradient
    calls = {"n": 0}

    def slow_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            _time.sleep(0.5)  # one disturbed sample
        return real(*args, **kwargs)

    monkeypatch.setattr(cost, "fd_gradient", slow_once)
    row = cost.measure_cost([3, 4, 2], budget=5.0)
    assert calls["n"] >= 6  # at least three repeats of forward and central
    assert row.t_fwd_fd < 0.25, row.t_fwd_fd
