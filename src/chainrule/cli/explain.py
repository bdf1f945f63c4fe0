"""``chainrule explain``: one training step of a small network, every number shown.

    chainrule explain                                  # Mazur's 2-2-2 sigmoid example
    chainrule explain --format html --out step.html    # one page with the network figure
    chainrule explain --sizes 3,4,2 --activation tanh --seed 1 --inputs 1,0,-1 --targets 0,1
    chainrule explain --checkpoint runs/xor/model.ckpt --inputs 0,1 --targets 1

Forward pass neuron by neuron (z = w.x + b, a = act(z)), the loss, the backward pass node by
node and neuron by neuron, each weight's gradient beside its finite-difference estimate, and
the gradient-descent update. Without --sizes/--checkpoint the weights are those of Matt
Mazur's "A Step by Step Backpropagation Example", so the numbers can be checked against it
(with another --loss or --activation the weights are random, and the output says so). Text
lines fit the terminal's width (at least 60 columns; set COLUMNS to choose).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.cli.common import CLIError, say

HELP = "explain one backprop step of a small network, neuron by neuron, with the numbers"
ACTIVATIONS = ("sigmoid", "tanh", "relu", "identity")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("explain", help=HELP, description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default=None, metavar="N,N,N",
                   help="layer sizes, inputs first (default 2,2,2 with Mazur's weights; other "
                        "sizes get random weights from --seed)")
    p.add_argument("--activation", default="sigmoid", choices=ACTIVATIONS,
                   help="hidden (and, with --loss mse, output) activation (default sigmoid)")
    p.add_argument("--loss", default=None, choices=("mse", "cross-entropy"),
                   help="mse (default) or cross-entropy (outputs are logits; --targets is a "
                        "class index or probabilities)")
    p.add_argument("--inputs", default=None, metavar="X,X", help="the example's inputs")
    p.add_argument("--targets", default=None, metavar="T,T", help="the example's targets")
    p.add_argument("--lr", type=float, default=0.5, help="gradient-descent step (default 0.5)")
    p.add_argument("--seed", type=int, default=0, help="seed for random weights (default 0)")
    p.add_argument("--checkpoint", metavar="CKPT", default=None,
                   help="explain a model saved by `chainrule train` (give --inputs, --targets)")
    p.add_argument("--format", default="text", choices=("text", "markdown", "html"),
                   help="text tables (default), Markdown, or one self-contained HTML page")
    p.add_argument("--out", metavar="FILE", default=None, help="write to FILE, not stdout")
    p.set_defaults(run=run)
    return p


def _numbers(spec: str, what: str) -> list[float]:
    try:
        vals = [float(s) for s in spec.replace(" ", "").split(",") if s]
    except ValueError:
        raise CLIError(f"{what} {spec!r}: expected numbers separated by commas, "
                       "like 0.05,0.10") from None
    if not vals or not all(np.isfinite(vals)):
        raise CLIError(f"{what} {spec!r}: expected finite numbers separated by commas")
    return vals


def _sizes(spec: str) -> list[int]:
    try:
        sizes = [int(s) for s in spec.replace(" ", "").split(",") if s]
    except ValueError:
        raise CLIError(f"--sizes {spec!r}: expected whole numbers like 2,2,2") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise CLIError(f"--sizes {spec!r}: expected at least two positive sizes, inputs first")
    if sum(sizes) > 64:
        raise CLIError(f"--sizes {spec!r}: {sum(sizes)} neurons are too many to explain one by "
                       "one (at most 64)")
    return sizes


def _mazur_note(args: argparse.Namespace, loss: str) -> str | None:
    """Why the default run does not use Mazur's weights, when it does not (None when it does,
    or when the user chose the network)."""
    if args.checkpoint or args.sizes is not None:
        return None
    why = [f"--loss {loss}"] if loss != "mse" else []
    if args.activation != "sigmoid":
        why.append(f"--activation {args.activation}")
    if not why:
        return None
    return (f"Note: Mazur's weights belong to his sigmoid network with the squared-error loss; "
            f"with {' and '.join(why)} this run uses random weights (seed {args.seed}) instead, "
            "so its numbers are not those of his article (drop "
            f"{' and '.join(w.split()[0] for w in why)} to get them).")


def _model(args: argparse.Namespace, loss: str) -> tuple[Any, str]:
    from chainrule import nn
    from chainrule.random import manual_seed
    from chainrule.viz.explain import mazur_network

    if args.checkpoint:
        from chainrule.cli.evaluate import load_model

        model, _, _ = load_model(args.checkpoint)
        return model, f"checkpoint {args.checkpoint}"
    if args.sizes is None and args.activation == "sigmoid" and loss == "mse":
        return mazur_network(), "Mazur's example network"
    sizes = _sizes(args.sizes or "2,2,2")
    manual_seed(args.seed)
    out_act = args.activation if loss == "mse" else None
    return nn.MLP(sizes, activation=args.activation, output_activation=out_act,
                  dtype="float64"), f"random weights (seed {args.seed})"


def run(args: argparse.Namespace) -> int:
    from chainrule.viz.explain import MAZUR, _layers, network_doc, run_network

    loss = args.loss
    classify = False
    if args.checkpoint:
        from chainrule.cli.common import read_checkpoint

        meta = read_checkpoint(args.checkpoint)["meta"]
        classify = (meta.get("data") or {}).get("task") == "classification"
        stored = (meta.get("config") or {}).get("loss")
        if loss is None:
            ce = stored == "cross-entropy" or (classify and not stored)
            loss = "cross-entropy" if ce else "mse"
    loss = loss or "mse"
    if args.checkpoint and (args.inputs is None or args.targets is None):
        raise CLIError("--checkpoint needs the example to explain: give --inputs and --targets")
    if not np.isfinite(args.lr):
        raise CLIError(f"--lr {args.lr}: expected a finite number")
    model, where = _model(args, loss)
    try:
        sizes = [_layers(model)[0].w.shape[1]] + [lay.w.shape[0] for lay in _layers(model)]
    except ValueError as e:
        raise CLIError(str(e)) from None
    default_example = args.sizes is None and not args.checkpoint
    if args.inputs is not None:
        x = _numbers(args.inputs, "--inputs")
    elif default_example and sizes[0] == 2:
        x = MAZUR["inputs"]
    else:
        x = list(np.round(np.linspace(0.1, 0.9, sizes[0]), 3))
    if args.targets is not None:
        t = _numbers(args.targets, "--targets")
    elif loss == "cross-entropy":
        t = [0.0]
    elif default_example and sizes[-1] == 2:
        t = MAZUR["targets"]
    else:
        t = list(np.round(np.linspace(0.9, 0.1, sizes[-1]), 3))
    if len(x) != sizes[0]:
        raise CLIError(f"--inputs: the network takes {sizes[0]} inputs, got {len(x)}")
    if classify and loss == "mse" and len(t) == 1 and sizes[-1] > 1:
        c = int(t[0])
        if c != t[0] or not 0 <= c < sizes[-1]:
            raise CLIError(f"--targets {args.targets}: not a class index 0..{sizes[-1] - 1}")
        t = list(np.eye(sizes[-1])[c])
    n_t = len(t)
    if not (n_t == sizes[-1] or (loss == "cross-entropy" and n_t == 1)):
        raise CLIError(f"--targets: the network has {sizes[-1]} outputs, got {n_t} targets"
                       + (" (or give one class index)" if loss == "cross-entropy" else ""))
    try:
        r = run_network(model, x, t, loss=loss, lr=args.lr)
    except ValueError as e:
        raise CLIError(str(e)) from None
    doc = network_doc(r, title=f"Backprop, step by step ({where})")
    note = _mazur_note(args, loss)
    if note:
        doc.blocks.insert(0, ("p", note))
    width = shutil.get_terminal_size((100, 24)).columns if args.format == "text" else None
    text = doc.render(args.format, width)
    if args.out:
        path = Path(args.out)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except OSError as e:
            raise CLIError(f"--out {args.out!r}: cannot write: {e.strerror or e}") from None
        say(f"wrote {path} ({args.format}, loss {r.loss:.9g})")
        if note:
            say(note)
    else:
        say(text.rstrip("\n"))
    return 0
