"""Run chainrule's benchmarks beside PyTorch and a hand-written NumPy floor; print and save a table.

    python -m bench.run                          # everything, 1 and 2 threads (a few minutes)
    python -m bench.run --threads 1 --workloads W1 W5
    python -m bench.run --quick                  # smoke run in seconds (writes no files)

Method (details in docs/benchmarks.md): every framework runs in its own worker process whose
thread-count variables are set before NumPy or PyTorch is imported; inside one run the workers
take turns, one timed window each per round, so machine noise hits every framework alike; a
result is the median over the windows. Ratios are "speed of chainrule relative to X":
``X_time / chainrule_time``, higher is better, 1.00x means as fast as X.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.spec import FRAMEWORK_TITLES, FRAMEWORKS, TIMED, WORKLOADS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "BENCH_THREADS")
IMPORT_MODULE = {"chainrule": "chainrule", "numpy": "numpy", "torch": "torch"}
CHECK_STEPS = 3
CHECK_RTOL = 2e-3


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def thread_env(threads: int) -> dict[str, str]:
    """The environment of a worker: thread pools sized before any library is imported, and the
    same glibc top pad that chainrule sets for itself (``backend._tune_allocator``) given to every
    framework, so no one is measured paying page faults the others avoid."""
    env = dict(os.environ)
    for v in THREAD_VARS:
        env[v] = str(threads)
    env.setdefault("MALLOC_TOP_PAD_", str(64 * 2**20))
    paths = [str(ROOT), str(ROOT / "src")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


class Worker:
    """One framework's long-lived worker process (see bench/worker.py for the protocol)."""

    def __init__(self, framework: str, env: dict[str, str], extra: list[str]) -> None:
        self.framework = framework
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.worker", framework, *extra], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        hello = self._recv()
        self.unavailable = hello.get("reason") if hello["status"] != "ok" else None
        self.versions = hello.get("versions", {})

    def _recv(self) -> dict:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            rc = self.proc.wait()
            return {"status": "error", "reason": f"worker exited (code {rc}); see stderr above"}
        return json.loads(line)

    def ask(self, cmd: str, **kw: Any) -> dict:
        if self.proc.poll() is not None:
            return {"status": "error", "reason": "worker is not running"}
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return self._recv()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write('{"cmd": "quit"}\n')  # type: ignore[union-attr]
                self.proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def rotate(seq: list, k: int) -> list:
    """Round k's order: start one later each round, so no framework always follows another."""
    if not seq:
        return seq
    k %= len(seq)
    return seq[k:] + seq[:k]


def summary(values: list[float]) -> dict:
    """Median, and the interquartile range relative to it (a noise indicator)."""
    values = list(values)
    med = statistics.median(values)
    if len(values) >= 4:
        q = statistics.quantiles(values, n=4)
        iqr = (q[2] - q[0]) / med if med else 0.0
    else:
        iqr = (max(values) - min(values)) / med if med else 0.0
    return {"median": med, "min": min(values), "max": max(values), "iqr_rel": iqr,
            "windows": values}


def fingerprints_agree(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= CHECK_RTOL * max(1.0, abs(y))
                                    for x, y in zip(a, b))


def time_workloads(threads: int, args: argparse.Namespace, versions: dict) -> dict:
    """Interleaved windows for the timed workloads, one worker process per framework."""
    env = thread_env(threads)
    workers: dict[str, Worker] = {}
    out: dict[str, dict] = {}
    try:
        for fw in args.frameworks:
            extra = ["--sgd", args.chainrule_sgd, "--api", args.chainrule_api] \
                if fw == "chainrule" else []
            workers[fw] = Worker(fw, env, extra)
            versions[f"{fw}, {threads} thread(s)"] = workers[fw].versions
        for wl in [w for w in args.workloads if w in TIMED]:
            res: dict[str, Any] = {}
            live: list[str] = []
            for fw, w in workers.items():
                if w.unavailable:
                    res[fw] = {"unavailable": w.unavailable}
                    continue
                r = w.ask("build", workload=wl)
                if r["status"] != "ok":
                    res[fw] = {"unavailable": r["reason"]}
                    log(f"[{threads}t] {wl} {fw}: unavailable ({r['reason']})")
                    continue
                live.append(fw)
            if args.check and live:
                res["check"] = check(wl, live, workers)
            for fw in list(live):
                r = workers[fw].ask("warmup", workload=wl, seconds=args.warmup,
                                    window=args.window, min_steps=2 if args.quick else 5)
                if r["status"] != "ok":
                    res[fw] = {"unavailable": r["reason"]}
                    live.remove(fw)
                    continue
                res[fw] = {"warmup_steps": r["warmup_steps"]}
            times: dict[str, list[float]] = {fw: [] for fw in live}
            faults: dict[str, list[float]] = {fw: [] for fw in live}
            steps: dict[str, list[int]] = {fw: [] for fw in live}
            for k in range(args.windows):
                for fw in rotate(live, k):
                    r = workers[fw].ask("window", workload=wl)
                    if r["status"] == "ok":
                        times[fw].append(r["seconds_per_step"])
                        faults[fw].append(r["faults_per_step"])
                        steps[fw].append(r["steps"])
                    time.sleep(args.settle)
            for fw in live:
                if times[fw]:
                    res[fw].update(summary(times[fw]))
                    res[fw]["page_faults_per_step"] = statistics.median(faults[fw])
                    res[fw]["steps_per_window"] = steps[fw]
                else:
                    res[fw] = {"unavailable": "every window failed"}
            out[wl] = res
            log(f"[{threads}t] {wl}: " + ", ".join(
                f"{fw} {res[fw]['median'] * WORKLOADS[wl].scale:.4g} {WORKLOADS[wl].unit}"
                for fw in live if "median" in res[fw]))
    finally:
        for w in workers.values():
            w.close()
    return out


