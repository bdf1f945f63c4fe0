"""The array-module seam, enforced: the core, ``nn`` and ``optim`` reach NumPy only through
``chainrule.backend`` (so a GPU array library touches ``backend.py`` alone), and a training step
really goes through it."""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import backend, nn

SRC = Path(cr.__file__).parent
PACKAGES = ("ops", "autograd", "nn", "optim")

#: modules allowed to import NumPy directly, with the reason. nn/ and optim/ need none.
ALLOWED: dict[str, str] = {
    "chainrule.ops.samples": "sample data for the registry sweep: NumPy on the CPU by design",
    "chainrule.nn.samples": "the module sweep's sample data: NumPy arrays on the CPU, by design",
}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((SRC / pkg).rglob("*.py")):
            rel = path.relative_to(SRC.parent).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out[".".join(parts)] = path
    return out


def _numpy_imports(path: Path) -> list[str]:
    """``import numpy`` / ``from numpy[.x] import ...`` anywhere in the file (also in
    functions), as ``line: statement``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(n == "numpy" or n.startswith("numpy.") for n in names):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_numpy_imports_outside_the_allow_list() -> None:
    modules = _modules()
    assert any(m.startswith("chainrule.nn.") for m in modules)  # the walk found the packages
    bad = {m: hits for m, p in modules.items() if m not in ALLOWED
           and (hits := _numpy_imports(p))}
    assert not bad, ("these modules import NumPy directly; take the array module from "
                     "chainrule.backend (backend.get_array_module(arr), backend.xp, dtype "
                     f"constants) or add a {{module: reason}} entry to ALLOWED: {bad}")


def test_allow_list_has_no_stale_entries() -> None:
    modules = _modules()
    stale = [m for m in ALLOWED if m not in modules or not _numpy_imports(modules[m])]
    assert not stale, f"these modules no longer import NumPy: remove them from ALLOWED: {stale}"


def test_nn_and_optim_need_no_allow_list_entry() -> None:
    """Only the module sweep's sample data (CPU test arrays by design) may import NumPy there."""
    assert not [m for m in ALLOWED if m.startswith(("chainrule.nn", "chainrule.optim"))
                and m != "chainrule.nn.samples"]


@pytest.mark.parametrize("value", [
    np.zeros(3), np.float32(1.5), np.int64(2), 1.0, 3, True, cr.tensor([1.0, 2.0])._data,
    cr.zeros(2, 2, dtype=cr.float32)._data,
], ids=["ndarray", "float32 scalar", "int64 scalar", "float", "int", "bool", "tensor data",
        "float32 tensor data"])
def test_get_array_module_is_numpy_on_the_cpu(value: Any) -> None:
    assert backend.get_array_module(value) is np
    assert backend.get_array_module(1.0, value) is np


def test_get_array_module_without_arrays_is_the_default() -> None:
    assert backend.get_array_module() is backend.xp is np


def test_to_numpy_returns_numpy_arrays_without_copying_them() -> None:
    a = np.arange(3.0)
    assert backend.to_numpy(a) is a
    assert isinstance(backend.to_numpy(2.5), np.ndarray)


class _CountingModule:
    """A stand-in array module: forwards every attribute to NumPy and counts, per calling
    module, how often it is asked."""

    def __init__(self, counts: Counter) -> None:
        self._counts = counts

    def __getattr__(self, name: str) -> Any:
        self._counts["xp@" + sys._getframe(1).f_globals["__name__"]] += 1
        return getattr(np, name)


def _train(model: nn.Module, opt_cls: type, **kw: Any) -> list[float]:
    x = cr.tensor(np.random.default_rng(1).standard_normal((8, 4)))
    y = np.random.default_rng(2).standard_normal((8, 3))  # an array target: nn makes it one
    opt = opt_cls(model.parameters(), **kw)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return losses


