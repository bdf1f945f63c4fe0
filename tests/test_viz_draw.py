"""The computation-graph drawing: well-formed SVG with every op and leaf, HTML, deep chains."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.autograd.node import Node
from chainrule.viz import GraphDrawing, draw

SVG = "{http://www.w3.org/2000/svg}"


def _graph(t):
    """Op nodes and leaves reachable from t (iteratively)."""
    ops, leaves, stack, seen = [], [], [t._node], set()
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        ops.append(n)
        for e in n.next:
            if type(e) is Node:
                stack.append(e)
            elif e is not None and id(e) not in seen:
                seen.add(id(e))
                leaves.append(e)
    return ops, leaves


def _groups(svg: str) -> list:
    root = ET.fromstring(svg)
    return [g for g in root.iter(SVG + "g") if "node" in g.get("class", "").split()]


def _texts(g) -> list[str]:
    return [t.text for t in g.iter(SVG + "text")]


@pytest.fixture
def mlp_loss():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x = cr.randn(5, 4)
    y = cr.tensor([0, 1, 2, 0, 1])
    return model, nn.CrossEntropyLoss()(model(x), y)


def test_svg_has_every_op_and_leaf(mlp_loss):
    model, loss = mlp_loss
    d = draw(loss, params=model)
    assert isinstance(d, GraphDrawing)
    ops, leaves = _graph(loss)
    groups = _groups(d.svg)
    op_groups = [g for g in groups if "op" in g.get("class").split()]
    leaf_groups = [g for g in groups if "leaf" in g.get("class").split()]
    assert sorted(g.get("data-op") for g in op_groups) == sorted(n.op.name for n in ops)
    assert len(leaf_groups) == len(leaves) == 4
    leaf_names = {_texts(g)[0] for g in leaf_groups}
    assert leaf_names == {name for name, _ in model.named_parameters()}
    # shapes, dtypes and a value summary on every op; the output is marked and its value shown
    for g in op_groups:
        lines = _texts(g)
        assert "float32" in lines[1] and lines[2].startswith("value")
    out = [g for g in op_groups if "output" in g.get("class").split()]
    assert len(out) == 1 and out[0].get("data-op") == "cross_entropy"
    assert f"value = {loss.item():.4g}" in _texts(out[0])
    # one edge per input that is drawn
    edges = [p for p in ET.fromstring(d.svg).iter(SVG + "path") if p.get("class") == "edge"]
    assert len(edges) == sum(len(g_) for g_ in [[e for e in n.next if e is not None]
                                                 for n in ops]) + 2  # + 2 constants (x, y)


def test_grads_and_shapes_modes(mlp_loss):
    model, loss = mlp_loss
    d = draw(loss, params=model, show="grads")
    texts = [s for g in _groups(d.svg) for s in _texts(g)]
    assert any(s.startswith("grad mean") for s in texts) and "grad = 1" in texts
    for p in model.parameters():  # .grad untouched, and the graph can still be backpropagated
        assert p.grad is None
    loss.backward()
    w = model[0].weight
    g = w.grad.numpy()
    d2 = draw(loss, params=model, show="grads")  # graph freed: leaves' .grad are used
    leaf = next(g_ for g_ in _groups(d2.svg) if _texts(g_)[0] == "0.weight")
    assert f"{g.mean():.4g}"[:5] in _texts(leaf)[2]
    d3 = draw(loss, show="shapes")
    assert all(len(_texts(g_)) == 2 for g_ in _groups(d3.svg))
    with pytest.raises(ValueError, match="show must be"):
        draw(loss, show="colours")


def test_escaping_and_html(tmp_path):
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = (a * 2).sum()
    d = draw(b, params={"<a & 'b'>": a})
    ET.fromstring(d.svg)
    assert "&lt;a &amp; 'b'&gt;" in d.svg
    html = d.to_html()
    assert html.startswith("<!DOCTYPE html>") and d.svg in html
    assert d._repr_svg_() == d.svg and d.svg in d._repr_html_()
    assert d.save(tmp_path / "g.svg").read_text() == d.svg
    assert d.save(tmp_path / "g.html").read_text() == html
    with pytest.raises(ValueError, match="extension"):
        d.save(tmp_path / "g.gif")


def test_deep_chain_does_not_recurse():
    a = cr.randn(3, requires_grad=True)
    z = a
    for _ in range(10_000):
        z = z * 1.0001
    d = draw(z.sum(), show="shapes")
    assert d.nodes == 10_002
    assert len(_groups(d.svg)) == 10_002


def test_leaf_and_wide_graph():
    a = cr.tensor(3.0, requires_grad=True)
    d = draw(a)
    assert len(_groups(d.svg)) == 1
    xs = [cr.randn(2, requires_grad=True) for _ in range(30)]
    s = xs[0]
    for x in xs[1:]:
        s = s + x.tanh()
    d = draw(s, params={f"x{i}": x for i, x in enumerate(xs)})
    root = ET.fromstring(d.svg)
    # no two nodes overlap within a row
    boxes = []
    for g in _groups(d.svg):
        el = next(e for e in g if e.tag in (SVG + "rect", SVG + "ellipse"))
        if el.tag.endswith("rect"):
            x0, y0 = float(el.get("x")), float(el.get("y"))
            boxes.append((x0, y0, x0 + float(el.get("width")), y0 + float(el.get("height"))))
        else:
            cx, cy, rx, ry = (float(el.get(k)) for k in ("cx", "cy", "rx", "ry"))
            boxes.append((cx - rx, cy - ry, cx + rx, cy + ry))
    for i, p in enumerate(boxes):
        for q in boxes[i + 1:]:
            assert p[2] <= q[0] or q[2] <= p[0] or p[3] <= q[1] or q[3] <= p[1]
    assert float(root.get("width")) > 0


def test_png_needs_a_renderer(tmp_path, monkeypatch):
    import shutil
    import sys

    monkeypatch.setitem(sys.modules, "cairosvg", None)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    d = draw((cr.randn(2, requires_grad=True) * 2).sum())
    with pytest.raises(RuntimeError, match="renderer"):
        d.save(tmp_path / "g.png")


def test_nonfinite_values_are_flagged():
    a = cr.tensor([1.0, np.inf], requires_grad=True)
    d = draw((a * 2).sum())
    assert len([g for g in _groups(d.svg) if "bad" in g.get("class").split()]) == 3
