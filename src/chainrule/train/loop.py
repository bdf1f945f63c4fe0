"""The training loop: ``fit``, ``evaluate``, ``predict`` and the ``Trainer`` behind them.

::

    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), train_ds,
                  epochs=10, batch_size=64, val_split=0.1, seed=0,
                  callbacks=[EarlyStopping(patience=2, restore_best_weights=True)])
    evaluate(model, test_ds, nn.CrossEntropyLoss())      # {"loss": ..., "accuracy": ...}
    predict(model, test_x)                               # outputs, eval mode, no graph

One epoch: ``model.train()``; for each batch ``zero_grad``, forward, loss, ``backward``,
``optimizer.step()`` (with a closure for LBFGS); then validation in ``model.eval()`` under
``no_grad``; then ``scheduler.step()`` (``step(monitored value)`` for ``ReduceLROnPlateau``);
then the epoch's logs go to the history and the callbacks.

Reproducible and resumable. ``seed=`` calls ``cr.manual_seed(seed)`` before anything random
(the validation split, shuffling, dropout), all of which draw from chainrule's default generator
(a DataLoader of your own with its ``generator=`` is saved too). A checkpoint written at an
epoch's end (``ModelCheckpoint`` or ``Trainer.save_checkpoint``) holds the model, optimizer,
scheduler, epoch, RNG states, history and callback states; ``fit(..., resume=path)`` restores
them and continues with the next epoch, so 2 epochs + resume + 2 epochs gives bit-identical
weights to 4 epochs straight.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from chainrule.autograd.anomaly import is_anomaly_enabled
from chainrule.autograd.factories import from_numpy
from chainrule.autograd.grad_mode import no_grad
from chainrule.autograd.tensor import Tensor
from chainrule.data.dataloader import DataLoader
from chainrule.data.dataset import Dataset, TensorDataset, random_split
from chainrule.random import Generator, default_generator, manual_seed
from chainrule.train import distributed as D
from chainrule.train.aux import AuxLossHook
from chainrule.train.callbacks import Callback, CallbackList
from chainrule.train.history import History
from chainrule.train.metrics import Mean, Metric, get_metric
from chainrule.train.progress import make_progress

__all__ = ["Trainer", "evaluate", "fit", "predict"]

DataLike = Any  # a Dataset, a DataLoader, a tensor/array, or an (inputs, targets) pair


# -- data ---------------------------------------------------------------------------------------

def _is_array(x: Any) -> bool:
    return isinstance(x, (Tensor, np.ndarray))


def as_dataset(data: DataLike, where: str) -> Any:
    """A Dataset from a Dataset, a tensor/array, or an ``(inputs, targets)`` pair."""
    if isinstance(data, Dataset) or (hasattr(data, "__getitem__") and hasattr(data, "__len__")
                                     and not _is_array(data) and not isinstance(data,
                                                                                (tuple, list))):
        return data
    if _is_array(data):
        return TensorDataset(data)
    if isinstance(data, (tuple, list)) and data and all(_is_array(d) for d in data):
        return TensorDataset(*data)
    if isinstance(data, list) and data:  # a list of samples, as DataLoader accepts
        return data
    raise TypeError(f"{where}: expected a Dataset, a DataLoader, a tensor or an (inputs, targets) "
                    f"pair of tensors/arrays, got {type(data).__name__}")


def as_loader(data: DataLike, batch_size: int, shuffle: bool, where: str) -> Any:
    """``data`` as something that yields batches (a DataLoader is used as it is)."""
    if isinstance(data, DataLoader) or (hasattr(data, "__iter__") and hasattr(data, "batch_size")):
        return data
    return DataLoader(as_dataset(data, where), batch_size=batch_size, shuffle=shuffle)


def split_batch(batch: Any) -> tuple[tuple[Any, ...], Any]:
    """``(inputs, target)`` of a batch: ``[x, y]`` -> ``((x,), y)``, ``[x1, x2, y]`` ->
    ``((x1, x2), y)``, ``x`` or ``[x]`` -> ``((x,), None)``."""
    if isinstance(batch, (tuple, list)):
        if len(batch) == 1:
            return (batch[0],), None
        return tuple(batch[:-1]), batch[-1]
    return (batch,), None


def _count(target: Any, inputs: tuple[Any, ...]) -> int:
    ref = target if target is not None else inputs[0]
    shape = getattr(ref, "shape", None)
    return int(shape[0]) if shape else 1


def _set_mode(model: Any, training: bool) -> None:
    fn = getattr(model, "train", None)
    if callable(fn):
        fn(training)


def _metrics(specs: Iterable[Any] | None) -> list[Metric]:
    out = []
    for s in specs or ():
        m = get_metric(s)
        if m.name in ("loss",) or m.name in [o.name for o in out]:
            raise ValueError(f"metrics: the name {m.name!r} is taken; give the metric another "
                             "name")
        out.append(m)
    return out


def _fresh(metrics: list[Metric]) -> list[Metric]:
    for m in metrics:
        m.reset()
    return metrics


class NonFiniteLossError(FloatingPointError):
    """``fit`` stopped because a batch's loss was NaN or infinite (``on_nonfinite="raise"``)."""


