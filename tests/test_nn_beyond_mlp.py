"""InstanceNorm1d/2d/3d, ConvTranspose3d, the lazy layers and CrossMapLRN2d against PyTorch,
beyond the module sweep's one sample each: PyTorch state_dicts load (also into uninitialised
lazy layers) and give PyTorch's outputs, gradients and running statistics; lazy layers infer
their sizes, become the concrete class and refuse a second, different input size; the options
and errors PyTorch has."""

from __future__ import annotations

import copy
import pickle
import warnings
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)


def randn(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def _jittered(theirs: Any) -> Any:
    """torch's module in float64 with its floating state moved off the initial values."""
    theirs.double()
    rng = np.random.default_rng(3)
    with torch.no_grad():
        for k, v in theirs.state_dict().items():
            if v.dtype.is_floating_point:
                bump = torch.from_numpy(0.3 * rng.standard_normal(tuple(v.shape)))
                v.copy_(v.abs() + bump.abs() if "running_var" in k else v + bump)
    return theirs


def _load(ours: Any, theirs: Any) -> Any:
    res = ours.load_state_dict({k: cr.tensor(v.detach().numpy().copy())
                                for k, v in theirs.state_dict().items()})
    assert not res.missing_keys and not res.unexpected_keys
    return ours


def _agree(ours: Any, theirs: Any, x: np.ndarray, training: bool = True, **kw: Any) -> None:
    """The same output, input and parameter gradients, and buffers after the call."""
    ours.train(training)
    theirs.train(training)
    xo, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo, **kw), theirs(xt, **kw)
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=1e-9, atol=1e-12)
    u = np.random.default_rng(1).standard_normal(tuple(yt.shape))
    yo.backward(cr.tensor(u))
    yt.backward(torch.tensor(u))
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    tp = dict(theirs.named_parameters())
    for k, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[k].grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=k)
    tb = dict(theirs.named_buffers())
    for k, b in ours.named_buffers():
        np.testing.assert_allclose(b.numpy(), tb[k].numpy(), rtol=1e-9, atol=1e-12, err_msg=k)


# --- instance norms ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls, shape", [
    ("InstanceNorm1d", (3, 4, 5)), ("InstanceNorm1d", (4, 5)),
    ("InstanceNorm2d", (2, 4, 3, 2)), ("InstanceNorm2d", (4, 3, 2)),
    ("InstanceNorm3d", (2, 4, 2, 3, 2)), ("InstanceNorm3d", (4, 2, 3, 2)),
])
@pytest.mark.parametrize("kw", [{}, {"affine": True}, {"affine": True, "bias": False},
                                {"track_running_stats": True, "momentum": 0.3},
                                {"affine": True, "track_running_stats": True, "momentum": None}])
def test_instance_norm_state_dict_from_torch(cls: str, shape: tuple, kw: dict) -> None:
    theirs = _jittered(getattr(torch.nn, cls)(4, **kw))
    ours = _load(getattr(nn, cls)(4, **kw).double(), theirs)
    assert repr(ours) == repr(theirs)
    x = randn(*shape) * 2 + 1
    for training in (True, False):
        _agree(ours, theirs, x, training)


def test_instance_norm_checks_as_torch() -> None:
    with pytest.raises(ValueError, match=r"InstanceNorm3d: expected 4D or 5D input \(got 3D"):
        nn.InstanceNorm3d(2)(cr.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"InstanceNorm1d: expected 2D or 3D input \(got 4D"):
        nn.InstanceNorm1d(2)(cr.randn(2, 2, 3, 4))
    with pytest.raises(ValueError, match=r"size at dim=1 to match num_features \(3\), but got: 2"):
        nn.InstanceNorm1d(3, affine=True)(cr.randn(4, 2, 5))
    with pytest.raises(ValueError, match=r"size at dim=0 to match num_features \(3\), but got: 2"):
        nn.InstanceNorm2d(3, affine=True)(cr.randn(2, 4, 5))
    with pytest.warns(UserWarning, match="does not match num_features"):
        y = nn.InstanceNorm1d(3)(cr.randn(4, 2, 5))  # not used without affine: a warning
    assert y.shape == (4, 2, 5)
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        nn.InstanceNorm1d(3)(cr.randn(4, 3, 1))
    nn.InstanceNorm1d(3, track_running_stats=True).eval()(cr.randn(4, 3, 1))  # running stats