def check(wl: str, live: list[str], workers: dict[str, Worker]) -> dict:
    """Run a few steps from the same start in every framework; compare loss and parameters."""
    fps, result = {}, {}
    for fw in live:
        r = workers[fw].ask("check", workload=wl, steps=CHECK_STEPS)
        if r["status"] == "ok":
            fps[fw] = r["fingerprint"]
        else:
            result[fw] = f"error: {r['reason']}"
    ref_fw = "numpy" if "numpy" in fps else next(iter(fps), None)
    for fw, fp in fps.items():
        ok = fingerprints_agree(fp, fps[ref_fw])
        result[fw] = "ok" if ok else f"MISMATCH vs {ref_fw}: {fp[:3]} vs {fps[ref_fw][:3]}"
        if not ok:
            log(f"check {wl}: {fw} disagrees with {ref_fw}: {fp} vs {fps[ref_fw]}")
    return result


def time_imports(threads: int, args: argparse.Namespace) -> dict:
    """Import time in fresh interpreters, interleaved; the first round is a discarded warm-up."""
    env = thread_env(threads)
    # bytecode cached, as in an installed package: the discarded first round writes it even
    # where the environment says PYTHONDONTWRITEBYTECODE (else every import compiles the source)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    code = "import time; t = time.perf_counter(); import {}; print(time.perf_counter() - t)"
    times: dict[str, list[float]] = {fw: [] for fw in args.frameworks}
    res: dict[str, Any] = {}
    for k in range(args.import_runs + 1):
        for fw in rotate(list(times), k):
            if fw in res:
                continue
            p = subprocess.run([sys.executable, "-c", code.format(IMPORT_MODULE[fw])], env=env,
                               cwd=ROOT, capture_output=True, text=True)
            if p.returncode != 0:
                res[fw] = {"unavailable": p.stderr.strip().splitlines()[-1]}
            elif k > 0:
                times[fw].append(float(p.stdout))
    for fw, ts in times.items():
        if fw not in res:
            res[fw] = summary(ts)
    log(f"[{threads}t] import: " + ", ".join(
        f"{fw} {r['median']:.3f} s" for fw, r in res.items() if "median" in r))
    return res


def measure_rss(threads: int, args: argparse.Namespace) -> dict:
    """Peak RSS of a fresh process per framework that runs W1 training steps."""
    env = thread_env(threads)
    vals: dict[str, list[float]] = {fw: [] for fw in args.frameworks}
    res: dict[str, Any] = {}
    for k in range(args.rss_runs):
        for fw in rotate(list(vals), k):
            if fw in res:
                continue
            extra = ["--api", args.chainrule_api] if fw == "chainrule" else []
            p = subprocess.run([sys.executable, "-m", "bench.worker", fw, "--rss",
                                str(args.rss_steps), *extra], env=env, cwd=ROOT,
                               capture_output=True, text=True)
            lines = p.stdout.strip().splitlines()
            r = json.loads(lines[-1]) if p.returncode == 0 and lines else {
                "status": "error", "reason": (p.stderr.strip().splitlines() or ["?"])[-1]}
            if r["status"] != "ok":
                res[fw] = {"unavailable": r["reason"]}
            else:
                vals[fw].append(r["rss_mib"])
    for fw, v in vals.items():
        if fw not in res:
            res[fw] = summary(v)
    log(f"[{threads}t] rss: " + ", ".join(
        f"{fw} {r['median']:.1f} MiB" for fw, r in res.items() if "median" in r))
    return res


# --- the report -------------------------------------------------------------------------------

