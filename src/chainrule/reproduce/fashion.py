"""Fashion-MNIST benchmark rows: chainrule and PyTorch beside the dataset's published figures.

The published figures are the submitted benchmarks in the dataset's README (Xiao, Rasul &
Vollgraf 2017; the Debian package ``dataset-fashion-mnist`` ships it as
/usr/share/doc/dataset-fashion-mnist/README.md.gz, section "Benchmark"); the maintainers note
they have not re-run those entries.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from chainrule.reproduce import images
from chainrule.reproduce.common import Options, Report, Timer, spread, table
from chainrule.reproduce.registry import Experiment, missing_layers, register
from chainrule.reproduce.trainloop import Recipe, initial_state, mlp, train_chainrule, train_torch

README = "/usr/share/doc/dataset-fashion-mnist/README.md.gz"


def cnn(nnm: Any) -> Any:
    """The benchmark's convnet.py (TensorFlow's layers tutorial), without its dropout."""
    return nnm.Sequential(
        nnm.Unflatten(1, (1, 28, 28)),
        nnm.Conv2d(1, 32, 5, padding=2), nnm.ReLU(), nnm.MaxPool2d(2),
        nnm.Conv2d(32, 64, 5, padding=2), nnm.ReLU(), nnm.MaxPool2d(2),
        nnm.Flatten(), nnm.Linear(64 * 7 * 7, 1024), nnm.ReLU(), nnm.Linear(1024, 10))


@dataclass(frozen=True)
class Row:
    """One benchmark entry: our model and recipe beside a published one."""

    label: str
    published: str
    build: Any  # build(nn) -> Module (chainrule.nn or torch.nn)
    recipe: Recipe
    needs: tuple[str, ...] = ()


ROWS = [
    Row("MLP 784-256-128-10, ReLU, Adam 1e-3, batch 64, 10 epochs",
        "88.33% (MLP 256-128-100, no preprocessing, @heitorrapela)",
        mlp([784, 256, 128, 10], "relu"), Recipe("ce", "adam", 1e-3, 64, 10)),
    Row("CNN: 2 conv (32, 64 channels, 5x5) + max pooling, dense 1024",
        "91.6% (2 Conv+pooling, TensorFlow's tutorial, benchmark/convnet.py)",
        cnn, Recipe("ce", "adam", 1e-3, 64, 10), needs=("Conv2d", "MaxPool2d")),
]


def run(opts: Options) -> Report:
    """Train every ready row over the seeds, on chainrule and PyTorch; pending rows say why."""
    (x, y, xt, yt), name = images.load(opts.data, opts.limit)
    seeds = list(range(opts.seeds or 1))
    report = Report(f"Fashion-MNIST benchmark rows ({name})")
    rows = []
    torch = opts.want_torch()
    with Timer() as total:
        for row in ROWS:
            miss = missing_layers(row.needs)
            if miss or row.build is None:
                rows.append([row.label, row.published,
                             f"pending: needs nn.{', nn.'.join(miss or row.needs)}", "-", "-",
                             "-"])
                continue
            recipe = row.recipe
            if opts.epochs:
                recipe = replace(recipe, epochs=opts.epochs)
            cs, ts = [], []
            for seed in seeds:
                opts.say(f"{row.label}, seed {seed}:")
                state = initial_state(row.build, seed)  # type: ignore[arg-type]
                cs.append(train_chainrule(recipe, row.build, state, (x, y, xt, yt), seed,
                                          opts.say))
                if torch:
                    ts.append(train_torch(recipe, row.build, state, (x, y, xt, yt), seed,
                                          opts.say))
            fmt = "{:.2%}"
            rows.append([row.label, row.published,
                         spread([c.final for c in cs], fmt),
                         spread([t.final for t in ts], fmt) if ts else "-",
                         spread([c.seconds / recipe.epochs for c in cs], "{:.2f}"),
                         spread([t.seconds / recipe.epochs for t in ts], "{:.2f}") if ts
                         else "-"])
            report.data[row.label] = {"chainrule": cs, "torch": ts}
    head = ["model", "published (dataset README)", "chainrule: median [range] over seeds",
            "PyTorch, same weights and batches", "chainrule s/epoch", "PyTorch s/epoch"]
    note = (f"Seeds {seeds[0]}..{seeds[-1]} ({len(seeds)}); test accuracy after the last epoch "
            f"on the {len(xt):,} test images, trained on {len(x):,}. Pixels in [0, 1], no "
            f"augmentation. Published figures: {README}, table under 'Benchmark'.")
    report.sections.append(table(head, rows) + "\n\n" + note)
    report.seconds = total.seconds
    report.write(opts.folder())
    return report


register(Experiment("fashion-mnist", "Fashion-MNIST benchmark: MLP and CNN beside the "
                    "dataset's published figures", "Xiao et al. 2017, the dataset README", run,
                    seeded=True, default_seeds=1,
                    parts=("CNN 2 conv + pooling|Conv2d,MaxPool2d",)))
