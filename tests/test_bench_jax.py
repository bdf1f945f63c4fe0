"""``bench/workloads_jax.py`` computes what the hand-written NumPy workloads compute (the jax.jit
column of ``python -m bench.compiled``): same data, initial parameters, loss and SGD updates.
Skips without jax (not a CI dependency)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jax")

from bench import workloads_jax, workloads_numpy


@pytest.mark.parametrize("wl", ["W1", "W3", "W5", "W4"])
def test_jax_workload_matches_hand_numpy(wl: str) -> None:
    got = []
    for mod in (workloads_jax, workloads_numpy):
        r = mod.build(wl)
        r.reset()
        for _ in range(3):
            out = r.step()
        got.append(np.array(r.fingerprint(out)))
    # loss, then float64 sums of the parameters (W5: of the input's gradient, ~5e-13, which
    # cancels: compared absolutely)
    np.testing.assert_allclose(got[0], got[1], rtol=1e-4, atol=1e-12 if wl == "W5" else 1e-5)
