"""The 8x8 handwritten digits (1797 images, 10 classes), bundled: no download, no scikit-learn.

Attribution: ``digits.csv.gz`` is copied unchanged from scikit-learn 1.9.1
(``sklearn/datasets/data/digits.csv.gz``, BSD-3-Clause, (c) 2007-2026 the scikit-learn
developers); the data are the test set of the UCI ML "Optical Recognition of Handwritten Digits"
data set by E. Alpaydin and C. Kaynak (1998), UCI Machine Learning Repository,
https://doi.org/10.24432/C50P49, CC BY 4.0. See ``digits.NOTICE.txt`` beside the file.

Each row of the file is 64 pixel counts (0..16, an 8x8 image read row by row) then the label.
Here the pixels are scaled to [0, 1] float32 and the labels are int64. The train/test split is
stratified and seeded, so every class keeps its share in both parts and a given ``seed`` always
gives the same split.

    train = load_digits("train")          # TensorDataset: (1438, 64) float32, (1438,) int64
    test = Digits("test")                 # the same split as an ArrayDataset with transforms
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

from chainrule.data.dataset import ArrayDataset, TensorDataset

DIGITS_FILE = Path(__file__).with_name("digits.csv.gz")
DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
N_SAMPLES, N_FEATURES, N_CLASSES = 1797, 64, 10


@lru_cache(maxsize=1)
def _load_all() -> tuple[np.ndarray, np.ndarray]:
    raw = DIGITS_FILE.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != DIGITS_SHA256:
        raise ValueError(f"load_digits: {DIGITS_FILE} has SHA-256 {digest}, expected "
                         f"{DIGITS_SHA256}; the bundled file is damaged: reinstall chainrule")
    table = np.loadtxt(gzip.decompress(raw).decode("ascii").splitlines(), delimiter=",",
                       dtype=np.float64)
    if table.shape != (N_SAMPLES, N_FEATURES + 1):
        raise ValueError(f"load_digits: expected a {N_SAMPLES}x{N_FEATURES + 1} table, read "
                         f"{table.shape}")
    x = (table[:, :N_FEATURES] / 16.0).astype(np.float32)
    y = table[:, N_FEATURES].astype(np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def split_indices(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """A stratified split: in each class, ``round(count * test_fraction)`` random members go to
    test. Returns sorted (train, test) index arrays."""
    if not 0 <= test_fraction <= 1:
        raise ValueError(f"load_digits: test_fraction must be in [0, 1], got {test_fraction}")
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        k = round(len(members) * test_fraction)
        test.append(members[rng.permutation(len(members))[:k]])
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return train_idx, test_idx


def _select(split: str, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = _load_all()
    if split == "all":
        return x.copy(), y.copy()
    if split not in ("train", "test"):
        raise ValueError(f"load_digits: split must be 'train', 'test' or 'all', got {split!r}")
    train, test = split_indices(y, test_fraction, seed)
    idx = train if split == "train" else test
    return x[idx], y[idx]


def load_digits(split: str = "all", test_fraction: float = 0.2,
                seed: int = 0) -> TensorDataset:
    """The digits as a ``TensorDataset`` of (float32 pixels in [0, 1] of shape (n, 64), int64
    labels); ``split`` is "train", "test" or "all" (the 1797 samples in file order)."""
    return TensorDataset(*_select(split, test_fraction, seed))


class Digits(ArrayDataset):
    """The digits as an ``ArrayDataset``: ``(pixels (64,), label)`` samples, optional
    ``transform`` / ``target_transform`` (applied per batch by ``DataLoader``)."""

    classes = list(range(N_CLASSES))

    def __init__(self, split: str = "train", test_fraction: float = 0.2, seed: int = 0,
                 transform: Callable | None = None,
                 target_transform: Callable | None = None) -> None:
        x, y = _select(split, test_fraction, seed)
        super().__init__(x, y, transform, target_transform)
        self.split = split

    @property
    def images(self) -> np.ndarray:
        """The pixels as (n, 8, 8) images."""
        return self.data.reshape(-1, 8, 8)
