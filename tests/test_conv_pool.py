"""Convolution, pooling, resampling and the 2-d normalisations: the public forms' argument
parsing (padding strings, defaults, unbatched inputs, return_indices, output sizes) against
PyTorch, and the errors. The ops' gradients are swept in test_op_sweep/test_torch_parity; the
layers in test_module_sweep."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F


def _torch():
    return pytest.importorskip("torch")


def _both(fn_ours, fn_torch, *arrays, grad=True, rtol=1e-9):
    """Forward and input gradients (of a random projection) of both, in float64."""
    torch = _torch()
    ours = [cr.tensor(a, requires_grad=grad) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=grad) for a in arrays]
    y1, y2 = fn_ours(*ours), fn_torch(torch, *theirs)
    if isinstance(y1, tuple):
        for a, b in zip(y1[1:], y2[1:]):
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
        y1, y2 = y1[0], y2[0]
    np.testing.assert_allclose(y1.detach().numpy(), y2.detach().numpy(), rtol=rtol, atol=1e-12)
    if grad:
        u = np.random.default_rng(0).standard_normal(y1.shape)
        g1 = cr.grad(y1, ours, cr.tensor(u))
        g2 = torch.autograd.grad(y2, theirs, torch.tensor(u))
        for a, b in zip(g1, g2):
            np.testing.assert_allclose(a.detach().numpy(), b.numpy(), rtol=rtol, atol=1e-12)


R = np.random.default_rng(3)


@pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")  # torch's, even kernel
@pytest.mark.parametrize("kw", [
    {"padding": "same"}, {"padding": "valid"}, {"padding": "same", "dilation": 2},
    {"stride": 2, "padding": (1, 2)}, {"groups": 2, "padding": 1},
])
def test_conv2d_public_forms(kw):
    x, w, b = R.standard_normal((2, 4, 6, 5)), R.standard_normal((6, 4 // kw.get("groups", 1),
                                                                  2, 3)), R.standard_normal(6)
    _both(lambda x, w, b: F.conv2d(x, w, b, **kw),
          lambda t, x, w, b: t.nn.functional.conv2d(x, w, b, **kw), x, w, b)


def test_conv1d_and_unbatched_conv2d():
    _both(lambda x, w: F.conv1d(x, w, padding="same"),
          lambda t, x, w: t.nn.functional.conv1d(x, w, padding="same"),
          R.standard_normal((2, 3, 7)), R.standard_normal((2, 3, 5)))
    _both(lambda x, w: F.conv2d(x, w), lambda t, x, w: t.nn.functional.conv2d(x, w),
          R.standard_normal((3, 5, 5)), R.standard_normal((2, 3, 3, 3)))


def test_conv_transpose2d_output_padding_and_layer_output_size():
    kw = {"stride": 2, "padding": 1, "output_padding": 1, "dilation": 1}
    _both(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw),
          lambda t, x, w, b: t.nn.functional.conv_transpose2d(x, w, b, **kw),
          R.standard_normal((2, 3, 4, 3)), R.standard_normal((3, 2, 3, 3)), R.standard_normal(2))
    m = cr.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    assert m(cr.randn(1, 3, 4, 4), output_size=(8, 8)).shape == (1, 2, 8, 8)
    assert m(cr.randn(1, 3, 4, 4)).shape == (1, 2, 7, 7)


def test_unfold_and_fold_match_torch():
    _both(lambda x: F.unfold(x, (2, 3), padding=1, stride=(1, 2)),
          lambda t, x: t.nn.functional.unfold(x, (2, 3), padding=1, stride=(1, 2)),
          R.standard_normal((2, 3, 4, 5)))
    _both(lambda x: F.fold(x, (4, 5), 2, stride=1),
          lambda t, x: t.nn.functional.fold(x, (4, 5), 2, stride=1),
          R.standard_normal((2, 3 * 4, 12)))


def test_max_pool_return_indices_and_unbatched():
    x = np.random.default_rng(1).permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) * 0.1
    _both(lambda x: F.max_pool2d(x, 3, 2, 1, return_indices=True),
          lambda t, x: t.nn.functional.max_pool2d(x, 3, 2, 1, return_indices=True), x)
    _both(lambda x: F.max_pool2d(x, 2, ceil_mode=True, return_indices=True),
          lambda t, x: t.nn.functional.max_pool2d(x, 2, ceil_mode=True, return_indices=True),
          x[0])
    _both(lambda x: F.max_pool1d(x, 2, return_indices=True),
          lambda t, x: t.nn.functional.max_pool1d(x, 2, return_indices=True), x[:, :, 0])


def test_max_pool_gradient_goes_to_the_first_max_on_ties():
    x = cr.ones(1, 1, 2, 2, requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    assert x.grad.detach().numpy().ravel().tolist() == [1.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("size", [(3, 2), 1, (None, 3), (5, 4)])
def test_adaptive_pools(size):
    x = np.random.default_rng(2).permutation(2 * 2 * 7 * 5).reshape(2, 2, 7, 5) * 0.1
    _both(lambda x: F.adaptive_avg_pool2d(x, size),
          lambda t, x: t.nn.functional.adaptive_avg_pool2d(x, size), x)
    _both(lambda x: F.adaptive_max_pool2d(x, size, return_indices=True),
          lambda t, x: t.nn.functional.adaptive_max_pool2d(x, size, return_indices=True), x)
    _both(lambda x: F.adaptive_avg_pool1d(x, 3),
          lambda t, x: t.nn.functional.adaptive_avg_pool1d(x, 3), x[:, :, 0])


@pytest.mark.parametrize("kw", [
    {"scale_factor": 2}, {"size": (5, 7)}, {"scale_factor": 1.5, "mode": "bilinear"},
    {"size": (6, 3), "mode": "bilinear", "align_corners": True},
    {"scale_factor": 2, "mode": "bilinear", "align_corners": False},
])
def test_interpolate(kw):
    _both(lambda x: F.interpolate(x, **kw), lambda t, x: t.nn.functional.interpolate(x, **kw),
          R.standard_normal((2, 2, 4, 3)))


def test_interpolate_linear_1d():
    _both(lambda x: F.interpolate(x, size=7, mode="linear"),
          lambda t, x: t.nn.functional.interpolate(x, size=7, mode="linear"),
          R.standard_normal((1, 2, 4)))


def test_group_and_instance_norm_functional():
    x, w, b = R.standard_normal((2, 4, 3, 2)), R.standard_normal(4), R.standard_normal(4)
    _both(lambda x, w, b: F.group_norm(x, 2, w, b),
          lambda t, x, w, b: t.nn.functional.group_norm(x, 2, w, b), x, w, b)
    _both(lambda x, w, b: F.instance_norm(x, weight=w, bias=b),
          lambda t, x, w, b: t.nn.functional.instance_norm(x, weight=w, bias=b), x, w, b)


def test_dropout2d_zeroes_whole_channels():
    cr.manual_seed(0)
    y = F.dropout2d(cr.ones(8, 16, 3, 3), 0.5).detach().numpy()
    per_channel = y.reshape(8, 16, 9)
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert (per_channel.min(-1) == per_channel.max(-1)).all()
    assert F.dropout2d(cr.ones(2, 3, 2, 2), 0.5, training=False).detach().numpy().min() == 1.0


def test_second_order_through_conv_and_pool():
    """A gradient penalty through conv -> max_pool -> avg_pool, against PyTorch."""
    torch = _torch()
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((1, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3))

    def f(mod, x, w):
        h = mod.nn.functional.conv2d(x, w, padding=1)
        h = mod.nn.functional.max_pool2d(h, 2)
        return (mod.nn.functional.avg_pool2d(h, 2) ** 2).sum()

    xs, ws = cr.tensor(x, requires_grad=True), cr.tensor(w, requires_grad=True)
    (gx,) = cr.grad(f(cr, xs, ws), [xs], create_graph=True)
    (gw,) = cr.grad((gx ** 2).sum(), [ws])
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    (gxt,) = torch.autograd.grad(f(torch, xt, wt), [xt], create_graph=True)
    (gwt,) = torch.autograd.grad((gxt ** 2).sum(), [wt])
    np.testing.assert_allclose(gw.detach().numpy(), gwt.detach().numpy(), rtol=1e-9)


def test_errors_name_the_op_and_shapes():
    with pytest.raises(Exception, match=r"conv: input \(1, 2, 5, 5\) has 2 channels"):
        F.conv2d(cr.randn(1, 2, 5, 5), cr.randn(2, 3, 3, 3))
    with pytest.raises(ValueError, match="'same'"):
        F.conv2d(cr.randn(1, 3, 5, 5), cr.randn(2, 3, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match="smaller than the kernel"):
        F.conv2d(cr.randn(1, 3, 2, 2), cr.randn(2, 3, 3, 3))
    with pytest.raises(ValueError, match="half the kernel"):
        F.max_pool2d(cr.randn(1, 1, 4, 4), 2, padding=2)
    with pytest.raises(ValueError, match="divisible"):
        cr.nn.Conv2d(3, 4, 3, groups=2)


def test_conv2d_padding_modes_match_torch():
    torch = _torch()
    for mode in ("reflect", "replicate", "circular"):
        cr.manual_seed(0)
        m = cr.nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode).double()
        t = torch.nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode).double()
        t.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in m.state_dict().items()})
        x = R.standard_normal((1, 2, 5, 4))
        np.testing.assert_allclose(m(cr.tensor(x)).detach().numpy(),
                                   t(torch.tensor(x)).detach().numpy(), rtol=1e-10)


def test_w4_runners_compute_the_same_step():
    """bench W4 (LeNet): chainrule, hand NumPy (and PyTorch) agree on the loss and the updated
    parameters after two SGD steps."""
    from bench import workloads_chainrule, workloads_numpy
    runners = [workloads_chainrule.build("W4"), workloads_numpy.build("W4")]
    try:
        import torch  # noqa: F401
        from bench import workloads_torch
        runners.append(workloads_torch.build("W4"))
    except ImportError:
        pass
    prints = []
    for r in runners:
        r.step()
        prints.append(r.fingerprint(r.step()))
    for fp in prints[1:]:
        np.testing.assert_allclose(fp, prints[0], rtol=2e-4, atol=1e-4)


@pytest.mark.parametrize("groups", [1, 2])
def test_conv_per_sample_layout_for_large_outputs(groups):
    """Outputs of >= 256 positions take the per-sample column layout (batched GEMMs)."""
    x, w = R.standard_normal((2, 4, 17, 16)), R.standard_normal((4, 4 // groups, 3, 3))
    _both(lambda x, w: F.conv2d(x, w, padding=1, groups=groups),
          lambda t, x, w: t.nn.functional.conv2d(x, w, padding=1, groups=groups), x, w)
    _both(lambda x, w: F.conv_transpose2d(x, w, stride=2, groups=groups),
          lambda t, x, w: t.nn.functional.conv_transpose2d(x, w, stride=2, groups=groups),
          R.standard_normal((1, 4, 9, 8)), w.copy())


@pytest.mark.parametrize("kw, xs, ws", [
    # stride 1, many input channels: the input gradient as a convolution of g (flipped kernel)
    ({"padding": 1}, (2, 8, 17, 16), (4, 8, 3, 3)),
    ({"padding": (2, 1), "dilation": (2, 1)}, (2, 6, 9, 7), (3, 6, 3, 2)),
    # padding wider than the dilated kernel: no such convolution, the col2im route
    ({"padding": 3}, (1, 6, 5, 5), (2, 6, 3, 3)),
    # few input channels, small outputs: per-offset GEMMs on the batch-innermost rows
    ({}, (3, 2, 8, 9), (5, 2, 5, 5)),
    ({"stride": 2, "padding": 1}, (3, 2, 9, 9), (5, 2, 3, 3)),
])
def test_conv_input_gradient_routes(kw, xs, ws):
    """Each input-gradient algorithm (chosen from the shapes) matches PyTorch's, and so does
    conv_transpose2d, which runs the same code as its forward."""
    x, w = R.standard_normal(xs), R.standard_normal(ws)
    _both(lambda x, w: F.conv2d(x, w, **kw), lambda t, x, w: t.nn.functional.conv2d(x, w, **kw),
          x, w)
    y = R.standard_normal(F.conv2d(cr.tensor(x), cr.tensor(w), **kw).shape)
    _both(lambda y, w: F.conv_transpose2d(y, w, **kw),
          lambda t, y, w: t.nn.functional.conv_transpose2d(y, w, **kw), y, w.copy())


def test_conv_transpose_stride_1_output_padding_takes_the_flipped_route():
    """Dilation 2 allows output_padding 1 at stride 1: the extra row/column is padding on the
    high side of the flipped convolution."""
    x, w = R.standard_normal((2, 3, 5, 4)), R.standard_normal((3, 4, 3, 3))
    kw = {"dilation": 2, "output_padding": 1}
    _both(lambda x, w: F.conv_transpose2d(x, w, **kw),
          lambda t, x, w: t.nn.functional.conv_transpose2d(x, w, **kw), x, w)


# --- max unpooling: PyTorch's index layout, round trips, errors ------------------------------

@pytest.mark.parametrize("nd, shape, kw", [
    (2, (2, 3, 6, 8), {"kernel_size": 2}),
    (2, (2, 2, 7, 6), {"kernel_size": 3, "stride": 2, "padding": 1}),  # overlapping windows
    (2, (3, 7, 5), {"kernel_size": 2, "stride": (2, 1)}),  # unbatched
    (1, (2, 3, 9), {"kernel_size": 3, "stride": 2}),
    (3, (1, 2, 4, 5, 6), {"kernel_size": 2, "stride": (1, 2, 2)}),
])
def test_max_pool_indices_unpool_round_trip_matches_torch(nd, shape, kw):
    """MaxPool*d(return_indices) gives PyTorch's flat per-plane indices, and MaxUnpool*d puts
    each value back at its position (output_size: the pooled input's size)."""
    torch = _torch()
    x = np.random.default_rng(4).permutation(int(np.prod(shape))).reshape(shape) * 0.1
    pool, unpool = getattr(cr.nn, f"MaxPool{nd}d"), getattr(cr.nn, f"MaxUnpool{nd}d")
    tpool, tunpool = getattr(torch.nn, f"MaxPool{nd}d"), getattr(torch.nn, f"MaxUnpool{nd}d")
    y, idx = pool(**kw, return_indices=True)(cr.tensor(x))
    yt, idxt = tpool(**kw, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(idx.numpy(), idxt.numpy())
    size = shape[-nd:]
    _both(lambda v: unpool(**kw)(v, idx, output_size=size),
          lambda t, v: tunpool(**kw)(v, idxt, output_size=size), yt.numpy())
    back = unpool(**kw)(y, idx, output_size=size).numpy()
    lead = x.shape[:-nd]  # each maximum back at its flat index in its plane, zeros elsewhere
    want = np.zeros((int(np.prod(lead)), int(np.prod(size))))
    for plane, (i, v) in enumerate(zip(idx.numpy().reshape(len(want), -1),
                                       y.numpy().reshape(len(want), -1))):
        want[plane, i] = v
    np.testing.assert_array_equal(back, want.reshape(x.shape))
    np.testing.assert_array_equal(back[back != 0], x[back != 0])


def test_max_unpool_default_size_and_gradient_is_a_gather():
    x = cr.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], requires_grad=True)
    idx = cr.tensor([[[[0, 3], [9, 14]]]])
    y = F.max_unpool2d(x, idx, 2)  # default size (2 - 1) * 2 + 2 = 4
    assert y.shape == (1, 1, 4, 4)
    assert y.detach().numpy().ravel()[[0, 3, 9, 14]].tolist() == [1.0, 2.0, 3.0, 4.0]
    g = cr.arange(16.0).reshape(1, 1, 4, 4)
    (gx,) = cr.grad(y, [x], g)
    assert gx.numpy().ravel().tolist() == [0.0, 3.0, 9.0, 14.0]
    assert F.max_unpool2d(x, idx, 2, output_size=(1, 1, 5, 5)).shape == (1, 1, 5, 5)


