"""``chainrule cost``: time one backprop gradient against finite-difference gradients, for
MLPs from about 10^2 to 10^6 parameters, counting the forward passes each method runs.

    chainrule cost                                  # the ladder, about 2 s per network
    chainrule cost --sizes 784,30,10 --format markdown
    chainrule cost --out cost.png                   # and a log-log plot of time against N

A full finite-difference gradient that would overrun --budget seconds is timed on a random
sample of coordinates and extrapolated; the table says which rows are.
"""

from __future__ import annotations

import argparse
from typing import Any

from chainrule.cli.common import CLIError, say

HELP = "measure backprop against finite differences: passes and time per gradient"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("cost", help=HELP, description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=None, metavar="SIZES",
                   help="networks as layer sizes, e.g. 784,30,10 64,16,10 (default: a ladder "
                        "from 112 to 987,210 parameters)")
    p.add_argument("--budget", type=float, default=2.0, metavar="SECONDS",
                   help="finite-difference time per network before sampling (default 2)")
    p.add_argument("--batch", type=int, default=10, metavar="N", help="batch size (default 10)")
    p.add_argument("--out", metavar="PNG", default=None, help="write a log-log plot here")
    p.add_argument("--format", choices=("text", "markdown"), default="text",
                   help="text for the terminal, markdown for a document")
    p.add_argument("--seed", type=int, default=0, help="random seed of the network's weights")
    p.set_defaults(run=run)
    return p


def parse_sizes(spec: str) -> tuple[int, ...]:
    """``"784,30,10"`` (or ``784-30-10``, ``784x30x10``) as a tuple of layer sizes."""
    items = spec.strip().strip("[]()").replace("-", ",").replace("x", ",").split(",")
    try:
        sizes = tuple(int(s) for s in items if s.strip())
    except ValueError:
        raise CLIError(f"--sizes {spec!r}: expected layer sizes like 784,30,10") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise CLIError(f"--sizes {spec!r}: expected at least two positive sizes like 784,30,10")
    return sizes


def run(args: argparse.Namespace) -> int:
    from chainrule.cli.plot import have_matplotlib
    from chainrule.viz.cost import LADDER, cost_table, measure_cost, plot_cost

    nets = [parse_sizes(s) for s in args.sizes] if args.sizes else list(LADDER)
    if not args.budget > 0:
        raise CLIError(f"--budget: must be > 0 seconds, got {args.budget}")
    if args.batch < 1:
        raise CLIError(f"--batch: must be >= 1, got {args.batch}")
    if args.out and not have_matplotlib():
        raise CLIError("--out: the plot needs matplotlib: pip install chainrule[plot]")
    rows = [measure_cost(s, budget=args.budget, batch=args.batch, seed=args.seed) for s in nets]
    say(cost_table(rows, markdown=args.format == "markdown"))
    say("")
    say(f"sigmoid MLPs, cross-entropy, batch {args.batch}, float32; passes counted by hooks; "
        "times are the best of repeats")
    for r in rows:
        say(f"{'-'.join(map(str, r.sizes))}: N = {r.n:,} parameters; forward differences need "
            f"{r.fwd_passes:,} forward passes, backprop {r.bp_forward} forward + "
            f"{r.bp_backward} backward; backprop is {r.ratio:,.0f}x faster"
            + (" (FD time extrapolated)" if r.extrapolated else ""))
    if args.out:
        say(f"plot: {plot_cost(rows, args.out)}")
    return 0
