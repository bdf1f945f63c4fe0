"""examples/attention_reverse.py: attention learns the anti-diagonal (docs/training_pictures.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "attention_reverse.py"


def test_attention_learns_to_reverse(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("_example_attention_reverse", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out, before = tmp_path / "after.png", tmp_path / "before.png"
    r = mod.main(["--steps", "150", "--length", "6", "--out", str(out),
                  "--before", str(before)])
    assert r["accuracy"] > 0.95
    assert r["anti_diagonal"] > 0.7  # 1/6 for uniform attention
    for p in (out, before):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
