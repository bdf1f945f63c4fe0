"""Each callback's behaviour, and bit-exact resume through checkpoints."""

from __future__ import annotations

import csv
import json
import math
import os

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.data.datasets import blobs, moons
from chainrule.io import load_checkpoint
from chainrule.train import (
    Callback,
    CSVLogger,
    EarlyStopping,
    JSONLinesLogger,
    LambdaCallback,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
    fit,
)


def weights(model) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def make(seed: int = 0, lr: float = 0.02, dropout: float = 0.0):
    cr.manual_seed(seed)
    model = nn.MLP([2, 16, 2], dropout=dropout)
    return model, optim.Adam(model.parameters(), lr=lr)


DATA = blobs(n_samples=64, centers=2, seed=0)


class Script(Callback):
    """Overwrites a logged value with a scripted sequence and snapshots the weights per epoch
    (runs before the others: order -1)."""

    order = -1

    def __init__(self, key: str, values: list[float]) -> None:
        self.key, self.values, self.snapshots = key, values, {}

    def on_epoch_end(self, epoch, logs=None) -> None:
        logs[self.key] = self.values[epoch - 1]
        self.snapshots[epoch] = weights(self.model)


def test_early_stopping_restores_best_weights() -> None:
    model, opt = make()
    script = Script("val_loss", [1.0, 0.5, 0.7, 0.8, 0.9, 0.95])
    es = EarlyStopping("val_loss", patience=2, restore_best_weights=True)
    h = fit(model, nn.CrossEntropyLoss(), opt, DATA, epochs=6, callbacks=[es, script],
            progress=False)
    assert h.epoch == [1, 2, 3, 4]  # stopped after 2 epochs without improvement
    assert es.stopped_epoch == 4 and es.best_epoch == 2 and es.best == 0.5
    best = script.snapshots[2]
    assert all(np.array_equal(weights(model)[k], best[k]) for k in best)
    assert not all(np.array_equal(script.snapshots[4][k], best[k]) for k in best)


def test_early_stopping_min_delta_mode_and_missing_monitor() -> None:
    model, opt = make()
    es = EarlyStopping("val_accuracy", patience=1, min_delta=0.05)
    assert es.mode == "max"
    script = Script("val_accuracy", [0.5, 0.52, 0.53, 0.9])
    h = fit(model, nn.CrossEntropyLoss(), opt, DATA, epochs=4, callbacks=[es, script],
            progress=False)
    assert h.epoch == [1, 2]  # +0.02 is not an improvement of more than 0.05
    with pytest.raises(ValueError, match="monitor 'val_loss' is not in the epoch's logs"):
        fit(model, nn.CrossEntropyLoss(), opt, DATA, epochs=1, callbacks=[EarlyStopping()],
            progress=False)


def test_model_checkpoint_writes_loadable_files(tmp_path) -> None:
    model, opt = make()
    script = Script("val_loss", [1.0, 2.0, 0.5])
    every = ModelCheckpoint(tmp_path / "e{epoch:02d}.ckpt")
    best = ModelCheckpoint(tmp_path / "best.ckpt", save_best_only=True)
    weights_only = ModelCheckpoint(tmp_path / "w.safetensors", save_weights_only=True,
                                   monitor="loss")
    fit(model, nn.CrossEntropyLoss(), opt, DATA, epochs=3, progress=False,
        callbacks=[every, best, weights_only, script])
    assert sorted(os.listdir(tmp_path)) == ["best.ckpt", "e01.ckpt", "e02.ckpt", "e03.ckpt",
                                            "w.safetensors"]  # no temporary files left
    assert best.best_epoch == 3 and best.best == 0.5
    fresh, _ = make(seed=1)
    info = load_checkpoint(tmp_path / "e02.ckpt", fresh, restore_rng=False)
    assert info["epoch"] == 2
    assert all(np.array_equal(weights(fresh)[k], script.snapshots[2][k])
               for k in script.snapshots[2])
    state = cr.load(tmp_path / "w.safetensors")
    assert all(np.array_equal(state[k].numpy(), weights(model)[k]) for k in state)


def test_model_checkpoint_is_atomic(tmp_path, monkeypatch) -> None:
    """A write that fails half way leaves the previous checkpoint whole and loadable."""
    path = tmp_path / "run.ckpt"
    model, opt = make()
    fit(model, nn.CrossEntropyLoss(), opt, DATA, epochs=1, progress=False,
        callbacks=[ModelCheckpoint(path)])
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        fit(model, nn.CrossEntropyLoss(), opt, DATA, epochs=1, progress=False,
            callbacks=[ModelCheckpoint(path)])
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.ckpt"]
    assert load_checkpoint(path, make()[0], restore_rng=False)["epoch"] == 1


def test_model_checkpoint_min_interval_saves_the_last_epoch(tmp_path) -> None:
    model, opt = make()
    ck = ModelCheckpoint(tmp_path / "m.ckpt", min_interval=3600)
    fit(model, nn.CrossEntropyLoss(), opt, DATA, epochs=4, progress=False, callbacks=[ck])
    assert load_checkpoint(tmp_path / "m.ckpt", make()[0], restore_rng=False)["epoch"] == 4


