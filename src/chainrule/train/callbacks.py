"""Callbacks: code that ``fit`` calls at fixed points of training.

The protocol (every method optional; subclass ``Callback`` and override what you need)::

    on_train_begin(logs)             once, before the first epoch
    on_epoch_begin(epoch, logs)      epoch counts from 1
    on_batch_begin(batch, logs)      batch counts from 0 within the epoch
    on_batch_end(batch, logs)        logs: running "loss" and metrics of the epoch so far, "size"
    on_epoch_end(epoch, logs)        logs: "loss", metrics, "val_loss", "val_<metric>", "lr", "time"
    on_train_end(logs)               once, after the last epoch (also after a stop)

``self.trainer`` is the running ``Trainer`` (set before ``on_train_begin``): its ``model``,
``optimizer``, ``scheduler``, ``history``, ``epoch``, ``epochs``; setting
``self.trainer.stop_training = True`` ends training after the current batch. Callbacks run in
ascending ``order`` (stable): ordinary ones at 0, the progress display at 90, ``ModelCheckpoint``
at 100, so a checkpoint sees what the others did in the same epoch. A callback that has state
worth resuming defines ``state_dict()`` / ``load_state_dict()``; checkpoints keep it.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from chainrule.train.history import plain

__all__ = [
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "JSONLinesLogger",
    "LambdaCallback",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "TerminateOnNaN",
]


class Callback:
    """Base class: every hook does nothing. See the module docstring for the protocol."""

    order = 0
    trainer: Any = None

    def set_trainer(self, trainer: Any) -> None:
        self.trainer = trainer

    @property
    def model(self) -> Any:
        return None if self.trainer is None else self.trainer.model

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None: ...
    def on_train_end(self, logs: dict[str, Any] | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None: ...


_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
          "on_batch_begin", "on_batch_end")


class CallbackList:
    """Callbacks in ``order``; calls a hook on every callback that overrides it."""

    def __init__(self, callbacks: Iterable[Callback] = ()) -> None:
        cbs = list(callbacks)
        for cb in cbs:
            if not any(callable(getattr(cb, h, None)) for h in _HOOKS):
                raise TypeError(f"callbacks: {cb!r} has none of the hooks {', '.join(_HOOKS)}")
        self.callbacks = sorted(cbs, key=lambda c: getattr(c, "order", 0))
        self._active = {h: [getattr(cb, h) for cb in self.callbacks
                            if _overrides(cb, h)] for h in _HOOKS}

    def set_trainer(self, trainer: Any) -> None:
        for cb in self.callbacks:
            if hasattr(cb, "set_trainer"):
                cb.set_trainer(trainer)
            else:
                cb.trainer = trainer

    def __iter__(self) -> Any:
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def has(self, hook: str) -> bool:
        return bool(self._active[hook])

    def call(self, hook: str, *args: Any) -> None:
        for fn in self._active[hook]:
            fn(*args)


def _overrides(cb: Any, hook: str) -> bool:
    if hook in getattr(cb, "__dict__", {}):  # set on the instance (LambdaCallback)
        return callable(cb.__dict__[hook])
    fn = getattr(type(cb), hook, None)
    return callable(fn) and fn is not getattr(Callback, hook, None)


def _mode_for(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    m = monitor.lower()
    return "max" if ("acc" in m or m.endswith("r2") or "auc" in m) else "min"


def _monitored(name: str, monitor: str, logs: dict[str, Any] | None) -> float:
    logs = logs or {}
    if monitor not in logs or logs[monitor] is None:
        have = ", ".join(k for k, v in logs.items() if isinstance(v, (int, float))) or "nothing"
        hint = (" (validation values need val_data= or val_split= in fit)"
                if monitor.startswith("val_") else "")
        raise ValueError(f"{name}: monitor {monitor!r} is not in the epoch's logs{hint}; "
                         f"logged: {have}")
    return float(logs[monitor])


class _Monitor:
    """Tracks the best value of a logged quantity (shared by EarlyStopping and ModelCheckpoint)."""

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        self.monitor = monitor
        self.mode = _mode_for(monitor, mode)
        self.min_delta = abs(float(min_delta))
        self.best = math.inf if self.mode == "min" else -math.inf

    def improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights=True`` the model ends training with the weights of its best
    epoch (a copy is kept in memory whenever the monitored value improves). ``baseline``: stop
    also if the value has not beaten it after ``patience`` epochs. ``stopped_epoch`` is the epoch
    that stopped training (0 if it ran to the end); ``best_epoch`` the best one.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 0, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False,
                 baseline: float | None = None, verbose: bool = False) -> None:
        self._m = _Monitor(monitor, mode, min_delta)
        if baseline is not None:
            self._m.best = float(baseline)
        self.monitor, self.mode, self.min_delta = monitor, self._m.mode, self._m.min_delta
        self.patience = int(patience)
        self.restore_best_weights = restore_best_weights
        self.baseline = baseline
        self.verbose = verbose
        self.wait = 0
        self.stopped_epoch = 0
        self.best_epoch = 0
        self.best_weights: dict[str, np.ndarray] | None = None

    @property
    def best(self) -> float:
        return self._m.best

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = _monitored("EarlyStopping", self.monitor, logs)
        if self._m.improved(value):
            self._m.best = value
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = _snapshot(self.model)
            return
        self.wait += 1
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.trainer.stop_training = True
            if self.verbose:
                print(f"EarlyStopping: {self.monitor} has not improved for {self.wait} epochs "
                      f"(best {self._m.best:.6g} at epoch {self.best_epoch}); stopping",
                      file=sys.stderr)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            _restore(self.model, self.best_weights)
            if self.verbose:
                print(f"EarlyStopping: restored the weights of epoch {self.best_epoch}",
                      file=sys.stderr)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self._m.best, "wait": self.wait, "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch,
                "best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._m.best = float(state["best"])
        self.wait = int(state["wait"])
        self.best_epoch = int(state["best_epoch"])
        self.stopped_epoch = int(state.get("stopped_epoch", 0))
        bw = state.get("best_weights")
        self.best_weights = None if bw is None else {k: np.array(_arr(v)) for k, v in bw.items()}


def _arr(v: Any) -> np.ndarray:
    return v.detach().numpy() if hasattr(v, "detach") else np.asarray(v)


def _snapshot(model: Any) -> dict[str, np.ndarray]:
    """A deep copy of the model's ``state_dict`` as arrays."""
    return {k: _arr(v).copy() for k, v in model.state_dict().items()}


