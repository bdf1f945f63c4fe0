"""``cr.compile`` (unfused, and fused with ``fuse=True`` when numba is installed) beside eager
chainrule, hand NumPy, PyTorch (eager, and torch.compile when asked and it runs here) and
jax.jit (when jax is installed), on W1, W3, W4, W5 and an LSTM step, in one process with
interleaved windows.

    python -m bench.compiled                      # W1 W3 W4 W5 LSTM, 1 thread
    python -m bench.compiled --torch-compile      # also torch.compile (slow first call)
    python -m bench.compiled --runs 3 --workloads W1 W3 W5   # 3 processes, median ratios

Thread counts (OpenMP, BLAS, torch, XLA's CPU pool) are fixed before NumPy/torch/jax are
imported. Each window runs one framework's steps for at least ``--window`` seconds, frameworks
in rotating order, parameters reset before each window; the table shows medians. LSTM:
``nn.LSTM(32, 64)`` over 20 steps of a batch of 16, a linear head on the last output, MSE, SGD
(no hand NumPy or JAX version). Before timing, the compiled step is checked against eager
chainrule bit for bit, and the fused one for its largest relative difference (loss and
parameter sums after 5 steps from the same start).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

FUSED = "cr.compile fuse"
RATIOS = (("cr.compile", "hand NumPy"), (FUSED, "hand NumPy"), (FUSED, "cr.compile"),
          (FUSED, "jax.jit"), (FUSED, "PyTorch"), ("jax.jit", "hand NumPy"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", default=["W1", "W3", "W4", "W5", "LSTM"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--windows", type=int, default=7)
    ap.add_argument("--window", type=float, default=0.3)
    ap.add_argument("--torch-compile", action="store_true")
    ap.add_argument("--runs", type=int, default=1,
                    help="run the benchmark in this many fresh processes, one after the "
                         "other, and add a table of the median ratios")
    ap.add_argument("--json", help=argparse.SUPPRESS)  # one run's medians, for --runs
    a = ap.parse_args(argv)
    if a.runs > 1:
        return _runs(a, argv if argv is not None else sys.argv[1:])
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[v] = str(a.threads)
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                          f"intra_op_parallelism_threads={a.threads}")
    import gc
    import time

    import numpy as np

    import chainrule as cr
    from bench import workloads_chainrule, workloads_jax, workloads_numpy
    from bench.spec import WORKLOADS, Unavailable, Workload
    try:
        import torch

        from bench import workloads_torch
        torch.set_num_threads(a.threads)
    except ImportError:
        torch = None
    try:
        import numba
    except ImportError:
        numba = None

    def cr_build(name: str) -> object:
        return _lstm_chainrule() if name == "LSTM" else workloads_chainrule.build(name)

    def torch_build(name: str) -> object:
        return _lstm_torch() if name == "LSTM" else workloads_torch.build(name)

    def numpy_build(name: str) -> object:
        if name == "LSTM":
            raise Unavailable("no hand-written NumPy LSTM")
        return workloads_numpy.build(name)

    def jax_build(name: str) -> object:
        if name == "LSTM":
            raise Unavailable("no JAX LSTM here")
        return workloads_jax.build(name)

    def compiled(name: str, fuse: bool = False) -> object:
        r = cr_build(name)
        r.step = cr.compile(r.step, strict=True, fuse=fuse)
        return r

    def torch_compiled(name: str) -> object:
        r = torch_build(name)
        r.step = torch.compile(r.step)
        return r

    makers = {"chainrule": cr_build, "cr.compile": compiled, "hand NumPy": numpy_build}
    if numba is not None:
        makers[FUSED] = lambda name: compiled(name, fuse=True)
    if torch is not None:
        makers["PyTorch"] = torch_build
        if a.torch_compile:
            makers["torch.compile"] = torch_compiled
    if workloads_jax.jax is not None:
        makers["jax.jit"] = jax_build
    jax_v = workloads_jax.jax.__version__ if workloads_jax.jax is not None else None
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch else 'not installed'}, "
          f"numba {numba.__version__ if numba else 'not installed (no fused column)'}, "
          f"jax {jax_v or 'not installed (jax.jit not measured)'}, threads {a.threads}")
    rows = []
    for wl in a.workloads:
        spec = WORKLOADS.get(wl) or Workload("LSTM", "LSTM step", "ms/step", 1e3)
        runners = {}
        for fw, make in makers.items():
            try:
                runners[fw] = make(wl)
            except Unavailable as e:
                print(f"{fw} {wl}: unavailable ({e})")
            except Exception as e:  # torch.compile needs a working C compiler (inductor)
                print(f"{fw} {wl}: failed ({type(e).__name__}: {str(e).splitlines()[0][:120]})")
        # the compiled steps against eager chainrule: bit for bit, and the fused one's largest
        # relative difference
        fps = {}
        for fw in ("chainrule", "cr.compile", FUSED):
            if fw in runners:
                r = runners[fw]
                r.reset()
                for _ in range(5):
                    out = r.step()
                fps[fw] = np.array(r.fingerprint(out))
        same = bool((fps["chainrule"] == fps["cr.compile"]).all())
        drift = (float(np.max(np.abs(fps[FUSED] - fps["chainrule"])
                              / np.abs(fps["chainrule"]))) if FUSED in fps else None)
        broken: list = []
        for r in runners.values():  # warm-up (records/compiles the compiled steps)
            r.reset()
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < 0.3:
                try:
                    r.step()
                except Exception as e:  # torch.compile compiles on the first call
                    print(f"{wl}: a warm-up step failed ({type(e).__name__}: "
                          f"{str(e).splitlines()[0][:120]})")
                    broken.append(r)
                    break
        for fw in [f for f, r in runners.items() if r in broken]:
            del runners[fw]
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
        rows.append({"workload": spec.name, "unit": spec.unit, "times": med, "same": same,
                     "drift": drift})
    _table(rows, list(makers))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "frameworks": list(makers)}, f)
    return 0


def _ratio(med: dict, num: str, den: str) -> float | None:
    """How many times faster ``num`` is than ``den`` (time of den / time of num)."""
    return med[den] / med[num] if num in med and den in med else None


def _table(rows: list[dict], fws: list[str]) -> None:
    head = ["workload", "unit", *fws, *(f"{x} vs {y}" for x, y in RATIOS),
            "cr.compile bit-exact vs eager", "fused: max rel. diff vs eager"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        med = row["times"]
        cells = [row["workload"], row["unit"]]
        cells += [f"{med[f]:.3g}" if f in med else "-" for f in fws]
        cells += [f"{r:.2f}x" if (r := _ratio(med, x, y)) is not None else "-"
                  for x, y in RATIOS]
        cells += ["yes" if row["same"] else "**no**",
                  "-" if row["drift"] is None else f"{row['drift']:.1e}"]
        print("| " + " | ".join(cells) + " |")


def _runs(a: argparse.Namespace, argv: list[str]) -> int:
    """``--runs N``: N fresh processes one after the other; per-run tables, then medians."""
    import statistics
    import tempfile
    argv = [x for i, x in enumerate(argv) if x != "--runs" and argv[i - 1:i] != ["--runs"]
            and not x.startswith("--runs=")]
    results = []
    with tempfile.TemporaryDirectory() as d:
        for k in range(a.runs):
            path = os.path.join(d, f"run{k}.json")
            print(f"## run {k + 1} of {a.runs}", flush=True)
            subprocess.run([sys.executable, "-m", "bench.compiled", *argv, "--json", path],
                           check=True)
            with open(path) as f:
                results.append(json.load(f))
    fws = results[0]["frameworks"]
    print(f"\n## medians over {a.runs} runs (times: median of the runs' medians; ratios: "
          "median of the runs' ratios)")
    head = ["workload", "unit", *fws, *(f"{x} vs {y}" for x, y in RATIOS)]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for i, row in enumerate(results[0]["rows"]):
        runs = [res["rows"][i]["times"] for res in results]
        cells = [row["workload"], row["unit"]]
        for fw in fws:
            v = [m[fw] for m in runs if fw in m]
            cells.append(f"{statistics.median(v):.3g}" if v else "-")
        for x, y in RATIOS:
            v = [r for m in runs if (r := _ratio(m, x, y)) is not None]
            cells.append(f"{statistics.median(v):.2f}x ({min(v):.2f}-{max(v):.2f})" if v
                         else "-")
        print("| " + " | ".join(cells) + " |")
    return 0


def _lstm_problem() -> tuple:
    import numpy as np
    rng = np.random.default_rng(0)
    return (rng.standard_normal((20, 16, 32)).astype(np.float32),
            rng.standard_normal((16, 1)).astype(np.float32))


def _lstm_chainrule() -> object:
    import numpy as np

    import chainrule as cr
    from bench.spec import Runner
    from chainrule import nn, optim
    x, y = (cr.tensor(a) for a in _lstm_problem())
    cr.manual_seed(0)
    lstm, head = nn.LSTM(32, 64), nn.Linear(64, 1)
    params = list(lstm.parameters()) + list(head.parameters())
    inits = [q.detach().numpy().copy() for q in params]
    opt = optim.SGD(params, lr=0.01)
    loss_fn = nn.MSELoss()

    def step() -> object:
        opt.zero_grad()
        out, _ = lstm(x)
        loss = loss_fn(head(out[-1]), y)
        loss.backward()
        opt.step()
        return loss

    def reset() -> None:
        for q, a in zip(params, inits):
            np.copyto(q.detach().numpy(), a)

    def fingerprint(loss: object) -> list[float]:
        return [float(loss.item())] + [float(q.detach().numpy().sum(dtype=np.float64))
                                       for q in params]
    return Runner(step, reset, fingerprint)


def _lstm_torch() -> object:
    import torch

    from bench.spec import Runner
    x, y = (torch.from_numpy(a) for a in _lstm_problem())
    torch.manual_seed(0)
    lstm, head = torch.nn.LSTM(32, 64), torch.nn.Linear(64, 1)
    params = list(lstm.parameters()) + list(head.parameters())
    inits = [q.detach().clone() for q in params]
    opt = torch.optim.SGD(params, lr=0.01)
    loss_fn = torch.nn.MSELoss()

    def step() -> object:
        opt.zero_grad()
        out, _ = lstm(x)
        loss = loss_fn(head(out[-1]), y)
        loss.backward()
        opt.step()
        return loss

    def reset() -> None:
        with torch.no_grad():
            for q, a in zip(params, inits):
                q.copy_(a)

    def fingerprint(loss: object) -> list[float]:
        return [float(loss.item())] + [float(q.detach().double().sum()) for q in params]
    return Runner(step, reset, fingerprint)


if __name__ == "__main__":
    raise SystemExit(main())
