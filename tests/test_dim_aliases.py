"""NumPy's ``axis=`` (and ``keepdims=``) wherever PyTorch accepts them: every public function and
Tensor method with a ``dim`` parameter is probed in torch, and where torch takes ``axis=`` ours
must too, with the same result as ``dim=``; ``dim`` and ``axis`` together is a clear error."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops.public import PUBLIC
from tests.helpers import require_torch

DIM = 1
# positional arguments before ``dim`` and keyword arguments after it, per function
PRE: dict[str, tuple] = {"chunk": (2,), "split": (1,), "topk": (1,), "norm": (2,)}
POST: dict[str, dict[str, Any]] = {
    "gather": {"index": np.zeros((2, 3), np.int64)},
    "scatter_add": {"index": np.zeros((2, 3), np.int64), "src": "x"},
    "index_select": {"index": np.array([0])},
    "narrow": {"start": 0, "length": 1},
    "unflatten": {"sizes": (3, 1)},
}
SEQUENCE = {"cat", "stack"}
# torch takes axis= here and chainrule does not yet (dim comes before required arguments)
NOT_YET = {"gather", "index_select", "narrow", "scatter_add", "unflatten"}

NAMES = sorted(n for n, e in PUBLIC.items()
               if "dim" in inspect.signature(e.fn).parameters and e.export)


def _call(lib: Any, fn: Any, name: str, x: Any, how: dict[str, Any]) -> Any:
    post = {k: (x if isinstance(v, str) else lib.tensor(v) if isinstance(v, np.ndarray) else v)
            for k, v in POST.get(name, {}).items()}
    first = [x, x] if name in SEQUENCE else x
    return fn(first, *PRE.get(name, ()), **how, **post)


def _torch_takes_axis(torch: Any, fn: Any, name: str, x: Any) -> bool:
    try:
        _call(torch, fn, name, x, {"axis": DIM})
    except (TypeError, RuntimeError):
        return False
    return True


def _arrays(r: Any) -> list:
    if isinstance(r, (tuple, list)):
        return [a for v in r for a in _arrays(v)]
    return [np.asarray(r.detach().numpy() if hasattr(r, "detach") else r)]


def _x(lib: Any) -> Any:
    return lib.tensor(np.arange(6.0).reshape(2, 3) * np.array([1.0, -1.0, 0.5]))


def _method(m: str) -> Any:
    return lambda t, *a, **k: getattr(t, m)(*a, **k)


@pytest.mark.parametrize("name", NAMES)
def test_axis_where_torch_takes_it(name: str) -> None:
    torch = require_torch()
    tfn = getattr(torch, name, None)
    ours = PUBLIC[name].fn
    if tfn is None or not _torch_takes_axis(torch, tfn, name, _x(torch)):
        return
    if name in NOT_YET:
        with pytest.raises(TypeError):
            _call(cr, ours, name, _x(cr), {"axis": DIM})
        return
    want = _arrays(_call(cr, ours, name, _x(cr), {"dim": DIM}))
    got = _arrays(_call(cr, ours, name, _x(cr), {"axis": DIM}))
    theirs = _arrays(_call(torch, tfn, name, _x(torch), {"axis": DIM}))
    for a, b, c in zip(got, want, theirs):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=1e-6)
    with pytest.raises(TypeError, match=f"{name}: got both dim=1 and axis=0"):
        _call(cr, ours, name, _x(cr), {"dim": DIM, "axis": 0})
    for m in PUBLIC[name].methods:  # the Tensor method, where torch's takes axis= too
        if name in SEQUENCE or not hasattr(torch.Tensor, m):
            continue
        method = _method(m)
        try:
            _call(torch, method, name, _x(torch), {"axis": DIM})
        except (TypeError, RuntimeError):
            continue
        got = _arrays(_call(cr, method, name, _x(cr), {"axis": DIM}))
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)


def test_keepdims_alias_on_reductions() -> None:
    x = cr.randn(2, 3)
    for name in ("sum", "mean", "amax", "amin", "prod", "std", "var", "logsumexp", "argmax"):
        a = getattr(cr, name)(x, axis=1, keepdims=True)
        b = getattr(cr, name)(x, dim=1, keepdim=True)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert x.max(axis=0, keepdims=True).values.shape == (1, 3)


def test_the_aliases_of_cat() -> None:
    x = cr.ones(2, 3)
    for f in (cr.cat, cr.concat, cr.concatenate):
        assert f([x, x], axis=1).shape == (2, 6)
