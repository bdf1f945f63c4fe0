"""How long ``import chainrule`` takes in a fresh interpreter (target: at most 0.25 s).

Run: ``python -m bench.import_time [--runs 9]``. Each run is ``python -X importtime -c "import
chainrule"``; the figure is chainrule's cumulative line (everything it imports, NumPy included),
as the median and minimum over the runs, plus the slowest direct imports of the last run.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def one_run() -> tuple[float, list[tuple[int, str]]]:
    """Seconds for ``import chainrule`` and the (cumulative us, module) rows of the run."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", "import chainrule"],
                       capture_output=True, text=True, env=env, check=True)
    rows = []
    for line in r.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s+)(\S+)", line)
        if m:
            rows.append((int(m.group(2)), m.group(4), len(m.group(3))))
    total = next(us for us, name, _ in rows if name == "chainrule")
    return total / 1e6, [(us, name) for us, name, depth in rows if depth <= 3]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=9, help="fresh interpreters to time (default 9)")
    n = ap.parse_args().runs
    results = [one_run() for _ in range(n)]
    times = [t for t, _ in results]
    print(f"import chainrule: median {statistics.median(times):.3f} s, min {min(times):.3f} s "
          f"over {n} runs (target <= 0.25 s)")
    for us, name in sorted(results[-1][1], reverse=True)[:8]:
        print(f"  {us / 1e3:7.1f} ms  {name}")


if __name__ == "__main__":
    main()
