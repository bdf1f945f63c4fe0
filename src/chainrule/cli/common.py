"""What the subcommands share: the one error type, messages on one line, checkpoint reading."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


class CLIError(Exception):
    """A problem with the user's arguments or files: printed as ``chainrule: error: ...``."""


def one_line(text: Any) -> str:
    """``text`` with its lines joined by "; " (errors are printed on exactly one line)."""
    lines = [s.strip() for s in str(text).splitlines() if s.strip()]
    return "; ".join(lines) if lines else str(text).strip()


def say(*parts: Any, file: Any = None) -> None:
    """Print to stdout (or ``file``), flushed; in an MPI job on rank 0 alone."""
    from chainrule.distributed import is_main_process

    if not is_main_process():
        return
    print(*parts, file=file or sys.stdout, flush=True)


def existing_file(path: str | os.PathLike[str], what: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise CLIError(f"{what} {str(path)!r} does not exist")
    if p.is_dir():
        raise CLIError(f"{what} {str(path)!r} is a folder; expected a file")
    return p


def load_toml(path: str, what: str, flag: str) -> dict[str, Any]:
    """The table in the TOML file ``path`` (``what``: "config file", for the messages; ``flag``:
    the option that named it), with tomllib (Python 3.11+) or tomli."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise CLIError(f"{what} {path!r} does not exist")
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise CLIError(f"{flag} needs Python 3.11+ (tomllib) or `pip install tomli`") \
                from None
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise CLIError(f"{what} {path!r} is not valid TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CLIError(f"cannot read {what} {path!r}: {e}") from None


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint at ``path`` as a dict with ``model`` (a state dict), ``epoch`` and
    ``meta`` (the architecture and data description the train command stored)."""
    from chainrule.io import CheckpointError, load_checkpoint

    p = existing_file(path, "checkpoint")
    try:
        info = load_checkpoint(p, restore_rng=False)
    except CheckpointError as e:
        state = _plain_state_dict(p)
        arch = (getattr(state, "_metadata", None) or {}).get("architecture") \
            if state is not None else None
        if arch is not None:  # ModelCheckpoint(save_weights_only=True): weights + structure
            return {"model": state, "epoch": None, "meta": {"arch": module_arch(arch)},
                    "extra": {}, "path": str(p)}
        if state is not None:  # cr.save(model.state_dict(), path): weights alone
            raise CLIError(f"{str(path)!r} is not a checkpoint: it holds weights alone (cr.save "
                           f"of a state dict), no architecture, so the command cannot rebuild "
                           f"the model. "
                           f"{python_recipe(str(path), state, 'cr.load')}") from None
        raise CLIError(one_line(e)) from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CLIError(f"cannot read checkpoint {str(path)!r}: {one_line(e)}") from None
    extra = info.get("extra") or {}
    meta = extra.get("meta") if isinstance(extra, dict) else None
    if (not isinstance(meta, dict) or "arch" not in meta) and info.get("architecture"):
        # written by fit()/save_checkpoint: the model's structure, no training description
        meta = {**(meta if isinstance(meta, dict) else {}),
                "arch": module_arch(info["architecture"])}
    if not isinstance(meta, dict) or "arch" not in meta:
        raise CLIError(f"checkpoint {str(path)!r} holds no model architecture (it was written "
                       "by fit()/save_checkpoint, which store weights, not code), so the "
                       "command cannot rebuild the model. "
                       f"{python_recipe(str(path), info.get('model'), 'load_checkpoint')}")
    if info.get("model") is None:
        raise CLIError(f"checkpoint {str(path)!r} holds no model weights")
    _check_meta(meta, str(path))
    return {"model": info["model"], "epoch": info.get("epoch"), "meta": meta,
            "extra": extra, "path": str(p)}


def module_arch(desc: Any) -> dict[str, Any]:
    """The CLI's architecture record for a ``chainrule.nn.architecture.describe`` record:
    ``sizes`` is [inputs, outputs] when the first and last layers with weights say them
    (Linear: in_features / out_features), else None."""
    if not isinstance(desc, dict):
        raise CLIError(f"the checkpoint's architecture record is a {type(desc).__name__}, not a "
                       "dict; the file is damaged or was not written by chainrule")
    layers: list[dict[str, Any]] = []

    def walk(node: Any, depth: int) -> None:
        if not isinstance(node, dict) or depth > 64:
            return
        if node.get("class") == "Linear" and isinstance(node.get("args"), dict):
            layers.append(node["args"])
        for item in node.get("children") or []:
            if isinstance(item, (list, tuple)) and len(item) == 2:
                walk(item[1], depth + 1)

    walk(desc.get("module"), 0)
    sizes = None
    if layers:
        n_in, n_out = layers[0].get("in_features"), layers[-1].get("out_features")
        if all(type(n) is int and n > 0 for n in (n_in, n_out)):
            sizes = [n_in, n_out]
    top = desc.get("module") if isinstance(desc.get("module"), dict) else {}
    return {"kind": "module", "module": desc, "sizes": sizes,
            "name": str(top.get("class", "Module"))[:40]}


def _plain_state_dict(path: Path) -> dict[str, Any] | None:
    """The tensors of a plain ``cr.save`` file, or None when it is not one."""
    try:
        from chainrule.io import load

        obj = load(path)
    except Exception:  # not readable as a plain file either: the caller reports the first error
        return None
    return obj if isinstance(obj, dict) and obj else None


def python_recipe(path: str, state: Any, how: str) -> str:
    """How to evaluate the weights at ``path`` from Python, naming the tensors (their names and
    shapes say which layers to build)."""
    load = (f"model.load_state_dict(chainrule.io.load_checkpoint({path!r})['model'])"
            if how == "load_checkpoint" else f"model.load_state_dict(cr.load({path!r}))")
    shapes = ""
    if isinstance(state, dict) and state:
        items = [f"{k} {tuple(getattr(v, 'shape', ()))}" for k, v in list(state.items())[:8]]
        more = f", and {len(state) - 8} more" if len(state) > 8 else ""
        shapes = f" (its tensors: {', '.join(items)}{more})"
    return (f"Evaluate it in Python: build the same model{shapes}, then {load}; "
            "chainrule.train.evaluate(model, test_dataset, loss_fn, ('accuracy',)). "
            "`chainrule train` writes checkpoints this command can read")


def _check_meta(meta: dict[str, Any], path: str) -> None:
    """Refuse metadata that would make evaluate/predict fail deep inside NumPy or print raw
    scores as if they were answers: the data description must be plain and consistent."""
    import math

    def bad(what: str, value: Any, expected: str) -> CLIError:
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return CLIError(f"checkpoint {path!r}: metadata {what} is {shown}; expected {expected} "
                        "(the file was edited or not written by chainrule)")

    arch = meta.get("arch")
    sizes = arch.get("sizes") if isinstance(arch, dict) else None
    unknown = sizes is None and arch.get("kind") == "module"  # no Linear at the ends (an LSTM)
    if not unknown and not (isinstance(sizes, list) and len(sizes) >= 2 and all(
            isinstance(s, int) and not isinstance(s, bool) and 0 < s <= 1 << 24 for s in sizes)):
        raise bad("arch.sizes", sizes, "a list of at least two layer sizes, each 1..16777216")
    data = meta.get("data")
    if data is None:
        return
    if not isinstance(data, dict):
        raise bad("data", data, "a table")
    if data.get("task", "classification") not in ("classification", "regression"):
        raise bad("data.task", data.get("task"), "'classification' or 'regression'")
    classes = data.get("classes")
    if classes is not None and not (isinstance(classes, list) and
                                    all(isinstance(c, str) for c in classes)):
        raise bad("data.classes", classes, "a list of class names (strings) or null")
    if classes is not None and sizes is not None and len(classes) > sizes[-1]:
        raise bad("data.classes", f"{len(classes)} names", f"at most {sizes[-1]} (the model's "
                  "outputs)")
    scale = data.get("pixel_scale")
    if scale is not None and not (isinstance(scale, (int, float)) and not isinstance(scale, bool)
                                  and math.isfinite(scale) and scale > 0):
        raise bad("data.pixel_scale", scale, "a positive number or null")
    for key in ("mean", "scale"):
        v = data.get(key)
        if v is None:
            continue
        ok = isinstance(v, list) and (sizes is None or len(v) == sizes[0]) and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
            for x in v)
        if not ok or (key == "scale" and min(v) <= 0):
            raise bad(f"data.{key}", v, f"{sizes[0]} finite numbers (one per input feature)"
                      + (", all > 0" if key == "scale" else ""))