def _nonfinite_message(value: float, epoch: int, step: int, steps: int | None,
                       global_step: int) -> str:
    of = f" of {steps}" if steps else ""
    return (f"fit: the loss is {value} at epoch {epoch}, step {step + 1}{of} (global step "
            f"{global_step}): training diverged or the data holds nan/inf; lower the learning "
            "rate, check the inputs, or run under chainrule.autograd.detect_anomaly() to name "
            "the op that made it (on_nonfinite='warn' trains on regardless)")


def _loss_value(loss: Any, where: str) -> float:
    try:
        return float(loss.item() if hasattr(loss, "item") else loss)
    except (TypeError, ValueError) as e:
        shape = getattr(loss, "shape", None)
        raise ValueError(f"{where}: the loss must be one number (reduction='mean' or 'sum'); "
                         f"got {type(loss).__name__} of shape {shape}") from e


def _is_plateau(scheduler: Any) -> bool:
    return any(c.__name__ == "ReduceLROnPlateau" for c in type(scheduler).__mro__)


def _needs_closure(optimizer: Any) -> bool:
    return any(c.__name__ == "LBFGS" for c in type(optimizer).__mro__)


# -- evaluate / predict ----------------------------------------------------------------------------

def _run_eval(model: Any, loader: Any, loss_fn: Any, metrics: list[Metric],
              prefix: str = "") -> dict[str, Any]:
    was_training = getattr(model, "training", False)
    _set_mode(model, False)
    loss_mean = Mean()
    try:
        with no_grad():
            for batch in loader:
                inputs, target = split_batch(batch)
                output = model(*inputs)
                if target is None:
                    raise ValueError("evaluate: the batches carry no targets; give (inputs, "
                                     "targets) data, or use predict() for outputs alone")
                if loss_fn is not None:
                    loss_mean.update(_loss_value(loss_fn(output, target), "evaluate"),
                                     _count(target, inputs))
                for m in metrics:
                    m.update(output, target)
    finally:
        _set_mode(model, was_training)
    out: dict[str, Any] = {}
    if loss_fn is not None:
        out[prefix + "loss"] = loss_mean.compute()
    for m in metrics:
        out[prefix + m.name] = m.compute()
    return out


def evaluate(model: Any, data: DataLike, loss_fn: Any = None,
             metrics: Sequence[Any] = ("accuracy",), batch_size: int = 256) -> dict[str, Any]:
    """The loss (when ``loss_fn`` is given) and ``metrics`` of ``model`` over ``data``, in eval
    mode without recording a graph: ``{"loss": 0.31, "accuracy": 0.91}``."""
    loader = as_loader(data, batch_size, False, "evaluate")
    return _run_eval(model, loader, loss_fn, _metrics(metrics))


def predict(model: Any, data: DataLike, batch_size: int = 256) -> Tensor:
    """The model's outputs for every sample of ``data`` (inputs alone, or (inputs, targets)
    whose targets are ignored), concatenated along dim 0; eval mode, no graph."""
    if _is_array(data):
        data = (data,)
    loader = as_loader(data, batch_size, False, "predict")
    was_training = getattr(model, "training", False)
    _set_mode(model, False)
    outs = []
    try:
        with no_grad():
            for batch in loader:
                inputs, _ = split_batch(batch)
                out = model(*inputs)
                outs.append(out.detach().numpy() if isinstance(out, Tensor) else np.asarray(out))
    finally:
        _set_mode(model, was_training)
    if not outs:
        raise ValueError("predict: the data is empty")
    return from_numpy(np.concatenate(outs, axis=0))


