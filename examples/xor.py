"""Train a 2-2-1 network on XOR with the engine alone, and watch the loss fall.

Run: ``python examples/xor.py``. Every step is the whole story of backpropagation: a forward
pass builds the graph, ``loss.backward()`` applies the chain rule from the loss back to every
weight and bias, and gradient descent moves them against their gradients.
"""

from __future__ import annotations

import argparse

import chainrule as cr


def train(steps: int = 2000, lr: float = 0.5, seed: int = 0, report_every: int = 200,
          quiet: bool = False) -> float:
    cr.manual_seed(seed)
    x = cr.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = cr.tensor([[0.0], [1.0], [1.0], [0.0]])

    w1 = cr.randn(2, 4, requires_grad=True)  # 2 inputs -> 4 hidden (sigmoid)
    b1 = cr.zeros(4, requires_grad=True)
    w2 = cr.randn(4, 1, requires_grad=True)  # 4 hidden -> 1 output (sigmoid)
    b2 = cr.zeros(1, requires_grad=True)
    params = [w1, b1, w2, b2]

    loss = None
    for step in range(steps + 1):
        hidden = (x @ w1 + b1).sigmoid()          # forward pass, left to right
        out = (hidden @ w2 + b2).sigmoid()
        loss = ((out - y) ** 2).mean()            # the loss: how wrong we are
        for p in params:
            p.grad = None
        loss.backward()                           # backward pass, right to left
        with cr.no_grad():                        # gradient descent
            for p in params:
                p -= lr * p.grad
        if not quiet and step % report_every == 0:
            print(f"step {step:5d}   loss {loss.item():.6f}")

    with cr.no_grad():
        pred = ((x @ w1 + b1).sigmoid() @ w2 + b2).sigmoid()
    if not quiet:
        print("predictions:", [round(v, 3) for v in pred.reshape(-1).tolist()], "(targets 0 1 1 0)")
    return float(loss.item())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()
    final = train(a.steps, a.lr, a.seed, quiet=a.quiet)
    if final > 0.05:
        raise SystemExit(f"XOR did not converge: final loss {final:.4f}")


if __name__ == "__main__":
    main()