def fmt(v: float) -> str:
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def ratios(res: dict) -> tuple[float | None, float | None]:
    """(speed vs NumPy, speed vs PyTorch) = other_time / chainrule_time, None when missing."""
    cr = res.get("chainrule", {}).get("median")
    out = []
    for other in ("numpy", "torch"):
        o = res.get(other, {}).get("median")
        out.append(o / cr if cr and o else None)
    return out[0], out[1]


def verdict(wl: str, res: dict) -> str:
    spec = WORKLOADS[wl]
    vs_np, vs_t = ratios(res)
    cr = res.get("chainrule", {}).get("median")
    if spec.target_kind == "vs_numpy":
        v = vs_np
    elif spec.target_kind == "vs_torch":
        v = vs_t
    else:
        v = None if cr is None else cr * spec.scale
        return "n/a" if v is None else ("yes" if v <= spec.target_value else "**no**")
    return "n/a" if v is None else ("yes" if v >= spec.target_value else "**no**")


def table(threads: int, data: dict, with_targets: bool) -> list[str]:
    head = ["workload", "unit", *(FRAMEWORK_TITLES[f] for f in FRAMEWORKS),
            "speed vs NumPy", "speed vs PyTorch"]
    if with_targets:
        head += ["target (1 thread)", "met"]
    head.append("noise")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for wl in WORKLOADS:
        if wl not in data:
            continue
        res, spec = data[wl], WORKLOADS[wl]
        cells = [spec.title, spec.unit]
        for fw in FRAMEWORKS:
            r = res.get(fw)
            if r is None:
                cells.append("-")
            elif "median" in r:
                cells.append(fmt(r["median"] * spec.scale))
            else:
                cells.append("n/a")
        if wl in TIMED:
            vs_np, vs_t = ratios(res)
            cells += [f"{vs_np:.2f}x" if vs_np else "-", f"{vs_t:.2f}x" if vs_t else "-"]
        else:
            cells += ["", ""]  # absolute targets: a ratio to "import numpy" says little
        if with_targets:
            cells += [spec.target, verdict(wl, res)]
        noise = [r["iqr_rel"] for f, r in res.items() if f in FRAMEWORKS and "iqr_rel" in r]
        cells.append(f"{100 * max(noise):.0f}%" if noise else "")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def notes(data: dict) -> list[str]:
    """Unavailable frameworks and failed cross-checks, listed under the tables."""
    out = []
    for threads, per in data.items():
        for wl, res in per.items():
            for fw, r in res.items():
                if fw == "check":
                    out += [f"- {threads} thread(s), {wl}: cross-check of {f}: {v}"
                            for f, v in r.items() if v != "ok"]
                elif isinstance(r, dict) and "unavailable" in r:
                    out.append(f"- {threads} thread(s), {wl}, {FRAMEWORK_TITLES[fw]}: "
                               f"not measured ({r['unavailable']})")
                elif isinstance(r, dict) and r.get("page_faults_per_step", 0) >= 10:
                    out.append(f"- {threads} thread(s), {wl}, {FRAMEWORK_TITLES[fw]}: "
                               f"{r['page_faults_per_step']:.0f} minor page faults per step "
                               "(memory handed back to the OS and touched again every step)")
    return sorted(set(out))


def report(meta: dict, data: dict, args: argparse.Namespace) -> str:
    lines = [
        "# chainrule benchmarks",
        "",
        f"Measured {meta['date']} on {meta['cpu']} ({meta['cpus']} CPUs, load average "
        f"{meta['load_before']} before, {meta['load_after']} after), Python {meta['python']}, "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
        "",
        f"Command: `{meta['command']}`",
        "",
        f"Each time is the median of {args.windows} interleaved windows of >= "
        f"{args.window:g} s after {args.warmup:g} s of warm-up; import time is the median of "
        f"{args.import_runs} fresh interpreters, peak RSS of {args.rss_runs} fresh processes "
        f"running {args.rss_steps} W1 steps. **speed vs NumPy = hand_numpy_time / "
        "chainrule_time** and **speed vs PyTorch = pytorch_time / chainrule_time**: higher is "
        "better for chainrule, 1.00x is parity. \"noise\" is the largest interquartile range "
        "of the windows, relative to the median, over the frameworks in the row. SGD update in "
        f"chainrule: `{SGD_TEXT[args.chainrule_sgd]}`." if args.chainrule_api == "engine" else
        "chainrule through its user API: `nn.Sequential` of `nn.Linear` and activation modules, "
        "`nn.CrossEntropyLoss` / `nn.MSELoss`, `optim.SGD` with `zero_grad()` / `step()` "
        "(`--chainrule-api nn`).",
    ]
    for threads, per in data.items():
        lines += ["", f"## {threads} thread{'s' if threads != 1 else ''}", ""]
        lines += table(threads, per, with_targets=threads == 1)
    extra = notes(data)
    if extra:
        lines += ["", "Notes:", "", *extra]
    return "\n".join(lines) + "\n"


