"""Image augmentations as transforms, and the stratified, seeded labelled/unlabelled split."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import TensorDataset, split_labelled
from chainrule.data.augment import (
    Cutout,
    GaussianNoise,
    RandomCrop,
    RandomHorizontalFlip,
    labelled_indices,
)


def _imgs(n: int = 16) -> np.ndarray:
    return np.random.default_rng(0).random((n, 1, 6, 6)).astype(np.float32)


def test_random_crop_is_a_shift_within_the_padding() -> None:
    x = _imgs()
    out = RandomCrop(6, padding=2, generator=np.random.default_rng(1)).batch(x)
    assert out.shape == x.shape and out.dtype == np.float32
    for a, b in zip(x, out):  # each output is the input shifted by (dy, dx), |d| <= 2
        p = np.pad(a, [(0, 0), (2, 2), (2, 2)])
        assert any(np.array_equal(p[:, 2 + dy:8 + dy, 2 + dx:8 + dx], b)
                   for dy in range(-2, 3) for dx in range(-2, 3))
    assert not np.array_equal(out, x)


def test_flip_noise_cutout() -> None:
    x = _imgs()
    g = np.random.default_rng(0)
    f = RandomHorizontalFlip(0.5, generator=g).batch(x)
    flipped = [np.array_equal(b, a[..., ::-1]) for a, b in zip(x, f)]
    same = [np.array_equal(b, a) for a, b in zip(x, f)]
    assert all(p or q for p, q in zip(flipped, same)) and any(flipped) and any(same)
    n = GaussianNoise(0.5, clip=(0.0, 1.0), generator=g).batch(x)
    assert n.dtype == np.float32 and n.min() >= 0 and n.max() <= 1 and not np.allclose(n, x)
    c = Cutout(3, generator=g).batch(x + 1)
    zeros = (c == 0).reshape(len(x), -1).sum(1)
    assert (zeros >= 1).all() and (zeros <= 9).all()


def test_flattened_images_and_seeding() -> None:
    x = _imgs(4).reshape(4, 36)
    t = RandomCrop(6, padding=1, image_shape=(6, 6))
    cr.manual_seed(3)
    a = t.batch(x)
    cr.manual_seed(3)
    assert a.shape == (4, 36) and np.array_equal(a, t.batch(x))
    assert t(x[0]).shape == (36,)


def test_split_is_stratified_seeded_and_disjoint() -> None:
    y = np.repeat(np.arange(10), [100, 200, 50, 50, 100, 100, 100, 100, 100, 100])
    lab, unl = labelled_indices(y, 100, seed=0)
    assert len(lab) == 100 and len(unl) == len(y) - 100
    assert set(lab).isdisjoint(unl) and len(set(lab) | set(unl)) == len(y)
    np.testing.assert_array_equal(np.bincount(y[lab]), [10, 20, 5, 5, 10, 10, 10, 10, 10, 10])
    np.testing.assert_array_equal(lab, labelled_indices(y, 100, seed=0)[0])
    assert not np.array_equal(lab, labelled_indices(y, 100, seed=1)[0])
    ds = TensorDataset(cr.randn(len(y), 2), cr.tensor(y))
    a, b = split_labelled(ds, 10, seed=0)
    assert len(a) == 10 and len(b) == len(y) - 10
    assert sorted(int(a[i][1]) for i in range(10)) == list(range(10))  # one per class
    with pytest.raises(ValueError, match="n_labels"):
        labelled_indices(y, 0)
