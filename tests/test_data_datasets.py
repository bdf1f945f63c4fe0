"""chainrule.data.datasets: synthetic problems, the bundled digits, CSV / NPZ loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import DataLoader, TensorDataset
from chainrule.data import transforms as T
from chainrule.data.datasets import (
    Digits,
    blobs,
    circles,
    encoder,
    load_csv,
    load_digits,
    load_npz,
    moons,
    parity,
    regression_1d,
    spirals,
    xor,
)


def xy(ds: TensorDataset) -> tuple[np.ndarray, np.ndarray]:
    return ds.arrays[0], ds.arrays[1]


# -- synthetic ------------------------------------------------------------------------------------
def test_xor() -> None:
    x, y = xy(xor())
    assert x.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and y.tolist() == [0, 1, 1, 0]
    assert x.dtype == np.float32 and y.dtype == np.int64
    x, y = xy(xor(n_samples=10, noise=0.1, seed=0))
    assert x.shape == (10, 2) and np.bincount(y).tolist() == [5, 5]


@pytest.mark.parametrize("n_bits", [1, 2, 5])
def test_parity(n_bits: int) -> None:
    x, y = xy(parity(n_bits))
    assert x.shape == (2 ** n_bits, n_bits) and x.dtype == np.float32 and y.dtype == np.int64
    assert np.array_equal(y, x.sum(axis=1).astype(np.int64) % 2)
    assert np.bincount(y).tolist() == [2 ** (n_bits - 1)] * 2
    assert len(np.unique(x, axis=0)) == 2 ** n_bits
    assert set(np.unique(xy(parity(3, signed=True))[0])) == {-1.0, 1.0}
    xs, ys = xy(parity(30, n_samples=16, seed=1))
    assert xs.shape == (16, 30) and np.array_equal(ys, xs.sum(axis=1).astype(np.int64) % 2)


def test_encoder() -> None:
    x, t = xy(encoder(8))
    assert np.array_equal(x, np.eye(8)) and np.array_equal(t, x) and t.dtype == np.float32
    assert t is not x


@pytest.mark.parametrize("make,classes", [
    (lambda **k: spirals(n_samples=301, n_classes=3, **k), 3),
    (lambda **k: moons(n_samples=101, noise=0.1, **k), 2),
    (lambda **k: circles(n_samples=101, noise=0.05, **k), 2),
    (lambda **k: blobs(n_samples=100, centers=4, n_features=3, **k), 4),
])
def test_classification_sets(make, classes: int) -> None:  # type: ignore[no-untyped-def]
    x, y = xy(make(seed=0))
    assert x.dtype == np.float32 and y.dtype == np.int64 and x.ndim == 2 and len(x) == len(y)
    counts = np.bincount(y, minlength=classes)
    assert len(counts) == classes and counts.max() - counts.min() <= 1
    assert np.array_equal(xy(make(seed=0))[0], x)
    assert not np.array_equal(xy(make(seed=1))[0], x)
    cr.manual_seed(4)
    a = xy(make())[0]
    cr.manual_seed(4)
    assert np.array_equal(xy(make())[0], a)
    assert np.array_equal(xy(make(generator=cr.Generator().manual_seed(2)))[0],
                          xy(make(generator=cr.Generator().manual_seed(2)))[0])


def test_geometry_of_moons_and_circles() -> None:
    x, y = xy(circles(n_samples=40, factor=0.3, shuffle=False))
    r = np.linalg.norm(x, axis=1)
    assert np.allclose(r[y == 0], 1) and np.allclose(r[y == 1], 0.3)
    x, y = xy(moons(n_samples=40, shuffle=False))
    assert np.allclose(np.linalg.norm(x[y == 0], axis=1), 1, atol=1e-6)


def test_regression_1d() -> None:
    x, t = xy(regression_1d(n_samples=50, noise=0.0, seed=0))
    assert x.shape == t.shape == (50, 1) and x.dtype == t.dtype == np.float32
    assert np.allclose(t, np.sin(x), atol=1e-6) and np.all(np.diff(x[:, 0]) >= 0)
    x, t = xy(regression_1d(n_samples=20, fn=lambda v: 2 * v, noise=0.0, x_range=(0, 1),
                            seed=0))
    assert np.allclose(t, 2 * x) and x.min() >= 0 and x.max() <= 1
    with pytest.raises(ValueError, match="unknown fn"):
        regression_1d(fn="tan")


def test_synthetic_argument_errors() -> None:
    with pytest.raises(ValueError, match="not both"):
        moons(seed=0, generator=cr.Generator())
    with pytest.raises(ValueError, match="n_samples"):
        spirals(n_samples=0)
    with pytest.raises(ValueError, match="factor"):
        circles(factor=1.5)
    with pytest.raises(ValueError, match="n_samples="):
        parity(25)


# -- digits ---------------------------------------------------------------------------------------
def test_digits_all() -> None:
    x, y = xy(load_digits("all"))
    assert x.shape == (1797, 64) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert np.allclose(x[0].reshape(8, 8)[0] * 16, [0, 0, 5, 13, 9, 1, 0, 0])


def test_digits_split_is_stratified_and_seeded() -> None:
    xtr, ytr = xy(load_digits("train"))
    xte, yte = xy(load_digits("test"))
    assert len(ytr) + len(yte) == 1797 and abs(len(yte) - 0.2 * 1797) <= 10
    counts = np.bincount(load_digits("all").arrays[1])
    assert np.all(np.abs(np.bincount(yte) - 0.2 * counts) <= 0.5)
    all_rows = {r.tobytes() for r in load_digits("all").arrays[0]}
    assert {r.tobytes() for r in xtr} | {r.tobytes() for r in xte} <= all_rows
    assert np.array_equal(xy(load_digits("test", seed=0))[0], xte)
    assert not np.array_equal(xy(load_digits("test", seed=1))[0], xte)
    assert len(load_digits("test", test_fraction=0.5)) > len(xte)
    with pytest.raises(ValueError, match="split"):
        load_digits("validation")


def test_digits_dataset_class() -> None:
    ds = Digits("train", transform=T.Normalize(0.5, 0.5), target_transform=T.OneHot(10))
    assert len(ds) == len(load_digits("train")) and ds.images.shape == (len(ds), 8, 8)
    x0, y0 = ds[0]
    assert x0.shape == (64,) and y0.shape == (10,)
    xb, yb = next(iter(DataLoader(ds, batch_size=16)))
    assert xb.shape == (16, 64) and yb.shape == (16, 10) and xb.numpy().min() >= -1.0
    assert np.allclose(xb.numpy()[0], x0.numpy())


# -- CSV / NPZ ------------------------------------------------------------------------------------
def write(tmp_path: Path, text: str, name: str = "d.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_with_header_and_named_label(tmp_path: Path) -> None:
    p = write(tmp_path, "a,label,b\n1,0,2.5\n\n3,2,4\n")
    x, y = xy(load_csv(p, label_column="label"))
    assert x.tolist() == [[1, 2.5], [3, 4]] and x.dtype == np.float32
    assert y.tolist() == [0, 2] and y.dtype == np.int64
    x, y = xy(load_csv(p, label_column=-1))
    assert y.dtype == np.float32 and y.tolist() == [2.5, 4]


def test_csv_without_header(tmp_path: Path) -> None:
    p = write(tmp_path, "0.5;1;7\n1.5;2;8\n")
    x, y = xy(load_csv(p, delimiter=";", label_column=0, label_dtype="float32"))
    assert x.tolist() == [[1, 7], [2, 8]] and y.tolist() == [0.5, 1.5]
    (only,) = load_csv(p, delimiter=";", label_column=None).arrays
    assert only.shape == (2, 3)


def test_csv_errors_name_row_and_column(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"line 3, column 2 \('b'\): 'x' is not a number"):
        load_csv(write(tmp_path, "a,b,c\n1,2,3\n4,x,6\n"))
    with pytest.raises(ValueError, match=r"line 2, column 1 \('a'\): is empty"):
        load_csv(write(tmp_path, "a,b\n,2\n"))
    with pytest.raises(ValueError, match="line 3 has 2 fields; expected 3 like the header"):
        load_csv(write(tmp_path, "a,b,c\n1,2,3\n4,5\n"))
    with pytest.raises(ValueError, match="no column named 'y'"):
        load_csv(write(tmp_path, "a,b\n1,2\n"), label_column="y")
    with pytest.raises(ValueError, match=r"line 2, column 2: label 2\.5 is not an integer"):
        load_csv(write(tmp_path, "1,0\n1,2.5\n"), label_dtype="int64")
    with pytest.raises(ValueError, match="no rows"):
        load_csv(write(tmp_path, "\n\n"))


def test_npz(tmp_path: Path) -> None:
    p = tmp_path / "d.npz"
    np.savez(p, X=np.ones((4, 3)), y=np.array([0, 1, 1, 0], np.int32))
    x, y = xy(load_npz(p))
    assert x.dtype == np.float32 and x.shape == (4, 3) and y.dtype == np.int64
    np.savez(p, feats=np.ones((2, 2)), target=np.array([0.5, 1.5]))
    x, y = xy(load_npz(p, x_key="feats", y_key="target"))
    assert y.dtype == np.float32
    assert len(load_npz(p, x_key="feats", labels=False).arrays) == 1
    with pytest.raises(ValueError, match=r"no array named 'x' or 'X'.*\['feats', 'target'\]"):
        load_npz(p)


def test_npz_never_unpickles(tmp_path: Path) -> None:
    p = tmp_path / "o.npz"
    np.savez(p, x=np.array([{"a": 1}, None], dtype=object), y=np.array([0, 1]))
    with pytest.raises(ValueError, match="never unpickles"):
        load_npz(p)
    q = tmp_path / "one.npy"
    np.save(q, np.ones(3))
    with pytest.raises(ValueError, match="single array"):
        load_npz(q)
    r = tmp_path / "junk.npz"
    r.write_bytes(b"not a zip")
    with pytest.raises(ValueError):
        load_npz(r)
