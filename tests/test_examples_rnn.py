"""The recurrent examples run end to end (tiny settings; the full runs are in docs/rnn.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_example_{name}", EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_char_lstm_trains_and_samples(capsys: pytest.CaptureFixture) -> None:
    r = _load("char_lstm").main(["--steps", "3", "--seq", "8", "--batch", "4", "--hidden",
                                 "16", "--embed", "8", "--sample-len", "12", "--print-every",
                                 "1"])
    out = r["chainrule"]
    assert len(out["losses"]) == 3 and out["ms_per_step"] > 0
    assert out["sample"].startswith("ROMEO:") and len(out["sample"]) == 6 + 12
    assert "ms per step" in capsys.readouterr().out


def test_char_lstm_runs_the_same_code_on_torch() -> None:
    pytest.importorskip("torch")
    r = _load("char_lstm").main(["--steps", "2", "--seq", "6", "--batch", "2", "--hidden", "8",
                                 "--embed", "4", "--sample-len", "5", "--framework", "torch"])
    assert len(r["torch"]["losses"]) == 2


def test_rnn_gradient_flow_demo(tmp_path: Path) -> None:
    r = _load("rnn_gradient_flow").main(["--steps", "2", "--T", "6", "--out", str(tmp_path)])
    assert (tmp_path / "rnn_gradient_flow.png").exists()
    assert list(r) == ["RNN (tanh)", "LSTM"]  # both at the default initialisation
    assert all(len(v["init"]) == 6 and (v["init"] > 0).all() for v in r.values())
    assert all(list(v["per_delay"]) == [1, 5, 6] for v in r.values())
    r = _load("rnn_gradient_flow").main(["--steps", "1", "--T", "3", "--forget-bias", "3",
                                         "--out", ""])
    assert list(r)[-1] == "LSTM, forget bias 3"
