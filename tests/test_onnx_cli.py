"""``chainrule export`` on a checkpoint from ``chainrule train``, served by onnxruntime in
``examples/onnx_serve.py``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from chainrule.cli import main as cli

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "onnx_serve.py"


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_train_export_serve(model: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["train", "--model", model, "--epochs", "2", "--out", str(tmp_path),
                     "--progress", "none"]) == 0
    onnx_path = tmp_path / "model.onnx"
    assert cli.main(["export", str(tmp_path / "model.ckpt"), str(onnx_path)]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "agrees with chainrule" in out
    spec = importlib.util.spec_from_file_location("_example_onnx_serve", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.main([str(onnx_path), "--checkpoint", str(tmp_path / "model.ckpt")])
    assert r["rel"] < 1e-5 and r["same_class"] == 1.0 and r["accuracy"] > 0.5


def test_export_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["export", str(tmp_path / "missing.ckpt"), str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chainrule: error:") and err.count("\n") == 1
