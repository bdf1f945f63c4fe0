"""One convolution layer's forward + backward (input, weight and bias gradients) against PyTorch,
at three sizes, and the alternative NumPy algorithms the conv op was chosen against.

    OMP_NUM_THREADS=1 python -m bench.conv_layer

Interleaved rounds, the median of each (ms per forward + backward; 1 thread, float32); the ratio
is PyTorch's time over chainrule's (> 1: chainrule is faster). "einsum" is the
``sliding_window_view`` + ``einsum`` formulation (forward and both gradients), timed the same way.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

SIZES = {
    "small (LeNet conv1: 64x1x28x28, 6x5x5, pad 2)": ((64, 1, 28, 28), (6, 1, 5, 5), 2),
    "CIFAR-like (32x3x32x32, 32x3x3, pad 1)": ((32, 3, 32, 32), (32, 3, 3, 3), 1),
    "3x3, 64 channels (16x64x32x32, 64x3x3, pad 1)": ((16, 64, 32, 32), (64, 64, 3, 3), 1),
}


def _einsum_conv(x: np.ndarray, w: np.ndarray, pad: int) -> Any:
    def run() -> None:
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        k = w.shape[-1]
        v = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))
        y = np.einsum("nchwij,ocij->nohw", v, w, optimize=True)
        g = np.ones_like(y)
        np.einsum("nchwij,nohw->ocij", v, g, optimize=True)  # weight gradient
        gp = np.pad(g, ((0, 0), (0, 0), (k - 1 - pad, k - 1 - pad), (k - 1 - pad, k - 1 - pad)))
        gv = np.lib.stride_tricks.sliding_window_view(gp, (k, k), axis=(2, 3))
        np.einsum("nohwij,ocij->nchw", gv, w[:, :, ::-1, ::-1], optimize=True)  # input gradient
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--no-einsum", action="store_true")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    import chainrule as cr
    import chainrule.nn.functional as F
    rng = np.random.default_rng(0)
    print(f"{'size':50s} {'chainrule':>10s} {'PyTorch':>10s} {'ratio':>7s} {'einsum':>10s}")
    for name, (xs, ws, pad) in SIZES.items():
        x = rng.standard_normal(xs, dtype=np.float32)
        w = rng.standard_normal(ws, dtype=np.float32) * 0.1
        b = rng.standard_normal(ws[0], dtype=np.float32)
        cx, cw, cb = (cr.tensor(a, requires_grad=True) for a in (x, w, b))
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        g_c = cr.ones(*F.conv2d(cx, cw, cb, padding=pad).shape)
        g_t = torch.ones(*g_c.shape)

        def ours(cx=cx, cw=cw, cb=cb, pad=pad, g=g_c) -> None:
            F.conv2d(cx, cw, cb, padding=pad).backward(g)

        def theirs(tx=tx, tw=tw, tb=tb, pad=pad, g=g_t) -> None:
            torch.nn.functional.conv2d(tx, tw, tb, padding=pad).backward(g)

        fns = {"cr": ours, "torch": theirs}
        if not args.no_einsum:
            fns["einsum"] = _einsum_conv(x, w, pad)
        times: dict[str, list[float]] = {k: [] for k in fns}
        for f in fns.values():
            f()
        for _ in range(args.rounds):
            for k, f in fns.items():
                n = 3
                t = time.perf_counter()
                for _ in range(n):
                    f()
                times[k].append((time.perf_counter() - t) / n)
        med = {k: 1e3 * statistics.median(v) for k, v in times.items()}
        e = f"{med['einsum']:9.2f}" if "einsum" in med else "-"
        print(f"{name:50s} {med['cr']:9.2f} {med['torch']:9.2f} "
              f"{med['torch'] / med['cr']:6.2f}x {e:>10s}", flush=True)


if __name__ == "__main__":
    main()
