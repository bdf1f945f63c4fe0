"""Progress output for ``fit``: a tqdm bar per epoch in a terminal, one plain line per epoch
elsewhere (files, pipes, CI logs: no carriage returns, nothing redrawn).

``progress=`` in ``fit`` takes ``True``/``"auto"`` (bar when the stream is a terminal, lines
otherwise), ``"bar"``, ``"lines"``, or ``False`` (silent). A line reads::

    epoch 3/10  loss 0.2345  accuracy 0.9123  val_loss 0.3012  val_accuracy 0.8950  lr 0.001  2.1s
"""

from __future__ import annotations

import io
import math
import os
import sys
from typing import Any, TextIO

from chainrule.train.callbacks import Callback

__all__ = ["ProgressBar", "format_logs", "make_progress"]


def _fmt(key: str, v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if key == "lr" or key.endswith("_lr"):
        return f"{v:.3g}"
    if key == "time":
        return f"{v:.1f}s" if v >= 1 else f"{v:.2f}s"
    return f"{v:.4f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"


def format_logs(logs: dict[str, Any], skip: tuple[str, ...] = (), short: bool = False) -> str:
    """``key value`` pairs of the scalar entries of ``logs``, two spaces apart (time unlabeled);
    ``short``: one space apart, "acc" for "accuracy" (to fit a progress bar)."""
    parts = []
    for k, v in logs.items():
        if k in skip or isinstance(v, (list, tuple, dict)) or getattr(v, "ndim", 0) > 0:
            continue
        name = k
        if short:
            for long, abbrev in SHORT:
                name = name.replace(long, abbrev)
        parts.append(_fmt(k, v) if k == "time" else f"{name} {_fmt(k, v)}")
    return (" " if short else "  ").join(parts)


BAR_FORMAT = ("{desc} {percentage:3.0f}%|{bar:16}| {n_fmt}/{total_fmt} "
              "[{elapsed}<{remaining}{postfix}]")
SHORT = (("accuracy", "acc"),)


def _is_tty(stream: TextIO) -> bool:
    """A terminal with a width (a pseudo-terminal of 0 columns gets plain lines)."""
    try:
        if not stream.isatty():
            return False
    except (AttributeError, ValueError):
        return False
    try:
        return os.get_terminal_size(stream.fileno()).columns > 0
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        return True  # a terminal-like stream without a file descriptor


class ProgressBar(Callback):
    """Shows training progress on ``file`` (default: ``sys.stdout`` at the time of use).

    ``mode="bar"``: a tqdm bar per epoch over its batches, the running loss and metrics as its
    postfix, the epoch's full logs (validation included) on the bar once it ends.
    ``mode="lines"``: one line per epoch when it ends, nothing while it runs.
    """

    main_process_only = True  # in an MPI job only rank 0 runs it (train/distributed.py)

    order = 90  # after the callbacks that add to the logs (the learning rate, ...)

    def __init__(self, mode: str = "lines", file: TextIO | None = None,
                 update_every: int = 10) -> None:
        if mode not in ("bar", "lines"):
            raise ValueError(f"progress: mode must be 'bar' or 'lines', got {mode!r}")
        self.mode = mode
        self.file = file
        self.update_every = max(1, int(update_every))
        self._bar: Any = None
        self.epochs = 0

    @property
    def stream(self) -> TextIO:
        return self.file if self.file is not None else sys.stdout

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.epochs = int(self.trainer.epochs) if self.trainer is not None else 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.mode != "bar":
            return
        from tqdm.auto import tqdm

        steps = getattr(self.trainer, "steps_per_epoch", None)
        self._bar = tqdm(total=steps, desc=f"epoch {epoch}/{self.epochs}", file=self.stream,
                         leave=True, dynamic_ncols=True, unit="batch", mininterval=0.2,
                         bar_format=BAR_FORMAT)

    def on_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._bar is None:
            return
        self._bar.update(1)
        if logs and (batch + 1) % self.update_every == 0:
            self._bar.set_postfix_str(format_logs(logs, skip=("batch", "size", "batch_loss"),
                                                  short=True), refresh=False)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(format_logs(logs or {}, skip=("lr", "time"), short=True),
                                      refresh=False)
            self._bar.close()
            self._bar = None
        else:
            print(f"epoch {epoch}/{self.epochs}  {format_logs(logs or {})}", file=self.stream,
                  flush=True)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def make_progress(progress: Any, file: TextIO | None = None) -> ProgressBar | None:
    """The progress callback for ``fit(progress=...)``: True/"auto", "bar", "lines" or False."""
    if progress is None or progress is False:
        return None
    if isinstance(progress, ProgressBar):
        return progress
    if progress is True or progress == "auto":
        stream = file if file is not None else sys.stdout
        return ProgressBar("bar" if _is_tty(stream) else "lines", file)
    if progress in ("bar", "lines"):
        return ProgressBar(progress, file)
    raise ValueError(f"progress: expected True, False, 'auto', 'bar' or 'lines', got {progress!r}")
