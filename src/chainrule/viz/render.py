"""HTML / SVG to PNG through headless Chromium: the one place chainrule runs a browser.

    screenshot("<h1>hi</h1>", "hi.png", width=800, height=600)     # markup
    screenshot("runs/moons/report.html", "report.png")              # a file (.html or .svg)

The PNG is exactly ``width`` x ``height`` pixels: the top of the page (the browser window is the
picture). Heights below ``MIN_HEIGHT`` are raised to it: headless Chromium paints only the top
``height - 87`` rows of a window under ~145 px tall (Chromium 156). Each call uses a fresh,
throw-away browser profile and no network services. Chromium comes from the system:
Debian/Ubuntu ``apt-get install chromium``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

__all__ = ["CHROMIUM_HINT", "MIN_HEIGHT", "find_chromium", "screenshot"]

MIN_HEIGHT = 160

CHROMIUM_HINT = ("install headless Chromium: Debian/Ubuntu `apt-get install chromium` "
                 "(or put chromium, chromium-browser or google-chrome on the PATH)")
_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--hide-scrollbars", "--force-device-scale-factor=1")
_PAGE = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>body{margin:0;"
         "background:#fff}svg{display:block}</style></head><body>%s</body></html>")


def find_chromium() -> str | None:
    """The path of a Chromium (or Chrome) executable on the PATH, or None."""
    for name in _NAMES:
        exe = shutil.which(name)
        if exe:
            return exe
    return None


def screenshot(html_or_path: str | os.PathLike[str], png_path: str | os.PathLike[str],
               width: int = 1200, height: int = 900, timeout: float = 60.0) -> Path:
    """Render HTML/SVG markup (a ``str`` starting with ``<``) or an ``.html``/``.svg`` file to
    a ``width`` x ``max(height, MIN_HEIGHT)`` PNG at ``png_path``; returns its path.

    Raises RuntimeError naming the package to install when no Chromium is found, and with
    Chromium's own message when it fails or runs past ``timeout`` seconds.
    """
    width, height = int(width), int(height)
    if not (0 < width <= 16384 and 0 < height <= 16384):
        raise ValueError(f"screenshot: width and height must be 1..16384 pixels, "
                         f"got {width}x{height}")
    height = max(height, MIN_HEIGHT)
    exe = find_chromium()
    if exe is None:
        raise RuntimeError(f"screenshot: rendering HTML/SVG to PNG needs a renderer: "
                           f"{CHROMIUM_HINT}")
    png = Path(png_path).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chainrule-chromium-") as tmp:
        if isinstance(html_or_path, str) and html_or_path.lstrip().startswith("<"):
            markup = html_or_path
            if not markup.lstrip()[:200].lower().startswith(("<!doctype", "<html")):
                markup = _PAGE % markup
            page = Path(tmp) / "page.html"
            page.write_text(markup, encoding="utf-8")
        else:
            page = Path(html_or_path).resolve()
            if not page.is_file():
                raise FileNotFoundError(f"screenshot: no such file {str(page)!r}")
        cmd = [exe, *_FLAGS, f"--user-data-dir={tmp}/profile", f"--screenshot={png}",
               f"--window-size={width},{height}", page.as_uri()]
        # own process group: on a timeout the browser's helper processes go too
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            if hasattr(os, "killpg"):
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            proc.communicate()
            raise RuntimeError(f"screenshot: {exe} did not finish {page.name} within "
                               f"{timeout:g} s") from None
    if proc.returncode != 0 or not png.is_file():
        tail = "\n".join(ln for ln in err.splitlines() if "dbus" not in ln)[-800:]
        raise RuntimeError(f"screenshot: {exe} failed to write {png} "
                           f"(exit status {proc.returncode}): {tail.strip()}")
    return png
