"""Draw a computation graph as SVG (and HTML, PNG), with a pure-Python layered layout.

``draw(loss, params=model)`` walks the recorded graph from ``loss`` back to its leaves (no
recursion: a 10,000-deep chain is fine) and lays it out Sugiyama-style: longest-path layers
(leaves on top, the output at the bottom), dummy points on long edges, barycentre ordering
sweeps, then x positions pulled towards the neighbours. No Graphviz is needed.

Op nodes are rounded boxes (op name, output shape and dtype, a value or gradient summary);
leaf tensors are ellipses named from ``params`` (a Module's ``named_parameters()`` or a dict);
constant array operands (inputs that need no gradient) are grey ellipses.
"""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from chainrule.autograd.engine import NodeEvent, grad, observe
from chainrule.autograd.node import Node
from chainrule.autograd.tensor import Tensor
from chainrule.viz.render import CHROMIUM_HINT, find_chromium, screenshot

__all__ = ["GraphDrawing", "draw"]

_SHOWS = ("values", "grads", "shapes")
_CHAR_W = 6.7  # width of one character of the 11px monospace font
_LINE_H = 14
_LAYER_GAP = 46
_NODE_GAP = 22
_MARGIN = 20
_MAX_SPAN = 3  # longer edges from shared leaves are replaced by reference ellipses


# -- the graph as plain items ---------------------------------------------------------------------

class _Item:
    __slots__ = ("depth", "edges", "h", "kind", "layer", "lines", "obj", "pos", "title", "uid",
                 "w", "x", "y")

    def __init__(self, uid: int, kind: str, obj: Any) -> None:
        self.uid, self.kind, self.obj = uid, kind, obj
        self.edges: list[_Item] = []  # inputs (drawn as arrows input -> this)
        self.layer = 0
        self.lines: list[str] = []
        self.title = ""
        self.w = self.h = self.x = self.y = 0.0
        self.pos = 0.0
        self.depth = 0  # longest path from a source (the main input of an op is the deepest)


def _fmt(v: float) -> str:
    if not np.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    a = abs(v)
    return f"{v:.3e}" if a < 1e-3 or a >= 1e4 else f"{v:.4g}"


def _summary(arr: Any, what: str) -> str:
    if arr is None:
        return f"{what}: n/a"
    if hasattr(arr, "grads"):  # what a split/unbind received from its outputs, by index
        return f"{what}: {len(arr.grads())} pieces"
    a = np.asarray(arr)
    if a.size == 0:
        return f"{what}: empty"
    if a.size == 1:
        v = a.reshape(()).item()
        return f"{what} = {_fmt(float(v))}" if a.dtype.kind in "fiub" else f"{what} = {v}"
    if a.dtype.kind not in "fiub":
        return f"{what}: {a.dtype}"
    af = a.astype(np.float64, copy=False)
    with np.errstate(all="ignore"):  # inf / nan values are shown, not warned about
        m, s = float(af.mean()), float(af.std())
    return f"{what} mean {_fmt(m)} std {_fmt(s)}"


def _shape_line(arr: Any) -> str:
    if arr is None:
        return "shape ?"
    a = np.asarray(arr)
    return f"{tuple(a.shape)} {a.dtype}"


def _names(params: Any) -> dict[int, str]:
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        pairs = params.named_parameters()
    elif isinstance(params, dict):
        pairs = params.items()
    else:
        raise TypeError(f"draw: params must be a Module or a dict of name -> tensor, "
                        f"got {type(params).__name__}")
    return {id(t): str(k) for k, t in pairs}


