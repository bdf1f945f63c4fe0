"""How an LSTM's backward time grows with the number of time steps, 1 thread.

Run: ``python -m bench.rnn_time_steps`` (``--steps 50 200 800``, ``--repeat 5``). Workload:
``nn.LSTM(64, 64)``, batch 16, float32, an input that requires grad (as the output of an
Embedding does), loss = output.sum(). Prints the median backward time (ms) per sequence length
and per time step: flat per-step figures mean backward is O(T); growing ones, O(T^2) (each time
step's slice of the input sending a full-size gradient back, as ``x[t]`` would).
PyTorch's figures are printed beside when it is installed.
"""

from __future__ import annotations

import os

for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_k] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import chainrule as cr  # noqa: E402


def backward_ms(lib: Any, T: int, repeat: int, B: int = 16, I: int = 64, H: int = 64) -> float:
    """Median backward time (ms) of ``lib.nn.LSTM(I, H)`` over a (T, B, I) input."""
    lib.manual_seed(0)
    lstm = lib.nn.LSTM(I, H)
    times = []
    for _ in range(repeat + 1):  # the first is a warm-up
        x = lib.randn(T, B, I, requires_grad=True)
        loss = lstm(x)[0].sum()
        t0 = time.perf_counter()
        loss.backward()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:]) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[50, 200, 800])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    print(f"{'T':>6} {'chainrule ms':>13} {'ms/step':>8}" + (
        f" {'torch ms':>9} {'ms/step':>8}" if torch else ""))
    for T in args.steps:
        ours = backward_ms(cr, T, args.repeat)
        line = f"{T:>6} {ours:>13.1f} {ours / T:>8.3f}"
        if torch is not None:
            theirs = backward_ms(torch, T, args.repeat)
            line += f" {theirs:>9.1f} {theirs / T:>8.3f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
