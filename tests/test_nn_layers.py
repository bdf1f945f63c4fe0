"""Layers against PyTorch beyond the module sweep (tests/test_module_sweep.py, which checks
every layer's declared sample): other shapes and constructor options, running statistics,
padding_idx, max_norm, in-place forms, errors. torch's parameters are copied into ours, then
forward outputs and the gradients of parameters and inputs compared in float64."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from tests.helpers import lazy_torch as torch


def copy_params(ours: nn.Module, theirs) -> None:
    """torch's parameters and buffers into ours (float64), by state-dict key."""
    sd = {k: cr.tensor(v.detach().numpy().copy()) for k, v in theirs.state_dict().items()}
    ours.load_state_dict(sd)


def check(ours: nn.Module, theirs, x: np.ndarray, *, grad_input: bool = True,
          atol: float = 1e-10) -> None:
    """Same forward output; same gradients for the input and every parameter."""
    theirs.double()
    ours.double()
    copy_params(ours, theirs)
    diff = grad_input and x.dtype.kind == "f"
    xo = cr.tensor(x, requires_grad=diff)
    xt = torch.tensor(x, requires_grad=diff)
    yo, yt = ours(xo), theirs(xt)
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), atol=atol, rtol=1e-9)
    u = np.random.default_rng(1).standard_normal(yo.shape)
    yo.backward(cr.tensor(u))
    yt.backward(torch.tensor(u))
    if diff:
        np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), atol=atol, rtol=1e-9)
    for (name, po), (_, pt) in zip(ours.named_parameters(), theirs.named_parameters()):
        if pt.grad is None:
            assert po.grad is None or not po.grad.numpy().any(), name
            continue
        np.testing.assert_allclose(po.grad.numpy(), pt.grad.numpy(), atol=atol, rtol=1e-9,
                                   err_msg=name)
    for (name, bo), (_, bt) in zip(ours.named_buffers(), theirs.named_buffers()):
        np.testing.assert_allclose(bo.numpy(), bt.numpy(), atol=atol, rtol=1e-9, err_msg=name)


rng = np.random.default_rng(0)


def randn(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


@pytest.mark.parametrize("shape", [(2, 3, 4), (4,)])  # (N, in) with bias: the sweep
def test_linear(shape) -> None:
    check(nn.Linear(4, 3), torch.nn.Linear(4, 3), randn(*shape))
    check(nn.Linear(4, 3, bias=False), torch.nn.Linear(4, 3, bias=False), randn(*shape))


def test_linear_init_and_layout() -> None:
    cr.manual_seed(0)
    m = nn.Linear(100, 50)
    assert m.weight.shape == (50, 100) and m.bias.shape == (50,)
    assert m.weight.dtype == np.float32
    bound = 1 / np.sqrt(100)  # kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(in), 1/sqrt(in))
    w = m.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.01
    assert np.abs(m.bias.detach().numpy()).max() <= bound
    assert nn.Linear(3, 2, dtype=cr.float64).weight.dtype == np.float64
    with pytest.raises(ValueError, match=r"weight\.T|in_features"):
        m(cr.randn(2, 50))


@pytest.mark.parametrize("shape", [(6, 4), (5, 4, 3)])
def test_batchnorm_training_updates_running_stats(shape) -> None:
    ours, theirs = nn.BatchNorm1d(4), torch.nn.BatchNorm1d(4)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.uniform_(-0.5, 0.5)
    check(ours, theirs, randn(*shape))
    for _ in range(2):  # a couple more steps: running statistics keep agreeing
        x = randn(*shape)
        ours(cr.tensor(x))
        theirs(torch.tensor(x))
    np.testing.assert_allclose(ours.running_var.numpy(), theirs.running_var.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.running_mean.numpy(), theirs.running_mean.numpy(),
                               rtol=1e-12)
    assert ours.num_batches_tracked.item() == theirs.num_batches_tracked.item() == 3


@pytest.mark.parametrize("shape", [(6, 4), (5, 4, 3)])
def test_batchnorm_eval_uses_running_stats(shape) -> None:
    ours, theirs = nn.BatchNorm1d(4), torch.nn.BatchNorm1d(4)
    with torch.no_grad():
        theirs.running_mean.uniform_(-1, 1)
        theirs.running_var.uniform_(0.5, 2)
        theirs.weight.uniform_(0.5, 1.5)
    theirs.eval()
    ours.eval()
    check(ours, theirs, randn(*shape))
    y = ours(cr.tensor(randn(1, 4)))  # a batch of one is fine in eval
    assert y.shape == (1, 4)


@pytest.mark.parametrize("kwargs", [dict(momentum=None), dict(affine=False),
                                    dict(track_running_stats=False), dict(bias=False),
                                    dict(eps=1e-3, momentum=0.5)])
def test_batchnorm_options(kwargs) -> None:
    ours, theirs = nn.BatchNorm1d(3, **kwargs), torch.nn.BatchNorm1d(3, **kwargs)
    for _ in range(2):
        check(ours, theirs, randn(5, 3))
    ours.eval()
    theirs.eval()
    check(ours, theirs, randn(4, 3))


def test_batchnorm_errors() -> None:
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(cr.randn(1, 3))
    with pytest.raises(ValueError, match="2D or 3D"):
        bn(cr.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match="num_features=3"):
        bn(cr.randn(2, 4))


@pytest.mark.parametrize("shape,norm", [((5, 4), 4), ((2, 3, 4), (3, 4)), ((4,), 4)])
def test_layernorm(shape, norm) -> None:
    ours, theirs = nn.LayerNorm(norm), torch.nn.LayerNorm(norm)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.uniform_(-0.5, 0.5)
    check(ours, theirs, randn(*shape))
    check(nn.LayerNorm(norm, elementwise_affine=False),
          torch.nn.LayerNorm(norm, elementwise_affine=False), randn(*shape))
    check(nn.LayerNorm(norm, bias=False), torch.nn.LayerNorm(norm, bias=False), randn(*shape))
    with pytest.raises(ValueError, match="normalized_shape"):
        ours(cr.randn(2, 7))


def test_embedding_repeated_indices_and_padding() -> None:
    idx = np.array([[1, 2, 1, 0], [3, 0, 1, 4]])
    for pad in (None, 0, -1):
        ours = nn.Embedding(5, 3, padding_idx=pad)
        theirs = torch.nn.Embedding(5, 3, padding_idx=pad)
        ours.double()
        theirs.double()
        copy_params(ours, theirs)
        yo, yt = ours(cr.tensor(idx)), theirs(torch.tensor(idx))
        np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy())
        u = randn(*yo.shape)
        yo.backward(cr.tensor(u))
        yt.backward(torch.tensor(u))
        np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(),
                                   rtol=1e-12)
    assert nn.Embedding(5, 3, padding_idx=2).weight.detach().numpy()[2].tolist() == [0.0, 0.0, 0.0]
    e = nn.Embedding(5, 3)
    with pytest.raises(IndexError, match="index 5 is out of range for 5 embeddings"):
        e(cr.tensor([1, 5]))
    with pytest.raises(TypeError, match="integer"):
        e(cr.tensor([1.0]))
    pre = nn.Embedding.from_pretrained(cr.eye(3))
    assert not pre.weight.requires_grad and pre(cr.tensor([2])).tolist() == [[0.0, 0.0, 1.0]]


