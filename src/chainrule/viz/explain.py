"""Backprop, step by step, with the numbers: as text tables, Markdown or one HTML page.

    print(cr.explain(loss, params=model))              # any scalar: the graph's steps
    print(explain_network(mazur_network(), [0.05, 0.10], [0.01, 0.99], lr=0.5))

``explain`` renders a :func:`~chainrule.viz.trace.trace` (each op's formula, its forward value,
and on the way back the incoming gradient, the local derivative and their product).
``explain_network`` does the same for a small MLP neuron by neuron, as the classic worked
examples do: z = w.x + b and a = act(z) forward, the loss, the deltas backward (with the sums
where a neuron feeds several others), every weight's gradient beside its finite-difference
estimate, and the gradient-descent update. ``format="html"`` adds the network figure (inline
SVG: the forward pass on the left-to-right panel, the gradients on the right-to-left one).
"""

from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.viz.trace import Trace, trace
from chainrule.viz.worked import worked

FORMATS = ("text", "markdown", "html")


# ---------------------------------------------------------------------------------- numbers

def num(v: Any, digits: int = 9) -> str:
    """A number as the tables print it (``digits`` significant figures)."""
    v = float(v)
    if v == 0:
        return "0"
    return f"{v:.{digits}g}"


def arr(a: Any, digits: int = 6, limit: int = 8) -> str:
    """A small array on one line, ``[1, 2, 3]``; a larger one summarised by its shape, its
    first values, its mean and its range: ``<2x1x8x8 float32> [0.1, -0.3, 0.7, ...] mean
    0.02, range [-2.1, 2.3]``."""
    if a is None:
        return ""
    if hasattr(a, "grads"):  # what reaches a split/unbind from its outputs, filed by index
        return _pieces(sorted(a.grads().items()), digits, limit)
    a = np.asarray(a)
    if a.dtype.kind not in "fiub":
        return "None" if a.ndim == 0 and a.item() is None else f"<{a.dtype} {a.shape}>"
    if a.ndim == 0:
        return num(a, digits)
    if a.size > limit:
        head = f"<{'x'.join(map(str, a.shape))} {a.dtype}>"
        f = a.astype(np.float64, copy=False).ravel()
        with np.errstate(all="ignore"):
            stats = f"mean {num(f.mean(), 3)}, range [{num(f.min(), 3)}, {num(f.max(), 3)}]"
        return f"{head} [{', '.join(num(v, 3) for v in f[:3])}, ...] {stats}"
    if a.ndim == 1 or (a.shape[0] == 1 and a.ndim == 2):
        return "[" + ", ".join(num(x, digits) for x in a.ravel()) + "]"
    return "[" + "; ".join(arr(r, digits, limit) for r in a) + "]"


def _pieces(pieces: list[tuple[int, Any]], digits: int, limit: int) -> str:
    """The gradients of a split's outputs: each piece when they hold at most ``limit`` numbers
    in all (or there is one), else one summary of them all, as a large array's:
    ``pieces 0-4 <5 x 2x12 float32> [0.1, ...] mean 0.02, range [-2.1, 2.3]``."""
    if len(pieces) == 1 or sum(np.size(g) for _, g in pieces) <= limit:
        return "; ".join(f"piece {k}: {arr(g, digits, limit)}" for k, g in pieces)
    runs: list[list[int]] = []
    for k, _ in pieces:
        if runs and runs[-1][1] == k - 1:
            runs[-1][1] = k
        else:
            runs.append([k, k])
    which = ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)
    shapes = {np.shape(g) for _, g in pieces}
    shape = "x".join(map(str, shapes.pop())) or "0-d" if len(shapes) == 1 else "mixed"
    flat = np.concatenate([np.ravel(np.asarray(g)) for _, g in pieces])
    body = arr(flat, digits, limit)  # "<n dtype> [first values, ...] mean m, range [lo, hi]"
    return f"pieces {which} <{len(pieces)} x {shape} {flat.dtype}>{body[body.index('>') + 1:]}"


# ---------------------------------------------------------------------------------- documents