def test_instance_norm_momentum_none_keeps_running_stats_as_torch() -> None:
    m = nn.InstanceNorm2d(3, track_running_stats=True, momentum=None)
    m(cr.randn(2, 3, 4, 4) * 3 + 2)
    np.testing.assert_array_equal(m.running_mean.numpy(), np.zeros(3))
    np.testing.assert_array_equal(m.running_var.numpy(), np.ones(3))


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 2, 3, 2), (1, 2, 7)])
def test_functional_instance_norm_3d_and_5d(shape: tuple) -> None:
    x, w, b = randn(*shape), randn(shape[1]), randn(shape[1])
    rm, rv = randn(shape[1]), np.abs(randn(shape[1])) + 0.5
    stats = {"ours": (cr.tensor(rm), cr.tensor(rv)),
             "theirs": (torch.tensor(rm), torch.tensor(rv))}
    xo, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo = F.instance_norm(xo, *stats["ours"], cr.tensor(w), cr.tensor(b), momentum=0.2)
    yt = torch.nn.functional.instance_norm(xt, *stats["theirs"], torch.tensor(w),
                                           torch.tensor(b), momentum=0.2)
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=1e-9, atol=1e-12)
    yo.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-10)
    for a, t in zip(stats["ours"], stats["theirs"]):
        np.testing.assert_allclose(a.numpy(), t.numpy(), rtol=1e-9)
    with pytest.raises(ValueError, match=r"instance_norm: .*more than 1 spatial element"):
        F.instance_norm(cr.randn(2, 3, 1, 1))


# --- ConvTranspose3d --------------------------------------------------------------------------


@pytest.mark.parametrize("args, kw, shape", [
    ((4, 6, 3), {}, (2, 4, 3, 2, 3)),
    ((4, 6, (2, 3, 1)), {"stride": 2, "padding": 1, "output_padding": 1, "groups": 2},
     (2, 4, 3, 3, 2)),
    ((2, 3, 2), {"dilation": (2, 1, 1), "stride": (1, 2, 3), "output_padding": (1, 0, 2),
                 "bias": False}, (1, 2, 2, 2, 2)),
    ((2, 3, 2), {"stride": 2}, (2, 3, 2, 3)),  # unbatched
])
def test_conv_transpose3d_state_dict_from_torch(args: tuple, kw: dict, shape: tuple) -> None:
    theirs = _jittered(torch.nn.ConvTranspose3d(*args, **kw))
    ours = _load(nn.ConvTranspose3d(*args, **kw).double(), theirs)
    assert repr(ours) == repr(theirs)
    _agree(ours, theirs, randn(*shape))


@pytest.mark.parametrize("size", [(5, 7, 6), (2, 3, 5, 7, 6), (6, 8, 5), (5, 8, 6)])
def test_conv_transpose3d_output_size(size: tuple) -> None:
    theirs = _jittered(torch.nn.ConvTranspose3d(3, 2, 3, stride=2, padding=1))
    ours = _load(nn.ConvTranspose3d(3, 2, 3, stride=2, padding=1).double(), theirs)
    _agree(ours, theirs, randn(2, 3, 3, 4, 3), output_size=size)


def test_conv_transpose_output_size_refused_as_torch() -> None:
    x = randn(2, 3, 3, 4, 3)
    for size in [(4, 7, 6), (5, 9, 6), (5, 7), (4, 7, 6, 1)]:
        with pytest.raises(ValueError) as theirs:
            torch.nn.ConvTranspose3d(3, 2, 3, stride=2, padding=1)(torch.tensor(x),
                                                                  output_size=size)
        with pytest.raises(ValueError) as ours:
            nn.ConvTranspose3d(3, 2, 3, stride=2, padding=1)(cr.tensor(x), output_size=size)
        assert str(ours.value) == str(theirs.value).replace("torch.Size(", "").replace("])", "]")
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for '
                                         "ConvTranspose3d"):
        nn.ConvTranspose3d(2, 2, 2, padding_mode="reflect")


