"""The benchmark's ``--chainrule-api nn`` variant (nn.Linear + optim.SGD) computes exactly what
the engine-level variant computes."""

from __future__ import annotations

import pytest
from bench.workloads_chainrule import build


@pytest.mark.parametrize("name", ["W1", "W3"])
def test_nn_variant_matches_engine_variant(name: str) -> None:
    fps = []
    for api in ("engine", "nn"):
        r = build(name, api=api)
        r.reset()
        out = None
        for _ in range(3):
            out = r.step()
        fps.append(r.fingerprint(out))
    assert fps[0] == pytest.approx(fps[1], rel=1e-5, abs=1e-6)


def test_unknown_api() -> None:
    with pytest.raises(ValueError, match="api must be"):
        build("W1", api="keras")
