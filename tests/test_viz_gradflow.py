"""Gradient flow: per-layer records, the callback in fit, verdicts, plots."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.train import fit
from chainrule.viz import GradientFlow, record_gradient_flow


def deep(act, he: bool, depth: int = 10, width: int = 32, d_in: int = 16):
    layers, d = [], d_in
    for _ in range(depth):
        lin = nn.Linear(d, width)
        if he:
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            nn.init.zeros_(lin.bias)
        layers += [lin, act()]
        d = width
    layers.append(nn.Linear(d, 3))
    return nn.Sequential(*layers)


def data(n: int = 128, d_in: int = 16):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, d_in)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    return cr.tensor(x), cr.tensor(y)


def test_records_layers_and_shapes():
    cr.manual_seed(0)
    model = deep(nn.ReLU, True, depth=3)
    flow = record_gradient_flow(model, nn.CrossEntropyLoss(), data(), steps=4, batch_size=32)
    assert flow.layers == [str(i) for i in range(7)]
    assert flow.kinds["0"] == "Linear" and flow.kinds["1"] == "ReLU"
    assert flow.param_layers() == ["0", "2", "4", "6"]
    assert flow.steps == [0, 1, 2, 3]
    for kind in ("act", "act_grad"):
        for n in flow.layers:
            s = flow.series(n, kind, "norm")
            assert s.shape == (4,) and np.all(np.isfinite(s)) and np.all(s > 0)
    assert np.isnan(flow.series("1", "grad", "norm")).all()  # activations own no parameters
    g = np.concatenate([p.grad.numpy().ravel() for p in model[0].parameters()])
    assert flow.series("0", "grad", "norm")[-1] == pytest.approx(np.linalg.norm(g), rel=1e-5)
    z = flow.series("1", "act", "zeros")
    assert np.all((z > 0.2) & (z < 0.8))
    assert not model[0]._forward_hooks  # detached
    assert "layer" in flow.table() and "ReLU" in flow.table()
    with pytest.raises(ValueError, match="kind"):
        flow.series("0", "weights")


def test_verdicts():
    x, y = data()
    cr.manual_seed(0)
    sig = record_gradient_flow(deep(nn.Sigmoid, False), nn.CrossEntropyLoss(), (x, y), steps=3)
    v = sig.verdict()
    assert v.startswith("vanishing") and "'0'" in v
    cr.manual_seed(0)
    relu = record_gradient_flow(deep(nn.ReLU, True), nn.CrossEntropyLoss(), (x, y), steps=3)
    v = relu.verdict()
    assert "vanishing" not in v and "exploding" not in v and v.startswith("healthy")
    # dead ReLUs: a hugely negative bias switches a layer off
    cr.manual_seed(0)
    model = deep(nn.ReLU, True, depth=3)
    with cr.no_grad():
        model[2].bias.fill_(-100.0)
    dead = record_gradient_flow(model, nn.CrossEntropyLoss(), (x, y), steps=2, lr=0)
    assert "dead ReLUs: layer '3'" in dead.verdict()


def test_callback_in_fit(tmp_path):
    x, y = data()
    cr.manual_seed(0)
    model = deep(nn.Tanh, False, depth=2)
    flow = GradientFlow(every=2)
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y),
        epochs=2, batch_size=32, callbacks=[flow], progress=False)
    assert flow.steps == [0, 2, 4, 6]  # 4 batches per epoch, one in two recorded
    assert flow.param_layers() == ["0", "2", "4"]
    assert flow.series("4", "grad", "std").shape == (4,)
    paths = flow.plot(tmp_path, prefix="tanh", title="tanh net")
    assert [p.name for p in paths] == ["tanh_norms.png", "tanh_layers.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)
