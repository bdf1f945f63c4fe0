"""Mixed precision: ``cr.autocast`` casts what PyTorch's CPU autocast casts, ``GradScaler``
scales as ``torch.amp.GradScaler("cpu")`` does (the same scale and parameters step by step,
skipped steps included), and the deprecated ``cr.cuda.amp`` spellings warn as PyTorch's do."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.grad_mode import STATE

RNG = np.random.default_rng(0)


def _a(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


X, W, B = _a(6, 8), _a(5, 8), _a(5)
IMG, K = _a(2, 3, 6, 6), _a(4, 3, 3, 3)

# name -> (function of the library, arrays): the output dtype under autocast("cpu", float16)
# must be PyTorch's
CASES = {
    "linear": (lambda L, x, w, b: L.nn.functional.linear(x, w, b), (X, W, B)),
    "matmul": (lambda L, x, w: x @ w.T, (X, W)),
    "mm": (lambda L, x, w: L.mm(x, w.T), (X, W)),
    "bmm": (lambda L, x: L.bmm(x[None], x.T[None]), (X,)),
    "conv2d": (lambda L, x, k: L.nn.functional.conv2d(x, k, padding=1), (IMG, K)),
    "conv_transpose2d": (lambda L, x, k: L.nn.functional.conv_transpose2d(x, k.transpose(0, 1)),
                         (IMG, K)),
    "sdpa": (lambda L, x: L.nn.functional.scaled_dot_product_attention(x[None], x[None], x[None]),
             (X,)),
    "einsum": (lambda L, x, w: L.einsum("ij,kj->ik", x, w), (X, W)),
    "prelu": (lambda L, x: L.nn.functional.prelu(x, L.tensor([0.25])), (X,)),
    "cross_entropy": (lambda L, x: L.nn.functional.cross_entropy(x.half(), L.tensor([0, 1, 2, 3, 4,
                                                                                      5])), (X,)),
    "nll_loss": (lambda L, x: L.nn.functional.nll_loss(x.half(), L.tensor([0, 1, 2, 3, 4, 5])),
                 (X,)),
    "mse_loss": (lambda L, x: L.nn.functional.mse_loss(x.half(), (x * 2).half()), (X,)),
    "huber_loss": (lambda L, x: L.nn.functional.huber_loss(x.half(), x.half() * 2), (X,)),
    "bce_with_logits": (lambda L, x: L.nn.functional.binary_cross_entropy_with_logits(
        x.half(), x.sigmoid().half()), (X,)),
    "prod": (lambda L, b: L.prod(b.half()), (B,)),
    "max_pool3d": (lambda L, x: L.nn.functional.max_pool3d(x.half(), 2), (IMG,)),
    "max_pool2d": (lambda L, x: L.nn.functional.max_pool2d(x.half(), 2), (IMG,)),
    "relu": (lambda L, x: L.relu(x @ x.T), (X,)),
    "softmax": (lambda L, x: L.softmax(x @ x.T, -1), (X,)),
    "add_promotes": (lambda L, x: (x @ x.T) + x[:, :6], (X,)),
    "layer_norm": (lambda L, x: L.nn.functional.layer_norm(x.half(), (8,)), (X,)),
    "float64": (lambda L, x: x.double() @ x.double().T, (X,)),
}


def _dtype_name(t) -> str:
    return str(t.dtype).replace("torch.", "")


@pytest.mark.parametrize("name", CASES)
def test_autocast_casts_what_pytorch_casts(name: str) -> None:
    torch = pytest.importorskip("torch")
    fn, arrays = CASES[name]
    with cr.autocast("cpu", dtype=cr.float16):
        got = fn(cr, *[cr.tensor(a) for a in arrays])
    with torch.autocast("cpu", dtype=torch.float16):
        want = fn(torch, *[torch.tensor(a) for a in arrays])
    assert _dtype_name(got) == _dtype_name(want)
    # float16 results differ from PyTorch's by the roundings of a different summation order
    # (conv_transpose scatters into float16 sums): within 1% of the values
    tol = 1e-2 if want.dtype == torch.float16 else 2e-5
    np.testing.assert_allclose(got.detach().numpy().astype(np.float64),
                               want.detach().float().numpy(), rtol=tol, atol=tol)


def test_autocast_gradients_match_pytorch() -> None:
    """float16 forward, gradients back to the float32 leaves as float32, values within float16
    rounding of PyTorch's."""
    torch = pytest.importorskip("torch")

    def run(L):
        x, w, b = (L.tensor(a, requires_grad=True) for a in (X, W, B))
        with L.autocast("cpu", dtype=L.float16):
            y = L.nn.functional.linear(x, w, b)
            loss = L.nn.functional.cross_entropy(y, L.tensor([0, 1, 2, 3, 4, 0]))
        loss.backward()
        return y, loss, x.grad, w.grad, b.grad

    got, want = run(cr), run(torch)
    assert [_dtype_name(t) for t in got] == [_dtype_name(t) for t in want] == [
        "float16", "float32", "float32", "float32", "float32"]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.detach().numpy().astype(np.float64),
                                   w.detach().float().numpy(), rtol=3e-3, atol=3e-3)


