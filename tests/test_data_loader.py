"""chainrule.data: datasets, samplers, DataLoader semantics, seeded shuffles, resume, transforms."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.data import (
    ArrayDataset,
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    random_split,
)
from chainrule.data import transforms as T


def arrays(n: int = 23, d: int = 3) -> tuple[np.ndarray, np.ndarray]:
    x = np.arange(n * d, dtype=np.float32).reshape(n, d)
    return x, np.arange(n, dtype=np.int64) % 4


def as_np(batch: list) -> list[np.ndarray]:
    return [b.numpy() for b in batch]


def epoch(loader: DataLoader) -> list[list[np.ndarray]]:
    return [as_np(b) for b in loader]


def same_epochs(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        all(np.array_equal(u, v) for u, v in zip(p, q)) for p, q in zip(a, b))


# -- datasets -------------------------------------------------------------------------------------
def test_alias_path_is_the_same_package() -> None:
    import importlib

    import chainrule.data
    import chainrule.utils.data
    assert chainrule.utils.data is chainrule.data
    assert chainrule.utils.data.DataLoader is DataLoader
    sub = importlib.import_module("chainrule.utils.data.dataset")
    assert sub is chainrule.data.dataset and sub.TensorDataset is TensorDataset


def test_utils_data_is_reachable_after_import_chainrule_alone() -> None:
    """Issue 13 item 13: ``import chainrule as torch; torch.utils.data.DataLoader`` (the README's
    promise) in a fresh interpreter, where nothing imported chainrule.utils first."""
    import subprocess
    import sys

    code = ("import sys, chainrule as torch\n"
            "assert 'chainrule.utils' not in sys.modules, 'import chainrule loaded utils eagerly'\n"
            "assert torch.utils.data.DataLoader is torch.data.DataLoader\n"
            "assert torch.viz and torch.train.fit and torch.exercise\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_tensor_dataset_items_and_sources() -> None:
    x, y = arrays()
    for ds in (TensorDataset(x, y), TensorDataset(cr.tensor(x), cr.tensor(y))):
        assert len(ds) == 23
        xi, yi = ds[5]
        assert isinstance(xi, cr.Tensor) and xi.shape == (3,) and xi.dtype == np.float32
        assert yi.shape == () and yi.item() == 1
        assert np.array_equal(ds[-1][0].numpy(), x[-1])
    lists = TensorDataset([[1.0, 2.0], [3.0, 4.0]], [0, 1])
    assert lists.arrays[0].dtype == np.float32 and lists.arrays[1].dtype == np.int64


def test_tensor_dataset_length_mismatch_is_explained() -> None:
    with pytest.raises(ValueError, match=r"tensor 0 has 10 \(shape \(10, 2\)\).*tensor 1 has 9"):
        TensorDataset(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(ValueError, match="0-d"):
        TensorDataset(np.zeros(()))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()


def test_subset_and_concat() -> None:
    x, y = arrays()
    ds = TensorDataset(x, y)
    sub = Subset(ds, [4, 2, 9])
    assert len(sub) == 3 and sub[1][0].numpy().tolist() == x[2].tolist()
    cat = ds + TensorDataset(x[:5] + 1000, y[:5])
    assert isinstance(cat, ConcatDataset) and len(cat) == 28
    assert cat[23][0].numpy()[0] == 1000 and cat[-1][0].numpy()[0] == x[4, 0] + 1000
    with pytest.raises(IndexError):
        cat[28]
    got = cat.get_batch(np.array([25, 0, 24, 3]))
    assert got[0].numpy()[:, 0].tolist() == [1006, 0, 1003, 9]


def test_random_split_counts_and_fractions() -> None:
    ds = TensorDataset(*arrays(10))
    parts = random_split(ds, [3, 7], generator=cr.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))
    assert [len(p) for p in random_split(ds, [0.3, 0.3, 0.4])] == [3, 3, 4]
    assert [len(p) for p in random_split(TensorDataset(*arrays(11)), [0.5, 0.5])] == [6, 5]
    a = random_split(ds, [5, 5], generator=cr.Generator().manual_seed(3))[0].indices
    b = random_split(ds, [5, 5], generator=cr.Generator().manual_seed(3))[0].indices
    assert a == b
    with pytest.raises(ValueError, match="sum to 9"):
        random_split(ds, [4, 5])
    with pytest.warns(UserWarning, match="index 1 is 0"):
        random_split(TensorDataset(*arrays(2)), [0.5, 0.0, 0.5])


# -- the loader -----------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", [1, 4, 23, 30])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sequential_batches_and_len(batch_size: int, drop_last: bool) -> None:
    x, y = arrays()
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, drop_last=drop_last)
    batches = epoch(loader)
    expected = 23 // batch_size if drop_last else -(-23 // batch_size)
    assert len(loader) == len(batches) == expected
    if batches:
        assert np.array_equal(np.concatenate([b[0] for b in batches]),
                              x[:expected * batch_size] if drop_last else x)
        assert batches[0][0].dtype == np.float32 and batches[0][1].dtype == np.int64


def test_fast_path_skips_getitem_and_matches_collation() -> None:
    calls = []

    class Counting(TensorDataset):
        def __getitem__(self, i):  # type: ignore[no-untyped-def]
            calls.append(i)
            return super().__getitem__(i)

    x, y = arrays()
    base = Counting(x, y)
    for ds in (base, Subset(base, list(range(20, 3, -1))), ConcatDataset([base, base])):
        g1, g2 = cr.Generator().manual_seed(7), cr.Generator().manual_seed(7)
        fast = epoch(DataLoader(ds, batch_size=5, shuffle=True, generator=g1))
        assert not calls
        slow = epoch(DataLoader(ds, batch_size=5, shuffle=True, generator=g2,
                                collate_fn=default_collate))
        assert calls
        calls.clear()
        assert same_epochs(fast, slow)


def test_batch_is_a_copy_not_a_view() -> None:
    x, y = arrays()
    xb, _ = next(iter(DataLoader(TensorDataset(x, y), batch_size=4)))
    xb.numpy()[:] = -1
    assert x.min() == 0


def test_seeded_shuffle_is_reproducible() -> None:
    ds = TensorDataset(*arrays(50))
    cr.manual_seed(123)
    first = [epoch(DataLoader(ds, batch_size=8, shuffle=True)) for _ in range(2)]
    cr.manual_seed(123)
    again = [epoch(DataLoader(ds, batch_size=8, shuffle=True)) for _ in range(2)]
    assert same_epochs(first[0], again[0]) and same_epochs(first[1], again[1])
    assert not same_epochs(first[0], first[1])  # each epoch draws a new order
    order = np.concatenate([b[1] for b in first[0]])
    assert sorted(np.concatenate([b[0][:, 0] for b in first[0]]).tolist()) == \
        list(range(0, 150, 3)) and len(order) == 50


def test_resume_at_an_epoch_boundary_with_the_generator_state() -> None:
    ds = TensorDataset(*arrays(40))
    g = cr.Generator().manual_seed(5)
    loader = DataLoader(ds, batch_size=6, shuffle=True, generator=g)
    epoch(loader)
    saved = g.get_state()
    e1, e2 = epoch(loader), epoch(loader)
    g2 = cr.Generator()
    g2.set_state(saved)
    resumed = DataLoader(ds, batch_size=6, shuffle=True, generator=g2)
    assert same_epochs(epoch(resumed), e1) and same_epochs(epoch(resumed), e2)


def test_resume_mid_epoch_with_state_dict() -> None:
    ds = TensorDataset(*arrays(40))
    cr.manual_seed(11)
    loader = DataLoader(ds, batch_size=6, shuffle=True)
    epoch(loader)
    it = iter(loader)
    head = [as_np(next(it)) for _ in range(3)]
    state, rng = loader.state_dict(), cr.get_rng_state()
    assert state["batches_consumed"] == 3 and state["sampler_rng_state"] is not None
    tail, nxt = [as_np(b) for b in it], epoch(loader)

    cr.manual_seed(999)  # a fresh process: state comes only from the checkpoint
    fresh = DataLoader(ds, batch_size=6, shuffle=True)
    fresh.load_state_dict(state)
    cr.set_rng_state(rng)
    assert same_epochs(epoch(fresh), tail)
    assert same_epochs(epoch(fresh), nxt)
    assert len(head) + len(tail) == len(loader)
    assert DataLoader(ds).state_dict() == {"sampler_rng_state": None, "batches_consumed": 0}


def test_batch_size_none_sampler_and_batch_sampler() -> None:
    x, y = arrays(6)
    ds = TensorDataset(x, y)
    single = list(DataLoader(ds, batch_size=None))
    assert len(single) == 6 and single[2][0].shape == (3,)
    picked = epoch(DataLoader(ds, batch_size=2, sampler=[5, 3, 1]))
    assert [b[1].tolist() for b in picked] == [[1, 3], [1]]
    grouped = epoch(DataLoader(ds, batch_sampler=[[0, 1], [4], [2, 3, 5]]))
    assert [b[0][:, 0].tolist() for b in grouped] == [[0, 3], [12], [6, 9, 15]]
    assert len(DataLoader(ds, batch_sampler=BatchSampler(SequentialSampler(ds), 4, False))) == 2


def test_argument_errors() -> None:
    ds = TensorDataset(*arrays(6))
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=[0, 1], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_size=2, batch_sampler=[[0]])
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)


def test_iterable_dataset() -> None:
    class Stream(IterableDataset):
        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter(np.arange(7, dtype=np.float32).reshape(7, 1))

    got = [b.numpy()[:, 0].tolist() for b in DataLoader(Stream(), batch_size=3)]
    assert got == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(list(DataLoader(Stream(), batch_size=3, drop_last=True))) == 2
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Stream(), shuffle=True)


def test_default_collate_structures() -> None:
    class Rows(Dataset):
        def __len__(self) -> int:
            return 4

        def __getitem__(self, i):  # type: ignore[no-untyped-def]
            return {"x": np.full(2, i, np.float32), "n": i, "w": 0.5 * i, "name": f"r{i}",
                    "pair": (i, [i, -i])}

    b = next(iter(DataLoader(Rows(), batch_size=3)))
    assert b["x"].shape == (3, 2) and b["x"].dtype == np.float32
    assert b["n"].dtype == np.int64 and b["w"].dtype == np.float64
    assert b["name"] == ["r0", "r1", "r2"]
    assert isinstance(b["pair"], list) and b["pair"][1][1].tolist() == [0, -1, -2]
    with pytest.raises(RuntimeError, match=r"shapes \(2,\) and \(3,\)"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object()])


def test_samplers() -> None:
    ds = TensorDataset(*arrays(10))
    g = cr.Generator().manual_seed(0)
    assert sorted(RandomSampler(ds, generator=g)) == list(range(10))
    assert len(list(RandomSampler(ds, num_samples=25, generator=g))) == 25
    assert sorted(list(RandomSampler(ds, num_samples=20, generator=g))) == \
        sorted(list(range(10)) * 2)
    with_repl = list(RandomSampler(ds, replacement=True, num_samples=50, generator=g))
    assert len(with_repl) == 50 and max(with_repl) < 10
    assert sorted(SubsetRandomSampler([7, 2, 5], generator=g)) == [2, 5, 7]
    w = list(WeightedRandomSampler([0, 0, 1, 0], 20, generator=g))
    assert w == [2] * 20
    with pytest.raises(ValueError, match="num_samples"):
        RandomSampler(ds, num_samples=0)
    with pytest.raises(ValueError, match="non-negative"):
        WeightedRandomSampler([-1, 2], 3)
    loader = DataLoader(ds, batch_size=4, sampler=RandomSampler(ds, num_samples=13, generator=g))
    assert len(loader) == 4 and sum(len(b[0]) for b in loader) == 13


# -- transforms -----------------------------------------------------------------------------------
def test_transforms_batch_equals_per_sample() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 1, 4, 4)).astype(np.uint8)
    chain = T.Compose([T.ToFloat(), T.Normalize((0.5,), (0.25,)), T.Flatten()])
    batch = chain.batch(images)
    assert batch.shape == (5, 16) and batch.dtype == np.float32
    assert np.allclose(batch, np.stack([chain(s) for s in images]))
    assert np.allclose(batch[0], (images[0].reshape(-1) / 255 - 0.5) / 0.25, atol=1e-5)
    rgb = rng.random((3, 2, 2)).astype(np.float32)
    norm = T.Normalize([0.1, 0.2, 0.3], [1.0, 2.0, 4.0])
    assert np.allclose(norm(rgb)[2], (rgb[2] - 0.3) / 4)
    assert np.allclose(norm.batch(rgb[None])[0], norm(rgb))
    feats = T.Normalize([1.0, 2.0], [2.0, 2.0])
    assert np.allclose(feats.batch(np.ones((4, 2), np.float32)), [[0, -0.5]] * 4)
    hot = T.OneHot(4)
    assert hot.batch(np.array([3, 0])).tolist() == [[0, 0, 0, 1], [1, 0, 0, 0]]
    assert hot(np.array(2)).dtype == np.float32
    double = T.Lambda(lambda v: v * 2, batched=True)
    assert double.batch(np.ones((2, 2))).tolist() == [[2, 2], [2, 2]]
    assert T.Lambda(lambda v: v.sum()).batch(np.ones((3, 2))).tolist() == [2, 2, 2]
    t = T.ToFloat()(cr.tensor(np.array([0, 255], np.uint8)))
    assert isinstance(t, cr.Tensor) and t.tolist() == [0.0, 1.0]


def test_transform_errors() -> None:
    with pytest.raises(ValueError, match="outside"):
        T.OneHot(3).batch(np.array([0, 3]))
    with pytest.raises(ValueError, match="division by zero"):
        T.Normalize(0.0, 0.0)
    with pytest.raises(ValueError, match="3 means/stds"):
        T.Normalize([0, 0, 0], [1, 1, 1])(np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="ToFloat"):
        T.Normalize(0, 1)(np.zeros(3, np.uint8))


def test_array_dataset_applies_transforms_per_batch() -> None:
    seen = []

    class Spy(T.Transform):
        def forward(self, x: np.ndarray, batched: bool) -> np.ndarray:
            seen.append(batched)
            return x * 2

    x, y = arrays(10)
    ds = ArrayDataset(x, y, transform=Spy(), target_transform=T.OneHot(4))
    xb, yb = next(iter(DataLoader(ds, batch_size=4)))
    assert seen == [True] and xb.numpy().tolist() == (x[:4] * 2).tolist()
    assert yb.shape == (4, 4)
    _, y0 = ds[1]
    assert seen == [True, False] and y0.tolist() == [0, 1, 0, 0]
    with pytest.raises(ValueError, match="10 samples but 9 targets"):
        ArrayDataset(x, y[:9])


# -- len(loader) == the batches it yields, for every configuration (issue 13 item 25) -------------
class _Counted(IterableDataset):
    """An iterable dataset of ``n`` items that also knows its length."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):
        for i in range(self.n):
            yield np.float32(i)

    def __len__(self) -> int:
        return self.n


