"""``--dataset``: a name or a path -> (train, test) datasets and a description of them.

Names: ``digits`` (bundled 8x8 digits), ``fashion-mnist``, ``mnist`` (IDX files found by
``chainrule.data``; Fashion-MNIST from the Debian package ``dataset-fashion-mnist``), and the
synthetic problems ``xor``, ``parity``, ``encoder``, ``spirals``, ``moons``, ``circles``,
``blobs``, ``sine`` (regression). Paths: a folder of MNIST-style IDX files, a ``.csv`` (label in
the last column) or an ``.npz`` (``x``/``y``, or ``x_train``/``y_train``/``x_test``/``y_test``).

The task of a .csv or .npz file (``--task auto``) is decided from its label values, by one rule:

- every label a whole number from 0 to 9999 -> classification, with max(label) + 1 classes;
- otherwise, at most 20 distinct values -> refused as ambiguous (class labels with a stray
  value, such as 2.5 or 1e9, are far likelier than a real-valued target with so few values):
  the message names the first label that is not a class index; pass ``--task`` to decide;
- otherwise -> regression: targets become float32 of shape (N, 1) (or (N, k) for k columns),
  the shape of the model's output.

Targets with more than one column are always regression. ``--task classification`` or
``--task regression`` overrides the rule (classification still needs whole labels >= 0).

Datasets without a test split are split 80/20 with a fixed seed (the same test set whatever
``--seed`` is); the tiny truth tables (xor, parity, encoder) are their own test set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from chainrule.cli.common import CLIError, one_line

SYNTHETIC = ("xor", "parity", "encoder", "spirals", "moons", "circles", "blobs", "sine")
NAMED = ("digits", "fashion-mnist", "mnist", *SYNTHETIC)
ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
           "fmnist": "fashion-mnist"}
FASHION_HINT = ("Fashion-MNIST is not installed: run `sudo apt-get update && sudo apt-get "
                "install -y dataset-fashion-mnist` (Debian/Ubuntu; it puts the files in "
                "/usr/share/datasets/fashion-mnist), or pass --download, or --dataset FOLDER "
                "with the four IDX files")
MNIST_HINT = ("MNIST's IDX files were not found: pass --download (fetches and checks them), "
              "or --dataset FOLDER with train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
              "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz")
MAX_CLASSES = 10000  # --task auto: whole labels 0..MAX_CLASSES-1 are class indices
AMBIGUOUS_DISTINCT = 20  # fewer distinct non-class values than this: ask for --task
TASK_RULE = ("--task auto: whole-number labels 0..9999 are classes; other labels are "
             "real-valued targets (regression), unless they take at most 20 distinct values "
             "(then the run stops and asks for --task)")
DATA_SEED = 0  # the train/test split of datasets that have none: fixed, whatever --seed is


@dataclass
class Data:
    """A dataset resolved for training: the two splits and what the model needs to know."""

    train: Any
    test: Any
    name: str
    task: str  # "classification" or "regression"
    input_shape: list[int]
    n_outputs: int
    classes: list[str] | None = None
    pixel_scale: float | None = None  # raw integer inputs are divided by this (predict)
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    image_shape: list[int] | None = None  # (C, H, W) of image data (rows are flattened images)

    @property
    def n_features(self) -> int:
        return int(math.prod(self.input_shape))

    def describe(self) -> dict[str, Any]:
        """What a checkpoint keeps about the data (plain JSON-like values)."""
        out = {"name": self.name, "task": self.task, "input_shape": list(self.input_shape),
               "n_outputs": self.n_outputs, "classes": self.classes,
               "pixel_scale": self.pixel_scale}
        if self.image_shape is not None:
            out["image_shape"] = list(self.image_shape)
        if "mean" in self.extra:
            out["mean"] = self.extra["mean"]
            out["scale"] = self.extra["scale"]
        return out

    def standardize(self, mean: np.ndarray | None = None, scale: np.ndarray | None = None
                    ) -> None:
        """Replace both splits by ``(x - mean) / scale`` per feature, with the training split's
        mean and ``std + 0.01`` unless given (near-constant pixels are not blown up)."""
        from chainrule.data.dataset import TensorDataset

        x_train, y_train = materialize(self.train)
        x_test, y_test = materialize(self.test)
        if mean is None or scale is None:
            mean = x_train.mean(axis=0, dtype=np.float64)
            scale = x_train.std(axis=0, dtype=np.float64) + 0.01
        mean = np.asarray(mean, np.float32).reshape(-1)
        scale = np.asarray(scale, np.float32).reshape(-1)
        if mean.size != self.n_features:
            raise CLIError(f"the stored standardization has {mean.size} features but the data "
                           f"has {self.n_features}")
        self.train = TensorDataset((x_train - mean) / scale, y_train)
        self.test = TensorDataset((x_test - mean) / scale, y_test)
        self.extra.update(mean=mean.tolist(), scale=scale.tolist())


def materialize(ds: Any) -> tuple[np.ndarray, np.ndarray]:
    """All (inputs as float32 rows, targets) of a dataset, as arrays."""
    idx = np.arange(len(ds))
    get = getattr(ds, "get_batch", None)
    batch = get(idx) if get is not None else [np.stack([np.asarray(s[j]) for s in
                                                        (ds[i] for i in idx)]) for j in (0, 1)]
    x, y = (b.detach().numpy() if hasattr(b, "numpy") else np.asarray(b) for b in batch[:2])
    return x.reshape(len(x), -1).astype(np.float32), y


def targets_of(ds: Any) -> np.ndarray:
    """All targets of a dataset as an array, without loading the inputs when it can."""
    from chainrule.data.dataset import Subset, TensorDataset

    if isinstance(ds, Subset):
        return targets_of(ds.dataset)[np.asarray(ds.indices, dtype=np.int64)]
    if getattr(ds, "targets", None) is not None:
        return np.asarray(ds.targets)
    if isinstance(ds, TensorDataset):
        if len(ds.arrays) < 2:
            raise CLIError("the dataset has inputs but no targets")
        return ds.arrays[-1]
    return np.stack([np.asarray(ds[i][-1]) for i in range(len(ds))])


def _input_shape(ds: Any) -> list[int]:
    if len(ds) == 0:
        raise CLIError("the dataset is empty")
    x = ds[0][0]
    return [int(s) for s in getattr(x, "shape", np.shape(x))]


def _split(ds: Any, test_fraction: float = 0.2) -> tuple[Any, Any]:
    from chainrule.data.dataset import random_split
    from chainrule.random import Generator

    n = len(ds)
    if n < 2:
        return ds, ds
    n_test = max(1, round(n * test_fraction))
    train, test = random_split(ds, [n - n_test, n_test],
                               generator=Generator().manual_seed(DATA_SEED))
    return train, test


def _limit(ds: Any, limit: int | None) -> Any:
    from chainrule.data.dataset import Subset

    if limit is None or limit >= len(ds):
        return ds
    return Subset(ds, list(range(limit)))


def _synthetic(name: str) -> tuple[Any, Any, str]:
    from chainrule.data import datasets as D
    from chainrule.data.dataset import TensorDataset

    if name == "xor":
        ds = D.xor()
        return ds, ds, "the 4 XOR points (train = test)"
    if name == "parity":
        ds = D.parity(3)
        return ds, ds, "all 8 patterns of 3-bit parity (train = test)"
    if name == "encoder":
        ds = D.encoder(8)
        x, y = ds.arrays
        ds = TensorDataset(x, y.argmax(axis=1).astype(np.int64))
        return ds, ds, "the 8 one-hot patterns of the 8-3-8 encoder (train = test)"
    makers = {
        "spirals": lambda: D.spirals(n_samples=1000, n_classes=2, noise=0.05, seed=DATA_SEED),
        "moons": lambda: D.moons(n_samples=1000, noise=0.1, seed=DATA_SEED),
        "circles": lambda: D.circles(n_samples=1000, noise=0.05, factor=0.5, seed=DATA_SEED),
        "blobs": lambda: D.blobs(n_samples=1000, centers=3, seed=DATA_SEED),
        "sine": lambda: D.regression_1d(n_samples=1000, fn="sin", seed=DATA_SEED),
    }
    train, test = _split(makers[name]())
    return train, test, "1000 samples, 20% held out for test"


def _idx(cls_name: str, root: str | None, download: bool
         ) -> tuple[Any, Any, list[str], list[int]]:
    from chainrule.data import datasets as D
    from chainrule.data.transforms import Flatten

    cls = getattr(D, cls_name)
    try:  # images flattened to rows for the MLP, per batch
        train = cls(root=root, train=True, download=download, transform=Flatten())
        test = cls(root=root, train=False, download=download, transform=Flatten())
    except D.DatasetNotFoundError as e:
        if root is not None:
            raise CLIError(f"no MNIST-style IDX files in folder {root!r} (expected "
                           "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                           "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)") from None
        raise CLIError(FASHION_HINT if cls_name == "FashionMNIST" else MNIST_HINT) from e
    except (D.IDXError, D.DownloadError, OSError, ValueError) as e:
        raise CLIError(one_line(e)) from None
    return train, test, list(cls.classes), [1, *map(int, train.data.shape[1:])]


def _where(ds: Any, i: int, what: str) -> str:
    lines = getattr(ds, "source_lines", None)
    return f"line {lines[i]}" if lines is not None else f"{what} sample {i}"


def decide_task(datasets: list[tuple[Any, str]], task: str, name: str) -> tuple[Any, str]:
    """Apply the task rule (module docstring) to the labels of a file's datasets
    ``[(dataset, what), ...]``: returns the datasets with their targets converted (int64 class
    indices, or float32 (N, k) regression targets) and the task."""
    from chainrule.data.dataset import TensorDataset

    ys = [np.asarray(ds.arrays[-1]) for ds, _ in datasets]
    if any(y.ndim > 2 or (y.ndim == 2 and y.shape[1] != 1) for y in ys):
        if task == "classification":
            raise CLIError(f"{name}: --task classification needs one label per sample; the "
                           f"targets have shape {ys[0].shape}")
        task = "regression"
    flat = [y.reshape(len(y), -1)[:, 0].astype(np.float64) for y in ys]
    if task != "regression":
        bad = [(ds, what, i, y[i]) for (ds, what), y in zip(datasets, flat)
               for i in np.flatnonzero(~((y == np.round(y)) & (y >= 0) & (y < MAX_CLASSES)))[:1]]
        if bad:
            ds, what, i, v = bad[0]
            distinct = len(np.unique(np.concatenate(flat)))
            if task == "classification" or distinct <= AMBIGUOUS_DISTINCT:
                why = ("--task classification" if task == "classification" else
                       f"--task auto: the labels take only {distinct} distinct values, like "
                       "class labels, but")
                raise CLIError(f"{name}: {why} the label at {_where(ds, i, what)} is {v:g}, "
                               f"which is not a class index 0..{MAX_CLASSES - 1}; fix that "
                               "label, or pass --task regression for real-valued targets")
            task = "regression"
        else:
            task = "classification"
    out = []
    for (ds, _), y in zip(datasets, ys):
        y = (y.reshape(len(y)).astype(np.int64) if task == "classification" else
             y.reshape(len(y), -1).astype(np.float32))
        new = TensorDataset(*ds.arrays[:-1], y)
        if hasattr(ds, "source_lines"):
            new.source_lines = ds.source_lines  # type: ignore[attr-defined]
        out.append(new)
    return out, task


def _table(path: Path, task: str = "auto", allow_nonfinite: bool = False
           ) -> tuple[Any, Any, str, str]:
    from chainrule.data import datasets as D

    try:
        if path.suffix.lower() == ".csv":
            (ds,), task = decide_task([(D.load_csv(path, allow_nonfinite=allow_nonfinite),
                                        "")], task, str(path))
            train, test = _split(ds)
            return train, test, "CSV, last column the label, 20% held out for test", task
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
        if {"x_train", "y_train", "x_test", "y_test"} <= keys:
            (train, test), task = decide_task(
                [(D.load_npz(path, "x_train", "y_train", allow_nonfinite=allow_nonfinite),
                  "y_train"),
                 (D.load_npz(path, "x_test", "y_test", allow_nonfinite=allow_nonfinite),
                  "y_test")], task, str(path))
            return train, test, "NPZ with its own train/test arrays", task
        (ds,), task = decide_task([(D.load_npz(path, allow_nonfinite=allow_nonfinite), "y")],
                                  task, str(path))
        train, test = _split(ds)
        return train, test, "NPZ x/y, 20% held out for test", task
    except CLIError:
        raise
    except (OSError, ValueError, TypeError, KeyError, EOFError) as e:
        msg = one_line(e)
        raise CLIError(msg if str(path) in msg else f"cannot read {path}: {msg}") from None


def load(spec: str, limit: int | None = None, download: bool = False, task: str = "auto",
         allow_nonfinite: bool = False) -> Data:
    """Resolve ``--dataset``; ``limit`` caps the train and the test split at that many samples;
    ``task`` (auto, classification, regression) applies to .csv/.npz files (the rule in the
    module docstring); named datasets know their task."""
    key = ALIASES.get(spec.lower(), spec.lower())
    file_task = None
    classes: list[str] | None = None
    pixel_scale: float | None = None
    image_shape: list[int] | None = None
    if key == "digits":
        from chainrule.data.datasets import load_digits

        train, test = load_digits("train"), load_digits("test")
        name, note, pixel_scale = "digits", "bundled 8x8 digits, stratified 80/20 split", 16.0
        image_shape = [1, 8, 8]
    elif key in ("fashion-mnist", "mnist"):
        train, test, classes, image_shape = _idx(
            "FashionMNIST" if key == "fashion-mnist" else "MNIST", None, download)
        name, note, pixel_scale = key, "the official 60000/10000 split", 255.0
    elif key in SYNTHETIC:
        train, test, note = _synthetic(key)
        name = key
    else:
        path = Path(spec).expanduser()
        if path.is_dir():
            train, test, classes, image_shape = _idx("MNIST", str(path), False)
            name, note, pixel_scale = str(path), "IDX files, their own train/test split", 255.0
        elif path.is_file() and path.suffix.lower() in (".csv", ".npz"):
            train, test, note, file_task = _table(path, task, allow_nonfinite)
            name = str(path)
            train, test, image_shape = _flat_images(train, test)
            note += (f"; {file_task} (--task {task})" if task != "auto" else
                     f"; {file_task}, by the --task auto rule")
        elif path.suffix.lower() in (".csv", ".npz") or "/" in spec or path.suffix:
            if not path.exists():
                raise CLIError(f"dataset file {spec!r} does not exist")
            raise CLIError(f"dataset {spec!r}: expected a folder of IDX files, a .csv or an .npz "
                           "file")
        else:
            import difflib

            close = difflib.get_close_matches(key, NAMED, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CLIError(f"unknown dataset {spec!r}{hint}; known: {', '.join(NAMED)}, or a "
                           "path to an IDX folder, a .csv or an .npz file")
    if limit is not None and (limit < len(train) or limit < len(test)):
        note += f"; --limit {limit}: the first {limit} samples of each split"
    train, test = _limit(train, limit), _limit(test, limit)
    y = targets_of(train)
    if file_task is None and task != "auto":
        known = "classification" if y.dtype.kind in "iub" else "regression"
        if task != known:
            raise CLIError(f"--task {task}: the dataset {name!r} is a {known} dataset; "
                           "--task applies to .csv and .npz files")
    if y.dtype.kind in "iub":
        task = "classification"
        n_out = int(max(int(y.max(initial=0)), int(targets_of(test).max(initial=0)))) + 1
        n_out = max(n_out, len(classes) if classes else 0, 2)
    else:
        task = "regression"
        n_out = 1 if y.ndim == 1 else int(math.prod(y.shape[1:]))
    return Data(train, test, name, task, _input_shape(train), n_out, classes, pixel_scale, note,
                image_shape=image_shape)


def _flat_images(train: Any, test: Any) -> tuple[Any, Any, list[int] | None]:
    """An .npz's samples of shape (H, W) or (C, H, W) as flat rows, and that image shape
    (channels first; None for rows of features)."""
    from chainrule.data.dataset import TensorDataset

    shape = _input_shape(train)
    if len(shape) < 2:
        return train, test, None
    if len(shape) > 3:
        raise CLIError(f"the samples have shape {tuple(shape)}; expected rows of features, "
                       "(H, W) images or (C, H, W) images")
    flat = []
    for ds in (train, test):
        x, y = materialize(ds)
        flat.append(TensorDataset(x, y))
    return flat[0], flat[1], [1, *shape] if len(shape) == 2 else shape