@dataclass
class Doc:
    """A format-neutral document: headings, paragraphs, tables and (HTML only) figures."""

    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def h(self, text: str) -> None:
        self.blocks.append(("h", text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        self.blocks.append(("table", (header, [[str(c) for c in r] for r in rows])))

    def figure(self, svg: str) -> None:
        self.blocks.append(("figure", svg))

    def render(self, fmt: str, width: int | None = None) -> str:
        """The document as ``fmt``; text lines fit ``width`` columns when given (paragraphs
        wrap, wide table columns wrap inside their cells)."""
        if fmt not in FORMATS:
            raise ValueError(f"explain: unknown format {fmt!r}; expected one of {FORMATS}")
        if fmt == "text":
            return _text(self, width)
        return {"markdown": _markdown, "html": _html}[fmt](self)


MIN_WIDTH = 60


def _wrap(text: str, width: int | None) -> list[str]:
    if width is None or len(text) <= width:
        return [text]
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def _column_widths(w: list[int], floor: list[int], width: int) -> list[int]:
    """Narrow the widest columns (never below ``floor``: a number is never split) until the
    row fits ``width``."""
    w = list(w)
    while sum(w) + 2 * (len(w) - 1) > width:
        cols = [i for i in range(len(w)) if w[i] > floor[i]]
        if not cols:
            break
        i = max(cols, key=lambda j: w[j])
        w[i] -= 1
    return w


def _text(d: Doc, width: int | None = None) -> str:
    width = None if width is None else max(int(width), MIN_WIDTH)
    title = _wrap(d.title, width)
    out = [*title, "=" * max(len(t) for t in title), ""]
    for kind, body in d.blocks:
        if kind == "h":
            lines = _wrap(body, width)
            out += [*lines, "-" * max(len(t) for t in lines), ""]
        elif kind == "p":
            out += [*_wrap(body, width), ""]
        elif kind == "table":
            header, rows = body
            out += _table(header, rows, width)
    return "\n".join(out).rstrip() + "\n"


def _table(header: list[str], rows: list[list[str]], width: int | None) -> list[str]:
    """A table's lines. Too wide for ``width``: the widest text columns wrap inside their
    cells (numbers never split); still too wide: the columns go into several tables, each
    repeating the first column."""
    w = [max(len(x) for x in col) for col in zip(header, *rows)]
    numeric = [bool(rows) and all(_is_num(r[i]) for r in rows) for i in range(len(header))]
    if width is not None:
        floor = [max((len(r[i]) for r in rows), default=1) if numeric[i] else min(w[i], 14)
                 for i in range(len(w))]
        w = _column_widths(w, floor, width)
        if sum(w) + 2 * (len(w) - 1) > width and len(w) > 2:
            groups: list[list[int]] = [[]]
            used = w[0]
            for i in range(1, len(w)):
                if groups[-1] and used + 2 + w[i] > width:
                    groups.append([])
                    used = w[0]
                groups[-1].append(i)
                used += 2 + w[i]
            if len(groups) > 1:
                out: list[str] = []
                for g in groups:
                    cols = [0, *g]
                    out += _table([header[i] for i in cols], [[r[i] for i in cols] for r in rows],
                                  width)
                return out
    wrapped = [_cells(r, w) for r in rows]
    spaced = any(len(lines) > 1 for lines in wrapped)
    out = [_line(cells, w, numeric) for cells in _cells(header, w)]
    out.append("  ".join("-" * x for x in w))
    for lines in wrapped:
        out += [_line(cells, w, numeric) for cells in lines]
        if spaced:  # rows that wrap are told apart by a blank line
            out.append("")
    if not spaced:
        out.append("")
    return out


def _cells(row: list[str], w: list[int]) -> list[list[str]]:
    """One row as physical lines: each cell wrapped to its column's width."""
    parts = [textwrap.wrap(c, w[i], break_on_hyphens=False) if len(c) > w[i] else [c]
             for i, c in enumerate(row)]
    height = max(len(p) for p in parts)
    return [[p[k] if k < len(p) else "" for p in parts] for k in range(height)]


def _line(cells: list[str], w: list[int], numeric: list[bool]) -> str:
    return "  ".join(c.rjust(w[i]) if numeric[i] else c.ljust(w[i])
                     for i, c in enumerate(cells)).rstrip()


def _is_num(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|")


def _markdown(d: Doc) -> str:
    out = [f"# {d.title}", ""]
    for kind, body in d.blocks:
        if kind == "h":
            out += [f"## {body}", ""]
        elif kind == "p":
            out += [body, ""]
        elif kind == "table":
            header, rows = body
            out.append("| " + " | ".join(_md_cell(c) for c in header) + " |")
            out.append("|" + "|".join("---:" if rows and all(_is_num(r[i]) for r in rows)
                                      else "---" for i in range(len(header))) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;
max-width:1100px;color:#1d2330;line-height:1.45;padding:0 16px}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;
border-bottom:1px solid #dde;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #d5d9e3;padding:3px 8px;text-align:left}
th{background:#f1f3f8}td.n{text-align:right;font-family:ui-monospace,Menlo,Consolas,monospace}
p{margin:.5em 0}code{background:#f1f3f8;padding:0 3px}
figure{margin:.8em 0}svg text{font-family:system-ui,sans-serif}
"""


def _html(d: Doc) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8"/>',
           f"<title>{e(d.title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
           f"<h1>{e(d.title)}</h1>"]
    for kind, body in d.blocks:
        if kind == "h":
            out.append(f"<h2>{e(body)}</h2>")
        elif kind == "p":
            out.append(f"<p>{e(body)}</p>")
        elif kind == "figure":
            out.append(f"<figure>{body}</figure>")
        elif kind == "table":
            header, rows = body
            out.append("<table>")
            out.append("<tr>" + "".join(f"<th>{e(c)}</th>" for c in header) + "</tr>")
            for r in rows:
                out.append("<tr>" + "".join(
                    f'<td class="n">{e(c)}</td>' if _is_num(c) else f"<td>{e(c)}</td>"
                    for c in r) + "</tr>")
            out.append("</table>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------- any graph

def explain_trace(t: Trace, title: str = "Backprop, step by step", params: Any = None) -> Doc:
    """The document for a trace: leaves, forward steps, backward steps (and the worked numbers
    of the ops that have them), accumulations, the leaves' gradients and, with ``params``,
    the parameters the gradient does not reach."""
    d = Doc(title)
    d.h("Inputs (leaves)")
    d.table(["name", "shape", "dtype", "requires grad", "value"],
            [[lf.name, str(lf.shape), lf.dtype, "yes" if lf.requires_grad else "no",
              arr(lf.value)] for lf in t.leaves])
    d.h("Forward pass (topological order, inputs first)")
    d.table(["step", "op", "inputs", "shape", "dtype", "value"],
            [[s.name, s.op, ", ".join(i.source for i in s.inputs), str(s.shape), s.dtype,
              arr(s.value)] for s in t.steps])
    if not t.backward:
        d.p("The output is not a scalar: no backward pass was traced.")
        return d
    d.h("Backward pass (from the output back to the inputs)")
    d.p("For each step: the incoming gradient g = d out_root / d step, the local derivative "
        "d step / d input (the op's formula), and their product, sent to the input.")
    rows = []
    for s in reversed(t.steps):
        if s.grad is None:
            continue
        first = True
        for i in s.inputs:
            if i.product is None:
                continue
            head = [s.name, s.op, s.formula, arr(s.grad)] if first else ["", "", "", ""]
            rows.append([*head, i.source, i.local_kind and f"{arr(i.local)} ({i.local_kind})",
                         arr(i.product)])
            first = False
    d.table(["step", "op", "local derivative (formula)", "incoming gradient", "to input",
             "local derivative", "product"], rows)
    for s in reversed(t.steps):
        for heading, text, header, body in worked(s) or ():
            if heading:
                d.h(heading)
            if text:
                d.p(text)
            if header:
                d.table(header, body)
    acc = t.accumulations()
    if acc:
        d.h("Accumulation (a value used several times: its gradients add up)")
        d.table(["value", "from", "contribution", "total"],
                [[name, c, arr(g), arr(sum(x for _, x in uses)) if k == len(uses) - 1 else ""]
                 for name, uses in acc for k, (c, g) in enumerate(uses)])
    d.h("Gradients of the leaves")
    d.table(["leaf", "shape", "norm", "gradient"],
            [[n, str(np.shape(g)), num(np.linalg.norm(np.asarray(g, dtype=np.float64)), 6),
              arr(g)] for n, g in t.grads().items()])
    if hasattr(params, "named_modules"):
        _moe_sections(d, t, params)
    if params is not None:
        rows = reach(t, params)
        if any(r[2] != "reached" for r in rows):
            d.h("Parameters the gradient does not reach")
            d.p("A parameter that the loss does not depend on gets no gradient (it is not in "
                "the graph: its .grad stays None after backward) or a zero one (it is in the "
                "graph, but every path to it multiplies by zero).")
            d.table(["parameter", "shape", "gradient"], [r for r in rows if r[2] != "reached"])
    return d


def _moe_sections(d: Doc, t: Trace, model: Any) -> None:
    """For each MixtureOfExperts in ``model``: which experts each token went to, and the
    gradient each expert (and the router) received: only the chosen experts get one."""
    from chainrule.nn import MixtureOfExperts

    grads = t.grads()
    for name, m in model.named_modules():
        if not isinstance(m, MixtureOfExperts) or m.last_routing is None:
            continue
        pre = f"{name}." if name else ""
        r = m.last_routing
        experts, gates = r.experts.numpy(), r.gates.detach().numpy()
        kept = r.kept.numpy()
        d.h(f"Mixture of experts{' ' + repr(name) if name else ''}: routing and gradients")
        d.p(f"Each token goes to its top {m.k} of {m.num_experts} experts (router logits -> "
            "top-k); the output is the gate-weighted sum of the chosen experts' outputs. On "
            "the way back only the chosen experts are in the graph, so only they (and the "
            "router, through the gates) receive a gradient.")
        d.table(["token", "experts (gate)"],
                [[str(i), ", ".join(f"{e} ({num(gt, 4)})" + ("" if kp else " dropped")
                                    for e, gt, kp in zip(experts[i], gates[i], kept[i]))]
                 for i in range(experts.shape[0])])
        rows = []
        owners = [(f"expert {e}", f"{pre}experts.{e}.", int((experts == e).sum()))
                  for e in range(m.num_experts)] + [("router", f"{pre}router.", -1)]
        for label, prefix, tokens in owners:
            gs = [g for n, g in grads.items() if n.startswith(prefix)]
            norm = float(np.sqrt(sum(float(np.sum(np.asarray(g, np.float64) ** 2)) for g in gs)))
            rows.append([label, "all" if tokens < 0 else str(tokens),
                         num(norm, 6) if gs else "none (not in the graph)"])
        d.table(["module", "tokens routed", "gradient norm (its parameters)"], rows)


def reach(t: Trace, params: Any) -> list[list[str]]:
    """``[name, shape, status]`` for each parameter of ``params`` that requires grad: status
    ``reached`` (a nonzero gradient), ``zero`` or ``none (not in the graph)``."""
    items = params.named_parameters() if hasattr(params, "named_parameters") else params.items()
    grads = t.grads()
    rows = []
    for name, p in items:
        if not getattr(p, "requires_grad", False):
            continue
        g = grads.get(name)
        status = ("none (not in the graph)" if g is None else
                  "zero" if not np.any(g) else "reached")
        rows.append([name, str(tuple(p.shape)), status])
    return rows


def explain(tensor: Any, params: Any = None, format: str = "text",
            width: int | None = None) -> str:
    """The step-by-step forward/backward explanation of the graph behind scalar ``tensor``
    (``params``: a Module or a dict name -> tensor that names the leaves; ``width``: text
    lines fit that many columns, at least 60).

    Large tensors are summarised (shape, first values, mean, range); some ops add their
    backward written out with the numbers (:mod:`chainrule.viz.worked`: the convolution's);
    with ``params``, the parameters the gradient does not reach are listed."""
    t = trace(tensor, params=params)
    return explain_trace(t, params=params).render(format, width)


# ---------------------------------------------------------------------------------- networks

MAZUR = {"sizes": [2, 2, 2], "inputs": [0.05, 0.10], "targets": [0.01, 0.99],
         "weights": [[[0.15, 0.20], [0.25, 0.30]], [[0.40, 0.45], [0.50, 0.55]]],
         "biases": [0.35, 0.60], "lr": 0.5}
"""Matt Mazur's worked example ("A Step by Step Backpropagation Example", 2015)."""

_ACT_FORMULA = {"sigmoid": "a = sigmoid(z) = 1 / (1 + exp(-z));  da/dz = a (1 - a)",
                "tanh": "a = tanh(z);  da/dz = 1 - a^2",
                "relu": "a = max(z, 0);  da/dz = 1 if z > 0 else 0",
                "identity": "a = z;  da/dz = 1"}


def mazur_network() -> Any:
    """The 2-2-2 sigmoid network of Mazur's example, in float64, as an ``nn.MLP``."""
    from chainrule import nn
    from chainrule.autograd.factories import tensor
    from chainrule.autograd.grad_mode import no_grad

    m = nn.MLP(MAZUR["sizes"], activation="sigmoid", output_activation="sigmoid",
               dtype="float64")
    with no_grad():
        for lin, w, b in zip([m[0], m[2]], MAZUR["weights"], MAZUR["biases"]):
            lin.weight.copy_(tensor(w, dtype="float64"))
            lin.bias.copy_(tensor([b, b], dtype="float64"))
    return m


@dataclass
class _Layer:
    pname: str  # the Linear's name in the model ("0" for "0.weight")
    w: np.ndarray
    b: np.ndarray | None
    act: Any  # callable on tensors, or None
    act_name: str


def _layers(model: Any) -> list[_Layer]:
    """The model as Linear + activation pairs (Dropout and Identity are skipped)."""
    from chainrule import nn

    layers: list[_Layer] = []
    for name, m in model.named_children() if hasattr(model, "named_children") else []:
        if isinstance(m, nn.Linear):
            bias = None if m.bias is None else m.bias.detach().numpy().astype(np.float64)
            layers.append(_Layer(name, m.weight.detach().numpy().astype(np.float64), bias,
                                 None, "identity"))
        elif isinstance(m, (nn.Dropout, nn.Identity)):
            continue
        elif layers and layers[-1].act is None:
            layers[-1].act, layers[-1].act_name = m, type(m).__name__.lower()
        else:
            raise ValueError(f"explain: cannot explain {type(m).__name__} at {name!r}: expected "
                             "Linear layers, each followed by at most one activation")
    if not layers:
        raise ValueError(f"explain: {type(model).__name__} has no Linear layers to explain")
    return layers


def _neuron_names(sizes: list[int]) -> list[list[str]]:
    hidden = len(sizes) - 2
    names = [[f"x{j + 1}" for j in range(sizes[0])]]
    for li in range(1, len(sizes) - 1):
        pre = "h" if hidden == 1 else f"h{li}_"
        names.append([f"{pre}{j + 1}" for j in range(sizes[li])])
    names.append([f"o{j + 1}" for j in range(sizes[-1])])
    return names


def _loss_fn(loss: str) -> Any:
    from chainrule.nn import functional as F

    if loss == "mse":
        return F.mse_loss
    if loss == "cross-entropy":
        return F.cross_entropy
    raise ValueError(f"explain: unknown loss {loss!r}; expected 'mse' or 'cross-entropy'")


def _forward(layers: list[_Layer], ws: list[Any], bs: list[Any], x: Any,
             keep: list | None = None) -> Any:
    from chainrule.nn import functional as F

    a = x
    for lay, w, b in zip(layers, ws, bs):
        z = F.linear(a, w, b)
        a = lay.act(z) if lay.act is not None else z
        if keep is not None:
            keep.append((z, a))
    return a


@dataclass
class NetworkRun:
    """Every number of one forward/backward/update step of a small MLP (float64)."""

    sizes: list[int]
    names: list[list[str]]  # neuron names per layer (x.., h.., o..)
    layers: list[_Layer]
    x: np.ndarray
    y: np.ndarray
    loss_name: str
    loss: float
    lr: float
    z: list[np.ndarray]  # pre-activations per layer
    a: list[np.ndarray]  # activations per layer (a[0] = x)
    da: list[np.ndarray]  # dE/da per layer (a[1:])
    dz: list[np.ndarray]  # deltas dE/dz per layer
    gw: list[np.ndarray]  # engine gradients (w.grad)
    gb: list[np.ndarray | None]
    fw: list[np.ndarray]  # finite-difference estimates (central, float64)
    fb: list[np.ndarray | None]
    trace: Trace
    params: dict[str, Any]

    def weights(self) -> list[dict[str, Any]]:
        """One record per weight and bias (Mazur's numbering w1, w2, ..., b1, b2, ...)."""
        out: list[dict[str, Any]] = []
        k = 0
        for li, lay in enumerate(self.layers):
            for j in range(lay.w.shape[0]):
                for i in range(lay.w.shape[1]):
                    k += 1
                    g = float(self.gw[li][j, i])
                    out.append({"name": f"w{k}", "param": f"{lay.pname}.weight[{j},{i}]",
                                "src": self.names[li][i], "dst": self.names[li + 1][j],
                                "layer": li, "j": j, "i": i, "value": float(lay.w[j, i]),
                                "grad": g, "fd": float(self.fw[li][j, i]),
                                "new": float(lay.w[j, i]) - self.lr * g})
        k = 0
        for li, lay in enumerate(self.layers):
            if lay.b is None:
                continue
            for j in range(lay.b.shape[0]):
                k += 1
                g = float(self.gb[li][j])  # type: ignore[index]
                out.append({"name": f"b{k}", "param": f"{lay.pname}.bias[{j}]", "src": "bias",
                            "dst": self.names[li + 1][j], "layer": li, "j": j, "i": -1,
                            "value": float(lay.b[j]), "grad": g,
                            "fd": float(self.fb[li][j]),  # type: ignore[index]
                            "new": float(lay.b[j]) - self.lr * g})
        return out


def run_network(model: Any, inputs: Any, targets: Any, loss: str = "mse",
                lr: float = 0.5, eps: float = 1e-6) -> NetworkRun:
    """Forward, backward (the engine's), finite differences and the SGD update of ``model``
    on one example, all in float64 (the model itself is not changed)."""
    from chainrule.autograd.factories import tensor
    from chainrule.autograd.gradcheck import finite_difference

    layers = _layers(model)
    sizes = [layers[0].w.shape[1]] + [lay.w.shape[0] for lay in layers]
    x = np.asarray(inputs, dtype=np.float64).reshape(1, -1)
    if x.shape[1] != sizes[0]:
        raise ValueError(f"explain: the network takes {sizes[0]} inputs, got {x.shape[1]} "
                         f"({arr(x)})")
    fn = _loss_fn(loss)
    yt = np.asarray(targets)
    if loss == "cross-entropy" and yt.size == 1 and sizes[-1] > 1:
        c = int(yt.ravel()[0])
        if not 0 <= c < sizes[-1] or c != float(yt.ravel()[0]):
            raise ValueError(f"explain: target class {yt.ravel()[0]} is not one of "
                             f"0..{sizes[-1] - 1}")
        y = np.asarray([c], dtype=np.int64)
    else:
        y = yt.astype(np.float64).reshape(1, -1)
        if y.shape[1] != sizes[-1]:
            raise ValueError(f"explain: the network has {sizes[-1]} outputs, got {y.shape[1]} "
                             f"targets ({arr(y)})")
    xt, ytt = tensor(x), tensor(y)
    ws = [tensor(lay.w, requires_grad=True) for lay in layers]
    bs = [None if lay.b is None else tensor(lay.b, requires_grad=True) for lay in layers]
    params: dict[str, Any] = {"x": xt, "target": ytt}
    for lay, w, b in zip(layers, ws, bs):
        params[f"{lay.pname}.weight"] = w
        if b is not None:
            params[f"{lay.pname}.bias"] = b
    keep: list = []
    out = _forward(layers, ws, bs, xt, keep)
    e = fn(out, ytt)
    for z, a in keep:
        z.retain_grad()
        if a is not z:
            a.retain_grad()
    tr = trace(e, params=params)
    e.backward()
    flat = [t for pair in zip(ws, bs) for t in pair if t is not None]

    def loss_of(*ps: Any) -> Any:
        it = iter(ps)
        w2, b2 = [], []
        for b in bs:
            w2.append(next(it))
            b2.append(None if b is None else next(it))
        return fn(_forward(layers, w2, b2, xt), ytt)

    fd = list(finite_difference(loss_of, [tensor(p.detach().numpy()) for p in flat], eps=eps))
    fw, fb = [], []
    for b in bs:
        fw.append(fd.pop(0).detach().numpy())
        fb.append(None if b is None else fd.pop(0).detach().numpy())
    return NetworkRun(
        sizes=sizes, names=_neuron_names(sizes), layers=layers, x=x, y=y, loss_name=loss,
        loss=float(e.item()), lr=float(lr), z=[z.detach().numpy()[0] for z, _ in keep],
        a=[x[0]] + [a.detach().numpy()[0] for _, a in keep],
        da=[a.grad.numpy()[0] for _, a in keep], dz=[z.grad.numpy()[0] for z, _ in keep],
        gw=[w.grad.numpy() for w in ws], gb=[None if b is None else b.grad.numpy() for b in bs],
        fw=fw, fb=fb, trace=tr, params=params)


def _dot_terms(w: np.ndarray, a: np.ndarray, b: float | None, limit: int = 4) -> str:
    terms = [f"{num(wi, 6)}*{num(ai, 6)}" for wi, ai in zip(w, a)]
    if len(terms) > limit:
        terms = [*terms[:limit - 1], f"... ({len(w)} terms)"]
    s = " + ".join(terms)
    return s if b is None else f"{s} + {num(b, 6)}"


def _loss_text(r: NetworkRun) -> str:
    o = r.a[-1]
    if r.loss_name == "mse":
        t = r.y[0]
        parts = " + ".join(f"({num(oi, 6)} - {num(ti, 6)})^2" for oi, ti in zip(o, t))
        return (f"E = mse(o, t) = mean((o - t)^2) = ({parts}) / {len(o)} = {num(r.loss)}")
    if r.y.dtype.kind == "i":
        c = int(r.y[0])
        return (f"E = cross_entropy(o, class {c}) = -log softmax(o)[{c}] = "
                f"logsumexp({arr(o)}) - ({num(o[c], 6)}) = {num(r.loss)}")
    return f"E = cross_entropy(o, t) = -sum t * log softmax(o) = {num(r.loss)}"


def _target_row(r: NetworkRun) -> np.ndarray:
    if r.y.dtype.kind == "i":
        return np.eye(r.sizes[-1])[int(r.y[0])]
    return r.y[0]


def _backward_neurons(r: NetworkRun) -> list[list[str]]:
    rows = []
    n_layers = len(r.layers)
    for li in range(n_layers - 1, -1, -1):
        lay = r.layers[li]
        for j, name in enumerate(r.names[li + 1]):
            a, z, da, dz = r.a[li + 1][j], r.z[li][j], r.da[li][j], r.dz[li][j]
            if li == n_layers - 1:
                t = _target_row(r)[j]
                if r.loss_name == "mse":
                    how = (f"2 ({num(a, 6)} - {num(t, 6)}) / {r.sizes[-1]}")
                else:
                    how = f"softmax(o){j + 1} - t{j + 1} (through the softmax)"
                feeds = "the loss"
            else:
                nxt = r.layers[li + 1]
                terms = [f"{num(r.dz[li + 1][k], 6)}*{num(nxt.w[k, j], 6)}"
                         for k in range(nxt.w.shape[0])]
                if len(terms) > 4:
                    terms = [*terms[:3], f"... ({len(terms)} terms)"]
                how = "sum of delta*w: " + " + ".join(terms)
                feeds = ", ".join(r.names[li + 2]) if nxt.w.shape[0] <= 6 else \
                    f"{nxt.w.shape[0]} neurons"
            if lay.act_name == "sigmoid":
                local = f"{num(a, 6)}*(1 - {num(a, 6)}) = {num(a * (1 - a), 6)}"
            elif lay.act_name == "tanh":
                local = f"1 - {num(a, 6)}^2 = {num(1 - a * a, 6)}"
            elif lay.act is None:
                local = "1 (no activation)"
            else:
                local = num(dz / da, 6) if da != 0 else f"{lay.act_name}'({num(z, 6)})"
            rows.append([name, feeds, how, num(da), local, num(dz)])
    return rows


def network_doc(r: NetworkRun, title: str = "Backprop, step by step") -> Doc:
    """The document for one step of a small network (see the module docstring)."""
    d = Doc(title)
    acts = [lay.act_name for lay in r.layers]
    d.p(f"Network {'-'.join(map(str, r.sizes))}; activations {', '.join(acts)}; "
        f"loss {r.loss_name}; learning rate {num(r.lr)}; one example: inputs {arr(r.x[0])}, "
        f"targets {arr(r.y[0])}. All numbers in float64.")
    ws = r.weights()
    small = sum(r.sizes) <= 24
    if small:
        d.figure(network_svg(r, ws))
    d.h("Weights and biases")
    d.table(["name", "parameter", "from", "to", "value"],
            [[w["name"], w["param"], w["src"], w["dst"], num(w["value"])] for w in ws])
    d.h("Forward pass, neuron by neuron")
    rows = []
    for li, lay in enumerate(r.layers):
        for j, name in enumerate(r.names[li + 1]):
            b = None if lay.b is None else lay.b[j]
            rows.append([name, f"z = {_dot_terms(lay.w[j], r.a[li], b)}", num(r.z[li][j]),
                         f"a = {lay.act_name}(z)", num(r.a[li + 1][j])])
    d.table(["neuron", "z = w.x + b", "z", "a = act(z)", "a"], rows)
    d.h("Loss")
    d.p(_loss_text(r))
    d.h("Backward pass, node by node (the recorded graph, output first)")
    d.p("Each step of the graph receives the gradient of the loss with respect to its output "
        "(incoming gradient), multiplies it by its local derivative (the op's formula) and "
        "sends the product to each input.")
    t = r.trace
    brows = []
    for s in reversed(t.steps):
        if s.grad is None:
            continue
        first = True
        for i in s.inputs:
            if i.product is not None:
                head = [f"{s.name} = {s.op}({', '.join(x.source for x in s.inputs)})",
                        s.formula, arr(s.grad)] if first else ["", "", ""]
                brows.append([*head, i.source, i.local_kind and arr(i.local), arr(i.product)])
                first = False
    d.table(["step", "local derivative (formula)", "incoming gradient", "to",
             "local derivative", "product"], brows)
    d.h("Backward pass, neuron by neuron")
    d.p("delta = dE/dz = dE/da * da/dz. A neuron that feeds several neurons sums what each "
        "sends back (the gradients accumulate): dE/da = sum over k of delta_k * w_k.")
    d.table(["neuron", "feeds", "dE/da", "dE/da value", "da/dz", "delta = dE/dz"],
            _backward_neurons(r))
    d.h("Gradients, finite-difference check and gradient-descent update")
    d.p(f"dE/dw = delta(to) * a(from); the finite-difference estimate is "
        f"(E(w + h) - E(w - h)) / 2h with h = 1e-6 in float64; the update is "
        f"w - {num(r.lr)} * dE/dw.")
    grows = []
    for w in ws:
        li, j, i = w["layer"], w["j"], w["i"]
        a_src = 1.0 if i < 0 else r.a[li][i]
        grows.append([w["name"], w["param"],
                      f"{num(r.dz[li][j], 6)}*{num(a_src, 6)}", num(w["grad"]), num(w["fd"]),
                      f"{abs(w['grad'] - w['fd']):.1e}", num(w["value"]), num(w["new"])])
    d.table(["name", "parameter", "delta*a", "dE/dw (backprop)", "finite difference",
             "|difference|", "value", "updated"], grows)
    return d


def explain_network(model: Any, inputs: Any, targets: Any, loss: str = "mse", lr: float = 0.5,
                    format: str = "text", title: str = "Backprop, step by step",
                    width: int | None = None) -> str:
    """One training step of a small MLP explained neuron by neuron (see the module docstring);
    ``width``: text lines fit that many columns (at least 60)."""
    return network_doc(run_network(model, inputs, targets, loss, lr), title).render(format,
                                                                                   width)


# ---------------------------------------------------------------------------------- figure

CHAR_EM = 0.64  # the advance of a digit in DejaVu Sans / system sans fonts, in em (widest)
RADIUS = 30.0
ROW = 92.0  # vertical distance between neurons of one layer


@dataclass
class Label:
    """A text placed at ``(x, y)`` (baseline, centred), with the box it is estimated to fill."""

    text: str
    x: float
    y: float
    size: float
    fill: str = "#222"
    bold: bool = False

    @property
    def box(self) -> tuple[float, float, float, float]:
        w = len(self.text) * CHAR_EM * self.size
        return (self.x - w / 2, self.y - 0.8 * self.size, self.x + w / 2, self.y + 0.25 * self.size)


@dataclass
class PanelLayout:
    """Where everything of one panel goes: circles ``(name, x, y)``, the value in each circle,
    the edge labels (and the edges whose label found no free place), the other texts."""

    circles: list[tuple[str, float, float]]
    values: list[Label]
    edge_labels: list[Label]
    texts: list[Label]
    edges: list[tuple[float, float, float, float]]
    left_out: int


def _overlap(a: tuple[float, ...], b: tuple[float, ...], pad: float = 1.0) -> bool:
    return a[0] < b[2] + pad and b[0] < a[2] + pad and a[1] < b[3] + pad and b[1] < a[3] + pad


def _fit_value(text: str, x: float, y: float) -> Label:
    """The value inside a circle, in the largest font (<= 11 px) whose width fits the chord of
    the circle at the text's height."""
    dy = 13.0  # baseline below the centre; the text spans about [dy - 0.8 s, dy + 0.25 s]
    size = 11.0
    while size > 7.0:
        half = (RADIUS ** 2 - (dy + 0.25 * size) ** 2) ** 0.5 - 2
        if len(text) * CHAR_EM * size <= 2 * half:
            break
        size -= 0.5
    return Label(text, x, y + dy, size)


def panel_layout(r: NetworkRun, ws: list[dict[str, Any]], y0: float, width: float,
                 height: float, backward: bool) -> PanelLayout:
    """The geometry of one panel (see ``network_svg``), computed so that texts do not overlap:
    each edge label takes the first free place along its edge, or is left out (the tables
    below the figure list every value)."""
    gap = width / len(r.sizes)
    pos: dict[str, tuple[float, float]] = {}
    for c, names in enumerate(r.names):
        top = y0 + 78 + (height - 120 - ROW * len(names)) / 2
        for k, name in enumerate(names):
            pos[name] = (gap * (c + 0.5), top + (k + 0.5) * ROW)
    circles, values, texts = [], [], []
    for c, names in enumerate(r.names):
        for k, name in enumerate(names):
            x, y = pos[name]
            if c == 0:
                val, sub = num(r.a[0][k], 4), "input"
            elif backward:
                val, sub = num(r.dz[c - 1][k], 4), f"dE/da = {num(r.da[c - 1][k], 4)}"
            else:
                val, sub = num(r.a[c][k], 4), f"z = {num(r.z[c - 1][k], 4)}"
            circles.append((name, x, y))
            values.append(_fit_value(val, x, y))
            texts.append(Label(name, x, y - 3, 13, bold=True))
            texts.append(Label(sub, x, y + RADIUS + 14, 11, fill="#555"))
        if c > 0 and r.layers[c - 1].b is not None:
            items = [f"{w['name']} = {num(w['grad'] if backward else w['value'], 4)}"
                     for w in ws if w["i"] < 0 and w["layer"] == c - 1]
            lines = [("dE/db: " if backward else "bias: ")]
            for item in items:  # lines no wider than the column: neighbours never touch
                more = f"{lines[-1]}, {item}" if lines[-1][-2:] != ": " else lines[-1] + item
                if len(more) * CHAR_EM * 11 > gap - 12 and lines[-1][-2:] != ": ":
                    lines.append(item)
                else:
                    lines[-1] = more
            for k, line in enumerate(lines[:4]):
                texts.append(Label(line, pos[names[0]][0], y0 + 46 + 13 * k, 11, fill="#555"))
    obstacles = [(x - RADIUS - 2, y - RADIUS - 2, x + RADIUS + 2, y + RADIUS + 2)
                 for _, x, y in circles] + [t.box for t in texts]
    edges, labels, left_out = [], [], 0
    tries = (0.3, 0.42, 0.54, 0.66, 0.22, 0.36, 0.48, 0.6, 0.72, 0.16, 0.78)
    for w in ws:
        if w["i"] < 0:
            continue
        (xa, ya), (xb, yb) = pos[w["src"]], pos[w["dst"]]
        d = float(np.hypot(xb - xa, yb - ya))
        ux, uy = (xb - xa) / d, (yb - ya) / d
        if backward:
            edges.append((xb - ux * RADIUS, yb - uy * RADIUS,
                          xa + ux * (RADIUS + 3), ya + uy * (RADIUS + 3)))
        else:
            edges.append((xa + ux * RADIUS, ya + uy * RADIUS,
                          xb - ux * (RADIUS + 3), yb - uy * (RADIUS + 3)))
        text = f"{w['name']} = {num(w['grad'] if backward else w['value'], 4)}"
        for f in tries:
            f = 1 - f if backward else f  # near the arrow's tail, away from the crossings
            lab = Label(text, xa + (xb - xa) * f, ya + (yb - ya) * f + 4, 11.5)
            if not any(_overlap(lab.box, o) for o in obstacles):
                labels.append(lab)
                obstacles.append(lab.box)
                break
        else:
            left_out += 1
    return PanelLayout([(n, x, y) for n, x, y in circles], values, labels, texts, edges,
                       left_out)


def _text_svg(t: Label, halo: bool = False) -> str:
    extra = ' stroke="#fff" stroke-width="4" paint-order="stroke"' if halo else ""
    bold = ' font-weight="bold"' if t.bold else ""
    return (f'<text x="{t.x:.1f}" y="{t.y:.1f}" text-anchor="middle" font-size="{t.size:g}" '
            f'fill="{t.fill}"{bold}{extra}>{html.escape(t.text)}</text>')


def _panel(r: NetworkRun, ws: list[dict[str, Any]], y0: float, width: float, height: float,
           backward: bool) -> list[str]:
    e = html.escape
    colour = "#c0392b" if backward else "#1f5fa8"
    lay = panel_layout(r, ws, y0, width, height, backward)
    if backward:
        title = "Backward pass, right to left: delta = dE/dz in the neurons, dE/dw on the edges"
    else:
        title = "Forward pass, left to right: a = act(w.x + b) in the neurons, weights on the edges"
    out = [f'<rect x="0" y="{y0:.0f}" width="{width:.0f}" height="{height:.0f}" '
           f'fill="{"#fffafa" if backward else "#fafcff"}" stroke="#d5d9e3"/>',
           f'<text x="14" y="{y0 + 24:.0f}" font-size="15" font-weight="bold" '
           f'fill="{colour}">{e(title)}</text>']
    for sx, sy, tx, ty in lay.edges:
        out.append(f'<line x1="{sx:.1f}" y1="{sy:.1f}" x2="{tx:.1f}" y2="{ty:.1f}" '
                   f'stroke="{colour}" stroke-opacity="0.6" stroke-width="1.6" '
                   f'marker-end="url(#arrow{"b" if backward else "f"})"/>')
    out += [_text_svg(t, halo=True) for t in lay.edge_labels]
    for _name, x, y in lay.circles:
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{RADIUS:g}" '
                   f'fill="{"#fbecea" if backward else "#eaf1fb"}" stroke="{colour}" '
                   'stroke-width="2"/>')
    out += [_text_svg(t) for t in lay.texts] + [_text_svg(t) for t in lay.values]
    x = width - 14
    msg = f"loss E = {num(r.loss, 6)}" if backward else f"targets {arr(r.y[0], 4)}"
    if lay.left_out:
        msg = f"{lay.left_out} edge labels left out (no free place; see the tables); " + msg
    out.append(f'<text x="{x:.1f}" y="{y0 + height - 12:.0f}" text-anchor="end" '
               f'font-size="12" fill="{colour}">{e(msg)}</text>')
    return out


def network_svg(r: NetworkRun, ws: list[dict[str, Any]] | None = None) -> str:
    """The network as an inline SVG: the forward panel (blue, left to right) above the
    backward panel (red, right to left)."""
    ws = r.weights() if ws is None else ws
    height = 140 + max(r.sizes) * ROW
    width = max(900.0, 260.0 * len(r.sizes))
    total = 2 * height + 16
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{total:.0f}" '
             f'viewBox="0 0 {width:.0f} {total:.0f}" role="img" aria-label="network figure">',
             "<defs>"]
    for key, colour in (("f", "#1f5fa8"), ("b", "#c0392b")):
        parts.append(f'<marker id="arrow{key}" viewBox="0 0 10 10" refX="9" refY="5" '
                     f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
                     f'<path d="M 0 0 L 10 5 L 0 10 z" fill="{colour}"/></marker>')
    parts.append("</defs>")
    parts += _panel(r, ws, 0, width, height, backward=False)
    parts += _panel(r, ws, height + 16, width, height, backward=True)
    parts.append("</svg>")
    return "\n".join(parts)
