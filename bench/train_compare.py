"""Fashion-MNIST, MLP 784-256-128-10 ReLU, Adam: chainrule beside PyTorch in one run.

    python -m bench.train_compare                  # 10 epochs, seed 0, 1 thread (about 2 min)
    python -m bench.train_compare --seeds 0 1 2    # three seeds per framework
    python -m bench.train_compare --limit 2000 --epochs 1   # a smoke run
    python -m bench.train_compare --labels 1000 --epochs 30 --seeds 0 1 2   # the regimes table's
                                                   # supervised-only row, both frameworks

The same configuration on both sides: the architecture, PyTorch's default ``nn.Linear`` init
(kaiming-uniform weights, uniform biases; chainrule's ``nn.Linear`` copies it), Adam (lr 1e-3,
betas 0.9/0.999, eps 1e-8), cross-entropy with mean reduction, batch 64, shuffled every epoch,
10 epochs, pixels scaled to [0, 1]. The seed policy: each framework seeds its own generator with
the same seed (``cr.manual_seed`` / ``torch.manual_seed``) and draws its own initial weights and
shuffles, so the two runs are statistically, not numerically, alike.

Timing: thread pools are pinned before NumPy or PyTorch is imported (OMP/OPENBLAS/MKL_NUM_THREADS
and ``torch.set_num_threads``); the frameworks alternate epoch by epoch (the first one to go
alternates too), so machine noise hits both alike; an epoch's time is its training pass
(batching, forward, backward, update), the test evaluation is not timed; the table gives the
median over epochs. chainrule batches through its ``DataLoader`` (one fancy index per batch);
PyTorch indexes its tensors with a ``randperm`` permutation (its fastest idiom: a ``DataLoader``
over a ``TensorDataset`` collates sample by sample and is several times slower).
"""

from __future__ import annotations

import argparse
import os
import sys

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def _threads_from_argv(argv: list[str]) -> int:
    if "--threads" in argv:
        return int(argv[argv.index("--threads") + 1])
    return 1


if __name__ == "__main__":  # before NumPy or PyTorch is imported
    for _v in THREAD_VARS:
        os.environ[_v] = str(_threads_from_argv(sys.argv))

import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SIZES = (784, 256, 128, 10)
LABELS = (", trained on {n} labelled images only (stratified by class, drawn per seed as "
          "`chainrule train --labels {n}` draws them)")
COSINE = " annealed to 0 over the epochs (CosineAnnealingLR, stepped per epoch)"


def load_arrays(limit: int | None) -> tuple[np.ndarray, ...]:
    from chainrule.data.datasets import FashionMNIST

    out = []
    for train in (True, False):
        ds = FashionMNIST(train=train)
        n = len(ds) if limit is None else min(limit, len(ds))
        x = (ds.data[:n].reshape(n, -1).astype(np.float32) / np.float32(255))
        out += [x, ds.targets[:n].astype(np.int64)]
    return tuple(out)


class ChainruleRun:
    def __init__(self, data: tuple[np.ndarray, ...], seed: int, batch: int, lr: float,
                 epochs: int, schedule: str) -> None:
        import chainrule as cr
        from chainrule import nn, optim
        from chainrule.data import DataLoader, TensorDataset

        self.cr = cr
        x, y, self.xt, self.yt = data
        cr.manual_seed(seed)
        self.model = nn.MLP(list(SIZES))
        self.opt = optim.Adam(self.model.parameters(), lr=lr)
        self.loss_fn = nn.CrossEntropyLoss()
        self.loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True)
        self.sched = optim.lr_scheduler.CosineAnnealingLR(self.opt, epochs) \
            if schedule == "cosine" else None

    def epoch(self) -> float:
        model, opt, loss_fn = self.model, self.opt, self.loss_fn
        model.train()
        t0 = time.perf_counter()
        for xb, yb in self.loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        if self.sched is not None:
            self.sched.step()
        return time.perf_counter() - t0

    def test_accuracy(self) -> float:
        from chainrule.train import evaluate

        return float(evaluate(self.model, (self.xt, self.yt), batch_size=1000)["accuracy"])


