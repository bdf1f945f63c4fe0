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

_TODO = "TODO seam: converted with the registry rewrite"
#: modules allowed to import NumPy directly, with the reason. nn/ and optim/ need none.
ALLOWED: dict[str, str] = {
    "chainrule.autograd.engine": _TODO,
    "chainrule.autograd.tensor": _TODO,
    "chainrule.ops.registry": _TODO,
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
    assert counts[f"get_array_module@{opt_module}"] >= 6  # once per parameter and step
