"""Embedding's backward (``getitem_backward_array`` on an integer row index): ``np.add.at`` beside
the sorted scatter in ``chainrule.ops.indexing``, vocab 10000 x dim 128, 4096 indices, 1 thread.
Run: ``python -m bench.embedding_backward``. Prints medians of 60 calls of each (timed
alternately) and whether the two results are bit-identical."""

from __future__ import annotations

import os

for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_k] = "1"

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from chainrule.ops.indexing import _scatter_add_rows as _scatter_rows  # noqa: E402


def _scatter_add_rows(g: np.ndarray, shape: tuple, idx: np.ndarray) -> np.ndarray:
    return _scatter_rows(np, g, shape, idx)


def _add_at(g: np.ndarray, shape: tuple[int, int], idx: np.ndarray) -> np.ndarray:
    z = np.zeros(shape, dtype=g.dtype)
    np.add.at(z, idx, g)
    return z


def _time_pair(f, h, *args: object, n: int = 60) -> tuple[float, float]:
    """Medians (ms) of ``f(*args)`` and ``h(*args)``, timed alternately so drift hits both."""
    tf, th = [], []
    for _ in range(n):
        for fn, ts in ((f, tf), (h, th)):
            t0 = time.perf_counter()
            fn(*args)
            ts.append(time.perf_counter() - t0)
    return statistics.median(tf) * 1e3, statistics.median(th) * 1e3


def main(vocab: int = 10000, dim: int = 128) -> None:
    rng = np.random.default_rng(0)
    shape = (vocab, dim)
    cases = [
        ("uniform", rng.integers(0, vocab, (32, 128))),
        ("zipf(1.3)", np.minimum(rng.zipf(1.3, (32, 128)), vocab) - 1),
        ("half padding", np.where(rng.random((32, 128)) < 0.5, 0,
                                  rng.integers(0, vocab, (32, 128)))),
    ]
    print("| dtype | indices | np.add.at (ms) | sorted scatter (ms) | speedup | same bits |")
    print("|---|---|---|---|---|---|")
    for dt in (np.float32, np.float64):
        for name, idx in cases:
            g = rng.standard_normal((*idx.shape, dim)).astype(dt)
            same = np.array_equal(_add_at(g, shape, idx), _scatter_add_rows(g, shape, idx))
            a, b = _time_pair(_add_at, _scatter_add_rows, g, shape, idx)
            print(f"| {np.dtype(dt).name} | {name} | {a:.2f} | {b:.2f} | {a / b:.1f}x | {same} |")


if __name__ == "__main__":
    main()
