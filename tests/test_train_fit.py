"""fit / evaluate / predict with the real nn, optim and data components: learning, History,
progress output, reproducibility, schedulers."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader
from chainrule.data.datasets import blobs, moons
from chainrule.train import History, Trainer, evaluate, fit, predict


def weights(model) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def make(seed: int = 0, sizes=(2, 16, 2), dropout: float = 0.0):
    cr.manual_seed(seed)
    model = nn.MLP(list(sizes), dropout=dropout)
    return model, optim.Adam(model.parameters(), lr=0.02)


def test_fit_learns_blobs() -> None:
    data = blobs(n_samples=300, centers=3, seed=0)
    model, opt = make(sizes=(2, 16, 3))
    h = fit(model, nn.CrossEntropyLoss(), opt, data, epochs=15, batch_size=32, seed=0,
            progress=False)
    assert h.history["accuracy"][-1] > 0.95
    assert evaluate(model, data, nn.CrossEntropyLoss())["accuracy"] > 0.95


def test_fit_learns_moons_with_validation() -> None:
    data = moons(n_samples=400, noise=0.1, seed=0)
    model, opt = make(sizes=(2, 32, 32, 2))
    h = fit(model, nn.CrossEntropyLoss(), opt, data, epochs=25, batch_size=32, val_split=0.2,
            seed=0, progress=False, metrics=("accuracy", "top1_accuracy"))
    assert h.history["val_accuracy"][-1] >= 0.95
    assert h.history["top1_accuracy"] == h.history["accuracy"]


def test_history_contents() -> None:
    data = blobs(n_samples=120, centers=2, seed=1)
    model, opt = make()
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    h = fit(model, nn.CrossEntropyLoss(), opt, data, epochs=3, batch_size=16, val_split=0.25,
            scheduler=sched, seed=0, progress=False)
    assert isinstance(h, History)
    assert h.epoch == [1, 2, 3]
    assert list(h.history) == ["loss", "accuracy", "val_loss", "val_accuracy", "lr", "time"]
    assert all(len(v) == 3 for v in h.history.values())
    assert h.history["lr"] == [0.02, 0.01, 0.005]  # the rate each epoch trained with
    assert all(isinstance(v, float) for v in h.history["val_loss"])
    epoch, best = h.best("val_loss")
    assert best == min(h.history["val_loss"]) and epoch in h.epoch
    back = History.from_dict(json.loads(h.to_json()))
    assert back.history == h.history and back.epoch == h.epoch


def test_data_forms_and_loader() -> None:
    data = blobs(n_samples=64, centers=2, seed=2)
    x, y = data.tensors
    for train in ((x, y), (x.numpy(), y.numpy()), DataLoader(data, batch_size=8, shuffle=True)):
        model, opt = make()
        h = fit(model, nn.CrossEntropyLoss(), opt, train, epochs=1, batch_size=8,
                progress=False)
        assert len(h) == 1


def test_evaluate_and_predict_use_eval_mode_without_graph() -> None:
    data = blobs(n_samples=50, centers=2, seed=3)
    model, _ = make(dropout=0.5)
    model.train()
    out1 = predict(model, data.tensors[0], batch_size=7)
    out2 = predict(model, data, batch_size=7)  # (inputs, targets): the targets are ignored
    assert out1.shape == (50, 2) and not out1.requires_grad
    np.testing.assert_array_equal(out1.numpy(), out2.numpy())  # no dropout in eval mode
    assert model.training  # restored
    res = evaluate(model, data, nn.CrossEntropyLoss(), metrics=("accuracy", "confusion_matrix"))
    assert set(res) == {"loss", "accuracy", "confusion_matrix"}
    assert res["confusion_matrix"].sum() == 50


def test_progress_lines_when_not_a_tty(capsys) -> None:
    data = blobs(n_samples=40, centers=2, seed=4)
    model, opt = make()
    fit(model, nn.CrossEntropyLoss(), opt, data, epochs=3, batch_size=8, progress=True,
        val_split=0.25)
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("epoch 1/3  loss ")
    assert "val_accuracy" in lines[2]


def test_progress_bar_on_a_terminal() -> None:
    class TTY(io.StringIO):
        def isatty(self) -> bool:
            return True

    from chainrule.train.progress import make_progress

    stream = TTY()
    bar = make_progress(True, file=stream)
    assert bar is not None and bar.mode == "bar"
    data = blobs(n_samples=40, centers=2, seed=4)
    model, opt = make()
    fit(model, nn.CrossEntropyLoss(), opt, data, epochs=2, batch_size=8, progress=bar)
    text = stream.getvalue()
    assert "epoch 1/2" in text and "epoch 2/2" in text and "loss" in text


def test_silent_progress(capsys) -> None:
    model, opt = make()
    fit(model, nn.CrossEntropyLoss(), opt, blobs(n_samples=20, centers=2, seed=5), epochs=2,
        progress=False)
    assert capsys.readouterr().out == ""


def test_seed_gives_identical_weights() -> None:
    data = moons(n_samples=200, noise=0.2, seed=0)

    def run(seed: int) -> dict[str, np.ndarray]:
        model, opt = make(seed=7, sizes=(2, 16, 2), dropout=0.2)  # same initial weights
        fit(model, nn.CrossEntropyLoss(), opt, data, epochs=3, batch_size=16, val_split=0.2,
            seed=seed, progress=False)
        return weights(model)

    a, b, c = run(1), run(1), run(2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)


def test_plateau_scheduler_gets_the_monitored_value() -> None:
    data = blobs(n_samples=40, centers=2, seed=6)
    model, opt = make()
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5, threshold=10.0)
    h = fit(model, nn.CrossEntropyLoss(), opt, data, epochs=3, scheduler=sched, progress=False)
    assert h.history["lr"] == [0.02, 0.01, 0.005]


def test_lbfgs_gets_a_closure() -> None:
    data = blobs(n_samples=60, centers=2, seed=7)
    cr.manual_seed(0)
    model = nn.MLP([2, 8, 2])
    opt = optim.LBFGS(model.parameters(), lr=0.5, max_iter=5)
    h = fit(model, nn.CrossEntropyLoss(), opt, data, epochs=3, batch_size=60, progress=False)
    assert h.history["loss"][-1] < h.history["loss"][0]


def test_regression_metrics_in_fit() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (200, 1)).astype(np.float32)
    y = (2 * x + 0.5).astype(np.float32)
    cr.manual_seed(0)
    model = nn.Linear(1, 1)
    h = fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=20,
            batch_size=20, metrics=("mae", "r2"), progress=False)
    assert h.history["r2"][-1] > 0.99 and h.history["mae"][-1] < 0.05


def test_trainer_errors() -> None:
    model, opt = make()
    data = blobs(n_samples=20, centers=2, seed=8)
    with pytest.raises(ValueError, match="val_data or val_split"):
        fit(model, nn.CrossEntropyLoss(), opt, data, val_data=data, val_split=0.5,
            progress=False)
    with pytest.raises(ValueError, match="no targets"):
        fit(model, nn.CrossEntropyLoss(), opt, data.tensors[0], progress=False)
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        Trainer(model, None, opt)
    with pytest.raises(ValueError, match="val_split needs a Dataset"):
        fit(model, nn.CrossEntropyLoss(), opt, DataLoader(data), val_split=0.5, progress=False)
