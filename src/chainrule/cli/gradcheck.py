"""``chainrule gradcheck [CKPT]``: check a model's backprop gradients against central finite
differences, one row per parameter tensor (in float64, on a few examples).

    chainrule gradcheck                          # a small sigmoid MLP on 8 digits examples
    chainrule gradcheck runs/digits/model.ckpt --max-elements 200

Exit status 1 when any parameter tensor FAILs (kinks, where a nudge crossed a ReLU's 0 or a
tie in a max, are reported but are not failures).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from chainrule.cli import datasets as D
from chainrule.cli.common import CLIError, say
from chainrule.cli.model import ACTIVATIONS, build_loss, describe_arch, parse_layers

HELP = "check a model's backprop gradients against finite differences, per parameter tensor"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("gradcheck", help=HELP, description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", metavar="CKPT", nargs="?", default=None,
                   help="a model.ckpt written by chainrule train (default: a fresh small MLP)")
    p.add_argument("--dataset", metavar="NAME|PATH", default=None,
                   help="where the examples come from (default: the checkpoint's dataset, or "
                        "digits)")
    p.add_argument("--examples", type=int, default=8, metavar="N",
                   help="batch size of the check (default 8)")
    p.add_argument("--layers", default="16", metavar="SIZES",
                   help="hidden sizes of the default model (default 16)")
    p.add_argument("--activation", choices=ACTIVATIONS, default="sigmoid",
                   help="activation of the default model (default sigmoid)")
    p.add_argument("--max-elements", type=int, default=None, metavar="N",
                   help="check a random sample of at most N elements per tensor (default all)")
    p.add_argument("--eps", type=float, default=1e-6, help="finite-difference step (1e-6)")
    p.add_argument("--seed", type=int, default=0,
                   help="random seed of the weights and the examples drawn")
    p.add_argument("--format", choices=("text", "markdown"), default="text",
                   help="text for the terminal, markdown for a document")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from chainrule import nn
    from chainrule.autograd.factories import from_numpy
    from chainrule.random import manual_seed
    from chainrule.viz.modelcheck import check_model_gradients

    if args.examples < 1:
        raise CLIError(f"--examples: must be >= 1, got {args.examples}")
    if args.max_elements is not None and args.max_elements < 1:
        raise CLIError(f"--max-elements: must be >= 1, got {args.max_elements}")
    if not args.eps > 0:
        raise CLIError(f"--eps: must be > 0, got {args.eps}")
    manual_seed(args.seed)
    meta: dict[str, Any] = {}
    if args.checkpoint is not None:
        from chainrule.cli.evaluate import load_model

        model, meta, ckpt = load_model(args.checkpoint)
        sizes = list(meta["arch"]["sizes"])
        what = f"checkpoint {ckpt['path']}: {describe_arch(meta['arch'])}"
    info = meta.get("data") or {}
    spec = args.dataset or info.get("name") or "digits"
    data = D.load(spec, args.examples)
    if info.get("mean") is not None:
        data.standardize(np.asarray(info["mean"]), np.asarray(info["scale"]))
    if args.checkpoint is None:
        sizes = [data.n_features, *parse_layers(args.layers), data.n_outputs]
        model = nn.MLP(sizes, activation=args.activation)
        what = f"fresh MLP {'-'.join(map(str, sizes))} {args.activation} (seed {args.seed})"
    if data.n_features != sizes[0]:
        raise CLIError(f"the model takes {sizes[0]} inputs but dataset {data.name!r} has "
                       f"{data.n_features} features per sample")
    task = info.get("task", data.task)
    loss_name = meta.get("loss") or ("cross-entropy" if task == "classification" else "mse")
    loss_fn = build_loss(loss_name, task, sizes[-1])
    x, y = D.materialize(data.train)
    x, y = x[:args.examples], y[:args.examples]
    res = check_model_gradients(model, loss_fn, from_numpy(x), from_numpy(np.asarray(y)),
                                eps=args.eps, max_elements_per_tensor=args.max_elements,
                                seed=args.seed)
    say(f"{what}, loss {loss_name} = {res.loss:.6g} on {len(x)} {data.name} examples")
    say(res.table(markdown=args.format == "markdown"))
    return 0 if res.ok else 1