def _loader_configs() -> list:
    out = []
    for n in (1, 7, 8, 23):
        for bs in (None, 1, 3, 8, 25):
            for drop in (False, True):
                if bs is None and drop:
                    continue  # PyTorch refuses drop_last without a batch size
                for kind in ("map", "shuffle", "sampler", "weighted", "iterable"):
                    out.append((n, bs, drop, kind))
                if bs is not None:
                    out.append((n, bs, drop, "batch_sampler"))
    return out


@pytest.mark.parametrize(("n", "bs", "drop", "kind"), _loader_configs())
def test_len_equals_the_batches_actually_yielded(n: int, bs: int | None, drop: bool,
                                                 kind: str) -> None:
    x = np.arange(n, dtype=np.float32)
    ds = TensorDataset(x)
    kw: dict = {"batch_size": bs, "drop_last": drop}
    if kind == "shuffle":
        kw["shuffle"] = True
    elif kind == "sampler":
        kw["sampler"] = SubsetRandomSampler(list(range(0, n, 2)))
    elif kind == "weighted":
        kw["sampler"] = WeightedRandomSampler([1.0] * n, num_samples=n + 3)
    elif kind == "iterable":
        ds = _Counted(n)
    elif kind == "batch_sampler":
        kw = {"batch_sampler": BatchSampler(SequentialSampler(ds), bs, drop)}
    loader = DataLoader(ds, **kw)
    yielded = sum(1 for _ in loader)
    assert len(loader) == yielded, f"len {len(loader)} but {yielded} batches ({kw})"
    assert sum(1 for _ in loader) == yielded  # and again: a second epoch agrees
