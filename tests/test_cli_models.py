"""``chainrule train --model cnn|lenet|moe`` and ``--model-spec FILE.toml``: image shapes carried
from the datasets, the models recorded as chainrule.nn layer records, rebuilt by evaluate,
predict and export, and every command describing the model from its record (issue 8 item 8,
issue 9: evaluate called an MoE checkpoint an MLP)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import main as cli
from chainrule.cli.model import describe_arch
from chainrule.data.datasets import load_digits

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SPEC = EXAMPLES / "digits_cnn.toml"
QUIET = ["--progress", "none", "--epochs", "1"]


def train(capsys: pytest.CaptureFixture, *args: str) -> str:
    assert cli.main(["train", *QUIET, *args]) == 0
    return capsys.readouterr().out


def refused(capsys: pytest.CaptureFixture, *args: str) -> str:
    assert cli.main(list(args)) == 2
    err = capsys.readouterr().err
    assert err.startswith("chainrule: error: ") and err.count("\n") == 1, err
    return err


def accuracy(text: str, label: str) -> float:
    m = re.search(label + r" (\d\.\d+)", text)
    assert m, text
    return float(m.group(1))


def checkpoint(path: Path) -> dict:
    from chainrule.io import load_checkpoint

    return load_checkpoint(path, restore_rng=False)


@pytest.mark.parametrize(("args", "kind", "words"), [
    (["--model", "cnn"], "cnn", "CNN 1x8x8 -> conv3x3 32,64 (BatchNorm, relu, max-pool 2) -> "
                                "dropout 0.25 -> 10"),
    (["--model", "lenet", "--epochs", "3"], "lenet", "LeNet-5 1x8x8 -> conv5x5 6,16"),
    (["--model-spec", str(SPEC)], "spec", "Sequential from digits_cnn.toml (9 layers: "
                                          "Conv2d-BatchNorm2d-ReLU-MaxPool2d-Conv2d"),
])
def test_train_evaluate_predict_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture,
                                           args: list[str], kind: str, words: str) -> None:
    out = train(capsys, *args, "--out", str(tmp_path))
    assert "64 features (1x8x8 images)" in out and f"model {words}" in out
    acc = accuracy(out, "test accuracy")
    assert acc > 0.6  # one epoch of 45 batches (LeNet, no BatchNorm: 3): far above chance
    meta = checkpoint(tmp_path / "model.ckpt")["extra"]["meta"]
    arch = meta["arch"]
    assert arch["kind"] == kind and arch["sizes"] == [64, 10]
    assert arch["module"]["format"] == "chainrule.nn"  # a structural record, never code
    children = arch["module"]["module"]["children"]
    assert children[0] == ["0", {"class": "Unflatten",
                                 "args": {"dim": 1, "unflattened_size": [1, 8, 8]}}]
    assert meta["data"]["image_shape"] == [1, 8, 8]

    assert cli.main(["evaluate", str(tmp_path / "model.ckpt")]) == 0
    ev = capsys.readouterr().out
    assert words in ev and "MLP" not in ev
    assert accuracy(ev, "accuracy") == acc  # the same model rebuilt from its record

    x, y = load_digits("test").arrays
    np.savez(tmp_path / "s.npz", x=np.rint(x[:40] * 16).astype(np.uint8))  # raw 0..16 pixels
    assert cli.main(["predict", str(tmp_path / "model.ckpt"), str(tmp_path / "s.npz")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 40 and all(re.fullmatch(r"\d+: \d \(p [01]\.\d{3}\)", s) for s in lines)
    predicted = np.array([int(s.split(": ")[1][0]) for s in lines])
    assert np.mean(predicted == y[:40]) >= acc - 0.2  # as accurate as on the whole test split


def test_spec_layers_keep_their_numbers_in_the_checkpoint(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    train(capsys, "--model-spec", str(SPEC), "--out", str(tmp_path))
    state = checkpoint(tmp_path / "model.ckpt")["model"]
    assert tuple(state["1.weight"].shape) == (16, 1, 3, 3)  # layer 1 of the file
    assert tuple(state["2.running_mean"].shape) == (16,)
    assert tuple(state["9.weight"].shape) == (10, 128)
    cfg = checkpoint(tmp_path / "model.ckpt")["extra"]["meta"]["config"]
    assert cfg["model"] == "spec" and cfg["model_spec"] == str(SPEC)


def test_cnn_digits_reaches_a_sensible_accuracy(capsys: pytest.CaptureFixture) -> None:
    out = train(capsys, "--model", "cnn", "--epochs", "3", "--no-save")
    assert accuracy(out, "test accuracy") > 0.93
    assert "3 epoch(s) in" in out


def test_lenet_adapts_to_28x28(capsys: pytest.CaptureFixture) -> None:
    from chainrule.cli.convnets import lenet_architecture

    big = lenet_architecture([1, 28, 28], 10, "relu", None)
    linears = [c[1]["args"] for c in big["module"]["module"]["children"]
               if c[1]["class"] == "Linear"]
    assert linears[0]["in_features"] == 16 * 5 * 5  # the classic LeNet-5 on MNIST
    convs = [c[1]["args"] for c in big["module"]["module"]["children"]
             if c[1]["class"] == "Conv2d"]
    assert [c["padding"] for c in convs] == [2, 0]
    small = lenet_architecture([1, 8, 8], 10, "relu", None)
    assert small["module"]["module"]["children"][8][1]["args"]["in_features"] == 16 * 2 * 2


def test_resume_a_cnn(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    common = ["train", "--model", "cnn", "--channels", "8,16", "--limit", "300",
              "--progress", "none", "--seed", "3"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli.main([*common, "--epochs", "1", "--out", str(a)]) == 0
    assert cli.main(["train", "--out", str(a), "--epochs", "2", "--resume"]) == 0
    assert cli.main([*common, "--epochs", "2", "--out", str(b)]) == 0
    out = capsys.readouterr().out
    assert "resuming from" in out and "CNN 1x8x8 -> conv3x3 8,16" in out.split("resuming")[0]
    wa, wb = checkpoint(a / "model.ckpt")["model"], checkpoint(b / "model.ckpt")["model"]
    assert set(wa) == set(wb) and "2.running_var" in wa  # BatchNorm's statistics too
    assert all(np.array_equal(wa[k].numpy(), wb[k].numpy()) for k in wa)


def test_images_in_an_npz_and_a_csv_with_input_shape(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    x, y = load_digits("train").arrays
    np.savez(tmp_path / "img.npz", x=x[:400].reshape(-1, 8, 8), y=y[:400])
    out = train(capsys, "--dataset", str(tmp_path / "img.npz"), "--model", "cnn", "--no-save")
    assert "(1x8x8 images)" in out
    out = train(capsys, "--dataset", str(tmp_path / "img.npz"), "--no-save")  # the MLP too
    assert "MLP 64-256-128" in out

    np.savetxt(tmp_path / "pix.csv", np.c_[x[:400], y[:400]], delimiter=",", fmt="%g")
    err = refused(capsys, "train", "--dataset", str(tmp_path / "pix.csv"), "--model", "cnn")
    assert f"--model cnn needs images, but dataset '{tmp_path / 'pix.csv'}' has rows of 64 " \
           "features and no image shape" in err
    assert "use --model mlp (or moe)" in err and "--input-shape 1,8,8" in err
    out = train(capsys, "--dataset", str(tmp_path / "pix.csv"), "--model", "lenet",
                "--input-shape", "1,8,8", "--no-save")
    assert "LeNet-5 1x8x8" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--dataset", "moons", "--model", "cnn"],
     "--model cnn needs images, but dataset 'moons' has rows of 2 features and no image shape; "
     "use --model mlp (or moe) for feature rows, or give the shape of each row's pixels with "
     "--input-shape C,H,W (C*H*W = 2)"),
    (["--dataset", "moons", "--model", "lenet", "--input-shape", "1,2,3"],
     "--input-shape 1,2,3 holds 6 values per sample but dataset 'moons' has 2 features"),
    (["--model", "lenet", "--input-shape", "2,4,4"], "--input-shape 2,4,4 holds 32 values"),
    (["--model", "lenet", "--input-shape", "16,2,2"],
     "--model lenet: its two 2x2 max-pools need images of at least 4x4; the images are 2x2"),
    (["--model", "cnn", "--channels", "8,8,8,8"],
     "--model cnn: 4 conv block(s) (--channels 8,8,8,8) each halve the image, so they need "
     "images of at least 16x16; the images are 8x8"),
    (["--model", "cnn", "--channels", "8,a"], "--channels '8,a': 'a' is not a whole number"),
    (["--model", "spec"], "--model spec needs --model-spec FILE.toml"),
    (["--model", "cnn", "--model-spec", str(SPEC)], "lists the whole model; drop --model cnn"),
    (["--model", "cnn", "--labels", "100"], "--model cnn is not supported there"),
])
def test_model_refusals(capsys: pytest.CaptureFixture, args: list[str], message: str) -> None:
    assert message in refused(capsys, "train", "--no-save", *args)


def _spec(tmp_path: Path, text: str) -> str:
    path = tmp_path / "net.toml"
    path.write_text(text)
    return str(path)


LINEAR = '[[layer]]\ntype = "Flatten"\n[[layer]]\ntype = "Linear"\nin_features = 64\n' \
         'out_features = 10\n'


@pytest.mark.parametrize(("text", "message"), [
    (LINEAR.replace('"Linear"', '"Linaer"'),
     "net.toml: layer 2 asks for class 'Linaer', which chainrule.nn does not export (did you "
     "mean 'Linear'?)"),
    (LINEAR.replace("in_features", "inputs"),
     "net.toml: layer 2 (Linear) has argument 'inputs'; Linear takes"),
    (LINEAR.replace("in_features = 64", "in_features = 60"),
     "net.toml: layer 2 (Linear) cannot take its input of shape (2, 64) (a batch of 2): linear: "
     "input (2, 64) has 64 features but weight (10, 60) takes in_features=60"),
    (LINEAR.replace("out_features = 10", "out_features = 3"),
     "net.toml: the last layer gives outputs of shape (2, 3) for a batch of 2; the dataset needs "
     "(2, 10)"),
    (LINEAR.split("[[layer]]\ntype = \"Linear\"")[0].replace('"Flatten"', '"Linear"')
     + 'in_features = 64\nout_features = 10\n',
     "layer 1 (Linear) cannot take its input of shape (2, 1, 8, 8) (a batch of 2): linear: "),
    ('[[layer]]\ntype = "Linear"\nin_features = 64\nout_features = 10\n',
     'start with type = "Flatten", or set input_shape = [64] at the top of the spec'),
    ('input_shape = [64]\n[[layer]]\ntype = "Conv2d"\nin_channels = 1\nout_channels = 2\n'
     'kernel_size = 3\n', "layer 1 (Conv2d) cannot take its input of shape (2, 64)"),
    ('input_shape = [1, 4, 4]\n' + LINEAR,
     "input_shape: --input-shape 1,4,4 holds 16 values per sample but dataset 'digits' has 64"),
    ('[[layer]]\ntype = "Sequential"\n', "layer 1: Sequential is a container"),
    ('[[layer]]\nin_features = 3\n', "layer 1 has no type = \"...\" naming its chainrule.nn "
                                      "class"),
    ('[[layer]]\ntype = "Linear"\nin_features = 64\nout_features = {a = 1}\n',
     "layer 1 (Linear) argument 'out_features' is a dict"),
    ('layers = 3\n', "unknown key(s) 'layers'; a model spec holds input_shape"),
    ('input_shape = [64]\n', "no layers; list them as [[layer]] tables"),
    ('[[layer\n', "model spec '{path}' is not valid TOML"),
])
def test_spec_refusals(tmp_path: Path, capsys: pytest.CaptureFixture, text: str,
                       message: str) -> None:
    path = _spec(tmp_path, text)
    err = refused(capsys, "train", "--no-save", "--model-spec", path)
    assert message.format(path=path) in err


def test_a_spec_of_rows_trains_an_mlp(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _spec(tmp_path, 'input_shape = [64]\n[[layer]]\ntype = "Linear"\nin_features = 64\n'
                 'out_features = 32\n[[layer]]\ntype = "Tanh"\n[[layer]]\ntype = "Linear"\n'
                 'in_features = 32\nout_features = 10\n')
    out = train(capsys, "--model-spec", path, "--epochs", "3", "--out", str(tmp_path / "r"))
    assert "Sequential from net.toml (3 layers: Linear-Tanh-Linear) 64 -> 10" in out
    assert accuracy(out, "test accuracy") > 0.8


def test_evaluate_describes_an_moe_checkpoint_as_moe(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    """Issue 9: evaluate printed "MLP 64-32-16-10" for an MoE checkpoint."""
    train(capsys, "--model", "moe", "--experts", "4", "--k", "2", "--layers", "32,16",
          "--out", str(tmp_path))
    assert cli.main(["evaluate", str(tmp_path / "model.ckpt")]) == 0
    out = capsys.readouterr().out
    assert ": MoE MLP (4 experts, k=2) 64-32-16-10 relu, loss cross-entropy" in out
    assert "): MLP" not in out


@pytest.mark.parametrize(("arch", "words"), [
    ({"kind": "mlp", "sizes": [64, 30, 10], "activation": "sigmoid",
      "output_activation": "sigmoid"}, "MLP 64-30-10 sigmoid -> sigmoid"),
    ({"kind": "moe", "sizes": [64, 32, 16, 10], "activation": "relu", "experts": 8, "k": 1},
     "MoE MLP (8 experts, k=1) 64-32-16-10 relu"),
    ({"kind": "cnn", "sizes": [784, 10], "input_shape": [1, 28, 28], "channels": [16],
      "activation": "gelu", "dropout": 0.0},
     "CNN 1x28x28 -> conv3x3 16 (BatchNorm, gelu, max-pool 2) -> 10"),
    ({"kind": "lenet", "sizes": [3072, 10], "input_shape": [3, 32, 32], "activation": "tanh"},
     "LeNet-5 3x32x32 -> conv5x5 6,16 (tanh, max-pool 2) -> fc 120,84 -> 10"),
    ({"kind": "module", "sizes": [4, 2], "name": "Sequential"},
     "Sequential (4 inputs, 2 outputs) rebuilt from its chainrule.nn layers"),
    ({"kind": "future"}, "model of unknown kind 'future'"),
    ({"kind": "cnn", "sizes": [64, 10], "input_shape": [1, 8, 8], "channels": 5,
      "dropout": "x"}, "model of kind 'cnn' (its description is malformed)"),
])
def test_describe_arch(arch: dict, words: str) -> None:
    assert describe_arch(arch) == words


def test_a_record_asking_for_other_classes_is_refused() -> None:
    from chainrule.cli.common import CLIError
    from chainrule.cli.model import build_model

    arch = {"kind": "cnn", "sizes": [64, 10], "module": {
        "format": "chainrule.nn", "version": 1,
        "module": {"class": "Sequential", "children": [["0", {"class": "Popen", "args": {}}]]}}}
    with pytest.raises(CLIError) as e:
        build_model(arch)
    assert "asks for class 'Popen', which chainrule.nn does not export" in str(e.value)


def test_gradcheck_and_report_describe_the_record(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    train(capsys, "--model", "cnn", "--channels", "4", "--limit", "100", "--out", str(tmp_path))
    assert cli.main(["gradcheck", str(tmp_path / "model.ckpt"), "--examples", "2",
                     "--max-elements", "4"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"checkpoint {tmp_path / 'model.ckpt'}: CNN 1x8x8 -> conv3x3 4 ")


@pytest.mark.parametrize("args", [["--model", "cnn", "--channels", "4,8"], ["--model", "lenet"],
                                  ["--model-spec", str(SPEC)]])
def test_export_an_image_model(tmp_path: Path, capsys: pytest.CaptureFixture,
                               args: list[str]) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    train(capsys, *args, "--limit", "100", "--out", str(tmp_path))
    rc = cli.main(["export", str(tmp_path / "model.ckpt"), str(tmp_path / "m.onnx")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    m = re.search(r"input \(batch, 64\) float32; onnxruntime on 37 random rows agrees with "
                  r"chainrule to (\S+) ", out)
    assert m and float(m.group(1)) < 1e-5, out
