"""``cr.finfo``, ``cr.iinfo``, ``cr.Size``, the thread count and the determinism switch: the same
values and behaviour as PyTorch's names (``chainrule.runtime``)."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

import chainrule as cr


def _torch() -> Any:
    return pytest.importorskip("torch")


@pytest.mark.parametrize("name", ["float16", "float32", "float64"])
def test_finfo_equals_pytorch(name: str) -> None:
    torch = _torch()
    ours, theirs = cr.finfo(getattr(cr, name)), torch.finfo(getattr(torch, name))
    for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert repr(ours) == repr(theirs)
    assert cr.finfo(np.dtype(name)).eps == theirs.eps  # any dtype spelling


@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "int64", "bool"])
def test_iinfo_equals_pytorch(name: str) -> None:
    torch = _torch()
    if name == "bool":
        with pytest.raises(TypeError):
            torch.iinfo(torch.bool)  # PyTorch refuses bool; chainrule answers 0..1
        assert (cr.iinfo(cr.bool).min, cr.iinfo(cr.bool).max) == (0, 1)
        return
    ours, theirs = cr.iinfo(getattr(cr, name)), torch.iinfo(getattr(torch, name))
    for attr in ("bits", "max", "min", "dtype"):
        assert getattr(ours, attr) == getattr(theirs, attr), attr
    assert repr(ours) == repr(theirs)


def test_finfo_default_dtype_and_wrong_kinds() -> None:
    assert cr.finfo().dtype == "float32"
    cr.set_default_dtype(cr.float64)
    try:
        assert cr.finfo().eps == np.finfo(np.float64).eps
    finally:
        cr.set_default_dtype(cr.float32)
    with pytest.raises(TypeError, match="requires a floating point input type"):
        cr.finfo(cr.int32)
    with pytest.raises(TypeError, match="requires an integer input type"):
        cr.iinfo(cr.float32)
    x = cr.ones(3)
    assert float((x * cr.finfo(x.dtype).max).max()) == float(np.finfo(np.float32).max)


def test_size_is_a_tuple_with_numel() -> None:
    torch = _torch()
    assert cr.Size([2, 3]).numel() == torch.Size([2, 3]).numel() == 6
    assert cr.Size([]).numel() == 1 and cr.Size([4, 0]).numel() == 0
    x = cr.zeros(2, 3, 4)
    assert isinstance(x.shape, cr.Size) and isinstance(x.size(), cr.Size)
    assert x.shape == (2, 3, 4) == torch.zeros(2, 3, 4).shape and x.size(1) == 3
    assert x.shape.numel() == x.numel() == 24
    assert hash(x.shape) == hash((2, 3, 4)) and str(x.shape) == "(2, 3, 4)"
    assert cr.zeros(x.shape).shape == (2, 3, 4) and cr.ones(cr.Size([5])).numel() == 5
    assert pickle.loads(pickle.dumps(x.shape)) == (2, 3, 4)


def test_num_threads_sets_the_blas_pool() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = cr.get_num_threads()
    try:
        cr.set_num_threads(1)
        assert cr.get_num_threads() == 1
        blas = [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]
        assert blas and max(blas) == 1
    finally:
        cr.set_num_threads(before)
    assert cr.get_num_threads() == before
    with pytest.raises(ValueError, match="positive integer"):
        cr.set_num_threads(0)


def test_deterministic_algorithms_recorded() -> None:
    assert cr.are_deterministic_algorithms_enabled() is False
    try:
        cr.use_deterministic_algorithms(True, warn_only=True)
        assert cr.are_deterministic_algorithms_enabled() is True
        assert cr.is_deterministic_algorithms_warn_only_enabled() is True
        cr.manual_seed(0)  # and chainrule is deterministic: same seed, same bits
        a = cr.randn(50, 50)
        first = (a @ a).numpy()
        cr.manual_seed(0)
        b = cr.randn(50, 50)
        assert np.array_equal(first, (b @ b).numpy())
    finally:
        cr.use_deterministic_algorithms(False)
    assert cr.are_deterministic_algorithms_enabled() is False
    with pytest.raises(TypeError, match="expected a bool"):
        cr.use_deterministic_algorithms("yes")  # type: ignore[arg-type]
