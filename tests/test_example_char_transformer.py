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


def test_moe_variant_logs_utilisation_and_matches_active_parameters(tmp_path: Path) -> None:
    dense = _run(tmp_path)
    r = _run(tmp_path, "--moe", "4", "--moe-k", "2")
    assert r["label"] == "chainrule MoE 4 experts, k=2" and len(r["balance_loss"]) == 4
    # per token: the dense model plus the router (16 x 4) and one more output bias (16)
    assert r["active_parameters"] == dense["parameters"] + 16 * 4 + 16
    assert r["parameters"] > r["active_parameters"]
    (util,) = r["utilisation"]  # one block
    assert len(util) == 4 and abs(sum(util) - 1) < 0.01
    assert len(r["evals"][-1]["utilisation"][0]) == 4 and len(r["sample"]) == 21


def test_moe_refuses_torch(tmp_path: Path) -> None:
    pytest.importorskip("torch")  # the example imports torch before it reads its flags
    p = subprocess.run([sys.executable, str(EXAMPLE), *TINY, "--moe", "2", "--torch"],
                       capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""})
    assert p.returncode == 2 and "--moe uses chainrule's nn.MixtureOfExperts" in p.stderr
