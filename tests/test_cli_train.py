"""The ``chainrule`` command end to end: train, evaluate, predict, config files, resume."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import main as cli
from chainrule.cli.train import resolve

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
       "MKL_NUM_THREADS": "1"}


def run(*args: str, cwd: Path, script: bool = False) -> subprocess.CompletedProcess:
    exe = shutil.which("chainrule") if script else None
    cmd = [exe] if exe else [sys.executable, "-m", "chainrule.cli.main"]
    return subprocess.run([*cmd, *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                          timeout=120)


def accuracy(text: str, label: str = "test accuracy") -> float:
    m = re.search(label + r" (\d\.\d+)", text)
    assert m, text
    return float(m.group(1))


def weights(path: Path) -> dict[str, np.ndarray]:
    from chainrule.io import load_checkpoint

    return {k: v.numpy() for k, v in load_checkpoint(path, restore_rng=False)["model"].items()}


def test_train_xor_subprocess(tmp_path: Path) -> None:
    out = tmp_path / "xor"
    r = run("train", "--dataset", "xor", "--epochs", "300", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert accuracy(r.stdout) == 1.0
    lines = [s for s in r.stdout.splitlines() if s.startswith("epoch ")]
    assert len(lines) == 300 and "\r" not in r.stdout  # not a terminal: one plain line each
    files = {p.name for p in out.iterdir()}
    assert files - {"loss.png"} == {"model.ckpt", "metrics.csv", "metrics.jsonl"}
    if "loss.png" not in files:  # matplotlib is optional: the run says how to get the plot
        assert "pip install chainrule[plot]" in r.stdout
    assert len((out / "metrics.csv").read_text().splitlines()) == 301
    assert r.stderr == ""


def test_loss_curve_png(tmp_path: Path, capsys) -> None:
    pytest.importorskip("matplotlib")
    assert cli.main(["train", "--dataset", "blobs", "--epochs", "3", "--out", str(tmp_path),
                     "--progress", "none"]) == 0
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_digits_then_evaluate_and_predict(tmp_path: Path) -> None:
    r = run("train", "--epochs", "3", cwd=tmp_path, script=True)  # the default dataset
    assert r.returncode == 0, r.stderr
    assert "digits" in r.stdout and "epoch 3/3" in r.stdout
    acc = accuracy(r.stdout)
    assert acc > 0.85
    ckpt = tmp_path / "runs" / "digits" / "model.ckpt"
    assert ckpt.is_file()

    r = run("evaluate", str(ckpt), "--confusion", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert accuracy(r.stdout, "accuracy") == acc  # same model, same test split, same scaling
    assert "confusion matrix" in r.stdout

    from chainrule.data.datasets import load_digits

    x, y = load_digits("test").arrays
    pixels = np.rint(x[:6] * 16).astype(np.uint8)  # raw pixel counts, as in the original file
    np.savez(tmp_path / "s.npz", x=pixels)
    np.savetxt(tmp_path / "s.csv", np.c_[pixels, y[:6]], fmt="%d", delimiter=",")
    pgm = b"P5\n8 8\n16\n" + pixels[0].tobytes()
    (tmp_path / "s.pgm").write_bytes(pgm)
    outs = []
    for name in ("s.npz", "s.csv", "s.pgm"):
        r = run("predict", str(ckpt), name, "--top", "2", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout.splitlines())
    assert len(outs[0]) == 6 and outs[0] == outs[1] and outs[2] == outs[0][:1]
    assert re.fullmatch(r"0: \d \(p [01]\.\d{3}\), \d \(p [01]\.\d{3}\)", outs[0][0])
    predicted = [int(s.split(": ")[1][0]) for s in outs[0]]
    assert np.mean(np.array(predicted) == y[:6]) >= 0.5


def test_config_file_and_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text('dataset = "moons"\nlayers = [4]\nlr = 0.5\n[train]\nepochs = 3\n'
                   'batch-size = 16\n')
    args = cli.build_parser().parse_args(["train", "--config", str(cfg), "--epochs", "5"])
    options, resume = resolve(args)
    assert resume is None
    assert options["dataset"] == "moons" and options["layers"] == [4]
    assert options["lr"] == 0.5 and options["batch_size"] == 16
    assert options["epochs"] == 5  # the flag wins over the file
    assert options["optimizer"] == "adam" and options["out"] == str(Path("runs") / "moons")


def test_resume_through_the_cli(tmp_path: Path, capsys) -> None:
    common = ["train", "--dataset", "moons", "--layers", "16", "--batch-size", "32",
              "--progress", "none", "--seed", "4", "--dropout", "0.1"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli.main([*common, "--epochs", "2", "--out", str(a)]) == 0
    assert cli.main(["train", "--out", str(a), "--epochs", "4", "--resume"]) == 0
    assert cli.main([*common, "--epochs", "4", "--out", str(b)]) == 0
    out = capsys.readouterr().out
    assert "resuming from" in out
    wa, wb = weights(a / "model.ckpt"), weights(b / "model.ckpt")
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert len((a / "metrics.csv").read_text().splitlines()) == 5  # header + 4 epochs


def test_regression_and_quadratic_cost(tmp_path: Path, capsys) -> None:
    assert cli.main(["train", "--dataset", "sine", "--epochs", "3", "--no-save",
                     "--progress", "none"]) == 0
    assert "test mae" in capsys.readouterr().out
    assert cli.main(["train", "--dataset", "blobs", "--layers", "8", "--activation", "sigmoid",
                     "--loss", "quadratic", "--optimizer", "sgd", "--lr", "3.0",
                     "--batch-size", "10", "--epochs", "5", "--out", str(tmp_path / "q"),
                     "--progress", "lines"]) == 0
    out = capsys.readouterr().out
    assert "loss quadratic" in out and "-> sigmoid" in out and accuracy(out) > 0.9
    assert cli.main(["evaluate", str(tmp_path / "q" / "model.ckpt")]) == 0
    assert "loss quadratic" in capsys.readouterr().out


def _have_fashion_mnist() -> bool:
    from chainrule.data.datasets import DatasetNotFoundError, FashionMNIST

    try:
        FashionMNIST(train=False)
    except DatasetNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _have_fashion_mnist(),
                    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_fashion_mnist_through_the_cli(tmp_path: Path) -> None:
    r = run("train", "--dataset", "fashion-mnist", "--limit", "3000", "--epochs", "2",
            "--layers", "64", "--out", str(tmp_path / "f"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "3000 train / 3000 test" in r.stdout
    assert accuracy(r.stdout) > 0.65
    r = run("predict", str(tmp_path / "f" / "model.ckpt"),
            "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", "--limit", "3",
            cwd=tmp_path)
    if Path("/usr/share/datasets/fashion-mnist").is_dir():
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert len(lines) == 3 and all(re.fullmatch(r"\d: \d [\w/ -]+ \(p [01]\.\d{3}\)", s)
                                       for s in lines), lines
