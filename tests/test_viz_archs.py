"""explain, draw and gradient flow on CNN, RNN (LSTM, GRU) and attention graphs; the worked
numbers of a convolution's backward; a mixture of experts' gradient reaching only the chosen
experts."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.viz import draw, record_gradient_flow, trace
from chainrule.viz.explain import arr

WIDTH = 120


def cnn() -> tuple[nn.Module, Callable]:
    m = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(2 * 4 * 4, 3))
    return m, lambda out, y: F.cross_entropy(out, y)


def lstm() -> tuple[nn.Module, Callable]:
    return nn.LSTM(3, 4, batch_first=True), lambda out, y: F.mse_loss(out[0][:, -1], y)


def gru() -> tuple[nn.Module, Callable]:
    return nn.GRU(3, 4, batch_first=True), lambda out, y: F.mse_loss(out[0][:, -1], y)


class SelfAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return self.attn(x, x, x)[0]


def mha() -> tuple[nn.Module, Callable]:
    return SelfAttention(), lambda out, y: F.mse_loss(out.mean(1), y)


def encoder() -> tuple[nn.Module, Callable]:
    return (nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True),
            lambda out, y: F.mse_loss(out.mean(1), y))


ARCHS = {"cnn": (cnn, (2, 1, 8, 8), (2,)), "lstm": (lstm, (2, 5, 3), (2, 4)),
         "gru": (gru, (2, 5, 3), (2, 4)), "mha": (mha, (2, 4, 8), (2, 8)),
         "transformer": (encoder, (2, 4, 8), (2, 8))}


def case(name: str) -> tuple[nn.Module, Callable, cr.Tensor, cr.Tensor]:
    make, xs, ys = ARCHS[name]
    cr.manual_seed(0)
    m, loss_fn = make()
    x = cr.randn(*xs)
    y = cr.tensor([0, 2]) if name == "cnn" else cr.randn(*ys)
    return m, loss_fn, x, y


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_explain_summarises_nd_tensors(name: str) -> None:
    m, loss_fn, x, y = case(name)
    loss = loss_fn(m(x), y)
    text = cr.explain(loss, params=m, width=WIDTH)
    lines = text.splitlines()
    assert max(map(len, lines)) <= WIDTH
    # n-d tensors are summarised by their shape, first values, mean and range, not dumped:
    # no printed array holds more than 8 numbers (read cell by cell from the markdown, one row
    # a line: the text wraps cells, so its lines interleave neighbouring columns)
    flat = " ".join(ln.strip() for ln in lines)
    assert re.search(r"<\d+(x\d+)+ float32> \[[^]]*, \.\.\.\] mean \S+ range \[", flat)
    md = cr.explain(loss, params=m, format="markdown")
    for cell in (c for ln in md.splitlines() for c in ln.split(" | ")):
        for inner in re.findall(r"\[([^][]*)\]", cell):
            assert len(re.findall(r"-?\d[\d.e+-]*", inner)) <= 8, inner
    assert len(text) < 200_000
    # every parameter's gradient is listed, equal to autograd's
    t = trace(loss, params=m)
    got = t.grads()
    want = dict(zip([n for n, _ in m.named_parameters()],
                    cr.autograd.grad(loss, list(m.parameters()), retain_graph=True)))
    assert set(got) == set(want)
    for n, g in want.items():
        np.testing.assert_allclose(got[n], g.numpy(), rtol=1e-5, atol=1e-7)
        assert n in text
    for fmt in ("markdown", "html"):
        assert "Backward pass" in cr.explain(loss, params=m, format=fmt)


def test_arr_summary() -> None:
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    assert arr(a) == "<2x3x4 float32> [0, 1, 2, ...] mean 11.5, range [0, 23]"
    assert arr(np.zeros((0, 3))) == "[]"
    assert arr(np.asarray(None)) == "None"
    assert arr([1.5, 2]) == "[1.5, 2]"


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_draw_on_architectures(name: str) -> None:
    m, loss_fn, x, y = case(name)
    loss = loss_fn(m(x), y)
    for show in ("values", "grads", "shapes"):
        d = draw(loss, params=m, show=show)
        root = ET.fromstring(d.svg)  # well-formed SVG
        assert root.tag.endswith("svg")
        texts = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
        for pname, _ in m.named_parameters():
            assert pname in texts
        assert "nan" not in texts.lower()
    assert d.nodes >= 5


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_gradient_flow_on_architectures(name: str) -> None:
    m, loss_fn, x, y = case(name)
    flow = record_gradient_flow(m, loss_fn, (x, y), steps=3, batch_size=2, lr=0.0)
    layers = flow.param_layers()
    owners = {n.rpartition(".")[0] or type(m).__name__.lower() for n, _ in m.named_parameters()}
    assert set(layers) == owners
    for layer in layers:
        g = flow.series(layer, "grad", "norm")
        assert len(g) == 3 and np.all(np.isfinite(g)) and np.all(g > 0)
    assert "vanishing" in flow.verdict() or "healthy" in flow.verdict()
    table = flow.table()
    assert all(layer in table for layer in layers)


# ---------------------------------------------------------------------------- worked conv

def tiny_conv() -> tuple[cr.Tensor, dict[str, cr.Tensor]]:
    x = cr.tensor(np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4) / 10, requires_grad=True)
    w = cr.tensor([[[[1.0, -1.0], [0.5, 2.0]]]], dtype="float64", requires_grad=True)
    b = cr.tensor([0.1], dtype="float64", requires_grad=True)
    loss = (F.conv2d(x, w, b) ** 2).sum() / 2  # g = dloss/dy = y
    return loss, {"x": x, "W": w, "b": b}


def rows(text: str, prefix: str) -> dict[tuple[int, ...], tuple[str, float, float]]:
    """The worked rows ``dW[a,b]  terms...  worked  engine`` of the explanation, by index: the
    terms (a row's wrapped lines joined), the worked value and the engine's."""
    out: dict[tuple[int, ...], tuple[str, float, float]] = {}
    lines = text.splitlines()
    for k, line in enumerate(lines):
        m = re.match(rf"{prefix}\[([\d,]+)\]\s+(.*)", line)
        if not m:
            continue
        *terms, worked, engine = m.group(2).split()  # the last two columns of the first line
        more = []
        for cont in lines[k + 1:]:
            if not cont.startswith(" "):
                break
            more.append(cont.strip())
        body = " ".join([" ".join(terms), *more])
        out[tuple(int(i) for i in m.group(1).split(","))] = (body, float(worked), float(engine))
    return out


def test_explain_conv_worked_numbers_equal_autograd() -> None:
    loss, params = tiny_conv()
    text = cr.explain(loss, params=params, width=200)
    assert "Kernel gradient: dW[a] = sum over output positions p of g[p] * x[p + a]" in text
    assert "the full correlation of g with the flipped kernel" in text
    gx, gw, gb = cr.autograd.grad(loss, [params["x"], params["W"], params["b"]],
                                  retain_graph=True)
    dw = rows(text, "dW")
    dx = rows(text, "dx")
    assert len(dw) == 4 and len(dx) == 16
    for ix, (_, worked, engine) in dw.items():
        assert worked == pytest.approx(gw.numpy()[(0, 0, *ix)], rel=1e-6)
        assert engine == pytest.approx(gw.numpy()[(0, 0, *ix)], rel=1e-6)
    for ix, (_, worked, engine) in dx.items():
        assert worked == pytest.approx(gx.numpy()[(0, 0, *ix)], rel=1e-6, abs=1e-12)
        assert engine == pytest.approx(gx.numpy()[(0, 0, *ix)], rel=1e-6, abs=1e-12)
    # dW[0,1]: 9 terms, one per output position: g[i,j] * x[i, j+1]
    body = dw[(0, 1)][0]
    assert body.startswith("g[0,0]*x[0,1] + g[0,1]*x[0,2] + g[0,2]*x[0,3] + g[1,0]*x[1,1]")
    assert body.count("*x[") == 9
    # dx[0,0] sees one kernel entry (the corner): g[0,0] * Wf[1,1] = g[0,0] * W[0,0]
    assert dx[(0, 0)][0].startswith("g[0,0]*Wf[1,1] = ")
    assert dx[(1, 1)][0].count("*Wf[") == 4
    assert "db[0]" in text and f"{float(gb.numpy()[0]):.6g}" in text
    # the printed products multiply out to the printed totals
    for body, worked, _ in [*dw.values(), *dx.values()]:
        nums = body.split(" = ")[1]
        pairs = re.findall(r"\(?(-?[\d.e+-]+)\)?\*\(?(-?[\d.e+-]+)\)?", nums)
        assert sum(float(a) * float(c) for a, c in pairs) == pytest.approx(worked, rel=1e-3,
                                                                           abs=1e-9)


def test_explain_conv_stride_and_large() -> None:
    x = cr.tensor(np.random.default_rng(0).standard_normal((1, 1, 5, 5)), requires_grad=True)
    w = cr.tensor(np.random.default_rng(1).standard_normal((2, 1, 3, 3)), requires_grad=True)
    loss = F.conv2d(x, w, stride=2, padding=1).square().sum()
    text = cr.explain(loss, params={"x": x, "W": w}, width=250)
    assert "p*s + a*d - pad = u" in text  # the strided form, not the flipped-kernel one
    gx, gw = cr.autograd.grad(loss, [x, w], retain_graph=True)
    for prefix, g in (("dW", gw), ("dx", gx)):
        worked = rows(text, prefix)
        assert len(worked) == g.numel()
        for ix, (_, value, engine) in worked.items():
            assert value == pytest.approx(g.numpy()[ix], rel=1e-5, abs=1e-12)
            assert engine == pytest.approx(g.numpy()[ix], rel=1e-5, abs=1e-12)
    big = F.conv2d(cr.randn(2, 3, 16, 16), cr.randn(4, 3, 3, 3, requires_grad=True)).sum()
    assert "conv: too large to write out" in cr.explain(big)


# ---------------------------------------------------------------------------- mixture of experts

@pytest.mark.parametrize(("k", "tokens", "seed"), [(1, 3, 1), (2, 2, 3)])
def test_explain_moe_gradient_reaches_only_chosen_experts(k: int, tokens: int, seed: int) -> None:
    cr.manual_seed(seed)  # a seed whose routing leaves one expert without tokens
    moe = nn.MixtureOfExperts(4, 3, k=k, hidden=2, out_features=2)
    x = cr.randn(tokens, 3)
    loss = moe(x).sum()
    chosen = set(moe.last_routing.experts.numpy().ravel().tolist())
    unchosen = set(range(4)) - chosen
    assert unchosen
    text = cr.explain(loss, params=moe, width=150)
    assert "routing and gradients" in text
    section = text.split("routing and gradients")[1]
    for e in range(4):
        line = next(ln for ln in section.splitlines() if ln.startswith(f"expert {e} "))
        assert ("none (not in the graph)" in line) == (e in unchosen)
    router = next(ln for ln in section.splitlines() if ln.startswith("router "))
    assert float(router.split()[-1]) > 0
    assert "Parameters the gradient does not reach" in text
    grads = trace(loss, params=moe).grads()
    for name, _ in moe.named_parameters():
        e = int(name.split(".")[1]) if name.startswith("experts.") else None
        if e in unchosen:
            assert name not in grads and f"{name}" in text.split("does not reach")[1]
        else:
            assert np.any(grads[name] != 0), name
    loss.backward()
    for e in unchosen:
        assert all(p.grad is None for p in moe.experts[e].parameters())