def test_autocast_state_nesting_and_decorator() -> None:
    assert STATE.autocast is None and not STATE.slow
    with cr.autocast("cpu", dtype=cr.float16):
        assert cr.is_autocast_enabled("cpu") and not cr.is_autocast_enabled()
        assert cr.get_autocast_dtype("cpu") == cr.float16
        with cr.autocast("cpu", enabled=False):  # a float32 island (the loss, say)
            assert not cr.is_autocast_enabled("cpu")
            assert (cr.tensor(X) @ cr.tensor(W).T).dtype == cr.float32
        assert (cr.tensor(X) @ cr.tensor(W).T).dtype == cr.float16

        @cr.autocast("cpu", enabled=False)
        def full(x):
            return x @ x.T

        assert full(cr.tensor(X)).dtype == cr.float32
    assert STATE.autocast is None and not STATE.slow  # the normal path is back
    assert (cr.tensor(X) @ cr.tensor(W).T).dtype == cr.float32


def test_autocast_without_grad_and_leaf_grad() -> None:
    w = cr.tensor(W, requires_grad=True)
    with cr.no_grad(), cr.autocast("cpu", dtype=cr.float16):
        y = cr.tensor(X) @ w.T
    assert y.dtype == cr.float16 and not y.requires_grad
    with cr.autocast("cpu", dtype=cr.float16):
        y = cr.tensor(X) @ w.T
    y.float().sum().backward()
    assert w.grad.dtype == cr.float32
    np.testing.assert_allclose(w.grad.numpy(), np.ones((6, 5), np.float32).T @ X, rtol=2e-3)


def test_autocast_refusals_and_warnings() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="bfloat16 is not available in chainrule"):
        cr.autocast("cpu")  # PyTorch's CPU default dtype is bfloat16
    with pytest.raises(TypeError, match="NumPy has no bfloat16"):
        cr.autocast("cpu", dtype=cr.bfloat16)
    with cr.autocast("cpu", dtype=cr.bfloat16, enabled=False):  # disabled: any dtype
        assert not cr.is_autocast_enabled("cpu")
    with pytest.raises(ValueError) as ours:
        cr.autocast(cr.device("cpu"))
    with pytest.raises(ValueError) as theirs:
        torch.autocast(torch.device("cpu"))
    assert str(ours.value).split("got")[0] == str(theirs.value).split("got")[0]
    with pytest.raises(RuntimeError, match="device type at start of device string: tpu"):
        cr.autocast("tpu")
    for dtype, tdtype in ((cr.float32, torch.float32), (cr.float64, torch.float64)):
        with pytest.warns(UserWarning) as ours_w:
            a = cr.autocast("cpu", dtype=dtype)
        with pytest.warns(UserWarning) as theirs_w:
            torch.autocast("cpu", dtype=tdtype)
        assert str(ours_w[0].message) == str(theirs_w[0].message)
        with a:
            assert not cr.is_autocast_enabled("cpu")
    with pytest.warns(UserWarning, match="CUDA is not available.*Disabling autocast"):
        a = cr.autocast("cuda")
    with a:
        assert (cr.tensor(X) @ cr.tensor(W).T).dtype == cr.float32
    assert cr.get_autocast_dtype("cpu") is cr.bfloat16
    assert str(torch.get_autocast_dtype("cpu")) == "torch.bfloat16"


def test_deprecated_cuda_amp_spellings() -> None:
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        a = cr.cuda.amp.autocast()
    assert w[0].category is FutureWarning
    assert str(w[0].message) == ("`cr.cuda.amp.autocast(args...)` is deprecated. Please use "
                                 "`cr.amp.autocast('cuda', args...)` instead.")
    assert any("Disabling autocast" in str(x.message) for x in w)
    with a:
        assert not cr.is_autocast_enabled("cpu")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        s = cr.cuda.amp.GradScaler()
    assert w[1].category is UserWarning and "CUDA is not available" in str(w[1].message)
    assert w[0].category is FutureWarning
    assert str(w[0].message) == ("`cr.cuda.amp.GradScaler(args...)` is deprecated. Please use "
                                 "`cr.amp.GradScaler('cuda', args...)` instead.")
    assert not s.is_enabled() and s.get_scale() == 1.0 and s.state_dict() == {}
    loss = cr.tensor(2.0)
    assert s.scale(loss) is loss
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # enabled=False: no warning at all
        assert not cr.amp.GradScaler(enabled=False).is_enabled()
        with cr.autocast("cuda", enabled=False):
            pass
    with pytest.warns(FutureWarning, match=r"cr\.cpu\.amp\.autocast"), \
            cr.cpu.amp.autocast(dtype=cr.float16):
        assert cr.is_autocast_enabled("cpu")


