"""Every bad argument or file: one line on stderr, ``chainrule: error: ...``, a non-zero exit
status, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chainrule.cli import main as cli

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
ENV.pop("CHAINRULE_DEBUG", None)


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("chainrule: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def fails(capsys, *argv: str, code: int = 2) -> str:
    """Run in-process; argparse usage errors leave through SystemExit, the rest return."""
    try:
        rc = cli.main(list(argv))
    except SystemExit as e:
        rc = e.code
    assert rc == code
    return one_error_line(capsys.readouterr().err)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    assert cli.main(["train", "--dataset", "xor", "--epochs", "2", "--out", str(out),
                     "--progress", "none"]) == 0
    return out / "model.ckpt"


@pytest.mark.parametrize("argv, expected", [
    (["evaluate", "missing.ckpt"], "checkpoint 'missing.ckpt' does not exist"),
    (["train", "--dataset", "fashion"], "unknown dataset 'fashion' (did you mean "
                                        "'fashion-mnist'?)"),
    (["train", "--dataset", "nowhere/data.csv"], "dataset file 'nowhere/data.csv' does not "
                                                 "exist"),
    (["predict", "missing.ckpt", "x.npz"], "checkpoint 'missing.ckpt' does not exist"),
])
def test_errors_in_a_subprocess(tmp_path: Path, argv: list[str], expected: str) -> None:
    r = subprocess.run([sys.executable, "-m", "chainrule.cli.main", *argv], cwd=tmp_path,
                       env=ENV, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert expected in one_error_line(r.stderr)
    assert r.stdout == ""


def test_corrupt_and_foreign_checkpoints(tmp_path: Path, capsys, ckpt: Path) -> None:
    bad = tmp_path / "random.ckpt"
    bad.write_bytes(os.urandom(300))
    assert "random.ckpt" in fails(capsys, "evaluate", str(bad))
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(ckpt.read_bytes()[:-100])
    assert "cut.ckpt" in fails(capsys, "evaluate", str(cut))
    flipped = bytearray(ckpt.read_bytes())
    flipped[-5] ^= 0xFF  # a weight's byte: the digest no longer matches
    (tmp_path / "flipped.ckpt").write_bytes(bytes(flipped))
    fails(capsys, "predict", str(tmp_path / "flipped.ckpt"), "x.npz")
    import chainrule as cr

    cr.save({"w": cr.ones(2)}, tmp_path / "plain.ckpt")
    assert "not a checkpoint" in fails(capsys, "evaluate", str(tmp_path / "plain.ckpt"))
    assert "is a folder" in fails(capsys, "evaluate", str(tmp_path))


@pytest.mark.parametrize("argv, expected", [
    (["train", "--layers", "256,abc"], "'abc' is not a whole number"),
    (["train", "--layers", "64,-3"], "sizes must be positive"),
    (["train", "--epochs", "0"], "--epochs: must be >= 1"),
    (["train", "--lr", "fast"], "--lr: expected a number"),
    (["train", "--optimizer", "adamm"], "did you mean 'adam'?"),
    (["train", "--val-split", "1.5"], "--val-split: must be < 1.0"),
    (["train", "--dataset", "xor", "--early-stopping", "3"], "give --val-split too"),
    (["train", "--dataset", "xor", "--output-activation", "sigmoid"], "logits"),
    (["train", "--dataset", "sine", "--loss", "cross-entropy"], "needs class labels"),
    (["train", "--lrr", "0.1"], "unrecognized arguments: --lrr"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments(capsys, argv: list[str], expected: str) -> None:
    assert expected in fails(capsys, *argv)


def test_bad_config_files(tmp_path: Path, capsys) -> None:
    (tmp_path / "typo.toml").write_text("lerning_rate = 0.1\n")
    (tmp_path / "bad.toml").write_text("lr = = 3\n")
    (tmp_path / "type.toml").write_text('epochs = "many"\n')
    assert "unknown option 'lerning_rate'" in fails(capsys, "train", "--config",
                                                    str(tmp_path / "typo.toml"))
    assert "not valid TOML" in fails(capsys, "train", "--config", str(tmp_path / "bad.toml"))
    assert "--epochs: expected a whole number" in fails(capsys, "train", "--config",
                                                        str(tmp_path / "type.toml"))
    assert "does not exist" in fails(capsys, "train", "--config", str(tmp_path / "no.toml"))


def test_bad_data_files(tmp_path: Path, capsys, ckpt: Path) -> None:
    (tmp_path / "bad.csv").write_text("1,2,3\n4,five,6\n")
    assert "bad.csv" in fails(capsys, "train", "--dataset", str(tmp_path / "bad.csv"))
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    assert "x.npz" in fails(capsys, "train", "--dataset", str(tmp_path / "x.npz"))
    import numpy as np

    np.savez(tmp_path / "wide.npz", x=np.zeros((3, 5)))
    assert "the model takes 2 inputs" in fails(capsys, "predict", str(ckpt),
                                               str(tmp_path / "wide.npz"))
    assert "input file" in fails(capsys, "predict", str(ckpt), str(tmp_path / "none.npz"))
    (tmp_path / "a.txt").write_text("1 2")
    assert "unknown kind of file" in fails(capsys, "predict", str(ckpt), str(tmp_path / "a.txt"))
    assert "dataset 'digits' has 64 features" in fails(capsys, "evaluate", str(ckpt),
                                                       "--dataset", "digits")


def test_missing_fashion_mnist_gives_the_install_hint(tmp_path: Path, capsys,
                                                      monkeypatch) -> None:
    from chainrule.data.datasets import FashionMNIST

    monkeypatch.setattr(FashionMNIST, "system_folders", ())
    monkeypatch.setenv("CHAINRULE_DATA", str(tmp_path))
    line = fails(capsys, "train", "--dataset", "fashion-mnist")
    assert "apt-get install -y dataset-fashion-mnist" in line
    assert "--download" in line


def test_unexpected_errors_are_one_line_too(capsys, monkeypatch) -> None:
    from chainrule.cli import train

    def boom(args):
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(train, "run", boom)
    monkeypatch.delenv("CHAINRULE_DEBUG", raising=False)
    line = fails(capsys, "train", code=1)
    assert "RuntimeError: something; broke" in line and "CHAINRULE_DEBUG=1" in line