def _restore(model: Any, weights: dict[str, np.ndarray]) -> None:
    from chainrule.autograd.factories import from_numpy

    model.load_state_dict({k: from_numpy(v.copy()) for k, v in weights.items()})


class ModelCheckpoint(Callback):
    """Save a resumable checkpoint (model, optimizer, scheduler, epoch, RNG state, history)
    through ``chainrule.io.save_checkpoint`` at the end of each epoch (atomically: a reader sees
    the old file or the new one, never half of one).

    ``path`` may hold format fields filled from the epoch and its logs:
    ``"ckpt/epoch{epoch:02d}-{val_loss:.3f}.ckpt"``. With ``save_best_only=True`` a file is
    written only when ``monitor`` improves on the best so far. ``save_weights_only=True``
    writes the model's ``state_dict`` alone (``cr.save``; read it back with ``cr.load``), with
    the model's architecture (plain data, never code) in its ``_metadata`` when
    ``chainrule.nn.architecture.describe`` can describe it, so ``chainrule evaluate`` reads it.
    ``every`` saves every n-th epoch; ``min_interval`` (seconds) skips a save that would come
    sooner than that after the previous one, and then saves the final epoch when training ends
    (a 300-epoch XOR run need not write 300 files; each write is flushed to disk).
    ``last_path`` is the last file written.
    """

    main_process_only = True  # in an MPI job only rank 0 runs it (train/distributed.py)

    order = 100

    def __init__(self, path: str | os.PathLike[str], monitor: str = "val_loss",
                 save_best_only: bool = False, mode: str = "auto",
                 save_weights_only: bool = False, every: int = 1, min_delta: float = 0.0,
                 min_interval: float = 0.0, verbose: bool = False) -> None:
        self.path = os.fspath(path)
        self.min_interval = float(min_interval)
        self._last_time = -math.inf
        self._pending: tuple[int, dict[str, Any]] | None = None
        self._m = _Monitor(monitor, mode, min_delta)
        self.monitor, self.mode = monitor, self._m.mode
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.every = max(1, int(every))
        self.verbose = verbose
        self.last_path: str | None = None
        self.best_epoch = 0

    @property
    def best(self) -> float:
        return self._m.best

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch % self.every:
            return
        if self.save_best_only:
            value = _monitored("ModelCheckpoint", self.monitor, logs)
            if not self._m.improved(value):
                return
            self._m.best = value
            self.best_epoch = epoch
        elif time.monotonic() - self._last_time < self.min_interval:
            self._pending = (epoch, dict(logs or {}))
            return
        self._save(epoch, logs)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._pending is not None:
            epoch, elogs = self._pending
            self._pending = None
            if epoch == getattr(self.trainer, "epoch", epoch):
                self._save(epoch, elogs)

    def _save(self, epoch: int, logs: dict[str, Any] | None) -> None:
        self._pending = None
        fields = {k: v for k, v in (logs or {}).items() if isinstance(v, (int, float))}
        try:
            path = self.path.format(epoch=epoch, **fields)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"ModelCheckpoint: cannot fill in path {self.path!r} ({e}); "
                             f"fields: epoch, {', '.join(fields)}") from None
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            from chainrule.io import save
            from chainrule.nn.architecture import describe

            state = self.model.state_dict()
            arch = describe(self.model)
            if arch is not None:  # kept as PyTorch keeps module versions: state._metadata
                state._metadata = {"architecture": arch}
            save(state, path)
        else:
            self.trainer.save_checkpoint(path)
        self.last_path = path
        self._last_time = time.monotonic()
        if self.verbose:
            print(f"ModelCheckpoint: saved {path}", file=sys.stderr)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self._m.best, "best_epoch": self.best_epoch, "last_path": self.last_path}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._m.best = float(state["best"])
        self.best_epoch = int(state.get("best_epoch", 0))
        self.last_path = state.get("last_path")


