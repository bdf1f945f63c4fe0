"""``cr.compile`` beside eager chainrule, hand NumPy and PyTorch (eager, and torch.compile when
asked and it runs here), on W1, W3 and W5, in one process with interleaved windows.

    python -m bench.compiled                      # W1 W3 W5, 1 thread
    python -m bench.compiled --torch-compile      # also torch.compile (slow first call)

Thread counts are fixed before NumPy/torch are imported. Each window runs one framework's steps
for at least ``--window`` seconds, frameworks in rotating order, parameters reset before each
window; the table shows medians. Before timing, the compiled step is checked against eager
chainrule bit for bit (loss and parameter sums after 5 steps from the same start).
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", default=["W1", "W3", "W5"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--windows", type=int, default=7)
    ap.add_argument("--window", type=float, default=0.3)
    ap.add_argument("--torch-compile", action="store_true")
    a = ap.parse_args(argv)
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[v] = str(a.threads)
    import gc
    import time

    import numpy as np

    import chainrule as cr
    from bench import workloads_chainrule, workloads_numpy
    from bench.spec import WORKLOADS, Unavailable
    try:
        import torch

        from bench import workloads_torch
        torch.set_num_threads(a.threads)
    except ImportError:
        torch = None

    def compiled(name: str) -> object:
        r = workloads_chainrule.build(name)
        r.step = cr.compile(r.step, strict=True)
        return r

    def torch_compiled(name: str) -> object:
        r = workloads_torch.build(name)
        r.step = torch.compile(r.step)
        return r

    makers = {"chainrule": workloads_chainrule.build, "cr.compile": compiled,
              "hand NumPy": workloads_numpy.build}
    if torch is not None:
        makers["PyTorch"] = workloads_torch.build
        if a.torch_compile:
            makers["torch.compile"] = torch_compiled
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch else 'not installed'}, threads {a.threads}; "
          "jax: not installed (jax.jit not measured)")
    rows = []
    for wl in a.workloads:
        spec = WORKLOADS[wl]
        runners = {}
        for fw, make in makers.items():
            try:
                runners[fw] = make(wl)
            except Unavailable as e:
                print(f"{fw} {wl}: unavailable ({e})")
        # bit-for-bit check of the compiled step against eager chainrule
        fps = {}
        for fw in ("chainrule", "cr.compile"):
            r = runners[fw]
            r.reset()
            for _ in range(5):
                out = r.step()
            fps[fw] = r.fingerprint(out)
        same = fps["chainrule"] == fps["cr.compile"]
        for r in runners.values():  # warm-up (records the compiled step; compiles torch's)
            r.reset()
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 0.3:
                r.step()
        times: dict[str, list[float]] = {fw: [] for fw in runners}
        order = list(runners)
        for w in range(a.windows):
            for fw in order[w % len(order):] + order[:w % len(order)]:
                r = runners[fw]
                r.reset()
                gc.collect()
                n, t0 = 0, time.perf_counter()
                while True:
                    r.step()
                    n += 1
                    t = time.perf_counter() - t0
                    if t >= a.window:
                        break
                times[fw].append(t / n)
                time.sleep(0.02)
        med = {fw: float(np.median(v)) * spec.scale for fw, v in times.items()}
        rows.append((spec, med, same))
    fws = list(makers)
    head = ["workload", "unit", *fws, "cr.compile vs NumPy", "cr.compile vs eager",
            "cr.compile vs PyTorch", "bit-exact vs eager"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for spec, med, same in rows:
        cells = [spec.name, spec.unit] + [f"{med[f]:.3g}" if f in med else "-" for f in fws]
        c = med["cr.compile"]
        cells += [f"{med['hand NumPy'] / c:.2f}x", f"{med['chainrule'] / c:.2f}x",
                  f"{med['PyTorch'] / c:.2f}x" if "PyTorch" in med else "-",
                  "yes" if same else "**no**"]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
