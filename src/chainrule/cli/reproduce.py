"""``chainrule reproduce NAME``: a published result, reproduced, beside the published figure.

    chainrule reproduce --list                    # every experiment, ready or pending
    chainrule reproduce symmetry                  # Rumelhart et al. 1986, 20 seeds
    chainrule reproduce xor --seeds 5 --out runs/xor
    chainrule reproduce nielsen --data ~/mnist    # the book's own table, given MNIST's IDX files

Prints a Markdown table (the published figure, chainrule's, PyTorch's on the same configuration
when torch is importable) and writes it with the pictures to --out (default
runs/reproduce/NAME). docs/results.md has every table with its command and times.
"""

from __future__ import annotations

import argparse
from typing import Any

from chainrule.cli.common import CLIError, say

HELP = "reproduce a published result (Rumelhart 1986, Nielsen, Fashion-MNIST, MNIST-1D)"


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("reproduce", help=HELP, description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", help="the experiment (see --list)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="seeds 0..N-1 where the result depends on the seed (default: the "
                        "experiment's, 20 for Rumelhart's tasks)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="where to write results.md and pictures (default runs/reproduce/NAME)")
    p.add_argument("--data", metavar="DIR", default=None,
                   help="a folder of MNIST-style IDX files (nielsen, fashion-mnist)")
    tg = p.add_mutually_exclusive_group()
    tg.add_argument("--torch", dest="torch", action="store_true", default=None,
                    help="run PyTorch beside (default: when it is importable)")
    tg.add_argument("--no-torch", dest="torch", action="store_false", default=None,
                    help="do not run the PyTorch side, even when torch is installed")
    p.add_argument("--epochs", type=int, default=None, metavar="N",
                   help="fewer epochs (Rumelhart: the sweep limit; MNIST-1D: epochs of 40 steps, "
                        "150 by default) for a quick run")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="at most N training images (quick runs)")
    p.add_argument("--quiet", action="store_true", help="print only the table")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from chainrule import reproduce as R

    if args.list:
        say(R.listing())
        return 0
    if not args.name:
        raise CLIError("name an experiment, or --list to see them: "
                       + ", ".join(R.EXPERIMENTS))
    for flag in ("seeds", "epochs", "limit"):
        v = getattr(args, flag)
        if v is not None and v < 1:
            raise CLIError(f"--{flag} {v}: expected a whole number of at least 1")
    try:
        R.get(args.name)
    except KeyError as e:
        raise CLIError(e.args[0]) from None
    out = args.out if args.out is not None else f"runs/reproduce/{args.name}"
    opts = R.Options(seeds=args.seeds, out=out, data=args.data, torch=args.torch,
                     epochs=args.epochs, limit=args.limit, progress=not args.quiet)
    try:
        report = R.run(args.name, opts)
    except (R.PendingError, FileNotFoundError) as e:
        raise CLIError(str(e)) from None
    say(report.markdown())
    say(f"(written to {out}/results.md)")
    return 0
