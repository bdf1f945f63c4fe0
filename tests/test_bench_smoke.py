"""Smoke test of the benchmark harness: ``--quick`` runs and produces the table (no timing
assertions: benchmarks report ratios, they never pass or fail on time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # a few seconds: two worker processes, three 30 ms windows per workload
def test_quick_run_writes_table(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "bench.run", "--quick", "--threads", "1",
           "--workloads", "W5", "W1", "--frameworks", "chainrule", "numpy", "--out", str(tmp_path)]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    md = (tmp_path / "latest.md").read_text()
    assert md == p.stdout.rstrip("\n") + "\n"
    assert "speed vs NumPy" in md
    rows = [line for line in md.splitlines() if line.startswith("| W")]
    assert [r.split()[1] for r in rows] == ["W1", "W5"]
    raw = json.loads((tmp_path / "latest.json").read_text())
    w5 = raw["results"]["1"]["W5"]
    assert w5["chainrule"]["median"] > 0 and w5["numpy"]["median"] > 0
    assert len(w5["chainrule"]["windows"]) == 3
    # the implementations must compute the same numbers (correctness, not speed)
    for wl in ("W1", "W5"):
        for fw, verdict in raw["results"]["1"][wl].get("check", {}).items():
            assert verdict == "ok", (wl, fw, verdict)
