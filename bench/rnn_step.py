"""Recurrent layers beside PyTorch, forward + backward of a whole sequence, 1 thread.

Run: ``python -m bench.rnn_step`` (``--quick`` for fewer rounds). Default workload: batch 32,
input 128, hidden 128, 50 time steps, float32, loss = output.sum(); for ``nn.LSTM``, ``nn.GRU``,
``nn.RNN`` and an ``nn.LSTMCell`` loop written by hand. Prints medians (ms) of calls timed
alternately (so drift hits both) and the ratio chainrule / PyTorch (lower is better), plus the
per-step cost of chainrule's LSTM (ms per time step, forward + backward).
"""

from __future__ import annotations

import os

for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_k] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import chainrule as cr  # noqa: E402


def _time_pair(f: Callable[[], Any], h: Callable[[], Any], n: int) -> tuple[float, float]:
    """Medians (ms) of ``f()`` and ``h()``, timed alternately after one warm-up call each."""
    f(), h()
    tf, th = [], []
    for _ in range(n):
        for fn, ts in ((f, tf), (h, th)):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return statistics.median(tf) * 1e3, statistics.median(th) * 1e3


def _workloads(lib: Any, T: int, B: int, I: int, H: int) -> dict[str, Callable[[], Any]]:
    """One forward + backward per workload, built with ``lib`` (chainrule or torch)."""
    lib.manual_seed(0)
    x = lib.randn(T, B, I)
    layers = {"LSTM": lib.nn.LSTM(I, H), "GRU": lib.nn.GRU(I, H), "RNN (tanh)": lib.nn.RNN(I, H)}
    cell = lib.nn.LSTMCell(I, H)

    def layer_step(m: Any) -> Callable[[], Any]:
        def run() -> None:
            m.zero_grad()
            m(x)[0].sum().backward()
        return run

    def cell_loop() -> None:
        cell.zero_grad()
        h = c = lib.zeros(B, H)
        loss = 0
        for t in range(T):
            h, c = cell(x[t], (h, c))
            loss = loss + h.sum()
        loss.backward()

    out = {k: layer_step(m) for k, m in layers.items()}
    out["LSTMCell loop"] = cell_loop
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--input", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--quick", action="store_true", help="3 rounds (a smoke run)")
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    n = 3 if a.quick else a.rounds
    dims = (a.steps, a.batch, a.input, a.hidden)
    ours, theirs = _workloads(cr, *dims), _workloads(torch, *dims)
    print(f"forward + backward, T={a.steps} B={a.batch} input={a.input} hidden={a.hidden}, "
          f"float32, 1 thread, median of {n} (numpy {np.__version__}, torch {torch.__version__})")
    print()
    print("| workload | chainrule (ms) | PyTorch (ms) | chainrule / PyTorch | "
          "chainrule ms per step |")
    print("|---|---|---|---|---|")
    for name in ours:
        c, t = _time_pair(ours[name], theirs[name], n)
        print(f"| {name} | {c:.1f} | {t:.1f} | {c / t:.2f}x | {c / a.steps:.3f} |")


if __name__ == "__main__":
    main()
