"""``chainrule predict CKPT INPUT``: run a checkpoint's model on inputs and print predictions.

INPUT: an ``.npz`` (array ``x``, ``X`` or ``x_test``, or its only array), an ``.npy``, a
``.csv`` of numbers (a header row is skipped; one column more than the model's inputs is
taken as a label and ignored), an IDX file (``t10k-images-idx3-ubyte.gz``), or one image:
``.pgm``/``.pnm`` natively, ``.png``/``.jpg`` with Pillow installed. Integer pixels are scaled as
the training data was (digits: /16, MNIST-style: /255).

    chainrule predict runs/digits/model.ckpt samples.npz --top 3
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.cli.common import CLIError, existing_file, one_line, say
from chainrule.cli.evaluate import load_model

HELP = "print a checkpoint's predictions for the samples in a file"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("predict", help=HELP, description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", metavar="CKPT", help="a model.ckpt written by chainrule train")
    p.add_argument("input", metavar="INPUT", help=".npz, .npy, .csv, IDX, .pgm (or .png with "
                   "Pillow)")
    p.add_argument("--top", type=int, default=1, metavar="K", help="show the K likeliest classes")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="at most N samples")
    p.set_defaults(run=run)
    return p


def _read_pnm(path: Path) -> np.ndarray:
    """A binary (P5) or text (P2) greyscale PGM as a (rows, cols) array."""
    raw = path.read_bytes()
    tokens: list[bytes] = []
    pos = 0
    while len(tokens) < 4:
        while pos < len(raw) and raw[pos:pos + 1].isspace():
            pos += 1
        if raw[pos:pos + 1] == b"#":
            pos = raw.find(b"\n", pos) + 1 or len(raw)
            continue
        start = pos
        while pos < len(raw) and not raw[pos:pos + 1].isspace():
            pos += 1
        if start == pos:
            raise CLIError(f"{path}: not a PGM image (the header is incomplete)")
        tokens.append(raw[start:pos])
    magic, cols, rows, maxval = tokens[0], *(int(t) for t in tokens[1:4])
    if magic == b"P5":
        dtype = np.uint8 if maxval < 256 else np.dtype(">u2")
        count = rows * cols
        data = np.frombuffer(raw, dtype=dtype, count=count, offset=pos + 1)
    elif magic == b"P2":
        data = np.array(raw[pos:].split()[:rows * cols], dtype=np.int64)
    else:
        raise CLIError(f"{path}: only greyscale PGM (P5/P2) is read without Pillow; got "
                       f"{magic.decode(errors='replace')}")
    if data.size != rows * cols:
        raise CLIError(f"{path}: the PGM image is truncated")
    return data.reshape(rows, cols).astype(np.int64 if maxval > 255 else np.uint8)


def _read_image(path: Path) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        raise CLIError(f"reading {path.suffix} images needs Pillow (pip install pillow); or "
                       "save the image as .pgm, .npy or .npz") from None
    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def read_inputs(path: str, n_features: int) -> np.ndarray:
    """The samples in ``path`` as an array whose first dimension indexes them."""
    p = existing_file(path, "input file")
    suffix = p.suffix.lower()
    name = p.name.lower()
    try:
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                keys = list(z.files)
                key = next((k for k in ("x", "X", "x_test", "images") if k in keys),
                           keys[0] if len(keys) == 1 else None)
                if key is None:
                    raise CLIError(f"{path}: no array named x, X or x_test; the archive has "
                                   f"{keys}")
                return np.asarray(z[key])
        if suffix == ".npy":
            return np.asarray(np.load(p, allow_pickle=False))
        if suffix == ".csv":
            return _read_csv(p, n_features)
        if "idx" in name or suffix == ".ubyte":
            from chainrule.data.datasets import read_idx

            return read_idx(p)
        if suffix in (".pgm", ".pnm"):
            return _read_pnm(p)[None]
        if suffix in IMAGE_SUFFIXES:
            return _read_image(p)[None]
    except CLIError:
        raise
    except (OSError, ValueError, TypeError, EOFError) as e:
        raise CLIError(f"cannot read {path}: {one_line(e)}") from None
    raise CLIError(f"input {path!r}: unknown kind of file; expected .npz, .npy, .csv, an IDX "
                   "file (…-idx3-ubyte[.gz]), .pgm, or an image with Pillow installed")


def _read_csv(p: Path, n_features: int) -> np.ndarray:
    import csv

    rows = []
    with open(p, newline="") as f:
        for i, row in enumerate(csv.reader(f)):
            if not row or all(not c.strip() for c in row):
                continue
            try:
                rows.append([float(c) for c in row])
            except ValueError:
                if i == 0:
                    continue  # a header
                raise CLIError(f"{p} line {i + 1}: not all cells are numbers") from None
    if not rows:
        raise CLIError(f"{p}: no rows of numbers")
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise CLIError(f"{p}: rows have different numbers of columns: {sorted(widths)}")
    x = np.array(rows)
    if x.shape[1] == n_features + 1:
        x = x[:, :n_features]
    if np.all(x == np.round(x)) and x.min() >= 0:
        x = x.astype(np.int64)  # integer pixels: scaled like the training data
    return x


def prepare(x: np.ndarray, n_features: int, pixel_scale: float | None, path: str) -> np.ndarray:
    """Float32 rows of ``n_features``: integer pixels scaled, images flattened."""
    if x.dtype.kind not in "biuf":
        raise CLIError(f"{path}: holds {x.dtype} values; expected numbers")
    if x.size == n_features and (x.ndim == 1 or x.shape[0] != 1):
        x = x.reshape(1, n_features)
    if x.ndim < 1 or x.size == 0:
        raise CLIError(f"{path}: no samples")
    per = math.prod(x.shape[1:]) if x.ndim > 1 else 1
    if per != n_features:
        raise CLIError(f"{path}: samples of shape {tuple(x.shape[1:])} ({per} values each) but "
                       f"the model takes {n_features} inputs")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x.reshape(x.shape[0], n_features)))[0]
        value = x.reshape(x.shape[0], n_features)[bad[0], bad[1]]
        raise CLIError(f"{path}: sample {bad[0]}, feature {bad[1]} is {value}; expected finite "
                       "numbers (a prediction from nan/inf input is meaningless)")
    scale = pixel_scale if (x.dtype.kind in "biu" and pixel_scale) else None
    x = x.reshape(x.shape[0], n_features).astype(np.float32)
    if scale:
        x /= np.float32(scale)
    return x


def run(args: argparse.Namespace) -> int:
    from chainrule.train import predict

    if args.top < 1:
        raise CLIError(f"--top: must be >= 1, got {args.top}")
    if args.limit is not None and args.limit < 1:
        raise CLIError(f"--limit: must be >= 1, got {args.limit}")
    model, meta, _ = load_model(args.checkpoint)
    sizes = meta["arch"]["sizes"]
    if not sizes:
        raise CLIError(f"the checkpoint's model ({meta['arch'].get('name')}) does not start with "
                       "a Linear layer, so its number of inputs is unknown; predict from Python")
    info = meta.get("data") or {}
    x = prepare(read_inputs(args.input, sizes[0]), sizes[0], info.get("pixel_scale"), args.input)
    if args.limit is not None:
        x = x[:args.limit]
    if info.get("mean") is not None:
        x = (x - np.asarray(info["mean"], np.float32)) / np.asarray(info["scale"], np.float32)
    out = predict(model, x).detach().numpy().astype(np.float64)
    if not np.isfinite(out).all():
        i = int(np.argwhere(~np.isfinite(out))[0][0])
        raise CLIError(f"the model's output for sample {i} is not finite ({out[i].tolist()}); "
                       "the checkpoint's weights or this input overflow")
    if info.get("task", "classification") != "classification":
        for i, row in enumerate(out):
            say(f"{i}: " + " ".join(f"{v:.6g}" for v in np.atleast_1d(row)))
        return 0
    classes = info.get("classes")
    softmax = (meta.get("loss") or "cross-entropy") == "cross-entropy"
    if softmax:
        z = out - out.max(axis=1, keepdims=True)
        scores = np.exp(z)
        scores /= scores.sum(axis=1, keepdims=True)
        label = "p"
    else:
        scores, label = out, "score"
    k = min(args.top, out.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    for i in range(len(out)):
        parts = []
        for c in order[i]:
            name = f" {classes[c]}" if classes and c < len(classes) else ""
            parts.append(f"{c}{name} ({label} {scores[i, c]:.3f})")
        say(f"{i}: " + ", ".join(parts))
    return 0
