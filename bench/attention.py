"""Scaled-dot-product attention, forward + backward, 1 thread: chainrule's fused primitive beside
the same computation composed from chainrule ops (matmul, masked_fill, softmax, matmul), and
PyTorch's ``F.scaled_dot_product_attention`` in the same run. Causal mask, float32.
Run: ``python -m bench.attention``. Prints medians (ms) of 40 calls of each, timed in turns."""

from __future__ import annotations

import os

for _k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_k] = "1"

import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402

SHAPES = [(32, 4, 64, 16), (8, 8, 256, 64), (1, 4, 16, 16)]


def composed(q: cr.Tensor, k: cr.Tensor, v: cr.Tensor, causal: cr.Tensor) -> cr.Tensor:
    s = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    s = s.masked_fill(causal, float("-inf"))
    return F.softmax(s, dim=-1) @ v


def fused(q: cr.Tensor, k: cr.Tensor, v: cr.Tensor, causal: cr.Tensor) -> cr.Tensor:
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)


def step(fn, q, k, v, causal, g) -> None:
    for t in (q, k, v):
        t.grad = None
    fn(q, k, v, causal).backward(g)


def main(n: int = 40) -> None:
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    print("| shape (B, H, T, d) | composed (ms) | fused (ms) | fused speed-up | torch (ms) "
          "| fused / torch time |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        arrs = [rng.standard_normal(shape).astype(np.float32) for _ in range(4)]
        q, k, v = (cr.tensor(a, requires_grad=True) for a in arrs[:3])
        g = cr.tensor(arrs[3])
        T = shape[2]
        causal = cr.ones(T, T).triu(1) == 1
        np.testing.assert_allclose(composed(q, k, v, causal).numpy(),
                                   fused(q, k, v, causal).numpy(), rtol=1e-4, atol=1e-5)
        runs = {"composed": [], "fused": [], "torch": []}
        tq = tk = tv = tg = None
        if torch is not None:
            tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in arrs[:3])
            tg = torch.tensor(arrs[3])
        for _ in range(n):
            for name, fn in (("composed", composed), ("fused", fused)):
                t0 = time.perf_counter()
                step(fn, q, k, v, causal, g)
                runs[name].append(time.perf_counter() - t0)
            if torch is not None:
                t0 = time.perf_counter()
                for t in (tq, tk, tv):
                    t.grad = None
                torch.nn.functional.scaled_dot_product_attention(
                    tq, tk, tv, is_causal=True).backward(tg)
                runs["torch"].append(time.perf_counter() - t0)
        med = {k_: statistics.median(v_) * 1e3 if v_ else float("nan") for k_, v_ in runs.items()}
        print(f"| {shape} | {med['composed']:.3f} | {med['fused']:.3f} "
              f"| {med['composed'] / med['fused']:.2f}x | {med['torch']:.3f} "
              f"| {med['fused'] / med['torch']:.2f} |")


if __name__ == "__main__":
    main()
