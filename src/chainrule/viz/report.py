"""One self-contained HTML page about a training run: its pictures inlined as base64 PNG data
URIs, its configuration, the final metrics and the per-epoch table. No external assets.

    write_report("runs/moons/report.html", title="moons", config=cfg, records=records,
                 images={"curves": "runs/moons/plots/curves.png"})
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["render_report", "write_report"]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
.sub{color:#666;margin-top:0}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.25em .7em;text-align:right}
th{background:#f4f6f8}td.k,th.k{text-align:left;font-family:ui-monospace,monospace}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.9em}
.grid{display:flex;flex-wrap:wrap;gap:2em;align-items:flex-start}
"""


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return "" if v is None else str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v))
    return str(v)


def _table(header: list[str], rows: list[list[Any]], left: int = 0) -> str:
    def cell(tag: str, i: int, v: Any) -> str:
        cls = ' class="k"' if i < left else ""
        return f"<{tag}{cls}>{html.escape(_fmt(v))}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "\n".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>"
                     for r in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _data_uri(image: str | Path | bytes) -> str:
    data = image if isinstance(image, bytes) else Path(image).read_bytes()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def render_report(title: str, config: Mapping[str, Any] | None = None,
                  records: list[dict[str, Any]] | None = None,
                  images: Mapping[str, str | Path | bytes] | None = None,
                  final: Mapping[str, Any] | None = None, subtitle: str = "") -> str:
    """The report as an HTML string. ``images`` maps captions to PNG files (or PNG bytes);
    ``final`` defaults to the last record."""
    records = list(records or [])
    final = dict(final if final is not None else (records[-1] if records else {}))
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f"<title>{html.escape(title)}</title>", f"<style>{CSS}</style>", "</head>",
             "<body>", f"<h1>{html.escape(title)}</h1>"]
    if subtitle:
        parts.append(f'<p class="sub">{html.escape(subtitle)}</p>')
    side = []
    if final:
        side.append("<div><h2>Final metrics</h2>\n" + _table(
            ["metric", "value"], [[k, v] for k, v in final.items() if k != "epoch"], 1)
            + "</div>")
    if config:
        side.append("<div><h2>Configuration</h2>\n" + _table(
            ["option", "value"], [[k, v] for k, v in sorted(config.items())], 1) + "</div>")
    if side:
        parts.append('<div class="grid">' + "\n".join(side) + "</div>")
    for caption, image in (images or {}).items():
        parts.append(f'<h2>{html.escape(caption)}</h2>\n<figure><img alt="{html.escape(caption)}"'
                     f' src="{_data_uri(image)}"></figure>')
    if records:
        keys = list(dict.fromkeys(k for r in records for k in r))
        parts.append("<h2>Per epoch</h2>\n" + _table(keys, [[r.get(k) for k in keys]
                                                            for r in records]))
    parts.append('<p class="sub">Written by <code>chainrule report</code>.</p>')
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def write_report(path: str | Path, title: str, **kwargs: Any) -> Path:
    """Write ``render_report(title, **kwargs)`` to ``path``; return the path."""
    path = Path(path)
    path.write_text(render_report(title, **kwargs), encoding="utf-8")
    return path