def test_max_unpool_errors_say_what_is_wrong():
    x = cr.randn(1, 2, 2, 2)
    idx = F.max_pool2d(cr.randn(1, 2, 4, 4), 2, return_indices=True)[1]
    with pytest.raises(ValueError, match=r"max_unpool2d: indices of shape \(1, 2, 1, 2\) for an "
                                         r"input of shape \(1, 2, 2, 2\)"):
        F.max_unpool2d(x, idx[:, :, :1], 2)
    with pytest.raises(ValueError, match=r"output_size \(9, 9\): dim 0 is 9; expected a size "
                                         r"strictly between 2 and 6"):
        F.max_unpool2d(x, idx, 2, output_size=(9, 9))
    with pytest.raises(ValueError, match=r"output_size=\(1, 2, 3\) has 3 elements; expected 2 "
                                         r"spatial sizes, or 4"):
        F.max_unpool2d(x, idx, 2, output_size=(1, 2, 3))
    with pytest.raises(IndexError, match=r"index 16 is outside the output plane 4x4 "
                                         r"\(16 positions\)"):
        F.max_unpool2d(x, idx * 0 + 16, 2)
    with pytest.raises(IndexError, match="index -1 is outside"):
        F.max_unpool2d(x, idx * 0 - 1, 2)
    with pytest.raises(TypeError, match="max_unpool2d: indices have dtype float"):
        F.max_unpool2d(x, idx.float(), 2)
    with pytest.raises(ValueError, match=r"max_unpool1d: input has shape \(1, 2, 2, 2\); "
                                         "expected a 2-D or 3-D"):
        F.max_unpool1d(x, idx, 2)
    torch = _torch()  # PyTorch refuses the same calls
    xt, it = torch.tensor(x.numpy()), torch.tensor(idx.numpy())
    for call in (lambda: torch.nn.functional.max_unpool2d(xt, it[:, :, :1], 2),
                 lambda: torch.nn.functional.max_unpool2d(xt, it, 2, output_size=(9, 9)),
                 lambda: torch.nn.functional.max_unpool2d(xt, it * 0 + 16, 2)):
        with pytest.raises((RuntimeError, ValueError)):
            call()