@pytest.mark.parametrize("kw", [{}, {"stride": (2, 1, 2), "padding": (1, 0, 1),
                                     "output_padding": (1, 0, 0), "dilation": (1, 2, 1)}])
def test_functional_conv_transpose3d(kw: dict) -> None:
    x, w, b = randn(2, 4, 3, 2, 3), randn(4, 3, 2, 3, 2), randn(6)
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    cs = [cr.tensor(a, requires_grad=True) for a in (x, w, b)]
    yt = torch.nn.functional.conv_transpose3d(*ts, groups=2, **kw)
    yo = F.conv_transpose3d(*cs, groups=2, **kw)
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=1e-9, atol=1e-12)
    u = randn(*yt.shape)
    yt.backward(torch.tensor(u))
    yo.backward(cr.tensor(u))
    for c, t in zip(cs, ts):
        np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)


# --- lazy layers ------------------------------------------------------------------------------

# name: (constructor args, kwargs, first input shape, a shape with other channels)
LAZY = {
    "LazyLinear": ((3,), {}, (4, 5), (4, 6)),
    "LazyConv1d": ((4, 3), {"padding": 1, "groups": 2}, (2, 6, 5), (2, 4, 5)),
    "LazyConv2d": ((3, (3, 2)), {"stride": (2, 1), "padding_mode": "reflect", "padding": 1},
                   (2, 2, 5, 4), (2, 3, 5, 4)),
    "LazyConv3d": ((2, 2), {"dilation": (1, 2, 1), "bias": False}, (1, 3, 3, 4, 2),
                   (1, 2, 3, 4, 2)),
    "LazyConvTranspose1d": ((4, 3), {"stride": 2, "groups": 2, "output_padding": 1},
                            (2, 2, 3), (2, 4, 3)),
    "LazyConvTranspose2d": ((3, (3, 2)), {"stride": 2, "padding": 1}, (2, 2, 3, 3),
                            (2, 3, 3, 3)),
    "LazyConvTranspose3d": ((2, 2), {"stride": (1, 2, 1)}, (2, 3, 2, 2, 2), (2, 1, 2, 2, 2)),
    "LazyBatchNorm1d": ((), {"momentum": 0.3}, (4, 3, 2), (4, 2, 2)),
    "LazyBatchNorm2d": ((), {"bias": False}, (2, 3, 2, 2), (2, 4, 2, 2)),
    "LazyBatchNorm3d": ((), {"momentum": None}, (2, 2, 2, 1, 2), (2, 3, 2, 1, 2)),
    "LazyInstanceNorm1d": ((), {}, (2, 3, 4), (2, 2, 4)),
    "LazyInstanceNorm2d": ((), {"momentum": 0.5}, (2, 3, 2, 3), (2, 4, 2, 3)),
    "LazyInstanceNorm3d": ((), {}, (2, 2, 2, 1, 3), (2, 3, 2, 1, 3)),
}


def _concrete(name: str) -> str:
    return name.removeprefix("Lazy")


@pytest.mark.parametrize("name", sorted(LAZY))
def test_lazy_layer_infers_its_size_and_becomes_the_concrete_class(name: str) -> None:
    args, kw, shape, _ = LAZY[name]
    ours, theirs = getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(ours) == repr(theirs)
    assert ours.has_uninitialized_params() and theirs.has_uninitialized_params()
    assert [(k, repr(v)) for k, v in ours.state_dict().items()] == \
        [(k, repr(v)) for k, v in theirs.state_dict().items()]
    params = list(ours.parameters())
    ours(cr.zeros(*shape))
    theirs(torch.zeros(*shape))
    assert type(ours) is getattr(nn, _concrete(name))
    assert type(theirs).__name__ == _concrete(name) and repr(ours) == repr(theirs)
    assert all(a is b for a, b in zip(ours.parameters(), params))  # the same objects
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert all(type(t) in (cr.Tensor, nn.Parameter) for t in (*ours.parameters(),
                                                                *ours.buffers()))


