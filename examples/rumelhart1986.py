"""Rumelhart, Hinton & Williams (1986): mirror symmetry with their exact rule, on chainrule.

Run: ``python examples/rumelhart1986.py`` (one seed, read the rule below), or
``chainrule reproduce symmetry`` (20 seeds, PyTorch beside, the Hinton diagram; also ``xor``,
``parity``, ``encoder``). The rule: logistic units; E = 1/2 sum over all 64 cases of the squared
error; one weight change per sweep through the cases, dw(t) = -eps dE/dw + alpha dw(t-1), which
is SGD with momentum; initial weights uniform in (-0.3, 0.3). The paper's network took 1,425
sweeps and learned hidden weights antisymmetric about the middle, in the ratio 1:2:4.
"""

from __future__ import annotations

import argparse

import numpy as np

import chainrule as cr
from chainrule import optim


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=5)
    a = ap.parse_args()

    bits = (np.arange(64)[:, None] >> np.arange(5, -1, -1)) & 1  # every 6-bit input
    x = cr.from_numpy(bits.astype(np.float64))
    t = cr.from_numpy((bits == bits[:, ::-1]).all(1, keepdims=True).astype(np.float64))

    rng = np.random.default_rng(a.seed)
    def init(*shape: int) -> cr.Tensor:
        return cr.from_numpy(rng.uniform(-0.3, 0.3, shape)).requires_grad_()
    w1, b1, w2, b2 = init(6, 2), init(1, 2), init(2, 1), init(1, 1)
    opt = optim.SGD([w1, b1, w2, b2], lr=0.1, momentum=0.9)  # eps 0.1, alpha 0.9

    for sweep in range(20001):  # noqa: B007 (read after the loop)
        y = ((x @ w1 + b1).sigmoid() @ w2 + b2).sigmoid()
        if (y - t).abs().max().item() < 0.1:  # every output within 0.1 of its target
            break
        error = 0.5 * ((y - t) ** 2).sum()    # summed over all cases: one change per sweep
        opt.zero_grad()
        error.backward()
        opt.step()
    print(f"seed {a.seed}: solved after {sweep} sweeps (the paper: 1,425)")
    print("hidden weights, input 1..6 (one row per hidden unit):")
    print(np.array2string(w1.detach().numpy().T, precision=2, suppress_small=True))


if __name__ == "__main__":
    main()
