"""``chainrule plot RUN_DIR`` and ``chainrule report RUN_DIR``: the pictures of a training run.

    chainrule train --dataset moons --out runs/moons
    chainrule plot runs/moons          # runs/moons/plots/*.png, listed
    chainrule report runs/moons        # runs/moons/report.html, one self-contained file

RUN_DIR is a folder written by ``chainrule train --out``: ``metrics.jsonl`` / ``metrics.csv``
give the loss and accuracy curves; ``model.ckpt`` (with its dataset, reloaded) gives the decision
boundary (2-D inputs), the confusion matrix (classification, test split) and the weight and
gradient histograms (gradients on one training batch). A model with Conv2d layers gets its first
convolution's filters and the feature maps of one training example; one with
MultiheadAttention layers (a transformer) the attention maps of one example. A checkpoint
written by fit() or save_checkpoint names no dataset: give it with --dataset.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.cli.common import CLIError, say
from chainrule.cli.model import describe_arch

HELP_PLOT = "draw a training run's pictures into RUN_DIR/plots/ (curves, boundary, ...)"
HELP_REPORT = "write one self-contained HTML report of a training run"
HELP_DATASET = ("the data the model takes (default: the one the checkpoint names; a fit() "
                "checkpoint names none)")
CAPTIONS = {"curves": "Loss and accuracy per epoch", "boundary": "Decision boundary",
            "confusion": "Confusion matrix (test split)",
            "histograms": "Weights and gradients per layer",
            "filters": "The first convolution's filters",
            "feature_maps": "Feature maps of one input, each convolution in turn",
            "attention": "Attention weights of one input, one row per attention layer"}


def add_parser(sub: Any) -> argparse.ArgumentParser:
    more = __doc__.split("\n\n", 1)[1]  # the examples and what RUN_DIR holds
    p = sub.add_parser("plot", help=HELP_PLOT, description=f"`chainrule plot RUN_DIR`: "
                       f"{HELP_PLOT}; each picture as a PNG file, listed.\n\n{more}")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by chainrule train --out")
    p.add_argument("--dataset", metavar="NAME|PATH", default=None, help=HELP_DATASET)
    p.set_defaults(run=run_plot)
    r = sub.add_parser("report", help=HELP_REPORT, description=f"`chainrule report RUN_DIR`: "
                       f"{HELP_REPORT}: the same pictures as `chainrule plot`, with captions, "
                       f"in one HTML file to open or send.\n\n{more}")
    r.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by chainrule train --out")
    r.add_argument("--output", "-o", metavar="FILE", default=None,
                   help="where to write the HTML (default RUN_DIR/report.html)")
    r.add_argument("--dataset", metavar="NAME|PATH", default=None, help=HELP_DATASET)
    r.set_defaults(run=run_report)
    return p


def _run_dir(path: str) -> Path:
    d = Path(path).expanduser()
    if not d.exists():
        raise CLIError(f"run folder {path!r} does not exist")
    if not d.is_dir():
        raise CLIError(f"{path!r} is a file; expected a run folder written by chainrule train "
                       "--out")
    if not any((d / f).is_file() for f in ("metrics.jsonl", "metrics.csv", "model.ckpt")):
        raise CLIError(f"run folder {path!r} holds no metrics.jsonl, metrics.csv or model.ckpt; "
                       "write one with `chainrule train --out FOLDER`")
    return d


def _records(d: Path) -> list[dict[str, Any]]:
    from chainrule.viz.plots import read_metrics

    try:
        return read_metrics(d)
    except FileNotFoundError:
        return []
    except (ValueError, OSError) as e:
        raise CLIError(f"cannot read the metrics in {str(d)!r}: {e}") from None


def _need_matplotlib() -> None:
    from chainrule.cli.plot import have_matplotlib

    if not have_matplotlib():
        raise CLIError("the plots need matplotlib: pip install chainrule[plot]")


def _load_data(spec: str, info: dict[str, Any], cfg: dict[str, Any]) -> Any:
    """The run's dataset (standardised as in training), or None when none is named."""
    from chainrule.cli import datasets as D

    if not spec:
        return None
    data = D.load(spec, cfg.get("limit"), task=info.get("task") or "auto",
                  allow_nonfinite=bool(cfg.get("allow_nonfinite", False)))
    if info.get("mean") is not None:
        data.standardize(np.asarray(info["mean"]), np.asarray(info["scale"]))
    return data