# --- LP pooling, adaptive max pooling in 1-d and 3-d ------------------------------------------

@pytest.mark.parametrize("p", [2, 3, 1, 4, float("inf"), -float("inf")])
@pytest.mark.parametrize("kw", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2,
                                                     "ceil_mode": True},
                                {"kernel_size": (2, 3), "stride": (1, 2)}])
def test_lp_pool2d_matches_torch(p, kw):
    x = R.standard_normal((2, 2, 7, 6))
    if p == 3:
        x = np.abs(x)  # an odd p on a negative window sum is NaN in PyTorch and here
    _both(lambda x: F.lp_pool2d(x, p, **kw), lambda t, x: t.nn.functional.lp_pool2d(x, p, **kw),
          x)


def test_lp_pool_1d_3d_fractional_and_edge_cases_match_torch():
    torch = _torch()
    x = R.standard_normal((2, 3, 9))
    _both(lambda x: F.lp_pool1d(x, 2, 3, stride=2, ceil_mode=True),
          lambda t, x: t.nn.functional.lp_pool1d(x, 2, 3, stride=2, ceil_mode=True), x)
    _both(lambda x: F.lp_pool1d(x, 1.5, 2), lambda t, x: t.nn.functional.lp_pool1d(x, 1.5, 2),
          np.abs(x))
    _both(lambda x: F.lp_pool3d(x, 2, (2, 1, 2), ceil_mode=True),
          lambda t, x: t.nn.functional.lp_pool3d(x, 2, (2, 1, 2), ceil_mode=True),
          R.standard_normal((1, 2, 3, 4, 5)))
    # a window of zeros: zero output and zero gradient (PyTorch's sign(s) * relu(|s|)), no NaN
    z = np.zeros((1, 1, 4, 4))
    z[0, 0, 0, 0] = 1.0
    _both(lambda x: F.lp_pool2d(x, 2, 2), lambda t, x: t.nn.functional.lp_pool2d(x, 2, 2), z)
    # an odd p on a negative window sum: NaN, as PyTorch; p = 1 is a plain (signed) sum
    neg = cr.tensor([[[-1.0, -2.0, 0.5, 1.0]]])
    got = F.lp_pool1d(neg, 3, 2).numpy()
    want = torch.nn.functional.lp_pool1d(torch.tensor(neg.numpy()), 3, 2).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert F.lp_pool1d(neg, 1, 2).numpy().ravel().tolist() == [-3.0, 1.5]
    with pytest.raises(ValueError, match="lp_pool2d: norm_type=0"):
        F.lp_pool2d(cr.randn(1, 1, 2, 2), 0, 2)
    with pytest.raises(TypeError, match="lp_pool2d: input has dtype int64"):
        F.lp_pool2d(cr.ones(1, 1, 2, 2, dtype=cr.int64), 2, 2)


