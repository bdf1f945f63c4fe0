"""One optimiser ``step()`` on the parameters of the W1 network (784-128-10), chainrule beside
torch.optim, at 1 thread. Run: ``python -m bench.optim_step``. Prints medians of 7 windows and the
ratio chainrule/torch (lower is better for chainrule)."""

from __future__ import annotations

import os

for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_k] = "1"

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import chainrule as cr  # noqa: E402

SHAPES = [(128, 784), (128,), (10, 128), (10,)]
CONFIGS = [
    ("SGD", "SGD", dict(lr=0.01)),
    ("SGD momentum", "SGD", dict(lr=0.01, momentum=0.9)),
    ("SGD nesterov + wd", "SGD", dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)),
    ("Adam", "Adam", dict(lr=1e-3)),
    ("AdamW", "AdamW", dict(lr=1e-3)),
    ("RMSprop", "RMSprop", dict(lr=1e-3)),
    ("Adagrad", "Adagrad", dict(lr=1e-2)),
]


def _time(opt, n: int, windows: int) -> float:
    for _ in range(50):
        opt.step()
    ts = []
    for _ in range(windows):
        t0 = time.perf_counter()
        for _ in range(n):
            opt.step()
        ts.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(ts)


def main(n: int = 2000, windows: int = 7) -> None:
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s).astype(np.float32) * 0.05 for s in SHAPES]
    grads = [rng.standard_normal(s).astype(np.float32) * 0.01 for s in SHAPES]
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    print("| optimiser | chainrule (us/step) | torch (us/step) | chainrule / torch |")
    print("|---|---|---|---|")
    for label, name, kw in CONFIGS:
        pc = [cr.tensor(a.copy(), requires_grad=True) for a in init]
        for p, g in zip(pc, grads):
            p.grad = cr.tensor(g.copy())
        ours = _time(getattr(cr.optim, name)(pc, **kw), n, windows)
        theirs = float("nan")
        if torch is not None:
            pt = [torch.tensor(a.copy(), requires_grad=True) for a in init]
            for p, g in zip(pt, grads):
                p.grad = torch.tensor(g.copy())
            theirs = _time(getattr(torch.optim, name)(pt, **kw), n, windows)
        print(f"| {label} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
