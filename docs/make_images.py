"""Regenerate the docs' screenshots of HTML/SVG pictures with headless Chromium.

Run from the repository root: ``python docs/make_images.py [--out docs/images]``. Writes

- ``explain.png``: the top of ``chainrule explain --format html`` (docs/explain.md);
- ``report.png``: the top of ``chainrule report`` for a 20-epoch moons run
  (docs/training_pictures.md);
- ``graph_mlp_grads.png`` (with its ``.svg``/``.html`` and ``graph_mlp.svg``): the example of
  docs/graphs.md, through ``examples/draw_graph_demo.py`` and ``GraphDrawing.save(".png")``;
- ``cnn_filters.png``, ``cnn_feature_maps.png``: ``chainrule plot`` of a CNN trained for 2 epochs
  on 10000 Fashion-MNIST images (about 4 minutes on 2 loaded cores; needs the data set, e.g.
  ``chainrule train --dataset fashion-mnist --download`` once);
- ``attention_reverse.png``, ``attention_reverse_untrained.png``: the attention maps of
  ``examples/attention_reverse.py`` (a transformer layer that learns to reverse a sequence).
  These four are in docs/training_pictures.md.

The HTML/SVG pictures go through ``chainrule.viz.render.screenshot``; it needs Chromium
(Debian/Ubuntu: ``apt-get install chromium``). The others need matplotlib.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from chainrule.viz.render import screenshot

ROOT = Path(__file__).resolve().parent.parent


def chainrule(*args: str, cwd: Path = ROOT) -> None:
    subprocess.run([sys.executable, "-m", "chainrule.cli.main", *args], check=True, cwd=cwd,
                   stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "images"))
    out = Path(ap.parse_args().out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "explain.html"
        chainrule("explain", "--format", "html", "--out", str(page))
        print(screenshot(page, out / "explain.png", width=1200, height=1000))

        # run in the temporary folder so that the report shows out = runs/moons
        chainrule("train", "--dataset", "moons", "--epochs", "20", "--out", "runs/moons",
                  cwd=Path(tmp))
        chainrule("report", "runs/moons", cwd=Path(tmp))
        print(screenshot(Path(tmp) / "runs/moons/report.html", out / "report.png", width=1200,
                         height=1800))

        chainrule("train", "--model", "cnn", "--dataset", "fashion-mnist", "--limit", "10000",
                  "--epochs", "2", "--out", "runs/fm_cnn", cwd=Path(tmp))
        chainrule("plot", "runs/fm_cnn", cwd=Path(tmp))
        for name in ("filters", "feature_maps"):
            print(shutil.copyfile(Path(tmp) / "runs/fm_cnn/plots" / f"{name}.png",
                                  out / f"cnn_{name}.png"))

    subprocess.run([sys.executable, str(ROOT / "examples" / "draw_graph_demo.py"),
                    "--out", str(out)], check=True, cwd=ROOT)
    subprocess.run([sys.executable, str(ROOT / "examples" / "attention_reverse.py"),
                    "--out", str(out / "attention_reverse.png"),
                    "--before", str(out / "attention_reverse_untrained.png")], check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