@pytest.mark.parametrize("size", [1, 3, (2, None, 3), (3, 4, 5)])
def test_adaptive_max_pool3d_matches_torch(size):
    x = np.random.default_rng(6).permutation(2 * 2 * 5 * 4 * 6).reshape(2, 2, 5, 4, 6) * 0.1
    _both(lambda x: F.adaptive_max_pool3d(x, size, return_indices=True),
          lambda t, x: t.nn.functional.adaptive_max_pool3d(x, size, return_indices=True), x)
    _both(lambda x: F.adaptive_max_pool3d(x, size),
          lambda t, x: t.nn.functional.adaptive_max_pool3d(x, size), x[0])


@pytest.mark.parametrize("size", [1, 3, 5, 7])
def test_adaptive_max_pool1d_matches_torch(size):
    x = np.random.default_rng(7).permutation(2 * 3 * 5).reshape(2, 3, 5) * 0.1
    _both(lambda x: F.adaptive_max_pool1d(x, size, return_indices=True),
          lambda t, x: t.nn.functional.adaptive_max_pool1d(x, size, return_indices=True), x)
    _both(lambda x: F.adaptive_max_pool1d(x, size),
          lambda t, x: t.nn.functional.adaptive_max_pool1d(x, size), x[0])


# --- channel dropout in 1-d, 2-d, 3-d and feature alpha dropout -------------------------------