# -- the trainer ---------------------------------------------------------------------------------

class Trainer:
    """Trains ``model`` with ``loss_fn`` and ``optimizer``; ``fit`` is a thin wrapper.

    Args:
        model: a ``Module`` (anything callable with ``parameters()``, ``train()``, ``eval()``,
            ``state_dict()`` / ``load_state_dict()``).
        loss_fn: ``loss_fn(output, target)`` -> a one-element tensor (a loss module or function).
        optimizer: a ``chainrule.optim`` optimiser over the model's parameters.
        metrics: names (``"accuracy"``, ``"top5_accuracy"``, ``"mae"``, ``"r2"``, ...), ``Metric``
            objects or functions ``fn(output, target)``; logged for training and validation.
        callbacks: ``Callback`` objects (``chainrule.train.callbacks``).
        scheduler: a learning-rate scheduler, stepped after every epoch (``scheduler_interval=
            "batch"``: after every batch); ``ReduceLROnPlateau`` is given ``val_loss`` (or
            ``loss`` without validation).
        device: accepted for PyTorch-style code and ignored (chainrule runs on the CPU).
        aux_loss_weight: the auxiliary-loss hook: after each training forward, every submodule
            with a tensor ``aux_loss`` (``nn.MixtureOfExperts``'s balance loss, ...) adds
            ``aux_loss_weight * aux_loss`` to the loss that is differentiated; ``loss`` logs the
            task loss alone, ``aux_loss`` the mean auxiliary loss (and ``aux_loss/<module>`` per
            module when there are several). 0 turns the hook off.
        compile: run each training step through ``cr.compile`` (recorded once per batch shape,
            then replayed; bit for bit the eager step; see docs/compile.md).
        on_nonfinite: "raise" (default): a NaN or infinite batch loss stops training with
            ``NonFiniteLossError`` naming the epoch and step, before the optimiser step (inside
            ``detect_anomaly()`` the error names the op); "warn": one ``RuntimeWarning`` per
            run, and training goes on.
    """

    def __init__(self, model: Any, loss_fn: Any, optimizer: Any,
                 metrics: Sequence[Any] = ("accuracy",), callbacks: Iterable[Callback] = (),
                 scheduler: Any = None, scheduler_interval: str = "epoch",
                 device: Any = None, aux_loss_weight: float = 1.0,
                 compile: bool = False, on_nonfinite: str = "raise") -> None:
        if on_nonfinite not in ("raise", "warn"):
            raise ValueError(f"Trainer: on_nonfinite must be 'raise' or 'warn', got "
                             f"{on_nonfinite!r}")
        if scheduler_interval not in ("epoch", "batch"):
            raise ValueError(f"Trainer: scheduler_interval must be 'epoch' or 'batch', got "
                             f"{scheduler_interval!r}")
        if loss_fn is None or not callable(loss_fn):
            raise TypeError(f"Trainer: loss_fn must be callable (a loss module or function), "
                            f"got {loss_fn!r}")
        self.model = model
        self.loss_fn = loss_fn
        self._compiled = _compiled_step(self) if compile else None
        self.optimizer = optimizer
        self.metric_specs = tuple(metrics or ())
        self.callbacks = list(callbacks)
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval
        self.device = device
        self.aux_loss_weight = float(aux_loss_weight)
        self.on_nonfinite = on_nonfinite
        self.history = History()
        self.extra: dict[str, Any] = {}  # saved in every checkpoint (e.g. the architecture)
        self.epoch = 0
        self.epochs = 0
        self.initial_epoch = 0
        self.global_step = 0
        self.steps_per_epoch: int | None = None
        self.stop_training = False
        self._warned_nonfinite = False
        self.logs: dict[str, Any] = {}
        self._loader: Any = None
        self._split_seed: int | None = None
        self._cbs = CallbackList()

    # -- checkpoints -------------------------------------------------------------------------
    def _trainer_state(self) -> dict[str, Any]:
        gen = getattr(self._loader, "generator", None)
        return {
            "history": self.history.to_dict(),
            "global_step": self.global_step,
            "split_seed": self._split_seed,
            "loader_generator": gen.get_state() if isinstance(gen, Generator) and
            gen is not default_generator else None,
            "callbacks": {key: cb.state_dict() for key, cb in self._keyed_callbacks()
                          if hasattr(cb, "state_dict")},
        }

    def _keyed_callbacks(self) -> list[tuple[str, Any]]:
        """Callbacks named ``Class`` (``Class:2`` for the second of a class), stable across
        runs that add or drop callbacks of other classes."""
        seen: dict[str, int] = {}
        out = []
        for cb in self._cbs:
            name = type(cb).__name__
            seen[name] = seen.get(name, 0) + 1
            out.append((name if seen[name] == 1 else f"{name}:{seen[name]}", cb))
        return out

    def save_checkpoint(self, path: str | os.PathLike[str], extra: dict[str, Any] | None = None
                        ) -> None:
        """Write a resumable checkpoint of the run as it stands (at an epoch's end) to ``path``,
        atomically, through ``chainrule.io.save_checkpoint``."""
        from chainrule.io import save_checkpoint

        if not D.is_main():  # in an MPI job rank 0 writes; the others hold the same state
            return
        payload = {"trainer": self._trainer_state(), "meta": {**self.extra, **(extra or {})}}
        save_checkpoint(path, D.unwrap(self.model), self.optimizer, self.scheduler,
                        epoch=self.epoch, step=self.global_step, extra=payload)

    def _resume(self, path: Any) -> None:
        from chainrule.io import load_checkpoint

        info = load_checkpoint(path, D.unwrap(self.model), self.optimizer, self.scheduler)
        state = (info.get("extra") or {}).get("trainer") or {}
        self.epoch = self.initial_epoch = int(info.get("epoch") or 0)
        self.global_step = int(state.get("global_step") or 0)
        self.history = History.from_dict(state.get("history") or {})
        self._split_seed = state.get("split_seed")
        self._resume_state = state

    def _restore_after_setup(self) -> None:
        state = getattr(self, "_resume_state", None)
        if not state:
            return
        gen = getattr(self._loader, "generator", None)
        if state.get("loader_generator") is not None and isinstance(gen, Generator):
            gen.set_state(state["loader_generator"])
        saved = state.get("callbacks") or {}
        for key, cb in self._keyed_callbacks():
            if key in saved and hasattr(cb, "load_state_dict"):
                cb.load_state_dict(saved[key])
        self._resume_state = None

    # -- fit --------------------------------------------------------------------------------
    def fit(self, train_data: DataLike, epochs: int = 1, batch_size: int = 32,
            val_data: DataLike = None, val_split: float | None = None, shuffle: bool = True,
            seed: int | None = None, progress: Any = True, resume: Any = None,
            val_every: int = 1) -> History:
        """Train for ``epochs`` epochs (counting those of a resumed checkpoint) and return the
        ``History``. See ``fit`` for the arguments."""
        if not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
        extra_sets: dict[str, Any] = {}
        if isinstance(val_data, dict):
            extra_sets, val_data = dict(val_data), None
            if "val" in extra_sets and val_split:
                raise ValueError("fit: val_split makes the 'val' set; val_data has one too")
        if val_data is not None and val_split:
            raise ValueError("fit: give val_data or val_split, not both")
        if seed is not None:
            manual_seed(seed)
        self._sampler_seed = 0 if seed is None else int(seed)
        self.history = History()
        self.epoch = self.initial_epoch = self.global_step = 0
        self._split_seed = None
        self._resume_state = None
        if resume is not None:
            self._resume(resume)
        train_loader, val_loaders = self._setup_data(train_data, batch_size, val_data,
                                                     val_split, shuffle, extra_sets)
        self._loader = train_loader
        self.epochs = int(epochs)
        try:
            self.steps_per_epoch = len(train_loader)
        except TypeError:
            self.steps_per_epoch = None
        cbs = list(self.callbacks)
        bar = make_progress(progress)
        if bar is not None:
            cbs.append(bar)
        self._net = self.model
        if D.active():  # an MPI job: DDP, rank-0-only callbacks (train/distributed.py)
            self._net = D.wrap(self.model)
            cbs = D.main_only(cbs)
        self._cbs = CallbackList(cbs)
        self._cbs.set_trainer(self)
        self._restore_after_setup()
        metrics = _metrics(self.metric_specs)
        val_metrics = {name: _metrics(self.metric_specs) for name in val_loaders}
        self.stop_training = False
        self._warned_nonfinite = False
        self._cbs.call("on_train_begin", {})
        try:
            for epoch in range(self.initial_epoch + 1, self.epochs + 1):
                self.epoch = epoch
                self._cbs.call("on_epoch_begin", epoch, {})
                t0 = time.perf_counter()
                lr = self._lr()
                sampler = getattr(train_loader, "sampler", None)
                if hasattr(sampler, "set_epoch"):
                    sampler.set_epoch(epoch)
                logs = self._train_epoch(train_loader, _fresh(metrics))
                if hasattr(self._net, "sync_buffers"):
                    self._net.sync_buffers()  # every rank evaluates with rank 0's buffers
                if epoch % val_every == 0 or epoch == self.epochs:
                    for name, loader in val_loaders.items():
                        logs.update(_run_eval(self.model, loader, self.loss_fn,
                                              _fresh(val_metrics[name]), prefix=f"{name}_"))
                if self.scheduler is not None and self.scheduler_interval == "epoch":
                    if _is_plateau(self.scheduler):
                        key = "val_loss" if "val_loss" in logs else "loss"
                        self.scheduler.step(logs[key])
                    else:
                        self.scheduler.step()
                if lr is not None:
                    logs["lr"] = lr
                logs["time"] = time.perf_counter() - t0
                self.logs = logs
                self.history.append(epoch, logs)
                self._cbs.call("on_epoch_end", epoch, logs)
                if self.stop_training:
                    break
        finally:
            self._cbs.call("on_train_end", dict(self.logs))
        return self.history

    def _setup_data(self, train_data: DataLike, batch_size: int, val_data: DataLike,
                    val_split: float | None, shuffle: bool,
                    extra_sets: dict[str, Any] | None) -> tuple[Any, dict[str, Any]]:
        if val_split:
            if not 0 < val_split < 1:
                raise ValueError(f"fit: val_split must be a fraction in (0, 1), got {val_split}")
            if isinstance(train_data, DataLoader):
                raise ValueError("fit: val_split needs a Dataset (or tensors), not a DataLoader; "
                                 "split it yourself with random_split, or pass val_data=")
            ds = as_dataset(train_data, "fit")
            if self._split_seed is None:  # drawn once; a resumed run reads it from the checkpoint
                self._split_seed = int(default_generator.numpy.integers(2**62))
                if D.active():
                    self._split_seed = D.broadcast_value(self._split_seed)
            n_val = max(1, round(len(ds) * val_split))
            train_data, val_data = random_split(
                ds, [len(ds) - n_val, n_val], generator=Generator().manual_seed(self._split_seed))
        if D.active() and not isinstance(train_data, DataLoader):
            from chainrule.data.distributed import DistributedSampler

            ds = as_dataset(train_data, "fit")
            train_loader = DataLoader(ds, batch_size=batch_size, sampler=DistributedSampler(
                ds, shuffle=shuffle, seed=self._sampler_seed))
        else:
            train_loader = as_loader(train_data, batch_size, shuffle, "fit")
        sets = dict(extra_sets or {})
        if val_data is not None:
            sets = {"val": val_data, **sets}
        val_loaders = {name: as_loader(d, max(batch_size, 256), False, f"fit ({name} data)")
                       for name, d in sets.items()}
        return train_loader, val_loaders

    def _lr(self) -> float | None:
        groups = getattr(self.optimizer, "param_groups", None)
        if not groups or "lr" not in groups[0]:
            return None
        return float(groups[0]["lr"])

    def _train_epoch(self, loader: Any, metrics: list[Metric]) -> dict[str, Any]:
        model, opt = getattr(self, "_net", self.model), self.optimizer
        cbs = self._cbs
        batch_begin, batch_end = cbs.has("on_batch_begin"), cbs.has("on_batch_end")
        step_sched = self.scheduler is not None and self.scheduler_interval == "batch"
        closure_opt = _needs_closure(opt)
        scalar_metrics = [m for m in metrics if m.scalar]
        aux_hook = AuxLossHook(model, self.aux_loss_weight)
        step = self._compiled
        if step is not None and (aux_hook.modules or model is not self.model):
            step = None  # the aux-loss logs read values and DDP syncs per step: eager is exact
            if not getattr(self, "_compile_warned", False):
                self._compile_warned = True
                from chainrule.compile import CompileWarning
                warnings.warn(CompileWarning(
                    "fit(compile=True): this model has auxiliary losses or runs data-parallel; "
                    "its steps run eagerly (same results, no replay speed-up)"), stacklevel=3)
        total = 0.0
        count = 0
        _set_mode(model, True)
        for i, batch in enumerate(loader):
            if batch_begin:
                cbs.call("on_batch_begin", i, {})
            inputs, target = split_batch(batch)
            if target is None:
                raise ValueError("fit: the training batches carry no targets; give (inputs, "
                                 "targets) data, e.g. TensorDataset(x, y)")
            n = _count(target, inputs)
            try:
                loss, output = self._one_step(model, inputs, target, closure_opt, i, aux_hook, n,
                                              step)
            except RuntimeError as e:
                if not is_anomaly_enabled():
                    raise
                raise NonFiniteLossError(f"fit: epoch {self.epoch}, step {i + 1}: {e}") from e
            if step_sched:
                self.scheduler.step()
            self.global_step += 1
            value = _loss_value(loss, "fit")
            if not math.isfinite(value):
                self._nonfinite(value, i)
            total += value * n
            count += n
            for m in metrics:
                m.update(output, target)
            if batch_end:
                logs = {"batch_loss": value, "loss": total / count, "size": n}
                for m in scalar_metrics:
                    logs[m.name] = m.compute()
                cbs.call("on_batch_end", i, logs)
            if self.stop_training:
                break
        if D.active():  # the loss over every rank's samples (metrics are this rank's)
            total, count = D.global_mean(total, count)
        out: dict[str, Any] = {"loss": total / count if count else math.nan}
        out.update(aux_hook.logs())
        for m in metrics:
            out[m.name] = m.compute()
        return out

    def _nonfinite(self, value: float, i: int, before_step: bool = False) -> None:
        """A NaN/inf batch loss: raise, or warn once per run (``on_nonfinite``)."""
        msg = _nonfinite_message(value, self.epoch, i, self.steps_per_epoch,
                                 self.global_step + (1 if before_step else 0))
        if self.on_nonfinite == "raise":
            raise NonFiniteLossError(msg)
        if not self._warned_nonfinite:
            self._warned_nonfinite = True
            warnings.warn(msg.replace("fit: ", "fit (on_nonfinite='warn'): ", 1),
                          RuntimeWarning, stacklevel=4)

    def _one_step(self, model: Any, inputs: Any, target: Any, closure_opt: bool, i: int,
                  aux_hook: AuxLossHook, n: int, compiled: Any) -> tuple[Any, Any]:
        """One optimisation step; returns (loss, output). A non-finite loss is caught before
        ``backward`` and the optimiser step (so the weights stay as they were) when raising;
        a compiled step checks after its replay."""
        loss_fn, opt = self.loss_fn, self.optimizer
        if closure_opt:
            output_box: list[Any] = []

            def closure(inputs: Any = inputs, target: Any = target,
                        box: list[Any] = output_box) -> Any:
                opt.zero_grad()
                aux_hook.clear()
                out = model(*inputs)
                box[:] = [out]
                loss = loss_fn(out, target)
                aux_hook.add(loss, n).backward()
                return loss

            loss = opt.step(closure)
            return loss, output_box[0]
        if compiled is not None:
            return compiled(*inputs, target)
        opt.zero_grad()
        aux_hook.clear()
        output = model(*inputs)
        loss = loss_fn(output, target)
        if self.on_nonfinite == "raise":
            value = _loss_value(loss, "fit")
            if not math.isfinite(value):
                self._nonfinite(value, i, before_step=True)
        aux_hook.add(loss, n).backward()
        opt.step()
        return loss, output

    # -- evaluation with the trainer's loss and metrics -----------------------------------------
    def evaluate(self, data: DataLike, batch_size: int = 256,
                 metrics: Sequence[Any] | None = None) -> dict[str, Any]:
        return evaluate(self.model, data, self.loss_fn,
                        self.metric_specs if metrics is None else metrics, batch_size)

    def predict(self, data: DataLike, batch_size: int = 256) -> Tensor:
        return predict(self.model, data, batch_size)