class ReduceLROnPlateau(Callback):
    """Drive ``chainrule.optim.lr_scheduler.ReduceLROnPlateau`` from a logged value: at each
    epoch's end, ``scheduler.step(logs[monitor])``. Arguments as the scheduler's (``min_delta``
    is its ``threshold``); ``mode="auto"`` picks max for accuracies, min otherwise."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 mode: str = "auto", min_delta: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float = 0.0, verbose: bool = False) -> None:
        self.monitor = monitor
        self.mode = _mode_for(monitor, mode)
        self.kwargs = dict(mode=self.mode, factor=factor, patience=patience, threshold=min_delta,
                           threshold_mode=threshold_mode, cooldown=cooldown, min_lr=min_lr)
        self.verbose = verbose
        self.scheduler: Any = None
        self._pending: dict[str, Any] | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        from chainrule.optim.lr_scheduler import ReduceLROnPlateau as Scheduler

        if self.scheduler is None or self.scheduler.optimizer is not self.trainer.optimizer:
            self.scheduler = Scheduler(self.trainer.optimizer, **self.kwargs)
        if self._pending is not None:
            self.scheduler.load_state_dict(self._pending)
            self._pending = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = _monitored("ReduceLROnPlateau", self.monitor, logs)
        before = [g["lr"] for g in self.trainer.optimizer.param_groups]
        self.scheduler.step(value)
        after = [g["lr"] for g in self.trainer.optimizer.param_groups]
        if self.verbose and after != before:
            print(f"ReduceLROnPlateau: {self.monitor} has plateaued; lr {before[0]:.3g} -> "
                  f"{after[0]:.3g}", file=sys.stderr)

    def state_dict(self) -> dict[str, Any]:
        return {} if self.scheduler is None else self.scheduler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        if self.scheduler is None:
            self._pending = dict(state)
        else:
            self.scheduler.load_state_dict(dict(state))


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite, keeping what was logged.

    ``fit`` raises ``NonFiniteLossError`` at a non-finite loss by default; this callback is
    for ``fit(..., on_nonfinite="warn")``, to end the run quietly instead."""

    def __init__(self, verbose: bool = True) -> None:
        self.verbose = verbose
        self.stopped_batch: tuple[int, int] | None = None

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("batch_loss", (logs or {}).get("loss"))
        if loss is not None and not math.isfinite(float(loss)):
            self.stopped_batch = (int(self.trainer.epoch), batch)
            self.trainer.stop_training = True
            if self.verbose:
                print(f"TerminateOnNaN: loss is {loss} at epoch {self.trainer.epoch}, batch "
                      f"{batch}; stopping", file=sys.stderr)