@pytest.mark.parametrize("fn, shape, lead", [
    ("dropout1d", (8, 16, 5), 2), ("dropout1d", (16, 5), 1), ("dropout2d", (8, 16, 3, 3), 2),
    ("dropout3d", (8, 16, 2, 3, 2), 2), ("dropout3d", (16, 2, 3, 2), 1),
])
def test_channel_dropouts_zero_whole_channels(fn, shape, lead):
    cr.manual_seed(0)
    y = getattr(F, fn)(cr.ones(*shape), 0.5).numpy().reshape(*shape[:lead], -1)
    assert set(np.unique(y)) == {0.0, 2.0}
    assert (y.min(-1) == y.max(-1)).all()  # one draw per channel
    x = cr.ones(*shape)
    assert getattr(F, fn)(x, 0.5, training=False) is x


def test_feature_alpha_dropout_per_channel_and_moments():
    cr.manual_seed(0)
    x = cr.tensor(np.random.default_rng(0).standard_normal((64, 32, 50)))
    assert F.feature_alpha_dropout(x, 0.5) is x  # training=False by default, as PyTorch
    y = F.feature_alpha_dropout(x, 0.2, training=True).numpy()
    a = 1.0 / np.sqrt((1.7580993408473766 ** 2 * 0.2 + 1.0) * 0.8)
    dropped = np.isclose(y, a * 1.7580993408473766 * (0.2 - 1.0))
    per = dropped.reshape(64, 32, -1)
    assert (per.all(-1) | ~per.any(-1)).all() and 0.1 < per.all(-1).mean() < 0.3
    assert abs(y.mean()) < 0.05 and abs(y.std() - 1.0) < 0.05  # SELU's fixed point kept
    with pytest.raises(ValueError, match="feature_alpha_dropout: input has shape \\(5,\\)"):
        F.feature_alpha_dropout(cr.ones(5), 0.5, training=True)


def test_dropout_rank_rules_follow_torch():
    with pytest.raises(ValueError, match=r"dropout1d: input has shape \(2, 3, 4, 5\)"):
        F.dropout1d(cr.ones(2, 3, 4, 5), 0.5)
    with pytest.warns(UserWarning, match="dropout2d: received a 3-D input; as PyTorch, it is "
                                         r"read as \(N, C, L\)"):
        cr.manual_seed(0)
        y = F.dropout2d(cr.ones(16, 8, 5), 0.5).numpy()
    assert (y.min(-1) == y.max(-1)).all() and not (y.min((1, 2)) == y.max((1, 2))).all()
    with pytest.warns(UserWarning, match="dropout3d: received a 3-D input"):
        F.dropout3d(cr.ones(2, 3, 4), 0.5, training=False)