def test_embedding_max_norm_matches_pytorch() -> None:
    ours, theirs = nn.Embedding(6, 3, max_norm=1.0), torch.nn.Embedding(6, 3, max_norm=1.0)
    ours.double()
    theirs.double()
    copy_params(ours, theirs)
    idx = np.array([0, 2, 2, 5])
    np.testing.assert_allclose(ours(cr.tensor(idx)).detach().numpy(),
                               theirs(torch.tensor(idx)).detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.weight.detach().numpy(), theirs.weight.detach().numpy(),
                               rtol=1e-6)


# Each activation's default form is in the module sweep; these are the other options.
ACTIVATIONS = [lambda N: N.GELU("tanh"), lambda N: N.Softmax(dim=-1), lambda N: N.Softplus()]


@pytest.mark.parametrize("make", ACTIVATIONS)
def test_activation_options(make) -> None:
    check(make(nn), make(torch.nn), randn(3, 4) * 2)


def test_prelu_one_slope_and_channel_check() -> None:
    check(nn.PReLU(), torch.nn.PReLU(), randn(5))
    with pytest.raises(ValueError, match="channel"):
        nn.PReLU(3)(cr.randn(2, 4))


def test_prelu_second_order() -> None:
    x = randn(3, 2)
    x += np.where(x >= 0, 0.1, -0.1)  # finite differences must not straddle the kink at 0
    x = cr.tensor(x, requires_grad=True)
    w = cr.tensor([0.3, 0.1], dtype=cr.float64, requires_grad=True)  # float64 for gradcheck
    assert cr.autograd.gradgradcheck(lambda a, b: F.prelu(a, b) * a, [x, w])


