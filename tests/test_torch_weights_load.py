"""PyTorch weights load (issue 8 item 5): for every layer of the module sweep that ``torch.nn``
also has, PyTorch's module is built, its weights moved off their initial values, and its
``state_dict`` loaded into chainrule's module (as NumPy arrays, and through a safetensors file
written by ``safetensors.torch.save_file`` and read by ``cr.io.load_safetensors``): the outputs,
the input and parameter gradients and the buffers after the call must agree in float64."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from tests.test_module_sweep import (
    NAMES,
    _torch_inputs,
    build,
    build_torch,
    inputs_of,
    modes,
    run,
    sample_of,
    torch_class,
)

try:
    import torch
except ImportError:
    torch = None


def _torch_module(name: str) -> Any:
    if torch is None:
        pytest.skip("torch is not installed")
    s = sample_of(name)
    if torch_class(name) is None or not s.torch:
        pytest.skip(f"torch.nn has no {name} to load from")
    torch.manual_seed(0)
    theirs = build_torch(name, s).double()
    rng = np.random.default_rng(3)
    with torch.no_grad():  # off the initial values (ones, zeros), so swapped names show
        for k, v in theirs.state_dict().items():
            if v.dtype.is_floating_point:
                bump = torch.from_numpy(0.2 * rng.standard_normal(tuple(v.shape))).to(v.dtype)
                v.copy_(v.abs() + bump.abs() if "running_var" in k else v + bump)
    return s, theirs


def _compare(name: str, s: Any, ours: Any, theirs: Any) -> None:
    for mode in [False] if s.random else modes(s):
        ours.train(mode)
        theirs.train(mode)
        xo, xt = inputs_of(s), _torch_inputs(s)
        yo, yt = run(ours, s, xo), run(theirs, s, xt)
        np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=s.rtol,
                                   atol=1e-10, err_msg=f"{name} output (training={mode})")
        u = np.random.default_rng(1).standard_normal(tuple(yo.shape))
        ours.zero_grad()
        theirs.zero_grad()
        yo.backward(cr.tensor(u))
        yt.backward(torch.tensor(u))
        for i, (a, b) in enumerate(zip(xo, xt)):
            if a.requires_grad:
                np.testing.assert_allclose(a.grad.detach().numpy(), b.grad.numpy(), rtol=s.rtol,
                                           atol=1e-10, err_msg=f"{name} input {i} gradient")
        tp = dict(theirs.named_parameters())
        for k, p in ours.named_parameters():
            gt = tp[k].grad
            if gt is None:
                assert p.grad is None or not p.grad.detach().numpy().any(), f"{name}.{k}"
                continue
            np.testing.assert_allclose(p.grad.detach().numpy(), gt.numpy(), rtol=s.rtol, atol=1e-10,
                                       err_msg=f"{name}.{k} gradient (training={mode})")
        tb = dict(theirs.named_buffers())
        for k, b in ours.named_buffers():
            np.testing.assert_allclose(b.detach().numpy(), tb[k].numpy(), rtol=s.rtol, atol=1e-10,
                                       err_msg=f"{name} buffer {k}")


@pytest.mark.parametrize("name", NAMES)
def test_torch_state_dict_as_arrays_loads(name: str) -> None:
    s, theirs = _torch_module(name)
    ours = build(name, s, seed=5).double()
    result = ours.load_state_dict({k: cr.tensor(v.detach().numpy().copy())
                                   for k, v in theirs.state_dict().items()})
    assert not result.missing_keys and not result.unexpected_keys
    _compare(name, s, ours, theirs)


@pytest.mark.parametrize("name", NAMES)
def test_torch_safetensors_file_loads(name: str, tmp_path: Path) -> None:
    s, theirs = _torch_module(name)
    st = pytest.importorskip("safetensors.torch")
    path = tmp_path / f"{name}.safetensors"
    sd = {k: v.detach().contiguous().clone() for k, v in theirs.state_dict().items()}
    st.save_file(sd, str(path))
    ours = build(name, s, seed=5).double()
    ours.load_state_dict(cr.io.load_safetensors(path))
    _compare(name, s, ours, theirs)