def _collect(root: Tensor) -> tuple[list[_Item], dict[int, Any]]:
    """Every node, leaf and constant operand reachable from ``root``, with the output array of
    each node (read from its consumers' saved inputs). Iterative depth-first walk over the
    graph's public API (``grad_fn``, ``next_functions``, ``saved_inputs``)."""
    items: dict[int, _Item] = {}
    outputs: dict[int, Any] = {}
    start = root.grad_fn if root.grad_fn is not None else root
    first = _Item(id(start), "op" if isinstance(start, Node) else "leaf", start)
    items[id(start)] = first
    outputs[id(start)] = root.detach().numpy()
    stack = [first]
    while stack:
        it = stack.pop()
        if it.kind != "op":
            continue
        n: Node = it.obj
        edges = [e for e, _ in n.next_functions]
        saved = n.saved_inputs
        xs = saved if saved is not None else (None,) * len(edges)
        for e, xv in zip(edges, xs):
            if e is None:
                if isinstance(xv, np.ndarray) and xv.ndim > 0:
                    c = _Item(-len(items) - 1, "const", xv)
                    items[c.uid] = c
                    outputs[c.uid] = xv
                    it.edges.append(c)
                continue
            key = id(e)
            child = items.get(key)
            if child is None:
                child = _Item(key, "op" if isinstance(e, Node) else "leaf", e)
                items[key] = child
                stack.append(child)
            if key not in outputs and xv is not None:
                outputs[key] = xv
            it.edges.append(child)
    for it in items.values():
        if it.kind == "leaf":
            outputs[it.uid] = it.obj.detach().numpy()
        elif it.kind == "op" and it.uid not in outputs and it.obj.saved_output is not None:
            outputs[it.uid] = it.obj.saved_output
    return list(items.values()), outputs


def _gradients(root: Tensor, items: list[_Item]) -> dict[int, Any] | None:
    """The gradient of ``root`` w.r.t. every node's output and every leaf (``.grad`` untouched),
    or None when the graph was already freed by a backward without ``retain_graph``. Read from
    the observer events of one ``grad()`` call (seeded with ones for a non-scalar root)."""
    if not root.requires_grad:
        return None
    if root.grad_fn is None:
        return {id(root): np.ones(root.shape, dtype=root.dtype)}
    if any(it.kind == "op" and it.obj.saved_inputs is None for it in items):
        return None
    leaves = [it.obj for it in items if it.kind == "leaf"]
    seed = None if root.numel() == 1 else np.ones(root.shape, dtype=root.dtype)
    events: list[NodeEvent] = []
    with observe(events.append):
        got = grad(root, leaves, grad_outputs=seed, retain_graph=True, allow_unused=True)
    out: dict[int, Any] = {id(ev.node): ev.grad_output for ev in events}
    out.update({id(t): None if g is None else g.detach().numpy() for t, g in zip(leaves, got)})
    return out


def _label(items: list[_Item], outputs: dict[int, Any], grads: dict[int, Any] | None,
           names: dict[int, str], show: str, root_uid: int) -> None:
    for it in items:
        out = outputs.get(it.uid)
        if it.kind == "op":
            n: Node = it.obj
            consts = [x for x, (e, _) in zip(n.saved_inputs or (), n.next_functions)
                      if e is None and not isinstance(x, np.ndarray)]
            head = n.name + (" " + ", ".join(_fmt(float(c)) for c in consts
                                             if isinstance(c, (int, float)))
                             if consts else "")
            it.lines = [head.strip(), _shape_line(out)]
            it.title = f"{n.name}: {n.formula}" if n.formula else n.name
        elif it.kind == "leaf":
            name = names.get(it.uid, "leaf")
            it.lines = [name, _shape_line(out)]
            it.title = f"leaf tensor {name}"
        else:
            it.lines = ["const", _shape_line(out)]
            it.title = "constant operand (no gradient)"
        if it.uid == root_uid:
            it.lines[0] += "  [output]"
        if show == "values":
            it.lines.append(_summary(out, "value"))
        elif show == "grads" and it.kind != "const":
            if grads is not None:
                g = grads.get(it.uid)
            elif it.kind == "leaf" and it.obj.grad is not None:
                g = it.obj.grad.detach().numpy()
            else:
                g = None
            it.lines.append(_summary(g, "grad") if g is not None or grads is not None
                            else "grad: graph freed")
        tw = max(len(s) for s in it.lines) * _CHAR_W
        it.w = tw + 16 if it.kind == "op" else tw * 1.12 + 24  # ellipses lose their corners
        it.h = len(it.lines) * _LINE_H + (10 if it.kind == "op" else 16)