@pytest.mark.parametrize("name", sorted(LAZY))
def test_lazy_layer_refuses_another_input_size(name: str) -> None:
    args, kw, shape, other = LAZY[name]
    m = getattr(nn, name)(*args, **kw)
    m(cr.randn(*shape))
    t = getattr(torch.nn, name)(*args, **kw)
    t(torch.randn(*shape))
    with pytest.raises((RuntimeError, ValueError)):  # PyTorch refuses it too
        t(torch.randn(*other))
    n = shape[-1] if name == "LazyLinear" else shape[1]
    with pytest.raises(ValueError, match=rf"{n}\b"):  # names the size it inferred
        m(cr.randn(*other))


@pytest.mark.parametrize("name", sorted(LAZY))
def test_torch_state_dict_loads_into_an_uninitialised_lazy_layer(name: str) -> None:
    args, kw, shape, _ = LAZY[name]
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(*args, **kw)
    theirs(torch.zeros(*shape))  # now torch's concrete layer
    _jittered(theirs)
    ours = getattr(nn, name)(*args, **kw).double()
    _load(ours, theirs)
    assert not ours.has_uninitialized_params() and type(ours).__name__ == name
    size = {"LazyLinear": "in_features"}.get(name, "in_channels" if "Conv" in name
                                             else "num_features")
    assert getattr(ours, size) == getattr(theirs, size)
    for k, v in ours.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), theirs.state_dict()[k].numpy(), err_msg=k)
    _agree(ours, theirs, randn(*shape))
    assert type(ours).__name__ == _concrete(name)
    if "Norm" in name:
        _agree(ours, theirs, randn(*shape), training=False)


def test_lazy_layer_reads_unbatched_channels_and_checks_groups() -> None:
    m = nn.LazyConv2d(4, 3)
    assert m(cr.randn(3, 5, 5)).shape == (4, 3, 3) and m.in_channels == 3
    m = nn.LazyInstanceNorm1d()
    assert m(cr.randn(3, 5)).shape == (3, 5) and m.num_features == 3  # torch reads dim 1 here
    with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input "
                                           "to LazyConv2d"):
        nn.LazyConv2d(4, 3)(cr.randn(5, 5))
    with pytest.raises(ValueError, match=r"in_channels \(3, inferred\) must be divisible by "
                                         r"groups \(2\)"):
        nn.LazyConv2d(4, 3, groups=2)(cr.randn(1, 3, 5, 5))
    with pytest.raises(ValueError, match="LazyBatchNorm2d: expected 4D input"):
        nn.LazyBatchNorm2d()(cr.randn(2, 3))


def test_lazy_norm_without_state_stays_unsized_as_torch() -> None:
    m = nn.LazyBatchNorm2d(affine=False, track_running_stats=False)
    t = torch.nn.LazyBatchNorm2d(affine=False, track_running_stats=False)
    assert not m.has_uninitialized_params() and not t.has_uninitialized_params()
    x = randn(2, 3, 2, 2)
    np.testing.assert_allclose(m(cr.tensor(x)).numpy(), t(torch.tensor(x)).numpy(), rtol=1e-9)
    assert type(m) is nn.BatchNorm2d and repr(m) == repr(t)  # num_features stays 0
    assert m(cr.randn(2, 5, 2, 2)).shape == (2, 5, 2, 2)  # nothing to disagree with: accepted