def test_terminate_on_nan_stops() -> None:
    model, opt = make()
    calls = []

    def loss_fn(out, target):
        calls.append(1)
        loss = nn.functional.cross_entropy(out, target)
        return loss * float("nan") if len(calls) == 3 else loss

    t = TerminateOnNaN(verbose=False)  # fit raises by default: this is for on_nonfinite="warn"
    with pytest.warns(RuntimeWarning, match="the loss is nan at epoch 1, step 3"):
        h = fit(model, loss_fn, opt, DATA, epochs=5, batch_size=8, callbacks=[t], progress=False,
                on_nonfinite="warn")
    assert t.stopped_batch == (1, 2)
    assert len(calls) == 3 and h.epoch == [1] and math.isnan(h.history["loss"][0])


def test_loggers_write_the_history(tmp_path) -> None:
    model, opt = make()
    csv_path, jl_path = tmp_path / "m.csv", tmp_path / "m.jsonl"
    h = fit(model, nn.CrossEntropyLoss(), opt, DATA, epochs=3, val_split=0.25, progress=False,
            metrics=("accuracy", "confusion_matrix"),
            callbacks=[CSVLogger(csv_path), JSONLinesLogger(jl_path)])
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr",
                             "time"]  # the confusion matrix is no CSV cell
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["val_loss"]) for r in rows] == h.history["val_loss"]
    records = [json.loads(line) for line in jl_path.read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert [r["accuracy"] for r in records] == h.history["accuracy"]
    assert np.array(records[-1]["val_confusion_matrix"]).sum() == 16


def test_reduce_lr_on_plateau_callback() -> None:
    model, opt = make(lr=0.1)
    script = Script("val_loss", [1.0, 1.0, 1.0, 1.0, 1.0])
    cb = ReduceLROnPlateau("val_loss", factor=0.5, patience=1)
    h = fit(model, nn.CrossEntropyLoss(), opt, DATA, epochs=5, progress=False,
            callbacks=[cb, script])
    assert h.history["lr"] == [0.1, 0.1, 0.1, 0.05, 0.05]
    assert opt.param_groups[0]["lr"] == 0.025


def test_lambda_callback_and_protocol_order() -> None:
    seen = []
    cb = LambdaCallback(on_train_begin=lambda logs: seen.append("begin"),
                        on_epoch_begin=lambda e, logs: seen.append(f"e{e}"),
                        on_batch_end=lambda b, logs: seen.append(f"b{b}:{logs['size']}"),
                        on_train_end=lambda logs: seen.append("end"))
    model, opt = make()
    fit(model, nn.CrossEntropyLoss(), opt, DATA, epochs=2, batch_size=40, callbacks=[cb],
        progress=False)
    assert seen == ["begin", "e1", "b0:40", "b1:24", "e2", "b0:40", "b1:24", "end"]
    with pytest.raises(TypeError, match="unknown hook"):
        LambdaCallback(on_epoch_finish=print)


# -- resume -----------------------------------------------------------------------------------

def _run(epochs: int, path=None, resume=None, init_seed: int = 0):
    """MLP with dropout, Adam, a StepLR schedule, a seeded validation split, shuffling, early
    stopping state: everything a resume has to restore."""
    data = moons(n_samples=240, noise=0.2, seed=0)
    cr.manual_seed(init_seed)
    model = nn.MLP([2, 32, 32, 2], dropout=0.2)
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.8)
    cbs = [EarlyStopping("val_loss", patience=10), ReduceLROnPlateau("val_loss", patience=10)]
    if path is not None:
        cbs.append(ModelCheckpoint(path))
    h = fit(model, nn.CrossEntropyLoss(), opt, data, epochs=epochs, batch_size=16,
            val_split=0.25, scheduler=sched, callbacks=cbs, seed=3, progress=False,
            resume=resume)
    return model, opt, h


def test_resume_is_bit_exact(tmp_path) -> None:
    straight, opt_a, ha = _run(4)
    path = tmp_path / "half.ckpt"
    _run(2, path=path)
    resumed, opt_b, hb = _run(4, resume=path, init_seed=99)  # other initial weights: restored
    wa, wb = weights(straight), weights(resumed)
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert hb.epoch == [1, 2, 3, 4]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert ha.history[key] == hb.history[key], key
    sa, sb = opt_a.state_dict()["state"], opt_b.state_dict()["state"]
    assert all(np.array_equal(sa[i]["exp_avg"].numpy(), sb[i]["exp_avg"].numpy()) for i in sa)


def test_resume_past_the_end_trains_nothing(tmp_path) -> None:
    path = tmp_path / "done.ckpt"
    model, _, _ = _run(2, path=path)
    again, _, h = _run(2, resume=path, init_seed=5)
    assert h.epoch == [1, 2]
    wa, wb = weights(model), weights(again)
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)


def test_early_stopping_state_survives_a_checkpoint(tmp_path) -> None:
    model, opt = make()
    script = Script("val_loss", [1.0, 0.5, 0.7])
    es = EarlyStopping("val_loss", patience=5, restore_best_weights=True)
    fit(model, nn.CrossEntropyLoss(), opt, DATA, epochs=3, progress=False,
        callbacks=[es, script, ModelCheckpoint(tmp_path / "c.ckpt")])
    info = load_checkpoint(tmp_path / "c.ckpt", make()[0], restore_rng=False)
    state = info["extra"]["trainer"]["callbacks"]["EarlyStopping"]
    assert state["best"] == 0.5 and state["wait"] == 1 and state["best_epoch"] == 2
    restored = EarlyStopping("val_loss", patience=5, restore_best_weights=True)
    restored.load_state_dict(state)
    assert all(np.array_equal(restored.best_weights[k], script.snapshots[2][k])
               for k in script.snapshots[2])
