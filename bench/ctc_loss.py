"""CTC loss beside PyTorch: forward + backward of ``ctc_loss(log_softmax(x), ...)``, 1 thread.

Run: ``python -m bench.ctc_loss`` (``--quick`` for fewer rounds). Three shapes (T frames, N
items, C classes, S the longest target; input lengths 3T/4..T, target lengths S/2..S), float32,
'mean' reduction. Prints medians (ms) of calls timed alternately (so drift hits both) and the
ratio chainrule / PyTorch (lower is better). chainrule's loss is a NumPy loop over time steps,
vectorised over the batch and the 2S + 1 extended labels; PyTorch's is a C++ loop.
"""

from __future__ import annotations

import os

for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_k] = "1"

import argparse  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import chainrule as cr  # noqa: E402
from bench.rnn_step import _time_pair  # noqa: E402

SHAPES = ((25, 32, 5, 5), (100, 32, 30, 20), (200, 16, 50, 40))


def _step(lib: Any, x: np.ndarray, targets: np.ndarray, il: list[int],
          tl: list[int]) -> Callable[[], Any]:
    def run() -> None:
        xt = lib.tensor(x, requires_grad=True)
        lib.nn.functional.ctc_loss(xt.log_softmax(-1), lib.tensor(targets), il, tl).backward()
    return run


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--quick", action="store_true", help="3 rounds (a smoke run)")
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    n = 3 if a.quick else a.rounds
    print(f"ctc_loss(log_softmax(x)) forward + backward, float32, 1 thread, median of {n} "
          f"(numpy {np.__version__}, torch {torch.__version__})")
    print()
    print("| T, N, C, S | chainrule (ms) | PyTorch (ms) | chainrule / PyTorch |")
    print("|---|---|---|---|")
    for t_len, n_items, n_cls, s_len in SHAPES:
        rng = np.random.default_rng(0)
        x = rng.standard_normal((t_len, n_items, n_cls)).astype(np.float32)
        targets = rng.integers(1, n_cls, (n_items, s_len))
        il = rng.integers(3 * t_len // 4, t_len + 1, n_items).tolist()
        tl = rng.integers(s_len // 2, s_len + 1, n_items).tolist()
        c, t = _time_pair(_step(cr, x, targets, il, tl), _step(torch, x, targets, il, tl), n)
        print(f"| {t_len}, {n_items}, {n_cls}, {s_len} | {c:.2f} | {t:.2f} | {c / t:.2f}x |")


if __name__ == "__main__":
    main()
