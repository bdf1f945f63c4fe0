"""``bench/workloads_jax.py`` computes what the hand-written NumPy workloads compute (the jax.jit
column of ``python -m bench.compiled``): same data, initial parameters, loss and SGD updates.
Skips without jax (not a CI dependency). jax runs in a child process: once imported, it warns
at every ``os.fork()`` (the DataLoader's worker processes), which would fail later tests."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("jax") is None:
    pytest.skip("jax is not installed", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import json, sys
from bench import workloads_jax, workloads_numpy
got = []
for mod in (workloads_jax, workloads_numpy):
    r = mod.build(sys.argv[1])
    r.reset()
    for _ in range(3):
        out = r.step()
    got.append([float(v) for v in r.fingerprint(out)])
print(json.dumps(got))
"""


@pytest.mark.parametrize("wl", ["W1", "W3", "W5", "W4"])
def test_jax_workload_matches_hand_numpy(wl: str) -> None:
    p = subprocess.run([sys.executable, "-c", CHILD, wl], cwd=ROOT, capture_output=True,
                       text=True, timeout=600,
                       env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"})
    assert p.returncode == 0, p.stderr[-2000:]
    got = [np.array(g) for g in json.loads(p.stdout.strip().splitlines()[-1])]
    # loss, then float64 sums of the parameters (W5: of the input's gradient, ~5e-13, which
    # cancels: compared absolutely)
    np.testing.assert_allclose(got[0], got[1], rtol=1e-4, atol=1e-12 if wl == "W5" else 1e-5)