def _train(L, steps: int = 9, inf_at: tuple = (4,), unscale: bool = False) -> list:
    """A small model trained with loss scaling; at the steps in ``inf_at`` one gradient is made
    inf after backward (an overflow), so the step must be skipped and the scale backed off."""
    L.manual_seed(0)
    m = L.nn.Sequential(L.nn.Linear(4, 8), L.nn.Tanh(), L.nn.Linear(8, 3))
    with L.no_grad():
        m[0].weight.copy_(L.tensor(_w1))
        m[2].weight.copy_(L.tensor(_w2))
        m[0].bias.zero_()
        m[2].bias.zero_()
    opt = L.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    scaler = L.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=3)
    x, y = L.tensor(_x), L.tensor(_y)
    out = []
    for step in range(steps):
        opt.zero_grad()
        loss = L.nn.functional.cross_entropy(m(x), y)
        scaler.scale(loss).backward()
        if step in inf_at:
            m[0].weight.grad[0, 0] = float("inf")
        if unscale:
            scaler.unscale_(opt)
            L.nn.utils.clip_grad_norm_(m.parameters(), 0.5)
        scaler.step(opt)
        scaler.update()
        out.append((scaler.get_scale(), scaler.state_dict(),
                    [p.detach().numpy().copy() for p in m.parameters()]))
    return out


_w1, _w2, _x = _a(8, 4), _a(3, 8), _a(16, 4)
_y = RNG.integers(0, 3, 16)


@pytest.mark.parametrize("unscale", [False, True], ids=["step", "unscale_clip_step"])
def test_grad_scaler_trajectory_matches_pytorch(unscale: bool) -> None:
    torch = pytest.importorskip("torch")
    got, want = _train(cr, unscale=unscale), _train(torch, unscale=unscale)
    scales = [s for s, _, _ in got]
    assert scales == [s for s, _, _ in want]
    # 3 good steps grow the scale, the inf at step 4 halves it, 3 more good steps grow it again
    assert scales == [1024.0, 1024.0, 2048.0, 2048.0, 1024.0, 1024.0, 1024.0, 2048.0, 2048.0]
    for (_, sd, ps), (_, tsd, tps) in zip(got, want):
        assert sd == tsd
        for p, q in zip(ps, tps):
            np.testing.assert_allclose(p, q, rtol=1e-5, atol=1e-6)
    for a, b in zip(got[3][2], got[4][2]):  # the step with the inf gradient changed nothing
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(got[4][2][0], got[5][2][0])  # the next one did


def test_grad_scaler_state_dict_round_trip_and_refusals() -> None:
    torch = pytest.importorskip("torch")
    s = cr.amp.GradScaler("cpu", init_scale=8.0, growth_interval=5)
    assert s.get_scale() == 8.0 and s.is_enabled()
    with pytest.raises(AssertionError, match="Attempted update but _scale is None"):
        s.update()
    p = cr.nn.Parameter(cr.ones(3))
    opt = cr.optim.SGD([p], lr=1.0)
    s.scale((p * 2).sum()).backward()
    np.testing.assert_array_equal(p.grad.numpy(), [16.0, 16.0, 16.0])
    s.unscale_(opt)
    np.testing.assert_array_equal(p.grad.numpy(), [2.0, 2.0, 2.0])
    tp = torch.nn.Parameter(torch.ones(3))
    ts = torch.amp.GradScaler("cpu", init_scale=8.0, growth_interval=5)
    topt = torch.optim.SGD([tp], lr=1.0)
    ts.scale((tp * 2).sum()).backward()
    ts.unscale_(topt)
    for a, b in ((lambda: s.unscale_(opt), lambda: ts.unscale_(topt)),):
        with pytest.raises(RuntimeError) as e1:
            a()
        with pytest.raises(RuntimeError) as e2:
            b()
        assert str(e1.value) == str(e2.value)
    s.step(opt)
    ts.step(topt)
    with pytest.raises(RuntimeError) as e1:
        s.step(opt)
    with pytest.raises(RuntimeError) as e2:
        ts.step(topt)
    assert str(e1.value) == str(e2.value)
    s.update()
    ts.update()
    assert s.state_dict() == ts.state_dict()
    s2 = cr.amp.GradScaler("cpu")
    s2.load_state_dict(s.state_dict())
    assert s2.state_dict() == s.state_dict()
    with pytest.raises(RuntimeError, match="saved from a disabled instance"):
        s2.load_state_dict({})
    s.update(new_scale=4.0)
    assert s.get_scale() == 4.0
    h = cr.nn.Parameter(cr.ones(2, dtype=cr.float16))
    hopt = cr.optim.SGD([h], lr=1.0)
    s.scale(h.sum()).backward()
    with pytest.raises(ValueError, match="Attempting to unscale FP16 gradients"):
        s.step(hopt)
    scaled = s.scale([cr.tensor(1.0), (cr.tensor(2.0), cr.tensor(3.0))])
    assert [float(scaled[0]), float(scaled[1][1])] == [4.0, 12.0]
    with pytest.raises(ValueError, match="outputs must be a Tensor"):
        s.scale([1.0])