@pytest.mark.parametrize("opt_cls, kw", [(cr.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
                                         (cr.optim.Adam, {"lr": 0.01})], ids=["SGD", "Adam"])
def test_a_training_step_goes_through_the_seam(monkeypatch: pytest.MonkeyPatch, opt_cls: type,
                                               kw: dict) -> None:
    cr.manual_seed(0)
    expected = _train(nn.Linear(4, 3, dtype=cr.float64), opt_cls, **kw)

    counts: Counter = Counter()
    proxy = _CountingModule(counts)

    def get_array_module(*arrays: Any) -> Any:
        counts["get_array_module@" + sys._getframe(1).f_globals["__name__"]] += 1
        return proxy

    monkeypatch.setattr(backend, "get_array_module", get_array_module)
    monkeypatch.setattr(backend, "xp", proxy)
    cr.manual_seed(0)
    got = _train(nn.Linear(4, 3, dtype=cr.float64), opt_cls, **kw)

    assert got == expected  # the proxy only forwards: same numbers
    callers = {k.split("@")[1] for k in counts}
    opt_module = opt_cls.__module__
    for module in (opt_module, "chainrule.optim.optimizer", "chainrule.nn.init",
                   "chainrule.nn.functional.loss"):
        assert module in callers, f"{module} did not go through the seam: {dict(counts)}"
    # once per parameter and step: in the optimiser's own loop, or in the shared one
    # (Optimizer._with_grads) that most optimisers iterate
    assert (counts[f"get_array_module@{opt_module}"]
            + counts["get_array_module@chainrule.optim.optimizer"]) >= 6


# --- a whole computation through a second array library ----------------------------------------


class ProxyArray(np.ndarray):
    """The array type of a fake second array library (a thin NumPy subclass), registered in
    ``backend._MODULES``: the entry points hand its module to the forwards."""


class _ProxyModule:
    """The fake library's module: NumPy's functions, counted per calling module, with NumPy
    arrays they return re-labelled as ``ProxyArray`` (ufuncs keep the subclass by themselves)."""

    ndarray = ProxyArray

    def __init__(self, counts: Counter) -> None:
        self._counts = counts

    def __getattr__(self, name: str) -> Any:
        attr = getattr(np, name)
        if isinstance(attr, (np.ufunc, type)) or not callable(attr):
            self._counts[sys._getframe(1).f_globals["__name__"]] += 1
            return attr
        counts = self._counts

        def call(*args: Any, **kwargs: Any) -> Any:
            counts[sys._getframe(1).f_globals["__name__"]] += 1
            out = attr(*args, **kwargs)
            return out.view(ProxyArray) if type(out) is np.ndarray else out
        return call


def _every_family(x: Any, w: Any, b: Any, t: Any) -> Any:
    """A small graph through every op family (elementwise, reduce, shape, indexing, linalg,
    fused, losses, normalization), to a scalar."""
    F = nn.functional
    h = F.linear(x, w, b)                                               # fused: (4, 3)
    h = cr.tanh(h) * F.sigmoid(h) + F.softplus(h) - F.relu(h).exp()    # elementwise
    h = F.layer_norm(h, (3,)) + F.batch_norm(h, None, None, training=True)  # normalization
    h = cr.cat([h, cr.flip(h, 0)], 1).reshape(4, 2, 3).permute(1, 0, 2)     # shape: (2, 4, 3)
    h = F.pad(cr.stack([h[0], h[1]], 0), (1, 1))                          # (2, 4, 5)
    g = cr.gather(h, 2, cr.tensor(np.array([[[0, 4]] * 4] * 2)))           # indexing: (2, 4, 2)
    h2 = h[:, [0, 2, 2]] + cr.einsum("bij,bkj->bik", h, h)[:, :3, :1]      # linalg: (2, 3, 5)
    m = cr.matmul(h2, h2.transpose(1, 2)).sum(0)                           # (3, 3)
    r = (cr.logsumexp(m, 1).mean() + cr.amax(g, (1, 2)).sum() + cr.var(h2)
         + F.softmax(m, 1).sum() * 0.5 + F.log_softmax(m, 0)[0].mean())    # reduce, fused
    return (r + F.cross_entropy(m, t) + F.mse_loss(m, m.detach() * 0.5)
            + F.binary_cross_entropy_with_logits(m, (m.detach() > 0).float()))   # losses


def _run_every_family(make: Any) -> tuple[list, list]:
    rng = np.random.default_rng(3)
    x, w, b = (cr.tensor(make(rng.standard_normal(s)), requires_grad=True)
               for s in ((4, 5), (3, 5), (3,)))
    t = cr.tensor(make(np.array([0, 2, 1])))
    loss = _every_family(x, w, b, t)
    gx, gw = cr.autograd.grad(loss, [x, w], create_graph=True)   # first order, a graph
    (gx * gx).sum().backward()                                  # second order
    first = [loss._data, gx._data, gw._data]
    return first, [p.grad._data for p in (x, w, b)]


def test_a_computation_through_every_op_family_goes_through_the_seam(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """With a second array library registered, forwards, vjps (first order on arrays, second
    order on Tensors) and the helpers they call all run on its module, with the same numbers."""
    from chainrule.autograd.node import Node
    from chainrule.ops.namespace import array_namespace

    expected = _run_every_family(lambda a: a)

    counts: Counter = Counter()
    proxy = _ProxyModule(counts)
    monkeypatch.setitem(backend._MODULES, ProxyArray, proxy)
    monkeypatch.setattr(Node, "xp", array_namespace(proxy))  # the vjps' namespace for this module
    got = _run_every_family(lambda a: a.view(ProxyArray))

    assert type(got[0][0]) is ProxyArray  # the forward ran on the proxy library end to end
    # (gradients may come back as NumPy arrays: the engine, not yet on the seam, copies them)
    for e_list, g_list in zip(expected, got):
        for e, g in zip(e_list, g_list):
            assert np.array_equal(np.asarray(e), np.asarray(g))  # the same numbers, bit for bit
    for module in ("elementwise", "arrays", "reduce", "shape", "indexing", "linalg", "fused",
                   "losses", "normalization"):
        assert counts[f"chainrule.ops.{module}"], (
            f"chainrule.ops.{module} did not go through the seam: {dict(counts)}")