class TorchRun:
    def __init__(self, data: tuple[np.ndarray, ...], seed: int, batch: int, lr: float,
                 epochs: int, schedule: str) -> None:
        import torch

        self.torch = torch
        x, y, xt, yt = data
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.xt, self.yt = torch.from_numpy(xt), torch.from_numpy(yt)
        torch.manual_seed(seed)
        nn = torch.nn
        self.model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                                   nn.Linear(128, 10))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.loss_fn = nn.CrossEntropyLoss()
        self.batch = batch
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, epochs) \
            if schedule == "cosine" else None

    def epoch(self) -> float:
        torch, model, opt, loss_fn, b = self.torch, self.model, self.opt, self.loss_fn, self.batch
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(len(self.x))
        for s in range(0, len(perm), b):
            idx = perm[s:s + b]
            xb, yb = self.x[idx], self.y[idx]
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        if self.sched is not None:
            self.sched.step()
        return time.perf_counter() - t0

    def test_accuracy(self) -> float:
        torch = self.torch
        self.model.eval()
        with torch.no_grad():
            pred = self.model(self.xt).argmax(1)
        return float((pred == self.yt).double().mean())


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    data = load_arrays(args.limit)
    results: dict[str, Any] = {"chainrule": {}, "torch": {}}
    for seed in args.seeds:
        run_data = data
        if args.labels:  # the stratified, seeded subset that `chainrule train --labels N` keeps
            from chainrule.data.augment import labelled_indices

            keep, _ = labelled_indices(data[1], args.labels, seed=seed)
            run_data = (data[0][keep], data[1][keep], data[2], data[3])
        conf = (run_data, seed, args.batch_size, args.lr, args.epochs, args.schedule)
        runs = {"chainrule": ChainruleRun(*conf), "torch": TorchRun(*conf)}
        rec = {fw: {"epoch_seconds": [], "test_accuracy": []} for fw in runs}
        for e in range(args.epochs):
            order = list(runs) if (e + seed) % 2 == 0 else list(reversed(runs))
            for fw in order:
                rec[fw]["epoch_seconds"].append(runs[fw].epoch())
                rec[fw]["test_accuracy"].append(runs[fw].test_accuracy())
            print(f"seed {seed} epoch {e + 1}: " + "  ".join(
                f"{fw} {rec[fw]['test_accuracy'][-1]:.4f} ({rec[fw]['epoch_seconds'][-1]:.2f} s)"
                for fw in runs), file=sys.stderr, flush=True)
        for fw in runs:
            results[fw][str(seed)] = rec[fw]
    return results


def report(results: dict[str, Any], args: argparse.Namespace, meta: dict[str, Any]) -> str:
    lines = [
        "# Fashion-MNIST: chainrule beside PyTorch",
        "",
        f"Measured {meta['date']} on {meta['cpu']}, {args.threads} thread(s), Python "
        f"{meta['python']}, NumPy {meta['numpy']}, PyTorch {meta['torch']}, load average "
        f"{meta['load_before']} before, {meta['load_after']} after.",
        "",
        f"Command: `{meta['command']}`",
        "",
        "MLP 784-256-128-10 ReLU, cross-entropy, Adam lr "
        f"{args.lr:g}{COSINE if args.schedule == 'cosine' else ''}"
        f", batch {args.batch_size}, {args.epochs} epochs"
        f"{'' if args.limit is None else f', first {args.limit} samples only'}"
        f"{'' if not args.labels else LABELS.format(n=args.labels)}"
        ". Time per epoch: "
        "the median over the epochs of the training pass (the frameworks alternate epoch by "
        "epoch).",
        "",
        "| seed | chainrule test accuracy | PyTorch test accuracy | difference (points) | "
        "chainrule s/epoch | PyTorch s/epoch | PyTorch time / chainrule time |",
        "|---|---|---|---|---|---|---|",
    ]
    for seed in map(str, args.seeds):
        c, t = results["chainrule"][seed], results["torch"][seed]
        ca, ta = c["test_accuracy"][-1], t["test_accuracy"][-1]
        cs, ts = statistics.median(c["epoch_seconds"]), statistics.median(t["epoch_seconds"])
        lines.append(f"| {seed} | {100 * ca:.2f}% | {100 * ta:.2f}% | {100 * (ca - ta):+.2f} | "
                     f"{cs:.2f} | {ts:.2f} | {ts / cs:.2f}x |")
    lines += ["", "Test accuracy after each epoch:", ""]
    head = "| seed | framework | " + " | ".join(str(e + 1) for e in range(args.epochs)) + " |"
    lines += [head, "|" + "---|" * (args.epochs + 2)]
    for seed in map(str, args.seeds):
        for fw, title in (("chainrule", "chainrule"), ("torch", "PyTorch")):
            accs = results[fw][seed]["test_accuracy"]
            lines.append(f"| {seed} | {title} | " + " | ".join(f"{100 * a:.2f}" for a in accs)
                         + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(prog="python -m bench.train_compare",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--schedule", choices=("none", "cosine"), default="none",
                    help="learning-rate schedule, stepped per epoch (CosineAnnealingLR)")
    ap.add_argument("--threads", type=int, default=1,
                    help="thread pools of NumPy's BLAS and PyTorch (set before they load)")
    ap.add_argument("--limit", type=int, default=None, help="use the first N samples of each split")
    ap.add_argument("--labels", type=int, default=None,
                    help="train on N labelled images only (stratified, per seed), as "
                         "`chainrule train --labels N`")
    ap.add_argument("--out", type=Path, default=None,
                    help="write the report (.md) and the raw numbers (.json) under this folder")
    args = ap.parse_args(argv)
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": cpu,
            "python": platform.python_version(), "numpy": np.__version__,
            "torch": torch.__version__, "command": " ".join(["python -m bench.train_compare",
                                                              *argv]),
            "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    results = run(args)
    meta["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = report(results, args, meta)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        stem = "train_compare" + ("" if args.schedule == "none" else f"_{args.schedule}")
        (args.out / f"{stem}.md").write_text(text)
        (args.out / f"{stem}.json").write_text(json.dumps(
            {"meta": meta, "options": {k: str(v) if isinstance(v, Path) else v
                                       for k, v in vars(args).items()},
             "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
