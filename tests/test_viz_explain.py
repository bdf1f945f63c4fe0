"""chainrule.viz.trace / explain and the `chainrule explain` command."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.gradcheck import finite_difference
from chainrule.cli import main as cli
from chainrule.viz.explain import MAZUR, explain_network, mazur_network, run_network
from chainrule.viz.trace import trace

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def mazur_loss() -> tuple[cr.Tensor, cr.nn.Module]:
    m = mazur_network()
    x = cr.tensor([MAZUR["inputs"]], dtype="float64")
    y = cr.tensor([MAZUR["targets"]], dtype="float64")
    return cr.nn.functional.mse_loss(m(x), y), m


def test_trace_matches_engine_and_finite_differences() -> None:
    loss, m = mazur_loss()
    t = trace(loss, params=m, backward=True)
    assert [s.op for s in t.steps] == ["linear", "sigmoid", "linear", "sigmoid", "mse_loss"]
    from chainrule.ops.registry import REGISTRY

    assert all(s.formula == REGISTRY[s.op].formula and s.formula for s in t.steps)
    grads = t.grads()
    params = dict(m.named_parameters())
    assert set(grads) == set(params)
    for name, p in params.items():
        np.testing.assert_allclose(grads[name], p.grad.numpy(), rtol=1e-12, atol=1e-15)
    flat = list(params.values())

    def f(*ps: cr.Tensor) -> cr.Tensor:
        h = cr.sigmoid(cr.nn.functional.linear(cr.tensor([MAZUR["inputs"]], dtype="float64"),
                                               ps[0], ps[1]))
        o = cr.sigmoid(cr.nn.functional.linear(h, ps[2], ps[3]))
        return cr.nn.functional.mse_loss(o, cr.tensor([MAZUR["targets"]], dtype="float64"))

    fd = finite_difference(f, [cr.tensor(p.detach().numpy()) for p in flat])
    for (name, _), g in zip(params.items(), fd):
        np.testing.assert_allclose(grads[name], g.numpy(), rtol=1e-6, atol=1e-10)
    # each step: product = incoming gradient * local derivative (elementwise steps)
    sig = t.steps[3]
    (inp,) = sig.inputs
    assert inp.local_kind == "elementwise"
    np.testing.assert_allclose(inp.product, sig.grad * inp.local)
    a = sig.value
    np.testing.assert_allclose(inp.local, a * (1 - a))


def test_trace_accumulation_and_default_names() -> None:
    x = cr.tensor([1.5, -0.5], requires_grad=True)
    y = (x * x + x.sin()).sum()
    t = trace(y)
    assert [lf.name for lf in t.leaves] == ["leaf0"]
    (name, uses), = t.accumulations()
    assert name == "leaf0" and len(uses) == 3  # sin, and mul twice
    total = sum(g for _, g in uses)
    x0 = x.detach().numpy()
    np.testing.assert_allclose(total, 2 * x0 + np.cos(x0), rtol=1e-6)
    assert x.grad is None  # trace itself does not touch .grad
    y.backward()
    np.testing.assert_allclose(t.grads()["leaf0"], x.grad.numpy())


def test_trace_refuses_freed_graph_and_leaf() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        trace(y)
    with pytest.raises(ValueError, match="no graph"):
        trace(x)


def test_package_explain_function() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    text = cr.explain(y, params={"x": x})
    assert "d(a*b)/da = b" in text and "Accumulation" in text and "x" in text
    assert "|" in cr.explain(y, format="markdown")
    assert not hasattr(cr.Tensor, "explain")  # the core does not reach up into viz


def test_mazur_published_numbers() -> None:
    r = run_network(mazur_network(), MAZUR["inputs"], MAZUR["targets"], lr=0.5)
    assert abs(r.loss - 0.298371109) < 1e-9
    ws = {w["name"]: w for w in r.weights()}
    assert round(ws["w5"]["new"], 8) == 0.35891648
    assert round(ws["w1"]["new"], 9) == 0.149780716
    for w in ws.values():
        assert abs(w["grad"] - w["fd"]) < 1e-8
    text = explain_network(mazur_network(), MAZUR["inputs"], MAZUR["targets"])
    for s in ("0.298371109", "0.35891648", "0.593269992", "0.75136507", "0.149780716"):
        assert s in text, s


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.seen: list[str] = []
        void = {"meta", "br", "img", "hr", "link", "input"}
        self.void = void

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.seen.append(tag)
        if tag not in self.void:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.seen.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()


def test_markdown_and_html_are_well_formed() -> None:
    r = run_network(mazur_network(), MAZUR["inputs"], MAZUR["targets"])
    names = [w["name"] for w in r.weights()]
    md = explain_network(mazur_network(), MAZUR["inputs"], MAZUR["targets"], format="markdown")
    tables = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert tables
    for ln in tables:
        assert ln.endswith("|")
    blocks = md.split("\n\n")
    for b in blocks:
        rows = [ln for ln in b.splitlines() if ln.startswith("|")]
        if rows:
            assert len({ln.replace("\\|", "").count("|") for ln in rows}) == 1, b
    page = explain_network(mazur_network(), MAZUR["inputs"], MAZUR["targets"], format="html")
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page and "<script" not in page
    p = _Tags()
    p.feed(page)
    p.close()
    assert p.stack == [] and {"html", "svg", "table", "style", "circle"} <= set(p.seen)
    svg = page[page.index("<svg"):page.index("</svg>") + 6]
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f".//{ns}circle")) == 2 * 6
    svg_text = " ".join(t.text or "" for t in root.iter(f"{ns}text"))
    for n in names:
        assert f"{n} = " in svg_text, n
        assert f"<td>{n}</td>" in page and f"| {n} |" in md


def test_other_networks_and_cross_entropy() -> None:
    cr.manual_seed(3)
    m = cr.nn.MLP([3, 4, 2], activation="tanh", dtype="float64")
    r = run_network(m, [0.1, -0.2, 0.3], [1], loss="cross-entropy")
    for w in r.weights():
        assert abs(w["grad"] - w["fd"]) < 1e-7
    text = explain_network(m, [0.1, -0.2, 0.3], [1], loss="cross-entropy")
    assert "cross_entropy" in text and "w20" in text
    with pytest.raises(ValueError, match="takes 3 inputs"):
        run_network(m, [0.1, 0.2], [1], loss="cross-entropy")


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chainrule.cli.main", "explain", *args],
                          cwd=cwd, env=ENV, capture_output=True, text=True, timeout=120)


def test_cli_default_subprocess(tmp_path: Path) -> None:
    r = _run(cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "0.298371109" in r.stdout and "0.35891648" in r.stdout and r.stderr == ""
    r = _run("--format", "html", "--out", str(tmp_path / "e.html"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "e.html").read_text().startswith("<!DOCTYPE html>")


def test_cli_error_one_line(tmp_path: Path) -> None:
    r = _run("--inputs", "1,2,3", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("chainrule: error: --inputs")


def test_cli_options_in_process(tmp_path: Path, capsys) -> None:
    assert cli.main(["explain", "--sizes", "2,3,1", "--activation", "relu", "--seed", "1",
                     "--format", "markdown", "--lr", "0.1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Backprop") and "w9" in out
    assert cli.main(["explain", "--loss", "cross-entropy", "--targets", "5"]) == 2
    assert "class" in capsys.readouterr().err
    assert cli.main(["explain", "--checkpoint", str(tmp_path / "nope.ckpt")]) == 2


def test_cli_checkpoint(tmp_path: Path, capsys) -> None:
    assert cli.main(["train", "--dataset", "xor", "--epochs", "2", "--out", str(tmp_path),
                     "--progress", "none"]) == 0
    capsys.readouterr()
    ckpt = str(tmp_path / "model.ckpt")
    assert cli.main(["explain", "--checkpoint", ckpt, "--inputs", "0,1", "--targets", "1"]) == 0
    out = capsys.readouterr().out
    assert "finite-difference" in out and "checkpoint" in out


# -- issue 13 item 16: the Mazur note, terminal width, a figure whose texts do not collide ----

def _cli_explain(args: list[str], capsys, monkeypatch, columns: int = 80) -> str:
    from chainrule.cli import main as cli

    monkeypatch.setenv("COLUMNS", str(columns))
    assert cli.main(["explain", *args]) == 0
    return capsys.readouterr().out


def test_explain_says_when_mazurs_weights_are_swapped(capsys, monkeypatch) -> None:
    out = _cli_explain(["--loss", "cross-entropy", "--targets", "1"], capsys, monkeypatch)
    assert "Mazur's weights" in out and "random weights (seed 0)" in out, out[:600]
    assert "Note:" in out.split("Weights and biases")[0]
    plain = _cli_explain([], capsys, monkeypatch)
    assert "Note:" not in plain  # his own network: nothing to say


@pytest.mark.parametrize("args", [[], ["--loss", "cross-entropy", "--targets", "1"],
                                  ["--sizes", "3,4,2", "--activation", "tanh"]])
def test_explain_text_fits_80_columns(args: list[str], capsys, monkeypatch) -> None:
    out = _cli_explain(args, capsys, monkeypatch, columns=80)
    assert max(len(line) for line in out.splitlines()) <= 80
    for number in ("0.298371109", "0.149780716"):  # Mazur's loss and updated w1, never split
        if not args:
            assert number in out
    narrow = _cli_explain(args, capsys, monkeypatch, columns=20)  # a sane minimum: 60
    assert max(len(line) for line in narrow.splitlines()) <= 60


@pytest.mark.parametrize("sizes", [[2, 2, 2], [3, 4, 2], [4, 6, 6, 3], [2, 8, 1]])
@pytest.mark.parametrize("backward", [False, True])
def test_figure_labels_do_not_overlap_and_values_fit(sizes: list[int], backward: bool) -> None:
    from chainrule.viz.explain import RADIUS, _overlap, panel_layout

    cr.manual_seed(1)
    m = cr.nn.MLP(sizes, activation="sigmoid", output_activation="sigmoid", dtype="float64")
    r = run_network(m, [0.123456] * sizes[0], [0.5] * sizes[-1])
    ws = r.weights()
    lay = panel_layout(r, ws, 0.0, 1000.0, 140 + max(sizes) * 92.0, backward)
    boxes = [t.box for t in lay.edge_labels] + [t.box for t in lay.texts]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not _overlap(a, b, pad=0.0), (a, b)
    for t in lay.edge_labels:
        for _, x, y in lay.circles:
            assert not _overlap(t.box, (x - RADIUS, y - RADIUS, x + RADIUS, y + RADIUS), 0.0)
    for v, (_, x, y) in zip(lay.values, lay.circles):
        x0, y0, x1, y1 = v.box
        for cx, cy in ((x0, y0), (x1, y0), (x0, y1), (x1, y1)):  # every corner inside
            assert (cx - x) ** 2 + (cy - y) ** 2 <= RADIUS ** 2, (v.text, v.size)
    if sum(sizes) <= 8:
        assert lay.left_out == 0  # small networks: every edge labelled