# -- layout ---------------------------------------------------------------------------------------

def _layers(items: list[_Item]) -> None:
    """Longest-path layering towards the output: each op sits as low as its consumers allow
    (so a branch that starts late, like ``x_t @ W`` in an unrolled loop, sits next to its use);
    leaves and constants sit just above their first consumer."""
    ops = sorted((it for it in items if it.kind == "op"), key=lambda it: -it.obj.sequence_nr)
    dist: dict[int, int] = {}
    for it in ops:  # decreasing seq: every consumer of a node comes before it
        d = dist.setdefault(it.uid, 0)
        for c in it.edges:
            if c.kind == "op" and dist.get(c.uid, -1) < d + 1:
                dist[c.uid] = d + 1
    top = max(dist.values(), default=0)
    for it in ops:
        it.layer = 1 + top - dist[it.uid]
    _balance(ops)
    for it in reversed(ops):  # increasing seq: inputs first
        it.depth = 1 + max((c.depth for c in it.edges if c.kind == "op"), default=0)
    users: dict[int, int] = {}
    for it in ops:
        for c in it.edges:
            if c.kind != "op":
                users[c.uid] = min(users.get(c.uid, it.layer), it.layer)
    for it in items:
        if it.kind != "op":
            it.layer = users.get(it.uid, 1) - 1
    low = min(it.layer for it in items)
    for it in items:
        it.layer -= low


