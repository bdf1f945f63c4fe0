"""``chainrule train`` wall time by BLAS thread count: the default ``--threads auto`` beside 1,
2 and every core (NumPy's own default). Run: ``python -m bench.threads [--repeats 3]
[--dataset digits] [--epochs 5]``. Each setting runs in a fresh process with no thread variables
set (so NumPy would start one thread per core); prints medians and the test accuracy of each,
which shows whether the thread count changed the result."""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def one(threads: str, dataset: str, epochs: int, extra: list[str]) -> tuple[float, str, str]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "-m", "chainrule.cli.main", "train", "--dataset", dataset,
           "--epochs", str(epochs), "--no-save", "--progress", "none", "--threads", threads,
           *extra]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - t0
    acc = re.search(r"test (accuracy|mae) ([\d.]+)", r.stdout)
    used = re.search(r"threads (\d+ \([^)]*\))", r.stdout)
    return wall, acc.group(2) if acc else "?", used.group(1) if used else "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="runs per setting (default 3)")
    ap.add_argument("--dataset", default="digits", help="dataset to train on (default digits)")
    ap.add_argument("--epochs", type=int, default=5, help="epochs per run (default 5)")
    ap.add_argument("extra", nargs="*", help="further `chainrule train` flags (after --)")
    a = ap.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"chainrule train --dataset {a.dataset} --epochs {a.epochs}: {cores} cores, "
          f"median of {a.repeats} fresh processes (wall time, start-up included)")
    for threads in ("auto", "1", "2", str(cores)):
        runs = [one(threads, a.dataset, a.epochs, a.extra) for _ in range(a.repeats)]
        walls = [w for w, _, _ in runs]
        accs = sorted({acc for _, acc, _ in runs})
        print(f"  --threads {threads:>4}: median {statistics.median(walls):6.2f} s "
              f"(min {min(walls):.2f}, max {max(walls):.2f}); test accuracy {', '.join(accs)}; "
              f"used {runs[0][2]}")


if __name__ == "__main__":
    main()
