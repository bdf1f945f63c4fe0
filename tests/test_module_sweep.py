"""The module sweep: every public ``nn.Module`` subclass that ``chainrule.nn`` exports, built from
the ``_sample`` it declares (``chainrule/nn/samples.py``), goes through one generic check:
finite differences for inputs and parameters, state_dict round trip (keys and shapes as
PyTorch's), dtype moves, train/eval, and PyTorch parity with copied weights. A new layer is
covered by writing its class, ``_sample`` included."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
from chainrule.nn.samples import ModuleSample

try:
    import torch
except ImportError:  # parity and key checks skip; everything else runs
    torch = None


def public_modules() -> dict[str, type]:
    """Every Module subclass exported by ``chainrule.nn``, once per class (aliases such as
    ``Heaviside = Step`` are the same class)."""
    out: dict[str, type] = {}
    for name in dir(nn):
        obj = getattr(nn, name)
        if isinstance(obj, type) and issubclass(obj, nn.Module) and obj is not nn.Module:
            out.setdefault(obj.__name__, obj)
    return dict(sorted(out.items()))


MODULES = public_modules()
NAMES = list(MODULES)


def sample_of(name: str) -> ModuleSample:
    cls = MODULES[name]
    assert "_sample" in vars(cls), (f"nn.{name} declares no _sample classmethod: add one "
                                    "(see docs/layers.md)")
    s = cls._sample(np.random.default_rng(0))
    assert isinstance(s, ModuleSample), f"{name}._sample returned {type(s).__name__}"
    return s


def _conv_cr(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return cr.tensor(v, dtype=cr.get_default_dtype() if v.dtype.kind == "f" else None)
    return v


def build(name: str, s: ModuleSample, seed: int = 0) -> nn.Module:
    """A new instance (parameters drawn after ``cr.manual_seed(seed)``)."""
    cr.manual_seed(seed)
    if s.build is not None:
        return s.build(nn)
    return MODULES[name](*map(_conv_cr, s.args), **{k: _conv_cr(v) for k, v in s.kwargs.items()})


def torch_class(name: str) -> Any:
    if torch is None:
        return None
    c = getattr(torch.nn, name, None)
    return c if isinstance(c, type) and issubclass(c, torch.nn.Module) else None


def build_torch(name: str, s: ModuleSample) -> Any:
    if s.build is not None:
        return s.build(torch.nn)

    def conv(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return torch.tensor(v, dtype=torch.float32 if v.dtype.kind == "f" else None)
        return v
    args = s.args if s.torch_args is None else s.torch_args
    kwargs = s.kwargs if s.torch_kwargs is None else s.torch_kwargs
    return torch_class(name)(*map(conv, args), **{k: conv(v) for k, v in kwargs.items()})


def grad_positions(s: ModuleSample) -> list[int]:
    floating = [i for i, x in enumerate(s.inputs) if np.asarray(x).dtype.kind == "f"]
    return floating if s.grad is None else [i for i in s.grad if i in floating]


def inputs_of(s: ModuleSample, dtype: Any = np.float64, requires_grad: bool = True) -> list:
    diff = grad_positions(s)
    return [cr.tensor(np.asarray(x, dtype=dtype), requires_grad=requires_grad and i in diff)
            if np.asarray(x).dtype.kind == "f" else cr.tensor(np.asarray(x))
            for i, x in enumerate(s.inputs)]


def run(m: Any, s: ModuleSample, inputs: list) -> Any:
    return s.call(m, *inputs) if s.call is not None else m(*inputs)


def jitter(m: nn.Module, seed: int = 7) -> None:
    """Move every floating parameter off its initial value (ones, zeros) so that swapped or
    ignored parameters show."""
    rng = np.random.default_rng(seed)
    params = dict(m.named_parameters())
    sd = m.state_dict()
    for k, v in sd.items():
        if k in params and v.dtype.kind == "f":
            sd[k] = cr.tensor(v.numpy() + 0.2 * rng.standard_normal(v.shape))
    m.load_state_dict(sd)


def modes(s: ModuleSample) -> list[bool]:
    """The training modes worth checking: both when the output depends on it."""
    return [True, False] if s.mode_dependent else [True]


@contextlib.contextmanager
def parameters_replaced(m: nn.Module, names: list[str], tensors: tuple) -> Iterator[None]:
    """Run the module with ``tensors`` in place of the named parameters (for gradcheck)."""
    slots = []
    for name, t in zip(names, tensors):
        owner, _, leaf = name.rpartition(".")
        mod = m.get_submodule(owner)
        slots.append((mod, leaf, mod._parameters[leaf]))
        mod._parameters[leaf] = t
    try:
        yield
    finally:
        for mod, leaf, old in slots:
            mod._parameters[leaf] = old


# --- every layer declares its sample ---------------------------------------------------------


def test_every_public_module_declares_a_sample() -> None:
    missing = [n for n, c in MODULES.items() if "_sample" not in vars(c)]
    assert not missing, (
        f"nn classes without a sample for the module sweep: {missing}. Give each its own "
        "classmethod `_sample(cls, rng) -> ModuleSample` (chainrule/nn/samples.py) returning "
        "the constructor arguments of a small instance and the inputs of one call, e.g. "
        "`return ModuleSample(args=(3, 2), inputs=(rng.standard_normal((4, 3)),))`; "
        "tests/test_module_sweep.py then checks it like every other layer.")


def test_sweep_sees_every_layer() -> None:
    """The enumeration finds what nn exports (a guard against an empty or broken sweep)."""
    assert {"Linear", "BatchNorm1d", "Dropout", "Sequential", "CrossEntropyLoss",
            "Step"} <= set(MODULES)
    assert "Heaviside" not in MODULES  # an alias of Step, swept once


# --- the generic check -----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_gradients_match_finite_differences(name: str) -> None:
    check_gradients_match_finite_differences(name, sample_of(name))


def check_gradients_match_finite_differences(name: str, s: ModuleSample) -> None:
    m = build(name, s).double()
    jitter(m)
    inputs = inputs_of(s)
    named = [(k, p) for k, p in m.named_parameters() if p.requires_grad]
    pnames = [k for k, _ in named]
    xs = [x for x in inputs if x.requires_grad]
    ts = xs + [cr.tensor(p.detach().numpy().copy(), requires_grad=True) for _, p in named]
    if not ts:
        pytest.skip(f"{name}: nothing to differentiate")
    for mode in modes(s):
        m.train(mode)
        with cr.no_grad():
            cr.manual_seed(0)
            shape = run(m, s, inputs).shape
        u = cr.tensor(np.random.default_rng(1).standard_normal(shape))

        def fn(*tensors: Any, u: Any = u) -> Any:
            it = iter(tensors[:len(xs)])
            args = [next(it) if x.requires_grad else x for x in inputs]
            with parameters_replaced(m, pnames, tensors[len(xs):]):
                cr.manual_seed(0)  # the same dropout mask in every call
                return (run(m, s, args) * u).sum()

        assert cr.autograd.gradcheck(fn, ts, eps=1e-6, atol=s.atol, rtol=1e-4), (name, mode)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip(name: str) -> None:
    check_state_dict_round_trip(name, sample_of(name))


def check_state_dict_round_trip(name: str, s: ModuleSample) -> None:
    a = build(name, s, seed=0).double()
    jitter(a)
    x = inputs_of(s, requires_grad=False)
    if s.mode_dependent and not s.random:
        run(a, s, x)  # a training step moves the running statistics
    b = build(name, s, seed=1).double()
    b.load_state_dict(a.state_dict())
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        np.testing.assert_array_equal(sa[k].numpy(), sb[k].numpy(), err_msg=k)
    for m in (a, b):
        m.eval()
    np.testing.assert_array_equal(run(a, s, x).detach().numpy(), run(b, s, x).detach().numpy())
    if torch_class(name) is not None and s.torch:
        theirs = build_torch(name, s).state_dict()
        assert [(k, tuple(v.shape)) for k, v in sa.items()] == \
            [(k, tuple(v.shape)) for k, v in theirs.items()], f"{name}: keys differ from torch's"


@pytest.mark.parametrize("name", NAMES)
def test_dtype_moves(name: str) -> None:
    check_dtype_moves(name, sample_of(name))


def check_dtype_moves(name: str, s: ModuleSample) -> None:
    m = build(name, s)
    ids = [id(t) for t in (*m.parameters(), *m.buffers())]

    def check(dtype: Any) -> None:
        for k, t in (*m.named_parameters(), *m.named_buffers()):
            if k.endswith("num_batches_tracked"):
                assert t.dtype == np.int64, k
            else:
                assert t.dtype == dtype, f"{name}.{k}: {t.dtype}, expected {dtype}"
        with cr.no_grad():
            cr.manual_seed(0)
            y = run(m, s, inputs_of(s, dtype, requires_grad=False))
        assert y.dtype == dtype, f"{name}: output {y.dtype} for {dtype} module and input"

    check(np.float32)
    m.to(cr.float64)
    check(np.float64)
    m.float()
    check(np.float32)
    m.double()
    check(np.float64)
    m.half()
    check(np.float16)  # regression: GELU answered float16 input in float64 (SciPy's erf)
    m.to(dtype=cr.float32)
    check(np.float32)
    assert ids == [id(t) for t in (*m.parameters(), *m.buffers())]  # the same objects


@pytest.mark.parametrize("name", NAMES)
def test_train_eval(name: str) -> None:
    check_train_eval(name, sample_of(name))


def check_train_eval(name: str, s: ModuleSample) -> None:
    m = build(name, s).double()
    jitter(m)
    x = inputs_of(s, requires_grad=False)

    def out(training: bool) -> np.ndarray:
        m.train(training)
        assert all(sub.training is training for sub in m.modules())
        cr.manual_seed(0)
        return run(m, s, x).detach().numpy()

    train, evaluated = out(True), out(False)
    assert m.eval() is m and not m.training and m.train() is m and m.training
    if s.mode_dependent:
        assert not np.allclose(train, evaluated), f"{name}: eval output equals training output"
    else:
        np.testing.assert_array_equal(train, evaluated, err_msg=f"{name} depends on the mode; "
                                      "set mode_dependent=True in its _sample if it should")


def _torch_inputs(s: ModuleSample) -> list:
    diff = grad_positions(s)
    return [torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=i in diff)
            if np.asarray(x).dtype.kind == "f" else torch.tensor(np.asarray(x))
            for i, x in enumerate(s.inputs)]


@pytest.mark.parametrize("name", NAMES)
def test_torch_parity(name: str) -> None:
    check_torch_parity(name, sample_of(name))


def check_torch_parity(name: str, s: ModuleSample) -> None:
    if torch is None:
        pytest.skip("torch is not installed")
    if torch_class(name) is None or not s.torch:
        pytest.skip(f"torch.nn has no {name} to compare with")
    ours = build(name, s).double()
    jitter(ours)
    theirs = build_torch(name, s).double()
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                            for k, v in ours.state_dict().items()})
    for mode in [False] if s.random else modes(s):
        ours.train(mode)
        theirs.train(mode)
        xo, xt = inputs_of(s), _torch_inputs(s)
        yo, yt = run(ours, s, xo), run(theirs, s, xt)
        rtol = s.rtol
        np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=rtol,
                                   atol=1e-10, err_msg=f"{name} output (training={mode})")
        u = np.random.default_rng(1).standard_normal(yo.shape)
        ours.zero_grad()
        theirs.zero_grad()
        yo.backward(cr.tensor(u))
        yt.backward(torch.tensor(u))
        for i, (a, b) in enumerate(zip(xo, xt)):
            if a.requires_grad:
                np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol,
                                           atol=1e-10, err_msg=f"{name} input {i} gradient")
        tp = dict(theirs.named_parameters())
        for k, p in ours.named_parameters():
            g, gt = p.grad, tp[k].grad
            if gt is None:
                assert g is None or not g.numpy().any(), f"{name}.{k}: torch has no gradient"
                continue
            assert g is not None, f"{name}.{k}: no gradient"
            np.testing.assert_allclose(g.numpy(), gt.numpy(), rtol=rtol, atol=1e-10,
                                       err_msg=f"{name}.{k} gradient (training={mode})")
        tb = dict(theirs.named_buffers())
        for k, b in ours.named_buffers():
            np.testing.assert_allclose(b.numpy(), tb[k].numpy(), rtol=rtol, atol=1e-10,
                                       err_msg=f"{name} buffer {k}")


@pytest.mark.parametrize("name", NAMES)
def test_repr_matches_torch(name: str) -> None:
    """PyTorch's names and reprs: the same constructor arguments print the same (tensor type
    names aside: ``[torch.float32 of size 2x3]``)."""
    check_repr_matches_torch(name, sample_of(name))


def check_repr_matches_torch(name: str, s: ModuleSample) -> None:
    if torch is None:
        pytest.skip("torch is not installed")
    if torch_class(name) is None or not s.torch:
        pytest.skip(f"torch.nn has no {name} to compare with")

    def norm(text: str) -> str:
        return re.sub(r"\[\S+ of size", "[tensor of size", text)
    assert norm(repr(build(name, s))) == norm(repr(build_torch(name, s)))
