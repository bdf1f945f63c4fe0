"""Training checkpoints that resume bit-exactly: model, optimizer, scheduler, counters, RNG state.

::

    save_checkpoint("run.ckpt", model, optimizer, scheduler, epoch=epoch)
    ...
    info = load_checkpoint("run.ckpt", model, optimizer, scheduler)   # restores all of them
    start_epoch = info["epoch"] + 1

A checkpoint is a ``cr.save`` file (safetensors, SHA-256 checked, written atomically) holding
``{"manifest", "model", "optimizer", "scheduler", "epoch", "step", "extra", "rng",
"architecture"}``. ``architecture`` is the model's structure as plain data
(``chainrule.nn.architecture.describe``: class names from ``chainrule.nn`` and their constructor
arguments, never code), or None for a model it cannot describe (your own ``Module`` subclass);
``chainrule evaluate`` rebuilds the model from it. ``rng``
snapshots chainrule's default generator (``cr.get_rng_state()``), NumPy's legacy global state and
Python's ``random``, so shuffles and dropout masks after resuming are the ones a run that never
stopped would have drawn. A ``DataLoader`` with its own ``cr.Generator`` can keep it in ``extra``
(``{"gen": g.get_state()}``) and restore it with ``g.set_state(...)``.
"""

from __future__ import annotations

import datetime
import platform
import random
from typing import Any

import numpy as np

from chainrule.io.serialization import CheckpointError, PathLike, load, save
from chainrule.random import get_rng_state, set_rng_state

KIND = "chainrule.checkpoint"
VERSION = 1
_PARTS = ("model", "optimizer", "scheduler")


def _version() -> str:
    import chainrule
    return str(getattr(chainrule, "__version__", "unknown"))


def _describe(model: Any) -> dict[str, Any] | None:
    from chainrule.nn.architecture import describe

    return None if model is None else describe(model)


def save_checkpoint(path: PathLike, model: Any = None, optimizer: Any = None,
                    scheduler: Any = None, epoch: int | None = None, step: int | None = None,
                    extra: Any = None) -> None:
    """Save the state of a training run to ``path`` (atomically).

    Each of ``model``, ``optimizer`` and ``scheduler`` contributes its ``state_dict()``; ``epoch``,
    ``step`` and ``extra`` (anything ``cr.save`` stores) are kept as given.
    """
    objects = {"model": model, "optimizer": optimizer, "scheduler": scheduler}
    ckpt: dict[str, Any] = {
        "manifest": {
            "kind": KIND, "version": VERSION, "chainrule_version": _version(),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "numpy_version": np.__version__, "python_version": platform.python_version(),
            "contents": [k for k, v in objects.items() if v is not None],
        },
    }
    for name, obj in objects.items():
        ckpt[name] = None if obj is None else obj.state_dict()
    ckpt["architecture"] = _describe(model)
    ckpt.update(epoch=epoch, step=step, extra=extra, rng={
        "chainrule": get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    })
    save(ckpt, path)


def load_checkpoint(path: PathLike, model: Any = None, optimizer: Any = None,
                    scheduler: Any = None, restore_rng: bool = True,
                    strict: bool = True) -> dict[str, Any]:
    """Restore what ``save_checkpoint`` wrote into the given objects; return the rest.

    Each given object gets ``load_state_dict`` (the model with ``strict``); with ``restore_rng``
    the random states are restored too. Returns ``{"epoch", "step", "extra", "manifest"}`` plus
    the state dicts of parts that were saved but not given here (e.g. ``"model"``), and
    ``"architecture"`` (None when the model could not be described, or an older file).
    """
    ckpt = load(path)
    manifest = ckpt.get("manifest") if isinstance(ckpt, dict) else None
    if not isinstance(manifest, dict) or manifest.get("kind") != KIND:
        raise CheckpointError(f"load_checkpoint: {str(path)!r} is a chainrule file but not a "
                              "checkpoint written by save_checkpoint; read it with cr.load")
    objects = {"model": model, "optimizer": optimizer, "scheduler": scheduler}
    missing = [n for n, obj in objects.items() if obj is not None and ckpt.get(n) is None]
    if missing:
        raise CheckpointError(
            f"load_checkpoint: {str(path)!r} holds no {' or '.join(missing)} state (it was saved "
            f"with {', '.join(manifest.get('contents', [])) or 'none of them'}); cannot restore "
            f"the given {' and '.join(missing)}")
    if model is not None:
        model.load_state_dict(ckpt["model"], strict=strict)
    if optimizer is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    rng = ckpt.get("rng")
    if restore_rng and rng is not None:
        set_rng_state(rng["chainrule"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
    out = {k: ckpt.get(k) for k in ("epoch", "step", "extra", "manifest", "architecture")}
    out.update({n: ckpt[n] for n, obj in objects.items()
                if obj is None and ckpt.get(n) is not None})
    if not restore_rng:
        out["rng"] = rng
    return out
