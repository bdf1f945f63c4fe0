"""chainrule plot / report on a tiny moons run: valid PNGs, a well-formed self-contained HTML."""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chainrule.cli.main", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "moons"
    r = _cli("train", "--dataset", "moons", "--epochs", "3", "--out", str(out))
    assert r.returncode == 0, r.stderr
    return out


def test_plot_writes_valid_pngs(run_dir: Path) -> None:
    r = _cli("plot", str(run_dir))
    assert r.returncode == 0, r.stderr
    names = ("curves.png", "boundary.png", "confusion.png", "histograms.png")
    for name in names:
        p = run_dir / "plots" / name
        data = p.read_bytes()
        assert data[:8] == PNG, name
        assert len(data) > 10_000, name
        assert name in r.stdout


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.imgs: list[str] = []
        self.external: list[str] = []
        self.tables = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src") or "")
        if tag in ("link", "script") or (tag == "img" and not (a.get("src") or "")
                                         .startswith("data:")):
            self.external.append(tag)
        if tag == "table":
            self.tables += 1
        if tag not in ("meta", "img", "br", "link"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-3:])
        self.stack.pop()


def test_report_is_self_contained_html(run_dir: Path, tmp_path: Path) -> None:
    import base64

    dest = tmp_path / "r.html"
    r = _cli("report", str(run_dir), "-o", str(dest))
    assert r.returncode == 0, r.stderr
    text = dest.read_text()
    assert text.startswith("<!DOCTYPE html>")
    p = _Collect()
    p.feed(text)
    p.close()
    assert p.stack == []
    assert not p.external
    assert len(p.imgs) == 4
    for src in p.imgs:
        head, data = src.split(",", 1)
        assert head == "data:image/png;base64"
        assert base64.b64decode(data)[:8] == PNG
    assert p.tables >= 3  # final metrics, configuration, per epoch
    assert "test_accuracy" in text and "moons" in text


@pytest.mark.parametrize("cmd", ["plot", "report"])
def test_missing_or_empty_run_dir(cmd: str, tmp_path: Path) -> None:
    r = _cli(cmd, str(tmp_path / "nope"))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "does not exist" in r.stderr
    r = _cli(cmd, str(tmp_path))
    assert r.returncode == 2
    assert "holds no metrics.jsonl" in r.stderr and "Traceback" not in r.stderr


def test_read_metrics_csv_and_jsonl_agree(run_dir: Path) -> None:
    from chainrule.viz.plots import read_metrics

    a = read_metrics(run_dir / "metrics.csv")
    b = read_metrics(run_dir / "metrics.jsonl")
    assert [r["epoch"] for r in a] == [1, 2, 3]
    assert [r["test_accuracy"] for r in a] == pytest.approx([r["test_accuracy"] for r in b])


def test_histogram_uses_a_log_axis_where_one_bin_dominates(tmp_path: Path) -> None:
    """Issue 13 item 18: a panel whose biggest bin is > 20x the median nonzero bin (e.g.
    ReLU's zero gradients) gets a log count axis; an even one keeps a linear axis."""
    import chainrule as cr
    from chainrule import nn
    from chainrule.viz.plots import dominated, plot_histograms

    assert dominated([500, 3, 4, 2, 5]) and not dominated([10, 12, 9, 11])
    assert not dominated([0, 0, 7, 0])  # one nonzero bin: nothing to compare
    cr.manual_seed(0)
    model = nn.Linear(50, 40)
    with cr.no_grad():
        model.weight.zero_()
        model.weight[0, :5] = cr.randn(5)  # 1995 zeros and a few values
    fig = plot_histograms(model, None)
    scales = {ax.get_title(): ax.get_yscale() for ax in fig.axes}
    assert any(s == "log" and "one bin dominates" in t for t, s in scales.items()), scales
    import matplotlib.pyplot as plt

    plt.close(fig)
