"""Reparameterised sampling beside PyTorch: ``rsample()`` of 10,000 draws + backward, 1 thread.

Run: ``python -m bench.distributions`` (``--quick`` for fewer rounds). float64, one batch of
10,000 independent parameters. Prints medians (ms) of calls timed alternately and the ratio
chainrule / PyTorch (lower is better). chainrule's Gamma draws through its quantile function
(SciPy's ``gammaincinv``) and differentiates it by the implicit gradient (series or
Richardson-extrapolated differences of ``gammainc``); PyTorch's is a C++ rejection sampler with
a rational approximation of the gradient. Beta is two gammas (chainrule) or a Dirichlet
(PyTorch).
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

N = 10_000
CASES: dict[str, Callable[[Any, Any], Any]] = {
    "Normal(a, 1)": lambda d, a: d.Normal(a, 1.0),
    "Gamma(a, 1)": lambda d, a: d.Gamma(a, 1.0),
    "Beta(a, a)": lambda d, a: d.Beta(a, a),
    "Dirichlet([a, a, a])": lambda d, a: d.Dirichlet(a.unsqueeze(-1).expand(N, 3)),
    "StudentT(a)": lambda d, a: d.StudentT(a),
}


def _step(lib: Any, make: Callable[[Any, Any], Any]) -> Callable[[], Any]:
    a = lib.tensor(np.full(N, 2.5), requires_grad=True)

    def run() -> None:
        make(lib.distributions, a).rsample().sum().backward()
    return run


def table(rounds: int) -> list[str]:
    """The markdown table: one row per distribution, medians of ``rounds`` alternate calls."""
    import torch

    torch.set_num_threads(1)
    rows = [f"rsample() of {N:,} draws + backward, float64, 1 thread, median of {rounds} "
            f"(numpy {np.__version__}, torch {torch.__version__})", "",
            "| distribution | chainrule (ms) | PyTorch (ms) | chainrule / PyTorch |",
            "|---|---|---|---|"]
    for name, make in CASES.items():
        c, t = _time_pair(_step(cr, make), _step(torch, make), rounds)
        rows.append(f"| {name} | {c:.2f} | {t:.2f} | {c / t:.2f}x |")
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--quick", action="store_true", help="3 rounds (a smoke run)")
    args = ap.parse_args(argv)
    print("\n".join(table(3 if args.quick else args.rounds)))


if __name__ == "__main__":
    main()
