"""``chainrule evaluate CKPT``: rebuild the model a checkpoint describes and score it on a
dataset (by default the test split of the one it was trained on).

    chainrule evaluate runs/digits/model.ckpt
    chainrule evaluate runs/fashion-mnist/model.ckpt --split train --confusion
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from chainrule.cli import datasets as D
from chainrule.cli.common import CLIError, read_checkpoint, say
from chainrule.cli.model import build_loss, build_model, describe_arch

HELP = "score a checkpoint's model on a dataset (accuracy, loss)"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("evaluate", help=HELP, description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", metavar="CKPT",
                   help="a checkpoint written by chainrule train, fit() or save_checkpoint "
                   "(a model built from chainrule.nn layers)")
    p.add_argument("--dataset", metavar="NAME|PATH", default=None,
                   help="the data to score on (default: the checkpoint's own dataset)")
    p.add_argument("--split", choices=("test", "train"), default="test",
                   help="which split of the dataset to score")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="at most N samples")
    p.add_argument("--batch-size", type=int, default=256, metavar="N",
                   help="samples per forward pass (memory, not the result)")
    p.add_argument("--confusion", action="store_true", help="print the confusion matrix")
    p.add_argument("--download", action="store_true", help="fetch MNIST/Fashion-MNIST if missing")
    p.set_defaults(run=run)
    return p


def load_model(path: str) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The model rebuilt from a checkpoint, its metadata and the raw checkpoint info."""
    from chainrule.autograd.tensor import Tensor

    ckpt = read_checkpoint(path)
    meta = ckpt["meta"]
    model = build_model(meta["arch"])
    state = ckpt["model"]
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CLIError(f"checkpoint {path!r}: the model state is not a dict of tensors")
    try:
        model.load_state_dict(state)
    except (KeyError, RuntimeError, ValueError) as e:
        from chainrule.cli.common import one_line

        raise CLIError(f"checkpoint {path!r} does not fit its own architecture "
                       f"{describe_arch(meta['arch'])}: {one_line(e)}") from None
    model.eval()
    return model, meta, ckpt


def run(args: argparse.Namespace) -> int:
    from chainrule.train import evaluate

    if args.limit is not None and args.limit < 1:
        raise CLIError(f"--limit: must be >= 1, got {args.limit}")
    if args.batch_size < 1:
        raise CLIError(f"--batch-size: must be >= 1, got {args.batch_size}")
    model, meta, ckpt = load_model(args.checkpoint)
    info = meta.get("data") or {}
    spec = args.dataset or info.get("name")
    if not spec:
        raise CLIError("the checkpoint does not say which dataset it was trained on (fit() and "
                       "save_checkpoint store the model, not the data); pass --dataset NAME|PATH")
    cfg = meta.get("config") or {}
    data = D.load(spec, args.limit, args.download, info.get("task") or "auto",
                  bool(cfg.get("allow_nonfinite", False)))
    if info.get("mean") is not None:  # the training split's statistics, not this data's
        data.standardize(np.asarray(info["mean"]), np.asarray(info["scale"]))
    sizes = meta["arch"].get("sizes") or [data.n_features, data.n_outputs]  # None: not known
    if data.n_features != sizes[0]:
        raise CLIError(f"the model takes {sizes[0]} inputs but dataset {data.name!r} has "
                       f"{data.n_features} features per sample")
    task = info.get("task", data.task)
    if task != data.task:
        raise CLIError(f"the model does {task} but dataset {data.name!r} is a {data.task} "
                       "problem")
    if task == "classification" and data.n_outputs > sizes[-1]:
        raise CLIError(f"dataset {data.name!r} has {data.n_outputs} classes but the model has "
                       f"{sizes[-1]} outputs")
    loss_name = meta.get("loss") or ("cross-entropy" if task == "classification" else "mse")
    loss_fn = build_loss(loss_name, task, sizes[-1])
    metrics: tuple[str, ...] = ("accuracy", "confusion_matrix") if task == "classification" \
        else ("mae", "r2")
    ds = data.test if args.split == "test" else data.train
    res = evaluate(model, ds, loss_fn, metrics, batch_size=args.batch_size)
    say(f"checkpoint {ckpt['path']} (epoch {ckpt['epoch']}): {describe_arch(meta['arch'])}, "
        f"loss {loss_name}")
    if task == "classification":
        say(f"{data.name} {args.split}: {len(ds)} samples, accuracy {res['accuracy']:.4f}, "
            f"loss {res['loss']:.4f}")
        if args.confusion:
            _print_confusion(res["confusion_matrix"], data.classes)
    else:
        say(f"{data.name} {args.split}: {len(ds)} samples, mae {res['mae']:.4f}, "
            f"r2 {res['r2']:.4f}, loss {res['loss']:.4f}")
    return 0


def _print_confusion(m: np.ndarray, classes: list[str] | None) -> None:
    n = m.shape[0]
    names = [str(i) for i in range(n)]
    width = max(len(str(int(m.max(initial=0)))), *(len(s) for s in names), 3)
    say("confusion matrix (rows: true class, columns: predicted)")
    say(" " * 4 + " ".join(s.rjust(width) for s in names))
    for i in range(n):
        label = f" {classes[i]}" if classes and i < len(classes) else ""
        recall = m[i, i] / m[i].sum() if m[i].sum() else float("nan")
        say(f"{i:>3} " + " ".join(str(int(v)).rjust(width) for v in m[i])
            + f"   {recall:.3f}{label}")
