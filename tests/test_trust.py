"""Issue 13, items 1-11: places where chainrule was quietly wrong or unclear. Each test fails on
the old behaviour."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import main as cli

from .test_cli_errors import fails


def _write_csv(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    np.savetxt(path, np.c_[x, y], delimiter=",")
    return path


# --- 1. CSV regression targets and the task rule ----------------------------------------------


def test_csv_regression_targets_have_the_model_output_shape(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = x @ [1.0, 2.0, -1.0] + 0.1 * rng.normal(size=400)
    path = _write_csv(tmp_path / "reg.csv", x, y)
    assert cli.main(["train", "--dataset", str(path), "--epochs", "5", "--no-save",
                     "--progress", "none"]) == 0
    out = capsys.readouterr().out
    assert "regression, by the --task auto rule" in out
    r2 = float(out.split("r2 ")[-1].split()[0])
    assert r2 > 0.9, out  # was 0.01: (N, 1) outputs against (N,) targets broadcast to (N, N)


def test_one_stray_label_does_not_turn_classes_into_regression(tmp_path: Path,
                                                                capsys) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 2))
    y = (x[:, 0] > 0).astype(float)
    y[6] = 2.5
    path = _write_csv(tmp_path / "cls.csv", x, y)
    line = fails(capsys, "train", "--dataset", str(path), "--no-save")
    assert "the label at line 7 is 2.5, which is not a class index" in line
    assert "--task regression" in line
    y[6] = 1e9
    _write_csv(path, x, y)
    assert "the label at line 7 is 1e+09" in fails(capsys, "train", "--dataset", str(path),
                                                   "--no-save")
    # the user decides: --task regression trains on real-valued (N, 1) targets
    assert cli.main(["train", "--dataset", str(path), "--task", "regression", "--epochs", "1",
                     "--no-save", "--progress", "none"]) == 0
    assert "regression (--task regression)" in capsys.readouterr().out


def test_npz_regression_targets_of_shape_n_are_reshaped(tmp_path: Path) -> None:
    from chainrule.cli import datasets as D

    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 2)).astype(np.float32)
    np.savez(tmp_path / "r.npz", x=x, y=x.sum(1) * 0.37)
    data = D.load(str(tmp_path / "r.npz"))
    assert data.task == "regression" and data.n_outputs == 1
    assert D.targets_of(data.train).shape == (40, 1)
    np.savez(tmp_path / "c.npz", x=x, y=(x[:, 0] > 0).astype(np.float64))
    assert D.load(str(tmp_path / "c.npz")).task == "classification"


# --- 3. non-finite data ---------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["nan", "inf", "-inf", "1e999"])
def test_csv_refuses_nonfinite_cells_naming_line_and_column(tmp_path: Path, cell: str) -> None:
    from chainrule.data.datasets import load_csv

    path = tmp_path / "d.csv"
    path.write_text(f"a,b,y\n1,2,0\n3,{cell},1\n")
    with pytest.raises(ValueError, match=f"line 3, column 2 \\('b'\\): '{cell}' is not a finite"):
        load_csv(path)
    ds = load_csv(path, allow_nonfinite=True)
    assert not np.isfinite(ds.arrays[0]).all()


def test_cli_refuses_nonfinite_cells(tmp_path: Path, capsys) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n1,2,0\n3,nan,1\n")
    assert "line 3, column 2 ('b'): 'nan' is not a finite number" in fails(
        capsys, "train", "--dataset", str(path), "--no-save")
    np.savez(tmp_path / "d.npz", x=np.array([[1.0, np.inf]]), y=np.array([0]))
    assert "array 'x' holds inf at index (0, 1)" in fails(capsys, "train", "--dataset",
                                                           str(tmp_path / "d.npz"))


# --- 2. .numpy() on a tensor that requires grad -----------------------------------------------


def test_numpy_refuses_a_tensor_that_requires_grad_like_torch() -> None:
    import chainrule as cr

    torch = pytest.importorskip("torch")
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    y = w * w  # saves w: writing into w's buffer would corrupt the gradient
    with pytest.raises(RuntimeError) as ours:
        w.numpy()
    with pytest.raises(RuntimeError) as theirs:
        torch.tensor([1.0, 2.0], requires_grad=True).numpy()
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(RuntimeError, match="Can't call numpy"):
        y.numpy()  # a non-leaf that requires grad too
    assert w.numpy(force=True) is w.detach().numpy()  # the explicit ways share memory
    view = np.asarray(w)  # the array protocol hands out a read-only view instead
    with pytest.raises(ValueError, match="read-only"):
        view[0] = 100.0
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0])
    assert cr.tensor([1.0]).numpy().tolist() == [1.0]


def _diverging(on_nonfinite: str = "raise"):
    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.train import fit

    cr.manual_seed(0)
    model = nn.Linear(2, 1)
    x = cr.tensor(np.random.default_rng(0).normal(size=(32, 2)) * 100, dtype=cr.float32)
    y = x.sum(1, keepdim=True)
    opt = optim.SGD(model.parameters(), lr=1e6)
    return lambda: fit(model, nn.MSELoss(), opt, (x, y), epochs=4, batch_size=8, progress=False,
                       metrics=(), on_nonfinite=on_nonfinite)


def test_fit_stops_at_a_nonfinite_loss_naming_epoch_and_step() -> None:
    from chainrule.train import NonFiniteLossError

    match = r"the loss is (nan|inf) at epoch 1, step \d of 4"
    with pytest.raises(NonFiniteLossError, match=match), np.errstate(all="ignore"):
        _diverging()()
    with pytest.warns(RuntimeWarning, match="on_nonfinite='warn'"), np.errstate(all="ignore"):
        history = _diverging("warn")()
    assert len(history) == 4  # warned once, trained on


def test_fit_under_anomaly_mode_names_the_op() -> None:
    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.train import NonFiniteLossError, fit

    model = nn.Linear(1, 1)
    x = cr.tensor([[1.0], [-1.0]])
    y = cr.tensor([[0.0], [0.0]])
    loss = lambda out, t: ((out - t) * 0 - 1).sqrt().sum()  # noqa: E731
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 1: detect_anomaly: 'sqrt'"), \
            cr.autograd.detect_anomaly(), np.errstate(all="ignore"):
        fit(model, loss, optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1,
            batch_size=2, progress=False, metrics=())


def test_cli_diverging_run_exits_nonzero(tmp_path: Path, capsys) -> None:
    with np.errstate(all="ignore"):
        line = fails(capsys, "train", "--dataset", "blobs", "--optimizer", "sgd", "--lr", "1e6",
                     "--epochs", "2", "--no-save", "--progress", "none")
    assert "training stopped: the loss is nan at epoch 1, step" in line
    assert "(this run: sgd lr 1e+06)" in line


def test_predict_refuses_nan_input(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert cli.main(["train", "--dataset", "xor", "--epochs", "1", "--out", str(out),
                     "--progress", "none"]) == 0
    np.savez(tmp_path / "x.npz", x=np.array([[0.0, 1.0], [np.nan, 0.0]]))
    line = fails(capsys, "predict", str(out / "model.ckpt"), str(tmp_path / "x.npz"))
    assert "sample 1, feature 0 is nan; expected finite numbers" in line


def test_r2_with_a_nan_target_is_nan_not_zero() -> None:
    from chainrule.train.metrics import R2

    m = R2()
    m.update(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [np.nan], [3.0]]))
    assert np.isnan(m.compute())


# --- 4. binary cross-entropy targets --------------------------------------------------------------


@pytest.mark.parametrize("bad", [2.0, -1.0])
def test_bce_refuses_targets_outside_0_1_like_torch(bad: float) -> None:
    import chainrule as cr

    with pytest.raises(RuntimeError, match="all elements of target should be between 0 and 1"):
        cr.nn.functional.binary_cross_entropy(cr.tensor([0.5, 0.5]), cr.tensor([1.0, bad]))
    cr.nn.functional.binary_cross_entropy_with_logits(cr.tensor([0.5]), cr.tensor([bad]))


@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_with_logits"])
def test_bce_refuses_integer_targets(name: str) -> None:
    import chainrule as cr
    from chainrule.errors import DTypeError

    fn = getattr(cr.nn.functional, name)
    with pytest.raises(DTypeError, match="Found dtype int64 but expected float32"):
        fn(cr.tensor([0.5, 0.25]), cr.tensor([1, 0]))
    assert fn(cr.tensor([0.5, 0.25]), cr.tensor([1.0, 0.0])).dtype == cr.float32


# --- 7. .grad assignment and constructor arguments ------------------------------------------------


def test_grad_assignment_checks_type_shape_and_dtype_like_torch() -> None:
    import chainrule as cr

    x = cr.zeros(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"attempting to assign a gradient of size '\[3\]' to "
                                           r"a tensor of size '\[2, 3\]'"):
        x.grad = cr.zeros(3)
    with pytest.raises(RuntimeError, match="attempting to assign a gradient with dtype 'float64'"):
        x.grad = cr.zeros(2, 3, dtype=cr.float64)
    with pytest.raises(TypeError, match="assigned grad expected to be a Tensor or None but got "
                                        "grad of type int"):
        x.grad = 5
    x.grad = cr.ones(2, 3)
    x.grad = None
    assert x.grad is None


@pytest.mark.parametrize("args, match", [
    ((2.5, 3), "Linear: argument 'in_features' must be an int, got float 2.5"),
    ((3, 2.9), "Linear: argument 'out_features' must be an int, got float 2.9"),
    ((True, 3), "Linear: argument 'in_features' must be an int, got bool True"),
])
def test_linear_checks_argument_types(args: tuple, match: str) -> None:
    from chainrule import nn

    with pytest.raises(TypeError, match=match):
        nn.Linear(*args)


def test_other_constructors_check_sizes() -> None:
    from chainrule import nn

    with pytest.raises(RuntimeError, match="'out_features' is -1; Trying to create tensor with "
                                           "negative dimension"):
        nn.Linear(3, -1)
    with pytest.raises(TypeError, match="Embedding: argument 'embedding_dim' must be an int"):
        nn.Embedding(10, 2.0)
    with pytest.raises(TypeError, match="BatchNorm1d: argument 'num_features' must be an int"):
        nn.BatchNorm1d("4")
    assert nn.Linear(np.int64(3), 2).weight.shape == (2, 3)  # NumPy integers are ints


# --- 8. dtype rules -------------------------------------------------------------------------------


def test_linear_refuses_float64_input_and_lists_like_torch() -> None:
    import chainrule as cr
    from chainrule import nn

    layer = nn.Linear(2, 3)
    with pytest.raises(RuntimeError, match="mat1 and mat2 must have the same dtype, but got "
                                           "float64 and float32"):
        layer(cr.tensor([[1.0, 2.0]], dtype=cr.float64))
    with pytest.raises(TypeError, match=r"linear\(\): argument 'input' \(position 1\) must be "
                                        "Tensor, not list"):
        layer([[1.0, 2.0]])
    assert layer.double()(cr.tensor([[1.0, 2.0]], dtype=cr.float64)).dtype == cr.float64


def test_integer_mean_refuses_like_torch() -> None:
    import chainrule as cr

    msg = ("mean(): could not infer output dtype. Input dtype must be either a floating point "
           "or complex dtype. Got: int64")
    with pytest.raises(RuntimeError, match=re.escape(msg)):
        cr.tensor([1, 2]).mean()
    assert cr.tensor([1, 2]).float().mean().item() == 1.5


# --- 5. logs agree with the checkpoint a run resumes from ---------------------------------------


def test_resume_drops_log_rows_after_the_checkpoint(tmp_path: Path) -> None:
    import json

    import chainrule as cr
    from chainrule import nn, optim
    from chainrule.train import CSVLogger, JSONLinesLogger, ModelCheckpoint, fit

    x = cr.tensor(np.random.default_rng(0).normal(size=(16, 2)), dtype=cr.float32)
    y = cr.tensor((np.arange(16) % 2).astype(np.int64))

    def run(epochs: int, resume: Path | None) -> None:
        cr.manual_seed(0)
        model = nn.Linear(2, 2)
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y),
            epochs=epochs, batch_size=8, progress=False, resume=resume,
            callbacks=[CSVLogger(tmp_path / "m.csv"), JSONLinesLogger(tmp_path / "m.jsonl"),
                       ModelCheckpoint(tmp_path / "model.ckpt")])

    run(2, None)
    # a killed run logged epochs 3 and 4 (the last one torn) after its last checkpoint
    with open(tmp_path / "m.csv", "a") as f:
        f.write("3,0.5,0.5,0.1,0.01\n4,0.4")
    with open(tmp_path / "m.jsonl", "a") as f:
        f.write('{"epoch": 3, "loss": 0.5}\n{"epoch": 4, "lo')
    run(4, tmp_path / "model.ckpt")
    rows = (tmp_path / "m.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["epoch", "1", "2", "3", "4"]
    epochs = [json.loads(line)["epoch"] for line in
              (tmp_path / "m.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3, 4]


# --- 6. cosine schedule on resume -----------------------------------------------------------------


def test_resume_with_more_epochs_under_cosine_refuses(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert cli.main(["train", "--dataset", "xor", "--epochs", "3", "--schedule", "cosine",
                     "--out", str(out), "--progress", "none"]) == 0
    line = fails(capsys, "train", "--out", str(out), "--epochs", "6", "--resume")
    assert "anneals the learning rate to 0 at epoch 3" in line
    assert "Resume with --epochs 3" in line


# --- 11. hostile checkpoint metadata ------------------------------------------------------------


@pytest.mark.parametrize("key, value, message", [
    ("mean", "abc", "metadata data.mean is 'abc'; expected 2 finite numbers"),
    ("mean", [0.0], "metadata data.mean is [0.0]; expected 2 finite numbers"),
    ("scale", [1.0, 0.0], "expected 2 finite numbers (one per input feature), all > 0"),
    ("classes", 7, "metadata data.classes is 7; expected a list of class names"),
    ("task", "banana", "metadata data.task is 'banana'; expected 'classification' or"),
])
def test_hostile_metadata_is_refused_on_load(tmp_path: Path, capsys, key: str, value,
                                             message: str) -> None:
    from chainrule.io import load_checkpoint, save_checkpoint

    out = tmp_path / "run"
    assert cli.main(["train", "--dataset", "xor", "--epochs", "1", "--out", str(out),
                     "--progress", "none"]) == 0
    capsys.readouterr()
    info = load_checkpoint(out / "model.ckpt", restore_rng=False)
    info["extra"]["meta"]["data"][key] = value
    from types import SimpleNamespace

    weights = SimpleNamespace(state_dict=lambda: info["model"])
    save_checkpoint(tmp_path / "bad.ckpt", model=weights, extra=info["extra"])
    np.savez(tmp_path / "x.npz", x=np.array([[0.0, 1.0]]))
    line = fails(capsys, "predict", str(tmp_path / "bad.ckpt"), str(tmp_path / "x.npz"))
    assert message in line