def _scalar(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


class _FileLogger(Callback):
    """Shared by the loggers: opens ``path`` at train begin (appending when resuming, or when
    ``append=True``) and writes one record per epoch, flushed at once."""

    main_process_only = True  # in an MPI job only rank 0 runs it (train/distributed.py)

    order = 50

    def __init__(self, path: str | os.PathLike[str], append: bool | None = None) -> None:
        self.path = os.fspath(path)
        self.append = append
        self._file: Any = None

    def _appending(self) -> bool:
        if self.append is not None:
            return bool(self.append)
        return bool(getattr(self.trainer, "initial_epoch", 0)) and os.path.exists(self.path)

    def _epoch_of(self, line: str) -> int | None:
        """The epoch a line of the file records (None for a header)."""
        raise NotImplementedError

    def _drop_after(self, epoch: int) -> None:
        """Remove the records of epochs after ``epoch`` (logged after the checkpoint a run
        resumes from, which would otherwise appear twice)."""
        with open(self.path, newline="") as f:
            lines = f.readlines()
        keep = []
        for line in lines:
            try:
                e = self._epoch_of(line)
            except (ValueError, KeyError, TypeError, IndexError):
                continue  # a torn line (a kill mid-write) goes too
            if e is None or e <= epoch:
                keep.append(line)
        if len(keep) != len(lines):
            with open(self.path, "w", newline="") as f:
                f.writelines(keep)

    def _open(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        if self.append is None and self._appending():
            self._drop_after(int(self.trainer.initial_epoch))
        self._file = open(self.path, "a" if self._appending() else "w", newline="")  # noqa: SIM115

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __del__(self) -> None:
        f = getattr(self, "_file", None)
        if f is not None:
            f.close()


class CSVLogger(_FileLogger):
    """One CSV row per epoch: ``epoch`` then every scalar in the logs (header from the first
    epoch; a key missing later is written empty). Appends when resuming a run."""

    def __init__(self, path: str | os.PathLike[str], separator: str = ",",
                 append: bool | None = None) -> None:
        super().__init__(path, append)
        self.separator = separator
        self.keys: list[str] | None = None
        self._writer: Any = None

    def _epoch_of(self, line: str) -> int | None:
        first = line.split(self.separator, 1)[0].strip()
        return None if first == "epoch" else int(first)

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.keys = None
        if self._appending():
            with open(self.path, newline="") as f:
                header = next(csv.reader(f, delimiter=self.separator), None)
            self.keys = header[1:] if header else None
        self._open()
        self._writer = csv.writer(self._file, delimiter=self.separator, lineterminator="\n")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        if self.keys is None:
            self.keys = [k for k, v in logs.items() if _scalar(v)]
            self._writer.writerow(["epoch", *self.keys])
        self._writer.writerow([epoch, *(_cell(logs.get(k)) for k in self.keys)])
        self._file.flush()


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        return repr(float(v))  # shortest text that reads back to the same float
    return v


class JSONLinesLogger(_FileLogger):
    """One JSON object per epoch and line: ``{"epoch": 3, "loss": ..., ...}`` (every value,
    arrays such as a confusion matrix as nested lists; NaN and infinities as null)."""

    def _epoch_of(self, line: str) -> int | None:
        return int(json.loads(line)["epoch"])

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._open()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        record = {"epoch": epoch, **{k: _finite(plain(v)) for k, v in (logs or {}).items()}}
        self._file.write(json.dumps(record, allow_nan=False) + "\n")
        self._file.flush()


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, list):
        return [_finite(x) for x in v]
    return v


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks: Callable[..., Any]) -> None:
        for name, fn in hooks.items():
            if name not in _HOOKS:
                raise TypeError(f"LambdaCallback: unknown hook {name!r}; hooks: "
                                f"{', '.join(_HOOKS)}")
            setattr(self, name, fn)
        self._hooks = dict(hooks)

    def __deepcopy__(self, memo: dict) -> LambdaCallback:
        return LambdaCallback(**copy.copy(self._hooks))