def _balance(ops: list[_Item]) -> None:
    """Shorten long edges: move each op, within the layers its inputs and consumers allow, to
    the median of the layers its neighbours ask for (a few passes; a cheap stand-in for
    Graphviz's network simplex). A running sum of an unrolled loop then sits by its terms."""
    cons: dict[int, list[_Item]] = {}
    for it in ops:
        for c in it.edges:
            if c.kind == "op":
                cons.setdefault(c.uid, []).append(it)
    for sweep in range(4):
        for it in (ops if sweep % 2 else ops[::-1]):
            ins = [c.layer + 1 for c in it.edges if c.kind == "op"]
            outs = [u.layer - 1 for u in cons.get(it.uid, ())]
            if not outs:
                continue  # the output stays at the bottom
            lo = max(ins, default=1)
            hi = min(outs)
            want = sorted(ins + outs)
            m = want[(len(want) - 1) // 2] if ins else hi
            it.layer = min(max(m, lo), hi)


def _add_refs(items: list[_Item]) -> list[_Item]:
    """A leaf shared by consumers far apart (a weight used at every step of an unrolled loop)
    keeps one real edge, to its first consumer; later consumers more than ``_MAX_SPAN`` layers
    below get a small reference ellipse with the leaf's name right above them instead of a long
    edge across the whole drawing."""
    refs = []
    for it in items:
        if it.kind != "op":
            continue
        for k, c in enumerate(it.edges):
            if c.kind in ("leaf", "const") and it.layer - c.layer > _MAX_SPAN:
                r = _Item(0, "ref", c.obj)
                r.uid = id(r)
                r.lines = [c.lines[0] if c.kind == "leaf" else "const"]
                r.title = f"the {c.kind} {r.lines[0]} again (drawn once, above its first use)"
                r.w = len(r.lines[0]) * _CHAR_W * 1.12 + 24
                r.h = _LINE_H + 10
                r.layer = it.layer - 1
                it.edges[k] = r
                refs.append(r)
    return items + refs


def _order(items: list[_Item]) -> tuple[list[list[Any]], list[tuple[_Item, list[Any], _Item]]]:
    """Layers as ordered lists (items and dummy points) and the routed edges."""
    nlayers = 1 + max(it.layer for it in items)
    rows: list[list[Any]] = [[] for _ in range(nlayers)]
    up: dict[int, list[Any]] = {}  # neighbours in the layer above, per vertex id
    down: dict[int, list[Any]] = {}
    routes = []
    def key(it: Any) -> tuple[int, int]:
        return it.layer, it.obj.sequence_nr if it.kind == "op" else 0

    for it in sorted(items, key=key):
        rows[it.layer].append(it)
    for it in items:
        for c in it.edges:
            prev: Any = c
            path = []
            for lay in range(c.layer + 1, it.layer):
                d = _Item(0, "dummy", None)
                d.uid = id(d)
                d.layer = lay
                d.depth = c.depth
                d.w = 4
                rows[lay].append(d)
                path.append(d)
                up.setdefault(id(d), []).append(prev)
                down.setdefault(id(prev), []).append(d)
                prev = d
            up.setdefault(id(it), []).append(prev)
            down.setdefault(id(prev), []).append(it)
            routes.append((c, path, it))
    for row in rows:
        for i, v in enumerate(row):
            v.pos = float(i)
    for sweep in range(4):  # barycentre sweeps, downwards then upwards
        rng = range(1, nlayers) if sweep % 2 == 0 else range(nlayers - 2, -1, -1)
        nb = up if sweep % 2 == 0 else down
        for lay in rng:
            row = rows[lay]
            for v in row:
                ns = nb.get(id(v))
                if ns:
                    v.pos = sum(u.pos for u in ns) / len(ns)
            row.sort(key=lambda v: v.pos)
            for i, v in enumerate(row):
                v.pos = float(i)
    _place_x(rows, up, down)
    return rows, routes


def _place_x(rows: list[list[Any]], up: dict, down: dict) -> None:
    """x coordinates: pack each row, then pull vertices towards their neighbours' mean x while
    keeping the order and the minimum gaps."""
    for row in rows:
        x = 0.0
        for v in row:
            v.x = x + v.w / 2
            x += v.w + _gap(v)
    for sweep in range(8):
        for row in (rows if sweep % 2 == 0 else rows[::-1]):
            for v in row:
                v.pos = _anchor(v, up, down)
            _resolve(row)
    lo = min((v.x - v.w / 2 for row in rows for v in row), default=0.0)
    for row in rows:
        for v in row:
            v.x += _MARGIN - lo


def _anchor(v: Any, up: dict, down: dict) -> float:
    """Where a vertex wants to be: an op under its deepest op input (so the main chain of the
    graph runs straight and side branches hang beside it), a dummy under its predecessor, and
    anything else (leaves, constants, ops fed only by them) above the mean of its users."""
    ups = [u for u in up.get(id(v), ()) if u.kind in ("op", "dummy")]
    if ups:
        deepest = max(u.depth for u in ups)
        main = [u.x for u in ups if u.depth == deepest]
        return sum(main) / len(main)
    ds = down.get(id(v))
    return sum(u.x for u in ds) / len(ds) if ds else v.x


def _gap(v: Any) -> float:
    return 6.0 if v.kind == "dummy" else _NODE_GAP


def _resolve(row: list[Any]) -> None:
    """Place a row at its desired centres (``pos``), in order, with minimum gaps: the mean of a
    left-to-right and a right-to-left constrained pass, then one more left-to-right pass."""
    n = len(row)
    if not n:
        return
    fwd = [0.0] * n
    right = -1e18
    for i, v in enumerate(row):
        fwd[i] = max(v.pos, right + v.w / 2)
        right = fwd[i] + v.w / 2 + _gap(v)
    bwd = [0.0] * n
    left = 1e18
    for i in range(n - 1, -1, -1):
        v = row[i]
        bwd[i] = min(v.pos, left - v.w / 2)
        left = bwd[i] - v.w / 2 - _gap(v)
    right = -1e18
    for i, v in enumerate(row):
        v.x = max((fwd[i] + bwd[i]) / 2, right + v.w / 2)
        right = v.x + v.w / 2 + _gap(v)


def _place_y(rows: list[list[Any]]) -> float:
    y = float(_MARGIN)
    for row in rows:
        h = max((v.h for v in row if v.kind != "dummy"), default=8.0)
        for v in row:
            v.y = y + h / 2
            if v.kind == "dummy":
                v.h = h
        y += h + _LAYER_GAP
    return y - _LAYER_GAP + _MARGIN


# -- SVG ------------------------------------------------------------------------------------------

_STYLE = """
  .node text { font: 11px ui-monospace, Menlo, Consolas, monospace; fill: #1d2733; }
  .node text.head { font-weight: bold; }
  .op rect { fill: #e8f1fb; stroke: #3d6fa8; stroke-width: 1.2; }
  .op.output rect { fill: #fde9d9; stroke: #c0504d; stroke-width: 2; }
  .leaf ellipse { fill: #fff6d5; stroke: #b8962e; stroke-width: 1.2; }
  .const ellipse { fill: #eeeeee; stroke: #999999; stroke-dasharray: 3 2; }
  .ref ellipse { fill: #fffbea; stroke: #b8962e; stroke-dasharray: 4 2; }
  .bad rect, .bad ellipse { fill: #f8d0d0; }
  .edge { fill: none; stroke: #7a8694; stroke-width: 1.1; }
"""


def _edge_path(a: _Item, via: list[_Item], b: _Item) -> str:
    pts = [(a.x, a.y + a.h / 2)]
    for d in via:
        pts.append((d.x, d.y - d.h / 2))
        pts.append((d.x, d.y + d.h / 2))
    pts.append((b.x, b.y - b.h / 2 - 2))
    out = [f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"]
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        if abs(x1 - x0) < 0.5 or y1 - y0 < 1:
            out.append(f"L{x1:.1f},{y1:.1f}")
        else:
            ym = (y0 + y1) / 2
            out.append(f"C{x0:.1f},{ym:.1f} {x1:.1f},{ym:.1f} {x1:.1f},{y1:.1f}")
    return " ".join(out)


def _is_bad(lines: list[str]) -> bool:
    return any("nan" in s or "inf" in s for s in lines[2:])


def _render(items: list[_Item], routes: list, width: float, height: float,
            root_uid: int) -> str:
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" class="chainrule-graph">',
           "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" "
           "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">"
           "<path d=\"M0,0 L10,5 L0,10 z\" fill=\"#7a8694\"/></marker></defs>",
           f"<style>{_STYLE}</style>",
           f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>']
    for a, via, b in routes:
        out.append(f'<path class="edge" d="{_edge_path(a, via, b)}" marker-end="url(#arrow)"/>')
    for i, it in enumerate(items):
        cls = it.kind + (" output" if it.uid == root_uid else "") + (
            " bad" if _is_bad(it.lines) else "")
        attrs = f'class="node {cls}" id="n{i}"'
        if it.kind == "op":
            attrs += f" data-op={quoteattr(it.obj.name)}"
        out.append(f"<g {attrs}><title>{escape(it.title)}</title>")
        x0, y0 = it.x - it.w / 2, it.y - it.h / 2
        if it.kind == "op":
            out.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{it.w:.1f}" height="{it.h:.1f}" '
                       'rx="7" ry="7"/>')
        else:
            out.append(f'<ellipse cx="{it.x:.1f}" cy="{it.y:.1f}" rx="{it.w / 2:.1f}" '
                       f'ry="{it.h / 2:.1f}"/>')
        ty = it.y - (len(it.lines) - 1) * _LINE_H / 2 + 4
        for k, line in enumerate(it.lines):
            cl = ' class="head"' if k == 0 else ""
            out.append(f'<text x="{it.x:.1f}" y="{ty + k * _LINE_H:.1f}" text-anchor="middle"'
                       f"{cl}>{escape(line)}</text>")
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


# -- the public object ----------------------------------------------------------------------------

class GraphDrawing:
    """A drawn graph: ``.svg`` (a string), ``to_html()``, ``save(path)``; shows itself in Jupyter.

    ``nodes`` counts the ops, leaves and constants drawn; ``width`` / ``height`` are in pixels.
    """

    def __init__(self, svg: str, width: float, height: float, nodes: int, title: str = "") -> None:
        self.svg = svg
        self.width = width
        self.height = height
        self.nodes = nodes
        self.title = title or "chainrule computation graph"

    def to_html(self) -> str:
        """A self-contained HTML page with the SVG inline (scrolls when the graph is large)."""
        return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                f"<title>{escape(self.title)}</title>"
                "<style>body{margin:0;font-family:sans-serif;background:#fff}"
                ".chainrule-graph-wrap{overflow:auto}</style></head><body>"
                f"<div class=\"chainrule-graph-wrap\">{self.svg}</div></body></html>\n")

    def _repr_svg_(self) -> str:
        return self.svg

    def _repr_html_(self) -> str:
        return f'<div style="overflow:auto;max-height:900px">{self.svg}</div>'

    def __repr__(self) -> str:
        return f"<GraphDrawing {self.nodes} nodes, {self.width:.0f}x{self.height:.0f} px>"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``.svg``, ``.html`` or ``.png`` (PNG: headless Chromium, else cairosvg)."""
        p = Path(path)
        ext = p.suffix.lower()
        if ext == ".svg":
            p.write_text(self.svg, encoding="utf-8")
        elif ext in (".html", ".htm"):
            p.write_text(self.to_html(), encoding="utf-8")
        elif ext == ".png":
            self._save_png(p)
        else:
            raise ValueError(f"GraphDrawing.save: unknown extension {ext!r} in {str(p)!r}; "
                             "use .svg, .html or .png")
        return p

    def _save_png(self, p: Path) -> None:
        if find_chromium() is None:
            try:
                import cairosvg  # type: ignore[import-not-found]
            except ImportError:
                raise RuntimeError(
                    f"GraphDrawing.save: writing PNG needs a renderer: {CHROMIUM_HINT}; or pip "
                    "install cairosvg. .svg and .html need nothing") from None
            cairosvg.svg2png(bytestring=self.svg.encode("utf-8"), write_to=str(p))
            return
        w, h = math.ceil(min(self.width, 16000)), math.ceil(min(self.height, 16000))
        screenshot(self.svg, p, width=w, height=h, timeout=120)


def draw(tensor: Tensor, params: Any = None, show: str = "values") -> GraphDrawing:
    """Draw the graph that produced ``tensor``, from its leaves (top) to it (bottom).

    ``params``: a Module (its ``named_parameters()``) or a dict ``name -> tensor`` naming the
    leaves. ``show``: ``"values"`` (mean/std of each output, or the value of a scalar),
    ``"grads"`` (the gradient of ``tensor`` w.r.t. each node's output and each leaf, computed
    without touching ``.grad``; for a graph already freed by ``backward()``, the leaves' ``.grad``)
    or ``"shapes"`` (shapes and dtypes only).
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"draw: expected a Tensor, got {type(tensor).__name__}")
    if show not in _SHOWS:
        raise ValueError(f"draw: show must be one of {', '.join(map(repr, _SHOWS))}, got {show!r}")
    items, outputs = _collect(tensor)
    root_uid = items[0].uid
    grads = _gradients(tensor, items) if show == "grads" else None
    _label(items, outputs, grads, _names(params), show, root_uid)
    _layers(items)
    count = len(items)
    items = _add_refs(items)
    rows, routes = _order(items)
    height = _place_y(rows)
    width = max((v.x + v.w / 2 for row in rows for v in row), default=0.0) + _MARGIN
    svg = _render(items, routes, width, height, root_uid)
    return GraphDrawing(svg, width, height, count)
