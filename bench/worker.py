"""The process that runs one framework's workloads, driven by ``bench.run`` over a pipe.

Started as ``python -m bench.worker FRAMEWORK`` with the thread-count variables already in its
environment (so NumPy's and PyTorch's thread pools are sized before they are imported). It reads
one JSON command per line on stdin and answers one JSON line on stdout:

- ``{"cmd": "build", "workload": "W1"}``: make the workload (answers ``ok`` or ``unavailable``);
- ``{"cmd": "check", "workload": "W1", "steps": 3}``: reset, run steps, answer the fingerprint;
- ``{"cmd": "warmup", "workload": "W1", "seconds": 0.5, "window": 0.3}``: run untimed steps and
  set the length of the timed windows;
- ``{"cmd": "window", "workload": "W1"}``: reset, then time steps until the window's length has
  passed; answers seconds/step (and minor page faults/step);
- ``{"cmd": "quit"}``.

``python -m bench.worker FRAMEWORK --rss STEPS`` instead runs W1 for STEPS steps in a fresh
process and prints its peak resident set size (``ru_maxrss``) in MiB.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import resource
import sys
import time
import traceback
from typing import Any

from bench.spec import Runner, Unavailable

MODULES = {"chainrule": "bench.workloads_chainrule", "numpy": "bench.workloads_numpy",
           "torch": "bench.workloads_torch"}


def _load(framework: str) -> Any:
    """Import the framework's workload module; size torch's pool from BENCH_THREADS."""
    mod = importlib.import_module(MODULES[framework])
    if framework == "torch" and getattr(mod, "torch", None) is not None:
        mod.torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    return mod


def _versions(framework: str) -> dict:
    import numpy
    v = {"numpy": numpy.__version__, "python": sys.version.split()[0]}
    if framework == "chainrule":
        import chainrule
        v["chainrule"] = chainrule.__version__
    if framework == "torch" and "torch" in sys.modules:
        import torch
        v["torch"] = torch.__version__
        v["torch_threads"] = torch.get_num_threads()
    return v


class Session:
    """The workloads this worker has built, and the length of each one's timed windows."""

    def __init__(self, mod: Any, opts: dict) -> None:
        self.mod = mod
        self.opts = opts
        self.runners: dict[str, Runner] = {}
        self.window_s: dict[str, float] = {}

    def build(self, workload: str) -> dict:
        try:
            self.runners[workload] = self.mod.build(workload, **self.opts)
        except Unavailable as e:
            return {"status": "unavailable", "reason": str(e)}
        return {"status": "ok"}

    def check(self, workload: str, steps: int) -> dict:
        r = self.runners[workload]
        r.reset()
        out = None
        for _ in range(steps):
            out = r.step()
        fp = r.fingerprint(out)
        r.reset()
        return {"status": "ok", "fingerprint": fp}

    def warmup(self, workload: str, seconds: float, window: float, min_steps: int = 5) -> dict:
        r = self.runners[workload]
        r.reset()
        step = r.step
        n = 0
        t0 = time.perf_counter()
        while True:
            step()
            n += 1
            el = time.perf_counter() - t0
            if n >= min_steps and el >= seconds:
                break
        self.window_s[workload] = window
        return {"status": "ok", "warmup_steps": n, "seconds_per_step": el / n}

    def window(self, workload: str) -> dict:
        """Reset, then run steps until at least the window's length has passed."""
        r = self.runners[workload]
        length = self.window_s[workload]
        r.reset()
        step = r.step
        clock = time.perf_counter
        n = 0
        gc.collect()
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = clock()
        while True:
            step()
            n += 1
            el = clock() - t0
            if el >= length:
                break
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
        return {"status": "ok", "seconds_per_step": el / n, "steps": n,
                "faults_per_step": faults / n}


def serve(framework: str, opts: dict) -> None:
    out = sys.stdout
    sys.stdout = sys.stderr  # anything a library prints must not corrupt the protocol

    def send(msg: dict) -> None:
        out.write(json.dumps(msg) + "\n")
        out.flush()

    try:
        mod = _load(framework)
    except Unavailable as e:
        send({"status": "unavailable", "reason": str(e)})
        return
    if getattr(mod, "torch", True) is None:
        send({"status": "unavailable", "reason": "torch is not installed"})
        return
    session = Session(mod, opts)
    send({"status": "ok", "versions": _versions(framework), "pid": os.getpid()})
    for line in sys.stdin:
        cmd = json.loads(line)
        kind = cmd.pop("cmd")
        if kind == "quit":
            return
        try:
            send(getattr(session, kind)(**cmd))
        except Exception as e:  # report, keep serving: one broken workload must not stop a run
            traceback.print_exc()
            send({"status": "error", "reason": f"{type(e).__name__}: {e}"})


def peak_rss(framework: str, steps: int, opts: dict | None = None) -> None:
    mod = _load(framework)
    r = mod.build("W1", **(opts or {}))
    for _ in range(steps):
        r.step()
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"status": "ok", "rss_mib": kib / 1024.0}))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("framework", choices=sorted(MODULES))
    ap.add_argument("--rss", type=int, default=0, metavar="STEPS")
    ap.add_argument("--sgd", default="isub", help="chainrule's SGD update: isub or sub_")
    ap.add_argument("--api", default="engine", choices=("engine", "nn"),
                    help="chainrule's API: engine (leaf tensors) or nn (nn.Linear + optim.SGD)")
    a = ap.parse_args(argv)
    opts = {"sgd": a.sgd, "api": a.api} if a.framework == "chainrule" else {}
    if a.rss:
        try:
            peak_rss(a.framework, a.rss, opts)
        except Unavailable as e:
            print(json.dumps({"status": "unavailable", "reason": str(e)}))
        return
    serve(a.framework, opts)


if __name__ == "__main__":
    main()