def test_bfloat16_is_a_name_that_refuses() -> None:
    msg = "bfloat16 is not available in chainrule (NumPy has no bfloat16 dtype)"
    for use in (lambda: cr.zeros(2, dtype=cr.bfloat16), lambda: cr.ones(2).to(cr.bfloat16),
                lambda: cr.tensor([1.0], dtype=cr.bfloat16), lambda: cr.finfo(cr.bfloat16),
                lambda: cr.ones(2).bfloat16()):
        with pytest.raises(TypeError) as e:
            use()
        assert msg in str(e.value) and "cr.float16" in str(e.value)
    assert cr.ones(2).dtype != cr.bfloat16
    assert repr(cr.bfloat16) == "bfloat16" and cr.bfloat16.is_floating_point
    assert not cr.cuda.is_bf16_supported()


def test_float32_matmul_precision_is_recorded_like_pytorch() -> None:
    torch = pytest.importorskip("torch")
    assert cr.get_float32_matmul_precision() == torch.get_float32_matmul_precision() == "highest"
    try:
        for value in ("high", "medium"):
            cr.set_float32_matmul_precision(value)
            assert cr.get_float32_matmul_precision() == value
        with pytest.warns(UserWarning, match="is not one of 'highest', 'high', or 'medium'"):
            cr.set_float32_matmul_precision("fast")
        assert cr.get_float32_matmul_precision() == "medium"
        a = cr.tensor(X)
        np.testing.assert_array_equal((a @ a.T).numpy(), X @ X.T)  # no effect on NumPy
    finally:
        cr.set_float32_matmul_precision("highest")


def test_custom_fwd_casts_inputs_and_custom_bwd_restores_state() -> None:
    seen = {}

    class Square(cr.autograd.Function):
        @staticmethod
        @cr.amp.custom_fwd(device_type="cpu", cast_inputs=cr.float32)
        def forward(ctx, x):
            seen["fwd"] = (x.dtype, cr.is_autocast_enabled("cpu"))
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @cr.amp.custom_bwd(device_type="cpu")
        def backward(ctx, g):
            seen["bwd"] = cr.is_autocast_enabled("cpu")
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = cr.tensor([1.0, 2.0], dtype=cr.float16, requires_grad=True)
    with cr.autocast("cpu", dtype=cr.float16):
        y = Square.apply(x)
    y.sum().backward()
    assert seen == {"fwd": (cr.float32, False), "bwd": True}
    assert y.dtype == cr.float32 and x.grad.dtype == cr.float16


MODULES = {
    "Linear": lambda L: L.nn.Linear(4, 3)(L.randn(2, 4)),
    "Conv2d": lambda L: L.nn.Conv2d(2, 3, 3)(L.randn(1, 2, 5, 5)),
    "MultiheadAttention": lambda L: L.nn.MultiheadAttention(4, 2, batch_first=True)(
        L.randn(1, 3, 4), L.randn(1, 3, 4), L.randn(1, 3, 4))[0],
    "GRU": lambda L: L.nn.GRU(4, 3)(L.randn(3, 1, 4))[0],
    "TransformerEncoderLayer": lambda L: L.nn.TransformerEncoderLayer(
        8, 2, 16, batch_first=True)(L.randn(2, 3, 8)),
    "Linear_LayerNorm": lambda L: L.nn.LayerNorm(4)(L.nn.Linear(4, 4)(L.randn(2, 4))),
}


@pytest.mark.parametrize("name", MODULES)
def test_autocast_through_layers_gives_pytorch_dtypes(name: str) -> None:
    """Layers run under autocast (nn.Linear's own dtype check lets autocast cast first)."""
    torch = pytest.importorskip("torch")
    dtypes = []
    for lib in (cr, torch):
        lib.manual_seed(0)
        with lib.autocast("cpu", dtype=lib.float16):
            dtypes.append(_dtype_name(MODULES[name](lib)))
    assert dtypes[0] == dtypes[1]
    with pytest.raises(RuntimeError, match="mat1 and mat2 must have the same dtype"):
        cr.nn.Linear(4, 3)(cr.randn(2, 4).half())  # without autocast: PyTorch's refusal