def _compiled_step(trainer: Trainer) -> Any:
    """The eager step of ``_train_epoch``, compiled (``cr.compile``)."""
    from chainrule.compile import compile as _compile

    def step(*batch: Any) -> Any:
        inputs, target = batch[:-1], batch[-1]
        trainer.optimizer.zero_grad()
        output = trainer.model(*inputs)
        loss = trainer.loss_fn(output, target)
        loss.backward()
        trainer.optimizer.step()
        return loss, output
    return _compile(step)


def fit(model: Any, loss_fn: Any, optimizer: Any, train_data: DataLike, epochs: int = 1,
        batch_size: int = 32, val_data: DataLike = None, val_split: float | None = None,
        metrics: Sequence[Any] = ("accuracy",), callbacks: Iterable[Callback] = (),
        scheduler: Any = None, seed: int | None = None, progress: Any = True,
        resume: Any = None, shuffle: bool = True, scheduler_interval: str = "epoch",
        val_every: int = 1, device: Any = None, aux_loss_weight: float = 1.0,
        compile: bool = False, on_nonfinite: str = "raise") -> History:
    """Train ``model`` and return its ``History`` (``history.history["val_accuracy"]``, ...).

    Args:
        model, loss_fn, optimizer: as in a hand-written loop (``loss_fn(output, target)``).
        train_data: a ``Dataset``, a ``DataLoader`` (used as it is: its own batch size and
            shuffling), or an ``(inputs, targets)`` pair of tensors/arrays.
        epochs: the epoch to stop after (a resumed run continues up to it).
        batch_size, shuffle: for the loader made from a dataset.
        val_data: data to evaluate after each epoch (``val_every``), logged as ``val_*``;
            or ``val_split``: the fraction of ``train_data`` held out for it (a seeded split).
            A dict ``{"val": d1, "test": d2}`` evaluates each set, logged as ``val_*`` and
            ``test_*`` (a test set watched per epoch, as in Nielsen's book).
        metrics: names, ``Metric`` objects or functions (see ``chainrule.train.metrics``).
        callbacks: ``Callback`` objects (early stopping, checkpoints, loggers, ...).
        scheduler: a learning-rate scheduler stepped each epoch (or batch:
            ``scheduler_interval="batch"``).
        seed: ``cr.manual_seed(seed)`` first: the split, shuffling and dropout repeat exactly.
        progress: True/"auto" (a bar in a terminal, a line per epoch elsewhere), "bar",
            "lines" or False.
        resume: a checkpoint path (from ``ModelCheckpoint`` / ``Trainer.save_checkpoint``):
            restore everything and continue after its epoch.
        device: ignored (accepted for PyTorch-style code).
        aux_loss_weight: weight of the modules' ``aux_loss`` added to the loss (see ``Trainer``).
        compile: run each training step through ``cr.compile`` (docs/compile.md).
        on_nonfinite: "raise" (default): a NaN/inf batch loss stops training with
            ``NonFiniteLossError`` naming the epoch and step; "warn": warn once and go on.
    """
    trainer = Trainer(model, loss_fn, optimizer, metrics=metrics, callbacks=callbacks,
                      scheduler=scheduler, scheduler_interval=scheduler_interval, device=device,
                      aux_loss_weight=aux_loss_weight, compile=compile,
                      on_nonfinite=on_nonfinite)
    return trainer.fit(train_data, epochs=epochs, batch_size=batch_size, val_data=val_data,
                       val_split=val_split, shuffle=shuffle, seed=seed, progress=progress,
                       resume=resume, val_every=val_every)
