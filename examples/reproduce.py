"""Every published result chainrule reproduces, from Python: ``chainrule reproduce`` as a script.

Run: ``python examples/reproduce.py --list``, ``python examples/reproduce.py nielsen`` (the four
configurations of Nielsen's chapters 1 and 3), ``python examples/reproduce.py fashion-mnist``,
``python examples/reproduce.py mnist1d --seeds 3``. docs/results.md has the tables.
"""

from __future__ import annotations

import argparse

from chainrule import reproduce


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", nargs="?")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if a.list or not a.name:
        print(reproduce.listing())
        return
    report = reproduce.run(a.name, seeds=a.seeds, epochs=a.epochs,
                           out=a.out or f"runs/reproduce/{a.name}")
    print(report.markdown())


if __name__ == "__main__":
    main()