def test_lazy_layer_dtype_copy_pickle_and_lazy_state() -> None:
    m = nn.LazyConv1d(2, 3).double()
    c = copy.deepcopy(m)
    p = pickle.loads(pickle.dumps(m))
    for lazy in (m, c, p):
        assert lazy.has_uninitialized_params()
        assert lazy(cr.randn(1, 4, 5, dtype=cr.float64)).dtype == cr.float64
        assert lazy.weight.dtype == np.float64 and type(lazy.weight) is nn.Parameter
    fresh = nn.LazyConv1d(2, 3)
    fresh.load_state_dict(nn.LazyConv1d(2, 3).state_dict())  # lazy into lazy: stays lazy
    assert fresh.has_uninitialized_params() and type(fresh) is nn.LazyConv1d
    with pytest.raises(RuntimeError, match=r"size mismatch for weight: copying a param with "
                                           r"shape \(2, 4, 5\)"):
        fresh.load_state_dict(nn.Conv1d(4, 2, 5).state_dict())  # kernel_size=3 here
    part = nn.LazyLinear(3)
    part.load_state_dict({"weight": cr.randn(3, 4)}, strict=False)
    assert part.in_features == 4 and float(abs(part.bias).max()) <= 0.5  # initialised
    with pytest.raises(NotImplementedError, match="initialize_parameters"):
        type("Mine", (nn.lazy.LazyModuleMixin, nn.Linear), {})(2, 3)(cr.randn(1, 2))


def test_uninitialized_tensors() -> None:
    p = nn.UninitializedParameter(dtype=cr.float64)
    assert repr(p) == "<UninitializedParameter>" and p.requires_grad
    p.materialize((2, 3))
    assert type(p) is nn.Parameter and p.shape == (2, 3) and p.dtype == np.float64
    b = nn.UninitializedBuffer()
    assert repr(b) == "<UninitializedBuffer>" and not b.requires_grad
    b.materialize(4)
    assert type(b) is cr.Tensor and b.shape == (4,) and b.dtype == cr.get_default_dtype()
    with pytest.raises(RuntimeError, match="not available"):
        nn.UninitializedParameter(device="cuda")


# --- CrossMapLRN2d ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("c", [1, 2, 3, 4, 7])
def test_cross_map_lrn2d_values_are_torchs(size: int, c: int) -> None:
    x = randn(2, c, 3, 2)
    ours = nn.CrossMapLRN2d(size, alpha=0.3, beta=0.6, k=1.5)
    theirs = torch.nn.CrossMapLRN2d(size, alpha=0.3, beta=0.6, k=1.5)
    yt = theirs(torch.tensor(x))
    np.testing.assert_allclose(ours(cr.tensor(x)).numpy(), yt.numpy(), rtol=1e-12, atol=1e-14)
    if c <= size // 2:  # where PyTorch's hand-written backward is its forward's gradient
        _agree(ours, theirs, x)
    xs = cr.tensor(x, requires_grad=True)
    assert cr.autograd.gradcheck(lambda t: (ours(t) * cr.tensor(x)).sum(), [xs])


def test_cross_map_lrn2d_keeps_channel_0_in_later_windows_as_torch() -> None:
    x = np.zeros((1, 5, 1, 1))
    x[0, 0] = 2.0  # only channel 0's square reaches the others' sums
    x[0, 1:] = 1e-3
    t = torch.nn.CrossMapLRN2d(3, alpha=3.0, beta=1.0, k=1.0)(torch.tensor(x)).numpy()
    o = nn.CrossMapLRN2d(3, alpha=3.0, beta=1.0, k=1.0)(cr.tensor(x)).numpy()
    np.testing.assert_allclose(o, t, rtol=1e-12)
    lrn = nn.LocalResponseNorm(3, alpha=3.0, beta=1.0, k=1.0)(cr.tensor(x)).numpy()
    assert abs(o[0, 3, 0, 0] - 1e-3 / 5) < 1e-8 and abs(lrn[0, 3, 0, 0] - 1e-3) < 1e-8


def test_cross_map_lrn2d_checks_and_repr() -> None:
    assert repr(nn.CrossMapLRN2d(3)) == repr(torch.nn.CrossMapLRN2d(3))
    with pytest.raises(ValueError, match="CrossMapLRN2d: Expected input to be 4D, got 3D"):
        nn.CrossMapLRN2d(3)(cr.randn(2, 3, 4))
    with pytest.raises(ValueError, match="size=0"):
        nn.CrossMapLRN2d(0)(cr.randn(1, 2, 3, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nn.CrossMapLRN2d(2)(cr.randn(1, 3, 2, 2, dtype=cr.float32)).dtype == cr.float32