SGD_TEXT = {"isub": "p -= lr * p.grad", "sub_": "p.sub_(p.grad, alpha=lr)",
            "scale_grad": "g = p.grad; g *= lr; p -= g"}


def machine_meta(argv: list[str]) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip() or None
    except OSError:
        commit = None
    return {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "cpu": cpu,
            "cpus": os.cpu_count(), "python": platform.python_version(), "commit": commit,
            "command": " ".join(["python -m bench.run", *argv]),
            "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.run",
                                 description="chainrule vs hand-written NumPy vs PyTorch.")
    ap.add_argument("--threads", type=int, nargs="+", default=None, help="1 2 (--quick: 1)")
    ap.add_argument("--workloads", nargs="+", default=list(WORKLOADS),
                    choices=list(WORKLOADS), metavar="W", help=" ".join(WORKLOADS))
    ap.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS), choices=FRAMEWORKS)
    ap.add_argument("--windows", type=int, default=None, help="timed windows per framework (7)")
    ap.add_argument("--window", type=float, default=None, help="min seconds per window (0.3)")
    ap.add_argument("--warmup", type=float, default=None, help="warm-up seconds (0.5)")
    ap.add_argument("--settle", type=float, default=None,
                    help="pause after each window, seconds (0.02; 0.15 with >1 thread, so "
                         "BLAS threads that spin after a call do not overlap the next window)")
    ap.add_argument("--import-runs", type=int, default=None, help="interpreters per framework (7)")
    ap.add_argument("--rss-runs", type=int, default=None, help="processes per framework (3)")
    ap.add_argument("--rss-steps", type=int, default=300)
    ap.add_argument("--chainrule-sgd", choices=sorted(SGD_TEXT), default="isub",
                    help="isub: p -= lr * p.grad (default); sub_: p.sub_(p.grad, alpha=lr); "
                         "scale_grad: g = p.grad; g *= lr; p -= g (no temporary)")
    ap.add_argument("--chainrule-api", choices=("engine", "nn"), default="engine",
                    help="engine: leaf tensors and a hand-written SGD update (default); nn: "
                         "nn.Linear layers, nn losses and optim.SGD, as a user writes it")
    ap.add_argument("--no-check", dest="check", action="store_false",
                    help="skip the cross-framework check that all compute the same numbers")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run in seconds (3 short windows); writes files only with --out")
    ap.add_argument("--out", type=Path, default=None,
                    help="folder for latest.md and latest.json (default bench/results)")
    a = ap.parse_args(argv)
    quick = dict(threads=[1], windows=3, window=0.03, warmup=0.03, import_runs=1, rss_runs=1)
    full = dict(threads=[1, 2], windows=7, window=0.3, warmup=0.5, import_runs=7, rss_runs=3)
    for k, v in (quick if a.quick else full).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.quick:
        a.rss_steps = min(a.rss_steps, 20)
    a.settle_auto = a.settle is None
    a.frameworks = [f for f in FRAMEWORKS if f in a.frameworks]
    a.workloads = [w for w in WORKLOADS if w in a.workloads]
    return a


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    meta = machine_meta(argv)
    versions: dict[str, dict] = {}
    data: dict[int, dict] = {}
    for threads in args.threads:
        if args.settle_auto:
            args.settle = 0.02 if threads == 1 else 0.15
        per: dict[str, Any] = {}
        if any(w in TIMED for w in args.workloads):
            per.update(time_workloads(threads, args, versions))
        if "import" in args.workloads:
            per["import"] = time_imports(threads, args)
        if "rss" in args.workloads:
            per["rss"] = measure_rss(threads, args)
        data[threads] = per
    meta["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    flat = {}
    for v in versions.values():
        flat.update({k: v[k] for k in ("chainrule", "numpy", "torch") if k in v})
    meta["versions"] = flat
    meta["workers"] = versions  # per worker: versions, and torch's own thread count
    text = report(meta, data, args)
    print(text)
    out = args.out if args.out is not None else (None if args.quick else RESULTS)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "latest.md").write_text(text)
        raw = {"meta": meta, "options": {k: (str(v) if isinstance(v, Path) else v)
                                         for k, v in vars(args).items()},
               "units": {w: {"unit": s.unit, "scale_from_seconds": s.scale}
                         for w, s in WORKLOADS.items()},
               "note": "medians and windows are raw: seconds per step for W1-W3 and W5 (a "
                       "whole 100-op chain), seconds for import, MiB for rss; multiply by "
                       "scale_from_seconds for the table's unit",
               "results": {str(t): per for t, per in data.items()}}
        (out / "latest.json").write_text(json.dumps(raw, indent=1) + "\n")
        log(f"wrote {out / 'latest.md'} and {out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