def test_functional_forms_match_torch() -> None:
    tf = torch.nn.functional
    x = randn(3, 5)
    xt = torch.tensor(x)
    pairs = [
        (F.relu(cr.tensor(x)), tf.relu(xt)), (F.leaky_relu(cr.tensor(x), 0.3),
                                              tf.leaky_relu(xt, 0.3)),
        (F.elu(cr.tensor(x), 0.5), tf.elu(xt, 0.5)), (F.gelu(cr.tensor(x)), tf.gelu(xt)),
        (F.silu(cr.tensor(x)), tf.silu(xt)), (F.sigmoid(cr.tensor(x)), tf.sigmoid(xt)),
        (F.tanh(cr.tensor(x)), tf.tanh(xt)), (F.softplus(cr.tensor(x), 2, 3),
                                              tf.softplus(xt, 2, 3)),
        (F.softmax(cr.tensor(x), dim=0), tf.softmax(xt, dim=0)),
        (F.log_softmax(cr.tensor(x), -1), tf.log_softmax(xt, -1)),
        (F.softmin(cr.tensor(x), 1), tf.softmin(xt, 1)),
        (F.logsigmoid(cr.tensor(x)), tf.logsigmoid(xt)),
        (F.softsign(cr.tensor(x)), tf.softsign(xt)), (F.relu6(cr.tensor(x * 5)),
                                                      tf.relu6(xt * 5)),
        (F.hardtanh(cr.tensor(x)), tf.hardtanh(xt)),
        (F.normalize(cr.tensor(x)), tf.normalize(xt)),
        (F.normalize(cr.tensor(x), p=1, dim=0), tf.normalize(xt, p=1, dim=0)),
        (F.linear(cr.tensor(x), cr.tensor(x[:2])), tf.linear(xt, xt[:2])),
        (F.layer_norm(cr.tensor(x), (5,)), tf.layer_norm(xt, (5,))),
        (F.pad(cr.tensor(x), (1, 2)), tf.pad(xt, (1, 2))),
        (F.softmax(cr.tensor(x), dim=1, dtype=cr.float32), tf.softmax(xt, 1, dtype=torch.float32)),
    ]
    for ours, theirs in pairs:
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)


def test_inplace_activations() -> None:
    x = cr.tensor([-1.0, 2.0])
    y = F.relu(x, inplace=True)
    assert y is x and x.tolist() == [0.0, 2.0]
    x = cr.tensor([-1.0, 2.0])
    nn.LeakyReLU(0.5, inplace=True)(x)
    assert x.tolist() == [-0.5, 2.0]
    a = cr.tensor([-1.0, 2.0], requires_grad=True)
    h = a * 1.0
    F.relu(h, inplace=True)  # inside a graph: rebound to the result, gradient still right
    h.sum().backward()
    assert a.grad.tolist() == [0.0, 1.0]


def test_softmax_implicit_dim_warns_like_pytorch() -> None:
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = nn.Softmax()(cr.randn(2, 3))
    np.testing.assert_allclose(y.sum(1).numpy(), [1.0, 1.0], rtol=1e-6)


def test_one_hot() -> None:
    y = F.one_hot(cr.tensor([0, 2, 1]))
    assert y.dtype == np.int64 and y.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert F.one_hot(cr.tensor([[1], [0]]), num_classes=4).shape == (2, 1, 4)
    np.testing.assert_array_equal(
        F.one_hot(cr.tensor([3, 1]), 5).numpy(),
        torch.nn.functional.one_hot(torch.tensor([3, 1]), 5).numpy())
    with pytest.raises(ValueError, match="num_classes"):
        F.one_hot(cr.tensor([3]), 3)
    with pytest.raises(TypeError, match="integer"):
        F.one_hot(cr.tensor([1.0]))


def test_step_is_heaviside() -> None:
    y = nn.Step()(cr.tensor([-1.0, 0.0, 2.0]))
    assert y.tolist() == [0.0, 0.0, 1.0] and not y.requires_grad
    assert F.step(cr.tensor([1, -1])).dtype == np.float32


# --- dropout ---------------------------------------------------------------------------------


def test_dropout_train_eval_statistics_and_gradient() -> None:
    cr.manual_seed(0)
    d = nn.Dropout(0.25)
    x = cr.ones(200, 500, requires_grad=True)
    y = d(x)
    kept = y.detach().numpy() != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(y.detach().numpy()[kept], 1 / 0.75, rtol=1e-6)
    assert abs(y.detach().numpy().mean() - 1.0) < 0.01  # inverted dropout keeps the expectation
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())  # the same mask and scale
    d.eval()
    z = cr.randn(3, 4)
    assert d(z) is z
    assert F.dropout(z, 0.5, training=False) is z
    assert not nn.Dropout(1.0)(z).numpy().any()
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_dropout_reproducible_under_manual_seed() -> None:
    x = cr.ones(10, 10)
    cr.manual_seed(123)
    a = F.dropout(x, 0.5)
    cr.manual_seed(123)
    b = F.dropout(x, 0.5)
    c = F.dropout(x, 0.5)
    assert np.array_equal(a.numpy(), b.numpy()) and not np.array_equal(b.numpy(), c.numpy())
    g = cr.Generator().manual_seed(5)
    d1 = F.dropout(x, 0.5, generator=g)
    g.manual_seed(5)
    assert np.array_equal(d1.numpy(), F.dropout(x, 0.5, generator=g).numpy())
    assert F.dropout(cr.ones(4, dtype=cr.float16), 0.5).dtype == np.float16


def test_flatten_unflatten() -> None:
    x = cr.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)
    check(nn.Unflatten(-1, (2, -1)), torch.nn.Unflatten(-1, (2, -1)), randn(3, 4))


def test_float32_end_to_end() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.GELU(), nn.Dropout(0.1),
                          nn.LayerNorm(8), nn.PReLU(), nn.Linear(8, 3), nn.LogSoftmax(1))
    y = model(cr.randn(5, 4))
    assert y.dtype == np.float32
    y.sum().backward()
    assert all(p.grad.dtype == np.float32 for p in model.parameters())