def inside_pictures(model: Any, data: Any, out: Path) -> dict[str, Path]:
    """The pictures of what a CNN or an attention model computes: the first Conv2d's filters
    (no data needed), the feature maps and the attention maps of the first training example
    (when ``data`` is given), and the weight histograms."""
    from chainrule.cli import datasets as D
    from chainrule.viz import plots as P

    made: dict[str, Path] = {}
    x = None if data is None else D.materialize(data.train)[0][:1]
    name = "" if data is None else f" ({data.name}, first training example)"
    if P.conv_layers(model):
        made["filters"] = P.plot_filters(model, out / "filters.png")
        if x is not None:
            made["feature_maps"] = P.plot_feature_maps(
                model, P.model_input(model, x), out / "feature_maps.png",
                title=f"feature maps{name}: each Conv2d in turn, 8 maps a row")
    if P.attention_layers(model) and x is not None:
        made["attention"] = P.plot_attention(model, P.model_input(model, x),
                                             path=out / "attention.png",
                                             title=f"attention weights{name}")
    if x is None:
        say("no dataset named (the checkpoint holds none): feature and attention maps need an "
            "input; pass --dataset NAME|PATH")
    made["histograms"] = P.plot_histograms(model, out / "histograms.png",
                                           title="weights per layer")
    return made


def make_plots(d: Path, dataset: str | None = None
               ) -> tuple[dict[str, Path], list[dict[str, Any]], dict[str, Any]]:
    """Draw every picture that applies into ``d/plots``; return ``({key: png}, records,
    checkpoint metadata or {})``. A model with Conv2d or MultiheadAttention layers gets its
    filters, feature maps and attention maps (``inside_pictures``); ``dataset`` names the data
    when the checkpoint does not."""
    from chainrule.viz import plots as P

    _need_matplotlib()
    out = d / "plots"
    out.mkdir(exist_ok=True)
    made: dict[str, Path] = {}
    records = _records(d)
    meta: dict[str, Any] = {}
    if records:
        made["curves"] = P.plot_curves(records, out / "curves.png", title=d.name)
    if (d / "model.ckpt").is_file():
        from chainrule.cli import datasets as D
        from chainrule.cli.evaluate import load_model
        from chainrule.cli.model import build_loss

        model, meta, _ = load_model(str(d / "model.ckpt"))
        info, cfg = meta.get("data") or {}, meta.get("config") or {}
        sizes = meta["arch"]["sizes"]
        spec = dataset or info.get("name") or cfg.get("dataset", "")
        if P.conv_layers(model) or P.attention_layers(model):
            made.update(inside_pictures(model, _load_data(spec, info, cfg), out))
            return made, records, meta
        data = _load_data(spec, info, cfg)
        if data is None:
            raise CLIError("the checkpoint does not say which dataset it was trained on (fit() "
                           "and save_checkpoint store the model, not the data); pass "
                           "--dataset NAME|PATH")
        sizes = sizes or [data.n_features, data.n_outputs]  # None: no Linear at the ends
        if data.n_features != sizes[0]:
            raise CLIError(f"the model takes {sizes[0]} inputs but its dataset "
                           f"{data.name!r} now has {data.n_features} features")
        x, y = D.materialize(data.train)
        classify = data.task == "classification"
        if classify and data.n_features == 2:
            made["boundary"] = P.plot_decision_boundary(
                model, x[:3000], y[:3000], out / "boundary.png",
                title=f"{data.name}: decision boundary (train split)")
        if classify:
            xt, yt = D.materialize(data.test)
            cm = P.confusion_matrix(model, xt, yt, num_classes=sizes[-1])
            made["confusion"] = P.plot_confusion_matrix(
                cm, out / "confusion.png", classes=data.classes,
                title=f"{data.name} test split")
        loss_fn = build_loss(meta.get("loss") or ("cross-entropy" if classify else "mse"),
                             data.task, sizes[-1])
        n = int(cfg.get("batch_size") or 64)
        grads = P.gradients_on_batch(model, loss_fn, x[:n], y[:n])
        made["histograms"] = P.plot_histograms(
            model, out / "histograms.png", gradients=grads,
            title=f"{describe_arch(meta['arch'])}: weights and gradients (batch of "
                  f"{len(x[:n])})")
    if not made:
        raise CLIError(f"run folder {str(d)!r}: its metrics file is empty and it holds no "
                       "model.ckpt; nothing to draw")
    return made, records, meta


def run_plot(args: argparse.Namespace) -> int:
    d = _run_dir(args.run_dir)
    made, _, _ = make_plots(d, args.dataset)
    say(f"saved {d / 'plots'}/: {', '.join(p.name for p in made.values())}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from chainrule.viz.report import write_report

    d = _run_dir(args.run_dir)
    made, records, meta = make_plots(d, args.dataset)
    arch = meta.get("arch") or {}
    subtitle = ""
    if arch:
        subtitle = (f"{describe_arch(arch)}, loss {meta.get('loss', '?')}, {len(records)} "
                    "epoch(s) logged")
    dest = Path(args.output) if args.output else d / "report.html"
    try:
        write_report(dest, f"chainrule run: {d.resolve().name}", subtitle=subtitle,
                     config=meta.get("config") or {}, records=records,
                     images={CAPTIONS[k]: p for k, p in made.items()})
    except OSError as e:
        raise CLIError(f"cannot write {str(dest)!r}: {e.strerror}") from None
    say(f"saved {dest} ({dest.stat().st_size // 1024} KiB, {len(made)} images inlined)")
    return 0
