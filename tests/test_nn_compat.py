"""torch.nn's activations, padding, rearranging and normalisation layers, EmbeddingBag, Bilinear,
LazyLinear and the 3-d conv/pool layers: the options and edge cases the module sweep's single
sample does not reach (other arguments, in-place forms, random training behaviour, errors)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn as nn
import chainrule.nn.functional as F
from chainrule import optim

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _parity(ours: Any, theirs: Any, *arrays: np.ndarray, rtol: float = 1e-9) -> None:
    """Values and gradients (of a random projection) of ``ours`` and ``theirs`` agree in
    float64; integer arrays are passed as constant index tensors."""
    xo = [cr.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    xt = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    yo, yt = ours(*xo), theirs(*xt)
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=rtol, atol=1e-12)
    u = np.random.default_rng(5).standard_normal(tuple(yt.shape))
    yo.backward(cr.tensor(u))
    yt.backward(torch.tensor(u))
    for a, b in zip(xo, xt):
        if b.requires_grad:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=rtol, atol=1e-12)


RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 5)) * 3


@pytest.mark.parametrize("name, args, rtol", [
    ("mish", (), 1e-9), ("selu", (), 1e-9), ("celu", (0.5,), 1e-7), ("celu", (2.0,), 1e-7),
    ("glu", (0,), 1e-9), ("hardswish", (), 1e-9), ("hardsigmoid", (), 1e-7),
    ("softshrink", (0.0,), 1e-9), ("softshrink", (1.5,), 1e-9), ("hardshrink", (1.0,), 1e-9),
    ("tanhshrink", (), 1e-9), ("threshold", (-0.5, 7.0), 1e-9), ("logsigmoid", (), 1e-9),
    ("softsign", (), 1e-9), ("rrelu", (0.2, 0.4), 1e-9), ("softmin", (0,), 1e-9),
])
def test_activation_functionals_match_torch(name: str, args: tuple, rtol: float) -> None:
    x = X if name != "glu" else RNG.standard_normal((4, 3))
    _parity(lambda t: getattr(F, name)(t, *args), lambda t: getattr(TF, name)(t, *args), x,
            rtol=rtol)


@pytest.mark.parametrize("name", ["mish", "selu", "celu", "hardswish", "hardsigmoid",
                                  "softshrink", "hardshrink", "tanhshrink", "logsigmoid",
                                  "softsign", "rrelu"])
def test_activations_keep_float32(name: str) -> None:
    assert getattr(F, name)(cr.tensor(X.astype(np.float32))).dtype == cr.float32


@pytest.mark.parametrize("name, args", [("selu", ()), ("celu", (0.5,)), ("mish", ()),
                                        ("hardswish", ()), ("hardsigmoid", ()),
                                        ("threshold", (0.2, -3.0))])
def test_inplace_forms_overwrite_the_input(name: str, args: tuple) -> None:
    expected = getattr(TF, name)(torch.tensor(X), *args).numpy()
    t = cr.tensor(X.copy())
    out = getattr(F, name)(t, *args, inplace=True)
    assert out is t
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-12)


def test_inplace_inside_a_graph_keeps_the_gradient() -> None:
    x = cr.tensor(X, requires_grad=True)
    h = x * 1.0
    F.selu(h, inplace=True)
    h.sum().backward()
    xt = torch.tensor(X, requires_grad=True)
    TF.selu(xt * 1.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


def test_rrelu_training_draws_slopes_in_range_and_eval_uses_the_mean() -> None:
    x = cr.tensor(-np.abs(RNG.standard_normal(10000)) - 0.1)
    cr.manual_seed(0)
    slopes = (F.rrelu(x, 0.1, 0.3, training=True) / x).numpy()
    assert slopes.min() >= 0.1 and slopes.max() < 0.3
    assert abs(slopes.mean() - 0.2) < 0.01 and slopes.std() > 0.05  # U(0.1, 0.3): sd 0.058
    np.testing.assert_allclose((F.rrelu(x, 0.1, 0.3) / x).numpy(), 0.2)
    pos = cr.tensor(np.abs(RNG.standard_normal(20)))
    np.testing.assert_array_equal(F.rrelu(pos, training=True).numpy(), pos.numpy())
    cr.manual_seed(0)
    a = F.rrelu(x, training=True).numpy()
    cr.manual_seed(0)
    np.testing.assert_array_equal(a, F.rrelu(x, training=True).numpy())  # seeded


def test_rrelu_and_prelu_at_zero_have_torchs_gradient() -> None:
    x = cr.tensor(np.zeros(5), requires_grad=True)
    cr.manual_seed(0)
    F.rrelu(x, 0.1, 0.3, training=True).sum().backward()
    assert (x.grad.numpy() >= 0.1).all()  # x <= 0 takes the drawn slope, as PyTorch
    x.grad = None
    w = cr.tensor([0.25], requires_grad=True)
    F.prelu(x, w).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0.25)


def test_rrelu_module_follows_the_mode() -> None:
    m = nn.RReLU(0.1, 0.3)
    x = cr.tensor(-np.ones(1000))
    assert len(set(m(x).numpy().round(12))) > 100
    m.eval()
    np.testing.assert_allclose(m(x).numpy(), -0.2)


def test_glu_and_shrink_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"glu: .*odd size 5"):
        F.glu(cr.tensor(X))
    with pytest.raises(ValueError, match="lambd"):
        F.softshrink(cr.tensor(X), -1.0)
    with pytest.raises(ValueError, match="3D or 4D"):
        nn.Softmax2d()(cr.tensor(X))


def test_softmax2d_is_a_softmax_over_channels() -> None:
    x = RNG.standard_normal((3, 2, 2))  # unbatched (C, H, W)
    _parity(nn.Softmax2d(), torch.nn.Softmax2d(), x)


# --- alpha dropout -------------------------------------------------------------------------------


def test_alpha_dropout_keeps_mean_and_variance_of_selu_activations() -> None:
    cr.manual_seed(0)
    x = cr.tensor(RNG.standard_normal(200_000))
    y = F.alpha_dropout(x, 0.3, training=True).numpy()
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1.0) < 0.01
    alpha = 1.7580993408473766
    a = ((1 - 0.3) * (1 + 0.3 * alpha ** 2)) ** -0.5
    dropped = np.isclose(y, -a * alpha * (1 - 0.3))
    assert abs(dropped.mean() - 0.3) < 0.01
    np.testing.assert_allclose(y[~dropped], a * x.numpy()[~dropped] + a * alpha * 0.3)


def test_alpha_dropout_edges() -> None:
    x = cr.tensor(X)
    assert F.alpha_dropout(x, 0.5) is x  # training=False by default, as PyTorch
    assert F.alpha_dropout(x, 0.0, training=True) is x
    assert not F.alpha_dropout(x, 1.0, training=True).numpy().any()
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.alpha_dropout(x, 1.5)
    m = nn.AlphaDropout(0.2).eval()
    np.testing.assert_array_equal(m(x).numpy(), X)


# --- rearranging, padding ------------------------------------------------------------------------


@pytest.mark.parametrize("shape, r", [((1, 4, 2, 3), 2), ((9, 1, 2), 3), ((2, 2, 8, 1, 1), 2)])
def test_pixel_shuffle_shapes(shape: tuple, r: int) -> None:
    x = RNG.standard_normal(shape)
    _parity(lambda t: F.pixel_shuffle(t, r), lambda t: TF.pixel_shuffle(t, r), x)
    y = F.pixel_shuffle(cr.tensor(x), r)
    np.testing.assert_array_equal(F.pixel_unshuffle(y, r).numpy(), x)


def test_rearrangement_errors() -> None:
    with pytest.raises(ValueError, match=r"pixel_shuffle: .*divisible by r\^2 = 4"):
        F.pixel_shuffle(cr.zeros(1, 6, 2, 2), 2)
    with pytest.raises(ValueError, match=r"pixel_unshuffle: .*divisible by 2"):
        F.pixel_unshuffle(cr.zeros(1, 1, 3, 2), 2)
    with pytest.raises(ValueError, match=r"channel_shuffle: .*divisible by groups"):
        F.channel_shuffle(cr.zeros(1, 5, 2), 2)


def test_channel_shuffle_moves_channels() -> None:
    x = cr.arange(6.0).reshape(1, 6, 1)
    assert F.channel_shuffle(x, 2).reshape(-1).tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]


@pytest.mark.parametrize("cls, padding", [("ReflectionPad1d", 3),
                                          ("ReplicationPad2d", (2, 0, 1, 3)),
                                          ("CircularPad2d", 1), ("ZeroPad1d", (0, 2)),
                                          ("ConstantPad2d", 2)])
def test_padding_layers_on_unbatched_inputs(cls: str, padding: Any) -> None:
    args = (padding, 1.5) if cls.startswith("Constant") else (padding,)
    x = RNG.standard_normal((2, 4, 5) if cls.endswith("2d") else (2, 5))
    _parity(getattr(nn, cls)(*args), getattr(torch.nn, cls)(*args), x)


def test_padding_layer_with_wrong_tuple_says_what_it_expects() -> None:
    with pytest.raises(ValueError, match=r"ZeroPad2d: padding .* has 2 values; expected an "
                                         "int or 4 ints"):
        nn.ZeroPad2d((1, 2))


def test_unfold_fold_modules_round_trip_counts() -> None:
    x = cr.ones(1, 2, 4, 4)
    cols = nn.Unfold(2, stride=1)(x)
    back = nn.Fold((4, 4), 2)(cols)
    ref = TF.fold(TF.unfold(torch.ones(1, 2, 4, 4), 2), (4, 4), 2)
    np.testing.assert_array_equal(back.numpy(), ref.numpy())  # each pixel: windows covering it


# --- normalisation ---------------------------------------------------------------------------


def test_rms_norm_default_eps_is_the_dtype_epsilon() -> None:
    tiny = RNG.standard_normal((2, 3)) * 1e-5  # eps matters at this scale
    _parity(lambda t: F.rms_norm(t, [3]), lambda t: TF.rms_norm(t, [3]), tiny, rtol=1e-7)
    x32 = (RNG.standard_normal((2, 3)) * 1e-3).astype(np.float32)
    ours = F.rms_norm(cr.tensor(x32), (3,)).numpy()
    theirs = TF.rms_norm(torch.tensor(x32), (3,)).numpy()
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_rms_norm_layer_options_and_errors() -> None:
    m = nn.RMSNorm([2, 3], eps=1e-3, elementwise_affine=False)
    assert m.weight is None and list(m.state_dict()) == []
    x = RNG.standard_normal((4, 2, 3))
    _parity(m, torch.nn.RMSNorm([2, 3], eps=1e-3, elementwise_affine=False), x)
    with pytest.raises(ValueError, match=r"rms_norm: input \(4, 2, 3\) with normalized_shape"):
        nn.RMSNorm(2)(cr.tensor(x))


def test_batchnorm3d_running_statistics_match_torch() -> None:
    ours, theirs = nn.BatchNorm3d(3).double(), torch.nn.BatchNorm3d(3).double()
    for _ in range(2):
        x = RNG.standard_normal((2, 3, 2, 3, 2))
        ours(cr.tensor(x))
        theirs(torch.tensor(x))
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].numpy(), v.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="BatchNorm3d: expected 5D input"):
        ours(cr.zeros(2, 3, 4, 4))


@pytest.mark.parametrize("shape, size", [((2, 6, 3, 4), 4), ((1, 3, 2, 2, 2), 2),
                                         ((2, 4, 5), 1)])
def test_local_response_norm_shapes(shape: tuple, size: int) -> None:
    x = RNG.standard_normal(shape) * 2
    _parity(lambda t: F.local_response_norm(t, size, 0.3, 0.6, 1.5),
            lambda t: TF.local_response_norm(t, size, 0.3, 0.6, 1.5), x)


# --- Bilinear, LazyLinear ----------------------------------------------------------------------


def test_bilinear_with_leading_dims_and_no_bias() -> None:
    x1, x2 = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((2, 3, 5))
    w = RNG.standard_normal((6, 4, 5))
    _parity(lambda a, b, c: F.bilinear(a, b, c), lambda a, b, c: TF.bilinear(a, b, c), x1, x2, w)
    m = nn.Bilinear(4, 5, 6, bias=False)
    assert m.bias is None and tuple(m.weight.shape) == (6, 4, 5)
    assert float(abs(m.weight).max()) <= 0.5  # U(-1/sqrt(in1), 1/sqrt(in1))
    with pytest.raises(ValueError, match=r"bilinear: input1 .* the same leading dims"):
        m(cr.tensor(x1), cr.tensor(x2[:1]))


def test_lazy_linear_infers_in_features_and_becomes_linear() -> None:
    m = nn.LazyLinear(4)
    assert repr(m) == "LazyLinear(in_features=0, out_features=4, bias=True)"
    w = m.weight
    y = m(cr.randn(5, 3))
    assert tuple(y.shape) == (5, 4) and type(m) is nn.Linear
    assert m.weight is w and tuple(w.shape) == (4, 3) and m.in_features == 3
    assert repr(m) == "Linear(in_features=3, out_features=4, bias=True)"
    assert float(abs(w).max()) <= 3 ** -0.5 and float(abs(m.bias).max()) <= 3 ** -0.5
    opt = optim.SGD(m.parameters(), lr=0.1)
    m(cr.randn(5, 3)).sum().backward()
    before = w.detach().numpy().copy()
    opt.step()
    assert not np.array_equal(before, w.detach().numpy())


def test_lazy_linear_sizes_itself_from_a_state_dict_and_moves_dtype() -> None:
    src = nn.Linear(3, 2)
    m = nn.LazyLinear(2).double()
    m.load_state_dict(src.state_dict())
    np.testing.assert_array_equal(m.weight.detach().numpy(), src.weight.detach().numpy())
    assert m.weight.dtype == np.float64 and m.in_features == 3
    lazy = nn.LazyLinear(2, bias=False).double()
    assert lazy(cr.randn(1, 5, dtype=cr.float64)).dtype == np.float64
    assert lazy.bias is None


# --- EmbeddingBag ------------------------------------------------------------------------------


W = RNG.standard_normal((8, 3))
IDX = np.array([1, 2, 4, 5, 4, 3, 2, 7, 0])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("kw", [{}, {"padding_idx": 2}, {"include_last_offset": True},
                                {"max_norm": 1.0}])
def test_embedding_bag_1d_matches_torch(mode: str, kw: dict) -> None:
    off = np.array([0, 2, 2, 5, 9] if kw.get("include_last_offset") else [0, 2, 2, 5])
    _parity(lambda w: F.embedding_bag(cr.tensor(IDX), w, cr.tensor(off), mode=mode, **kw),
            lambda w: TF.embedding_bag(torch.tensor(IDX), w, torch.tensor(off), mode=mode, **kw),
            W.copy())


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_2d_and_all_padding_bags(mode: str) -> None:
    idx = np.array([[1, 2, 1], [3, 3, 3], [0, 6, 5]])
    _parity(lambda w: F.embedding_bag(cr.tensor(idx), w, mode=mode, padding_idx=3),
            lambda w: TF.embedding_bag(torch.tensor(idx), w, mode=mode, padding_idx=3), W.copy())


def test_embedding_bag_per_sample_weights_get_gradients() -> None:
    psw = RNG.standard_normal(IDX.shape)
    off = np.array([0, 3, 3])
    _parity(lambda w, p: F.embedding_bag(cr.tensor(IDX), w, cr.tensor(off), mode="sum",
                                         per_sample_weights=p),
            lambda w, p: TF.embedding_bag(torch.tensor(IDX), w, torch.tensor(off), mode="sum",
                                          per_sample_weights=p), W.copy(), psw)


def test_embedding_bag_errors() -> None:
    w = cr.tensor(W)
    with pytest.raises(NotImplementedError, match="per_sample_weights only with mode='sum'"):
        F.embedding_bag(cr.tensor(IDX), w, cr.tensor([0]), per_sample_weights=cr.ones(9))
    with pytest.raises(ValueError, match="offsets"):
        F.embedding_bag(cr.tensor(IDX), w)
    with pytest.raises(ValueError, match="non-decreasing offsets starting at 0"):
        F.embedding_bag(cr.tensor(IDX), w, cr.tensor([0, 5, 3]))
    with pytest.raises(IndexError, match="index 8 is out of range for 8 embeddings"):
        F.embedding_bag(cr.tensor([[8]]), w)


def test_embedding_bag_layer_defaults_and_padding_row() -> None:
    m = nn.EmbeddingBag(10, 4, padding_idx=-1)
    assert m.padding_idx == 9 and not m.weight.detach().numpy()[9].any()
    assert repr(m) == repr(torch.nn.EmbeddingBag(10, 4, padding_idx=-1))
    assert tuple(m(cr.tensor([[1, 2], [3, 9]])).shape) == (2, 4)


# --- 3-d convolution and pooling -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["zeros", "reflect", "circular"])
def test_conv3d_padding_modes(mode: str) -> None:
    torch.manual_seed(0)
    theirs = torch.nn.Conv3d(2, 3, (2, 3, 2), padding=1, dilation=(1, 1, 2),
                             padding_mode=mode).double()
    ours = nn.Conv3d(2, 3, (2, 3, 2), padding=1, dilation=(1, 1, 2), padding_mode=mode)
    ours.load_state_dict({k: cr.tensor(v.detach().numpy()) for k, v in
                          theirs.state_dict().items()})
    ours.double()
    _parity(ours, theirs, RNG.standard_normal((2, 2, 3, 4, 5)))
    assert repr(ours) == repr(theirs)


def test_pool3d_options() -> None:
    x = np.random.default_rng(2).permutation(2 * 2 * 5 * 4 * 6).reshape(2, 2, 5, 4, 6) * 0.1
    _parity(nn.MaxPool3d((3, 2, 2), (2, 2, 3), (1, 1, 0), ceil_mode=True),
            torch.nn.MaxPool3d((3, 2, 2), (2, 2, 3), (1, 1, 0), ceil_mode=True), x)
    _, i = F.max_pool3d(cr.tensor(x[0]), 2, return_indices=True)  # unbatched
    _, it = TF.max_pool3d(torch.tensor(x[0]), 2, return_indices=True)
    np.testing.assert_array_equal(i.numpy(), it.numpy())
    _parity(nn.AvgPool3d(2, 1, 1, divisor_override=5),
            torch.nn.AvgPool3d(2, 1, 1, divisor_override=5), x)
    _parity(nn.AdaptiveAvgPool3d(1), torch.nn.AdaptiveAvgPool3d(1), x[0])


# --- cr.compile replays the masks these layers compute from their inputs ------------------------


def test_compiled_steps_recompute_activation_masks() -> None:
    """Inputs to hardshrink, prelu, threshold, rrelu and alpha_dropout change at every step
    (they follow a trained layer); a recording that froze their masks would drift from eager
    (PReLU's did, before the ``prelu_slopes`` primitive)."""
    def make() -> tuple:
        cr.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 16), nn.Hardshrink(0.3), nn.PReLU(16),
                              nn.Linear(16, 16),
                              nn.Threshold(0.1, -0.5), nn.RReLU(), nn.AlphaDropout(0.2),
                              nn.Linear(16, 1))
        opt = optim.SGD(model.parameters(), lr=0.5)
        x = cr.randn(8, 4)

        def step(x: Any) -> Any:
            opt.zero_grad()
            loss = (model(x) ** 2).mean()
            loss.backward()
            opt.step()
            return loss
        return model, step, x

    def run(compiled: bool) -> list:
        model, step, x = make()
        fn = cr.compile(step) if compiled else step
        cr.manual_seed(1)
        losses = [fn(x)._data.tobytes() for _ in range(6)]
        return losses + [p._data.tobytes() for p in model.parameters()]
    eager = run(False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", cr.CompileWarning)
        assert run(True) == eager
