"""The pictures themselves: HTML/SVG rendered to PNG by a real headless Chromium and checked
(signature, IHDR size, CRCs, decompressed pixel data, not blank). CI installs Chromium
(.ci/run); without it these tests skip and say how to get it."""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

import chainrule as cr
from chainrule import nn
from chainrule.viz.render import MIN_HEIGHT, find_chromium, screenshot

needs_chromium = pytest.mark.skipif(
    find_chromium() is None,
    reason="headless Chromium not installed (Debian/Ubuntu: apt-get install chromium; "
           ".ci/run installs it)")

SIG = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel


def read_png(path: Path) -> tuple[int, int, bytes]:
    """Check a PNG's structure; return (width, height, decompressed filtered scanlines)."""
    data = path.read_bytes()
    assert data[:8] == SIG, f"{path.name}: not a PNG"
    pos, chunks = 8, []
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert zlib.crc32(kind + body) == crc, f"{path.name}: bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + n
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 8 and colour in CHANNELS and interlace == 0
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    assert len(raw) == h * (1 + w * CHANNELS[colour]), f"{path.name}: truncated pixel data"
    return w, h, raw


def assert_picture(path: Path, width: int, height: int, min_colours: int = 16) -> None:
    """A well-formed ``width`` x ``height`` PNG with something drawn on it."""
    w, h, raw = read_png(path)
    assert (w, h) == (width, height)
    try:
        from PIL import Image
    except ImportError:  # structure only: filtered scanlines of a blank page are ~one value
        assert len(set(raw[::7])) >= 8, f"{path.name} looks blank"
        return
    with Image.open(path) as im:
        rgb = im.convert("RGB")
    colours = rgb.getcolors(maxcolors=w * h)
    assert len(colours) >= min_colours, f"{path.name}: only {len(colours)} colours"
    background = max(colours)[0]
    assert w * h - background >= 0.01 * w * h, f"{path.name} is nearly all one colour"


@needs_chromium
def test_markup_exact_pixels(tmp_path):
    page = ('<div style="display:flex"><div style="width:150px;height:80px;background:#f00">'
            '</div><div style="width:50px;height:80px;background:#00f"></div></div>')
    png = screenshot(page, tmp_path / "sub" / "m.png", width=200, height=100)
    assert png == (tmp_path / "sub" / "m.png").resolve()
    assert read_png(png)[:2] == (200, MIN_HEIGHT)  # short windows are raised to MIN_HEIGHT
    pil = pytest.importorskip("PIL.Image")
    with pil.open(png) as im:
        rgb = im.convert("RGB")
        assert rgb.getpixel((10, 10)) == (255, 0, 0)
        assert rgb.getpixel((160, 79)) == (0, 0, 255)
        assert rgb.getpixel((100, 80)) == (255, 255, 255)  # below the boxes: the white page
        assert rgb.getpixel((199, MIN_HEIGHT - 1)) == (255, 255, 255)


@needs_chromium
def test_graph_drawing_png(tmp_path):
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = cr.randn(5, 4), cr.tensor([0, 2, 1, 0, 2])
    loss = nn.functional.cross_entropy(model(x), y)
    d = cr.viz.draw(loss, params=model, show="grads")
    out = d.save(tmp_path / "graph.png")
    assert_picture(out, math.ceil(d.width), max(math.ceil(d.height), MIN_HEIGHT))


@needs_chromium
def test_explain_html_png(tmp_path):
    page = tmp_path / "explain.html"
    subprocess.run([sys.executable, "-m", "chainrule.cli.main", "explain", "--format", "html",
                    "--out", str(page)], check=True, capture_output=True, timeout=60)
    png = screenshot(page, tmp_path / "explain.png", width=1000, height=700)
    assert_picture(png, 1000, 700)


@needs_chromium
def test_report_png(tmp_path):
    run = tmp_path / "run"
    for args in (["train", "--dataset", "moons", "--epochs", "2", "--out", str(run)],
                 ["report", str(run)]):
        subprocess.run([sys.executable, "-m", "chainrule.cli.main", *args], check=True,
                       capture_output=True, timeout=120)
    png = screenshot(run / "report.html", tmp_path / "report.png", width=1100, height=800)
    assert_picture(png, 1100, 800)


def test_missing_chromium_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install chromium"):
        screenshot("<p>x</p>", tmp_path / "x.png")


@needs_chromium
def test_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        screenshot(tmp_path / "missing.html", tmp_path / "x.png")
    with pytest.raises(ValueError, match="width and height"):
        screenshot("<p>x</p>", tmp_path / "x.png", width=0)
