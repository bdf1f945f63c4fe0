"""``cr.compile`` beside eager chainrule, hand NumPy and PyTorch (eager, and torch.compile when
asked and it runs here), on W1, W3, W4, W5 and an LSTM step, in one process with interleaved
windows.

    python -m bench.compiled                      # W1 W3 W4 W5 LSTM, 1 thread
    python -m bench.compiled --torch-compile      # also torch.compile (slow first call)

Thread counts are fixed before NumPy/torch are imported. Each window runs one framework's steps
for at least ``--window`` seconds, frameworks in rotating order, parameters reset before each
window; the table shows medians. LSTM: ``nn.LSTM(32, 64)`` over 20 steps of a batch of 16, a
linear head on the last output, MSE, SGD (no hand NumPy version). Before timing, the compiled
step is checked against eager chainrule bit for bit (loss and parameter sums after 5 steps
from the same start).
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", nargs="+", default=["W1", "W3", "W4", "W5", "LSTM"])
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
    from bench.spec import WORKLOADS, Unavailable, Workload
    try:
        import torch

        from bench import workloads_torch
        torch.set_num_threads(a.threads)
    except ImportError:
        torch = None

    def cr_build(name: str) -> object:
        return _lstm_chainrule() if name == "LSTM" else workloads_chainrule.build(name)

    def torch_build(name: str) -> object:
        return _lstm_torch() if name == "LSTM" else workloads_torch.build(name)

    def numpy_build(name: str) -> object:
        if name == "LSTM":
            raise Unavailable("no hand-written NumPy LSTM")
        return workloads_numpy.build(name)

    def compiled(name: str) -> object:
        r = cr_build(name)
        r.step = cr.compile(r.step, strict=True)
        return r

    def torch_compiled(name: str) -> object:
        r = torch_build(name)
        r.step = torch.compile(r.step)
        return r

    makers = {"chainrule": cr_build, "cr.compile": compiled, "hand NumPy": numpy_build}
    if torch is not None:
        makers["PyTorch"] = torch_build
        if a.torch_compile:
            makers["torch.compile"] = torch_compiled
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, "
          f"torch {torch.__version__ if torch else 'not installed'}, threads {a.threads}; "
          "jax: not installed (jax.jit not measured)")
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
        # bit-for-bit check of the compiled step against eager chainrule
        fps = {}
        for fw in ("chainrule", "cr.compile"):
            r = runners[fw]
            r.reset()
            for _ in range(5):
                out = r.step()
            fps[fw] = r.fingerprint(out)
        same = fps["chainrule"] == fps["cr.compile"]
        broken: list = []
        for r in runners.values():  # warm-up (records the compiled step; compiles torch's)
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
        rows.append((spec, med, same))
    fws = list(makers)
    head = ["workload", "unit", *fws, "cr.compile vs NumPy", "cr.compile vs eager",
            "cr.compile vs PyTorch", "bit-exact vs eager"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for spec, med, same in rows:
        cells = [spec.name, spec.unit] + [f"{med[f]:.3g}" if f in med else "-" for f in fws]
        c = med["cr.compile"]
        cells += [f"{med['hand NumPy'] / c:.2f}x" if "hand NumPy" in med else "-",
                  f"{med['chainrule'] / c:.2f}x",
                  f"{med['PyTorch'] / c:.2f}x" if "PyTorch" in med else "-",
                  "yes" if same else "**no**"]
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
