"""The character-level transformer example runs end to end on the slice of text it ships with
(a few steps of a tiny model: training, evaluation, sampling, the JSON log), and the same
classes run under PyTorch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "char_transformer.py"
TINY = ["--text", str(ROOT / "examples" / "data" / "tinyshakespeare_head.txt"), "--steps", "4",
        "--eval-every", "2", "--batch-size", "4", "--block-size", "8", "--n-embd", "16",
        "--n-layer", "1", "--n-head", "2", "--sample-chars", "20", "--dropout", "0.1"]


def _run(tmp_path: Path, *extra: str) -> dict:
    log = tmp_path / "log.json"
    env = {"PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", "PATH": ""}
    p = subprocess.run([sys.executable, str(EXAMPLE), *TINY, "--log", str(log), *extra],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    return json.loads(log.read_text())


def test_char_transformer_trains_and_samples(tmp_path: Path) -> None:
    r = _run(tmp_path)
    assert r["framework"] == "chainrule"
    assert len(r["train_loss"]) == 4 and [e["step"] for e in r["evals"]] == [0, 2, 4]
    assert len(r["sample"]) == 21 and r["ms_per_step"] > 0


def test_same_code_runs_under_torch(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    assert _run(tmp_path, "--torch")["framework"] == "PyTorch"
