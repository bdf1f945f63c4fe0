"""Nielsen, *Neural Networks and Deep Learning*, chapters 1 and 3: the [784, 30, 10] network.

Four configurations, each adding one of the book's improvements to the one before:

1. ch. 1 (``network.py``): sigmoid units, quadratic cost C = 1/2n sum ||y - a||^2, SGD eta 3.0,
   mini-batches of 10, 30 epochs, weights and biases from N(0, 1);
2. ch. 3, "The cross-entropy cost function": the cross-entropy cost
   C = -1/n sum [y ln a + (1 - y) ln(1 - a)] over the output sigmoids, eta 0.5
   (``net.large_weight_initializer()``: still N(0, 1));
3. ch. 3, "Regularization": L2 with lmbda 5.0, w -> (1 - eta lmbda / n) w with n = 50,000
   (weight decay lmbda / n on the weights, not the biases);
4. ch. 3, "Weight initialization": weights from N(0, 1/n_in) (biases still N(0, 1)).

As in the book, the network trains on the first 50,000 training images (the other 10,000 are the
book's validation set) and is measured on the 10,000 test images after every epoch. The book's
figures are on MNIST (not packaged offline); here the data is Fashion-MNIST unless ``--data``
names a folder of MNIST's IDX files, in which case the book's own table is reproduced.
"""

from __future__ import annotations

from dataclasses import replace

from chainrule.reproduce import images
from chainrule.reproduce.common import Options, Report, Timer, spread, table
from chainrule.reproduce.registry import Experiment, register
from chainrule.reproduce.trainloop import (
    Recipe,
    init_mlp,
    mlp,
    mlp_state,
    train_chainrule,
    train_torch,
)

N_TRAIN = 50_000
SIZES = [784, 30, 10]
CH1 = Recipe("quadratic", "sgd", 3.0, 10, 30, init="nielsen-large")
CONFIGS = [
    ("ch. 1: quadratic cost, eta 3.0", CH1,
     "95.42% (ch. 1, its best epoch)"),
    ("ch. 3: + cross-entropy, eta 0.5", replace(CH1, loss="bce", lr=0.5),
     "95.49% (ch. 3, cross-entropy)"),
    ("ch. 3: + L2, lmbda 5.0 (n = 50,000)",
     replace(CH1, loss="bce", lr=0.5, weight_decay=5.0 / N_TRAIN), "96.49% (ch. 3, L2)"),
    ("ch. 3: + weights N(0, 1/n_in)",
     replace(CH1, loss="bce", lr=0.5, weight_decay=5.0 / N_TRAIN, init="nielsen"),
     "\"somewhat over 96%\" (ch. 3, weight init.)"),
]


def run(opts: Options) -> Report:
    """Train the four configurations over the seeds (PyTorch beside, from the same initial
    weights and batch order); one table of median [range] over the seeds."""
    (x, y, xt, yt), name = images.load(opts.data, opts.limit)
    x, y = x[:N_TRAIN], y[:N_TRAIN]
    data = (x, y, xt, yt)
    seeds = list(range(opts.seeds or 1))
    report = Report(f"Nielsen ch. 1 and 3: [784, 30, 10] on {name}")
    rows = []
    torch = opts.want_torch()
    fmt = "{:.2%}"
    with Timer() as total:
        for label, recipe, published in CONFIGS:
            if opts.epochs:
                recipe = replace(recipe, epochs=opts.epochs)
            build = mlp(SIZES, "sigmoid")
            cs, ts = [], []
            for seed in seeds:
                state = mlp_state(init_mlp(SIZES, recipe.init, seed))
                opts.say(f"{label}, seed {seed}:")
                cs.append(train_chainrule(recipe, build, state, data, seed, opts.say))
                if torch:
                    ts.append(train_torch(recipe, build, state, data, seed, opts.say))

            def cell(runs: list) -> str:
                return (f"{spread([r.final for r in runs], fmt)} (best "
                        f"{spread([r.best for r in runs], fmt)})") if runs else "-"

            def per_epoch(runs: list, n: int = recipe.epochs) -> str:
                return spread([r.seconds / n for r in runs], "{:.2f}") if runs else "-"

            rows.append([label, published, cell(cs), cell(ts), per_epoch(cs), per_epoch(ts)])
            report.data[label] = {"chainrule": cs, "torch": ts}
    epochs = opts.epochs or CH1.epochs
    over = f"median [range] over seeds {seeds[0]}..{seeds[-1]}" if len(seeds) > 1 else \
        f"seed {seeds[0]}"
    head = ["configuration", "book, MNIST", f"chainrule, {name}, epoch {epochs}",
            "PyTorch, same weights and batches", "chainrule s/epoch", "PyTorch s/epoch"]
    notes = (f"{len(x):,} training images, {len(xt):,} test images; batch 10, {epochs} epochs, "
             f"{over}: a seed draws the initial weights and the batch order (the same on both "
             "sides). 'best' is the best epoch's test accuracy (the book quotes its best epoch "
             "for ch. 1). Book: Nielsen, Neural Networks and Deep Learning (2015), ch. 1 "
             "'Implementing our network to classify digits', ch. 3 'The cross-entropy cost "
             "function', 'Regularization', 'Weight initialization'.")
    report.sections.append(table(head, rows) + "\n\n" + notes)
    report.seconds = total.seconds
    report.write(opts.folder())
    return report


register(Experiment("nielsen", "Nielsen ch. 1 and 3: [784,30,10], quadratic -> cross-entropy "
                    "-> L2 -> N(0,1/n_in) init", "Nielsen 2015, ch. 1 and 3", run, seeded=True))
