"""Regenerate the docs' screenshots of HTML/SVG pictures with headless Chromium.

Run from the repository root: ``python docs/make_images.py [--out docs/images]``. Writes

- ``explain.png``: the top of ``chainrule explain --format html`` (docs/explain.md);
- ``report.png``: the top of ``chainrule report`` for a 20-epoch moons run
  (docs/training_pictures.md);
- ``graph_mlp_grads.png`` (with its ``.svg``/``.html`` and ``graph_mlp.svg``): the example of
  docs/graphs.md, through ``examples/draw_graph_demo.py`` and ``GraphDrawing.save(".png")``.

Every PNG goes through ``chainrule.viz.render.screenshot``; it needs Chromium
(Debian/Ubuntu: ``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
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

    subprocess.run([sys.executable, str(ROOT / "examples" / "draw_graph_demo.py"),
                    "--out", str(out)], check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
