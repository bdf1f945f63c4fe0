"""Augmentations for images as transforms, and the labelled/unlabelled split of semi-supervised
learning.

Each augmentation works on one image (``t(x)``) or a batch (``t.batch(xb)``, one random draw
per image, vectorised), on the last two dims (H, W) of arrays shaped (..., H, W). Flattened
images are given their shape with ``image_shape=(28, 28)``. Randomness comes from chainrule's
default generator (``cr.manual_seed``) unless ``generator=`` (a NumPy ``Generator``) is given.

``split_labelled(dataset, 1000, seed=0)`` keeps 1,000 labelled examples, stratified (each class
in proportion to its share), and returns ``(labelled, unlabelled)`` ``Subset`` s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from chainrule.data.dataset import Subset
from chainrule.data.transforms import Transform

__all__ = ["Cutout", "GaussianNoise", "RandomCrop", "RandomHorizontalFlip", "labelled_indices",
           "split_labelled"]


def _rng(generator: np.random.Generator | None) -> np.random.Generator:
    if generator is not None:
        return generator
    from chainrule.random import default_generator

    return default_generator.numpy


class _ImageTransform(Transform):
    image_shape: tuple[int, int] | None = None
    generator: np.random.Generator | None = None

    def forward(self, x: np.ndarray, batched: bool) -> np.ndarray:
        flat_shape = x.shape
        if self.image_shape is not None:
            x = x.reshape(*x.shape[:x.ndim - 1], *self.image_shape)
        xb = x if batched else x[None]
        out = self.apply(xb, _rng(self.generator))
        out = out if batched else out[0]
        return out.reshape(flat_shape) if self.image_shape is not None else out

    def apply(self, xb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


class RandomCrop(_ImageTransform):
    """Pad by ``padding`` pixels (zeros) on each side, then crop a random ``size`` window
    (torchvision's ``RandomCrop(size, padding)``): shifts the image by up to ``padding``."""

    def __init__(self, size: int | Sequence[int], padding: int = 0,
                 image_shape: Sequence[int] | None = None,
                 generator: np.random.Generator | None = None) -> None:
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.padding = int(padding)
        self.image_shape = None if image_shape is None else tuple(image_shape)
        self.generator = generator

    def apply(self, xb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p, (h, w) = self.padding, self.size
        pad = [(0, 0)] * (xb.ndim - 2) + [(p, p), (p, p)]
        xp = np.pad(xb, pad)
        H, W = xp.shape[-2:]
        if h > H or w > W:
            raise ValueError(f"RandomCrop: crop {self.size} is larger than the padded image "
                             f"{(H, W)}")
        n = xb.shape[0]
        top = rng.integers(0, H - h + 1, n)
        left = rng.integers(0, W - w + 1, n)
        rows = top[:, None] + np.arange(h)  # (n, h)
        cols = left[:, None] + np.arange(w)
        xs = np.moveaxis(xp, 0, -3)  # (..., n, H, W)
        out = xs[..., np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
        return np.moveaxis(out, -3, 0)


class RandomHorizontalFlip(_ImageTransform):
    """Mirror each image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5, image_shape: Sequence[int] | None = None,
                 generator: np.random.Generator | None = None) -> None:
        self.p = float(p)
        self.image_shape = None if image_shape is None else tuple(image_shape)
        self.generator = generator

    def apply(self, xb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        flip = rng.random(xb.shape[0]) < self.p
        out = xb.copy()
        out[flip] = xb[flip][..., ::-1]
        return out


class GaussianNoise(_ImageTransform):
    """Add N(0, ``std``^2) noise to every pixel (optionally clipped to ``clip=(lo, hi)``)."""

    def __init__(self, std: float = 0.1, clip: tuple[float, float] | None = None,
                 generator: np.random.Generator | None = None) -> None:
        self.std = float(std)
        self.clip = clip
        self.generator = generator

    def forward(self, x: np.ndarray, batched: bool) -> np.ndarray:
        out = x + _rng(self.generator).standard_normal(x.shape).astype(x.dtype) * \
            x.dtype.type(self.std)
        return np.clip(out, *self.clip) if self.clip is not None else out


class Cutout(_ImageTransform):
    """Zero a random ``size`` x ``size`` square of each image (DeVries and Taylor 2017); the
    square's centre is uniform over the image, so it may be cut by the border."""

    def __init__(self, size: int = 8, image_shape: Sequence[int] | None = None,
                 generator: np.random.Generator | None = None) -> None:
        self.size = int(size)
        self.image_shape = None if image_shape is None else tuple(image_shape)
        self.generator = generator

    def apply(self, xb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, (H, W) = xb.shape[0], xb.shape[-2:]
        cy, cx = rng.integers(0, H, n), rng.integers(0, W, n)
        ys, xs = np.arange(H), np.arange(W)
        half = self.size // 2
        my = (ys >= (cy - half)[:, None]) & (ys < (cy - half + self.size)[:, None])  # (n, H)
        mx = (xs >= (cx - half)[:, None]) & (xs < (cx - half + self.size)[:, None])  # (n, W)
        mask = my[:, :, None] & mx[:, None, :]
        mask = mask.reshape(n, *([1] * (xb.ndim - 3)), H, W)
        return np.where(mask, xb.dtype.type(0), xb)


def labelled_indices(targets: Any, n_labels: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(labelled, unlabelled)`` index arrays: ``n_labels`` indices drawn per class in
    proportion to the class's share (largest remainders; at least one per class when
    ``n_labels`` allows), seeded; the rest unlabelled. Both are sorted."""
    y = np.asarray(targets.numpy() if hasattr(targets, "numpy") else targets).reshape(-1)
    if not 0 < n_labels <= y.size:
        raise ValueError(f"split_labelled: n_labels = {n_labels}; expected 1..{y.size} (the "
                         "dataset's size)")
    classes, counts = np.unique(y, return_counts=True)
    share = counts / counts.sum() * n_labels
    take = np.floor(share).astype(int)
    if n_labels >= classes.size:
        take = np.maximum(take, 1)
    rest = n_labels - take.sum()
    order = np.argsort(-(share - np.floor(share)), kind="stable")
    i = 0
    while rest != 0:  # hand out (or take back) the remainder, largest fractions first
        c = order[i % classes.size]
        if rest > 0 and take[c] < counts[c]:
            take[c] += 1
            rest -= 1
        elif rest < 0 and take[c] > 1:
            take[c] -= 1
            rest += 1
        i += 1
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.nonzero(y == c)[0], size=t, replace=False)
              for c, t in zip(classes, take)]
    lab = np.sort(np.concatenate(picked))
    mask = np.ones(y.size, bool)
    mask[lab] = False
    return lab, np.nonzero(mask)[0]


def _targets_of(dataset: Any) -> np.ndarray:
    t = getattr(dataset, "targets", None)
    if t is None and hasattr(dataset, "tensors"):
        t = dataset.tensors[-1]
    if t is None:
        t = [dataset[i][-1] for i in range(len(dataset))]
        t = [v.numpy() if hasattr(v, "numpy") else v for v in t]
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


def split_labelled(dataset: Any, n_labels: int, seed: int = 0) -> tuple[Subset, Subset]:
    """``(labelled, unlabelled)`` Subsets of ``dataset``: ``n_labels`` examples stratified by
    class, chosen with ``seed``; the unlabelled part keeps its targets (ignore them, or use them
    to measure pseudo-label accuracy)."""
    lab, unl = labelled_indices(_targets_of(dataset), n_labels, seed)
    return Subset(dataset, lab.tolist()), Subset(dataset, unl.tolist())
